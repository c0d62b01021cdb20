"""Case deadline reminders: the owner hears of a deadline before it passes.

Every open case has an owner and a due time; the tick escalates it once the time has
passed. This rule comes first: on each ``dealercrm tick`` an open case due within the
window gets one task for the party that holds it — "case 17 is due at … (state …)" —
once per due time (a new deadline after a hand-off is a new situation, reminded again),
the time told on the holding party's clock (its ``time_zone``).
An overdue case gets no reminder: the tick escalates it instead. Reminders are about
the customer's own case, so they are ``service`` contacts the budget does not cap. In
states where the case waits on the customer (the dealer merely holds it for them) the
customer's silence is handled by the timeout, so no reminder by default::

    [plugins.rule_case_reminders]
    window_hours = 4
    owner_kinds = ["dealer", "manufacturer", "technician"]   # add "customer" to remind the holder there too
    title = "case {case_id} is due at {due} (state {state})"  # default German or English
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
from sqlalchemy import String, func, literal, select

from dealercrm import hookimpl
from dealercrm.db.case_models import Case
from dealercrm.db.models import Party
from dealercrm.rules import Candidate, RuleSettings

NAME = "rule_case_reminders"

TEXTS = {
    "de": "Fall {case_id} ist fällig am {due} (Stand: {state})",
    "en": "case {case_id} is due at {due} (state {state})",
}


def due_situation(dialect: str):
    """``due:<due_at in ISO 8601, UTC, to the second>``, computed by the database so the
    anti-join compares like with like (PostgreSQL keeps a time zone, SQLite naive UTC)."""
    if dialect == "postgresql":
        iso = func.to_char(func.timezone("UTC", Case.due_at), literal('YYYY-MM-DD"T"HH24:MI:SS', String))
    else:
        iso = func.strftime(literal("%Y-%m-%dT%H:%M:%S", String), Case.due_at)
    return literal("due:", String) + iso + literal("+00:00", String)


@attrs.frozen
class CaseReminderSettings(RuleSettings):
    """``[plugins.rule_case_reminders]``; an empty ``title`` follows ``[dealercrm] language``."""

    window_hours: float = 4
    owner_kinds: list[str] = attrs.Factory(lambda: ["dealer", "manufacturer", "technician"])
    title: str = ""


class CaseReminders:
    name = NAME
    description = "a task for the owner of an open case due within the next hours"

    def scan(self, ctx):
        situation = due_situation(ctx.connection.dialect.name)
        until = ctx.now + timedelta(hours=float(ctx.settings["window_hours"]))
        query = (select(Case.id, Case.customer_id, Case.state, Case.due_at, Case.owner_party_id, Case.owner_actor_id,
                        Party.time_zone, situation.label("situation"))
                 .join(Party, Party.id == Case.owner_party_id)
                 .where(Case.closed_at.is_(None), Case.due_at > ctx.now, Case.due_at <= until,
                        Case.owner_party_id.is_not(None), Case.owner_kind.in_(list(ctx.settings["owner_kinds"])),
                        ctx.not_fired(Case.id, situation, "case"))
                 .order_by(Case.due_at, Case.id))
        for row in ctx.connection.execute(query):
            yield Candidate(row.id, row.situation, customer_id=row.customer_id, subject_kind="case",
                            evidence={"state": row.state, "due_at": row.due_at.isoformat(),
                                      "owner_party_id": row.owner_party_id, "owner_actor_id": row.owner_actor_id,
                                      "time_zone": row.time_zone})

    def act(self, candidate, ctx):
        evidence = candidate.evidence
        due_at = datetime.fromisoformat(evidence["due_at"])
        template = ctx.settings.get("title") or TEXTS.get(ctx.crm.settings.language, TEXTS["en"])
        # the time on the holder's own clock: a technician in Vienna reads Vienna time
        local = due_at.astimezone(ZoneInfo(evidence.get("time_zone") or "UTC"))
        title = template.format(case_id=candidate.subject_id, due=f"{local:%d.%m.%Y %H:%M} {local:%Z}",
                                state=evidence["state"])
        ctx.task(title, purpose="service", due_at=due_at, case_id=candidate.subject_id,
                 assigned_party_id=evidence["owner_party_id"], assigned_actor_id=evidence["owner_actor_id"])


@hookimpl(trylast=True)
def dealercrm_register_rules(crm):
    return [CaseReminders()]


@hookimpl(trylast=True)
def dealercrm_register_settings():
    return {NAME: CaseReminderSettings}
