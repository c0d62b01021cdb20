"""``/products``: the shared catalogue — every party reads it, dealers add to it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Response

from .auth import Caller
from .common import Limit, Offset, Router, page, problems
from .schemas import MAX_ID, Id, Page, ProductIn, ProductOut, Short, text

router = Router(prefix="/products", tags=["products"], responses=problems(400, 401, 422))
ProductId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("", response_model=Page[ProductOut])
def list_products(me: Caller, limit: Limit = 50, offset: Offset = 0,
                  q: Annotated[Short | None, Query(description="part of the SKU or name, in any case")] = None,
                  category: Annotated[text(64) | None, Query()] = None,
                  manufacturer_party_id: Annotated[Id | None, Query()] = None):
    """The catalogue (no personal data, so the same for every party), by id."""
    rows = me.products.list(q, category=category, manufacturer_party_id=manufacturer_party_id, limit=limit + 1,
                            offset=offset)
    return page(rows, limit, offset)


@router.post("", status_code=201, response_model=ProductOut, responses=problems(403))
def add_product(me: Caller, body: ProductIn, response: Response):
    """Add a product a dealer sells; its assets' warranty runs ``warranty_months`` from the handover.
    An SKU already in the catalogue, or a maker that is no manufacturer, is a 422 naming the field."""
    product = me.products.add(**body.model_dump())
    response.headers["Location"] = f"/products/{product.id}"
    return product


@router.get("/{product_id}", response_model=ProductOut, responses=problems(404))
def show_product(me: Caller, product_id: ProductId):
    return me.products.get(product_id)
