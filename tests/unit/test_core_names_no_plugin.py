"""The core names no plugin: it imports none, loads none by an ``import_module`` string and
uses no plugin's name as a string.

Built-in plugins are named in one place, ``plugin_manager.DEFAULT_PLUGINS``, and registered
by name exactly like third-party ones (as datasette's ``DEFAULT_PLUGINS``); a host can block
any of them, so everywhere else the core must work with whatever is registered. Read from
the source (``ast``), so a comment or docstring mentioning a plugin is fine; the table names
the core owns (``__tablename__``, foreign keys, an audit record's ``entity``) are not plugin
names even where they are spelt alike; migrations are history and not read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"
#: plugin modules, and plugin packages (``plugins/http_subscriptions/``)
PLUGIN_MODULES = frozenset(p.stem for p in (ROOT / "plugins").glob("*.py") if p.stem != "__init__") | frozenset(
    p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py"))
PACKAGES = ("dealercrm.plugins", "dealercrm.workflows")
REGISTRY = ("plugin_manager.py", "DEFAULT_PLUGINS")  # the one place built-ins are named
TABLE_KEYWORDS = {"entity", "foreign_key"}

#: plugin names the core still uses as strings, each with why (none left: #11 item 3)
KNOWN: dict[tuple[str, str], str] = {}
#: where the core named a plugin until #11 item 3: each stays gone
FIXED = [
    ("core/db/case_models.py", "service_case"),  # the default workflow: [cases] default_workflow, or the only one
    ("core/http/schemas.py", "service_case"),
    ("core/services/cases.py", "service_case"),
    ("core/services/reports.py", "rule_loyal_quiet"),  # at-risk figures: rules that say `at_risk = True`
    ("core/services/subscriptions.py", "http_subscriptions"),  # the service moved into its plugin
]


def names_a_plugin(text: str) -> bool:
    return text in PLUGIN_MODULES or any(text == p or text.startswith(p + ".") for p in PACKAGES)


def mentions(source: str, module: str, *, is_package: bool = False, registry: str | None = None) -> set[tuple[str, str]]:
    """How ``source`` (the module ``module``) names plugins: ``(kind, name)`` pairs, kind one of
    ``import``, ``import_module``, ``string``. ``registry`` names an assignment allowed to list them."""
    tree = ast.parse(source)
    allowed: set[int] = set()  # string constants that are table names or the registry of built-ins
    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if "__tablename__" in names or (registry and registry in names):
                allowed.update(id(c) for c in ast.walk(node.value) if isinstance(c, ast.Constant))
        elif isinstance(node, ast.keyword) and node.arg in TABLE_KEYWORDS:
            allowed.update(id(c) for c in ast.walk(node.value) if isinstance(c, ast.Constant))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "ForeignKey":
            allowed.update(id(c) for arg in node.args for c in ast.walk(arg) if isinstance(c, ast.Constant))
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {("import", a.name) for a in node.names if names_a_plugin(a.name)}
        elif isinstance(node, ast.ImportFrom):
            origin = ".".join([*base[:len(base) - node.level + 1], *([node.module] if node.module else [])]) \
                if node.level else node.module or ""
            imported = [origin] if names_a_plugin(origin) else [f"{origin}.{a.name}" for a in node.names]
            found |= {("import", name) for name in imported if names_a_plugin(name) and "." in name}
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "import_module", "__import__"):
            named = [a for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            found |= {("import_module", a.value) for a in named if names_a_plugin(a.value)}
            allowed.update(id(a) for a in named)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in allowed \
                and names_a_plugin(node.value) and not _is_docstring(tree, node):
            found.add(("string", node.value))
    return found


def _is_docstring(tree: ast.AST, constant: ast.Constant) -> bool:
    return any(isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
               and isinstance(n.body[0], ast.Expr) and n.body[0].value is constant for n in ast.walk(tree))


def core_mentions() -> dict[tuple[str, str], str]:
    """Every way the core names a plugin: ``{(path, name): kind}``."""
    found = {}
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE)
        if rel.parts[0] == "migrations":
            continue
        module = ".".join(["dealercrm", *rel.with_suffix("").parts])
        is_package = path.name == "__init__.py"
        module = module.removesuffix(".__init__")
        registry = REGISTRY[1] if str(rel) == REGISTRY[0] else None
        for kind, name in mentions(path.read_text(encoding="utf-8"), module, is_package=is_package,
                                   registry=registry):
            found[(str(path.relative_to(ROOT)), name)] = kind
    return found


FOUND = core_mentions()


def test_plugin_packages_count_as_plugins_too():
    assert "portal" in PLUGIN_MODULES and "case_notifications" in PLUGIN_MODULES


def test_the_core_imports_no_plugin_or_workflow_module():
    assert [key for key, kind in FOUND.items() if kind != "string"] == []


def test_the_core_uses_no_plugin_name_as_a_string_beyond_the_known_ones():
    assert sorted({key for key, kind in FOUND.items() if kind == "string"} - set(KNOWN)) == []


@pytest.mark.parametrize("where", [pytest.param(key, id=f"{key[0]}:{key[1]}") for key in FIXED])
def test_a_plugin_name_the_core_used_to_name_is_gone(where):
    assert where not in FOUND


@pytest.mark.parametrize("source, module, expected", [
    ("from dealercrm.plugins import channel_sms", "dealercrm.x", {("import", "dealercrm.plugins")}),
    ("import dealercrm.workflows.service_case", "dealercrm.x", {("import", "dealercrm.workflows.service_case")}),
    ("from .plugins.channel_sms import SmsChannel", "dealercrm.x", {("import", "dealercrm.plugins.channel_sms")}),
    ("from ..workflows import service_case", "dealercrm.services.x", {("import", "dealercrm.workflows")}),
    ("from .. import plugins", "dealercrm.services.x", {("import", "dealercrm.plugins")}),
    ("importlib.import_module('dealercrm.plugins.channel_sms')", "dealercrm.x",
     {("import_module", "dealercrm.plugins.channel_sms")}),
    ("settings = crm.settings.plugin('http_subscriptions')", "dealercrm.x", {("string", "http_subscriptions")}),
    ("def open(workflow='service_case'): pass", "dealercrm.x", {("string", "service_case")}),
    ("class Case:\n    __tablename__ = 'service_case'\n    case_id = Field(foreign_key='service_case.id')\n"
     "audit = dict(entity='service_case')\nfk = ForeignKey('service_case.id')", "dealercrm.x", set()),
    ('"""The channel_sms plugin is not imported here."""\nfrom .db import models', "dealercrm.x", set()),
])
def test_the_check_catches_each_way_of_naming_a_plugin(source, module, expected):
    assert mentions(source, module) == expected
