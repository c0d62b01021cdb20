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

from typing import Any

from sqlalchemy import select

from ..db.models import Asset, Product
from ..errors import DealerCrmError, ValidationError
from ..events import AssetRecorded
from ..fields import CleanContext, FieldSet
from .assets import new_asset
from .csv_dialect import spreadsheet_value

#: the column naming the product, by its SKU in the catalogue
SKU = "sku"


def asset_columns(fields: FieldSet) -> tuple[str, ...]:
    """The columns describing a unit: ``sku`` and every importable asset field's."""
    return (SKU, *fields.columns)


def asset_values(row: dict[str, str], fields: FieldSet, ctx: CleanContext) -> dict[str, Any] | None:
    """The unit a row describes, validated (None: its asset columns are empty)."""
    given = {f.name: spreadsheet_value(f, value) for column, f in fields.columns.items()
             if (value := (row.get(column) or "").strip())}
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
          now) -> Asset:
    """The asset row for ``values``; an unknown SKU or impossible dates raise, naming the column."""
    product = products.get(values[SKU])
    if product is None:
        raise ValidationError(SKU, values[SKU], "is no product in the catalogue; add it first "
                              "(dealercrm products add, or POST /products)")
    return new_asset(customer_id, owner_party_id, product, now=now,
                     **{k: v for k, v in values.items() if k != SKU})


def key(asset: Asset) -> tuple:
    """What makes two rows the same unit of one customer."""
    if asset.serial_number:
        return asset.customer_id, asset.product_id, asset.serial_number
    return asset.customer_id, asset.product_id, None, asset.purchased_on, asset.handed_over_on


def existing_keys(s, customer_ids: set[int]) -> set[tuple]:
    if not customer_ids:
        return set()
    found = s.scalars(select(Asset).where(Asset.customer_id.in_(sorted(customer_ids))))
    return {key(a) for a in found}


def try_built(line: int, report, customer_id: int, owner_party_id: int, values: dict[str, Any],
              products: dict[str, Product], now) -> Asset | None:
    """``built``, or None with the line rejected for the reason."""
    try:
        return built(customer_id, owner_party_id, values, products, now)
    except DealerCrmError as exc:
        report.reject(line, getattr(exc, "field", "row"), str(exc))
        return None


def file_assets(uow, assets: list[Asset]) -> None:
    """Insert through the ORM, so each asset is audited as ``assets.record`` audits it, and
    raise ``AssetRecorded`` for each: rules that react to a purchase see an imported one too."""
    if not assets:
        return
    uow.session.add_all(assets)
    uow.flush()
    for a in assets:
        uow.raise_event(AssetRecorded, asset_id=a.id, customer_id=a.customer_id, product_id=a.product_id)
