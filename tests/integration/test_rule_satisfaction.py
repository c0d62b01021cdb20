"""Stories 001 and 002: few companies measure satisfaction, and the customer who
switches felt poorly cared for. Erika's washing machine case closes; she is asked two
short questions about her own case, her answer lands on the case and her timeline, and
a low score puts the dealer on the phone to her."""

from __future__ import annotations

import pytest
from case_world import copy_world, with_mail
from sqlalchemy import select

from dealercrm import NotFound, SurveyAnswered, ValidationError, connect
from dealercrm.db.models import Task
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.db.rule_models import RuleFiring
from dealercrm.settings import Settings

RULE = "rule_satisfaction"


@pytest.fixture
def world(tmp_path, clock):
    world = copy_world(tmp_path, clock)
    yield world
    world.crm.close()


def solved(world) -> int:
    """Erika's case, solved by advice and confirmed: closed."""
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    world.fire(case.id, "solve_by_advice", world.service, note="detergent drawer was blocked")
    world.fire(case.id, "confirm", world.service, note="Frau Musterfrau: washes perfectly again")
    return case.id


def surveys_sent(crm):
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.origin == f"rule:{RULE}")))


def follow_ups(crm):
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(Task).where(Task.origin_ref == f"rule:{RULE}").order_by(Task.id)))


def firings(crm):
    with crm.read(crm.system) as uow:
        return list(uow.session.execute(select(RuleFiring.subject_kind, RuleFiring.subject_id, RuleFiring.situation,
                                               RuleFiring.outcome).where(RuleFiring.rule == RULE)))


def timeline(world):
    return [i.summary for i in world.crm.interactions.timeline(world.customer.id, by=world.crm.system)]


# -- the survey -------------------------------------------------------------------------------
def test_when_her_case_closes_erika_gets_a_short_survey_that_names_the_case(world):
    crm = world.crm
    case_id = solved(world)
    [survey] = surveys_sent(crm)  # inside the closing transaction
    assert (survey.channel, survey.purpose, survey.status, survey.case_id) == ("email", "service", "pending", case_id)
    assert survey.subject == f"Ihr Fall {case_id}: Wie zufrieden waren Sie?"
    assert "CSAT" in survey.body and "NPS" in survey.body and "Elektro Schmidt" in survey.body
    assert firings(crm) == [("case", case_id, "survey", "message")]
    assert f"rule {RULE}: email service message 'Ihr Fall {case_id}: Wie zufrieden waren Sie?'" in timeline(world)
    names = [e.name for e in world.log.events if e.name in ("case_closed", "message_queued")]
    assert names[-2:] == ["case_closed", "message_queued"]


def test_the_survey_is_about_her_own_case_so_it_needs_no_marketing_consent_and_spends_no_budget(world):
    crm = world.crm
    crm.consents.grant(world.customer.id, "email", "marketing", source="newsletter", by=crm.system)
    for n in range(4):
        crm.outbox.send("email", "marketing", f"offer {n}", customer_id=world.customer.id, by=crm.system)
    crm.consents.revoke(world.customer.id, "email", "marketing", source="unsubscribe link", by=crm.system)
    solved(world)
    assert [s.status for s in surveys_sent(crm)] == ["pending"]


def test_without_any_channel_she_allows_there_is_no_survey_and_the_reason_is_on_record(world):
    crm = world.crm
    crm.consents.revoke(world.customer.id, "email", "service", source="phone call: no more mails please", by=crm.system)
    case_id = solved(world)
    assert [(s.status, s.reason) for s in surveys_sent(crm)] == [("suppressed", "service messages on email were revoked")]
    assert firings(crm) == [("case", case_id, "survey", "suppressed")]
    assert any(f"no survey for case {case_id}" in line for line in timeline(world))


def test_a_withdrawn_case_gets_no_survey(world):
    case = world.open_case()
    world.fire(case.id, "withdraw", world.service, reason="customer found the child lock")
    assert surveys_sent(world.crm) == [] and firings(world.crm) == []


# -- the answers ------------------------------------------------------------------------------
def test_her_answer_is_recorded_on_the_case_and_on_her_timeline(world):
    crm = world.crm
    case_id = solved(world)
    crm.surveys.record(case_id, csat=5, nps=9, comment="schnell und freundlich", channel="phone", by=crm.system)
    [answer] = crm.surveys.of_case(case_id, by=crm.system)
    assert (answer.csat, answer.nps, answer.comment, answer.channel) == (5, 9, "schnell und freundlich", "phone")
    [line] = [i for i in crm.interactions.timeline(world.customer.id, by=crm.system) if i.summary.startswith("survey for")]
    assert (line.summary, line.case_id) == (f"survey for case {case_id}: CSAT 5/5, NPS 9/10 – schnell und freundlich",
                                            case_id)
    [event] = world.log.of(SurveyAnswered, case_id)
    assert (event.response_id, event.csat, event.nps) == (answer.id, 5, 9)
    assert follow_ups(crm) == []  # happy: nothing to follow up


def test_scores_out_of_range_are_refused_with_the_allowed_range_and_nothing_is_written(world):
    case_id = solved(world)
    for scores, message in (
        ({"csat": 0}, "invalid csat 0: must be a whole number from 1 to 5"),
        ({"csat": 6, "nps": 9}, "invalid csat 6: must be a whole number from 1 to 5"),
        ({"nps": 11}, "invalid nps 11: must be a whole number from 0 to 10"),
        ({"nps": 7.5}, "invalid nps 7.5: must be a whole number from 0 to 10"),
        ({"csat": True}, "invalid csat True"),
        ({}, f"case {case_id}: give a CSAT score (1-5), an NPS score (0-10) or both"),
    ):
        with pytest.raises(ValidationError) as refused:
            world.crm.surveys.record(case_id, **scores, by=world.crm.system)
        assert message in str(refused.value), scores
    assert world.crm.surveys.of_case(case_id, by=world.crm.system) == []
    assert world.crm.surveys.record(case_id, csat="4", by=world.crm.system).csat == 4  # a form's text field is fine


def test_an_answer_for_an_unknown_case_is_refused(world):
    with pytest.raises(NotFound, match="case 999 not found"):
        world.crm.surveys.record(999, csat=3, by=world.crm.system)


def test_a_low_score_opens_one_follow_up_for_her_dealer_with_her_account_owner(world):
    crm = world.crm
    crm.customers.reassign(world.customer.id, account_owner_id=world.owner.id, by=crm.system)
    case_id = solved(world)
    crm.surveys.record(case_id, nps=7, by=crm.system)  # a passive, not a detractor
    assert follow_ups(crm) == []
    crm.surveys.record(case_id, csat=4, nps=6, comment="took two weeks", by=crm.system)
    [task] = follow_ups(crm)
    assert task.title == f"Nachfassen zu Fall {case_id}: Erika Musterfrau ist unzufrieden (CSAT 4, NPS 6)"
    assert (task.assigned_party_id, task.assigned_actor_id, task.case_id) == (world.dealer.id, world.owner.id, case_id)
    assert task.note == "took two weeks"
    crm.surveys.record(case_id, csat=1, by=crm.system)  # unhappier still: the one follow-up already covers the case
    assert len(follow_ups(crm)) == 1
    assert any(t.startswith(f"rule {RULE}: task 'Nachfassen zu Fall {case_id}") for t in timeline(world))


def test_what_counts_as_low_is_configurable(tmp_path, clock):
    world = copy_world(tmp_path, clock, settings=Settings(plugins={RULE: {"low_nps": 8}}))
    try:
        world.crm.surveys.record(solved(world), csat=5, nps=8, by=world.crm.system)
        [task] = follow_ups(world.crm)
        assert task.assigned_party_id == world.dealer.id and task.assigned_actor_id is None
    finally:
        world.crm.close()


# -- answers arriving as a reply --------------------------------------------------------------
def reply(world, case_id: int, text: str, message_id: str | None = None):
    raw = (f"From: Erika Musterfrau <erika@example.org>\nTo: service@elektro-schmidt.example\n"
           f"Subject: Re: Ihr Fall {case_id}: Wie zufrieden waren Sie?\n"
           f"Message-ID: <{message_id or f'r{case_id}'}@example.org>\n"
           f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}\n")
    return world.crm.inbound.receive("email", raw.encode("utf-8"))  # as it comes off the wire


def test_her_reply_with_the_scores_is_recorded_and_a_low_one_reaches_the_dealer(world):
    crm = world.crm
    case_id = solved(world)
    received = reply(world, case_id, "CSAT 2 NPS 3 – der Techniker kam zweimal zu spät.\n\n> Ihr Fall ...")
    assert (received.status, received.case_id) == ("attached", case_id)
    [answer] = crm.surveys.of_case(case_id, by=crm.system)
    assert (answer.csat, answer.nps, answer.channel) == (2, 3, "email")
    assert answer.comment.startswith("der Techniker kam zweimal zu spät.")
    [task] = follow_ups(crm)
    assert task.case_id == case_id and "(CSAT 2, NPS 3)" in task.title
    assert ("inbound", received.id, "survey-answer", "noted") in firings(crm)


def test_her_second_reply_revises_her_answer_and_is_never_a_second_one(world):
    crm = world.crm
    case_id = solved(world)
    reply(world, case_id, "CSAT 2 NPS 3 – der Techniker kam zu spät.", message_id="first")
    second = reply(world, case_id, "Entschuldigung, verklickt: CSAT 4 NPS 9", message_id="second")
    assert second.status == "attached"
    [answer] = crm.surveys.of_case(case_id, by=crm.system)
    assert (answer.csat, answer.nps, answer.comment) == (4, 9, "der Techniker kam zu spät.")  # no new comment: kept
    assert [(e.response_id, e.csat, e.nps, e.revised) for e in world.log.of(SurveyAnswered, case_id)] == [
        (answer.id, 2, 3, False), (answer.id, 4, 9, True)]
    assert f"survey for case {case_id} revised: CSAT 4/5, NPS 9/10 (was CSAT 2/5, NPS 3/10) – der Techniker kam " \
           "zu spät." in timeline(world)
    assert len(follow_ups(crm)) == 1  # the first, low answer was followed up; once per case


def test_the_same_reply_delivered_twice_changes_nothing(world):
    crm = world.crm
    case_id = solved(world)
    reply(world, case_id, "CSAT 5 NPS 10", message_id="once")
    lines = timeline(world)
    reply(world, case_id, "CSAT 5 NPS 10", message_id="again")  # e.g. sent from a second device
    assert len(world.log.of(SurveyAnswered, case_id)) == 1
    assert [line for line in timeline(world) if line.startswith("survey for")] == [
        line for line in lines if line.startswith("survey for")]
    assert len(crm.surveys.of_case(case_id, by=crm.system)) == 1


def test_a_reply_with_an_impossible_score_is_kept_and_the_reason_noted(world):
    crm = world.crm
    case_id = solved(world)
    received = reply(world, case_id, "CSAT 9")
    assert received.status == "attached" and crm.surveys.of_case(case_id, by=crm.system) == []
    assert any("survey answer for case" in t and "invalid csat 9" in t for t in timeline(world))


def test_a_reply_to_an_open_case_is_no_survey_answer(world):
    case = world.open_case()
    reply(world, case.id, "NPS 10, thanks for the quick reply")
    assert world.crm.surveys.of_case(case.id, by=world.crm.system) == []


# -- the catch-up scan ------------------------------------------------------------------------
def test_cases_closed_while_the_rule_was_off_are_surveyed_by_the_next_tick_once(tmp_path, clock):
    world = copy_world(tmp_path, clock, block=[RULE])
    try:
        long_ago = solved(world)
        clock.advance(days=4)  # closed longer ago than catch_up_days: not dug out
        case_id = solved(world)
        url = world.crm.engine.url.render_as_string(hide_password=False)
    finally:
        world.crm.close()
    crm = connect(url, clock=clock, settings=with_mail())
    try:
        planned = crm.rules.run(RULE, dry_run=True)[0].planned
        assert [(p["subject"], p["situation"]) for p in planned] == [(case_id, "survey")]
        assert planned[0]["would"] == [f"email service message to customer {world.customer.id}: "
                                       f"Ihr Fall {case_id}: Wie zufrieden waren Sie?"]
        assert surveys_sent(crm) == [] and firings(crm) == []
        assert crm.rules.run(RULE)[0].fired == 1
        assert crm.rules.run(RULE)[0].fired == 0
        assert [s.case_id for s in surveys_sent(crm)] == [case_id] != [long_ago]
    finally:
        crm.close()
