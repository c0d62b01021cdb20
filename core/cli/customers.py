"""``dealercrm customers …``: add, update, list, show (the 360° view), merge, import, export, erase.

The options of ``add`` and ``update`` are made from the field declarations
(``dealercrm.fields``), plugins' fields included: a field declared once is an option here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..fields import FieldSet
from . import data
from .common import a_count, acting, an_id, console, fmt_time, open_crm
from .output import FormatOption, Format, examples, paged, say, show_list
from .render import customer_view


def field_options(fields: FieldSet, names: tuple[str, ...]) -> list[inspect.Parameter]:
    """One ``--option VALUE`` per field, its help from the declaration."""
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=Annotated[Optional[str], typer.Option(
                                  f"--{name.replace('_', '-')}", metavar=metavar(fields[name]),
                                  help=fields[name].help)])
            for name in names]


def metavar(f) -> str:
    """What a field's value looks like: ``YYYY-MM-DD`` for a date, ``person|company`` for a choice."""
    if f.choices:
        return "|".join(c.upper() for c in f.choices)
    return {"date": "YYYY-MM-DD", "int": "N", "float": "AMOUNT"}.get(f.type.__name__, "TEXT")


def with_options(fn: Callable, params: list[inspect.Parameter]) -> Callable:
    """``fn(**values)`` presented to Typer with ``params`` as its signature."""
    fn.__signature__ = inspect.Signature(params)
    return fn


def register(cli: typer.Typer, fields: FieldSet) -> None:
    customers = typer.Typer(help="The customer file.", no_args_is_help=True)
    cli.add_typer(customers, name="customers")
    settable = tuple(n for n in fields.editable if n != "name") + ("external_id",)

    def add(name: str, owner_party: Optional[int] = None, account_owner: Optional[int] = None, **values) -> None:
        """Register a customer; a known e-mail or phone is refused with the existing id."""
        crm = open_crm()
        given = {k: v for k, v in values.items() if v is not None}
        c = crm.customers.add(name, owner_party_id=owner_party, account_owner_id=account_owner, by=acting(crm),
                              **given)
        say(f"customer {c.id} added: {escape(c.name)}")

    customers.command("add", epilog=examples(
        "dealercrm customers add 'Max Mustermann' --email max@example.org --phone '0171 5550100'",
        "dealercrm --as 'Sabine Krüger' customers add 'Hotel Bergblick GmbH' --kind company --city Garmisch"))(
        with_options(add, [
            inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[
                str, typer.Argument(metavar="NAME", help="the person's or company's name")]),
            *field_options(fields, settable),
            inspect.Parameter("owner_party", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
                Optional[int], an_id("party", "--owner-party",
                                     help="owning party id (default: the acting dealer, or the home dealer)")]),
            inspect.Parameter("account_owner", inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=Annotated[Optional[int], an_id(
                                  "actor", "--account-owner", help="the dealer's person who looks after the "
                                  "customer (an actor id)")]),
        ]))

    def update(customer_id: int, **values) -> None:
        """Change fields of a customer's file; an empty value ('') clears a field."""
        crm = open_crm()
        given = {k: (v or None) for k, v in values.items() if v is not None}
        c = crm.customers.update(customer_id, by=acting(crm), **given)
        say(f"customer {c.id} updated: {escape(c.name)}")

    customers.command("update", epilog=examples("dealercrm customers update 12 --phone '+49 171 5550199'",
                                                "dealercrm customers update 12 --birthday ''"))(
        with_options(update, [
            inspect.Parameter("customer_id", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=Annotated[int, an_id("customer")]),
            *field_options(fields, fields.editable),
        ]))

    @customers.command("list", epilog=examples("dealercrm customers list --search meyer",
                                               "dealercrm customers list --limit 500 --format csv > customers.csv"))
    def list_(search: Annotated[Optional[str], typer.Option(metavar="TEXT", help="part of the name or e-mail")] = None,
              limit: Annotated[int, a_count(help="at most this many")] = 50,
              offset: Annotated[int, a_count(help="skip this many")] = 0,
              fmt: FormatOption = Format.table) -> None:
        """List customers (merged duplicates are left out); JSON as GET /customers answers."""
        crm = open_crm()
        found = crm.customers.list(search=search, limit=limit + 1, offset=offset, by=acting(crm))

        def table() -> Table:
            t = Table("id", "name", "kind", "email", "phone", "last touch")
            for c in found[:limit]:
                t.add_row(str(c.id), escape(c.name), c.get("kind", "—"), escape(c.get("email") or "—"),
                          c.get("phone") or "—", fmt_time(c.get("last_touch_at")))
            return t

        show_list(fmt, [dict(c) for c in found[:limit]], table, page=paged(found, limit, offset))

    @customers.command("show", epilog=examples("dealercrm customers show 12",
                                               "dealercrm --as 'Ole Hansen' customers show 12"))
    def show(customer_id: Annotated[int, an_id("customer")]) -> None:
        """The 360° view: contacts, assets, interests, consents, timeline, open tasks."""
        crm = open_crm()
        console.print(customer_view(crm.customers.view(customer_id, by=acting(crm)), crm.customers.fields,
                                    crm.consents.channels()))

    @customers.command("merge", epilog=examples("dealercrm customers merge 12 57"))
    def merge(keep: Annotated[int, an_id("customer", metavar="KEEP", help="the customer that stays")],
              other: Annotated[int, an_id("customer", metavar="OTHER", help="the duplicate merged into KEEP")]) -> None:
        """Merge customer OTHER into KEEP with every linked record (audited)."""
        crm = open_crm()
        crm.customers.merge(keep, other, by=acting(crm))
        say(f"customer {other} merged into customer {keep}")

    data.register_customers(customers, fields)
