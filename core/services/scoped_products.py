"""The product catalogue as one actor may use it (rules in ``dealercrm.access``).

The catalogue is shared and holds no personal data: every party reads it (a technician
looks up the machine it is sent to repair). Adding to it is a dealer's business — it
sells the products — and goes through the ordinary service with the actor as ``by``.
"""

from __future__ import annotations

from ..db.models import Product


class ScopedProducts:
    def __init__(self, scope):
        self.scope, self.crm, self.p = scope, scope.crm, scope.principal

    def list(self, search: str | None = None, *, category: str | None = None,
             manufacturer_party_id: int | None = None, limit: int = 50, offset: int = 0) -> list[Product]:
        return self.crm.products.list(search, category=category, manufacturer_party_id=manufacturer_party_id,
                                      limit=limit, offset=offset)

    def get(self, product_id: int) -> Product:
        return self.crm.products.get(product_id)

    def add(self, sku: str, name: str, *, warranty_months: int = 24, category: str = "general",
            manufacturer_party_id: int | None = None) -> Product:
        self.scope.require("dealer", doing="add products to the catalogue")
        return self.crm.products.add(sku, name, warranty_months=warranty_months, category=category,
                                     manufacturer_party_id=manufacturer_party_id, by=self.p.actor_id)
