"""``dealercrm tasks …``: the day's follow-ups — list (also ``dealercrm tasks`` alone), done, snooze.

Which tasks an actor sees, and what "mine", "today" and "overdue" mean, is the task
service's (``crm.tasks.list``): the same answer as over HTTP and in the portal's "my day".
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..errors import NotFound, ValidationError
from ..services.tasks import DUE_CHOICES
from .common import a_count, acting_as, an_id, console, fail, fmt_time, open_crm, viewer_zone
from .listing import Col, FormatOption, check_format, emit

AsOption = Annotated[Optional[str], typer.Option(
    "--as", metavar="ACTOR", help="act as this person (id or exact name); default: the global --as, else the system")]
STATUSES = ("open", "done", "cancelled", "all")
# ``tasks`` alone and ``tasks list`` take the same options
Mine = Annotated[bool, typer.Option("--mine", help="only yours: assigned to you, or to your party with nobody "
                                    "named (needs --as)")]
Due = Annotated[Optional[str], typer.Option(
    metavar="today|overdue", help="today: due by the end of your day (overdue ones included); overdue: due now or "
                                  "earlier — in your party's time zone")]
Status = Annotated[str, typer.Option(metavar="open|done|cancelled|all", help="which tasks by their state")]
OfCustomer = Annotated[Optional[int], an_id("customer", option=True, metavar="ID", help="only this customer's")]
OfCase = Annotated[Optional[int], an_id("case", option=True, metavar="ID", help="only this case's")]
Limit = Annotated[int, a_count(metavar="N", help="at most this many")]
Offset = Annotated[int, a_count(metavar="N", help="skip this many first")]
#: when a snoozed task comes back on a day named without a time: the start of a working day
MORNING = time(8)
_RELATIVE = re.compile(r"^\+(\d{1,4})([dhm])$")


def when(value: str, now: datetime) -> datetime:
    """``--until`` as people type it, in the reader's zone unless it carries an offset:
    ``tomorrow``, ``next-week`` (Monday), ``+3d``/``+4h``/``+30m``, a day (``2026-03-10``,
    08:00 that morning) or a day and time (``2026-03-10 14:00``, ``2026-03-10T14:00+01:00``)."""
    zone, text = viewer_zone(), value.strip().lower()
    today = now.astimezone(zone).date()
    if text == "tomorrow":
        return datetime.combine(today + timedelta(days=1), MORNING, tzinfo=zone)
    if text == "next-week":
        return datetime.combine(today + timedelta(days=7 - today.weekday()), MORNING, tzinfo=zone)
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative[1]), relative[2]
        unit_name = {"d": "days", "h": "hours", "m": "minutes"}[unit]
        return now + timedelta(**{unit_name: amount})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("--until", value, f"must be tomorrow, next-week, +3d, +4h, a day (2026-03-10) or a day "
                              f"and time (2026-03-10 14:00, read in {zone.key}, or with an offset)") from None
    if len(value.strip()) == 10:  # a day alone: its morning
        parsed = datetime.combine(parsed.date(), MORNING)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def register(cli: typer.Typer) -> None:
    tasks = typer.Typer(help="Follow-ups: calls to make, cases to chase; `dealercrm tasks` alone lists them.")
    cli.add_typer(tasks, name="tasks")

    def show(mine: bool, as_: Optional[str], due: Optional[str], status: str, customer: Optional[int],
             case: Optional[int], limit: int, offset: int, fmt: str) -> None:
        check_format(fmt)
        if due is not None and due not in DUE_CHOICES:
            raise ValidationError("--due", due, f"must be {' or '.join(DUE_CHOICES)}")
        if status not in STATUSES:
            raise ValidationError("--status", status, f"must be one of {', '.join(STATUSES)}")
        crm = open_crm()
        by = acting_as(crm, as_)
        if mine and by == crm.system:
            fail("--mine says whose tasks: pass --as ACTOR (the system actor has none of its own)")
        found = crm.tasks.list(by=by, mine=mine, due=due, status=None if status == "all" else status,
                               customer_id=customer, case_id=case, limit=limit, offset=offset)
        customers = {c.id: c.name for c in crm.customers.list(ids={t.customer_id for t in found if t.customer_id},
                                                              limit=len(found) or 1, by=by)}
        parties = {p.id: p.name for p in crm.parties.list(by=by)}
        people: dict[int, str] = {}
        for task in found:
            if task.assigned_actor_id and task.assigned_actor_id not in people:
                try:
                    people[task.assigned_actor_id] = crm.parties.actor(task.assigned_actor_id, by=by).name
                except NotFound:  # assigned to the party through a person of it the reader may not name
                    people[task.assigned_actor_id] = f"actor {task.assigned_actor_id}"
        now = crm.clock.now()
        rows = [dict(id=t.id, due_at=t.due_at, overdue=t.status == "open" and t.due_at <= now, title=t.title,
                     customer_id=t.customer_id, customer=customers.get(t.customer_id), case_id=t.case_id,
                     assigned_to=people.get(t.assigned_actor_id) or parties.get(t.assigned_party_id),
                     status=t.status, origin=t.origin) for t in found]
        emit(rows, [
            Col("id", "task"),
            Col("due_at", "due", lambda r: fmt_time(r["due_at"]) + (" [red]overdue[/]" if r["overdue"] else ""),
                no_wrap=True),
            *((Col("overdue", "overdue"),) if fmt != "table" else ()),
            Col("title", "title"),
            Col("customer_id", "customer", lambda r: "—" if r["customer_id"] is None else
                f"{r['customer_id']} {escape(r['customer'] or '')}".strip()),
            *((Col("customer", "customer name"),) if fmt != "table" else ()),
            Col("case_id", "case"),
            Col("assigned_to", "assigned to"),
            Col("status", "status"),
            Col("origin", "origin"),
        ], fmt, title="Tasks" + (" (yours)" if mine else "") + (f", due {due}" if due else ""),
            empty="none" + ("" if status == "all" else f" {status}"))

    @tasks.callback(invoke_without_command=True)
    def default(ctx: typer.Context, mine: Mine = False, as_: AsOption = None, due: Due = None, status: Status = "open",
                customer: OfCustomer = None, case: OfCase = None, limit: Limit = 100, offset: Offset = 0,
                fmt: FormatOption = "table") -> None:
        """Follow-ups, the most urgent first; `dealercrm tasks` alone lists them like `tasks list`.

        Example: dealercrm tasks --mine --as "Lea Yilmaz" --due today
        """
        if ctx.invoked_subcommand is None:
            show(mine, as_, due, status, customer, case, limit, offset, fmt)

    @tasks.command("list")
    def list_(mine: Mine = False, as_: AsOption = None, due: Due = None, status: Status = "open",
              customer: OfCustomer = None, case: OfCase = None, limit: Limit = 100, offset: Offset = 0,
              fmt: FormatOption = "table") -> None:
        """List follow-ups of your party, the most urgent first.

        Example: dealercrm tasks list --as "Lea Yilmaz" --due overdue --format csv
        """
        show(mine, as_, due, status, customer, case, limit, offset, fmt)

    @tasks.command("done")
    def done(task_id: Annotated[int, an_id("task", metavar="TASK_ID", help="the task's id (see `dealercrm tasks`)")],
             as_: AsOption = None,
             note: Annotated[Optional[str], typer.Option(metavar="TEXT", help="what was done, kept on the task")] = None,
             ) -> None:
        """Mark an open task done.

        Example: dealercrm tasks done 17 --as "Lea Yilmaz" --note "called back, all fine"
        """
        crm = open_crm()
        task = crm.tasks.complete(task_id, note=note, by=acting_as(crm, as_))
        console.print(f"task {task.id} done: {task.title}", markup=False, highlight=False)

    @tasks.command("snooze")
    def snooze(task_id: Annotated[int, an_id("task", metavar="TASK_ID",
                                             help="the task's id (see `dealercrm tasks`)")],
               until: Annotated[str, typer.Option(
                   metavar="WHEN", help="its new due time: tomorrow, next-week, +3d, +4h, 2026-03-10 (08:00) or "
                                        "2026-03-10 14:00 — in your zone unless an offset is given")],
               as_: AsOption = None) -> None:
        """Put an open task off until WHEN: "not today".

        Example: dealercrm tasks snooze 17 --until tomorrow --as "Lea Yilmaz"
        """
        crm = open_crm()
        by = acting_as(crm, as_)
        task = crm.tasks.snooze(task_id, when(until, crm.clock.now()), by=by)
        console.print(f"task {task.id} snoozed until {fmt_time(task.due_at)}: {task.title}", markup=False,
                      highlight=False)
