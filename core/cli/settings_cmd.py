"""``dealercrm settings check | show``: is the settings file right, and what is in effect.

Both work without a database and with a broken plugin installed: ``check`` is what to run
when the application refuses to start, so it lists every problem at once — unknown tables
and keys with the closest known one, values of the wrong type, what the running
application would refuse later (``[inbound]`` rules, ``[unsubscribe]``, the default
workflow, the service levels proven with their workflows), plugins that fail to load with how to block them — where starting stops at the
first. ``show`` prints the settings in effect, defaults included, as TOML (or JSON), with
every secret masked.
"""

from __future__ import annotations

import json
from datetime import date, time
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import attrs
import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..db.engine import database_url
from ..errors import DealerCrmError
from ..plugin_manager import PluginManager, build_plugin_manager, declared_settings
from ..settings import SECTIONS, Settings, check_plugin_tables, read_settings
from ..settings_schema import MASK, as_table, mask_table
from .common import _state, console, err
from .output import examples


@attrs.define
class Examined:
    """What ``settings check`` found."""

    settings: Settings
    pm: PluginManager
    declared: dict[str, tuple[str, type]]
    problems: list[DealerCrmError]
    #: tables accepted as written: their plugin declares no settings, is blocked or failed to load
    unchecked: dict[str, str]


def examine() -> Examined:
    """Read the settings file and check every table, collecting every problem."""
    problems: list[DealerCrmError] = []
    settings = read_settings(problems=problems)  # type: ignore[arg-type]
    pm = build_plugin_manager(_state["plugins"], block=settings.block_plugins, tolerate_broken=True)
    try:
        declared = declared_settings(pm)
    except DealerCrmError as exc:
        problems.append(exc)
        declared = {}
    declaring = {plugin for plugin, _ in declared.values()}
    why = {**{n: "it declares no settings" for n in pm.origins if n not in declaring},
           **{n: "it is blocked" for n in pm.blocked}, **{n: "it failed to load" for n in pm.failed}}
    settings = check_plugin_tables(settings, declared, unchecked=why, problems=problems)  # type: ignore[arg-type]
    for later in () if problems else _checked_when_used(settings, pm):  # on tables of the right shape only
        try:
            later()
        except DealerCrmError as exc:
            problems.append(exc)
    return Examined(settings, pm, declared, problems,
                    {t: why[t] for t in settings.plugins if t in why and t not in declared})


def _checked_when_used(settings: Settings, pm: PluginManager) -> list[Callable[[], Any]]:
    """What the application checks only when it first needs it, checked now."""
    from ..services.cases import default_workflow
    from ..services.inbound import inbound_rules
    from ..unsubscribe import UnsubscribeLinks
    from ..workflow.registry import load_workflows

    def workflows() -> None:
        found = load_workflows(pm, levels=settings.cases.service_levels)  # the levels proven with them
        if settings.cases.default_workflow:
            default_workflow(settings.cases.default_workflow, found)

    return [lambda: inbound_rules(settings.inbound, settings.source),
            lambda: UnsubscribeLinks.from_settings(settings.unsubscribe, source=settings.source), workflows]


def register(cli: typer.Typer) -> None:
    settings_cli = typer.Typer(help="The settings file (dealercrm.toml): check it, show what is in effect.",
                               no_args_is_help=True)
    cli.add_typer(settings_cli, name="settings")

    @settings_cli.command("check", epilog=examples(
        "dealercrm settings check    # ./dealercrm.toml, or the file $DEALERCRM_SETTINGS names"))
    def check() -> None:
        """Check the settings file and every plugin's table; list every problem at once.

        Run it when the application refuses to start: unknown tables and keys are named with
        the closest known one, wrong values with what is allowed. Exits with 1 when there is a
        problem or a plugin fails to load."""
        found = examine()
        source = found.settings.source
        console.print(f"settings: {source if source != 'defaults' else 'no file (the defaults)'}", markup=False)
        for problem in found.problems:
            console.print(f"  ✗ {problem}", markup=False, highlight=False, soft_wrap=True)
        for failure in found.pm.failed.values():
            console.print(f"  ✗ {failure}", markup=False, highlight=False, soft_wrap=True)
        for table, why in sorted(found.unchecked.items()):
            console.print(f"  note: [plugins.{table}] is taken as written: {why}", markup=False, highlight=False)
        tables = 2 + len(SECTIONS) + len(found.declared)
        failed = len(found.problems) + len(found.pm.failed)
        if failed:
            console.print(f"{failed} problem{'s' if failed > 1 else ''} in {tables} tables", markup=False)
            raise typer.Exit(1)
        console.print(f"ok: {tables} tables checked ({len(found.declared)} declared by plugins)", markup=False)

    @settings_cli.command("show", epilog=examples("dealercrm settings show",
                                                  "dealercrm settings show --format json"))
    def show(output: Annotated[Literal["toml", "json"], typer.Option(
                 "--format", help="toml (the settings file's own form) or json")] = "toml") -> None:
        """Print the settings in effect — file, environment and defaults — with secrets masked.

        Refuses, like the application, while the settings have a problem (see settings check)."""
        found = examine()
        if found.problems:
            for problem in found.problems:
                err.print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        tables = in_effect(found)
        if output == "json":
            console.print_json(json.dumps(tables, default=str))
            return
        header = (f"# the settings in effect: {found.settings.source}, the environment and the defaults; "
                  f"secrets shown as \"{MASK}\"\n")
        print(header + toml_text(tables), end="")


def in_effect(found: Examined) -> dict[str, Any]:
    """Every table with what is in effect, secrets masked."""
    s = found.settings
    core = {"database_url": _url(database_url(s.database_url)), "default_region": s.default_region,
            "home_dealer": s.home_dealer, "block_plugins": list(s.block_plugins), "language": s.language,
            "secret_key": MASK if s.secret_key else None}
    tables: dict[str, Any] = {"dealercrm": core}
    tables.update({name: as_table(getattr(s, name)) for name in SECTIONS})
    tables["inbound"] = mask_table(s.inbound)
    plugins = {table: as_table(s.checked[table]) for table in sorted(found.declared)}
    plugins.update({table: mask_table(s.plugins[table]) for table in sorted(found.unchecked)})
    tables["plugins"] = plugins
    return tables


def _url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return MASK


def toml_text(tables: Mapping[str, Any], prefix: str = "") -> str:
    """Tables as TOML: each table's header, its keys, then its sub-tables; a key that is not
    set becomes a comment (TOML has no null)."""
    lines = [f"[{prefix}]"] if prefix else []
    for key, value in tables.items():
        if isinstance(value, Mapping) and value:
            continue
        lines.append(f"# {_key(key)} is not set" if value is None else f"{_key(key)} = {_value(value)}")
    text = "\n".join(lines) + "\n" if lines else ""
    for key, value in tables.items():
        if isinstance(value, Mapping) and value:
            text += ("\n" if text else "") + toml_text(value, f"{prefix}.{_key(key)}" if prefix else _key(key))
    return text


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value))
