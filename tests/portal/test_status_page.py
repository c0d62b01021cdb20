"""The customer's status page, through the link in the hand-off notices: this case only,
"it works" / "still broken" when the case waits on them, the survey once; expired, revoked
and made-up links refused."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from portal_world import signed_in, visitor

from dealercrm.db.models import AuditRecord
from dealercrm.db.outbox_models import OutboxMessage


def notices(crm, case_id: int) -> list[OutboxMessage]:
    """The case's hand-off notices, once the dispatcher queued them (it does so first in every round)."""
    crm.outbox.queue_notices()
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case_id,
                                                                    OutboxMessage.origin == "case_notifications")
                                        .order_by(OutboxMessage.id)))


def link_in(message: OutboxMessage) -> str:
    return re.search(r"http://127\.0\.0\.1:8000(/portal/status/\S+)", message.body).group(1)


def fixed(world) -> int:
    """Erika's case, repaired by the technician: it awaits her confirmation."""
    case = world.open_case()
    world.to_technician(case.id)
    world.fire(case.id, "schedule_visit", world.fitter, visit_at=(world.crm.clock.now() + timedelta(hours=3)).isoformat())
    world.fire(case.id, "report_fixed", world.fitter)
    return case.id


def test_every_hand_off_notice_carries_the_customers_link_to_their_case(app, world):
    case_id = fixed(world)
    sent = notices(world.crm, case_id)
    assert len(sent) == 3 and all("/portal/status/" in m.body for m in sent)
    assert len({link_in(m).split(".")[0] for m in sent}) == 1  # one live link row, reused by every notice
    customer = visitor(app)
    page = customer.open(link_in(sent[-1]) + "?lang=en").text
    assert "Your service request (case" in page and "Brioche Lavande 7 kg" in page
    assert "You: we are waiting for your answer" in page and "(Europe/Berlin)" in page
    assert "the case counts as settled" in page or "counts as settled" in page
    assert "Technik-Service Nord reports: fixed." in page.replace("The technician ", "")
    for private in ("erika@example.org", "Ole Hansen", "Claire Dubois", "Jonas Weber"):
        assert private not in page  # no contact data, no people's names


def test_the_page_shows_who_has_the_case_until_when_and_what_happens_if_they_miss_it(app, world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    page = visitor(app).open(link_in(notices(world.crm, case.id)[-1]) + "?lang=en").text
    who = re.search(r'<p id="who-now">(.*?)</p>', page, re.S).group(1)
    assert "Brioche Hausgeräte (the manufacturer)" in who and "(Europe/Berlin)" in who
    missed = re.search(r'<p id="if-missed">(.*?)</p>', page, re.S).group(1)
    assert "goes back to your dealer Elektro Schmidt" in missed
    assert "forwarded the case to the manufacturer" in page


def test_the_customer_confirms_as_the_system_on_their_behalf_audited_as_such(app, world):
    case_id = fixed(world)
    customer = visitor(app)
    path = link_in(notices(world.crm, case_id)[-1])
    customer.open(path)
    version = re.search(r'name="version" value="(\d+)"', customer.page).group(1)
    assert customer.submit(f"{path}/respond", {"trigger": "confirm", "version": version}).status_code == 303
    case = world.crm.cases.get(case_id, by=world.crm.system)
    assert case.state == "closed"
    last = world.crm.cases.history(case_id, by=world.crm.system)[-1]
    assert last.actor_id == world.crm.system and last.data == {"via": "status link"}
    with world.crm.read(world.crm.system) as uow:
        ops = [r.operation for r in uow.session.scalars(select(AuditRecord).where(AuditRecord.customer_id ==
                                                                                  world.customer.id))]
    assert "case_links.respond" in ops[-3:]
    assert "Sie: Es funktioniert." in customer.open(path + "?lang=de").text


def test_still_broken_reopens_at_the_dealer_with_the_customers_words(app, world):
    case_id = fixed(world)
    customer = visitor(app)
    path = link_in(notices(world.crm, case_id)[-1])
    customer.open(path)
    customer.submit(f"{path}/respond", {"trigger": "still_broken", "note": "it squeaks again"})
    case = world.crm.cases.get(case_id, by=world.crm.system)
    assert case.state == "dealer_diagnosis" and case.reopen_count == 1
    assert world.crm.cases.history(case_id, by=world.crm.system)[-1].note == "it squeaks again"


def test_the_customer_cannot_fire_anything_while_the_case_is_not_waiting_on_them(app, world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    customer = visitor(app)
    path = link_in(notices(world.crm, case.id)[-1])
    page = customer.open(path).text
    assert 'name="trigger"' not in page
    for trigger in ("confirm", "approve_visit", "withdraw"):
        customer.open("/portal/sign-in")  # a form of this visitor's: its token
        answer = customer.submit(f"{path}/respond", {"trigger": trigger, "reason": "x"})
        assert answer.status_code == 403
    assert world.crm.cases.get(case.id, by=world.crm.system).state == "manufacturer_review"


def test_the_survey_is_answered_once_per_case_once_it_is_closed(app, world):
    case_id = fixed(world)
    customer = visitor(app)
    path = link_in(notices(world.crm, case_id)[-1])
    page = customer.open(path).text
    assert 'name="csat"' not in page  # still open: no survey yet
    customer.submit(f"{path}/respond", {"trigger": "confirm"})
    assert 'name="csat"' in customer.open(path).text
    assert customer.submit(f"{path}/survey", {"csat": "5", "nps": "9"}).headers["location"].endswith("?thanks=1")
    assert 'name="csat"' not in customer.open(path).text
    customer.open("/portal/sign-in")  # a form of this visitor's: its token
    replayed = customer.submit(f"{path}/survey", {"csat": "1", "nps": "0"})
    assert replayed.status_code == 303  # the form is gone; a replayed post is answered by the page, changing nothing
    answers = world.crm.surveys.of_case(case_id, by=world.crm.system)
    assert [(a.csat, a.nps, a.channel) for a in answers] == [(5, 9, "web")]


def test_an_expired_link_is_refused(app, world, clock):
    case_id = fixed(world)
    path = link_in(notices(world.crm, case_id)[-1])
    clock.advance(days=31)
    answer = visitor(app).open(path + "?lang=en")
    assert answer.status_code == 410 and "This link has expired." in answer.text and "Erika" not in answer.text


def test_a_link_the_dealer_revoked_is_refused_and_the_next_notice_carries_a_new_one(app, world):
    case = world.open_case()
    world.fire(case.id, "start_diagnosis", world.service)
    world.fire(case.id, "forward_to_manufacturer", world.service)
    old = link_in(notices(world.crm, case.id)[-1])
    maker = signed_in(app, world.crm, world.warranty_desk)
    maker.open(f"/portal/cases/{case.id}")
    assert 'status-link/revoke"' not in maker.page
    assert maker.submit(f"/portal/cases/{case.id}/status-link/revoke").status_code == 403  # the dealer's to revoke
    dealer = signed_in(app, world.crm, world.service)
    dealer.open(f"/portal/cases/{case.id}")
    assert dealer.submit(f"/portal/cases/{case.id}/status-link/revoke").status_code == 200
    answer = visitor(app).open(old + "?lang=en")
    assert answer.status_code == 410 and "withdrawn" in answer.text
    world.fire(case.id, "approve_visit", world.warranty_desk, technician_party_id=world.technician.id)
    new = link_in(notices(world.crm, case.id)[-1])
    assert new != old and visitor(app).open(new).status_code == 200


def test_erasing_the_customer_revokes_their_links(app, world):
    case_id = fixed(world)
    path = link_in(notices(world.crm, case_id)[-1])
    world.crm.customers.erase(world.customer.id, by=world.manager.id)
    assert visitor(app).open(path).status_code == 410


@pytest.mark.parametrize("tamper", ["id", "expiry", "signature", "garbage"])
def test_a_made_up_or_altered_link_shows_nothing(app, world, tamper):
    case_id = fixed(world)
    other = world.open_case("another complaint")
    world.to_manufacturer(other.id)
    link_id, expires, signature = link_in(notices(world.crm, case_id)[-1]).rsplit("/", 1)[1].split(".")
    other_id = link_in(notices(world.crm, other.id)[-1]).rsplit("/", 1)[1].split(".")[0]
    token = {"id": f"{other_id}.{expires}.{signature}", "expiry": f"{link_id}.{int(expires) + 86400}.{signature}",
             "signature": f"{link_id}.{expires}.{signature[:-2]}AA", "garbage": "../../queue"}[tamper]
    answer = visitor(app).open(f"/portal/status/{token}")
    assert answer.status_code == 404 and "another complaint" not in answer.text and "Erika" not in answer.text


def test_a_mistake_in_the_portals_settings_stops_the_application_at_start_naming_it(tmp_path, clock):
    """Not at the first hand-off, whose notice would then go without its link."""
    from portal_world import portal_world

    from dealercrm import ValidationError

    with pytest.raises(ValidationError, match=r"\[plugins.portal\] time_zone 'Mars/Olympus': .*no IANA time zone"):
        portal_world(tmp_path, clock, time_zone="Mars/Olympus")


def test_the_customer_reads_by_when_her_request_is_resolved_at_the_latest(app, world):
    case = world.open_case()
    world.to_manufacturer(case.id)
    world.crm.outbox.queue_notices()  # notices are queued after the hand-off committed
    promised = world.crm.cases.promise(case.id, by=world.crm.system).resolved_by
    page = visitor(app).open(link_in(notices(world.crm, case.id)[-1]) + "?lang=en").text
    said = re.search(r'<p id="resolved-by">(.*?)</p>', page, re.S).group(1)
    local = promised.astimezone(ZoneInfo("Europe/Berlin"))
    assert said.startswith("Your request will be resolved by ") and said.endswith("at the latest.")
    assert f"{local:%H:%M} {local.tzname()} (Europe/Berlin)" in said
    world.fire(case.id, "take_over", world.service, reason="the manufacturer does not answer")
    world.fire(case.id, "refund", world.manager)
    page = visitor(app).open(link_in(notices(world.crm, case.id)[-1]) + "?lang=en").text
    assert 'id="resolved-by"' not in page  # resolved: nothing left to promise
