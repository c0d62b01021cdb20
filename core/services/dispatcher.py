"""The dispatcher: sends what the outbox holds, at least once, never lost.

It first queues the notices committed case events call for (``notices``: exactly once,
after their commit). Each round then claims a batch of due messages in one short
transaction (status ``sending`` with a lease; PostgreSQL skips rows another dispatcher
holds), checks consent again (a revocation since queueing stops the message), sends
outside any transaction, and records every result in a second transaction. A dispatcher killed
between sending and recording leaves leases that expire; the messages are sent again
with the same idempotency key, so the receiver can drop the copy. Temporary failures
back off exponentially with jitter; the last failed attempt, or a permanent failure,
becomes a task for a person. Every send and every failure lands on the timeline.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import timedelta

import attrs
from sqlalchemy import and_, bindparam, insert, or_, select, update

from ..channels import DeliveryResult, FailureOwner, OutgoingMessage
from ..audit import jsonable
from ..db.models import AuditRecord, Customer, Interaction, Task
from ..db.outbox_models import OutboxMessage
from ..errors import PluginError
from ..events import InteractionRecorded, MessageDelivered, MessageFailed
from .contact_policy import decide_many
from .interactions import record_interaction
from .notices import produce
from .tasks import create_task

log = logging.getLogger("dealercrm.dispatcher")
OUT, TALK = OutboxMessage.__table__, Interaction.__table__


@attrs.define
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    suppressed: int = 0
    batches: int = 0
    #: case events whose notices this run queued (``notices.produce``)
    noticed: int = 0

    def summary(self) -> str:
        return (f"{self.noticed} case events noticed; {self.sent} sent, {self.retried} to retry, {self.failed} failed, "
                f"{self.dead} dead-lettered, {self.suppressed} suppressed at sending time")


def backoff(settings, attempts: int, rng: random.Random) -> timedelta:
    """Exponential, capped, with jitter (half to full), so retries of many don't align."""
    ceiling = min(settings.backoff_max_seconds, settings.backoff_seconds * 2 ** max(0, attempts - 1))
    return timedelta(seconds=ceiling * rng.uniform(0.5, 1.0))


def claim(crm, batch_size: int) -> tuple[list[dict], list[tuple[dict, str]]]:
    """Lease due messages; those consent no longer allows are set aside with the reason."""
    postgres = crm.engine.dialect.name == "postgresql"
    with crm.uow(crm.system, "outbox.claim") as uow:
        now = uow.now
        due = or_(and_(OUT.c.status == "pending", OUT.c.next_attempt_at <= now),
                  and_(OUT.c.status == "sending", OUT.c.locked_until < now))
        query = select(OUT).where(due).order_by(OUT.c.next_attempt_at, OUT.c.id).limit(batch_size)
        rows = [dict(r) for r in uow.connection.execute(
            query.with_for_update(skip_locked=True) if postgres else query).mappings()]
        if not rows:
            return [], []
        lease = now + timedelta(seconds=crm.settings.outbox.lease_seconds)
        uow.connection.execute(update(OUT).where(OUT.c.id.in_([r["id"] for r in rows]))
                               .values(status="sending", locked_until=lease, attempts=OUT.c.attempts + 1))
        ready, stopped, ask = [], [], []
        for row in rows:
            row["attempts"] += 1
            channel = crm.channels.get(row["channel"])
            if channel is None:
                stopped.append((row, f"channel {row['channel']!r} is not loaded (plugin missing or blocked)"))
            elif row["customer_id"] is None:
                ready.append(row)
            else:
                ask.append(row)
        # consent again, for the whole batch at once: a revocation since queueing stops the message
        decisions = decide_many(crm, uow.connection, [(r["customer_id"], crm.channels[r["channel"]], r["purpose"])
                                                      for r in ask], now) if ask else []
        for row, decision in zip(ask, decisions):
            if decision.allowed:
                ready.append(row)
            else:
                stopped.append((row, f"stopped before sending: {decision.reason}"))
        uow.commit()
        return ready, stopped


def send_one(crm, row: dict) -> DeliveryResult:
    channel = crm.channels[row["channel"]]
    message = OutgoingMessage(id=row["id"], idempotency_key=row["idempotency_key"], channel=row["channel"],
                              purpose=row["purpose"], recipient=row["recipient"], subject=row["subject"],
                              body=row["body"], data=row["data"] or {}, customer_id=row["customer_id"],
                              case_id=row["case_id"], attempt=row["attempts"])
    try:
        result = channel.send(message)
    except Exception as exc:  # a channel bug must not lose the message: retry, and name the plugin
        error = PluginError(crm.channel_owners.get(row["channel"], row["channel"]), f"{row['channel']}.send", exc)
        log.error("%s", error, exc_info=exc)
        return DeliveryResult.retry(str(error))
    if not isinstance(result, DeliveryResult):
        return DeliveryResult.retry(f"channel {row['channel']!r} returned {result!r}, not a DeliveryResult")
    return result


def record(crm, report: DispatchReport, results: list[tuple[dict, DeliveryResult | str]], rng) -> None:
    settings = crm.settings.outbox
    with crm.uow(crm.system, "outbox.record") as uow:
        delivered = [(row, result) for row, result in results
                     if not isinstance(result, str) and result.status == "delivered"]
        _record_delivered(uow, delivered)  # the common case, set-based
        report.sent += len(delivered)
        for row, result in results:
            if not isinstance(result, str) and result.status == "delivered":
                continue
            where = and_(OUT.c.id == row["id"], OUT.c.status == "sending")
            if isinstance(result, str):  # stopped before sending
                if _still_ours(uow, where, status="suppressed", reason=result):
                    _timeline(uow, row, f"{row['channel']} message not sent: {result}")
                    report.suppressed += 1
            elif result.status == "retry" and row["attempts"] < settings.max_attempts:
                if _still_ours(uow, where, status="pending", reason=result.error, next_attempt_at=uow.now + max(
                        backoff(settings, row["attempts"], rng), result.retry_after or timedelta(0))):
                    _timeline(uow, row, f"delivery attempt {row['attempts']} of {row['channel']} message failed, "
                                        f"retrying: {result.error}")
                    report.retried += 1
            else:
                dead = result.status == "retry"
                why = (f"gave up after {row['attempts']} attempts: {result.error}" if dead
                       else f"failed permanently: {result.error}")
                if not _still_ours(uow, where, status="dead" if dead else "failed", reason=why):
                    continue
                task = _dead_letter(uow, crm, row, why)
                _timeline(uow, row, f"{row['channel']} message {why}")
                uow.raise_event(MessageFailed, message_id=row["id"], customer_id=row["customer_id"],
                                channel=row["channel"], error=why, task_id=task)
                report.dead += dead
                report.failed += not dead
        uow.commit()


def _still_ours(uow, where, **values) -> bool:
    """Record an outcome on a message this run still holds; False if it no longer does (it
    was cancelled meanwhile, e.g. its subscription deleted): then nothing more is said of it."""
    return uow.connection.execute(update(OUT).where(where).values(locked_until=None, **values)).rowcount == 1


_SENT = (update(OUT).where(OUT.c.id == bindparam("b_id"), OUT.c.status == "sending")
         .values(status="sent", sent_at=bindparam("b_at"), provider_id=bindparam("b_provider"), locked_until=None,
                 reason=None))


def _record_delivered(uow, delivered: list[tuple[dict, DeliveryResult]]) -> None:
    """Sent rows, their timeline lines and audit rows in one statement each (executemany)."""
    if not delivered:
        return
    conn, now = uow.connection, uow.now
    conn.execute(_SENT, [{"b_id": row["id"], "b_at": now, "b_provider": result.provider_id}
                         for row, result in delivered])
    touched = [row for row, _ in delivered if row["customer_id"] is not None]
    merged = _merged(conn, touched) if touched else {}
    lines = [dict(customer_id=merged.get(row["customer_id"], row["customer_id"]),
                  channel=row["channel"], direction="outbound", personal=row["origin"] == "human",
                  summary=f"sent: {row['subject'] or row['body'][:60]}", actor_id=uow.actor_id, at=now,
                  case_id=row["case_id"], task_id=None) for row in touched]
    ids = conn.execute(insert(TALK).returning(TALK.c.id, sort_by_parameter_order=True), lines).scalars().all() \
        if lines else []
    if lines:
        conn.execute(insert(AuditRecord.__table__), [dict(
            at=now, actor_id=uow.actor_id, operation=uow.operation, action="insert", entity="interaction",
            entity_id=talk_id, customer_id=line["customer_id"], personal_changes={"summary": [None, line["summary"]]},
            changes={k: [None, jsonable(v)] for k, v in line.items() if v is not None and k != "summary"})
            for talk_id, line in zip(ids, lines)])
    for talk_id, line in zip(ids, lines):
        if line["personal"]:
            conn.execute(update(Customer).where(
                Customer.id == line["customer_id"],
                (Customer.last_touch_at.is_(None)) | (Customer.last_touch_at < now)).values(last_touch_at=now))
        uow.raise_event(InteractionRecorded, interaction_id=talk_id, customer_id=line["customer_id"],
                        channel=line["channel"], direction="outbound", personal=line["personal"])
    for row, result in delivered:
        uow.raise_event(MessageDelivered, message_id=row["id"], customer_id=row["customer_id"],
                        channel=row["channel"], provider_id=result.provider_id)


def _merged(conn, rows: list[dict]) -> dict[int, int]:
    """Customers merged since the claim: their timeline line goes to the one they live on in."""
    ids = sorted({row["customer_id"] for row in rows})
    return dict(conn.execute(select(Customer.id, Customer.merged_into_id)
                             .where(Customer.id.in_(ids), Customer.merged_into_id.is_not(None))).all())


def _timeline(uow, row: dict, summary: str, personal: bool = False, outbound: bool = False) -> None:
    if row["customer_id"] is not None:
        # the customer may have been merged while the message was on its way: write to the one kept
        found = uow.connection.execute(select(Customer.merged_into_id).where(Customer.id == row["customer_id"])).first()
        customer_id = (found.merged_into_id if found else None) or row["customer_id"]
        record_interaction(uow, customer_id, row["channel"] if outbound else "system",
                           "outbound" if outbound else "internal", summary, personal=personal, case_id=row["case_id"])


def _failure_owner(uow, crm, row: dict) -> FailureOwner | None:
    """Whose business a failed message to no customer is, if its channel says (``channels.FailureOwner``)."""
    channel = crm.channels.get(row["channel"])
    ask = getattr(channel, "failure_owner", None)
    if row["customer_id"] is not None or not callable(ask):
        return None
    try:
        told = ask(uow.connection, row)
    except Exception as exc:  # a channel's bug must not lose the outcome: the home dealer hears of it instead
        log.error("%s", PluginError(crm.channel_owners.get(row["channel"], row["channel"]),
                                    f"{row['channel']}.failure_owner", exc), exc_info=exc)
        return None
    return told if isinstance(told, FailureOwner) else None


def _tell_owner(uow, row: dict, why: str, told: FailureOwner) -> int:
    """One open task per thing that fails, for the party it belongs to, naming only that and the error."""
    ref = f"failures:{row['channel']}:{told.about}"
    task_table = Task.__table__
    open_one = uow.connection.execute(select(task_table.c.id).where(
        task_table.c.status == "open", task_table.c.assigned_party_id == told.party_id,
        task_table.c.origin_ref == ref).limit(1)).scalar()
    if open_one is not None:  # already told: a dead endpoint must not flood anyone with tasks
        return open_one
    return create_task(uow, f"{told.about}: a delivery could not be made", uow.now,
                       assigned_party_id=told.party_id, origin="rule", origin_ref=ref,
                       note=f"{why}\nfirst failed: message {row['id']} ({row['subject'] or row['channel']}). "
                            "Further failures make no new task while this one is open: fix the endpoint, "
                            "then complete this task.").id


def _dead_letter(uow, crm, row: dict, why: str) -> int:
    """A message that cannot be delivered becomes a person's task: nobody is left unreached."""
    told = _failure_owner(uow, crm, row)
    if told is not None:
        return _tell_owner(uow, row, why, told)
    owner_party = owner_actor = None
    if row["customer_id"] is not None:
        owner_party, owner_actor = uow.connection.execute(
            select(Customer.owner_party_id, Customer.account_owner_id).where(Customer.id == row["customer_id"])).one()
    if owner_party is None:
        owner_party = crm.parties.home_dealer(uow)
    task = create_task(uow, f"reach the customer another way: {row['channel']} message could not be delivered",
                       uow.now, customer_id=row["customer_id"], assigned_party_id=owner_party,
                       assigned_actor_id=owner_actor, origin="rule", origin_ref=f"outbox:{row['id']}",
                       note=f"{why}\nmessage: {row['subject'] or ''}\n{row['body'][:500]}", case_id=row["case_id"])
    return task.id


def dispatch(crm, *, max_batches: int | None = None, rng: random.Random | None = None,
             on_progress: Callable[[int], None] | None = None) -> DispatchReport:
    report, rng = DispatchReport(), rng or random.Random()
    batch_size = crm.settings.outbox.batch_size
    report.noticed = produce(crm).noticed  # what committed case events call for, before sending
    try:
        while max_batches is None or report.batches < max_batches:
            ready, stopped = claim(crm, batch_size)
            if not ready and not stopped:
                break
            results: list = [(row, reason) for row, reason in stopped]
            results += [(row, send_one(crm, row)) for row in ready]
            record(crm, report, results, rng)
            report.batches += 1
            if on_progress:
                on_progress(len(results))
    finally:
        for channel in crm.channels.values():
            close = getattr(channel, "close", None)
            if callable(close):
                close()
    return report
