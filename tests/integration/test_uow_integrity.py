"""A plugin writing its own rows through ``uow.session`` meets the database's constraints
as a clear ``ValidationError`` naming the constraint, and nothing of the operation stays."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dealercrm.db.models import Product
from dealercrm.errors import ValidationError


def test_a_constraint_a_plugin_breaks_is_a_validation_error_and_nothing_is_written(any_crm):
    crm = any_crm
    crm.products.add("WM-100", "Washer 100", by=crm.system)
    with pytest.raises(ValidationError, match="constraint") as caught:
        with crm.uow(crm.system, "plugin.import_catalogue") as uow:
            uow.session.add(Product(sku="WM-200", name="Washer 200", created_at=uow.now))
            uow.session.add(Product(sku="WM-100", name="the same SKU again", created_at=uow.now))
            uow.commit()
    assert "sku" in str(caught.value).lower() or "unique" in str(caught.value).lower()
    with crm.read(crm.system) as uow:
        assert uow.connection.execute(select(func.count()).select_from(Product)).scalar() == 1
