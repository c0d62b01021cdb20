"""``dealercrm plugins list``: what is loaded, which hooks it implements, where it came from."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import console, open_crm
from .output import Format, FormatOption, deprecated, examples, show_list


def register(cli: typer.Typer) -> None:
    plugins = typer.Typer(help="The plugins: what is loaded, blocked and failed to load.", invoke_without_command=True)
    cli.add_typer(plugins, name="plugins")

    @plugins.callback()
    def plugins_bare(ctx: typer.Context) -> None:
        """The plugins: what is loaded and blocked (``dealercrm plugins list``)."""
        if ctx.invoked_subcommand is None:
            deprecated("plugins", "plugins list")
            list_(Format.table)

    @plugins.command("list", epilog=examples("dealercrm plugins list", "dealercrm plugins list --format json"))
    def list_(fmt: FormatOption = Format.table) -> None:
        """Every loaded plugin, its hooks and its origin, the blocked ones and those that failed to load.

        Works while an installed plugin is broken: that one is listed with why it failed (block it
        with DEALERCRM_BLOCK_PLUGINS)."""
        pm = open_crm(tolerate_broken_plugins=True).plugins
        items = [{"plugin": name, "hooks": sorted(impl.name for impl in pm.get_hookcallers(pm.get_plugin(name)) or []),
                  "origin": origin, "blocked": False, "failed": None} for name, origin in sorted(pm.origins.items())]
        items += [{"plugin": name, "hooks": [], "origin": None, "blocked": False, "failed": str(failure.cause)}
                  for name, failure in sorted(pm.failed.items())]
        items += [{"plugin": name, "hooks": [], "origin": None, "blocked": True, "failed": None}
                  for name in sorted(pm.blocked)]

        def table() -> Table:
            t = Table("plugin", "hooks", "origin")
            for p in items:
                if p["failed"] is not None:
                    t.add_row(p["plugin"], "—", f"FAILED TO LOAD: {p['failed']}")
                elif not p["blocked"]:
                    t.add_row(p["plugin"], "\n".join(p["hooks"]) or "—", p["origin"])
            return t

        show_list(fmt, items, table)
        blocked = [p["plugin"] for p in items if p["blocked"]]
        if blocked and fmt is Format.table:
            console.print(f"blocked: {', '.join(blocked)}")
