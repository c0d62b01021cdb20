"""``dealercrm rules list | run NAME [--dry-run]``."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..rules import reacting, scanning
from .common import console, err, fmt_time, open_crm


def register(cli: typer.Typer) -> None:
    rules = typer.Typer(help="Rules: what they do, when they fired, what they would do.", no_args_is_help=True)
    cli.add_typer(rules, name="rules")

    @rules.command("list")
    def list_() -> None:
        """Every rule, its settings and when it last fired."""
        crm = open_crm()
        fired = crm.rules.last_fired()
        table = Table("rule", "runs", "what it does", "settings", "last fired", "firings")
        for name, rule in sorted(crm.rules.rules.items()):
            kinds = "/".join(k for k, yes in (("tick", scanning(rule)), ("events", reacting(rule))) if yes)
            settings = crm.rules.settings_for(rule)
            when, count = fired.get(name, (None, 0))
            table.add_row(name + ("" if crm.rules.enabled(rule) else " [dim](disabled)[/]"), kinds, rule.description,
                          json.dumps(settings, ensure_ascii=False, default=str), fmt_time(when), str(count))
        console.print(table)

    @rules.command("run")
    def run(name: Annotated[Optional[str], typer.Argument(help="one rule; default: every scheduled rule")] = None,
            dry_run: Annotated[bool, typer.Option("--dry-run", help="show what it would do, change nothing")] = False,
            show: Annotated[int, typer.Option(help="how many planned actions to list in a dry run")] = 30) -> None:
        """Run scheduled rules over the whole customer file (with a progress bar)."""
        crm = open_crm()
        columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} candidates"),
                   TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True) as progress:
            bars: dict[str, int] = {}

            def advance(rule: str, n: int) -> None:
                if rule not in bars:
                    bars[rule] = progress.add_task(rule, total=None)
                progress.advance(bars[rule], n)

            outcomes = crm.rules.run(name, dry_run=dry_run, on_progress=advance)
        for o in outcomes:
            if dry_run:
                console.print(f"[bold]{o.rule}[/] would act on {len(o.planned)} situations:")
                for plan in o.planned[:show]:
                    console.print(f"  {plan['situation']} (subject {plan['subject']}): {'; '.join(plan['would'])}",
                                  markup=False, highlight=False)
            else:
                console.print(f"{o.rule}: {o.fired} acted, {o.suppressed} suppressed, {len(o.failed)} failed")
            for subject, reason in o.failed[:show]:
                err.print(f"  subject {subject}: {reason}", markup=False, highlight=False)
