"""The command line's conventions, checked by walking the whole Typer application.

``problems(cli)`` lists every place a command breaks them, plugins' commands included (a
plugin author can run it on ``build_cli(plugins=(mine,))``):

- every command's help ends with examples (``output.examples``), each one a command line
  that calls *this* command and that the parser accepts as written;
- every option and argument says what it is (``help``);
- every value has a readable placeholder: an explicit ``metavar`` such as ``CUSTOMER_ID``,
  ``KEY=VALUE`` or ``YYYY-MM-DD``, or a choice like ``[table|json|csv]`` — and the rendered
  help holds none of ``<str>``, ``{customer_id}``, ``list[str]`` (newer Typer versions print
  those for parameters without a metavar of their own);
- every list command (named ``list``, or paging with ``--limit``) takes ``--format`` with
  table, json and csv.

Hidden commands (the old forms kept for one version) need no examples of their own.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import typer

READABLE = re.compile(r"^[A-Z][A-Z0-9_]*(?:[-=|.][A-Z0-9_]+)*$")
UNREADABLE = re.compile(r"<[\w\[\]| ]+>|\{\w+\}|\blist\[")
FORMATS = {"table", "json", "csv"}


def walk(command: Any, ctx: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """``(path, command, context)`` for the command and everything under it, hidden ones too."""
    yield path, command, ctx
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from walk(sub, sub.make_context(name, [], parent=ctx, resilient_parsing=True), (*path, name))


def problems(cli: typer.Typer) -> list[str]:
    root = typer.main.get_command(cli)
    found: list[str] = []
    for path, command, ctx in walk(root, root.make_context("dealercrm", [], resilient_parsing=True), ("dealercrm",)):
        if hasattr(command, "list_commands"):
            continue  # a group: its commands carry the examples
        name = " ".join(path)
        if not command.hidden:
            found += [f"{name}: {p}" for p in _example_problems(root, command, path)]
        for param in command.params:
            if param.name == "help":
                continue
            shown = param.opts[-1] if param.param_type_name == "option" else param.human_readable_name
            if not (getattr(param, "help", None) or "").strip():
                found.append(f"{name}: {shown} has no help")
            if not _readable(param):
                found.append(f"{name}: {shown} has no readable placeholder ({param.metavar or 'none'}); give it a "
                             "metavar such as CUSTOMER_ID, KEY=VALUE or YYYY-MM-DD")
        unreadable = UNREADABLE.findall(command.get_help(ctx))
        if unreadable:
            found.append(f"{name}: its help shows {', '.join(sorted(set(unreadable)))}")
        if _lists(path, command) and not _formats(command):
            found.append(f"{name}: a list command without --format table|json|csv")
    return found


def _readable(param: Any) -> bool:
    if param.param_type_name == "option" and (param.is_flag or param.count):
        return True
    if getattr(param.type, "choices", None) and param.metavar is None:
        return True  # shown as [a|b|c]
    return bool(param.metavar) and READABLE.match(param.metavar) is not None


def _lists(path: tuple[str, ...], command: Any) -> bool:
    return path[-1] == "list" or any("--limit" in p.opts for p in command.params if p.param_type_name == "option")


def _formats(command: Any) -> bool:
    return any("--format" in p.opts and FORMATS <= set(getattr(p.type, "choices", ()) or ())
               for p in command.params if p.param_type_name == "option")


def _example_problems(root: Any, command: Any, path: tuple[str, ...]) -> Iterator[str]:
    lines = [line.strip() for line in (command.epilog or "").split("Examples:", 1)[-1].splitlines()
             if line.strip().startswith(("dealercrm ", "cat "))] if "Examples:" in (command.epilog or "") else []
    if not lines:
        yield "has no examples (epilog=examples(...))"
        return
    for line in lines:
        try:
            called = _parsed(root, line)
        except Exception as exc:  # noqa: BLE001 — whatever the parser says is the problem
            yield f"the example {line!r} does not parse: {getattr(exc, 'message', None) or type(exc).__name__}"
            continue
        if called != path:
            yield f"the example {line!r} calls {' '.join(called)}, not this command"


def _parsed(root: Any, line: str) -> tuple[str, ...]:
    """The command path an example line calls, after the parser accepted every argument of it."""
    words = shlex.split(line, comments=True)
    if "|" in words:  # a pipeline: the part that runs dealercrm
        parts: list[list[str]] = [[]]
        for word in words:
            if word == "|":
                parts.append([])
            else:
                parts[-1].append(word)
        words = next(p for p in parts if p and p[0] == "dealercrm")
    words = words[1:words.index(">")] if ">" in words else words[1:]
    options = [p for p in root.params if p.param_type_name == "option"]
    takes_value = {o for p in options if not p.is_flag for o in p.opts}
    start = 0
    while start < len(words) and words[start].startswith("-"):
        start += 2 if words[start] in takes_value else 1
    ctx = root.make_context("dealercrm", words[:start + 1])  # with the command's name: no "no arguments, help"
    command, rest, path = root, words[start:], ["dealercrm"]
    while hasattr(command, "list_commands"):
        name, rest = rest[0], rest[1:]
        command = command.get_command(ctx, name)
        if command is None:
            raise ValueError(f"no command {name!r}")
        path.append(name)
        if hasattr(command, "list_commands"):
            ctx = command.make_context(name, list(rest), parent=ctx)
        else:
            command.make_context(name, list(rest), parent=ctx)  # raises on what the parser refuses
    return tuple(path)
