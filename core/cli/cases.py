"""``dealercrm cases …`` and ``dealercrm tick``: service cases from the command line."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Column, Table
from sqlalchemy import select

from ..db.models import Actor, Party
from ..errors import NotFound, ValidationError
from ..services import case_returns
from ..services.case_report import party_report, timeline
from ..http.schemas import CaseOut
from .common import a_count, acting, acting_as, an_id, console, fail, fmt_time, open_crm
from .output import Format, FormatOption, examples, paged, show_list


def resolve_actor(crm, who: str | None) -> int:
    """``--as`` takes an actor id or an actor's exact name; without it, the system acts."""
    return acting(crm, who)


def parse_pairs(pairs: list[str]) -> dict:
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError("--data", pair, "must look like key=value")
        data[key] = int(value) if key.endswith("_party_id") and value.isascii() and value.isdigit() else value
    return data


def hours(delta) -> str:
    if delta is None:
        return "—"
    total = int(delta.total_seconds() // 60)
    days, rest = divmod(total, 24 * 60)
    return f"{days}d {rest // 60:02d}h{rest % 60:02d}" if days else f"{rest // 60}h{rest % 60:02d}"


def case_timeline_table(crm, case_id: int) -> Table:
    tl = timeline(crm, case_id, by=acting(crm))
    names = {p.id: p.name for p in crm.parties.list(by=crm.system)}
    c = tl.case
    table = Table(Column("when", no_wrap=True), Column("event", no_wrap=True), "state", "owner",
                  Column("due", no_wrap=True), "note", title=(
        f"case {c.id} ({c.state}, version {c.version}): {c.summary} — customer {c.customer_id}"), title_justify="left")
    for e in tl.events:
        what = e.kind if e.trigger is None else f"{e.trigger}{' (deadline passed)' if e.kind == 'timeout' else ''}"
        detail = e.note or (", ".join(f"{k}={v}" for k, v in (e.data or {}).items()))
        table.add_row(fmt_time(e.at), what, e.to_state, names.get(e.owner_party_id, "—"), fmt_time(e.due_at), detail)
    held = ", ".join(f"{names.get(int(h.split(':')[1]), h) if h.startswith('party:') else h} {hours(d)}"
                     for h, d in sorted(tl.held.items(), key=lambda kv: -kv[1]))
    table.caption = (f"{tl.warranty} when opened{'; ' + escape(tl.returned) if tl.returned else ''}\n"
                     f"time held: {held or '—'}; the customer waited {hours(tl.waited)} end to end"
                     f" ({hours(tl.waited_on_customer)} of it waiting on the customer's own answer)")
    return table


def party_report_table(crm) -> Table:
    table = Table("party", "kind", "cases held", "median time held", "deadlines missed",
                  title="Service cases per party", title_justify="left")
    for row in party_report(crm):
        table.add_row(row.name, row.kind, str(row.cases_held), hours(row.median_held), str(row.deadlines_missed))
    return table


def register(cli: typer.Typer) -> None:
    cases = typer.Typer(help="Service cases.", no_args_is_help=True)
    cli.add_typer(cases, name="cases")

    @cases.command("open")
    def open_(customer_id: Annotated[int, an_id("customer")],
              summary: Annotated[str, typer.Option(help="what is wrong")],
              as_: Annotated[str, typer.Option("--as", help="actor id or name")],
              asset: Annotated[Optional[int], an_id("asset", option=True, help="asset id")] = None,
              workflow: Annotated[Optional[str], typer.Option(
                  help="the workflow it follows (default: [cases] default_workflow, or the one registered)")] = None,
              ) -> None:
        """Open a service case for a customer (by the customer's dealer)."""
        crm = open_crm()
        case = crm.cases.open(customer_id, summary, asset_id=asset, workflow=workflow, by=resolve_actor(crm, as_))
        console.print(f"case {case.id} opened: {case.state}, due {fmt_time(case.due_at)}")

    @cases.command("list", epilog=examples("dealercrm cases list --mine --overdue --as 'Lea Yilmaz'",
                                           "dealercrm cases list --party 3 --format json",
                                           "dealercrm cases list --customer 12 --all"))
    def list_(all_: Annotated[bool, typer.Option("--all", help="include closed cases")] = False,
              mine: Annotated[bool, typer.Option("--mine", help="only those your party holds now: on your desk "
                                                 "(needs --as)")] = False,
              overdue: Annotated[bool, typer.Option("--overdue", help="only those past their due time")] = False,
              party: Annotated[Optional[int], an_id("party", option=True, metavar="PARTY_ID",
                                                    help="only cases held by this party id")] = None,
              customer: Annotated[Optional[int], an_id("customer", option=True, metavar="CUSTOMER_ID",
                                                       help="only this customer's cases")] = None,
              as_: Annotated[Optional[str], typer.Option("--as", metavar="ACTOR", help=(
                  "act as this person (id or exact name); default: the global --as, else the system"))] = None,
              limit: Annotated[int, a_count(metavar="N", help="at most this many")] = 100,
              offset: Annotated[int, a_count(metavar="N", help="skip this many first")] = 0,
              fmt: FormatOption = Format.table) -> None:
        """Open cases you may see, the most urgent first; JSON as GET /cases answers."""
        crm = open_crm()
        by = acting_as(crm, as_)
        if mine and by == crm.system:
            fail("--mine says whose desk: pass --as ACTOR (the system actor holds no cases)")
        found = crm.cases.list(open_only=not all_, party_id=party, customer_id=customer, held=mine, overdue=overdue,
                               limit=limit + 1, offset=offset, by=by)

        def table() -> Table:
            names = {p.id: p.name for p in crm.parties.list(by=crm.system)}
            now = crm.clock.now()
            t = Table("case", "customer", "state", "owner", "due", "v", "summary")
            for c in found[:limit]:
                due = fmt_time(c.due_at) + (" [red]overdue[/]" if c.due_at and c.due_at <= now else "")
                t.add_row(str(c.id), str(c.customer_id), c.state, names.get(c.owner_party_id, "—"), due,
                          str(c.version), escape(c.summary))
            return t

        show_list(fmt, [CaseOut.model_validate(c).model_dump() for c in found[:limit]], table,
                  page=paged(found, limit, offset), columns=CaseOut.model_fields)

    @cases.command("show")
    def show(case_id: Annotated[int, an_id("case")]) -> None:
        """The case's timeline: every hand-off, who held it how long, what the customer waited."""
        console.print(case_timeline_table(open_crm(), case_id))

    @cases.command("fire")
    def fire(case_id: Annotated[int, an_id("case")], trigger: str,
             as_: Annotated[str, typer.Option("--as", help="actor id or name")],
             note: Annotated[Optional[str], typer.Option()] = None,
             data: Annotated[Optional[list[str]], typer.Option("--data", "-d", help="key=value, repeatable")] = None,
             expect_version: Annotated[Optional[int], a_count(help="refuse if the case changed since")] = None,
             ) -> None:
        """Fire TRIGGER on a case as an actor; refused with the allowed triggers if not possible."""
        crm = open_crm()
        fired = crm.cases.fire(case_id, trigger, by=resolve_actor(crm, as_), data=parse_pairs(data or []),
                               note=note, expected_version=expect_version)
        owner = crm.parties.get(fired.owner_party_id, by=crm.system).name if fired.owner_party_id else "nobody (final)"
        console.print(f"case {case_id}: {fired.source} -> {fired.dest}; now with {owner}"
                      f"{', due ' + fmt_time(fired.due_at) if fired.due_at else ''} (version {fired.version})")

    @cases.command("return")
    def return_(case_id: int, as_: Annotated[str, typer.Option("--as", help="actor id or name")],
                rma: Annotated[Optional[str], typer.Option(help="the RMA number (the case's manufacturer)")] = None,
                shipped_on: Annotated[Optional[str], typer.Option(
                    help="YYYY-MM-DD the old unit was shipped back (the case's dealer)")] = None,
                received_on: Annotated[Optional[str], typer.Option(
                    help="YYYY-MM-DD it arrived (the case's manufacturer)")] = None,
                note: Annotated[Optional[str], typer.Option(help="e.g. the tracking number")] = None) -> None:
        """Record steps of the replaced unit's return; each party records its own."""
        crm = open_crm()
        case = crm.cases.record_return(case_id, rma_number=rma, shipped_on=shipped_on, received_on=received_on,
                                       note=note, by=resolve_actor(crm, as_))
        console.print(f"case {case_id}: {case_returns.describe(case)} (version {case.version})", markup=False,
                      highlight=False)

    @cases.command("credit")
    def credit(case_id: int, amount: str, currency: str,
               as_: Annotated[str, typer.Option("--as", help="actor id or name")],
               on: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD, default today")] = None,
               note: Annotated[Optional[str], typer.Option()] = None) -> None:
        """Record the manufacturer's credit to the dealer for the case: AMOUNT like 449.90, CURRENCY like EUR."""
        crm = open_crm()
        case = crm.cases.record_credit(case_id, amount, currency, on=on, note=note, by=resolve_actor(crm, as_))
        console.print(f"case {case_id}: {case_returns.describe(case)} (version {case.version})", markup=False,
                      highlight=False)

    @cases.command("allowed")
    def allowed(case_id: Annotated[int, an_id("case")],
                as_: Annotated[str, typer.Option("--as", help="actor id or name")]) -> None:
        """The triggers this actor may fire on the case now."""
        crm = open_crm()
        console.print(", ".join(crm.cases.allowed_triggers(case_id, resolve_actor(crm, as_))) or "none")

    @cli.command("tick")
    def tick(batch_size: Annotated[int, a_count()] = 200) -> None:
        """Escalate overdue cases, run the scheduled rules, dispatch the outbox (safe in several processes)."""
        crm = open_crm()
        report = crm.cases.tick(batch_size=batch_size)
        console.print(report.summary())
        for case_id, reason in report.failed:
            console.print(f"case {case_id}: {reason}", markup=False, highlight=False)
        for outcome in crm.rules.run():
            console.print(f"rule {outcome.rule}: {outcome.fired} acted, {outcome.suppressed} suppressed, "
                          f"{len(outcome.failed)} failed")
        console.print(crm.outbox.dispatch().summary())
