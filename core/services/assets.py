"""Products and the assets customers own.

The warranty end is derived from the product's warranty period and the handover (or
purchase) date, unless the dealer overrides it, e.g. for an extended warranty.
"""

from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy import func, or_, select

from .. import validation
from ..db.models import Asset, Party, Product
from ..errors import StateConflict, ValidationError
from ..events import AssetRecorded
from ..access import case_scope, customer_scope, own_party, relation, require, visible_customer
from ..db.case_models import Case
from ..db.models import Customer
from ..errors import NotFound
from .base import Service, kept_customer


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def warranty_end(start: date, months: int, field: str) -> date:
    """``start`` plus the warranty; a start so late that the end would pass 9999-12-31 is named."""
    try:
        return add_months(start, months)
    except (ValueError, OverflowError):
        raise StateConflict(field, start.isoformat(), f"is too late: a {months}-month warranty from it would end "
                              "after the year 9999") from None


class ProductService(Service):
    """The product catalogue, shared by every party of the installation (no personal data)."""

    def add(self, sku: str, name: str, *, warranty_months: int = 24, category: str = "general",
            manufacturer_party_id: int | None = None, by: int) -> Product:
        """Add to the shared catalogue: a dealer's business (it sells the products)."""
        sku, name = validation.required("sku", sku), validation.required("product name", name)
        category = validation.required("category", category)
        if isinstance(warranty_months, bool) or not isinstance(warranty_months, int) or warranty_months < 0:
            raise ValidationError("warranty_months", warranty_months, "must be a whole number of months, not negative")
        with self.uow(by, "products.add") as uow:
            require(uow.principal, "dealer", doing="add products to the catalogue")
            if uow.session.scalar(select(Product.id).where(Product.sku == sku)) is not None:
                raise StateConflict("sku", sku, "already exists")
            if manufacturer_party_id is not None:
                # assets inherit it, and a case is forwarded to it for a warranty decision
                maker = uow.session.get(Party, manufacturer_party_id)
                if maker is None:
                    raise StateConflict("manufacturer_party_id", manufacturer_party_id, "no such party")
                if maker.kind != "manufacturer":
                    raise StateConflict("manufacturer_party_id", manufacturer_party_id,
                                          f"is the {maker.kind} {maker.name!r}, not a manufacturer")
            product = Product(sku=sku, name=name, category=category, warranty_months=warranty_months,
                              manufacturer_party_id=manufacturer_party_id, created_at=uow.now)
            uow.session.add(product)
            uow.commit()
            return product

    def get(self, product_id: int, *, by: int) -> Product:
        with self.read(by) as uow:
            return uow.get(Product, product_id, "product")

    def list(self, search: str | None = None, *, category: str | None = None,
             manufacturer_party_id: int | None = None, limit: int | None = None, offset: int = 0,
             by: int) -> list[Product]:
        """Products by id; ``search`` matches part of the SKU or name, in any case. Every
        party reads the catalogue: it holds no personal data."""
        with self.read(by) as uow:
            query = select(Product).order_by(Product.id).offset(offset).limit(limit)
            if search:
                like = f"%{search.lower()}%"
                query = query.where(or_(func.lower(Product.sku).like(like), func.lower(Product.name).like(like)))
            if category:
                query = query.where(func.lower(Product.category) == category.lower())
            if manufacturer_party_id is not None:
                query = query.where(Product.manufacturer_party_id == manufacturer_party_id)
            return list(uow.session.scalars(query))


class AssetService(Service):
    def record(self, customer_id: int, product_id: int, *, serial_number: str | None = None,
               purchased_on: date | str | None = None, handed_over_on: date | str | None = None,
               warranty_until: date | str | None = None, dealer_party_id: int | None = None,
               manufacturer_party_id: int | None = None, replaces_asset_id: int | None = None,
               price: float | None = None, by: int) -> Asset:
        purchased = validation.iso_date("purchased_on", purchased_on)
        handed_over = validation.iso_date("handed_over_on", handed_over_on)
        override = validation.iso_date("warranty_until", warranty_until)
        if price is not None:
            validation.finite("price", price)
        if purchased and handed_over and handed_over < purchased:
            raise ValidationError("handed_over_on", handed_over.isoformat(), f"is before the purchase on {purchased}")
        with self.uow(by, "assets.record") as uow:
            customer = kept_customer(uow, customer_id, "record assets of")
            own_party(uow.principal, dealer_party_id, "record an asset sold")
            product = uow.get(Product, product_id, "product")
            for pid in (dealer_party_id, manufacturer_party_id):
                if pid is not None:
                    uow.get(Party, pid, "party")
            if replaces_asset_id is not None:
                uow.get(Asset, replaces_asset_id, "asset")
            start = handed_over or purchased
            asset = Asset(
                customer_id=customer.id, product_id=product.id, serial_number=serial_number,
                manufacturer_party_id=manufacturer_party_id or product.manufacturer_party_id,
                dealer_party_id=dealer_party_id or customer.owner_party_id,
                purchased_on=purchased, handed_over_on=handed_over,
                warranty_until=override or (warranty_end(start, product.warranty_months, "handed_over_on" if
                                                         handed_over else "purchased_on") if start else None),
                warranty_overridden=override is not None, replaces_asset_id=replaces_asset_id, price=price,
                created_at=uow.now,
            )
            uow.session.add(asset)
            uow.flush()
            uow.raise_event(AssetRecorded, asset_id=asset.id, customer_id=customer.id, product_id=product.id)
            uow.commit()
            return asset

    def get(self, asset_id: int, *, by: int) -> Asset:
        """An asset of a customer the actor keeps, or of a case it serves."""
        with self.read(by) as uow:
            asset = uow.session.get(Asset, asset_id)
            if asset is None or not _sees_asset(uow, asset):
                raise NotFound("asset", asset_id)
            return asset

    def of_customer(self, customer_id: int, *, by: int) -> list[Asset]:
        with self.read(by) as uow:
            customer = visible_customer(uow, customer_id)
            query = select(Asset).where(Asset.customer_id == customer_id).order_by(Asset.id)
            if relation(uow.principal, customer) != "owner":
                query = query.where(Asset.id.in_(_case_assets(uow, customer_id)))
            return list(uow.session.scalars(query))


def _case_assets(uow, customer_id: int):
    """The assets of the customer's cases the actor serves: all a case contact sees."""
    visible = select(Case.asset_id, Case.replacement_asset_id).where(Case.customer_id == customer_id,
                                                                    case_scope(uow.principal))
    return {i for row in uow.connection.execute(visible) for i in row if i is not None} or {-1}


def _sees_asset(uow, asset: Asset) -> bool:
    customer = uow.session.scalar(select(Customer).where(Customer.id == asset.customer_id,
                                                         customer_scope(uow.principal)))
    if customer is None:
        return False
    return relation(uow.principal, customer) == "owner" or asset.id in _case_assets(uow, customer.id)
