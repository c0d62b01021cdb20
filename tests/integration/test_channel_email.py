"""The e-mail channel against a real SMTP server (aiosmtpd on 127.0.0.1), in and out."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from dealercrm import ValidationError
from dealercrm.channels import OutgoingMessage
from dealercrm.db.models import Task
from dealercrm.plugins.channel_email import EmailSettings, message_id
from dealercrm.services.dispatcher import claim, send_one
from dealercrm.settings import OutboxSettings, Settings

from smtp_server import SmtpServer, server_context, tls_files

ENV = ("DEALERCRM_SMTP_HOST", "DEALERCRM_SMTP_PORT", "DEALERCRM_SMTP_USER", "DEALERCRM_SMTP_PASSWORD",
       "DEALERCRM_SMTP_FROM")


@pytest.fixture(autouse=True)
def _no_smtp_environment(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail_crm(crm_factory, smtp):
    """An application whose e-mail channel points at ``smtp``; build others with ``make``."""

    def make(server=smtp, language="de", outbox=OutboxSettings(), **email):
        app = crm_factory(settings=Settings(language=language, outbox=outbox,
                                            plugins={"channel_email": server.settings | email}))
        app.parties.add("dealer", app.settings.home_dealer, by=app.system)
        return app

    app = make()
    app.make = make
    return app


def add_max(crm, email="max@example.org"):
    return crm.customers.add("Max Mustermann", email=email, by=crm.system)


def hand_over_a_case(crm, customer):
    """A washing machine case forwarded to the manufacturer: a hand-off the customer is told of."""
    dealer = crm.parties.list(kind="dealer", by=crm.system)[0]
    maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", by=crm.system)
    lea = crm.parties.add_actor(dealer.id, "Lea Weber", "service", by=crm.system)
    washer = crm.products.add("WM-8", "WashPro 8", manufacturer_party_id=maker.id, by=crm.system)
    asset = crm.assets.record(customer.id, washer.id, serial_number="S1", by=crm.system)
    case = crm.cases.open(customer.id, "washes badly", asset_id=asset.id, by=lea.id)
    crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    crm.cases.fire(case.id, "forward_to_manufacturer", by=lea.id)
    return case, lea


def raw_mail(sender="max@example.org", subject="Frage", body="Hallo", extra=""):
    return (f"From: Max Mustermann <{sender}>\r\nTo: service@autohaus.example\r\nSubject: {subject}\r\n"
            f"Message-ID: <reply-1@mail.example.org>\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n"
            f"\r\n{body}\r\n").encode()


# -- sending -------------------------------------------------------------------------------------
def test_a_queued_service_message_arrives_with_its_sender_recipient_subject_and_message_id(mail_crm, smtp):
    max_ = add_max(mail_crm)
    msg = mail_crm.outbox.send("email", "service", "Ihre Waschmaschine ist fertig.", subject="Abholung",
                               customer_id=max_.id, by=mail_crm.system)
    assert mail_crm.outbox.dispatch().sent == 1
    [got] = smtp.received
    assert got.rcpt_tos == ["max@example.org"] and got.mail_from == "service@autohaus.example"
    assert str(got.message["From"]) == "Autohaus Beispiel <service@autohaus.example>"
    assert str(got.message["To"]) == "max@example.org" and got.subject == "Abholung"
    assert got.message_id == f"<{msg.idempotency_key}@autohaus.example>"
    assert got.message["X-Dealercrm-Idempotency-Key"] == msg.idempotency_key
    assert got.text().startswith("Ihre Waschmaschine ist fertig.")
    row = mail_crm.outbox.get(msg.id, by=mail_crm.system)
    assert row.status == "sent" and row.provider_id == got.message_id
    assert "sent: Abholung" in [i.summary for i in mail_crm.interactions.timeline(max_.id, by=mail_crm.system)]


def test_a_server_that_names_its_queue_id_gives_the_provider_id(mail_crm):
    with SmtpServer(queue_ids=True) as postfix:
        crm = mail_crm.make(postfix)
        msg = crm.outbox.send("email", "service", "Ihr Termin", customer_id=add_max(crm).id, by=crm.system)
        crm.outbox.dispatch()
        assert crm.outbox.get(msg.id, by=crm.system).provider_id == "Q1"


def test_a_case_hand_off_is_mailed_in_german_with_the_case_template(mail_crm, smtp):
    case, _ = hand_over_a_case(mail_crm, add_max(mail_crm))
    mail_crm.outbox.dispatch()
    [got] = [r for r in smtp.received if "Brioche" in r.subject]
    assert got.subject == f"Ihr Fall {case.id}: jetzt beim Hersteller Brioche Hausgeräte, Antwort bis 04.03.2026"
    text, html = got.text(), got.html()
    assert "Der Hersteller Brioche Hausgeräte prüft Ihr Anliegen und antwortet bis spätestens 04.03.2026, " in text
    assert f"Ihre Fallnummer: {case.id}" in text and "Betreff unverändert" in text
    assert f"<strong>Ihre Fallnummer: {case.id}</strong>" in html and '<html lang="de">' in html
    assert got.message["Auto-Submitted"] == "auto-generated"


def test_an_english_installation_mails_in_english_and_marketing_carries_the_opt_out_note(mail_crm, smtp):
    crm = mail_crm.make(language="en")
    max_ = add_max(crm)
    case, _ = hand_over_a_case(crm, max_)
    crm.consents.grant(max_.id, "email", "marketing", source="web form", by=crm.system)
    crm.outbox.send("email", "marketing", "Winter tyres at 20% off.", subject="Winter is coming", customer_id=max_.id, by=crm.system)
    crm.outbox.dispatch()
    handed = next(r for r in smtp.received if "Brioche" in r.subject)
    assert handed.subject == f"Your case {case.id}: now with the manufacturer Brioche Hausgeräte, answer due by 4 Mar 2026"
    assert f"Your case number: {case.id}" in handed.text() and "unsubscribe" not in handed.text()
    offer = next(r for r in smtp.received if r.subject == "Winter is coming")
    assert 'reply with "unsubscribe"' in offer.text().lower() and "unsubscribe" in offer.html()


def test_a_message_may_ask_for_its_own_language(mail_crm, smtp):
    max_ = add_max(mail_crm)
    mail_crm.consents.grant(max_.id, "email", "marketing", source="web form", by=mail_crm.system)
    mail_crm.outbox.send("email", "marketing", "Spring offer", customer_id=max_.id, data={"language": "en"}, by=mail_crm.system)
    mail_crm.outbox.dispatch()
    [got] = smtp.received
    assert got.subject == "Message from Autohaus Beispiel" and "agreed to hear from us" in got.text()


def test_the_html_part_escapes_what_the_body_holds_and_the_text_part_keeps_it(mail_crm, smtp):
    mail_crm.outbox.send("email", "service", "Preis <b>&</b> Termin\n<script>alert(1)</script>",
                         customer_id=add_max(mail_crm).id, by=mail_crm.system)
    mail_crm.outbox.dispatch()
    [got] = smtp.received
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in got.html() and "<script>" not in got.html()
    assert "Preis &lt;b&gt;&amp;&lt;/b&gt; Termin<br>" in got.html()
    assert "<script>alert(1)</script>" in got.text()


def test_a_subject_with_a_line_break_cannot_add_headers(mail_crm, smtp):
    mail_crm.outbox.send("email", "service", "hallo", subject="Termin\r\nBcc: someone@evil.example",
                         customer_id=add_max(mail_crm).id, by=mail_crm.system)
    mail_crm.outbox.dispatch()
    [got] = smtp.received
    assert got.message["Bcc"] is None and got.rcpt_tos == ["max@example.org"]
    assert got.subject == "Termin Bcc: someone@evil.example"


def test_a_resend_after_a_crash_carries_the_same_message_id(mail_crm, smtp, clock):
    msg = mail_crm.outbox.send("email", "service", "Ihr Termin", customer_id=add_max(mail_crm).id, by=mail_crm.system)
    ready, _ = claim(mail_crm, 10)
    assert send_one(mail_crm, ready[0]).status == "delivered"  # sent; then the process died before recording
    mail_crm.channels["email"].close()
    clock.advance(seconds=mail_crm.settings.outbox.lease_seconds + 1)
    assert mail_crm.outbox.dispatch().sent == 1
    first, second = smtp.received
    assert first.message_id == second.message_id == message_id(msg.idempotency_key, "autohaus.example")
    assert first.message["X-Dealercrm-Idempotency-Key"] == second.message["X-Dealercrm-Idempotency-Key"]
    assert first.text() == second.text()


def test_one_connection_carries_a_whole_dispatch_run_and_is_closed_at_its_end(mail_crm, smtp):
    crm = mail_crm.make(outbox=OutboxSettings(batch_size=10))
    customers = [crm.customers.add(f"Kunde {n}", email=f"kunde{n}@example.org", by=crm.system) for n in range(25)]
    for c in customers:
        crm.outbox.send("email", "service", "Ihr Termin", customer_id=c.id, by=crm.system)
    report = crm.outbox.dispatch()
    assert report.sent == 25 and report.batches == 3
    assert smtp.connections == 1 and len(smtp.message_ids()) == 25
    assert crm.channels["email"]._smtp is None  # QUIT at the end of the run
    crm.outbox.send("email", "service", "Noch etwas", customer_id=customers[0].id, by=crm.system)
    crm.outbox.dispatch()
    assert smtp.connections == 2


def test_a_connection_the_server_dropped_while_idle_is_replaced_without_a_failure(mail_crm, smtp):
    channel = mail_crm.channels["email"]

    def message(n):
        return OutgoingMessage(id=n, idempotency_key=f"dcrm-idle-{n}", channel="email", purpose="service",
                               recipient="max@example.org", subject=f"Nachricht {n}", body="hallo", data={},
                               customer_id=None, case_id=None, attempt=1)

    assert channel.send(message(1)).status == "delivered"
    smtp.stop()  # the server restarts (or times the idle connection out) between two messages
    smtp.start()
    assert channel.send(message(2)).status == "delivered"
    channel.close()
    assert [r.subject for r in smtp.received] == ["Nachricht 1", "Nachricht 2"] and smtp.connections == 2


def test_a_recipient_the_server_does_not_know_fails_permanently_and_becomes_a_task(mail_crm, smtp):
    smtp.refuse("max@example.org")
    max_ = add_max(mail_crm)
    msg = mail_crm.outbox.send("email", "service", "Ihr Termin", customer_id=max_.id, by=mail_crm.system)
    other = mail_crm.outbox.send("email", "service", "Ihr Termin",
                                 customer_id=mail_crm.customers.add("Erika", email="erika@example.org", by=mail_crm.system).id, by=mail_crm.system)
    report = mail_crm.outbox.dispatch()
    assert report.failed == 1 and report.sent == 1 and smtp.connections == 1  # the connection goes on
    row = mail_crm.outbox.get(msg.id, by=mail_crm.system)
    assert row.status == "failed" and "RCPT TO max@example.org: 550 5.1.1" in row.reason
    assert mail_crm.outbox.get(other.id, by=mail_crm.system).status == "sent"
    with mail_crm.read(mail_crm.system) as uow:
        assert uow.session.scalars(select(Task).where(Task.origin_ref == f"outbox:{msg.id}")).one()


def test_addresses_with_umlauts_reach_the_server(mail_crm, smtp):
    mail_crm.outbox.send("email", "service", "Ihr Termin", customer_id=add_max(mail_crm, "jörg@müller.example").id, by=mail_crm.system)
    assert mail_crm.outbox.dispatch().sent == 1
    [got] = smtp.received
    assert got.rcpt_tos == ["jörg@xn--mller-kva.example"]


# -- security and settings ----------------------------------------------------------------------
@pytest.fixture
def certificate(tmp_path):
    return tls_files(tmp_path)


def test_starttls_and_login_reach_a_server_that_requires_both(mail_crm, certificate):
    cert, key = certificate
    with SmtpServer(starttls=server_context(cert, key), credentials=("crm", "s3cret!")) as secure:
        crm = mail_crm.make(secure, starttls=True, ca_file=str(cert), username="crm", password="s3cret!")
        crm.outbox.send("email", "service", "Ihr Termin", customer_id=add_max(crm).id, by=crm.system)
        assert crm.outbox.dispatch().sent == 1
        [got] = secure.received
        assert got.login == "crm" and got.tls


def test_implicit_tls_is_used_on_the_smtps_port(mail_crm, certificate):
    cert, key = certificate
    with SmtpServer(implicit_tls=server_context(cert, key)) as smtps:
        crm = mail_crm.make(smtps, ssl=True, ca_file=str(cert))
        crm.outbox.send("email", "service", "Ihr Termin", customer_id=add_max(crm).id, by=crm.system)
        assert crm.outbox.dispatch().sent == 1 and len(smtps.received) == 1


def test_a_wrong_password_is_retried_and_never_shown(mail_crm, certificate, caplog):
    cert, key = certificate
    caplog.set_level(logging.DEBUG)
    with SmtpServer(starttls=server_context(cert, key), credentials=("crm", "s3cret!")) as secure:
        crm = mail_crm.make(secure, starttls=True, ca_file=str(cert), username="crm", password="WrongPass#1")
        msg = crm.outbox.send("email", "service", "Ihr Termin", customer_id=add_max(crm).id, by=crm.system)
        assert crm.outbox.dispatch().retried == 1 and secure.received == []
        row = crm.outbox.get(msg.id, by=crm.system)
        assert row.status == "pending" and "AUTH as crm" in row.reason and "535" in row.reason
        channel = crm.channels["email"]
        shown = [row.reason, repr(channel), repr(channel.settings), str(channel.settings), caplog.text,
                 *(i.summary for i in crm.interactions.timeline(msg.customer_id, by=crm.system))]
        assert not any("WrongPass#1" in s for s in shown)


def test_starttls_is_never_given_up_for_plain_text(mail_crm, smtp):
    crm = mail_crm.make(starttls=True, port=smtp.port)  # this server offers no STARTTLS
    msg = crm.outbox.send("email", "service", "Ihr Termin", customer_id=add_max(crm).id, by=crm.system)
    assert crm.outbox.dispatch().retried == 1 and smtp.received == []
    assert "STARTTLS" in crm.outbox.get(msg.id, by=crm.system).reason


def test_settings_come_from_the_plugin_table_and_the_environment_wins():
    table = {"host": "mail.autohaus.example", "starttls": True, "username": "file-user", "password": "file-pw",
             "from_address": "service@autohaus.example", "reply_to": "werkstatt@autohaus.example"}
    from_file = EmailSettings.load(table, {}, home_dealer="Autohaus Beispiel", language="en")
    assert (from_file.host, from_file.port, from_file.username, from_file.from_name, from_file.language) == (
        "mail.autohaus.example", 587, "file-user", "Autohaus Beispiel", "en")
    assert from_file.message_id_domain == "autohaus.example" and from_file.reply_to == "werkstatt@autohaus.example"
    env = {"DEALERCRM_SMTP_HOST": "smtp.env.example", "DEALERCRM_SMTP_PORT": "2525", "DEALERCRM_SMTP_USER": "env-user",
           "DEALERCRM_SMTP_PASSWORD": "env-pw", "DEALERCRM_SMTP_FROM": "Werkstatt <werkstatt@env.example>"}
    from_env = EmailSettings.load(table, env)
    assert (from_env.host, from_env.port, from_env.username, from_env.password) == (
        "smtp.env.example", 2525, "env-user", "env-pw")
    assert (from_env.from_address, from_env.from_name, from_env.message_id_domain) == (
        "werkstatt@env.example", "Werkstatt", "env.example")
    assert "env-pw" not in repr(from_env)
    assert EmailSettings.load({"ssl": True}, {}).port == 465 and EmailSettings.load({}, {}).port == 25


@pytest.mark.parametrize("table, complaint", [
    ({"hots": "mail.example"}, "plugins.channel_email.hots"),
    ({"ssl": True, "starttls": True}, "exclude each other"),
    ({"port": "twenty-five"}, "must be numbers"),
    ({"from_address": "service"}, "is not an e-mail address"),
])
def test_wrong_settings_are_refused_naming_the_setting(table, complaint):
    with pytest.raises(ValidationError, match=complaint):
        EmailSettings.load(table, {})


def test_the_environment_configures_the_registered_channel(crm_factory, monkeypatch):
    monkeypatch.setenv("DEALERCRM_SMTP_HOST", "smtp.env.example")
    monkeypatch.setenv("DEALERCRM_SMTP_PASSWORD", "pw-from-env")
    crm = crm_factory(settings=Settings(plugins={"channel_email": {"host": "file.example", "port": 2525}}))
    channel = crm.channels["email"]
    assert (channel.settings.host, channel.settings.port, channel.settings.password) == (
        "smtp.env.example", 2525, "pw-from-env")
    assert crm.channel_owners["email"] == "channel_email"
    assert (channel.purposes, channel.consent_channel, channel.address_field) == (
        frozenset({"service", "marketing"}), "email", "email")


# -- consent ------------------------------------------------------------------------------------
def test_a_revocation_while_queued_means_nothing_reaches_the_server(mail_crm, smtp, clock):
    max_ = add_max(mail_crm)
    mail_crm.consents.grant(max_.id, "email", "marketing", source="web form", by=mail_crm.system)
    queued = [mail_crm.outbox.send("email", purpose, "Angebot", customer_id=max_.id, by=mail_crm.system)
              for purpose in ("marketing", "service")]
    clock.advance(minutes=5)
    mail_crm.consents.revoke(max_.id, "email", "marketing", source="unsubscribe link", by=mail_crm.system)
    mail_crm.consents.revoke(max_.id, "email", "service", source="phone call", by=mail_crm.system)
    assert mail_crm.outbox.dispatch().suppressed == 2
    assert smtp.received == [] and smtp.connections == 0
    assert [mail_crm.outbox.get(m.id, by=mail_crm.system).status for m in queued] == ["suppressed", "suppressed"]


# -- receiving ----------------------------------------------------------------------------------
def test_an_email_from_a_known_customer_lands_on_their_timeline(mail_crm):
    max_ = add_max(mail_crm)
    got = mail_crm.inbound.receive("email", raw_mail(subject="Frage zur Rechnung", body="Ist die Rechnung schon raus?"))
    assert got.status == "attached" and got.customer_id == max_.id and got.sender == "max@example.org"
    assert "Frage zur Rechnung: Ist die Rechnung schon raus?" in [
        i.summary for i in mail_crm.interactions.timeline(max_.id, by=mail_crm.system)]


def test_a_still_broken_reply_reopens_a_case_awaiting_confirmation_at_the_dealer(mail_crm):
    max_ = add_max(mail_crm)
    lea = mail_crm.parties.add_actor(mail_crm.parties.list(kind="dealer", by=mail_crm.system)[0].id, "Lea Weber", "service", by=mail_crm.system)
    case = mail_crm.cases.open(max_.id, "washes badly", by=lea.id)
    mail_crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    mail_crm.cases.fire(case.id, "solve_by_advice", by=lea.id)
    assert mail_crm.cases.get(case.id, by=mail_crm.system).state == "awaiting_confirmation"
    got = mail_crm.inbound.receive("email", raw_mail(
        subject=f"Re: Ihr Fall {case.id}: jetzt bei Ihnen",
        body="Guten Tag,\r\ndie Maschine ist immer noch kaputt.\r\n\r\n> Bitte lassen Sie den Betreff unverändert"))
    assert got.status == "attached" and got.case_id == case.id and got.fired_trigger == "still_broken"
    assert mail_crm.cases.get(case.id, by=mail_crm.system).state == "dealer_diagnosis"


def test_a_reply_without_the_case_number_finds_its_case_by_in_reply_to(mail_crm, smtp):
    max_ = add_max(mail_crm)
    case, _ = hand_over_a_case(mail_crm, max_)
    mail_crm.outbox.dispatch()
    ours = next(r for r in smtp.received if "Brioche" in r.subject).message_id
    got = mail_crm.inbound.receive("email", raw_mail(
        subject="Re: Ihre Nachricht", body="Danke!", extra=f"In-Reply-To: {ours}\r\nReferences: {ours}\r\n"))
    assert got.case_id == case.id and got.status == "attached"


def test_quoted_lines_of_earlier_mails_do_not_fire_triggers_again(mail_crm):
    max_ = add_max(mail_crm)
    lea = mail_crm.parties.add_actor(mail_crm.parties.list(kind="dealer", by=mail_crm.system)[0].id, "Lea Weber", "service", by=mail_crm.system)
    case = mail_crm.cases.open(max_.id, "washes badly", by=lea.id)
    mail_crm.cases.fire(case.id, "start_diagnosis", by=lea.id)
    mail_crm.cases.fire(case.id, "solve_by_advice", by=lea.id)
    got = mail_crm.inbound.receive("email", raw_mail(
        subject=f"Re: Ihr Fall {case.id}", body="Jetzt geht alles, danke!\r\n> sie ist immer noch kaputt"))
    assert got.fired_trigger is None and mail_crm.cases.get(case.id, by=mail_crm.system).state == "awaiting_confirmation"


def test_an_html_only_mail_is_read_as_text(mail_crm):
    max_ = add_max(mail_crm)
    raw = ("From: max@example.org\r\nSubject: Foto\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           "<html><style>p{color:red}</style><body><p>Hier das <b>Typenschild</b>&nbsp;&amp; ein Foto.</p>"
           "</body></html>\r\n").encode()
    got = mail_crm.inbound.receive("email", raw)
    talk = mail_crm.interactions.timeline(max_.id, by=mail_crm.system)[0]
    assert got.status == "attached" and talk.summary == "Foto: Hier das Typenschild & ein Foto."


def test_an_unknown_sender_waits_in_triage_as_a_task(mail_crm):
    got = mail_crm.inbound.receive("email", raw_mail(sender="stranger@example.net", subject="Angebot?"))
    assert got.status == "triage" and got.customer_id is None and got.sender == "stranger@example.net"
    [task] = [t for t in mail_crm.tasks.open(by=mail_crm.system) if t.origin_ref == f"inbound:{got.id}"]
    assert "unknown sender stranger@example.net" in task.title


@pytest.mark.parametrize("garbage, error", [
    (b"\x00\x01\x02 this is not an e-mail at all", "no From header"),
    (b"From: nobody-here\r\nSubject: x\r\n\r\nhi", "holds no address"),
])
def test_garbage_is_stored_as_malformed_with_the_parse_error(mail_crm, garbage, error):
    got = mail_crm.inbound.receive("email", garbage)
    assert got.status == "malformed" and error in got.parse_error and "ValueError" in got.parse_error
    assert got.raw == garbage.decode("utf-8", "replace")
    assert got.id in [m.id for m in mail_crm.inbound.triage(by=mail_crm.system)]
