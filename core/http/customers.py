"""``/customers``: the file as the caller may see and keep it.

Merging, exporting and erasing are for the owning dealer's owner or manager (and the
system): others get 404 if they do not see the customer, 403 if they do.
"""

# No ``from __future__ import annotations``: the routes of ``file_router`` name the models of
# one application, which FastAPI must see as objects, not as strings to look up later.

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ..errors import NotFound
from .auth import Caller
from .customer_schemas import CustomerSchemas
from .common import Limit, Offset, Router, page, problems
from .schemas import (MAX_ID, AssetIn, AssetOut, AssetPatch, ConsentIn, ConsentOut, ContactIn, ContactOut,
                      ContactPatch, CustomerExport, InteractionIn, InteractionOut, InterestIn, InterestOut, MergeIn,
                      OwnerIn, Page, RelationshipsOut, Short)

router = Router(prefix="/customers", tags=["customers"], responses=problems(400, 401, 404, 422))
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]
ContactId = Annotated[int, Path(ge=1, le=MAX_ID)]


def asset_out(asset, product) -> dict:
    return {**asset.model_dump(), "product_sku": product.sku, "product_name": product.name}


@router.get("/{customer_id}/consents", response_model=list[ConsentOut], responses=problems(403))
def consent_history(me: Caller, customer_id: CustomerId):
    """Every consent answer ever recorded, oldest first (the latest per channel and purpose counts)."""
    return me.consents.history(customer_id)


@router.post("/{customer_id}/consents", status_code=201, response_model=ConsentOut, responses=problems(403))
def record_consent(me: Caller, customer_id: CustomerId, body: ConsentIn):
    record = me.consents.grant if body.granted else me.consents.revoke
    return record(customer_id, body.channel, body.purpose, source=body.source)


@router.get("/{customer_id}/interests", response_model=list[InterestOut], responses=problems(403))
def list_interests(me: Caller, customer_id: CustomerId):
    return me.interests.of_customer(customer_id)


@router.post("/{customer_id}/interests", status_code=201, response_model=InterestOut, responses=problems(403))
def note_interest(me: Caller, customer_id: CustomerId, body: InterestIn):
    return me.interests.note(customer_id, body.tag, note=body.note)


@router.get("/{customer_id}/assets", response_model=list[AssetOut])
def list_assets(me: Caller, customer_id: CustomerId):
    """The customer's assets; a party serving a case sees only that case's asset."""
    return [asset_out(a, p) for a, p in me.customers.view(customer_id, 0).assets]


@router.post("/{customer_id}/assets", status_code=201, response_model=AssetOut, responses=problems(403))
def record_asset(me: Caller, customer_id: CustomerId, body: AssetIn):
    asset = me.assets.record(customer_id, **body.model_dump())
    product = me.products.get(asset.product_id)
    return asset_out(asset, product)


AssetId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.patch("/{customer_id}/assets/{asset_id}", response_model=AssetOut, responses=problems(403))
def change_asset(me: Caller, customer_id: CustomerId, asset_id: AssetId, body: AssetPatch):
    """Give the unit a service contract, or end it (null): the owning dealer. Its open cases are put
    on the service level the contract calls for."""
    if me.assets.get(asset_id).customer_id != customer_id:
        raise NotFound("asset", asset_id)  # another customer's asset: as if never used
    asset = me.assets.set_contract(asset_id, body.service_contract)
    return asset_out(asset, me.products.get(asset.product_id))


@router.get("/{customer_id}/timeline", response_model=Page[InteractionOut], responses=problems(403))
def customer_timeline(me: Caller, customer_id: CustomerId, limit: Limit = 50, offset: Offset = 0):
    """Everything that passed between the company and the customer, newest first."""
    return page(me.interactions.timeline(customer_id, limit + 1, offset), limit, offset)


@router.post("/{customer_id}/interactions", status_code=201, response_model=InteractionOut, responses=problems(403))
def record_interaction(me: Caller, customer_id: CustomerId, body: InteractionIn):
    return me.interactions.record(customer_id, body.channel, body.direction, body.summary, personal=body.personal,
                                  contact_person_id=body.contact_person_id)


@router.get("/{customer_id}/relationships", response_model=RelationshipsOut, responses=problems(403))
def relationships(me: Caller, customer_id: CustomerId):
    """Who of ours knows whom of theirs: our people (actor, role) against the customer's contact persons
    (function), each pair with its last personal touch, the touches in the last 12 months and the channel of
    the last one; per level (salesman and buyer, service and technician …) whether it is kept, lapsed or never
    met. The keeping dealer's, like the contact persons (a party serving a case gets 403)."""
    return me.customers.relationships(customer_id)


@router.get("/{customer_id}/contacts", response_model=list[ContactOut], responses=problems(403))
def list_contacts(me: Caller, customer_id: CustomerId):
    """The customer's contact persons (a company's buyer, a household's other members)."""
    return me.customers.contacts(customer_id)


@router.post("/{customer_id}/contacts", status_code=201, response_model=ContactOut, responses=problems(403))
def add_contact(me: Caller, customer_id: CustomerId, body: ContactIn, response: Response):
    contact = me.customers.add_contact(customer_id, **body.model_dump())
    response.headers["Location"] = f"/customers/{customer_id}/contacts/{contact.id}"
    return contact


@router.patch("/{customer_id}/contacts/{contact_id}", response_model=ContactOut, responses=problems(403))
def change_contact(me: Caller, customer_id: CustomerId, contact_id: ContactId, body: ContactPatch):
    return me.customers.update_contact(customer_id, contact_id, **body.model_dump(exclude_unset=True))


@router.delete("/{customer_id}/contacts/{contact_id}", status_code=204, responses=problems(403))
def remove_contact(me: Caller, customer_id: CustomerId, contact_id: ContactId):
    """Delete a contact person who left the customer."""
    me.customers.remove_contact(customer_id, contact_id)
    return Response(status_code=204)


@router.get("/{customer_id}/export", response_model=CustomerExport, responses=problems(403))
def export_customer(me: Caller, customer_id: CustomerId):
    """Everything held about the customer, for a request under the right of access; only the dealer's
    owner or manager may."""
    return me.customers.export(customer_id)


def file_router(models: CustomerSchemas) -> APIRouter:
    """The routes whose bodies carry the customer's declared fields (``customer_schemas``)."""
    file = Router(prefix="/customers", tags=["customers"], responses=problems(400, 401, 404, 422))

    @file.get("", response_model=Page[models.out], response_model_exclude_unset=True)
    def list_customers(me: Caller, limit: Limit = 50, offset: Offset = 0,
                       q: Annotated[Short | None, Query(description="part of the name or e-mail")] = None,
                       external_id: Annotated[Short | None, Query(
                           description="the caller's own id for the customer (e.g. after an import); "
                                       "matches only the caller's own customers")] = None):
        """Customers the caller may see: a dealer its own; others the customers of their cases (minimised)."""
        return page(me.customers.list(q, limit + 1, offset, external_id=external_id), limit, offset)

    @file.post("", status_code=201, response_model=models.out, response_model_exclude_unset=True,
                 responses=problems(403))
    def register_customer(me: Caller, body: models.register, response: Response):  # type: ignore[valid-type]
        """Register a customer of the caller's dealership."""
        customer = me.customers.add(**body.model_dump())
        response.headers["Location"] = f"/customers/{customer['id']}"
        return customer

    @file.get("/{customer_id}", response_model=models.view, response_model_exclude_unset=True)
    def view_customer(me: Caller, customer_id: CustomerId,
                      timeline_limit: Annotated[int, Query(ge=0, le=200)] = 20):
        """The 360° view. A party serving one of the customer's cases (not owning the customer) gets the
        minimised view: only the fields it needs, the case's asset, and null for withheld sections."""
        view = me.customers.view(customer_id, timeline_limit)
        out = {name: getattr(view, name) for name in ("customer", "visibility", "cases", "owner_party", "account_owner",
                                                       "contacts", "interests", "consents", "timeline", "open_tasks",
                                                       "relationships")}
        out["assets"] = [asset_out(a, p) for a, p in view.assets]
        out["consents"] = None if view.consents is None else list(view.consents.values())
        return out

    @file.patch("/{customer_id}", response_model=models.out, response_model_exclude_unset=True,
                  responses=problems(403))
    def change_customer(me: Caller, customer_id: CustomerId, body: models.change):  # type: ignore[valid-type]
        return me.customers.update(customer_id, **body.model_dump(exclude_unset=True))

    @file.post("/{customer_id}/owner", response_model=models.out, response_model_exclude_unset=True,
                 responses=problems(403))
    def reassign_customer(me: Caller, customer_id: CustomerId, body: OwnerIn):
        """Name the customer's account owner (when a salesperson leaves, their customers go to a
        colleague): an active person of the owning dealer, else a 422 naming ``account_owner_id``.
        Moving the customer to another dealer (``owner_party_id``) is refused with 403: it hands over
        the whole file, and only dealercrm's system actor does that."""
        return me.customers.reassign(customer_id, account_owner_id=body.account_owner_id,
                                     owner_party_id=body.owner_party_id)

    @file.post("/{customer_id}/merge", response_model=models.out, response_model_exclude_unset=True,
                 responses=problems(403))
    def merge_customer(me: Caller, customer_id: CustomerId, body: MergeIn):
        """Merge a duplicate into this customer: its records move here, fields this customer lacks are
        filled from it, and it stays as a tombstone (``merged_into_id``). Both must be the caller's own
        customers; only the dealer's owner or manager may."""
        return me.customers.merge(customer_id, body.duplicate_id)

    @file.post("/{customer_id}/erase", response_model=models.out, response_model_exclude_unset=True,
                 responses=problems(403))
    def erase_customer(me: Caller, customer_id: CustomerId):
        """Erase the customer's personal data (right to erasure): business records stay, anonymised, and
        answers kept for ``Idempotency-Key`` repeats that concern the customer are dropped. Cannot be
        undone; erasing twice is a 422. Only the dealer's owner or manager may."""
        return me.customers.erase(customer_id)


    return file
