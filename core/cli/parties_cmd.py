"""``dealercrm parties …``: the parties directory and each party's calendar."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ValidationError
from ..fields import PARTY_KINDS
from ..http.schemas import PartyOut
from .common import a_count, acting, an_id, console, open_crm
from .output import Format, FormatOption, examples, paged, say, show_list


def parse_hours_options(values: list[str]) -> dict[str, str] | None:
    """``--hours mon-fri=08:00-17:00 --hours sat=09:00-12:00`` → ``{"mon-fri": "08:00-17:00", …}``."""
    if not values:
        return None
    out = {}
    for value in values:
        days, sep, window = value.partition("=")
        if not sep:
            raise ValidationError("--hours", value, "must look like mon-fri=08:00-17:00")
        out[days.strip()] = window.strip()
    return out


def register(cli: typer.Typer) -> None:
    parties = typer.Typer(help="Parties (dealers, manufacturers, technicians) and their calendars.",
                          no_args_is_help=True)
    cli.add_typer(parties, name="parties")

    @parties.command("list", epilog=examples("dealercrm parties list", "dealercrm parties list --kind manufacturer",
                                             "dealercrm parties list --format json"))
    def list_(kind: Annotated[Optional[str], typer.Option(
                  metavar="KIND", help=f"only parties of this kind: {', '.join(PARTY_KINDS)}")] = None,
              limit: Annotated[int, a_count(help="at most this many")] = 200,
              offset: Annotated[int, a_count(help="skip this many")] = 0,
              fmt: FormatOption = Format.table) -> None:
        """Every party with its calendar; JSON as GET /parties answers."""
        crm = open_crm()
        found = crm.parties.list(kind=kind, limit=limit + 1, offset=offset, by=acting(crm))

        def table() -> Table:
            t = Table("id", "kind", "name", "region", "time zone", "hours", "closed")
            for p in found[:limit]:
                hours = ", ".join(f"{d} {w}" for d, w in (p.hours or {}).items()) or "mon-fri 08:00-17:00"
                t.add_row(str(p.id), p.kind, escape(p.name), p.region, p.time_zone, hours,
                          ", ".join(p.closed or ()) or "—")
            return t

        show_list(fmt, [PartyOut.model_validate(p).model_dump() for p in found[:limit]], table,
                  page=paged(found, limit, offset), columns=PartyOut.model_fields)

    @parties.command("calendar", epilog=examples(
        "dealercrm parties calendar 3 --tz America/New_York --hours mon-fri=09:00-18:00 --region US-NY",
        "dealercrm parties calendar 2 --hours mon-fri=08:00-17:00 --hours sat=09:00-12:00 --closed 2026-12-24"))
    def calendar(
        party_id: Annotated[int, an_id("party")],
        time_zone: Annotated[Optional[str], typer.Option(
            "--tz", metavar="ZONE", help="IANA time zone, e.g. America/New_York")] = None,
        hours: Annotated[Optional[list[str]], typer.Option(
            metavar="DAYS=FROM-TO", help="opening hours, repeatable: mon-fri=08:00-17:00 (a weekday left out is "
            "closed)")] = None,
        region: Annotated[Optional[str], typer.Option(
            metavar="REGION", help="holiday region, e.g. DE-BY or US-NY")] = None,
        closed: Annotated[Optional[list[str]], typer.Option(
            metavar="YYYY-MM-DD", help="a day closed besides holidays, repeatable: 2026-12-24")] = None,
    ) -> None:
        """Set a party's calendar; deadlines set from now on count in it."""
        crm = open_crm()
        party = crm.parties.set_calendar(party_id, time_zone=time_zone, hours=parse_hours_options(hours or []),
                                         region=region, closed=closed or None, by=acting(crm))
        say(f"party {party.id} {escape(party.name)}: {party.time_zone}, "
            f"{party.hours or 'mon-fri 08:00-17:00'}, holidays of {party.region}"
            f"{', closed ' + ', '.join(party.closed) if party.closed else ''}")

    @parties.command("deactivate-actor", epilog=examples("dealercrm --as 7 parties deactivate-actor 12 --handover-to 15",
                                                         "dealercrm parties deactivate-actor 12"))
    def deactivate_actor(
        actor_id: Annotated[int, an_id("actor")],
        handover_to: Annotated[Optional[int], an_id("actor", "--handover-to", help="the successor: an active person of "
                                                    "the same party, who takes over the accounts")] = None,
    ) -> None:
        """Someone left: deactivate them and hand over every account they owned or held the only relationship
        with, in one audited operation (a hand-over task each: who takes over, whom to introduce)."""
        crm = open_crm()
        done = crm.parties.deactivate(actor_id, handover_to=handover_to, by=acting(crm))
        heir = f", handed over to actor {done.successor_id}" if done.successor_id else ", nobody named to take over"
        say(f"actor {done.actor_id} {escape(done.name)} deactivated{heir}: "
                      f"{len(done.accounts)} account(s), {len(done.tasks_reassigned)} open task(s) reassigned")
        if done.accounts:
            table = Table("customer", "name", "why", "whom to introduce", "hand-over task", "account owner")
            for a in done.accounts:
                why = ", ".join(w for w, on in (("account owner", a.account_owner),
                                                ("only relationship", a.only_relationship)) if on)
                table.add_row(str(a.customer_id), escape(a.name), why,
                              escape("; ".join(f"{i.name} ({i.function})" for i in a.introduce) or "—"),
                              str(a.task_id), str(a.new_account_owner_id or "—"))
            console.print(table)
