"""Telling the customer who has their case now, and until when.

Every hand-off of a service case queues a service message to the customer, inside
the hand-off's own transaction (so it exists exactly when the hand-off does), on the
first written channel the customer allows — by default e-mail, then SMS, then
WhatsApp. The subject names the case, so a reply finds its way back to it. With the web
portal (the built-in plugin ``portal``) registered, every notice carries the customer's
signed, expiring link to their case's status page, made in the same transaction.
"""

from __future__ import annotations

import attrs
from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from dealercrm import CaseHandedOver, hookimpl
from dealercrm.db.case_models import Case
from dealercrm.db.models import Party
from dealercrm.db.prepared import Prepared
from dealercrm.services.contact_policy import decide_each

_dealer, _to = aliased(Party), aliased(Party)
#: the names the message speaks of, in one prepared query: it runs inside every hand-off
NAMES = Prepared(select(_dealer.name.label("dealer"), _to.name.label("party"))
                 .select_from(Case).join(_dealer, _dealer.id == Case.dealer_party_id)
                 .outerjoin(_to, _to.id == bindparam("to_party_id"))
                 .where(Case.id == bindparam("case_id")))

@attrs.frozen
class NotificationSettings:
    """``[plugins.case_notifications]``: the written channels tried in order, and the language
    of the notices (empty: ``[dealercrm] language``)."""

    channels: list[str] = attrs.Factory(lambda: ["email", "sms", "whatsapp"])
    language: str = ""


TEXTS = {
    "de": {
        "subject": "Ihr Fall {case_id}: jetzt bei {party}",
        "body": ("Guten Tag,\n\nIhr Serviceanliegen (Fall {case_id}) liegt jetzt bei {party} ({role}). "
                 "Der nächste Schritt erfolgt bis spätestens {due}.\n\nAntworten Sie einfach auf diese Nachricht, "
                 "wenn etwas nicht stimmt.\n\nIhr Händler {dealer}"),
        "roles": {"dealer": "Ihr Händler", "manufacturer": "der Hersteller", "technician": "der Techniker",
                  "customer": "Sie: wir warten auf Ihre Rückmeldung"},
        "link": "\n\nWer Ihren Fall gerade hat und bis wann, sehen Sie jederzeit hier: {url}",
    },
    "en": {
        "subject": "Your case {case_id}: now with {party}",
        "body": ("Hello,\n\nyour service request (case {case_id}) is now with {party} ({role}). "
                 "The next step is due by {due} at the latest.\n\nJust reply to this message if anything is "
                 "wrong.\n\nYour dealer {dealer}"),
        "roles": {"dealer": "your dealer", "manufacturer": "the manufacturer", "technician": "the technician",
                  "customer": "you: we are waiting for your answer"},
        "link": "\n\nWho has your case and until when, at any time: {url}",
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
    language = settings.get("language") or crm.settings.language
    texts = TEXTS.get(language, TEXTS["en"])
    if not channels:
        return
    names = NAMES.first(uow.connection, {"case_id": event.case_id, "to_party_id": event.to_party_id}) or {}
    fields = dict(case_id=event.case_id, party=names.get("party") or "?",
                  role=texts["roles"].get(event.to_kind or "", event.to_kind or ""),
                  due=f"{event.due_at:%d.%m.%Y %H:%M} UTC" if event.due_at else "—", dealer=names.get("dealer") or "")
    decisions = decide_each(crm, uow.connection, event.customer_id, channels, "service", uow.now)
    # the first written channel the customer allows; if none, the first anyway, so the
    # message is recorded as suppressed with why
    chosen, decision = next(((c, d) for c, d in zip(channels, decisions) if d.allowed), (channels[0], decisions[0]))
    body = texts["body"].format(**fields)
    portal = crm.plugins.get_plugin("portal")  # a plugin may be blocked: then the notice goes without a link
    link = portal.status_link(uow, event.case_id) if hasattr(portal, "status_link") else None
    if link:
        body += texts["link"].format(url=link)
    crm.outbox.enqueue(uow, channel=chosen.name, purpose="service", customer_id=event.customer_id,
                       subject=texts["subject"].format(**fields), body=body,
                       origin="case_notifications", case_id=event.case_id,
                       data={"case_id": event.case_id, "state": event.state, "template": "case_handed_over"},
                       decision=decision)


@hookimpl
def dealercrm_register_settings():
    return {"case_notifications": NotificationSettings}
