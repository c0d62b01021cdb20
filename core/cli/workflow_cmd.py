"""``dealercrm workflow check | show``: prove and picture the workflows."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..errors import NotFound
from ..plugin_manager import build_plugin_manager
from ..settings import load_settings
from ..workflow.check import check_workflow
from ..workflow.promise import bound
from ..workflow.registry import declared_workflows
from ..workflow.render import to_mermaid, to_text
from .common import err
from .output import examples, say


def _workflows(name: str | None):
    settings = load_settings()
    found = declared_workflows(build_plugin_manager(block=settings.block_plugins),
                               levels=settings.cases.service_levels)
    if name is None:
        return list(found.values())
    if name not in found:
        raise NotFound("workflow", name)
    return [found[name]]


class Picture(str, Enum):
    text = "text"
    mermaid = "mermaid"


Name = Annotated[Optional[str], typer.Argument(metavar="WORKFLOW", help="one workflow by name; default: every one")]
def promises(wf) -> str:
    """Per service level, the promise from the declared deadlines: resolved within this much,
    with the manufacturer, technician and customer silent (``dealercrm.workflow.promise``)."""
    lines = ["  the promise (only the dealer and the system acting, everyone else silent):"]
    width = max(len(n) for n in wf.level_names)
    for name in wf.level_names:
        found = bound(wf.at_level(name))
        level = wf.level(name)
        when = f" ({level.conditions})" if level else " (every other case)"
        lines.append(f"  {name:<{width}}  resolved within {found.describe()} at the latest{when}"
                     if found else f"  {name:<{width}}  no promise: no resolving final state can be reached")
        if found:
            lines.append(f"  {'':<{width}}    {found.way}")
    return "\n".join(lines)


def register(cli: typer.Typer) -> None:
    wf_cli = typer.Typer(help="Workflows: check the no-dead-end properties, render them.", no_args_is_help=True)
    cli.add_typer(wf_cli, name="workflow")

    @wf_cli.command("check", epilog=examples("dealercrm workflow check", "dealercrm workflow check service_case"))
    def check(name: Name = None) -> None:
        """Check the six no-dead-end properties of every (or one) workflow, after all plugins extended it
        and with the settings' service levels, and print the promise per service level."""
        bad = 0
        for wf in _workflows(name):
            violations = check_workflow(wf)
            if not violations:
                say(f"[green]ok[/] workflow {wf.name!r}: {len(wf.states)} states, "
                    f"{len(wf.transitions)} transitions, all six properties hold on "
                    f"{len(wf.level_names)} service level{'s' * (len(wf.level_names) != 1)}")
                print(promises(wf))
                continue
            bad += 1
            table = Table("property", "where", "what is wrong", title=f"workflow {wf.name!r} is unsound")
            for v in violations:
                table.add_row(str(v.property), str(v.subject), v.message)
            err.print(table)
        if bad:
            raise typer.Exit(1)

    @wf_cli.command("show", epilog=examples("dealercrm workflow show service_case",
                                            "dealercrm workflow show --format mermaid > service_case.mmd"))
    def show(name: Name = None,
             format: Annotated[Picture, typer.Option(
                 "--format", "-f", case_sensitive=False, help="text, or a Mermaid state diagram (GitHub and most "
                 "wikis draw it)")] = Picture.text) -> None:
        """Render a workflow as a Mermaid state diagram or as text."""
        for wf in _workflows(name):
            print(to_mermaid(wf) if format is Picture.mermaid else to_text(wf))
