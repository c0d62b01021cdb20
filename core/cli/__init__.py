"""The ``dealercrm`` command line: thin entry points over the services.

Domain errors become a one-line message and exit code 1, never a traceback — and so does
any file-system error a command did not turn into one itself (a path that does not exist,
a folder where a file was meant); plugins add their own commands through
``dealercrm_register_commands``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer

from ..errors import DealerCrmError
from ..fields import CUSTOMER
from ..plugin_manager import BLOCK_ENV, build_plugin_manager
from ..settings import load_settings
from .common import err, set_plugins

HELP = """dealercrm: the customer file, rules and service cases for dealers.

Commands are NOUN VERB (dealercrm customers import FILE); the application-wide jobs (init,
demo, tick, dispatch, worker, serve, report, openapi) are verbs of their own. Every list
takes --format table|json|csv; every command's --help ends with examples.
"""


def build_cli(plugins: tuple[object, ...] = ()) -> typer.Typer:
    """The command line with every loaded plugin's commands.

    Built whatever is wrong with the installation: an installed plugin that fails to load is
    reported (with how to block it) and left out, and a settings file with mistakes is left
    to the commands that read it — so ``--help``, ``plugins``, ``db`` and ``settings check``
    still work while the commands that need the broken part refuse, naming it."""
    from . import (cases, customers, data, db, demo, http_cmd, messaging, parties_cmd, plugins_cmd, products, report,
                   rules_cmd, scaffold, settings_cmd, tasks_cmd, workflow_cmd)

    # rich_markup_mode=None: help is printed as written ("[cases] default_workflow" stays), and
    # each command's examples keep their lines
    cli = typer.Typer(name="dealercrm", help=HELP, no_args_is_help=True, rich_markup_mode=None,
                      pretty_exceptions_enable=False, add_completion=False)
    cli.callback()(db.global_options)
    set_plugins(plugins)
    try:
        block = load_settings().block_plugins
    except DealerCrmError:  # reported by the command that reads the settings ("settings check": all of it)
        block = tuple(n.strip() for n in os.environ.get(BLOCK_ENV, "").split(",") if n.strip())
    pm = build_plugin_manager(plugins, block=block, tolerate_broken=True)
    for failure in pm.failed.values():
        err.print(f"warning: {failure}", markup=False, highlight=False, soft_wrap=True)
    extra = [f for found in pm.hook.dealercrm_register_fields() for f in (found or ())]
    customers.register(cli, CUSTOMER.extended(extra))
    for module in (db, data, products, parties_cmd, cases, tasks_cmd, messaging, rules_cmd, report, workflow_cmd,
                   plugins_cmd, demo, http_cmd, settings_cmd, scaffold):
        module.register(cli)
    pm.checked_call("dealercrm_register_commands", cli=cli)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    try:
        command = typer.main.get_command(build_cli())
        command.main(args=list(argv) if argv is not None else None, prog_name="dealercrm", standalone_mode=True)
    except (DealerCrmError, OSError) as exc:
        said = exc if isinstance(exc, DealerCrmError) else (
            f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}")
        err.print(f"error: {said}", markup=False, highlight=False, soft_wrap=True)
        if argv is None:
            raise SystemExit(1) from None
        return 1
    except SystemExit as exc:
        if argv is None:
            raise
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
