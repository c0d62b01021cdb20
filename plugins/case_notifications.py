"""Telling the customer who has their case now, and until when.

Every hand-off of a service case queues a service message to the customer, inside
the hand-off's own transaction (so it exists exactly when the hand-off does), on the
first written channel the customer allows — by default e-mail, then SMS, then
WhatsApp. The subject names the case, so a reply finds its way back to it.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from dealercrm import CaseHandedOver, hookimpl
from dealercrm.db.case_models import Case
from dealercrm.db.models import Party
from dealercrm.services.contact_policy import decide

DEALER_OF_CASE = select(Case.dealer_party_id).where(Case.id == bindparam("case_id"))
PARTY_NAMES = select(Party.id, Party.name).where(Party.id.in_(bindparam("ids", expanding=True)))

TEXTS = {
    "de": {
        "subject": "Ihr Fall {case_id}: jetzt bei {party}",
        "body": ("Guten Tag,\n\nIhr Serviceanliegen (Fall {case_id}) liegt jetzt bei {party} ({role}). "
                 "Der nächste Schritt erfolgt bis spätestens {due}.\n\nAntworten Sie einfach auf diese Nachricht, "
                 "wenn etwas nicht stimmt.\n\nIhr Händler {dealer}"),
        "roles": {"dealer": "Ihr Händler", "manufacturer": "der Hersteller", "technician": "der Techniker",
                  "customer": "Sie: wir warten auf Ihre Rückmeldung"},
    },
    "en": {
        "subject": "Your case {case_id}: now with {party}",
        "body": ("Hello,\n\nyour service request (case {case_id}) is now with {party} ({role}). "
                 "The next step is due by {due} at the latest.\n\nJust reply to this message if anything is "
                 "wrong.\n\nYour dealer {dealer}"),
        "roles": {"dealer": "your dealer", "manufacturer": "the manufacturer", "technician": "the technician",
                  "customer": "you: we are waiting for your answer"},
    },
}


@hookimpl
def dealercrm_check_event(event, uow):
    if not isinstance(event, CaseHandedOver):
        return
    crm = uow.crm
    settings = crm.settings.plugin("case_notifications")
    order = settings.get("channels", ["email", "sms", "whatsapp"])
    channels = [crm.channels[name] for name in order if name in crm.channels]
    language = settings.get("language", crm.settings.language)
    texts = TEXTS.get(language, TEXTS["en"])
    dealer_id = uow.connection.execute(DEALER_OF_CASE, {"case_id": event.case_id}).scalar()
    names = dict(uow.connection.execute(PARTY_NAMES, {"ids": [dealer_id, event.to_party_id]}).all())
    fields = dict(case_id=event.case_id, party=names.get(event.to_party_id, "?"),
                  role=texts["roles"].get(event.to_kind or "", event.to_kind or ""),
                  due=f"{event.due_at:%d.%m.%Y %H:%M} UTC" if event.due_at else "—", dealer=names.get(dealer_id, ""))
    chosen, decision = None, None
    for channel in channels:  # the first written channel the customer allows
        decision = decide(crm, uow.connection, event.customer_id, channel, "service", uow.now)
        if decision.allowed:
            chosen = channel
            break
    if chosen is None:  # none allowed: queue on the first anyway, so it is recorded as suppressed with why
        if not channels:
            return
        chosen, decision = channels[0], None
    crm.outbox.enqueue(uow, channel=chosen.name, purpose="service", customer_id=event.customer_id,
                       subject=texts["subject"].format(**fields), body=texts["body"].format(**fields),
                       origin="case_notifications", case_id=event.case_id,
                       data={"case_id": event.case_id, "state": event.state, "template": "case_handed_over"},
                       decision=decision)
