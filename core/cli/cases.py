"""``dealercrm cases …`` and ``dealercrm tick``: service cases from the command line."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Column, Table

from ..errors import ValidationError
from ..services import case_returns
from ..services.case_report import party_report, timeline
from ..http.schemas import CaseOut
from ..validation import PRIORITIES
from .common import a_count, acting, acting_as, an_actor, an_id, console, err, fail, fmt_time, open_crm
from .messaging import dispatch_outbox
from .output import Format, FormatOption, examples, paged, progress, say, show_list
from .rules_cmd import run_rules


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
    table.caption = (f"{promise_line(crm, c)}\n"
                     f"{tl.warranty} when opened{'; ' + escape(tl.returned) if tl.returned else ''}\n"
                     f"time held: {held or '—'}; the customer waited {hours(tl.waited)} end to end"
                     f" ({hours(tl.waited_on_customer)} of it waiting on the customer's own answer)")
    return table


def promise_line(crm, case) -> str:
    """"resolved by 2026-03-11 10:00 CET at the latest (service level premium: …)"."""
    promise = crm.cases.promise(case.id, by=acting(crm))
    level = f"service level {case.service_level}, priority {case.priority}"
    if promise is None:
        return f"ended unresolved ({case.state}); {level}"
    if case.closed_at is not None:
        return f"resolved {fmt_time(promise.resolved_by)} ({promise.final}); {level}"
    return (f"resolved by {fmt_time(promise.resolved_by)} at the latest, if only the dealer acts: "
            f"{escape(promise.way)}; {level}")


def party_report_table(crm) -> Table:
    table = Table("party", "kind", "cases held", "median time held", "deadlines missed",
                  title="Service cases per party", title_justify="left")
    for row in party_report(crm):
        table.add_row(row.name, row.kind, str(row.cases_held), hours(row.median_held), str(row.deadlines_missed))
    return table


ACTOR = an_actor(help="the actor who acts: its id or exact name")


def register(cli: typer.Typer) -> None:
    cases = typer.Typer(help="Service cases.", no_args_is_help=True)
    cli.add_typer(cases, name="cases")

    @cases.command("open", epilog=examples(
        "dealercrm cases open 12 --summary 'drum noise when spinning' --as 'Lea Yilmaz'",
        "dealercrm cases open 12 --summary 'grey laundry' --asset 7 --as 5 --workflow service_case"))
    def open_(customer_id: Annotated[int, an_id("customer")],
              summary: Annotated[str, typer.Option(metavar="TEXT", help="what is wrong, in the customer's words")],
              as_: Annotated[str, ACTOR],
              asset: Annotated[Optional[int], an_id("asset", "--asset", help="the unit it is about (an asset id)")]
              = None,
              workflow: Annotated[Optional[str], typer.Option(metavar="NAME", help=(
                  "the workflow it follows (default: [cases] default_workflow, or the one registered)"))] = None,
              priority: Annotated[str, typer.Option(metavar="PRIORITY", help=f"{', '.join(PRIORITIES)}: service "
                                                    "levels may depend on it")] = "normal",
              ) -> None:
        """Open a service case for a customer (by the customer's dealer)."""
        crm = open_crm()
        actor = resolve_actor(crm, as_)
        case = crm.cases.open(customer_id, summary, asset_id=asset, workflow=workflow, priority=priority, by=actor)
        promise = crm.cases.promise(case.id, by=actor)
        say(f"case {case.id} opened: {case.state}, due {fmt_time(case.due_at)}; service level "
            f"{case.service_level}; resolved by {fmt_time(promise.resolved_by if promise else None)} "
            "at the latest", markup=False, highlight=False)

    @cases.command("priority", epilog=examples("dealercrm cases priority 17 urgent --as 7",
                                               'dealercrm cases priority 17 low --as 7 --note "customer is away"'))
    def priority_(case_id: Annotated[int, an_id("case")],
                  priority: Annotated[str, typer.Argument(metavar="PRIORITY", help=", ".join(PRIORITIES))],
                  as_: Annotated[str, ACTOR],
                  note: Annotated[Optional[str], typer.Option(metavar="TEXT", help="why")] = None) -> None:
        """Change how urgent a case is (the case's dealer). The service level is decided again; a new one
        applies going forward."""
        crm = open_crm()
        actor = resolve_actor(crm, as_)
        case = crm.cases.set_priority(case_id, priority, note=note, by=actor)
        promise = crm.cases.promise(case_id, by=actor)
        say(f"case {case_id}: priority {case.priority}, service level {case.service_level}, due "
            f"{fmt_time(case.due_at)}; resolved by {fmt_time(promise.resolved_by if promise else None)} "
            f"at the latest (version {case.version})", markup=False, highlight=False)
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

        resolved = crm.cases.resolved_by(found[:limit], by=by) if fmt is not Format.table else {}
        show_list(fmt, [{**CaseOut.model_validate(c).model_dump(), "resolved_by": resolved.get(c.id)}
                        for c in found[:limit]], table,
                  page=paged(found, limit, offset), columns=CaseOut.model_fields)

    @cases.command("show", epilog=examples("dealercrm cases show 4", "dealercrm --as 'Kai Monteur' cases show 4"))
    def show(case_id: Annotated[int, an_id("case")]) -> None:
        """The case's timeline: every hand-off, who held it how long, what the customer waited."""
        console.print(case_timeline_table(open_crm(), case_id))

    @cases.command("fire", epilog=examples(
        "dealercrm cases fire 4 start_diagnosis --as 'Lea Yilmaz'",
        "dealercrm cases fire 4 approve_visit --as 'Claire Dubois' -d technician_party_id=6",
        "dealercrm cases fire 4 reject --as 7 --note 'not covered' --expect-version 3"))
    def fire(case_id: Annotated[int, an_id("case")],
             trigger: Annotated[str, typer.Argument(metavar="TRIGGER", help=(
                 "what happens, e.g. start_diagnosis (dealercrm cases allowed CASE_ID --as ACTOR lists them)"))],
             as_: Annotated[str, ACTOR],
             note: Annotated[Optional[str], typer.Option(metavar="TEXT", help="a note on the case's history")] = None,
             data: Annotated[Optional[list[str]], typer.Option(
                 "--data", "-d", metavar="KEY=VALUE", help="data the trigger needs, repeatable")] = None,
             expect_version: Annotated[Optional[int], a_count(help="refuse if the case changed since this version")]
             = None,
             ) -> None:
        """Fire TRIGGER on a case as an actor; refused with the allowed triggers if not possible."""
        crm = open_crm()
        fired = crm.cases.fire(case_id, trigger, by=resolve_actor(crm, as_), data=parse_pairs(data or []),
                               note=note, expected_version=expect_version)
        owner = crm.parties.get(fired.owner_party_id, by=crm.system).name if fired.owner_party_id else "nobody (final)"
        say(f"case {case_id}: {fired.source} -> {fired.dest}; now with {owner}"
            f"{', due ' + fmt_time(fired.due_at) if fired.due_at else ''} (version {fired.version})")

    @cases.command("return", epilog=examples(
        "dealercrm cases return 4 --as 'Claire Dubois' --rma RMA-77",
        "dealercrm cases return 4 --as 'Lea Yilmaz' --shipped-on 2026-03-12 --note 'DHL 00340434'"))
    def return_(case_id: Annotated[int, an_id("case")], as_: Annotated[str, ACTOR],
                rma: Annotated[Optional[str], typer.Option(metavar="NUMBER", help=(
                    "the RMA number (the case's manufacturer)"))] = None,
                shipped_on: Annotated[Optional[str], typer.Option(metavar="YYYY-MM-DD", help=(
                    "the day the old unit was shipped back (the case's dealer)"))] = None,
                received_on: Annotated[Optional[str], typer.Option(metavar="YYYY-MM-DD", help=(
                    "the day it arrived (the case's manufacturer)"))] = None,
                note: Annotated[Optional[str], typer.Option(metavar="TEXT", help="e.g. the tracking number")]
                = None) -> None:
        """Record steps of the replaced unit's return; each party records its own."""
        crm = open_crm()
        case = crm.cases.record_return(case_id, rma_number=rma, shipped_on=shipped_on, received_on=received_on,
                                       note=note, by=resolve_actor(crm, as_))
        say(f"case {case_id}: {case_returns.describe(case)} (version {case.version})", markup=False,
            highlight=False)

    @cases.command("credit", epilog=examples("dealercrm cases credit 4 449.90 EUR --as 'Claire Dubois'",
                                             "dealercrm cases credit 4 120 EUR --as 7 --on 2026-03-20"))
    def credit(case_id: Annotated[int, an_id("case")],
               amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="e.g. 449.90")],
               currency: Annotated[str, typer.Argument(metavar="CURRENCY", help="ISO 4217, e.g. EUR")],
               as_: Annotated[str, ACTOR],
               on: Annotated[Optional[str], typer.Option(metavar="YYYY-MM-DD", help="the day of the credit "
                                                                                  "(default today)")] = None,
               note: Annotated[Optional[str], typer.Option(metavar="TEXT", help="e.g. the credit note's number")]
               = None) -> None:
        """Record the manufacturer's credit to the dealer for the case: AMOUNT like 449.90, CURRENCY like EUR."""
        crm = open_crm()
        case = crm.cases.record_credit(case_id, amount, currency, on=on, note=note, by=resolve_actor(crm, as_))
        say(f"case {case_id}: {case_returns.describe(case)} (version {case.version})", markup=False,
            highlight=False)

    @cases.command("allowed", epilog=examples("dealercrm cases allowed 4 --as 'Claire Dubois'"))
    def allowed(case_id: Annotated[int, an_id("case")], as_: Annotated[str, ACTOR]) -> None:
        """The triggers this actor may fire on the case now."""
        crm = open_crm()
        console.print(", ".join(crm.cases.allowed_triggers(case_id, resolve_actor(crm, as_))) or "none")

    @cli.command("tick", epilog=examples("dealercrm tick", "dealercrm --quiet tick   # from cron: silent unless "
                                                           "something failed"))
    def tick(batch_size: Annotated[int, a_count(help="overdue cases escalated per transaction")] = 200) -> None:
        """Escalate overdue cases, run the scheduled rules, dispatch the outbox (safe in several processes)."""
        crm = open_crm()
        with progress("cases") as shown:
            bar = shown.add_task("escalating overdue cases")
            report = crm.cases.tick(batch_size=batch_size, on_progress=lambda n: shown.advance(bar, n))
        say(report.summary())
        for case_id, reason in report.failed:
            err.print(f"case {case_id}: {reason}", markup=False, highlight=False)
        for outcome in run_rules(crm):
            say(f"rule {outcome.rule}: {outcome.fired} acted, {outcome.suppressed} suppressed, "
                f"{len(outcome.failed)} failed")
            for subject, reason in outcome.failed:
                err.print(f"rule {outcome.rule}, subject {subject}: {reason}", markup=False, highlight=False)
        say(dispatch_outbox(crm).summary())
