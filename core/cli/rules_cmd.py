"""``dealercrm rules list | run [NAME] [--dry-run]``."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..rules import reacting, scanning
from .common import a_count, console, err, fmt_time, open_crm
from .output import Format, FormatOption, examples, progress, say, show_list


def run_rules(crm, name: str | None = None, *, dry_run: bool = False):
    """The scheduled rules run with a progress display per rule (``output.progress``)."""
    with progress("candidates") as shown:
        bars = {"": shown.add_task(f"running {'rule ' + name if name else 'the scheduled rules'}")}

        def advance(rule: str, n: int) -> None:
            if rule not in bars:
                bars[rule] = shown.add_task(f"rule {rule}")
            shown.advance(bars[rule], n)
            shown.advance(bars[""], n)

        return crm.rules.run(name, dry_run=dry_run, on_progress=advance)


def register(cli: typer.Typer) -> None:
    rules = typer.Typer(help="Rules: what they do, when they fired, what they would do.", no_args_is_help=True)
    cli.add_typer(rules, name="rules")

    @rules.command("list", epilog=examples("dealercrm rules list", "dealercrm rules list --format json"))
    def list_(fmt: FormatOption = Format.table) -> None:
        """Every rule, its settings and when it last fired."""
        crm = open_crm()
        fired = crm.rules.last_fired()
        items = []
        for name, rule in sorted(crm.rules.rules.items()):
            when, count = fired.get(name, (None, 0))
            items.append({"rule": name, "enabled": crm.rules.enabled(rule),
                          "runs": [k for k, yes in (("tick", scanning(rule)), ("events", reacting(rule))) if yes],
                          "description": rule.description, "settings": crm.rules.settings_for(rule),
                          "last_fired_at": when, "firings": count})

        def table() -> Table:
            t = Table("rule", "runs", "what it does", "settings", "last fired", "firings")
            for r in items:
                t.add_row(r["rule"] + ("" if r["enabled"] else " [dim](disabled)[/]"), "/".join(r["runs"]),
                          escape(r["description"]), escape(json.dumps(r["settings"], ensure_ascii=False, default=str)),
                          fmt_time(r["last_fired_at"]), str(r["firings"]))
            return t

        show_list(fmt, items, table)

    @rules.command("run", epilog=examples("dealercrm rules run", "dealercrm rules run rule_loyal_quiet --dry-run",
                                          "dealercrm rules run rule_after_sale --dry-run --show 100"))
    def run(name: Annotated[Optional[str], typer.Argument(
                metavar="RULE", help="one rule; default: every scheduled rule")] = None,
            dry_run: Annotated[bool, typer.Option("--dry-run", help="show what it would do, change nothing")] = False,
            show: Annotated[int, a_count(help="how many planned actions (or failures) to list")] = 30) -> None:
        """Run scheduled rules over the whole customer file (with a progress bar in a terminal)."""
        crm = open_crm()
        for o in run_rules(crm, name, dry_run=dry_run):
            if dry_run:
                console.print(f"[bold]{o.rule}[/] would act on {len(o.planned)} situations:")
                for plan in o.planned[:show]:
                    console.print(f"  {plan['situation']} (subject {plan['subject']}): {'; '.join(plan['would'])}",
                                  markup=False, highlight=False)
            else:
                say(f"{o.rule}: {o.fired} acted, {o.suppressed} suppressed, {len(o.failed)} failed")
            for subject, reason in o.failed[:show]:
                err.print(f"  subject {subject}: {reason}", markup=False, highlight=False)
