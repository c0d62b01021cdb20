"""``dealercrm customers …``: add, update, list, show (the 360° view), merge.

The options of ``add`` and ``update`` are made from the field declarations
(``dealercrm.fields``), plugins' fields included: a field declared once is an option here.
"""

from __future__ import annotations

import inspect
import shlex
from collections.abc import Callable
from typing import Annotated, Optional

import attrs
import typer
from rich.markup import escape
from rich.table import Column, Table

from ..fields import FieldSet
from ..services.duplicates import MAX_PAGE
from ..http.schemas import SuspectOut
from .common import a_count, acting, acting_as, actor_given, an_id, console, fmt_time, open_crm
from .output import Format, FormatOption, examples, paged, show_list
from .render import customer_view


def field_options(fields: FieldSet, names: tuple[str, ...]) -> list[inspect.Parameter]:
    """One ``--option`` per field, its help from the declaration."""
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=Annotated[Optional[str], typer.Option(
                                  f"--{name.replace('_', '-')}", help=fields[name].help)])
            for name in names]


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
        console.print(f"customer {c.id} added: {escape(c.name)}")

    customers.command("add")(with_options(add, [
        inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
        *field_options(fields, settable),
        inspect.Parameter("owner_party", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Optional[int], an_id("party", option=True,
                                 help="owning party id (default: the acting dealer, or the home dealer)")]),
        inspect.Parameter("account_owner", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[Optional[int], an_id("actor", option=True,
                                                                    help="account owner actor id")]),
    ]))

    def update(customer_id: int, **values) -> None:
        """Change fields of a customer's file; an empty value ('') clears a field."""
        crm = open_crm()
        given = {k: (v or None) for k, v in values.items() if v is not None}
        c = crm.customers.update(customer_id, by=acting(crm), **given)
        console.print(f"customer {c.id} updated: {escape(c.name)}")

    customers.command("update")(with_options(update, [
        inspect.Parameter("customer_id", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          annotation=Annotated[int, an_id("customer")]),
        *field_options(fields, fields.editable),
    ]))

    @customers.command("list")
    def list_(search: Annotated[Optional[str], typer.Option(help="part of the name or e-mail")] = None,
              limit: Annotated[int, a_count(help="at most this many")] = 50,
              offset: Annotated[int, a_count(help="skip this many")] = 0) -> None:
        """List customers (merged duplicates are left out)."""
        crm = open_crm()
        table = Table("id", "name", "kind", "email", "phone", "last touch")
        for c in crm.customers.list(search=search, limit=limit, offset=offset, by=acting(crm)):
            table.add_row(str(c.id), escape(c.name), c.get("kind", "—"), escape(c.get("email") or "—"),
                          c.get("phone") or "—", fmt_time(c.get("last_touch_at")))
        console.print(table)

    @customers.command("show")
    def show(customer_id: Annotated[int, an_id("customer")]) -> None:
        """The 360° view: contacts, assets, interests, consents, timeline, open tasks."""
        crm = open_crm()
        console.print(customer_view(crm.customers.view(customer_id, by=acting(crm)), crm.customers.fields,
                                    crm.consents.channels()))

    @customers.command("duplicates", epilog=examples(
        "dealercrm customers duplicates --as 'Lea Yilmaz'",
        "dealercrm customers duplicates --customer 12 --min-score 60 --format json"))
    def duplicates(customer: Annotated[Optional[int], an_id("customer", option=True, metavar="CUSTOMER_ID",
                                                            help="only this customer's suspects")] = None,
                   min_score: Annotated[int, typer.Option(min=0, max=100, metavar="SCORE",
                                                          help="leave out pairs scoring less (0-100)")] = 0,
                   as_: Annotated[Optional[str], typer.Option("--as", metavar="ACTOR", help=(
                       "act as this person (id or exact name); default: the global --as, else the system"))] = None,
                   limit: Annotated[int, typer.Option(min=1, max=MAX_PAGE, metavar="N", help="at most this many")] = 50,
                   offset: Annotated[int, a_count(metavar="N", help="skip this many first")] = 0,
                   fmt: FormatOption = Format.table) -> None:
        """Customers of your dealer who may be one person, the likeliest first, with why and the merge command.

        Suspects, not refusals: the same phone (a family may share one), or similar names with the same
        postcode or birthday; never across dealers. JSON as GET /customers/duplicates answers.
        """
        crm = open_crm()
        by = acting_as(crm, as_)
        found = crm.customers.duplicates(customer_id=customer, min_score=min_score, limit=limit + 1, offset=offset,
                                         by=by)
        who = f"--as {shlex.quote(actor_given())} " if actor_given() else ""
        items = [dict(attrs.asdict(s), reasons=list(s.reasons),
                      merge={"method": "POST", "href": f"/customers/{s.keep_id}/merge",
                             "body": {"duplicate_id": s.duplicate_id}},
                      command=f"dealercrm {who}customers merge {s.keep_id} {s.duplicate_id}")
                 for s in found[:limit]]

        def table() -> Table:
            t = Table("keep", "name", "suspect", "suspect's name", "score", "why", Column("merge with", no_wrap=True),
                      title="Duplicate suspects", title_justify="left")
            for item in items:
                t.add_row(str(item["keep_id"]), escape(item["keep_name"]), str(item["duplicate_id"]),
                          escape(item["duplicate_name"]), str(item["score"]), escape("; ".join(item["reasons"])),
                          escape(item["command"]))
            return t

        show_list(fmt, items, table, page=paged(found, limit, offset),
                  columns=[*SuspectOut.model_fields, "command"])

    @customers.command("merge")
    def merge(keep: Annotated[int, an_id("customer")], other: Annotated[int, an_id("customer")]) -> None:
        """Merge customer OTHER into KEEP with every linked record (audited)."""
        crm = open_crm()
        crm.customers.merge(keep, other, by=acting(crm))
        console.print(f"customer {other} merged into customer {keep}")
