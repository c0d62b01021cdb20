"""Telling the customer who has their case now, and until when.

Every hand-off of a service case gets a service message to the customer, queued after
the hand-off committed, from its committed history row, exactly once
(``dealercrm_queue_notices``, run by the dispatcher and the tick; see
``dealercrm.services.notices``), on the first written channel the customer allows then —
by default e-mail, then SMS, then WhatsApp. The subject names the case, so a reply finds
its way back to it. Consent is decided when the notice is queued and again when it is sent.
With the web portal (the built-in plugin ``portal``) registered, every notice carries
the customer's signed, expiring link to their case's status page, made in the
transaction that queues the notice.
"""

from __future__ import annotations

from sqlalchemy import select

from dealercrm import CaseHandedOver, hookimpl
from dealercrm.db.batches import padded
from dealercrm.db.case_models import Case
from dealercrm.db.models import Party
from dealercrm.services.contact_policy import decide_many

TEXTS = {
    "de": {
        "subject": "Ihr Fall {case_id}: jetzt bei {party}",
        "body": ("Guten Tag,\n\nIhr Serviceanliegen (Fall {case_id}) liegt jetzt bei {party} ({role}). "
                 "Der nächste Schritt erfolgt bis spätestens {due}.\n\nAntworten Sie einfach auf diese Nachricht, "
                 "wenn etwas nicht stimmt.\n\nIhr Händler {dealer}"),
        "roles": {"dealer": "Ihr Händler", "manufacturer": "der Hersteller", "technician": "der Techniker",
                  "customer": "Sie: wir warten auf Ihre Rückmeldung"},
        "link": "\n\nWer Ihren Fall gerade hat und bis wann, sehen Sie jederzeit hier: {url}",
        "promise": "\n\nIhr Anliegen ist spätestens am {resolved_by} erledigt.",
    },
    "en": {
        "subject": "Your case {case_id}: now with {party}",
        "body": ("Hello,\n\nyour service request (case {case_id}) is now with {party} ({role}). "
                 "The next step is due by {due} at the latest.\n\nJust reply to this message if anything is "
                 "wrong.\n\nYour dealer {dealer}"),
        "roles": {"dealer": "your dealer", "manufacturer": "the manufacturer", "technician": "the technician",
                  "customer": "you: we are waiting for your answer"},
        "link": "\n\nWho has your case and until when, at any time: {url}",
        "promise": "\n\nYour request will be resolved by {resolved_by} at the latest.",
    },
}


@hookimpl
def dealercrm_queue_notices(events, uow):
    handoffs = [event for event in events if isinstance(event, CaseHandedOver)]
    if not handoffs:
        return
    crm = uow.crm
    settings = crm.settings.plugin("case_notifications")
    order = settings.get("channels", ["email", "sms", "whatsapp"])
    channels = [crm.channels[name] for name in order if name in crm.channels]
    language = settings.get("language", crm.settings.language)
    texts = TEXTS.get(language, TEXTS["en"])
    if not channels:
        return
    conn = uow.connection
    # the names the messages speak of, for the whole batch: each case's dealer, and whom it went to
    # (IN lists padded to a few lengths: dealercrm.db.batches)
    dealers = dict(conn.execute(select(Case.id, Party.name).join(Party, Party.id == Case.dealer_party_id)
                                .where(Case.id.in_(padded(sorted({e.case_id for e in handoffs}))))).all())
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
        fields = dict(case_id=event.case_id, party=parties.get(event.to_party_id) or "?",
                      role=texts["roles"].get(event.to_kind or "", event.to_kind or ""),
                      due=f"{event.due_at:%d.%m.%Y %H:%M} UTC" if event.due_at else "—",
                      dealer=dealers.get(event.case_id) or "")
        # the first written channel the customer allows; if none, the first anyway, so the
        # message is recorded as suppressed with why
        chosen, decision = next(((c, d) for c, d in zip(channels, mine) if d.allowed), (channels[0], mine[0]))
        body = texts["body"].format(**fields)
        if (event.case_id, event.version) in promises:
            promised = promises[event.case_id, event.version]
            body += texts["promise"].format(resolved_by=f"{promised:%d.%m.%Y %H:%M} UTC")
        link = status_link(uow, event.case_id) if status_link else None
        if link:
            body += texts["link"].format(url=link)
        messages.append(dict(channel=chosen.name, purpose="service", customer_id=event.customer_id,
                             subject=texts["subject"].format(**fields), body=body,
                             origin="case_notifications", case_id=event.case_id,
                             data={"case_id": event.case_id, "state": event.state, "template": "case_handed_over"},
                             decision=decision))
    crm.outbox.enqueue_many(uow, messages)
