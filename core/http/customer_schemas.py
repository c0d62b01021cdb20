"""The customer's request and response bodies, made from the field declarations.

``dealercrm.fields`` declares each field once, plugins' fields included; the HTTP bodies
follow: what can be given when registering (every field that can be imported or
edited), what can be changed (the editable ones), and what comes back (every field,
absent where withheld from the caller). Built per application, so a plugin's
``licence_plate`` is in that application's OpenAPI document and nowhere else.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import attrs
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field as Described, create_model

from ..fields import Field, FieldSet
from .schemas import CustomerViewSections, Out, text


@attrs.frozen
class CustomerSchemas:
    register: type[BaseModel]  # POST /customers
    change: type[BaseModel]  # PATCH /customers/{id}
    out: type[BaseModel]  # every answer holding a customer
    view: type[BaseModel]  # GET /customers/{id}


def _type(f: Field, *, given: bool, required: bool = False) -> Any:
    """The wire type of ``f``: bounded texts, the choices as an enum, aware times on input."""
    if f.choices:
        return Literal[f.choices]  # type: ignore[valid-type]
    if f.type is str:
        return text(f.max_length or 100_000, 1 if required else 0) if given else str
    if f.type is datetime:
        return AwareDatetime if given else datetime
    if f.type in (date, int, float, bool):
        return f.type
    return Any


def _optional(f: Field, default: Any = None, *, given: bool) -> tuple[Any, Any]:
    return _type(f, given=given) | None, Described(default, description=f.help)


def customer_schemas(fields: FieldSet) -> CustomerSchemas:
    given = [f for f in fields.values() if f.editable or f.column]
    register = create_model(
        "CustomerIn", __config__=ConfigDict(extra="forbid"),
        **{f.name: ((_type(f, given=True, required=True), Described(description=f.help)) if f.required
                    else _optional(f, f.choices[0] if f.choices else None, given=True)) for f in given})
    change = create_model("CustomerPatch", __config__=ConfigDict(extra="forbid"),
                          **{f.name: _optional(f, given=True) for f in fields.values() if f.editable})
    out = create_model("CustomerOut", __base__=Out, __doc__="A customer as the caller may see them: withheld "
                       "fields are absent.", id=(int, ...),
                       **{f.name: _optional(f, given=False) for f in fields.values()})
    view = create_model("CustomerView", __base__=CustomerViewSections, customer=(out, ...))
    return CustomerSchemas(register, change, out, view)
