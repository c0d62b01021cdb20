"""``dealercrm parties …``: the parties directory and each party's calendar."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ValidationError
from .common import acting, an_id, console, open_crm


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

    @parties.command("list")
    def list_() -> None:
        """Every party with its calendar."""
        crm = open_crm()
        table = Table("id", "kind", "name", "region", "time zone", "hours", "closed")
        for p in crm.parties.list(by=acting(crm)):
            hours = ", ".join(f"{d} {w}" for d, w in (p.hours or {}).items()) or "mon-fri 08:00-17:00"
            table.add_row(str(p.id), p.kind, escape(p.name), p.region, p.time_zone, hours,
                          ", ".join(p.closed or ()) or "—")
        console.print(table)

    @parties.command("calendar")
    def calendar(
        party_id: int,
        time_zone: Annotated[Optional[str], typer.Option("--tz", help="IANA time zone, e.g. America/New_York")] = None,
        hours: Annotated[Optional[list[str]], typer.Option(
            help="opening hours, repeatable: mon-fri=08:00-17:00 (a weekday left out is closed)")] = None,
        region: Annotated[Optional[str], typer.Option(help="holiday region, e.g. DE-BY or US-NY")] = None,
        closed: Annotated[Optional[list[str]], typer.Option(help="a day closed besides holidays, repeatable: "
                                                             "2026-12-24")] = None,
    ) -> None:
        """Set a party's calendar; deadlines set from now on count in it.

        Example: dealercrm parties calendar 3 --tz America/New_York --hours mon-fri=09:00-18:00 --region US-NY
        """
        crm = open_crm()
        party = crm.parties.set_calendar(party_id, time_zone=time_zone, hours=parse_hours_options(hours or []),
                                         region=region, closed=closed or None, by=acting(crm))
        console.print(f"party {party.id} {escape(party.name)}: {party.time_zone}, "
                      f"{party.hours or 'mon-fri 08:00-17:00'}, holidays of {party.region}"
                      f"{', closed ' + ', '.join(party.closed) if party.closed else ''}")

    @parties.command("deactivate-actor")
    def deactivate_actor(
        actor_id: Annotated[int, an_id("actor")],
        handover_to: Annotated[Optional[int], an_id("actor", option=True, help="the successor: an active person of "
                                                    "the same party, who takes over the accounts")] = None,
    ) -> None:
        """Someone left: deactivate them and hand over every account they owned or held the only relationship
        with, in one audited operation (a hand-over task each: who takes over, whom to introduce).

        Example: dealercrm --as 7 parties deactivate-actor 12 --handover-to 15
        """
        crm = open_crm()
        done = crm.parties.deactivate(actor_id, handover_to=handover_to, by=acting(crm))
        heir = f", handed over to actor {done.successor_id}" if done.successor_id else ", nobody named to take over"
        console.print(f"actor {done.actor_id} {escape(done.name)} deactivated{heir}: "
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
