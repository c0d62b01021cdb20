"""The core of the ways in without an API key: passwords, one-time links and sessions for
people (``crm.sign_in``), the customer's signed link to their case (``crm.case_links``),
and the two small operations the portal's "my day" and queue need (``tasks.snooze``,
``cases.held``) — each deciding access itself, as every service does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from case_world import build_world, copy_world

from dealercrm import NotFound, NotPermitted, ValidationError, connect
from dealercrm.access import NotAuthenticated
from dealercrm.db.models import Actor, AuditRecord
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.services.case_links import LinkExpired, LinkRevoked
from dealercrm.settings import Settings

SECRET = "twelve chars and more"


@pytest.fixture
def world(tmp_path, clock):
    w = copy_world(tmp_path, clock)
    with w.crm.engine.begin() as conn:
        conn.execute(update(Actor).where(Actor.id == w.service.id).values(email="jonas@schmidt.example"))
        conn.execute(update(Actor).where(Actor.id == w.fitter.id).values(email="ole@nord.example"))
    yield w
    w.crm.close()


# -- passwords ---------------------------------------------------------------------------------------


def test_a_password_is_set_by_the_partys_owner_or_manager_or_the_operator_only(world):
    crm = world.crm
    for allowed in (world.manager.id, world.owner.id, crm.system):
        crm.sign_in.set_password(world.service.id, SECRET, by=allowed)
    with pytest.raises(NotPermitted):  # a colleague who manages nobody
        crm.sign_in.set_password(world.manager.id, SECRET, by=world.service.id)
    for stranger in (world.other_dealer_service.id, world.warranty_desk.id):
        with pytest.raises(NotFound):  # another party's people: not there for them (managed_person)
            crm.sign_in.set_password(world.manager.id, SECRET, by=stranger)
    with pytest.raises(ValidationError, match="at least 12"):
        crm.sign_in.set_password(world.service.id, "short", by=world.manager.id)
    with pytest.raises(ValidationError, match="system actor"):
        crm.sign_in.set_password(crm.system, SECRET, by=crm.system)


def test_signing_in_with_a_password_gives_one_answer_for_every_failure(world):
    crm = world.crm
    crm.sign_in.set_password(world.service.id, SECRET, by=world.manager.id)
    assert crm.sign_in.with_password(" Jonas@Schmidt.example ", SECRET).actor_id == world.service.id
    said = set()
    for email, password in (("jonas@schmidt.example", "wrong"), ("nobody@x.example", SECRET),
                            ("ole@nord.example", SECRET), ("", "")):
        with pytest.raises(NotAuthenticated) as info:
            crm.sign_in.with_password(email, password)
        said.add(str(info.value))
    assert len(said) == 1
    crm.parties.set_actor_active(world.service.id, False, by=world.manager.id)
    with pytest.raises(NotAuthenticated):
        crm.sign_in.with_password("jonas@schmidt.example", SECRET)


def test_the_password_is_kept_as_an_argon2_hash_and_the_audit_says_only_that_it_was_set(world):
    crm = world.crm
    crm.sign_in.set_password(world.service.id, SECRET, by=world.manager.id)
    with crm.read(crm.system) as uow:
        rows = list(uow.session.scalars(select(AuditRecord).where(AuditRecord.entity == "actor_password")))
    assert rows[-1].actor_id == world.manager.id and rows[-1].changes["password"] == [None, "(set)"]
    assert SECRET not in str(rows[-1].changes) and "argon2" not in str(rows[-1].changes)


# -- links and sessions -------------------------------------------------------------------------------


def test_a_one_time_link_signs_its_person_in_once_and_not_after_it_expired(world, clock):
    crm = world.crm
    with pytest.raises(NotPermitted):
        crm.sign_in.issue_link(world.manager.id, by=world.service.id)  # a clerk hands out no links
    token = crm.sign_in.issue_link(world.service.id, by=world.manager.id)
    signed = crm.sign_in.redeem_link(token)
    assert crm.sign_in.session(signed.token).actor_id == world.service.id
    with pytest.raises(NotAuthenticated, match="already used"):
        crm.sign_in.redeem_link(token)
    late = crm.sign_in.issue_link(world.service.id, by=crm.system)
    clock.advance(minutes=16)
    with pytest.raises(NotAuthenticated):
        crm.sign_in.redeem_link(late)


def test_a_link_by_e_mail_goes_through_the_outbox_to_each_active_person_with_that_address(world):
    crm = world.crm
    sent = crm.sign_in.send_link("JONAS@schmidt.example", url="https://crm.example/in/{token}", subject="in",
                                 body="go to {url}")
    assert sent == 1 and crm.sign_in.send_link("nobody@x.example", url="{token}", subject="s", body="{url}") == 0
    with crm.read(crm.system) as uow:
        message = uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert message.recipient == "jonas@schmidt.example" and message.status == "pending"
    token = message.body.removeprefix("go to https://crm.example/in/")
    assert crm.sign_in.redeem_link(token).actor_id == world.service.id


def test_a_session_ends_at_sign_out_on_deactivation_and_when_a_new_password_is_set(world, clock):
    crm = world.crm
    first = crm.sign_in.redeem_link(crm.sign_in.issue_link(world.service.id, by=crm.system))
    crm.sign_in.end_session(first.token)
    with pytest.raises(NotAuthenticated):
        crm.sign_in.session(first.token)
    second = crm.sign_in.redeem_link(crm.sign_in.issue_link(world.service.id, by=crm.system))
    crm.sign_in.set_password(world.service.id, SECRET, by=world.manager.id)
    with pytest.raises(NotAuthenticated):
        crm.sign_in.session(second.token)
    third = crm.sign_in.redeem_link(crm.sign_in.issue_link(world.service.id, by=crm.system))
    crm.parties.set_actor_active(world.service.id, False, by=world.manager.id)
    with pytest.raises(NotAuthenticated):
        crm.sign_in.session(third.token)
    crm.parties.set_actor_active(world.service.id, True, by=world.manager.id)
    assert crm.sign_in.session(third.token).actor_id == world.service.id  # back, until its time is up
    clock.advance(hours=1, minutes=59)
    crm.sign_in.session(third.token)  # used within the idle time: it lives on
    clock.advance(minutes=31)
    with pytest.raises(NotAuthenticated, match="expired"):
        crm.sign_in.session(third.token, idle=timedelta(minutes=30))


# -- the customer's links ------------------------------------------------------------------------------


def test_only_the_cases_dealer_hands_out_and_revokes_the_customers_link(world):
    crm = world.crm
    case = world.open_case()
    world.to_manufacturer(case.id)
    assert crm.case_links.issue(case.id, by=world.service.id)
    with pytest.raises(NotPermitted):
        crm.case_links.issue(case.id, by=world.warranty_desk.id)
    with pytest.raises(NotFound):
        crm.case_links.revoke(case.id, by=world.other_dealer_service.id)
    with pytest.raises(NotPermitted):
        crm.case_links.revoke(case.id, by=world.warranty_desk.id)
    token = crm.case_links.issue(case.id, by=crm.system)
    assert crm.case_links.revoke(case.id, by=world.service.id) == 1
    with pytest.raises(LinkRevoked):
        crm.case_links.status(token)


def test_a_link_expires_and_cannot_be_stretched(world, clock):
    crm = world.crm
    case = world.open_case()
    token = crm.case_links.issue(case.id, by=crm.system, lifetime=timedelta(days=1))
    assert crm.case_links.status(token).case_id == case.id
    link_id, expires, signature = token.split(".")
    with pytest.raises(NotAuthenticated):
        crm.case_links.status(f"{link_id}.{int(expires) + 7 * 86400}.{signature}")
    clock.advance(days=1, seconds=1)
    with pytest.raises(LinkExpired):
        crm.case_links.status(token)


def test_links_are_signed_with_the_configured_secret(world, tmp_path, clock):
    crm = world.crm
    case = world.open_case()
    token = crm.case_links.issue(case.id, by=crm.system)
    other = connect(str(crm.engine.url), clock=clock, settings=Settings(secret_key="k" * 40))
    try:
        with pytest.raises(NotAuthenticated):  # the same database, another secret: not ours
            other.case_links.status(token)
        assert other.case_links.status(other.case_links.issue(case.id, by=other.system)).case_id == case.id
    finally:
        other.close()


def test_the_customers_answers_are_only_their_triggers_while_the_case_waits_on_them(world):
    crm = world.crm
    case = world.open_case()
    world.to_technician(case.id)
    token = crm.case_links.issue(case.id, by=crm.system)
    assert crm.case_links.status(token).choices == []
    with pytest.raises(NotPermitted, match="nothing now"):
        crm.case_links.respond(token, "confirm")
    world.fire(case.id, "schedule_visit", world.fitter, visit_at=(crm.clock.now() + timedelta(hours=2)).isoformat())
    world.fire(case.id, "report_fixed", world.fitter)
    assert [c.trigger for c in crm.case_links.status(token).choices] == ["confirm", "still_broken"]
    with pytest.raises(NotPermitted):
        crm.case_links.respond(token, "auto_close")  # the clock's, not the customer's
    crm.case_links.respond(token, "confirm")
    with pytest.raises(NotPermitted):
        crm.case_links.answer_survey(crm.case_links.issue(world.open_case("open").id, by=crm.system), csat=5)
    crm.case_links.answer_survey(token, csat=4)
    with pytest.raises(Exception, match="already answered"):
        crm.case_links.answer_survey(token, nps=10)


def test_notices_carry_no_link_when_the_portal_is_blocked(tmp_path, clock):
    world = copy_world(tmp_path, clock, block=["portal"])
    try:
        case = world.open_case()
        world.to_manufacturer(case.id)
        assert world.crm.outbox.queue_notices().noticed > 0  # the hand-offs' notices, queued after their commit
        with world.crm.read(world.crm.system) as uow:
            bodies = [m.body for m in uow.session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case.id))]
        assert bodies and not any("/portal/" in b for b in bodies)
    finally:
        world.crm.close()


# -- snooze and time held --------------------------------------------------------------------------------


def test_a_task_is_snoozed_to_a_later_time_by_someone_who_sees_it(world, clock):
    crm, now = world.crm, clock.now()
    task = crm.tasks.create("call back", now, by=world.service.id)
    assert crm.tasks.snooze(task.id, now + timedelta(days=1), by=world.manager.id).due_at == now + timedelta(days=1)
    with pytest.raises(ValidationError, match="future"):
        crm.tasks.snooze(task.id, now - timedelta(hours=1), by=world.service.id)
    with pytest.raises(NotFound):
        crm.tasks.snooze(task.id, now + timedelta(days=2), by=world.other_dealer_service.id)
    crm.tasks.complete(task.id, by=world.service.id)
    with pytest.raises(ValidationError, match="only open"):
        crm.tasks.snooze(task.id, now + timedelta(days=2), by=world.service.id)


def test_who_held_a_case_for_how_long(world, clock):
    crm = world.crm
    case = world.open_case()
    clock.advance(hours=3)
    world.to_manufacturer(case.id)
    clock.advance(hours=5)
    held = crm.cases.held([case.id], by=world.service.id)[case.id]
    assert held == {world.dealer.id: timedelta(hours=3), world.manufacturer.id: timedelta(hours=5)}
    assert crm.cases.held([case.id], by=world.other_dealer_service.id) == {}


# -- both databases ------------------------------------------------------------------------------------------


def test_sign_in_and_the_customers_link_on_each_database(any_crm):
    world = build_world(any_crm, log=False)
    crm = any_crm
    crm.sign_in.set_password(world.service.id, SECRET, by=world.manager.id)
    with pytest.raises(NotAuthenticated):
        crm.sign_in.with_password("", SECRET)
    signed = crm.sign_in.redeem_link(crm.sign_in.issue_link(world.service.id, by=world.manager.id))
    assert crm.sign_in.session(signed.token).actor_id == world.service.id
    case = world.open_case()
    world.to_technician(case.id)
    world.fire(case.id, "schedule_visit", world.fitter, visit_at=(crm.clock.now() + timedelta(hours=2)).isoformat())
    world.fire(case.id, "report_fixed", world.fitter)
    token = crm.case_links.issue(case.id, by=world.service.id)
    crm.case_links.respond(token, "confirm")
    crm.case_links.answer_survey(token, csat=5, nps=10)
    crm.customers.erase(world.customer.id, by=world.manager.id)
    with pytest.raises(LinkRevoked):
        crm.case_links.status(token)


def test_the_customer_fires_only_in_states_they_own_and_never_the_clocks_timeout():
    from dealercrm.access import customer_triggers
    from dealercrm.workflow.model import DeadlinePolicy, State, Transition, Workflow

    day = DeadlinePolicy(timedelta(days=1))
    wf = Workflow(name="w", initial="desk", description="", states=(
        State("desk", "dealer", day), State("waits", "customer", day, waits_on_customer=True),
        State("done", None, None, final=True)), transitions=(
        Transition("system_moves", "desk", "waits", frozenset({"system"})),
        Transition("answered", "waits", "desk", frozenset({"dealer", "system"})),
        Transition("dealer_only", "waits", "done", frozenset({"dealer"})),
        Transition("silence", "waits", "done", frozenset({"system"}), timeout=True)))
    assert customer_triggers(wf, "desk") == []  # the system may move it, but the customer does not hold it
    assert [t.trigger for t in customer_triggers(wf, "waits")] == ["answered"]
    assert customer_triggers(wf, "done") == []
