"""A working day at the dealer, the manufacturer and the technician's: "what is mine today?".

Lea at Elektro Schmidt starts her day with her own tasks and the cases on her party's desk;
a technician sees his company's follow-ups and nobody else's; a New York dealer's "today"
ends at midnight in New York, not in Berlin. The customer's file lists their cases, and
their timeline shows where each case went — read from the case's own history, never
written twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from case_world import build_world, copy_world
from sqlalchemy import func, select

from dealercrm import NotFound, ValidationError
from dealercrm.db.models import Interaction
from dealercrm.services.tasks import end_of_today
from dealercrm.settings import Settings

UTC = timezone.utc


@pytest.fixture
def world(crm):
    return build_world(crm)


def task(crm, title: str, due_at: datetime, **kw):
    return crm.tasks.create(title, due_at, by=crm.system, **kw)


def titles(tasks) -> list[str]:
    return [t.title for t in tasks]


def test_mine_is_what_is_assigned_to_me_or_to_my_partys_desk_and_a_technician_sees_only_his_own(world, clock):
    crm, now = world.crm, clock.now()
    task(crm, "call Erika back", now + timedelta(hours=1), assigned_actor_id=world.service.id)
    task(crm, "order the drum seal", now + timedelta(hours=2), assigned_party_id=world.dealer.id)  # the desk's
    task(crm, "review the price list", now + timedelta(hours=3), assigned_actor_id=world.manager.id)
    task(crm, "bring the spare part", now + timedelta(hours=4), assigned_actor_id=world.fitter.id)

    assert titles(crm.tasks.list(mine=True, by=world.service.id)) == ["call Erika back", "order the drum seal"]
    assert titles(crm.tasks.list(mine=True, by=world.manager.id)) == ["order the drum seal", "review the price list"]
    assert titles(crm.tasks.list(by=world.service.id)) == [  # the party's, without --mine
        "call Erika back", "order the drum seal", "review the price list"]
    assert titles(crm.tasks.list(by=world.fitter.id)) == ["bring the spare part"]
    assert titles(crm.tasks.list(mine=True, by=world.fitter.id)) == ["bring the spare part"]
    # a colleague's list, by name: one's own people only; another party's do not exist
    assert titles(crm.tasks.list(assigned_actor_id=world.manager.id, by=world.service.id)) == ["review the price list"]
    with pytest.raises(NotFound):
        crm.tasks.list(assigned_actor_id=world.fitter.id, by=world.service.id)
    with pytest.raises(ValidationError, match="no tasks of its own"):
        crm.tasks.list(mine=True, by=crm.system)


def test_today_and_overdue_are_the_viewers_own(world, clock):
    crm = world.crm
    s = crm.system
    hudson = crm.parties.add("dealer", "Hudson Appliances", region="US-NY", time_zone="America/New_York", by=s)
    ann = crm.parties.add_actor(hudson.id, "Ann", "service", by=s)
    clock.set(datetime(2026, 3, 9, 20, 0, tzinfo=UTC))  # Monday: 16:00 in New York (EDT), 21:00 in Berlin
    evening = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)  # 19:30 in New York, 00:30 on Tuesday in Berlin
    for party in (world.dealer, hudson):
        task(crm, f"late call for {party.name}", evening, assigned_party_id=party.id)
        task(crm, f"missed call for {party.name}", datetime(2026, 3, 9, 19, 0, tzinfo=UTC),
             assigned_party_id=party.id)

    assert titles(crm.tasks.list(due="today", by=ann.id)) == [
        "missed call for Hudson Appliances", "late call for Hudson Appliances"]  # still Monday in New York
    assert titles(crm.tasks.list(due="today", by=world.service.id)) == ["missed call for Elektro Schmidt"]
    assert titles(crm.tasks.list(due="overdue", by=ann.id)) == ["missed call for Hudson Appliances"]
    assert titles(crm.tasks.list(due_before=evening, by=world.service.id)) == ["missed call for Elektro Schmidt"]
    with pytest.raises(ValidationError, match="due"):
        crm.tasks.list(due="tomorrow", by=ann.id)
    with pytest.raises(ValidationError, match="timezone"):
        crm.tasks.list(due_before=datetime(2026, 3, 10), by=ann.id)


def test_a_day_with_a_clock_change_ends_at_its_own_midnight():
    berlin = __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    # the last Sunday of March has 23 hours in Berlin: it ends at 22:00 UTC, not 23:00
    assert end_of_today(datetime(2026, 3, 29, 1, 0, tzinfo=UTC), berlin) == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert end_of_today(datetime(2026, 10, 25, 1, 0, tzinfo=UTC), berlin) == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)


def test_a_snoozed_task_leaves_today_and_is_back_when_it_is_due(world, clock):
    crm = world.crm
    call = task(crm, "call Erika back", clock.now() + timedelta(hours=1), assigned_actor_id=world.service.id)
    crm.tasks.snooze(call.id, clock.now() + timedelta(days=1), by=world.service.id)
    assert crm.tasks.list(mine=True, due="today", by=world.service.id) == []
    clock.advance(days=1)
    assert titles(crm.tasks.list(mine=True, due="today", by=world.service.id)) == ["call Erika back"]
    crm.tasks.complete(call.id, by=world.service.id)
    assert crm.tasks.list(mine=True, by=world.service.id) == []
    assert titles(crm.tasks.list(mine=True, status="done", by=world.service.id)) == ["call Erika back"]


def test_on_my_desk_and_overdue_cases(world, clock):
    crm = world.crm
    at_dealer, at_maker = world.open_case("door leaks"), world.open_case("drum noise")
    world.to_manufacturer(at_maker.id)
    assert [c.id for c in crm.cases.list(held=True, by=world.service.id)] == [at_dealer.id]
    assert [c.id for c in crm.cases.list(held=True, by=world.warranty_desk.id)] == [at_maker.id]
    assert crm.cases.list(overdue=True, by=world.service.id) == []
    clock.advance(hours=5)  # the reported case had four working hours
    assert [c.id for c in crm.cases.list(overdue=True, by=world.service.id)] == [at_dealer.id]


def test_the_customers_file_lists_their_cases_and_the_timeline_shows_each_hand_off(world, clock):
    crm = world.crm
    case = world.open_case()
    clock.advance(minutes=5)
    crm.interactions.record(world.customer.id, "phone", "inbound", "Erika calls: washes badly", by=world.service.id)
    written = world.count(Interaction)
    clock.advance(minutes=5)
    world.to_manufacturer(case.id)
    clock.advance(days=3)
    crm.cases.tick()  # the manufacturer stayed silent: back to the dealer
    world.fire(case.id, "offer_replacement", world.service)  # the dealer keeps it: no hand-off
    world.fire(case.id, "deliver_replacement", world.service, new_serial="BR7-0002")

    view = crm.customers.view(world.customer.id, by=world.service.id)
    assert [c.id for c in view.cases] == [case.id]
    hand_offs = [e for e in crm.interactions.timeline(world.customer.id, by=world.service.id) if e.kind == "hand_off"]
    assert [(e.state, e.owner_kind) for e in hand_offs] == [  # newest first
        ("awaiting_confirmation", "customer"), ("dealer_decision", "dealer"),
        ("manufacturer_review", "manufacturer"), ("reported", "dealer")]
    assert hand_offs[2].owner_party_id == world.manufacturer.id and hand_offs[2].due_at is not None
    assert "Frist verstrichen" in hand_offs[1].summary and "Brioche Hausgeräte" in hand_offs[2].summary  # [dealercrm] language = "de"
    assert [e.kind for e in view.timeline] == ["hand_off"] * 3 + ["interaction", "hand_off"]
    # read from the history: not one interaction row more than the call (the notices queue theirs later)
    assert world.count(Interaction) == written


def test_the_timeline_pages_through_interactions_and_hand_offs_alike(world, clock):
    crm = world.crm
    for i in range(3):
        crm.interactions.record(world.customer.id, "phone", "inbound", f"call {i}", by=world.service.id)
        clock.advance(minutes=10)
        world.to_manufacturer(world.open_case(f"case {i}").id)
        clock.advance(minutes=10)
    whole = crm.interactions.timeline(world.customer.id, by=world.service.id)
    assert len(whole) == 9  # three calls, three openings, three hand-offs to the manufacturer
    pages = [crm.interactions.timeline(world.customer.id, limit=4, offset=o, by=world.service.id) for o in (0, 4, 8)]
    assert [e for page in pages for e in page] == whole
    assert [e.at for e in whole] == sorted((e.at for e in whole), reverse=True)


def test_only_the_owning_dealer_reads_the_timeline_with_its_hand_offs(world):
    from dealercrm import NotPermitted
    world.to_technician(world.open_case().id)
    for outsider, refused in ((world.fitter, NotPermitted), (world.other_dealer_service, NotFound)):
        with pytest.raises(refused):
            world.crm.interactions.timeline(world.customer.id, by=outsider.id)
    assert len(world.crm.interactions.timeline(world.customer.id, by=world.manager.id)) == 3


def test_the_history_holds_the_hand_offs_once(world):
    """Nothing is written for the timeline: the case events are the whole story."""
    crm = world.crm
    case = world.open_case()
    world.to_manufacturer(case.id)
    with crm.read(crm.system) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Interaction)) == 0
    assert len(crm.interactions.timeline(world.customer.id, by=crm.system)) == 2


def test_the_day_reads_the_same_on_sqlite_and_postgresql(any_crm, clock):
    """Hand-offs from the history, the desk's tasks, suspects and the notice's words, on both backends."""
    world = build_world(any_crm)
    crm = world.crm
    case = world.open_case()
    clock.advance(minutes=5)
    world.to_manufacturer(case.id)
    task(crm, "call Erika back", clock.now() - timedelta(minutes=1), assigned_actor_id=world.service.id)
    crm.customers.add("Musterfrau, Erika", email="erika.m@example.org", owner_party_id=world.dealer.id,
                      birthday="1970-05-01", by=crm.system)
    crm.customers.update(world.customer.id, birthday="1970-05-01", by=crm.system)

    kinds = [(e.kind, e.state) for e in crm.interactions.timeline(world.customer.id, by=world.service.id)]
    assert kinds == [("hand_off", "manufacturer_review"), ("hand_off", "reported")]
    assert titles(crm.tasks.list(mine=True, due="overdue", by=world.service.id)) == ["call Erika back"]
    [suspect] = crm.customers.duplicates(by=world.service.id)
    assert suspect.reasons == ("same birthday 1970-05-01", "names 100% alike")
    crm.outbox.queue_notices()
    [told] = crm.outbox.of_customer(world.customer.id, by=crm.system)
    assert told.subject == f"Ihr Fall {case.id}: jetzt beim Hersteller Brioche Hausgeräte, Antwort bis 04.03.2026"


def test_an_english_speaking_dealer_reads_its_hand_offs_in_english(tmp_path, clock):
    world = copy_world(tmp_path, clock, settings=Settings(language="en"))
    try:
        case = world.open_case()
        world.fire(case.id, "start_diagnosis", world.service)
        world.fire(case.id, "forward_to_manufacturer", world.service)
        lines = [e.summary for e in world.crm.interactions.timeline(world.customer.id, by=world.service.id)
                 if e.kind == "hand_off"]
        assert lines[-1] == f"case {case.id} opened: with Elektro Schmidt (dealer), reported"
        assert lines[0].startswith(f"case {case.id}: forward_to_manufacturer -> with Brioche Hausgeräte (manufacturer)")
    finally:
        world.crm.close()
