"""``dealercrm customers …``: add, update, list, show (the 360° view), merge, import, export, erase.

The options of ``add`` and ``update`` are made from the field declarations
(``dealercrm.fields``), plugins' fields included: a field declared once is an option here.
"""

from __future__ import annotations

import inspect
import json
import shlex
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Optional

import attrs
import typer
from rich.markup import escape
from rich.table import Column, Table

from ..fields import FieldSet
from ..services.duplicates import MAX_PAGE
from ..http.schemas import SuspectOut
from . import data
from .common import a_count, acting, acting_as, actor_given, an_id, console, fmt_time, open_crm
from .output import Format, FormatOption, examples, paged, say, show_list
from .render import customer_view, relationship_map


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

    @customers.command("relationships", epilog=examples("dealercrm customers relationships 12",
                                                         "dealercrm --as 7 customers relationships 12 --format json"))
    def relationships(customer_id: Annotated[int, an_id("customer")], fmt: FormatOption = Format.table) -> None:
        """Who of ours knows whom of theirs: our people against the customer's contact persons (last
        personal touch, touches in 12 months, channel), and per level whether it is kept or missing.
        CSV gives one line per pair."""
        crm = open_crm()
        by = acting(crm)
        m = crm.customers.relationships(customer_id, by=by)
        if fmt is Format.json:
            print(json.dumps(attrs.asdict(m) | {"single_threaded": m.single_threaded}, default=str, indent=2,
                             ensure_ascii=False))
            return
        if fmt is Format.csv:
            pairs = attrs.asdict(m).get("pairs") or []
            show_list(fmt, pairs, lambda: None, columns=list(pairs[0]) if pairs else ())
            return
        console.print(relationship_map(m, crm.customers.get(customer_id, by=by).name))

    @customers.command("interaction", epilog=examples(
        'dealercrm --as 7 customers interaction 12 phone "asked about the roof box" --contact 3',
        'dealercrm customers interaction 12 post "autumn letter" --mass'))
    def interaction(customer_id: Annotated[int, an_id("customer")],
                    channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="phone, visit, email, post …")],
                    summary: Annotated[str, typer.Argument(metavar="SUMMARY", help="what was said or done")],
                    direction: Annotated[str, typer.Option(metavar="DIRECTION",
                                                           help="outbound, inbound or internal")] = "outbound",
                    contact: Annotated[Optional[int], an_id("contact person", "--contact",
                                                            help="the contact person it was with (their id)")] = None,
                    mass: Annotated[bool, typer.Option("--mass", help="a mailing, not a personal touch")] = False
                    ) -> None:
        """Record a call, a visit or a letter on the customer's timeline, optionally with whom."""
        crm = open_crm()
        i = crm.interactions.record(customer_id, channel, direction, summary, personal=not mass,
                                    contact_person_id=contact, by=acting(crm))
        say(f"interaction {i.id} recorded" + (f" with contact person {contact}" if contact else ""))

    @customers.command("task", epilog=examples('dealercrm --as 7 customers task 12 "call their buyer" --contact 3',
                                               'dealercrm customers task 12 "send the offer" --due-in-days 3'))
    def task(customer_id: Annotated[int, an_id("customer")],
             title: Annotated[str, typer.Argument(metavar="TITLE", help="what is to be done")],
             due_in_days: Annotated[int, a_count(help="due in this many days")] = 1,
             contact: Annotated[Optional[int], an_id("contact person", "--contact",
                                                     help="the contact person it is about (their id)")] = None,
             assign: Annotated[Optional[int], an_id("actor", "--assign", help="the person who does it")] = None,
             note: Annotated[Optional[str], typer.Option(metavar="TEXT", help="more words")] = None) -> None:
        """Make a task about the customer (a call to their buyer), for one of the acting party's people."""
        crm = open_crm()
        t = crm.tasks.create(title, crm.clock.now() + timedelta(days=due_in_days), customer_id=customer_id,
                             contact_person_id=contact, assigned_actor_id=assign, note=note, by=acting(crm))
        say(f"task {t.id} created, due {fmt_time(t.due_at)}")

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

    @customers.command("merge", epilog=examples("dealercrm customers merge 12 57"))
    def merge(keep: Annotated[int, an_id("customer", metavar="KEEP", help="the customer that stays")],
              other: Annotated[int, an_id("customer", metavar="OTHER", help="the duplicate merged into KEEP")]) -> None:
        """Merge customer OTHER into KEEP with every linked record (audited)."""
        crm = open_crm()
        crm.customers.merge(keep, other, by=acting(crm))
        say(f"customer {other} merged into customer {keep}")

    data.register_customers(customers, fields)
