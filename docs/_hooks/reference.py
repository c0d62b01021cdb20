"""MkDocs hook: the generated parts of the reference, made from the code at build time.

A page marks where its generated part goes with a comment line; the hook replaces it
before mkdocstrings and Markdown see the page:

* ``<!-- generated: services -->`` — one section per service property of ``dealercrm.CRM``
  (``crm.customers``, ``crm.cases`` ...), each rendered by mkdocstrings from its class.
  The list comes from the class's annotations, so a service added to ``CRM`` is in the
  reference the moment it exists.
* ``<!-- generated: cli -->`` — every visible command of the Typer app that ``dealercrm``
  runs (``dealercrm.cli.build_cli``), each with the help Typer itself prints for it: a
  renamed or added command, option or example is in the reference with no second copy.
* ``<!-- generated: openapi -->`` — every operation and schema of ``docs/openapi.json``
  (the document a test keeps equal to what the server serves), as Markdown.

Nothing here is imported by dealercrm; it runs only inside ``mkdocs build``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import re
import typing
from functools import cached_property
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

MARKER = re.compile(r"^<!-- generated: (\w+) -->$", re.MULTILINE)
DOCS = Path(__file__).resolve().parents[1]


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: no generator for '{match.group(0)}' "
                             f"(known: {', '.join(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(expand, markdown)


# -- the services ---------------------------------------------------------------------------

def services() -> list[tuple[str, type]]:
    """``(property name, service class)`` for every service on ``CRM``, in source order: the
    cached properties whose return annotation names a class from ``dealercrm.services``."""
    import dealercrm.services
    from dealercrm.app import CRM
    names: dict[str, Any] = {}
    for module in pkgutil.iter_modules(dealercrm.services.__path__, "dealercrm.services."):
        names.update(vars(importlib.import_module(module.name)))
    found = []
    for name, attr in vars(CRM).items():
        if isinstance(attr, cached_property):
            cls = names.get(attr.func.__annotations__.get("return", ""))  # a name: app.py says `-> CaseService`
            if inspect.isclass(cls) and cls.__module__.startswith("dealercrm.services."):
                found.append((name, cls))
    return found


def services_markdown() -> str:
    parts = []
    for name, cls in services():
        summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        parts.append(f"## `crm.{name}`\n\n{summary}\n\n"
                     f"::: {cls.__module__}.{cls.__qualname__}\n"
                     "    options:\n      show_root_heading: false\n      heading_level: 3\n")
    return "\n".join(parts)


def namespace() -> dict[str, Any]:
    """Every name the core's modules define or import: enough to resolve the string
    annotations (``from __future__ import annotations``, names imported only while type
    checking) of the services' methods."""
    import dealercrm
    names: dict[str, Any] = {}
    for module in pkgutil.walk_packages(dealercrm.__path__, "dealercrm."):
        if module.name.startswith(("dealercrm.cli", "dealercrm.http", "dealercrm.migrations", "dealercrm.plugins",
                                   "dealercrm.workflows")):
            continue
        names.update({k: v for k, v in vars(importlib.import_module(module.name)).items() if inspect.isclass(v)})
    return names


def returned_classes() -> list[type]:
    """The dealercrm classes the services' public methods return, in the order first met."""
    names = namespace()
    found: dict[type, None] = {}

    def collect(hint: Any) -> None:
        if inspect.isclass(hint) and hint.__module__.startswith("dealercrm.") and not hint.__module__.startswith(
                "dealercrm.services.") or inspect.isclass(hint) and hint.__module__.startswith("dealercrm.services.") \
                and not issubclass(hint, names["Service"]):
            found.setdefault(hint)
        for arg in typing.get_args(hint):
            collect(arg)

    for _name, cls in services():
        for attr, member in inspect.getmembers(cls, inspect.isfunction):
            if not attr.startswith("_"):
                collect(typing.get_type_hints(member, localns=names).get("return"))
    return list(found)


def records_markdown() -> str:
    return "\n".join(f"::: {cls.__module__}.{cls.__qualname__}\n" for cls in returned_classes())


# -- the command line -----------------------------------------------------------------------

def commands(group: Any, path: tuple[str, ...], ctx: Any) -> list[tuple[str, ...]]:
    """The path of every visible command under ``group``, depth first, in the order ``--help``
    lists them. (Typer's own copy of click's classes, not click's: the group is recognised by
    what it does.)"""
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        found.append((*path, name))
        if hasattr(command, "list_commands"):
            found += commands(command, (*path, name), command.context_class(command, info_name=name, parent=ctx))
    return found


def cli_markdown() -> str:
    from dealercrm.cli import build_cli
    app = build_cli()
    root = typer.main.get_command(app)
    # a fixed width, no colour and no terminal: the same text on every machine
    env = {"TERMINAL_WIDTH": "100", "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    runner = CliRunner()
    parts = []
    for path in [(), *commands(root, (), root.context_class(root, info_name="dealercrm"))]:
        done = runner.invoke(app, [*path, "--help"], env=env, prog_name="dealercrm")
        if done.exit_code != 0:
            raise RuntimeError(f"dealercrm {' '.join(path)} --help failed: {done.output}")
        title = " ".join(("dealercrm", *path))
        level = "#" * min(2 + len(path) - (1 if path else 0), 4)
        text = "\n".join(line.rstrip() for line in done.output.splitlines()).strip("\n")
        parts.append(f"{level} `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


# -- the OpenAPI document -------------------------------------------------------------------

def schema_type(schema: dict, spec: dict) -> str:
    """A JSON schema in a few words: ``string``, ``integer | null``, a link to a component."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#schema-{anchor(name)})"
    if "anyOf" in schema or "oneOf" in schema:
        return " \\| ".join(schema_type(s, spec) for s in schema.get("anyOf", schema.get("oneOf")))
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {schema_type(schema.get('items', {}), spec)}"
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {schema_type(schema['additionalProperties'], spec)}"
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def openapi_markdown() -> str:
    spec = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))
    by_tag: dict[str, list[tuple[str, str, dict]]] = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if method in ("get", "put", "post", "patch", "delete", "head", "options"):
                by_tag.setdefault((op.get("tags") or ["other"])[0], []).append((method, path, op))
    out = []
    for tag, operations in by_tag.items():
        out.append(f"## {tag}\n")
        for method, path, op in operations:
            out.append(f"### `{method.upper()} {path}` {{ #{anchor(method + ' ' + path)} }}\n")
            out.append(f"**{op.get('summary', '')}** — `{op.get('operationId', '')}`\n")
            if op.get("description"):
                out.append(op["description"].strip() + "\n")
            if op.get("parameters"):
                out.append("| parameter | in | type | required | description |\n|---|---|---|---|---|")
                for p in op["parameters"]:
                    out.append(f"| `{p['name']}` | {p['in']} | {schema_type(p.get('schema', {}), spec)} | "
                               f"{'yes' if p.get('required') else 'no'} | {cell(p.get('description', ''))} |")
                out.append("")
            body = op.get("requestBody")
            if body:
                kinds = ", ".join(f"`{ct}`: {schema_type(c.get('schema', {}), spec)}"
                                  for ct, c in body.get("content", {}).items())
                out.append(f"Request body{' (required)' if body.get('required') else ''}: {kinds}\n")
            out.append("| answer | description | body |\n|---|---|---|")
            for code, answer in op.get("responses", {}).items():
                kinds = ", ".join(f"`{ct}`: {schema_type(c.get('schema', {}), spec)}"
                                  for ct, c in answer.get("content", {}).items())
                out.append(f"| {code} | {cell(answer.get('description', ''))} | {kinds} |")
            out.append("")
    out.append("## Schemas\n")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        out.append(f"### {name} {{ #schema-{anchor(name)} }}\n")
        if schema.get("description"):
            out.append(cell(schema["description"]) + "\n")
        props = schema.get("properties")
        if props:
            required = set(schema.get("required", ()))
            out.append("| field | type | required | description |\n|---|---|---|---|")
            for field, sub in props.items():
                default = f" (default `{json.dumps(sub['default'])}`)" if "default" in sub else ""
                out.append(f"| `{field}` | {schema_type(sub, spec)} | {'yes' if field in required else 'no'} | "
                           f"{cell(sub.get('description', ''))}{default} |")
            out.append("")
        else:
            out.append(f"Type: {schema_type(schema, spec)}\n")
    return "\n".join(out)


GENERATORS = {"services": services_markdown, "records": records_markdown, "cli": cli_markdown, "openapi": openapi_markdown}

if os.environ.get("DEALERCRM_DOCS_DEBUG"):  # pragma: no cover - print a generated part
    print(GENERATORS[os.environ["DEALERCRM_DOCS_DEBUG"]]())
