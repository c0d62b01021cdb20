"""``dealercrm plugins``: what is loaded, which hooks it implements, where it came from."""

from __future__ import annotations

import typer
from rich.table import Table

from .common import console, open_crm


def register(cli: typer.Typer) -> None:
    @cli.command("plugins")
    def plugins() -> None:
        """List every loaded plugin, its hooks and its origin, and every plugin that failed to load."""
        pm = open_crm(tolerate_broken_plugins=True).plugins
        table = Table("plugin", "hooks", "origin")
        for name, origin in sorted(pm.origins.items()):
            plugin = pm.get_plugin(name)
            hooks = sorted(impl.name for impl in pm.get_hookcallers(plugin) or [])
            table.add_row(name, "\n".join(hooks) or "—", origin)
        for name, failure in sorted(pm.failed.items()):
            table.add_row(name, "—", f"FAILED TO LOAD: {failure.cause}")
        console.print(table)
        blocked = sorted(pm.blocked)
        if blocked:
            console.print(f"blocked: {', '.join(blocked)}")
