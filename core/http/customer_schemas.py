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
from pydantic import BaseModel, ConfigDict, Field as Described, create_model

from ..fields import Field, FieldSet
from .schemas import (Bool, CustomerViewSections, Day, Int, Moment, Number, Out, email_text, kept_unless_given,
                      phone_text, text)


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
        if not given:
            return str
        if f.format == "email":
            return email_text(f.max_length or 200)
        if f.format == "phone":
            return phone_text(f.max_length or 40)
        return text(f.max_length or 100_000, 1 if required else 0)
    if not given:
        return f.type if f.type in (datetime, date, int, float, bool) else Any
    return {datetime: Moment, date: Day, int: Int, float: Number, bool: Bool}.get(f.type, Any)


def _optional(f: Field, default: Any = None, *, given: bool) -> tuple[Any, Any]:
    return _type(f, given=given) | None, Described(default, description=f.help)


def _registered(f: Field) -> tuple[Any, Any]:
    """A field of POST /customers: required, a choice with its default (not nullable), or optional."""
    if f.required:
        return _type(f, given=True, required=True), Described(description=f.help)
    if f.choices:
        return _type(f, given=True), Described(f.choices[0], description=f.help)
    return _optional(f, given=True)


def _changed(f: Field) -> tuple[Any, Any]:
    """A field of PATCH /customers/{id}: one that cannot be cleared (required, a choice) is not nullable."""
    if f.required or f.choices:
        return _type(f, given=True, required=f.required), kept_unless_given(f.help)
    return _optional(f, given=True)


def customer_schemas(fields: FieldSet) -> CustomerSchemas:
    given = [f for f in fields.values() if f.editable or f.column]
    register = create_model("CustomerIn", __config__=ConfigDict(extra="forbid"),
                            **{f.name: _registered(f) for f in given})
    change = create_model("CustomerPatch", __config__=ConfigDict(extra="forbid", json_schema_extra={
        "description": "Only the fields sent change; null (or blank) clears a field that may be empty. A field "
                       "that cannot be empty (the name, the kind) is not nullable."}),
                          **{f.name: _changed(f) for f in fields.values() if f.editable})
    out = create_model("CustomerOut", __base__=Out, __doc__="A customer as the caller may see them: withheld "
                       "fields are absent.", id=(int, ...),
                       **{f.name: _optional(f, given=False) for f in fields.values()})
    view = create_model("CustomerView", __base__=CustomerViewSections, customer=(out, ...))
    return CustomerSchemas(register, change, out, view)
