"""When the clock's move is refused anyway: the dealer hears of it, once.

Property 4 proves that every open state has a timeout without guards, so the workflow
itself never refuses an escalation. At run time something else still can: a
``dealercrm_check_event`` plugin vetoes it (an ERP bridge that is down), a plugin
raises, or the case sits in a state a removed plugin took away. ``tick`` then leaves
the case where it is and tries again on every later tick — but an overdue case must
never wait in silence, or a silent manufacturer keeps the customer after all. So the
case's dealer, the customer's single point of contact and the safety net, gets a task
naming the case and why it could not move, and the log says so.

One task per situation, not one per tick: the situation is the missed deadline of this
stay in this state. A veto that lasts a week makes one task; a case that moves on and
is stuck again later makes a new one.
"""

from __future__ import annotations

import logging
from datetime import timezone

from sqlalchemy import select

from ..db.models import Task
from ..errors import DealerCrmError
from .tasks import create_task

log = logging.getLogger("dealercrm.deadlines")


def situation(case: dict) -> str:
    """``timeout_refused:case:<id>:<state>:<due_at, UTC>`` — the same on SQLite and PostgreSQL."""
    due = case["due_at"]
    due = due.astimezone(timezone.utc) if due.tzinfo else due
    return f"timeout_refused:case:{case['id']}:{case['state']}:{due:%Y-%m-%dT%H:%M:%S}"


def alert_dealer(uow, case: dict, why: str) -> int | None:
    """Raise the alert for a case whose escalation was refused, inside the tick's unit of
    work and in a savepoint of its own. Returns the new task's id; None when the
    situation already had its task, or when the alert itself was refused (logged as
    critical: then only the log and the tick's report still tell)."""
    ref = situation(case)
    found = uow.connection.execute(select(Task.id).where(Task.case_id == case["id"], Task.origin_ref == ref)).scalar()
    if found is not None:
        log.warning("case %s is still overdue in state %r: its escalation was refused again (%s); "
                    "task %s already asks its dealer to act", case["id"], case["state"], why, found)
        return None
    due = f"{case['due_at']:%Y-%m-%d %H:%M} UTC"
    mark, savepoint = len(uow.events), uow.connection.begin_nested()
    try:
        task = create_task(
            uow, f"case {case['id']} is overdue since {due} and the system could not escalate it "
                 f"(state {case['state']}): please take it over",
            uow.now, customer_id=case["customer_id"], assigned_party_id=case["dealer_party_id"], origin="case",
            origin_ref=ref, case_id=case["id"], note=f"escalation refused: {why}")
        uow.check_events()
        savepoint.commit()
    except DealerCrmError as exc:
        savepoint.rollback()
        uow.forget_events(mark)
        uow.session.expunge_all()  # what the savepoint took back must not be flushed again
        log.critical("case %s is overdue in state %r, its escalation was refused (%s) and so was the alert "
                     "for its dealer (party %s): %s", case["id"], case["state"], why, case["dealer_party_id"], exc)
        return None
    log.error("case %s is overdue in state %r and its escalation was refused (%s): task %s asks its dealer "
              "(party %s) to take it over", case["id"], case["state"], why, task.id, case["dealer_party_id"])
    return task.id
