"""The assets of an import: a unit bought, named by the product's SKU, with its dates.

Used by both imports: the customer list, where a row may carry the one unit the customer
bought (the flat, the washing machine) in the asset columns, and the asset list, one row
per unit, the customer named by its ``external_id``. The columns are the asset fields'
(``dealercrm.fields.ASSET``) and ``sku``. A row whose unit cannot be filed — an SKU not in
the catalogue, a handover before the purchase — is rejected whole: its customer is not
filed without it either.

A unit is already present when the customer has one of the same product with the same
serial number (without one: bought and handed over on the same days); importing a list
again files only what is new.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import select

from ..audit import jsonable
from ..db.models import Asset, Product
from ..errors import DealerCrmError, ValidationError
from ..events import AssetRecorded
from ..fields import CleanContext, FieldSet
from .assets import asset_row
from .csv_dialect import spreadsheet_value

_ASSET = Asset.__table__

#: the column naming the product, by its SKU in the catalogue
SKU = "sku"


def asset_columns(fields: FieldSet) -> tuple[str, ...]:
    """The columns describing a unit: ``sku`` and every importable asset field's."""
    return (SKU, *fields.columns)


def asset_values(row: Mapping[str | None, Any], fields: FieldSet, ctx: CleanContext,
                 taken: Collection[str] = ()) -> dict[str, Any] | None:
    """The unit a row describes, validated (None: its asset columns are empty). ``taken``:
    columns that are the customer's (a plugin's customer field of the same name wins)."""
    given = {f.name: spreadsheet_value(f, value) for column, f in fields.columns.items()
             if column not in taken and (value := (row.get(column) or "").strip())}
    sku = (row.get(SKU) or "").strip()
    if not given and not sku:
        return None
    if not sku:
        raise ValidationError(SKU, "", f"is required for the unit this row describes ({', '.join(given)}): the "
                              "product's SKU in the catalogue")
    return {SKU: sku, **fields.clean(given, ctx, only_editable=False)}


def products_by_sku(s, skus: set[str]) -> dict[str, Product]:
    return {p.sku: p for p in s.scalars(select(Product).where(Product.sku.in_(sorted(skus))))} if skus else {}


def built(customer_id: int, owner_party_id: int, values: dict[str, Any], products: dict[str, Product],
          now) -> dict[str, Any]:
    """The asset row for ``values``; an unknown SKU or impossible dates raise, naming the column."""
    product = products.get(values[SKU])
    if product is None:
        raise ValidationError(SKU, values[SKU], "is no product in the catalogue; add it first "
                              "(dealercrm products add, or POST /products)")
    return asset_row(customer_id, owner_party_id, product, now=now, **{k: v for k, v in values.items() if k != SKU})


def try_built(line: int, report, customer_id: int, owner_party_id: int, values: dict[str, Any],
              products: dict[str, Product], now) -> dict[str, Any] | None:
    """``built``, or None with the line rejected for the reason."""
    try:
        return built(customer_id, owner_party_id, values, products, now)
    except DealerCrmError as exc:
        report.reject(line, getattr(exc, "field", "row"), str(exc))
        return None


def key(row: Any) -> tuple:
    """What makes two rows (or an asset and a row) the same unit of one customer."""
    if row["serial_number"]:
        return row["customer_id"], row["product_id"], row["serial_number"]
    return row["customer_id"], row["product_id"], None, row["purchased_on"], row["handed_over_on"]


KEY_COLUMNS = (_ASSET.c.customer_id, _ASSET.c.product_id, _ASSET.c.serial_number, _ASSET.c.purchased_on,
               _ASSET.c.handed_over_on)


def audit_row(uow, asset_id: int, row: dict[str, Any], operation: str) -> dict[str, Any]:
    """The audit row ``assets.record``'s flush writes for a new asset (``dealercrm.audit``), for
    one filed by a bulk insert: every value set, nothing personal in an asset."""
    return dict(at=uow.now, actor_id=uow.actor_id, operation=operation, action="insert", entity="asset",
                entity_id=asset_id, customer_id=row["customer_id"], personal_changes=None,
                changes={k: [None, jsonable(v)] for k, v in row.items() if v is not None})


def announce(uow, ids: list[int], rows: list[dict[str, Any]]) -> None:
    """``AssetRecorded`` for each: rules that react to a purchase see an imported one too."""
    for asset_id, row in zip(ids, rows):
        uow.raise_event(AssetRecorded, asset_id=asset_id, customer_id=row["customer_id"], product_id=row["product_id"])
