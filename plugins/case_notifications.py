"""Telling the customer what changed on their case, what is asked of them, and until when.

Every hand-off of a service case gets a service message to the customer, queued after
the hand-off committed, from its committed history row, exactly once
(``dealercrm_queue_notices``, run by the dispatcher and the tick; see
``dealercrm.services.notices``), on the first written channel the customer allows then —
by default e-mail, then SMS, then WhatsApp. Consent is decided when the notice is queued
and again when it is sent. With the web portal (the built-in plugin ``portal``)
registered, every notice carries the customer's signed, expiring link to their case's
status page, made in the transaction that queues the notice.

**The words.** The subject names the case (so a reply finds its way back to it), says
what changed and what is asked: "Your case 1: please confirm the repair", "Your case 1:
now with the manufacturer Brioche, answer due by 4 Mar 2026". It follows the state the
case went to (and, where one state is reached for different reasons, the trigger: a
repair, a new unit and advice each ask for their own confirmation); a state of another
workflow is told by who holds the case now. Two notices of one case in a row never carry
the same subject: the second says it is an update. German and English, in the customer's
language (the customer field ``language``), else ``[plugins.case_notifications]
language``, else ``[dealercrm] language``; a language without texts gets English.

**The times** are the customer's: in the customer's time zone (the field ``time_zone``),
else the case's dealer's, with the zone's name ("4 Mar 2026, 10:30 CET",
"04.03.2026, 10:30 Uhr MEZ").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from sqlalchemy import func, select

from dealercrm import CaseHandedOver, CaseTransitioned, hookimpl
from dealercrm.db.batches import padded
from dealercrm.db.case_models import Case
from dealercrm.db.models import Customer, Party
from dealercrm.db.outbox_models import OutboxMessage
from dealercrm.services.contact_policy import decide_many

ORIGIN = "case_notifications"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@attrs.frozen
class NotificationSettings:
    """``[plugins.case_notifications]``: the written channels tried in order, and the language
    of the notices (empty: ``[dealercrm] language``)."""

    channels: list[str] = attrs.Factory(lambda: ["email", "sms", "whatsapp"])
    language: str = ""


#: (subject, what the message says) per state the case went to — "state:trigger" first, then
#: "state", then "*<kind of the holder>" for states of other workflows. ``{day}`` is the due
#: day, ``{due}`` the due time with the zone's name, ``{party}`` who holds the case now.
TEXTS = {
    "de": {
        "manufacturer_review": ("Ihr Fall {case_id}: jetzt beim Hersteller {party}, Antwort bis {day}",
                                "Der Hersteller {party} prüft Ihr Anliegen und antwortet bis spätestens {due}."),
        "technician_dispatch": ("Ihr Fall {case_id}: ein Techniker vereinbart einen Termin, bis {day}",
                                "Der Techniker-Service {party} vereinbart bis spätestens {due} einen Termin mit "
                                "Ihnen."),
        "waiting_for_parts": ("Ihr Fall {case_id}: Ersatzteile bestellt, erwartet bis {day}",
                              "Die Ersatzteile sind beim Hersteller {party} bestellt und sollen bis spätestens {due} "
                              "da sein."),
        "dealer_decision": ("Ihr Fall {case_id}: zurück bei Ihrem Händler, Entscheidung bis {day}",
                            "Ihr Händler {party} hat Ihr Anliegen wieder übernommen und entscheidet bis spätestens "
                            "{due}, wie es weitergeht."),
        "replacement": ("Ihr Fall {case_id}: ein Ersatzgerät kommt, bis {day}",
                        "Ihr Händler {party} liefert Ihnen bis spätestens {due} ein Ersatzgerät."),
        "dealer_repair": ("Ihr Fall {case_id}: Reparatur in der Werkstatt Ihres Händlers, bis {day}",
                          "Die Werkstatt Ihres Händlers {party} repariert das Gerät bis spätestens {due}."),
        "dealer_diagnosis:still_broken": ("Ihr Fall {case_id}: wieder geöffnet, Ihr Händler prüft erneut bis {day}",
                                          "Danke für Ihre Rückmeldung. Ihr Händler {party} sieht sich das Gerät "
                                          "erneut an, bis spätestens {due}."),
        "dealer_diagnosis": ("Ihr Fall {case_id}: Ihr Händler macht weiter, nächster Schritt bis {day}",
                             "Ihr Händler {party} kümmert sich weiter um Ihr Anliegen; der nächste Schritt erfolgt "
                             "bis spätestens {due}."),
        "waiting_for_customer": ("Ihr Fall {case_id}: eine Frage an Sie, bitte antworten Sie bis {day}",
                                 "Ihr Händler {party} braucht eine Auskunft von Ihnen, bevor es weitergeht. Bitte "
                                 "antworten Sie bis {due} auf diese Nachricht."),
        "awaiting_confirmation:report_fixed": ("Ihr Fall {case_id}: bitte bestätigen Sie die Reparatur",
                                               "Das Gerät wurde repariert. Bitte bestätigen Sie bis {due}, dass es "
                                               "wieder funktioniert — oder antworten Sie, wenn nicht."),
        "awaiting_confirmation:deliver_replacement": (
            "Ihr Fall {case_id}: bitte bestätigen Sie, dass das neue Gerät funktioniert",
            "Ihr Ersatzgerät ist geliefert. Bitte bestätigen Sie bis {due}, dass es funktioniert — oder antworten "
            "Sie, wenn nicht."),
        "awaiting_confirmation:solve_by_advice": ("Ihr Fall {case_id}: bitte bestätigen Sie, dass es jetzt "
                                                  "funktioniert",
                                                  "Wir hoffen, unser Rat hat geholfen. Bitte bestätigen Sie bis "
                                                  "{due}, dass es jetzt funktioniert — oder antworten Sie, wenn "
                                                  "nicht."),
        "awaiting_confirmation": ("Ihr Fall {case_id}: bitte bestätigen Sie, dass alles funktioniert",
                                  "Bitte bestätigen Sie bis {due}, dass alles funktioniert — oder antworten Sie, "
                                  "wenn nicht."),
        "*dealer": ("Ihr Fall {case_id}: jetzt bei Ihrem Händler {party}, nächster Schritt bis {day}",
                    "Ihr Anliegen liegt jetzt bei Ihrem Händler {party}; der nächste Schritt erfolgt bis spätestens "
                    "{due}."),
        "*manufacturer": ("Ihr Fall {case_id}: jetzt beim Hersteller {party}, Antwort bis {day}",
                          "Ihr Anliegen liegt jetzt beim Hersteller {party}; er antwortet bis spätestens {due}."),
        "*technician": ("Ihr Fall {case_id}: jetzt beim Techniker {party}, nächster Schritt bis {day}",
                        "Ihr Anliegen liegt jetzt beim Techniker-Service {party}; der nächste Schritt erfolgt bis "
                        "spätestens {due}."),
        "*customer": ("Ihr Fall {case_id}: Ihre Antwort wird gebraucht, bis {day}",
                      "Wir brauchen Ihre Rückmeldung, bevor es weitergeht: bitte bis {due}."),
        "*": ("Ihr Fall {case_id}: jetzt bei {party}", "Ihr Anliegen liegt jetzt bei {party}."),
        "question": "\n\nDie Frage: {question}",
        "again": " (Aktualisierung {version})",
        "open": "offen",
        "body": ("Guten Tag,\n\nIhr Fall {case_id}: {line}{question}\n\nAntworten Sie einfach auf diese Nachricht, wenn etwas nicht "
                 "stimmt.\n\nIhr Händler {dealer}"),
        "link": "\n\nWer Ihren Fall gerade hat und bis wann, sehen Sie jederzeit hier: {url}",
        "promise": "\n\nIhr Anliegen ist spätestens am {resolved_by} erledigt.",
    },
    "en": {
        "manufacturer_review": ("Your case {case_id}: now with the manufacturer {party}, answer due by {day}",
                                "The manufacturer {party} is reviewing your request and will answer by {due} at the "
                                "latest."),
        "technician_dispatch": ("Your case {case_id}: a technician books a visit with you by {day}",
                                "The technician service {party} will arrange a visit with you by {due} at the "
                                "latest."),
        "waiting_for_parts": ("Your case {case_id}: parts ordered, expected by {day}",
                              "The parts are on order from the manufacturer {party} and due by {due} at the latest."),
        "dealer_decision": ("Your case {case_id}: back with your dealer, decision by {day}",
                            "Your dealer {party} has taken your request back and will decide how to go on by {due} "
                            "at the latest."),
        "replacement": ("Your case {case_id}: a replacement unit is coming, by {day}",
                        "Your dealer {party} will deliver a replacement unit by {due} at the latest."),
        "dealer_repair": ("Your case {case_id}: repair in your dealer's workshop, by {day}",
                          "The workshop of your dealer {party} will repair the unit by {due} at the latest."),
        "dealer_diagnosis:still_broken": ("Your case {case_id}: reopened, your dealer looks again by {day}",
                                          "Thank you for telling us. Your dealer {party} will look at it again, by "
                                          "{due} at the latest."),
        "dealer_diagnosis": ("Your case {case_id}: your dealer goes on, next step by {day}",
                             "Your dealer {party} carries on with your request; the next step is due by {due} at the "
                             "latest."),
        "waiting_for_customer": ("Your case {case_id}: a question for you, please answer by {day}",
                                 "Your dealer {party} needs to know something from you before going on. Please reply "
                                 "to this message by {due}."),
        "awaiting_confirmation:report_fixed": ("Your case {case_id}: please confirm the repair",
                                               "The unit has been repaired. Please confirm by {due} that it works "
                                               "again, or reply if it does not."),
        "awaiting_confirmation:deliver_replacement": ("Your case {case_id}: please confirm the new unit works",
                                                      "Your replacement unit has been delivered. Please confirm by "
                                                      "{due} that it works, or reply if it does not."),
        "awaiting_confirmation:solve_by_advice": ("Your case {case_id}: please confirm it works now",
                                                  "We hope our advice solved it. Please confirm by {due} that it "
                                                  "works now, or reply if it does not."),
        "awaiting_confirmation": ("Your case {case_id}: please confirm everything works",
                                  "Please confirm by {due} that everything works, or reply if it does not."),
        "*dealer": ("Your case {case_id}: now with your dealer {party}, next step by {day}",
                    "Your request is now with your dealer {party}; the next step is due by {due} at the latest."),
        "*manufacturer": ("Your case {case_id}: now with the manufacturer {party}, answer due by {day}",
                          "Your request is now with the manufacturer {party}, who answers by {due} at the latest."),
        "*technician": ("Your case {case_id}: now with the technician {party}, next step by {day}",
                        "Your request is now with the technician service {party}; the next step is due by {due} at "
                        "the latest."),
        "*customer": ("Your case {case_id}: your answer is needed by {day}",
                      "We need to hear from you before going on: please reply by {due}."),
        "*": ("Your case {case_id}: now with {party}", "Your request is now with {party}."),
        "question": "\n\nThe question: {question}",
        "again": " (update {version})",
        "open": "open",
        "body": ("Hello,\n\nYour case {case_id}: {line}{question}\n\nJust reply to this message if anything is wrong.\n\n"
                 "Your dealer {dealer}"),
        "link": "\n\nWho has your case and until when, at any time: {url}",
        "promise": "\n\nYour request will be resolved by {resolved_by} at the latest.",
    },
}
#: German readers know central European time by its German names
ZONE_NAMES = {"de": {"CET": "MEZ", "CEST": "MESZ"}}


def words_for(state: str, trigger: str | None, kind: str | None, texts: dict) -> tuple[str, str]:
    """(subject, line) for a hand-off into ``state`` by ``trigger``, held by ``kind`` now."""
    for key in (f"{state}:{trigger}", state, f"*{kind}", "*"):
        if key in texts:
            return texts[key]
    raise AssertionError("every language has '*'")  # pragma: no cover


def zone_of(*names: str | None) -> ZoneInfo:
    """The first of ``names`` that is a time zone (the customer's, the dealer's), else Berlin."""
    for name in names:
        if name:
            try:
                return ZoneInfo(name)
            except (ValueError, ZoneInfoNotFoundError):
                continue
    return ZoneInfo("Europe/Berlin")


def local_times(at: datetime | None, zone: ZoneInfo, language: str, texts: dict) -> tuple[str, str]:
    """(the day, the day and time with the zone's name) of ``at`` where the customer lives."""
    if at is None:
        return texts["open"], texts["open"]
    local = at.astimezone(zone)
    abbreviation = local.tzname() or zone.key
    if abbreviation[:1] in "+-":  # a zone without a name of its own ("+04"): say what it is
        abbreviation = f"UTC{abbreviation}"
    abbreviation = ZONE_NAMES.get(language, {}).get(abbreviation, abbreviation)
    if language == "de":
        day = f"{local:%d.%m.%Y}"
        return day, f"{day}, {local:%H:%M} Uhr {abbreviation}"
    day = f"{local.day} {MONTHS[local.month - 1]} {local.year}"
    return day, f"{day}, {local:%H:%M} {abbreviation}"


@hookimpl
def dealercrm_queue_notices(events, uow):
    handoffs = sorted((event for event in events if isinstance(event, CaseHandedOver)),
                      key=lambda e: (e.case_id, e.version or 0))  # a case's notices in the order they happened
    if not handoffs:
        return
    crm = uow.crm
    settings = crm.settings.plugin("case_notifications")
    order = settings.get("channels", ["email", "sms", "whatsapp"])
    channels = [crm.channels[name] for name in order if name in crm.channels]
    configured = settings.get("language") or crm.settings.language
    if not channels:
        return
    # what moved each case there (the trigger, a question asked): its CaseTransitioned of the same version
    moved = {(e.case_id, e.version): e for e in events if isinstance(e, CaseTransitioned)}
    conn = uow.connection
    case_ids = padded(sorted({e.case_id for e in handoffs}))  # IN lists padded to a few lengths
    # per case, for the whole batch: its dealer's name and zone, the customer's zone and language
    dealer = Party.__table__.alias("dealer")
    about = {row.id: row for row in conn.execute(
        select(Case.id, dealer.c.name, dealer.c.time_zone.label("dealer_zone"), Customer.time_zone,
               Customer.language)
        .join(dealer, dealer.c.id == Case.dealer_party_id).join(Customer, Customer.id == Case.customer_id)
        .where(Case.id.in_(case_ids)))}
    # the subject each case's customer was told last, so the next one never repeats it
    latest = (select(func.max(OutboxMessage.id)).where(OutboxMessage.origin == ORIGIN,
                                                      OutboxMessage.case_id.in_(case_ids))
              .group_by(OutboxMessage.case_id))
    told = dict(conn.execute(select(OutboxMessage.case_id, OutboxMessage.subject)
                             .where(OutboxMessage.id.in_(latest.scalar_subquery()))).all())
    to = sorted({e.to_party_id for e in handoffs} - {None})
    parties = dict(conn.execute(select(Party.id, Party.name).where(Party.id.in_(padded(to)))).all()) if to else {}
    # consent and the contact budget as they stand now, every channel of every customer at once
    decisions = iter(decide_many(crm, conn, [(e.customer_id, ch, "service") for e in handoffs for ch in channels],
                                 uow.now, count_budget=True))
    portal = crm.plugins.get_plugin("portal")  # a plugin may be blocked: then the notices go without a link
    status_link = getattr(portal, "status_link", None)
    promises = crm.cases.first_handoff_promises(uow, handoffs)  # the first hand-off says: resolved by when
    messages = []
    for event in handoffs:
        mine = [next(decisions) for _ in channels]
        case = about.get(event.case_id)
        language = next((lang for lang in (case and case.language, configured) if lang in TEXTS), "en")
        texts = TEXTS[language]
        transitioned = moved.get((event.case_id, event.version))
        day, due = local_times(event.due_at, zone_of(case and case.time_zone, case and case.dealer_zone),
                               language, texts)
        subject, line = words_for(event.state, transitioned.trigger if transitioned else None, event.to_kind, texts)
        fields = dict(case_id=event.case_id, party=parties.get(event.to_party_id) or "?", day=day, due=due,
                      dealer=case.name if case else "")
        subject = subject.format(**fields)
        if told.get(event.case_id) == subject:  # the same words twice in a row would read as a resend
            subject += texts["again"].format(version=event.version or "")
        told[event.case_id] = subject
        question = (transitioned.data or {}).get("question") if transitioned else None
        body = texts["body"].format(case_id=event.case_id, line=line.format(**fields), dealer=fields["dealer"],
                                    question=texts["question"].format(question=question) if question else "")
        # the first written channel the customer allows; if none, the first anyway, so the
        # message is recorded as suppressed with why
        chosen, decision = next(((c, d) for c, d in zip(channels, mine) if d.allowed), (channels[0], mine[0]))
        if (event.case_id, event.version) in promises:  # the first hand-off says: resolved by when
            _, promised = local_times(promises[event.case_id, event.version],
                                      zone_of(case and case.time_zone, case and case.dealer_zone), language, texts)
            body += texts["promise"].format(resolved_by=promised)
        link = status_link(uow, event.case_id) if status_link else None
        if link:
            body += texts["link"].format(url=link)
        messages.append(dict(channel=chosen.name, purpose="service", customer_id=event.customer_id,
                             subject=subject, body=body, origin=ORIGIN, case_id=event.case_id,
                             data={"case_id": event.case_id, "state": event.state, "template": "case_handed_over"},
                             decision=decision))
    crm.outbox.enqueue_many(uow, messages)


@hookimpl
def dealercrm_register_settings():
    return {"case_notifications": NotificationSettings}
