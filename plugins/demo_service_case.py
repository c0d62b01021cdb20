"""Demo: the washing-machine run-around of seed 002, played the dealercrm way.

Delivered on Tuesday, washes badly on Wednesday. The dealer opens a case and forwards
it to the manufacturer — who stays silent, as in the story. This time the deadline
passes, the case escalates back to the dealer instead of waiting forever, the dealer
swaps the machine and the customer confirms. Around it, a few dozen other cases in
every state give the per-party report something to say.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from dealercrm import DealerCrmError, ManualClock, hookimpl

STORY_START = datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)  # the Tuesday of the delivery


def _party(crm, kind: str, name: str):
    found = [p for p in crm.parties.list(kind=kind, by=crm.system) if p.name == name]
    return found[0] if found else crm.parties.add(kind, name, by=crm.system)


def _actor(crm, party, name: str, role: str):
    found = [a for a in crm.parties.actors(party.id, by=crm.system) if a.name == name]
    return found[0] if found else crm.parties.add_actor(party.id, name, role, by=crm.system)


@hookimpl(trylast=True)
def dealercrm_seed_demo(crm, rng: random.Random) -> list:
    real_clock, clock = crm.clock, ManualClock(STORY_START)
    crm.clock = clock
    try:
        return _play(crm, rng, clock)
    finally:
        crm.clock = real_clock


def _play(crm, rng: random.Random, clock: ManualClock) -> list:
    from dealercrm.cli.cases import case_timeline_table, party_report_table

    dealer = _party(crm, "dealer", "Elektro Schmidt")
    maker = _party(crm, "manufacturer", "Brioche Hausgeräte")
    tech = _party(crm, "technician", "Technik-Service Nord")
    jens = _actor(crm, dealer, "Jens Schmidt", "owner")
    lea = _actor(crm, dealer, "Lea Yilmaz", "service")
    agent = _actor(crm, maker, "Brioche Kundendienst", "service")
    fitter = _actor(crm, tech, "Kai Monteur", "technician")
    washer = next((p for p in crm.products.list(by=crm.system) if p.sku == "WM-BRI-8"), None) or crm.products.add(
        "WM-BRI-8", "Brioche WashPro 8kg washing machine", category="appliance", manufacturer_party_id=maker.id, by=crm.system)

    buyer = crm.customers.add("Familie Hoffmann", email="hoffmann.familie@example.org", phone="+49 40 5550123",
                              owner_party_id=dealer.id, account_owner_id=jens.id, by=jens.id)
    crm.consents.grant(buyer.id, "email", "service", source="online order", by=jens.id)
    machine = crm.assets.record(buyer.id, washer.id, serial_number="BRI8-2026-000417", purchased_on="2026-03-02",
                                handed_over_on="2026-03-03", by=jens.id)
    clock.advance(days=1, hours=2)  # Wednesday: the first washes are unacceptable
    case = crm.cases.open(buyer.id, "washes badly from day one: laundry comes out grey and smelly",
                          asset_id=machine.id, by=lea.id)
    crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    clock.advance(hours=2)
    crm.cases.fire(case.id, "forward_to_manufacturer", by=lea.id, note="programme and dosage checked: not a user error")
    clock.advance(days=4)  # the manufacturer's hotline keeps the customer on hold; nobody decides
    escalated = crm.cases.tick()
    clock.advance(hours=1)
    crm.cases.fire(case.id, "offer_replacement", by=jens.id, note="we swap it; Brioche can sort it out with us")
    clock.advance(days=1)
    crm.cases.fire(case.id, "deliver_replacement", by=jens.id, data={"new_serial": "BRI8-2026-000988"})
    clock.advance(days=2)
    crm.cases.fire(case.id, "confirm", by=jens.id, note="customer called: washes perfectly")
    others = _background(crm, rng, clock, dealer, maker, tech, jens, lea, agent, fitter, washer)
    return [f"service cases: the washing-machine story is case {case.id} "
            f"({escalated.fired} deadline escalation(s) in the story), plus {others} more cases in every state",
            case_timeline_table(crm, case.id), party_report_table(crm)]


def _background(crm, rng, clock, dealer, maker, tech, jens, lea, agent, fitter, washer) -> int:
    """More cases, moved along plausible paths, so the report has a shape."""
    customers = [c for c in crm.customers.list(limit=400, by=crm.system) if c.owner_party_id == dealer.id][:40]
    paths = [
        [("start_diagnosis", lea, {}), ("solve_by_advice", lea, {}), ("confirm", lea, {})],
        [("start_diagnosis", lea, {}), ("forward_to_manufacturer", lea, {}),
         ("approve_visit", agent, {"technician_party_id": tech.id}),
         ("schedule_visit", fitter, {"visit_at": "+1"}), ("report_fixed", fitter, {}), ("confirm", lea, {})],
        [("start_diagnosis", lea, {}), ("forward_to_manufacturer", lea, {}),
         ("reject", agent, {"reason": "damage by a foreign object"}), ("repair_at_dealer", jens, {})],
        [("start_diagnosis", lea, {}), ("forward_to_manufacturer", lea, {})],
        [("start_diagnosis", lea, {}), ("ask_customer", lea, {"question": "a photo of the error code?"})],
    ]
    opened = 0
    for customer in customers:
        clock.advance(hours=rng.randint(3, 30))
        asset = crm.assets.record(customer.id, washer.id, serial_number=f"BRI8-{rng.randint(100000, 999999)}",
                                  purchased_on=(clock.now() - timedelta(days=40)).date(), by=jens.id)
        case = crm.cases.open(customer.id, rng.choice(["drum noise", "does not drain", "error E21", "door leaks"]),
                              asset_id=asset.id, by=lea.id)
        opened += 1
        for trigger, actor, data in rng.choice(paths):
            clock.advance(hours=rng.randint(1, 20))
            if data.get("visit_at") == "+1":
                data = {"visit_at": (clock.now() + timedelta(hours=6)).isoformat()}
            try:
                crm.cases.fire(case.id, trigger, by=actor.id, data=data)
            except DealerCrmError:
                break  # a deadline passed first: the tick below takes it from here
        if rng.random() < 0.3:
            crm.cases.tick()
    clock.advance(days=2)
    crm.cases.tick()
    return opened
