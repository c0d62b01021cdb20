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
from ..fields import ASSET, CleanContext
from .base import Service, kept_customer
from .case_levels import relevel_open_cases


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


def asset_row(customer_id: int, owner_party_id: int, product: Product, *, serial_number: str | None = None,
              purchased_on: date | None = None, handed_over_on: date | None = None,
              warranty_until: date | None = None, price: float | None = None, dealer_party_id: int | None = None,
              manufacturer_party_id: int | None = None, replaces_asset_id: int | None = None, now) -> dict:
    """An asset's values, checked and with its warranty end, for ``assets.record`` and the imports alike:
    the product's warranty from the handover (or the purchase), unless ``warranty_until``
    overrides it; sold by the customer's dealer, made by the product's manufacturer, unless named."""
    if purchased_on and handed_over_on and handed_over_on < purchased_on:
        raise ValidationError("handed_over_on", handed_over_on.isoformat(), f"is before the purchase on {purchased_on}")
    start = handed_over_on or purchased_on
    return dict(
        customer_id=customer_id, product_id=product.id, serial_number=serial_number,
        manufacturer_party_id=manufacturer_party_id or product.manufacturer_party_id,
        dealer_party_id=dealer_party_id or owner_party_id,
        purchased_on=purchased_on, handed_over_on=handed_over_on,
        warranty_until=warranty_until or (warranty_end(start, product.warranty_months, "handed_over_on" if
                                                       handed_over_on else "purchased_on") if start else None),
        warranty_overridden=warranty_until is not None, replaces_asset_id=replaces_asset_id, price=price,
        created_at=now,
    )


class ProductService(Service):
    """The product catalogue, shared by every party of the installation (no personal data)."""

    def add(self, sku: str, name: str, *, warranty_months: int = 24, category: str = "general",
            manufacturer_party_id: int | None = None, by: int) -> Product:
        """Add a product to the shared catalogue: a dealer's business (it sells the products).

        Args:
            sku: The stock-keeping unit, unique in the catalogue.
            name: What it is called.
            warranty_months: The warranty its assets get from handover (a whole number, not negative).
            category: A free grouping (rules use it, e.g. ``rule_after_sale``'s ``sku_prefix``).
            manufacturer_party_id: Its manufacturer: assets inherit it, warranty cases are forwarded to it.
            by: The acting actor's id: a dealer's person, or the system.

        Returns:
            The stored product.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: The actor is no dealer's (nor the system), or ``by`` is deactivated.
            ValidationError: An empty sku or name, a known sku, months that are no whole number,
                a manufacturer that does not exist or is no manufacturer.

        Examples:
            >>> washer = crm.products.add("WM-8", "Washing machine 8", warranty_months=36, by=lea)
            >>> washer.warranty_months
            36
        """
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
        """The product ``product_id``: every actor may read the catalogue (it holds no personal data).

        Args:
            product_id: The product.
            by: The acting actor's id.

        Returns:
            The product, with its SKU, warranty months and manufacturer.

        Raises:
            NotFound: No such product; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> washer = crm.products.add("WM-8", "Washing machine 8", by=lea)
            >>> crm.products.get(washer.id, by=lea).warranty_months
            24
        """
        with self.read(by) as uow:
            return uow.get(Product, product_id, "product")

    def list(self, search: str | None = None, *, category: str | None = None,
             manufacturer_party_id: int | None = None, limit: int | None = None, offset: int = 0,
             by: int) -> list[Product]:
        """Products by id: every party reads the catalogue (it holds no personal data).

        Args:
            search: Part of the SKU or name, in any case.
            category: Only this category (in any case).
            manufacturer_party_id: Only this manufacturer's products.
            limit: At most this many (None: all).
            offset: Skip this many first (paging).
            by: The acting actor's id.

        Returns:
            The products.

        Raises:
            NotFound: ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> _ = crm.products.add("WM-8", "Washing machine 8", category="washers", by=lea)
            >>> [p.sku for p in crm.products.list("wm", category="Washers", by=lea)]
            ['WM-8']
        """
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
               price: float | None = None, service_contract: str | None = None, by: int) -> Asset:
        """Record that a customer owns a product: a sale, a handover, or what they bought elsewhere.

        The warranty runs ``warranty_months`` of the product from the handover (else the
        purchase) unless ``warranty_until`` overrides it; a case opened on the asset is judged
        in or out of warranty from it, and forwarded to the asset's manufacturer. The owning
        dealer's operation (the system may record for any customer). Raises ``AssetRecorded``.

        Args:
            customer_id: The customer who owns it (a live one, not merged away).
            product_id: The catalogue product (``crm.products.add``).
            serial_number: The unit's serial number, if known.
            purchased_on: The day of purchase (a date or ``"YYYY-MM-DD"``).
            handed_over_on: The day of handover (not before the purchase); the warranty starts here.
            warranty_until: The warranty's last day, overriding the product's months.
            dealer_party_id: The dealer that sold it (default: the customer's dealer); a dealer names only itself.
            manufacturer_party_id: Its manufacturer (default: the product's).
            replaces_asset_id: The customer's asset this unit replaces (a replacement after a warranty case).
            price: What the customer paid (counts for "loyal" by revenue).
            service_contract: A service contract for this unit (one a service level names).
            by: The acting actor's id.

        Returns:
            The stored asset, with ``warranty_until`` worked out.

        Raises:
            NotFound: The customer, product, a party or the replaced asset does not exist (or the
                customer is not visible); or ``by`` is no actor.
            NotPermitted: The actor does not keep this customer's file, or names another dealer as
                the seller; or ``by`` is deactivated.
            ValidationError: A date that is no date, a handover before the purchase, a price that
                is not finite (NaN, infinity), a merged customer.
            Vetoed: A plugin refused the change.

        Examples:
            >>> washer = crm.products.add("WM-9", "Washing machine 9", warranty_months=24, by=lea)
            >>> asset = crm.assets.record(anna, washer.id, serial_number="SN-1", purchased_on="2024-05-02",
            ...                           handed_over_on="2024-05-10", price=899.0, by=lea)
            >>> asset.warranty_until
            datetime.date(2026, 5, 10)
        """
        purchased = validation.iso_date("purchased_on", purchased_on)
        contract = self._contract(service_contract)
        handed_over = validation.iso_date("handed_over_on", handed_over_on)
        override = validation.iso_date("warranty_until", warranty_until)
        if price is not None:
            validation.finite("price", price)
        with self.uow(by, "assets.record") as uow:
            customer = kept_customer(uow, customer_id, "record assets of")
            own_party(uow.principal, dealer_party_id, "record an asset sold")
            product = uow.get(Product, product_id, "product")
            for pid in (dealer_party_id, manufacturer_party_id):
                if pid is not None:
                    uow.get(Party, pid, "party")
            if replaces_asset_id is not None:
                replaced = uow.session.get(Asset, replaces_asset_id)
                if replaced is None or replaced.customer_id != customer.id:
                    raise NotFound("asset", replaces_asset_id)  # another's unit reads as one never recorded
            asset = Asset(**asset_row(customer.id, customer.owner_party_id, product, serial_number=serial_number,
                                      purchased_on=purchased, handed_over_on=handed_over, warranty_until=override,
                                      price=price, dealer_party_id=dealer_party_id,
                                      manufacturer_party_id=manufacturer_party_id,
                                      replaces_asset_id=replaces_asset_id, now=uow.now),
                          service_contract=contract)
            uow.session.add(asset)
            uow.flush()
            uow.raise_event(AssetRecorded, asset_id=asset.id, customer_id=customer.id, product_id=product.id)
            uow.commit()
            return asset

    def set_contract(self, asset_id: int, service_contract: str | None, *, by: int) -> Asset:
        """Give the unit a service contract (None or "" ends it): the owning dealer's. Its open
        cases are put on the service level the contract calls for, in the same transaction
        (``dealercrm.services.case_levels``).

        Args:
            asset_id: The unit.
            service_contract: A contract a service level names (e.g. ``premium``), or None.
            by: The acting actor's id: a person of the owning dealer, or the system.

        Returns:
            The asset with its contract.

        Raises:
            NotFound: No such asset or one the actor may not see; or ``by`` is no actor.
            NotPermitted: The actor does not keep the customer's file, or ``by`` is deactivated.
            ValidationError: A contract no service level names (the known ones are listed).

        Examples:
            >>> washer = crm.products.add("WM-7", "Washer 7", by=lea)
            >>> unit = crm.assets.record(anna, washer.id, purchased_on="2026-01-05", by=lea)
            >>> crm.assets.set_contract(unit.id, "premium", by=lea).service_contract
            'premium'
        """
        contract = self._contract(service_contract)
        with self.uow(by, "assets.set_contract") as uow:
            asset = uow.session.get(Asset, asset_id)
            if asset is None or not _sees_asset(uow, asset):
                raise NotFound("asset", asset_id)
            kept_customer(uow, asset.customer_id, "change the assets of")
            if asset.service_contract != contract:
                asset.service_contract = contract
                uow.flush()
                relevel_open_cases(self.crm.cases, uow, asset_id=asset_id, operation="assets.set_contract")
            uow.commit()
            return asset

    def _contract(self, value: str | None) -> str | None:
        ctx = CleanContext(self.crm.settings.default_region, contracts=self.crm.cases.contracts())
        return ASSET["service_contract"].clean("service_contract", value, ctx)

    def get(self, asset_id: int, *, by: int) -> Asset:
        """An asset of a customer the actor keeps, or of a case it serves.

        A technician or manufacturer sees the unit a case is about, not everything else the
        customer owns.

        Args:
            asset_id: The asset.
            by: The acting actor's id.

        Returns:
            The asset.

        Raises:
            NotFound: No such asset, or one the actor may not see; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> washer = crm.products.add("WM-8", "Washing machine 8", by=lea)
            >>> asset = crm.assets.record(anna, washer.id, serial_number="SN-1", by=lea)
            >>> crm.assets.get(asset.id, by=lea).serial_number
            'SN-1'
        """
        with self.read(by) as uow:
            asset = uow.session.get(Asset, asset_id)
            if asset is None or not _sees_asset(uow, asset):
                raise NotFound("asset", asset_id)
            return asset

    def of_customer(self, customer_id: int, *, by: int) -> list[Asset]:
        """What the customer owns, oldest first: all of it for the owning dealer, the assets of
        its cases for a party serving one.

        Args:
            customer_id: The customer.
            by: The acting actor's id.

        Returns:
            The assets.

        Raises:
            NotFound: No such customer, or one the actor may not see; or ``by`` is no actor.
            NotPermitted: ``by`` is deactivated.

        Examples:
            >>> washer = crm.products.add("WM-8", "Washing machine 8", by=lea)
            >>> _ = crm.assets.record(anna, washer.id, serial_number="SN-1", by=lea)
            >>> [a.serial_number for a in crm.assets.of_customer(anna, by=lea)]
            ['SN-1']
        """
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
