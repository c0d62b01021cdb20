"""``dealercrm portal …``: the operator's way into the portal, and the demo's case to play.

``dealercrm portal links`` prints a one-time sign-in link for every active person (of one
party with ``--party``), made as the system; ``dealercrm portal password ACTOR`` sets a
password; ``dealercrm portal status-link CASE`` prints the customer's link to a case.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Optional

import typer

from .security import PATH


def register(cli: typer.Typer) -> None:
    from dealercrm.cli.common import acting, console, open_crm
    from dealercrm.cli.output import examples

    portal = typer.Typer(help="The web portal: sign-in links, passwords, customers' status links.",
                         no_args_is_help=True)
    cli.add_typer(portal, name="portal")

    @portal.command("links", epilog=examples("dealercrm portal links",
                                             "dealercrm portal links --party 'Elektro Schmidt' --minutes 15",
                                             "dealercrm portal links --base-url https://crm.autohaus.example"))
    def links(party: Annotated[Optional[str], typer.Option(
                  metavar="PARTY", help="only this party (id or exact name)")] = None,
              minutes: Annotated[int, typer.Option(min=1, max=24 * 60, metavar="N",
                                                   help="how long each link works, in minutes")] = 60,
              base_url: Annotated[Optional[str], typer.Option(
                  metavar="URL", help="instead of [plugins.portal] public_url")] = None,
              ) -> None:
        """Print a one-time sign-in link for each active person (open one in a browser)."""
        from . import settings

        crm = open_crm()
        base = (base_url or settings(crm).public_url).rstrip("/")
        parties = {p.id: p for p in crm.parties.list(by=crm.system)}
        chosen = None
        if party is not None:
            chosen = int(party) if party.isdigit() else crm.parties.by_name(party, by=crm.system).id
        shown = 0
        for actor in crm.parties.actors(by=crm.system, active=True):
            if actor.is_system or actor.party_id is None or (chosen is not None and actor.party_id != chosen):
                continue
            token = crm.sign_in.issue_link(actor.id, by=acting(crm), lifetime=timedelta(minutes=minutes))
            owner = parties[actor.party_id]
            console.print(f"{actor.name} ({owner.name}, {owner.kind}, {actor.role}): {base}{PATH}/sign-in/link/{token}",
                          highlight=False, soft_wrap=True)
            shown += 1
        console.print(f"{shown} one-time link(s), each valid for {minutes} minutes; serve with `dealercrm serve`.",
                      highlight=False)

    @portal.command("password", epilog=examples("dealercrm --as 'Petra Schmidt' portal password 5"))
    def password(actor: Annotated[int, typer.Argument(metavar="ACTOR_ID", help="the person's actor id")]) -> None:
        """Set a person's password (asked for twice, never echoed)."""
        crm = open_crm()
        secret = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        crm.sign_in.set_password(actor, secret, by=acting(crm))
        console.print(f"password set for actor {actor}; their other sessions ended")

    @portal.command("status-link", epilog=examples("dealercrm portal status-link 4",
                                                   "dealercrm portal status-link 4 --base-url https://crm.example"))
    def status_link(case: Annotated[int, typer.Argument(metavar="CASE_ID", help="the case's id")],
                    base_url: Annotated[Optional[str], typer.Option(
                        metavar="URL", help="instead of [plugins.portal] public_url")] = None,
                    ) -> None:
        """Print the customer's status link to a case (the one the notices carry)."""
        from . import settings

        crm = open_crm()
        chosen = settings(crm)
        token = crm.case_links.issue(case, by=acting(crm), lifetime=chosen.status_link)
        typer.echo(f"{(base_url or chosen.public_url).rstrip('/')}{PATH}/status/{token}")


def seed_demo(crm) -> list[str]:
    """A washing-machine case that has just reached the dealer's diagnosis, on the real clock:
    the story to play in the browser, party by party."""
    dealers = [p for p in crm.parties.list(kind="dealer", by=crm.system) if p.name == "Elektro Schmidt"]
    if not dealers:
        return []
    dealer = dealers[0]
    staff = {a.name: a for a in crm.parties.actors(dealer.id, by=crm.system)}
    lea = staff.get("Lea Yilmaz")
    customers = crm.customers.list(owner_party_id=dealer.id, search="Hoffmann", by=crm.system)
    washers = [p for p in crm.products.list(by=crm.system) if p.sku == "WM-BRI-8"]
    if lea is None or not customers or not washers:
        return []
    buyer = customers[0]
    machine = crm.assets.record(buyer.id, washers[0].id, serial_number="BRI8-2026-001234",
                                purchased_on=crm.clock.now().date(), by=lea.id)
    case = crm.cases.open(buyer.id, "the new machine washes badly too: grey laundry after every wash",
                          asset_id=machine.id, by=lea.id)
    crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    return [f"portal: case {case.id} waits in Lea Yilmaz's diagnosis, on today's clock. Play it in the browser: "
            "`dealercrm portal links`, then `dealercrm serve`, and open Lea's link (dealer), then Brioche "
            "Kundendienst's (manufacturer), then Kai Monteur's (technician); "
            f"`dealercrm portal status-link {case.id}` is the customer's page."]
