"""``dealercrm tasks …``: the day's follow-ups — list (also ``dealercrm tasks`` alone), done, snooze.

Which tasks an actor sees, and what "mine", "today" and "overdue" mean, is the task
service's (``crm.tasks.list``): the same answer as ``GET /tasks`` and the portal's "my day".
JSON is ``GET /tasks``'s page.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import Enum
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import NotFound, ValidationError
from ..http.schemas import TaskOut
from .common import a_count, acting_as, an_id, fail, fmt_time, open_crm, viewer_zone
from .output import Format, FormatOption, examples, paged, say, show_list

#: when a snoozed task comes back on a day named without a time: the start of a working day
MORNING = time(8)
_RELATIVE = re.compile(r"^\+(\d{1,4})([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class Due(str, Enum):
    today = "today"
    overdue = "overdue"


class Status(str, Enum):
    open = "open"
    done = "done"
    cancelled = "cancelled"
    all = "all"


# ``tasks`` alone and ``tasks list`` take the same options
AsOption = Annotated[Optional[str], typer.Option(
    "--as", metavar="ACTOR", help="act as this person (id or exact name); default: the global --as, else the system")]
MineOption = Annotated[bool, typer.Option("--mine", help="only yours: assigned to you, or to your party with nobody "
                                          "named (needs --as)")]
DueOption = Annotated[Optional[Due], typer.Option(
    case_sensitive=False, help="today: due by the end of your day, overdue ones included; overdue: due now or "
                               "earlier — both in your party's time zone")]
StatusOption = Annotated[Status, typer.Option(case_sensitive=False, help="which tasks, by their state")]
CustomerOption = Annotated[Optional[int], an_id("customer", option=True, metavar="CUSTOMER_ID",
                                                help="only this customer's")]
CaseOption = Annotated[Optional[int], an_id("case", option=True, metavar="CASE_ID", help="only this case's")]
LimitOption = Annotated[int, a_count(metavar="N", help="at most this many")]
OffsetOption = Annotated[int, a_count(metavar="N", help="skip this many first")]
TaskId = Annotated[int, an_id("task", metavar="TASK_ID", help="the task's id (dealercrm tasks lists them)")]


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
        return now + timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError("--until", value, f"must be tomorrow, next-week, +3d, +4h, a day (2026-03-10) or a day "
                              f"and time (2026-03-10 14:00, read in {zone.key}, or with an offset)") from None
    if len(value.strip()) == 10:  # a day alone: its morning
        parsed = datetime.combine(parsed.date(), MORNING)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def show(mine: bool, as_: Optional[str], due: Optional[Due], status: Status, customer: Optional[int],
         case: Optional[int], limit: int, offset: int, fmt: Format) -> None:
    crm = open_crm()
    by = acting_as(crm, as_)
    if mine and by == crm.system:
        fail("--mine says whose tasks: pass --as ACTOR (the system actor has none of its own)")
    found = crm.tasks.list(by=by, mine=mine, due=due.value if due else None,
                           status=None if status is Status.all else status.value,
                           customer_id=customer, case_id=case, limit=limit + 1, offset=offset)

    def table() -> Table:
        shown = found[:limit]
        customers = {c.id: c.name for c in crm.customers.list(
            ids={t.customer_id for t in shown if t.customer_id}, limit=len(shown) or 1, by=by)}
        parties = {p.id: p.name for p in crm.parties.list(by=by)}
        people: dict[int, str] = {}
        for task in shown:
            if task.assigned_actor_id and task.assigned_actor_id not in people:
                try:
                    people[task.assigned_actor_id] = crm.parties.actor(task.assigned_actor_id, by=by).name
                except NotFound:  # another party's person (the reader sees the task through its party)
                    people[task.assigned_actor_id] = f"actor {task.assigned_actor_id}"
        now = crm.clock.now()
        t = Table("task", "due", "title", "customer", "case", "assigned to", "status",
                  title="Tasks" + (" (yours)" if mine else "") + (f", due {due.value}" if due else ""),
                  title_justify="left")
        for task in shown:
            late = " [red]overdue[/]" if task.status == "open" and task.due_at <= now else ""
            who = f"{task.customer_id} {customers.get(task.customer_id, '')}".strip() if task.customer_id else "—"
            t.add_row(str(task.id), fmt_time(task.due_at) + late, escape(task.title), escape(who),
                      str(task.case_id or "—"),
                      escape(people.get(task.assigned_actor_id) or parties.get(task.assigned_party_id) or "—"),
                      task.status)
        return t

    show_list(fmt, [TaskOut.model_validate(t).model_dump() for t in found[:limit]], table,
              page=paged(found, limit, offset), columns=TaskOut.model_fields)


def register(cli: typer.Typer) -> None:
    tasks = typer.Typer(help="Follow-ups: calls to make, cases to chase. `dealercrm tasks` alone lists them, "
                             "e.g. dealercrm tasks --mine --as 'Lea Yilmaz' --due today")
    cli.add_typer(tasks, name="tasks")

    @tasks.callback(invoke_without_command=True)
    def default(ctx: typer.Context, mine: MineOption = False, as_: AsOption = None, due: DueOption = None,
                status: StatusOption = Status.open, customer: CustomerOption = None, case: CaseOption = None,
                limit: LimitOption = 100, offset: OffsetOption = 0, fmt: FormatOption = Format.table) -> None:
        """Follow-ups, the most urgent first: `dealercrm tasks` alone is `dealercrm tasks list`."""
        if ctx.invoked_subcommand is None:
            show(mine, as_, due, status, customer, case, limit, offset, fmt)

    @tasks.command("list", epilog=examples("dealercrm tasks list --mine --as 'Lea Yilmaz' --due today",
                                           "dealercrm tasks list --as 'Lea Yilmaz' --due overdue --format csv",
                                           "dealercrm tasks list --customer 12 --status all"))
    def list_(mine: MineOption = False, as_: AsOption = None, due: DueOption = None,
              status: StatusOption = Status.open, customer: CustomerOption = None, case: CaseOption = None,
              limit: LimitOption = 100, offset: OffsetOption = 0, fmt: FormatOption = Format.table) -> None:
        """Follow-ups of your party, the most urgent first; JSON as GET /tasks answers."""
        show(mine, as_, due, status, customer, case, limit, offset, fmt)

    @tasks.command("done", epilog=examples("dealercrm tasks done 17 --as 'Lea Yilmaz'",
                                           "dealercrm tasks done 17 --as 5 --note 'called back, all fine'"))
    def done(task_id: TaskId, as_: AsOption = None,
             note: Annotated[Optional[str], typer.Option(metavar="TEXT", help="what was done, kept on the task")]
             = None) -> None:
        """Mark an open task done."""
        crm = open_crm()
        task = crm.tasks.complete(task_id, note=note, by=acting_as(crm, as_))
        say(f"task {task.id} done: {task.title}", markup=False, highlight=False)

    @tasks.command("snooze", epilog=examples("dealercrm tasks snooze 17 --until tomorrow --as 'Lea Yilmaz'",
                                             "dealercrm tasks snooze 17 --until '2026-03-10 14:00' --as 5",
                                             "dealercrm tasks snooze 17 --until +3d --as 5"))
    def snooze(task_id: TaskId,
               until: Annotated[str, typer.Option(
                   metavar="WHEN", help="its new due time: tomorrow, next-week, +3d, +4h, 2026-03-10 (08:00) or "
                                        "'2026-03-10 14:00' — in your zone unless an offset is given")],
               as_: AsOption = None) -> None:
        """Put an open task off until WHEN: "not today"."""
        crm = open_crm()
        by = acting_as(crm, as_)
        task = crm.tasks.snooze(task_id, when(until, crm.clock.now()), by=by)
        say(f"task {task.id} snoozed until {fmt_time(task.due_at)}: {task.title}", markup=False, highlight=False)
