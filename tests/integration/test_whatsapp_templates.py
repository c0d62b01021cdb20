"""Issue #13 item 5: WhatsApp inside and outside the 24-hour customer-service window.

Max has no e-mail address; he agreed to WhatsApp, so every hand-off of his dryer case
reaches him there. The Cloud API takes free text only within 24 hours of his last
message; after that only an approved template. A real HTTP server on 127.0.0.1 plays the
Cloud API's messages endpoint and records what arrived; a ManualClock moves time, and
the test looks at which shape reached the server when.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo


import pytest
from http_servers import Answer, running
from sqlalchemy import select
from whatsapp_cloud import PHONE_NUMBER_ID, customer_wrote, notification, text_message

from dealercrm import ValidationError
from dealercrm.db.models import Task
from dealercrm.settings import Settings

MAX_WA = "491715550100"
HANDED_OVER = {"name": "case_update", "language": "de", "parameters": ["{case_id}", "{subject}", "{state}"]}


@pytest.fixture(autouse=True)
def _no_token_from_the_environment(monkeypatch):
    monkeypatch.delenv("DEALERCRM_WHATSAPP_TOKEN", raising=False)


@pytest.fixture
def cloud():
    with running() as server:
        server.reply = lambda r: Answer(200, {"messaging_product": "whatsapp",
                                              "messages": [{"id": f"wamid.OUT{len(server.received)}"}]})
        yield server


@pytest.fixture
def shop(crm_factory, cloud):
    """``shop(**whatsapp_settings)``: Max, WhatsApp-only, with a dryer from a manufacturer, and Lea at the dealer."""

    def make(**whatsapp):
        whatsapp.setdefault("templates", {"case_handed_over": HANDED_OVER})
        crm = crm_factory(settings=Settings(plugins={"channel_whatsapp": {
            "base_url": cloud.url, "phone_number_id": PHONE_NUMBER_ID, "token": "EAAGwa-tok-0815xyz", "timeout": 2,
            **whatsapp}}))
        dealer = crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", by=crm.system)
        crm.lea = crm.parties.add_actor(dealer.id, "Lea Berger", "service", by=crm.system)
        crm.max_ = crm.customers.add("Max Mustermann", phone="0171 5550100", by=crm.system)
        crm.consents.grant(crm.max_.id, "whatsapp", "service", source="signed at the counter", by=crm.system)
        dryer = crm.products.add("TR-7", "DryPro 7", manufacturer_party_id=maker.id, by=crm.system)
        crm.asset = crm.assets.record(crm.max_.id, dryer.id, serial_number="TR7-1", by=crm.system)
        return crm

    return make


def forwarded(crm) -> int:
    case = crm.cases.open(crm.max_.id, "Trockner piept", asset_id=crm.asset.id, by=crm.lea.id)
    crm.cases.fire(case.id, "start_diagnosis", by=crm.lea.id)
    crm.cases.fire(case.id, "forward_to_manufacturer", by=crm.lea.id)  # a hand-off: Max is told
    return case.id


def back_and_forth(crm, case_id: int) -> None:
    """One more hand-off: the dealer takes the case back, or sends it to the manufacturer again."""
    state = crm.cases.get(case_id, by=crm.system).state
    if state == "manufacturer_review":
        crm.cases.fire(case_id, "take_over", by=crm.lea.id, data={"reason": "Hersteller antwortet nicht"})
    else:
        crm.cases.fire(case_id, "retry_manufacturer", by=crm.lea.id)


def told_by(crm, case_id: int) -> str:
    """The day the case is due, as the customer (in Berlin) reads it."""
    return crm.cases.get(case_id, by=crm.system).due_at.astimezone(ZoneInfo("Europe/Berlin")).strftime("%d.%m.%Y")


def sent_shape(crm, cloud) -> dict:
    """Dispatch, and the body of the one request the Cloud API got for it."""
    before = len(cloud.received)
    assert crm.outbox.dispatch().sent == 1
    assert len(cloud.received) == before + 1
    got = cloud.received[-1]
    assert got.path == f"/v21.0/{PHONE_NUMBER_ID}/messages" and got.json["to"] == MAX_WA
    return got.json


def test_hand_off_notices_go_as_text_inside_the_window_and_as_the_approved_template_outside(shop, cloud, clock):
    crm = shop()
    customer_wrote(crm, MAX_WA, "Mein Trockner piept seit Montag")  # Monday 09:00: the window opens
    clock.advance(hours=1)
    case_id = forwarded(crm)
    first = sent_shape(crm, cloud)
    assert first["type"] == "text" and f"Fall {case_id}" in first["text"]["body"]

    clock.advance(hours=22, minutes=50)  # 23:50 after his message: still inside
    back_and_forth(crm, case_id)
    assert sent_shape(crm, cloud)["type"] == "text"

    clock.advance(minutes=11)  # 24:01 after his message: outside
    back_and_forth(crm, case_id)
    outside = sent_shape(crm, cloud)
    assert outside == {"messaging_product": "whatsapp", "to": MAX_WA, "type": "template", "template": {
        "name": "case_update", "language": {"code": "de"}, "components": [{"type": "body", "parameters": [
            {"type": "text", "text": str(case_id)},
            {"type": "text", "text": f"Ihr Fall {case_id}: jetzt beim Hersteller Brioche Hausgeräte, Antwort bis "
                                     f"{told_by(crm, case_id)}"},
            {"type": "text", "text": "manufacturer_review"}]}]}}

    clock.advance(hours=1)
    customer_wrote(crm, MAX_WA, "Und?")  # he writes again: the window opens again
    back_and_forth(crm, case_id)
    assert sent_shape(crm, cloud)["type"] == "text"


def test_the_window_is_judged_when_the_message_is_sent_not_when_it_was_queued(shop, cloud, clock):
    crm = shop()
    customer_wrote(crm, MAX_WA)
    clock.advance(hours=23, minutes=59)
    forwarded(crm)  # queued inside the window ...
    clock.advance(minutes=2)
    assert sent_shape(crm, cloud)["type"] == "template"  # ... sent outside it


def test_a_customer_who_never_wrote_gets_the_template(shop, cloud):
    crm = shop()
    forwarded(crm)
    assert sent_shape(crm, cloud)["template"]["name"] == "case_update"


def test_a_webhook_meta_retried_late_opens_the_window_from_when_he_wrote_not_from_when_it_arrived(shop, cloud, clock):
    crm = shop()
    wrote = clock.now()
    clock.advance(hours=20)  # our server was down; Meta delivers his message 20 hours late
    crm.inbound.receive("whatsapp", notification(text_message(MAX_WA, "Hallo?", wrote)))
    clock.advance(hours=3)
    forwarded(crm)
    assert sent_shape(crm, cloud)["type"] == "text"  # 23 hours after he wrote
    clock.advance(hours=1, minutes=1)
    crm.cases.fire(crm.cases.list(by=crm.system)[0].id, "take_over", by=crm.lea.id, data={"reason": "dauert"})
    assert sent_shape(crm, cloud)["type"] == "template"  # 24:01 after he wrote, 4:01 after it arrived


def test_outside_the_window_without_a_template_for_the_kind_nothing_is_sent_and_a_person_is_told(shop, cloud, clock):
    crm = shop()
    customer_wrote(crm, MAX_WA)
    clock.advance(days=2)
    msg = crm.outbox.send("whatsapp", "service", "Ihr Gerät ist abholbereit.", customer_id=crm.max_.id, by=crm.system)
    assert crm.outbox.dispatch().failed == 1 and cloud.received == []
    reason = crm.outbox.get(msg.id, by=crm.system).reason
    assert "outside the 24-hour customer-service window (the customer last wrote at 2026-03-02 09:00 UTC)" in reason
    assert "[plugins.channel_whatsapp.templates.default]" in reason
    with crm.read(crm.system) as uow:
        assert uow.session.scalars(select(Task).where(Task.origin_ref == f"outbox:{msg.id}")).one()


def test_a_default_template_serves_every_kind_without_its_own_and_its_parameters_are_one_line(shop, cloud, clock):
    crm = shop(templates={"default": {"name": "generic_notice", "language": "en_US", "parameters": ["{body}"]}})
    crm.outbox.send("whatsapp", "service", "Ihr Gerät ist abholbereit.\n\nBis   morgen\tum 9 Uhr.",
                    customer_id=crm.max_.id, by=crm.system)
    assert sent_shape(crm, cloud)["template"] == {"name": "generic_notice", "language": {"code": "en_US"},
                                                  "components": [{"type": "body", "parameters": [
                                                      {"type": "text",
                                                       "text": "Ihr Gerät ist abholbereit. Bis morgen um 9 Uhr."}]}]}


def test_a_template_parameter_the_message_has_no_value_for_fails_it_naming_the_parameter(shop, cloud):
    crm = shop(templates={"default": {"name": "generic_notice", "language": "de", "parameters": ["{case_id}"]}})
    msg = crm.outbox.send("whatsapp", "service", "ohne Fall", customer_id=crm.max_.id, by=crm.system)
    assert crm.outbox.dispatch().failed == 1 and cloud.received == []
    assert "uses {case_id}, which message" in crm.outbox.get(msg.id, by=crm.system).reason


def test_a_shorter_window_leaves_a_safety_margin(shop, cloud, clock):
    crm = shop(window_hours=23)
    customer_wrote(crm, MAX_WA)
    clock.advance(hours=23, minutes=1)
    forwarded(crm)
    assert sent_shape(crm, cloud)["type"] == "template"


@pytest.mark.parametrize("templates, problem", [
    ({"case_handed_over": {"name": "Case Update", "language": "de"}}, "name must be the approved template's name"),
    ({"case_handed_over": {"name": "case_update", "language": "German"}}, "language must be a code like 'de'"),
    ({"case_handed_over": {**HANDED_OVER, "parameters": ["{case_id.__class__}"]}}, "must name a field"),
])
def test_a_mistake_in_a_template_table_is_named_and_fails_every_message(shop, cloud, caplog, templates, problem):
    crm = shop(templates=templates)
    customer_wrote(crm, MAX_WA)
    msg = crm.outbox.send("whatsapp", "service", "hallo", customer_id=crm.max_.id, by=crm.system)
    assert problem in caplog.text
    assert crm.outbox.dispatch().failed == 1 and cloud.received == []
    assert problem in crm.outbox.get(msg.id, by=crm.system).reason


@pytest.mark.parametrize("templates, refused", [
    ({"case_handed_over": {**HANDED_OVER, "header": "x"}},
     "[plugins.channel_whatsapp.templates.case_handed_over] key 'header': is no setting"),
    ({"case_handed_over": "case_update"}, "[plugins.channel_whatsapp] templates.case_handed_over 'case_update': "
                                          "must be a table of name, language, parameters"),
])
def test_a_template_table_of_the_wrong_shape_stops_the_application_at_start(shop, templates, refused):
    with pytest.raises(ValidationError) as info:
        shop(templates=templates)
    assert refused in str(info.value)


def test_a_window_longer_than_the_cloud_apis_is_refused(shop, caplog):
    crm = shop(window_hours=48)
    crm.channels  # noqa: B018  (loaded: the problem is logged)
    assert "window_hours is at most 24" in caplog.text
