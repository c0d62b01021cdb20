"""Satisfaction after a case: ask, record, and act on a low score (stories 001 and 002).

Few companies measure satisfaction; the customer who switches does so because he felt
poorly cared for. When a service case closes (inside the closing transaction) a short
survey goes out on the first channel that may carry a *service* message — it is about
the customer's own case, so the contract is the legal basis and the contact budget
does not apply. The subject names the case ("Ihr Fall 17: …"), so a reply finds its
way back to it; the message carries ``data["template"] = "survey"`` for channels with templates.

Answers are recorded with ``crm.surveys.record(case_id, csat=…, nps=…, by=crm.system)``; a reply
that names the case and contains ``CSAT 4 NPS 9`` (either may be missing; the rest of
the text after the scores is kept as the comment) is recorded from the inbound
message by this rule, too. A case has one survey and so one answer: a second reply
revises it (the scores it gives replace the earlier ones, the rest is kept, the timeline
says "revised"), it is never counted as another answer; the same reply arriving twice
changes nothing (``dealercrm.services.surveys``). A low score (CSAT ≤ ``low_csat`` or
NPS ≤ ``low_nps``) opens one follow-up task per case for the case's dealer — the
customer's account owner if that person works for the dealer. The ``satisfaction``
report credits each answer to the case's dealer and to the party that resolved the case
(``dealercrm.services.reports.satisfaction``)::

    [plugins.rule_satisfaction]
    final_states = ["closed", "refunded"]   # a withdrawn case gets no survey
    channels = ["email", "sms", "whatsapp"]
    low_csat = 2
    low_nps = 6
    follow_up_in_hours = 24
    read_replies = true                     # record "CSAT 4 NPS 9" replies to a closed case
    catch_up_days = 3                       # the scan surveys cases closed this recently while the rule was off
    # texts: subject, body, follow_up_title ({case_id}, {name}, {dealer}, {scores})
"""

from __future__ import annotations

import re
from datetime import timedelta

import attrs
from sqlalchemy import select

from dealercrm import CaseClosed, MessageReceived, SurveyAnswered, hookimpl
from dealercrm.db.case_models import Case
from dealercrm.db.models import Actor, Customer, Interaction, Party
from dealercrm.db.outbox_models import InboundMessage
from dealercrm.db.rule_models import SurveyResponse
from dealercrm.errors import ValidationError
from dealercrm.rules import Candidate, RuleSettings
from dealercrm.services.surveys import record_in

NAME = "rule_satisfaction"
CSAT = re.compile(r"\bCSAT\s*[:=]?\s*(-?\d{1,3})\b", re.IGNORECASE)
NPS = re.compile(r"\bNPS\s*[:=]?\s*(-?\d{1,3})\b", re.IGNORECASE)

TEXTS = {
    "de": {
        "subject": "Ihr Fall {case_id}: Wie zufrieden waren Sie?",
        "body": ("Guten Tag {name},\n\nIhr Serviceanliegen (Fall {case_id}) ist abgeschlossen. Zwei kurze Fragen – "
                 "antworten Sie einfach auf diese Nachricht mit »CSAT« und »NPS« und Ihren Zahlen:\n\n"
                 "CSAT: Wie zufrieden sind Sie mit der Lösung? (1 = gar nicht … 5 = sehr)\n"
                 "NPS: Wie wahrscheinlich empfehlen Sie uns weiter? (0 = gar nicht … 10 = sehr wahrscheinlich)\n\n"
                 "Was wir besser machen können, schreiben Sie gern dazu. Danke!\n\nIhr Händler {dealer}"),
        "follow_up_title": "Nachfassen zu Fall {case_id}: {name} ist unzufrieden ({scores})",
    },
    "en": {
        "subject": "Your case {case_id}: how satisfied were you?",
        "body": ("Hello {name},\n\nyour service request (case {case_id}) is closed. Two short questions – just reply "
                 "to this message with \"CSAT\" and \"NPS\" and your numbers:\n\n"
                 "CSAT: how satisfied are you with the solution? (1 = not at all … 5 = very)\n"
                 "NPS: how likely are you to recommend us? (0 = not at all … 10 = extremely likely)\n\n"
                 "Tell us what we could do better, too. Thank you!\n\nYour dealer {dealer}"),
        "follow_up_title": "follow up case {case_id}: {name} is not satisfied ({scores})",
    },
}


def parse_answer(text: str) -> tuple[int | None, int | None, str | None] | None:
    """(csat, nps, comment) from a reply such as "CSAT 4 NPS 9 all good", or None."""
    found = [m for m in (CSAT.search(text), NPS.search(text)) if m]
    if not found:
        return None
    csat, nps = (int(m.group(1)) if m else None for m in (CSAT.search(text), NPS.search(text)))
    comment = text[max(m.end() for m in found):].lstrip(" \t\r\n.,;:-–").rstrip()
    return csat, nps, comment or None


def scores(csat, nps) -> str:
    return ", ".join(f"{label} {v}" for label, v in (("CSAT", csat), ("NPS", nps)) if v is not None)


@attrs.frozen
class SatisfactionSettings(RuleSettings):
    """``[plugins.rule_satisfaction]`` (see the module docstring); an empty text follows
    ``[dealercrm] language``."""

    final_states: list[str] = attrs.Factory(lambda: ["closed", "refunded"])
    channels: list[str] = attrs.Factory(lambda: ["email", "sms", "whatsapp"])
    low_csat: int = 2
    low_nps: int = 6
    follow_up_in_hours: float = 24
    read_replies: bool = True
    catch_up_days: float = 3
    subject: str = ""
    body: str = ""
    follow_up_title: str = ""


class Satisfaction:
    name = NAME
    description = "a CSAT/NPS survey when a case closes; a low score opens a follow-up for the dealer"
    events = (CaseClosed, SurveyAnswered, MessageReceived)  # what on_event is called for

    def scan(self, ctx):
        """Cases closed recently whose survey the event did not send (the rule was off)."""
        query = (select(Case.id, Case.customer_id, Case.state)
                 .where(Case.closed_at >= ctx.now - timedelta(days=float(ctx.settings["catch_up_days"])),
                        Case.state.in_(list(ctx.settings["final_states"])),
                        ctx.not_fired(Case.id, "survey", "case"))
                 .order_by(Case.id))
        for case_id, customer_id, state in ctx.connection.execute(query):
            yield Candidate(case_id, "survey", customer_id=customer_id, subject_kind="case",
                            evidence={"part": "survey", "final_state": state})

    def on_event(self, event, ctx):
        settings = ctx.settings
        if isinstance(event, CaseClosed) and event.final_state in settings["final_states"]:
            return [Candidate(event.case_id, "survey", customer_id=event.customer_id, subject_kind="case",
                              evidence={"part": "survey", "final_state": event.final_state})]
        if isinstance(event, SurveyAnswered) and (
                (event.csat is not None and event.csat <= int(settings["low_csat"]))
                or (event.nps is not None and event.nps <= int(settings["low_nps"]))):
            return [Candidate(event.case_id, "low-score", customer_id=event.customer_id, subject_kind="case",
                              evidence={"part": "low-score", "response_id": event.response_id,
                                        "csat": event.csat, "nps": event.nps})]
        if (isinstance(event, MessageReceived) and settings["read_replies"] and event.case_id is not None
                and event.customer_id is not None):
            row = self._reply(ctx.connection, event.inbound_id)
            if row is not None and row.closed_at is not None and parse_answer(row.summary):
                return [Candidate(event.inbound_id, "survey-answer", customer_id=event.customer_id,
                                  subject_kind="inbound", evidence={"part": "answer", "case_id": event.case_id})]
        return None

    @staticmethod
    def _reply(conn, inbound_id: int):
        return conn.execute(
            select(Interaction.summary, Interaction.channel, Case.closed_at)
            .join(InboundMessage, InboundMessage.interaction_id == Interaction.id)
            .join(Case, Case.id == InboundMessage.case_id).where(InboundMessage.id == inbound_id)).first()

    # -- acting ---------------------------------------------------------------------------
    def act(self, candidate, ctx):
        part = candidate.evidence["part"]
        if part == "answer":
            return self._record(candidate, ctx)
        case_id = candidate.subject_id
        case = ctx.uow.connection.execute(
            select(Case.dealer_party_id, Customer.name, Customer.account_owner_id, Party.name.label("dealer"))
            .join(Customer, Customer.id == Case.customer_id).join(Party, Party.id == Case.dealer_party_id)
            .where(Case.id == case_id)).one()
        texts = TEXTS.get(ctx.crm.settings.language, TEXTS["en"])
        fields = {"case_id": case_id, "name": case.name, "dealer": case.dealer,
                  "scores": scores(candidate.evidence.get("csat"), candidate.evidence.get("nps"))}

        def text(key):
            return str(ctx.settings.get(key) or texts[key]).format(**fields)

        if part == "survey":
            channels = tuple(ctx.settings["channels"])
            if not ctx.message(subject=text("subject"), body=text("body"), purpose="service", channels=channels,
                               case_id=case_id, data={"rule": NAME, "case_id": case_id, "template": "survey"}):
                ctx.suppress(f"no channel of {', '.join(channels)} may carry a service message to customer "
                             f"{candidate.customer_id}: no survey for case {case_id}")
            return
        # a low score: the dealer follows up, through the account owner if he works for the dealer
        owner = None
        if case.account_owner_id is not None:
            owner = ctx.uow.connection.execute(select(Actor.id).where(
                Actor.id == case.account_owner_id, Actor.party_id == case.dealer_party_id)).scalar()
        comment = ctx.uow.connection.execute(select(SurveyResponse.comment).where(
            SurveyResponse.id == candidate.evidence["response_id"])).scalar()
        ctx.task(text("follow_up_title"), purpose="service", case_id=case_id, assigned_party_id=case.dealer_party_id,
                 assigned_actor_id=owner, due_in=timedelta(hours=float(ctx.settings["follow_up_in_hours"])),
                 note=comment)

    def _record(self, candidate, ctx):
        case_id = candidate.evidence["case_id"]
        reply = self._reply(ctx.uow.connection, candidate.subject_id)
        csat, nps, comment = parse_answer(reply.summary)
        if ctx.dry_run:
            ctx.plans.append(f"record the survey answer for case {case_id}: {scores(csat, nps)}")
            return
        try:
            record_in(ctx.uow, case_id, csat=csat, nps=nps, comment=comment, channel=reply.channel)
        except ValidationError as exc:  # a typo in a reply must not lose the reply itself
            ctx.suppress(f"survey answer for case {case_id} not recorded: {exc}")


@hookimpl(trylast=True)
def dealercrm_register_rules(crm):
    return [Satisfaction()]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {NAME: SatisfactionSettings}
