"""Service levels (issue #13, item 2): deadlines that depend on the case.

Erika's washing machine case runs on the workflow's own deadlines. With a premium service
contract — on the machine, or on Erika herself — the manufacturer has one working day
instead of two; an urgent case gets a dealer within the hour; a refrigerator, whose food
spoils, is "essential". The level is decided when the case opens and written on it with
the reason; when the priority or a contract changes, the open cases are put on the level
that now applies, going forward: the current deadline becomes the earlier of the one it
had and the new level's counted from the change, and every later state gets the new
level's deadlines.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from case_world import build_world, copy_world
from sqlalchemy import select

from dealercrm import CaseLevelChanged, Conflict, NotFound, NotPermitted, ValidationError
from dealercrm.db.models import AuditRecord
from dealercrm.settings import CaseSettings, Settings
from dealercrm.services.case_rules import calendar_for

UTC = timezone.utc
HOUR = timedelta(hours=1)
BERLIN = calendar_for("DE")  # the world's parties work 08:00-17:00 in Berlin


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def case_of(world, case_id):
    return world.crm.cases.get(case_id, by=world.crm.system)


def history(world, case_id):
    return world.crm.cases.history(case_id, by=world.crm.system)


def audit_of(world, case_id, operation):
    with world.crm.read(world.crm.system) as uow:
        return list(uow.session.scalars(select(AuditRecord).where(
            AuditRecord.entity == "service_case", AuditRecord.entity_id == case_id,
            AuditRecord.operation == operation)))


# -- decided when the case opens -------------------------------------------------------------------

def test_a_case_without_priority_contract_or_special_product_runs_on_the_workflows_own_deadlines(world, clock):
    case = world.open_case()
    assert (case.priority, case.service_level) == ("normal", "standard")
    assert case.due_at == BERLIN.add(clock.now(), 4 * HOUR)
    [opened] = history(world, case.id)
    assert opened.data["service_level"] == "standard" and opened.data["because"] == "no service level applies"


def test_a_premium_contract_on_the_machine_gives_the_manufacturer_one_working_day(world, clock):
    world.crm.assets.set_contract(world.machine.id, "premium", by=world.service.id)
    case = world.open_case()
    assert case.service_level == "premium"
    assert case.due_at == BERLIN.add(clock.now(), 2 * HOUR)  # the premium dealer looks within two hours
    [opened] = history(world, case.id)
    assert (opened.data["service_level"], opened.data["because"]) == ("premium", "contract 'premium'")
    # the level is on record from the first audit row on
    [inserted] = audit_of(world, case.id, "cases.open")
    assert inserted.changes["service_level"] == [None, "premium"]
    clock.advance(hours=1)
    world.to_manufacturer(case.id)
    assert case_of(world, case.id).due_at == BERLIN.add(clock.now(), 9 * HOUR)  # one working day, not two


def test_a_premium_contract_of_the_customer_covers_every_unit_she_owns(world):
    world.crm.customers.update(world.customer.id, service_contract="premium", by=world.service.id)
    assert world.crm.customers.get(world.customer.id, by=world.service.id).service_contract == "premium"
    assert world.open_case().service_level == "premium"
    assert world.open_case("the dryer too", asset=False).service_level == "premium"


def test_the_first_level_that_applies_wins_urgent_before_premium(world):
    world.crm.customers.update(world.customer.id, service_contract="premium", by=world.service.id)
    case = world.crm.cases.open(world.customer.id, "water on the floor", asset_id=world.machine.id,
                                priority="urgent", by=world.service.id)
    assert (case.priority, case.service_level) == ("urgent", "urgent")
    assert history(world, case.id)[0].data["because"] == "priority 'urgent'"


def test_a_refrigerator_is_essential_by_its_product_category(world):
    fridge = world.crm.products.add("BR-KS-3", "Brioche Frigo 300", category="Refrigerator",
                                    manufacturer_party_id=world.manufacturer.id, by=world.crm.system)
    unit = world.crm.assets.record(world.customer.id, fridge.id, serial_number="KS3-1", by=world.crm.system)
    case = world.crm.cases.open(world.customer.id, "does not cool", asset_id=unit.id, by=world.service.id)
    assert case.service_level == "essential"
    assert history(world, case.id)[0].data["because"] == "product category 'Refrigerator'"


def test_a_contract_no_level_names_is_refused_naming_the_contracts_there_are(world):
    with pytest.raises(ValidationError) as err:
        world.crm.customers.update(world.customer.id, service_contract="premum", by=world.service.id)
    assert err.value.field == "service_contract"
    assert "no service level names this contract; contracts: premium" in str(err.value)
    with pytest.raises(ValidationError, match="contracts: premium"):
        world.crm.assets.set_contract(world.machine.id, "gold", by=world.service.id)
    with pytest.raises(ValidationError, match="contracts: premium"):
        world.crm.assets.record(world.customer.id, world.product_id, service_contract="gold", by=world.crm.system)
    assert world.crm.customers.get(world.customer.id, by=world.service.id).service_contract is None
    assert world.crm.assets.get(world.machine.id, by=world.service.id).service_contract is None


def test_an_unknown_priority_is_refused_naming_the_priorities(world):
    with pytest.raises(ValidationError, match="must be one of low, normal, high, urgent"):
        world.crm.cases.open(world.customer.id, "hmm", priority="asap", by=world.service.id)


# -- changed while the case is open: going forward ------------------------------------------------

def test_an_urgent_case_at_a_slow_manufacturer_gets_a_tighter_deadline_from_the_change_on(world, clock):
    case = world.open_case()
    world.to_manufacturer(case.id)  # Monday 10:00 Berlin: two working days, until Wednesday 10:00
    before = case_of(world, case.id)
    assert before.due_at == datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
    clock.advance(hours=3)  # 13:00: the customer calls, the flat is under water
    changed = world.crm.cases.set_priority(case.id, "urgent", note="water on the floor", by=world.service.id)
    assert (changed.priority, changed.service_level, changed.version) == ("urgent", "urgent", before.version + 1)
    # the urgent level gives the manufacturer one working day, counted from now: Tuesday 13:00
    assert changed.due_at == BERLIN.add(clock.now(), 9 * HOUR) == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    level = history(world, case.id)[-1]
    assert (level.kind, level.to_state, level.due_at, level.note) == ("level", "manufacturer_review",
                                                                       changed.due_at, "water on the floor")
    assert level.data == {"level": "urgent", "was": "standard", "priority": "urgent", "because": "priority 'urgent'"}
    [audited] = audit_of(world, case.id, "cases.set_priority")
    assert audited.actor_id == world.service.id
    assert audited.changes["service_level"] == ["standard", "urgent"]
    assert audited.changes["due_at"] == [before.due_at.isoformat(), changed.due_at.isoformat()]
    [event] = world.log.of(CaseLevelChanged, case.id)
    assert (event.level, event.previous_level, event.due_at) == ("urgent", "standard", changed.due_at)
    # later states get the urgent level's deadlines: the dealer decides within four working hours
    clock.set(changed.due_at)
    world.crm.cases.tick()
    assert case_of(world, case.id).due_at == BERLIN.add(clock.now(), 4 * HOUR)


def test_an_upgrade_never_gives_less_than_the_new_full_deadline_nor_more_than_the_old(world, clock):
    case = world.open_case()
    world.to_manufacturer(case.id)  # due Wednesday 10:00 Berlin
    clock.set(datetime(2026, 3, 3, 16, 0, tzinfo=UTC))  # Tuesday 17:00: one working hour left
    changed = world.crm.cases.set_priority(case.id, "urgent", by=world.service.id)
    assert changed.due_at == datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # the old deadline was the earlier


def test_a_downgrade_never_moves_a_deadline_the_customer_was_given_later(world, clock):
    case = world.crm.cases.open(world.customer.id, "water on the floor", asset_id=world.machine.id,
                                priority="urgent", by=world.service.id)
    assert case.due_at == clock.now() + HOUR
    changed = world.crm.cases.set_priority(case.id, "normal", by=world.service.id)
    assert (changed.service_level, changed.due_at) == ("standard", case.due_at)
    world.fire(case.id, "start_diagnosis", world.service)  # from now on the workflow's own: nine hours
    assert case_of(world, case.id).due_at == BERLIN.add(clock.now(), 9 * HOUR)


def test_a_changed_priority_on_the_same_level_is_recorded_and_changes_no_deadline(world):
    case = world.open_case()
    changed = world.crm.cases.set_priority(case.id, "high", by=world.service.id)
    assert (changed.priority, changed.service_level, changed.due_at) == ("high", "standard", case.due_at)
    assert history(world, case.id)[-1].data["priority"] == "high"
    assert world.crm.cases.set_priority(case.id, "high", by=world.service.id).version == changed.version


def test_time_left_while_waiting_on_the_customer_is_capped_by_the_new_level(world, clock):
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)  # nine working hours
    clock.advance(hours=1)
    world.fire(case.id, "ask_customer", world.service, question="a photo of the drum, please")
    assert case_of(world, case.id).paused_remaining_s == 8 * 3600
    world.crm.cases.set_priority(case.id, "urgent", by=world.service.id)  # urgent diagnosis: four hours
    assert case_of(world, case.id).paused_remaining_s == 4 * 3600
    clock.advance(hours=2)
    world.fire(case.id, "customer_replied", world.service)
    assert case_of(world, case.id).due_at == BERLIN.add(clock.now(), 4 * HOUR)


def test_a_contract_puts_the_open_cases_on_its_level_and_leaves_the_closed_ones(world, clock):
    done = world.open_case("door seal")
    world.fire(done.id, "start_diagnosis", world.service)
    world.fire(done.id, "solve_by_advice", world.service)
    world.fire(done.id, "confirm", world.service)
    open_ = world.open_case()
    world.to_manufacturer(open_.id)
    clock.advance(hours=2)
    world.crm.assets.set_contract(world.machine.id, "premium", by=world.service.id)
    assert case_of(world, open_.id).service_level == "premium"
    assert case_of(world, open_.id).due_at == BERLIN.add(clock.now(), 9 * HOUR)
    assert history(world, open_.id)[-1].data["because"] == "contract 'premium'"
    assert case_of(world, done.id).service_level == "standard"
    assert [e.kind for e in history(world, done.id)][-1] == "transition"
    # the contract ends: back on the workflow's own deadlines, the current one kept
    due = case_of(world, open_.id).due_at
    world.crm.assets.set_contract(world.machine.id, None, by=world.service.id)
    assert (case_of(world, open_.id).service_level, case_of(world, open_.id).due_at) == ("standard", due)


def test_a_customer_contract_changed_re_levels_her_cases_in_the_same_transaction(world):
    case = world.open_case()
    world.crm.customers.update(world.customer.id, service_contract="premium", by=world.service.id)
    assert case_of(world, case.id).service_level == "premium"
    [audited] = audit_of(world, case.id, "customers.update")
    assert audited.changes["service_level"] == ["standard", "premium"]


def test_a_level_change_is_no_hand_off_and_tells_the_customer_nothing_extra(world, clock):
    case = world.open_case()
    world.to_manufacturer(case.id)
    world.crm.outbox.dispatch()
    told = len(world.crm.outbox.of_customer(world.customer.id, by=world.crm.system))
    world.crm.cases.set_priority(case.id, "urgent", by=world.service.id)
    world.crm.outbox.dispatch()
    assert len(world.crm.outbox.of_customer(world.customer.id, by=world.crm.system)) == told
    clock.set(case_of(world, case.id).due_at)
    world.crm.cases.tick()  # the silent manufacturer: back to the dealer, one hand-off, one notice
    assert len(world.crm.outbox.of_customer(world.customer.id, by=world.crm.system)) == told + 1


# -- who may ---------------------------------------------------------------------------------------

def test_only_the_cases_dealer_decides_how_urgent_it_is(world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    with pytest.raises(NotPermitted, match="that is for the case's dealer"):
        world.crm.cases.set_priority(case.id, "urgent", by=world.warranty_desk.id)
    with pytest.raises(NotFound):
        world.crm.cases.set_priority(case.id, "urgent", by=world.other_dealer_service.id)
    with pytest.raises(Conflict, match="no longer current"):
        world.crm.cases.set_priority(case.id, "urgent", expected_version=1, by=world.service.id)
    with pytest.raises(ValidationError, match="must be one of low, normal, high, urgent"):
        world.crm.cases.set_priority(case.id, "now!", by=world.service.id)
    assert case_of(world, case.id).priority == "normal"


def test_a_closed_case_keeps_its_priority(world):
    case = world.open_case()
    world.fire(case.id, "withdraw", world.service, reason="the customer fixed it herself")
    with pytest.raises(ValidationError, match="is closed"):
        world.crm.cases.set_priority(case.id, "urgent", by=world.service.id)


def test_only_the_owning_dealer_gives_a_unit_a_contract(world):
    with pytest.raises(NotFound):
        world.crm.assets.set_contract(world.machine.id, "premium", by=world.other_dealer_service.id)


# -- from the settings ------------------------------------------------------------------------------

def test_the_installation_sets_its_own_premium_deadlines(tmp_path, clock):
    settings = Settings(cases=CaseSettings(service_levels={"service_case": {
        "premium": {"deadlines": {"manufacturer_review": "4h"}},
        "fleet": {"contracts": ["fleet"], "deadlines": {"reported": "30m"}}}}))
    world = copy_world(tmp_path, clock, settings=settings)
    try:
        world.crm.assets.set_contract(world.machine.id, "premium", by=world.service.id)
        case = world.open_case()
        world.to_manufacturer(case.id)
        assert case_of(world, case.id).due_at == BERLIN.add(clock.now(), 4 * HOUR)
        world.crm.customers.update(world.customer.id, service_contract="fleet", by=world.service.id)
        assert world.open_case("another", asset=False).due_at == clock.now() + timedelta(minutes=30)
    finally:
        world.crm.close()


def test_levels_and_the_promise_on_sqlite_and_postgresql(any_crm, clock):
    w = build_world(any_crm)
    case = w.open_case()
    w.to_manufacturer(case.id)
    other = w.open_case("the other one")
    any_crm.customers.update(w.customer.id, service_contract="premium", by=w.service.id)  # both, locked, re-levelled
    assert {c.service_level for c in (case_of(w, case.id), case_of(w, other.id))} == {"premium"}
    changed = any_crm.cases.set_priority(case.id, "urgent", by=w.service.id)
    assert changed.service_level == "urgent"
    promised = any_crm.cases.promise(case.id, by=w.service.id)
    clock.set(changed.due_at)
    any_crm.cases.tick()
    clock.set(case_of(w, case.id).due_at)
    w.fire(case.id, "refund", w.manager)
    assert case_of(w, case.id).closed_at == promised.resolved_by


def test_an_import_brings_the_customers_contracts_and_refuses_unknown_ones_by_line(world):
    report = world.crm.imports.run_text("external_id,name,service_contract\nK-1,Lena Vogt,premium\n"
                                        "K-2,Jan Kurz,\nK-3,Tom Gold,gold\n", by=world.crm.system)
    assert report.imported == 2
    [refused] = report.rejections
    assert refused["line"] == 4 and refused["field"] == "service_contract" and "contracts: premium" in refused["reason"]
    [lena] = world.crm.customers.list("Lena", by=world.crm.system)
    assert lena.service_contract == "premium"


def test_a_replacement_unit_keeps_the_service_contract_of_the_unit_it_replaces(world):
    world.crm.assets.set_contract(world.machine.id, "premium", by=world.service.id)
    case = world.open_case()
    world.to_manufacturer(case.id)
    world.fire(case.id, "approve_replacement", world.warranty_desk)
    world.fire(case.id, "deliver_replacement", world.service, new_serial="BR7-0002")
    new = world.crm.assets.get(case_of(world, case.id).replacement_asset_id, by=world.service.id)
    assert (new.replaces_asset_id, new.service_contract) == (world.machine.id, "premium")


def test_a_merge_puts_the_duplicates_open_case_on_the_kept_customers_contract(world):
    """Erika has a premium contract; her duplicate "Erika M." (same phone, no contract) had
    opened a case of her own. Merged, that case is Erika's and runs on premium."""
    crm = world.crm
    crm.customers.update(world.customer.id, service_contract="premium", by=world.service.id)
    duplicate = crm.customers.add("Erika M.", owner_party_id=world.dealer.id, by=crm.system)
    theirs = crm.cases.open(duplicate.id, "the dryer squeaks", by=world.service.id)
    assert case_of(world, theirs.id).service_level == "standard"
    crm.customers.merge(world.customer.id, duplicate.id, by=world.manager.id)
    assert case_of(world, theirs.id).service_level == "premium"
    assert history(world, theirs.id)[-1].data["because"] == "contract 'premium'"
    [audited] = audit_of(world, theirs.id, "customers.merge")
    assert audited.changes["service_level"] == ["standard", "premium"]


def test_a_contract_taken_over_from_the_duplicate_covers_the_kept_customers_cases(world):
    crm = world.crm
    mine = world.open_case()
    duplicate = crm.customers.add("Erika M.", owner_party_id=world.dealer.id, by=crm.system)
    crm.customers.update(duplicate.id, service_contract="premium", by=world.service.id)
    crm.customers.merge(world.customer.id, duplicate.id, by=world.manager.id)
    assert crm.customers.get(world.customer.id, by=world.service.id).service_contract == "premium"
    assert case_of(world, mine.id).service_level == "premium"
