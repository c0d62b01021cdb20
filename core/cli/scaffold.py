"""``dealercrm plugin new NAME``: the project of a new plugin (see docs/tutorial.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..plugin_project import make_plugin_project
from .common import console
from .output import examples


def register(cli: typer.Typer) -> None:
    plugin_cli = typer.Typer(help="Writing plugins: a new plugin project to start from.", no_args_is_help=True)
    cli.add_typer(plugin_cli, name="plugin")

    @plugin_cli.command("new", epilog=examples(
        "dealercrm plugin new roofbox    # then: cd dealercrm-roofbox && pip install -e . && pytest",
        "dealercrm plugin new roofbox --directory ~/src/roofbox"))
    def new(name: Annotated[str, typer.Argument(metavar="NAME", help="the plugin's name: lower case letters, "
                                                                     "digits and _, e.g. roofbox")],
            directory: Annotated[Optional[Path], typer.Option(
                "--directory", metavar="DIR",
                help="where to make the project, an empty or new folder (default: ./dealercrm-NAME)")] = None) -> None:
        """Make a plugin project: a pyproject with the entry point, a channel and a rule with their
        settings, and a test using dealercrm's pytest fixtures that passes as made (docs/tutorial.md)."""
        target = make_plugin_project(name, directory)
        console.print(f"made {target}/ — next: cd {target} && pip install -e . && pytest", markup=False)
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            console.print(f"  {path.relative_to(target)}", markup=False, highlight=False)
