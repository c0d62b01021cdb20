"""Issue #13 item 4: inbound that acts — e-mail to case, and opt-out replies.

Max Mustermann bought a dryer at Elektro Schmidt; Sabine is his account owner there. He
writes in without a case number, asks to be taken off the mailing list, sends
half-sentences that only look like opt-outs, and replies to offers from Outlook (which
quotes our own footer, "reply 'Abmelden'"). Each story says what must happen, and
what must not.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import dealercrm
from dealercrm import ValidationError
from dealercrm.db.case_models import Case, CaseEvent
from dealercrm.db.models import AuditRecord, Consent, Task
from dealercrm.db.outbox_models import InboundMessage
from dealercrm.settings import Settings

from case_world import with_mail

SMS = {"url": "http://127.0.0.1:9/unused", "token": "sms-tok-4711abc"}  # configured, never sent to here


def mail(body: str, subject: str = "Frage", sender: str = "max@example.org", extra: str = "") -> bytes:
    return (f"From: Max Mustermann <{sender}>\r\nTo: service@elektro-schmidt.example\r\nSubject: {subject}\r\n"
            f"{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


def sms(text: str, sender: str = "+491715550100") -> tuple[str, dict]:
    return f'{{"from": "{sender}", "text": "{text}"}}', {"Content-Type": "application/json"}


@pytest.fixture
def shop(crm_factory):
    """``shop(inbound={...})``: an application where Max is Elektro Schmidt's customer, with consent to offers."""

    def make(**inbound):
        crm = crm_factory(settings=Settings(inbound=inbound, plugins={"channel_sms": SMS}))
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        schmidt = crm.parties.add("dealer", "Elektro Schmidt", by=crm.system)
        sabine = crm.parties.add_actor(schmidt.id, "Sabine Krüger", "sales", by=crm.system)
        max_ = crm.customers.add("Max Mustermann", email="max@example.org", phone="0171 5550100",
                                 owner_party_id=schmidt.id, account_owner_id=sabine.id, by=crm.system)
        for channel in ("email", "sms"):
            crm.consents.grant(max_.id, channel, "marketing", source="shop form", by=crm.system)
        crm.schmidt, crm.sabine, crm.max_ = schmidt, sabine, max_
        return crm

    return make


def tasks_of(crm, inbound_id: int) -> list[Task]:
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(Task).where(Task.origin_ref == f"inbound:{inbound_id}")))


def cases_of(crm, customer_id: int) -> list[Case]:
    with crm.read(crm.system) as uow:
        return list(uow.session.scalars(select(Case).where(Case.customer_id == customer_id).order_by(Case.id)))


def may_advertise(crm, channel: str) -> bool:
    return crm.consents.may_contact(crm.max_.id, channel, "marketing", by=crm.system)


# -- e-mail to case -------------------------------------------------------------------------


def test_with_open_case_his_mail_without_a_case_number_opens_one_at_his_dealer_on_his_behalf(shop):
    crm = shop(unknown_case="open_case")
    got = crm.inbound.receive("email", mail("Der Trockner piept seit gestern und heizt nicht mehr.",
                                            subject="Re: Ihr Einkauf bei uns"))

    [case] = cases_of(crm, crm.max_.id)
    assert got.status == "attached" and got.case_id == case.id
    assert (case.dealer_party_id, case.owner_party_id, case.state) == (crm.schmidt.id, crm.schmidt.id, "reported")
    assert case.summary == "Ihr Einkauf bei uns"  # his subject, without the "Re:"
    # opened by the system, and the audit trail says for whom and from which message
    opened = crm.cases.history(case.id, by=crm.system)[0]
    assert (opened.kind, opened.actor_id) == ("opened", crm.system)
    with crm.read(crm.system) as uow:
        behalf = uow.session.scalars(select(AuditRecord).where(AuditRecord.operation == "inbound.open_case")).one()
    assert (behalf.entity, behalf.entity_id, behalf.actor_id) == ("service_case", case.id, crm.system)
    assert behalf.changes == {"opened_by": "system", "on_behalf_of": "customer", "customer_id": crm.max_.id,
                              "inbound_message_id": got.id, "channel": "email"}
    # his message is on his timeline, on the new case; nobody needs a triage task
    talk = crm.interactions.timeline(crm.max_.id, by=crm.system)[0]
    assert talk.case_id == case.id and "Trockner piept" in talk.summary
    assert tasks_of(crm, got.id) == []


def test_by_default_his_mail_without_a_case_number_is_a_task_for_his_account_owner_not_a_case(shop):
    crm = shop()
    got = crm.inbound.receive("email", mail("Können Sie mir die Rechnung noch einmal schicken?"))

    assert got.status == "attached" and got.case_id is None and cases_of(crm, crm.max_.id) == []
    [task] = tasks_of(crm, got.id)
    assert (task.assigned_party_id, task.assigned_actor_id, task.customer_id) == (
        crm.schmidt.id, crm.sabine.id, crm.max_.id)
    assert "names no case" in task.title and "Rechnung noch einmal" in task.note


def test_open_case_does_not_open_a_second_case_beside_his_open_one_a_person_decides(shop):
    crm = shop(unknown_case="open_case")
    washer = crm.cases.open(crm.max_.id, "Waschmaschine wäscht schlecht", by=crm.sabine.id)
    got = crm.inbound.receive("email", mail("Wann kommt denn nun jemand?"))

    assert [c.id for c in cases_of(crm, crm.max_.id)] == [washer.id]
    [task] = tasks_of(crm, got.id)
    assert f"open case(s) {washer.id}" in task.title


def test_a_mail_naming_his_case_goes_to_it_and_opens_nothing_else(shop):
    crm = shop(unknown_case="open_case")
    washer = crm.cases.open(crm.max_.id, "Waschmaschine wäscht schlecht", by=crm.sabine.id)
    got = crm.inbound.receive("email", mail("Hier das Foto vom Typenschild.", subject=f"Re: Fall {washer.id}"))

    assert got.case_id == washer.id and len(cases_of(crm, crm.max_.id)) == 1 and tasks_of(crm, got.id) == []


def test_timeline_only_puts_it_on_his_timeline(shop):
    crm = shop(unknown_case="timeline")
    got = crm.inbound.receive("email", mail("Danke für die schnelle Lieferung!"))

    assert got.status == "attached" and tasks_of(crm, got.id) == [] and cases_of(crm, crm.max_.id) == []
    assert "schnelle Lieferung" in crm.interactions.timeline(crm.max_.id, by=crm.system)[0].summary


def test_unknown_case_can_be_set_per_channel(shop):
    crm = shop(unknown_case={"email": "open_case", "default": "timeline"})
    by_sms = crm.inbound.receive("sms", *sms("Bin ab 15 Uhr zu Hause"))
    assert (by_sms.status, by_sms.case_id) == ("attached", None) and tasks_of(crm, by_sms.id) == []
    by_mail = crm.inbound.receive("email", mail("Das Display zeigt E18."))
    assert by_mail.case_id is not None and by_mail.case_id == cases_of(crm, crm.max_.id)[0].id


class NoCasesToday:
    """A plugin that vetoes every new case."""

    @staticmethod
    @dealercrm.hookimpl
    def dealercrm_check_event(event, uow):
        if isinstance(event, dealercrm.CaseOpened):
            raise dealercrm.Vetoed("no_cases", "no cases today")


@pytest.mark.parametrize("header", ["Auto-Submitted: auto-replied", "X-Autoreply: yes", "Precedence: auto_reply"])
def test_his_out_of_office_answer_opens_nothing_asks_nobody_and_opts_out_of_nothing(shop, header):
    crm = shop(unknown_case="open_case")
    got = crm.inbound.receive("email", mail("Ich bin bis 20. März nicht im Büro. Stop.", subject="Abwesend",
                                            extra=header + "\r\n"))
    assert got.status == "attached" and "nicht im Büro" in crm.interactions.timeline(crm.max_.id, by=crm.system)[0].summary
    assert cases_of(crm, crm.max_.id) == [] and tasks_of(crm, got.id) == [] and may_advertise(crm, "email")
    # the same words from him in person: a case (and an ambiguous "stop" does not open one)
    person = crm.inbound.receive("email", mail("Ich bin bis 20. März nicht im Büro.", subject="Abwesend",
                                               extra="Auto-Submitted: no\r\n"))
    assert person.case_id is not None


def test_a_case_a_plugin_refuses_to_open_becomes_a_task_and_the_message_is_kept(shop):
    crm = shop(unknown_case="open_case")
    crm.register(NoCasesToday(), "no_cases")
    got = crm.inbound.receive("email", mail("Der Trockner piept."))
    assert got.status == "attached" and got.case_id is None and cases_of(crm, crm.max_.id) == []
    [task] = tasks_of(crm, got.id)
    assert "opening one failed" in task.title and "no cases today" in task.title


# -- opt-out replies --------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["Abmelden", "STOP.", "stop", "Opt-Out!", "Bitte abmelden!\r\n\r\n--\r\nMax",
                                  "unsubscribe"])
def test_a_clear_opt_out_revokes_marketing_on_that_channel_with_the_message_as_source(shop, body):
    crm = shop(unknown_case="open_case")  # an opt-out never opens a case
    got = crm.inbound.receive("email", mail(body, subject="Re: Dachbox zum Saisonstart"))

    assert not may_advertise(crm, "email") and may_advertise(crm, "sms")  # that channel only
    latest = crm.consents.history(crm.max_.id, by=crm.system)[-1]
    assert (latest.channel, latest.purpose, latest.granted, latest.actor_id) == ("email", "marketing", False,
                                                                                 crm.system)
    assert latest.source.startswith(f"inbound message {got.id} (email): opt-out reply")
    assert tasks_of(crm, got.id) == [] and cases_of(crm, crm.max_.id) == []
    assert any(f"marketing on email revoked" in i.summary and f"inbound message {got.id}" in i.summary
               for i in crm.interactions.timeline(crm.max_.id, by=crm.system))


def test_stop_by_sms_revokes_marketing_by_sms_and_leaves_email_alone(shop):
    crm = shop()
    got = crm.inbound.receive("sms", *sms("STOP"))
    assert got.customer_id == crm.max_.id
    assert not may_advertise(crm, "sms") and may_advertise(crm, "email")


def test_an_empty_mail_whose_subject_says_unsubscribe_is_the_mailto_link_and_revokes(shop):
    crm = shop()
    crm.inbound.receive("email", mail("", subject="unsubscribe"))
    assert not may_advertise(crm, "email")


@pytest.mark.parametrize("body, phrase", [
    ("Stop calling me about the washer, but the door still squeaks.", "stop"),
    ("Hallo,\r\nbitte abmelden, ich bin umgezogen.\r\nMax", "bitte abmelden"),
])
def test_an_opt_out_word_inside_a_longer_message_revokes_nothing_and_asks_the_dealer(shop, body, phrase):
    crm = shop(unknown_case="open_case")
    got = crm.inbound.receive("email", mail(body))

    assert may_advertise(crm, "email") and may_advertise(crm, "sms")  # nothing revoked on a guess
    [task] = tasks_of(crm, got.id)
    assert (task.assigned_party_id, task.assigned_actor_id) == (crm.schmidt.id, crm.sabine.id)
    assert task.title.startswith("opt-out?") and f"'{phrase}'" in task.title
    assert cases_of(crm, crm.max_.id) == []  # nor does it open a case: the person reading it decides


def test_an_outlook_reply_quoting_our_footer_is_not_an_opt_out(shop):
    crm = shop()
    got = crm.inbound.receive("email", mail(
        "Ja, die Dachbox interessiert mich. Rufen Sie mich an?\r\n\r\n"
        "Von: Elektro Schmidt <service@elektro-schmidt.example>\r\nGesendet: Montag, 2. März 2026 09:00\r\n"
        "Betreff: Dachbox zum Saisonstart\r\n\r\nSie erhalten diese Nachricht, weil Sie uns Ihre Einwilligung "
        "gegeben haben. Antworten Sie mit „Abmelden“, wenn Sie keine weiteren Angebote wünschen.",
        subject="AW: Dachbox zum Saisonstart"))

    assert may_advertise(crm, "email")
    [task] = tasks_of(crm, got.id)
    assert "names no case" in task.title  # an ordinary reply, read by a person


def test_opt_out_words_are_configured_per_language_and_a_language_given_replaces_its_defaults(shop):
    crm = shop(opt_out_keywords={"fr": ["désabonner", "stop"], "de": ["austragen"]})
    crm.inbound.receive("email", mail("Abmelden"))  # no longer a German keyword here
    assert may_advertise(crm, "email")
    crm.inbound.receive("email", mail("Désabonner"))
    assert not may_advertise(crm, "email")
    crm.inbound.receive("sms", *sms("unsubscribe"))  # English still has its defaults
    assert not may_advertise(crm, "sms")


def test_a_channel_without_a_consent_channel_of_its_own_asks_the_dealer_instead(crm_factory):
    from dealercrm.signing import sign_headers

    secret = "whsec-inbound-9d41c7a0b2"
    crm = crm_factory(settings=Settings(plugins={"channel_webhook": {"secret": secret}}))
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    max_ = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    crm.consents.grant(max_.id, "email", "marketing", source="shop form", by=crm.system)
    body = b'{"from": "max@example.org", "text": "STOP"}'
    got = crm.inbound.receive("webhook", body, sign_headers(secret, body))  # signed now, by the wall clock
    assert (got.status, got.customer_id) == ("attached", max_.id)
    assert crm.consents.may_contact(max_.id, "email", "marketing", by=crm.system)
    [task] = tasks_of(crm, got.id)
    assert "has no consent channel of its own" in task.title


# -- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("inbound, named", [
    ({"unknown_case": "ignore"}, "unknown_case"),
    ({"unknown_case": {"email": "open"}}, "unknown_case.email"),
    ({"opt_out_keywords": {"de": "abmelden"}}, "opt_out_keywords.de"),
    ({"opt_out_keywords": ["stop"]}, "opt_out_keywords"),
])
def test_a_mistake_in_the_inbound_settings_is_refused_before_anything_is_stored(crm_factory, inbound, named):
    crm = crm_factory(settings=Settings(inbound=inbound))
    crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
    with pytest.raises(ValidationError) as refused:
        crm.inbound.receive("email", mail("Abmelden"))
    assert refused.value.field == named
    with crm.read(crm.system) as uow:
        assert uow.session.scalar(select(func.count()).select_from(InboundMessage)) == 0
        assert uow.session.scalar(select(func.count()).select_from(Consent)) == 0
        assert uow.session.scalar(select(func.count()).select_from(CaseEvent)) == 0


# -- on both databases ---------------------------------------------------------------------------


def test_a_case_opened_and_a_consent_revoked_by_replies_commit_with_the_message_on_both_databases(db_url, clock):
    """The case and the revocation are written through the services, joined to the reply's own
    transaction (savepoints on PostgreSQL too): all of it is there, or — when the reply's
    transaction fails after them — none of it."""
    crm = dealercrm.connect(db_url, clock=clock, settings=with_mail(Settings(inbound={"unknown_case": "open_case"})))
    try:
        crm.parties.add("dealer", crm.settings.home_dealer, by=crm.system)
        max_ = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
        crm.consents.grant(max_.id, "email", "marketing", source="shop form", by=crm.system)

        opened = crm.inbound.receive("email", mail("Der Trockner piept."))
        assert [c.id for c in cases_of(crm, max_.id)] == [opened.case_id]
        crm.inbound.receive("email", mail("Abmelden"))
        assert not crm.consents.may_contact(max_.id, "email", "marketing", by=crm.system)

        class FailsLate:  # a plugin that refuses the reply itself, after the case was opened inside it
            @staticmethod
            @dealercrm.hookimpl
            def dealercrm_check_event(event, uow):
                if isinstance(event, dealercrm.MessageReceived):
                    raise dealercrm.Vetoed("fails_late", "not today")

        crm.register(FailsLate(), "fails_late")
        erika = crm.customers.add("Erika Musterfrau", email="erika@example.org", by=crm.system)
        crm.consents.grant(erika.id, "email", "marketing", source="shop form", by=crm.system)
        for text in ("Die Spülmaschine ist undicht.", "STOP"):
            with pytest.raises(dealercrm.Vetoed):
                crm.inbound.receive("email", mail(text, sender="erika@example.org"))
        assert cases_of(crm, erika.id) == []  # rolled back with the reply
        assert crm.consents.may_contact(erika.id, "email", "marketing", by=crm.system)
        with crm.read(crm.system) as uow:  # the raw messages themselves were kept, stored first
            assert uow.session.scalar(select(func.count()).select_from(InboundMessage).where(
                InboundMessage.status == "received")) == 2
    finally:
        crm.close()
