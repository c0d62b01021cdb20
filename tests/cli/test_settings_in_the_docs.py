"""Every settings example dealercrm ships is one ``dealercrm settings check`` accepts, and a
typo in any table declared since the settings became checked is refused, naming it.

An installer copies the README's ``dealercrm.toml``, a table from docs/http.md or the
lines a plugin's docstring shows: if the checker refused what the documentation says, the
first thing they met would be an error. So each snippet — the ```toml blocks of the README
and docs/, and the ``::`` blocks of the modules' docstrings that are settings tables,
including the project ``dealercrm plugin new`` makes — is written to a file and checked
with the command an installer runs, with the built-in plugins and the scaffold's.
"""

from __future__ import annotations

import importlib.util
import re
import textwrap
import tomllib
from pathlib import Path

import pytest
import typer

from dealercrm.cli import build_cli
from dealercrm.plugin_project import make_plugin_project

ROOT = Path(__file__).resolve().parents[2]
#: tables of a pyproject.toml, not of dealercrm.toml
NOT_SETTINGS = ("project", "build-system", "tool")
FENCE = re.compile(r"^(?P<indent>[ ]*)```toml[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
LITERAL = re.compile(r"::\n\n(?P<body>(?:(?:[ ]{4}.*)?\n)+)")


def scaffold(folder: Path) -> Path:
    """The module ``dealercrm plugin new roofbox`` makes, as an author's project holds it."""
    project = make_plugin_project("roofbox", folder / "dealercrm-roofbox")
    return project / "src" / "dealercrm_roofbox" / "__init__.py"


def snippets(module_of_the_scaffold: Path) -> dict[str, str]:
    """Every settings example shipped: ``{"README.md:381": text}``."""
    found: dict[str, str] = {}
    project = module_of_the_scaffold.parents[2]
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), project / "README.md"]:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(project.parent if path.is_relative_to(project) else ROOT)
        for m in FENCE.finditer(text):
            found[f"{name}:{text[:m.start()].count(chr(10)) + 1}"] = textwrap.dedent(m["body"])
    sources = [*sorted((ROOT / "core").rglob("*.py")), *sorted((ROOT / "plugins").rglob("*.py")),
               module_of_the_scaffold]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if path.name == "plugin_project.py":
            continue  # templates: the scaffold's module is read as made
        for m in LITERAL.finditer(text):
            body = textwrap.dedent(m["body"])
            first = next((line for line in body.splitlines() if line.strip() and not line.startswith("#")), "")
            if first.startswith("["):
                name = path.relative_to(project.parent if path == module_of_the_scaffold else ROOT)
                found[f"{name}:{text[:m.start()].count(chr(10)) + 1}"] = body
    return {where: body for where, body in found.items()
            if not set(tomllib.loads(body)) <= set(NOT_SETTINGS)}


@pytest.fixture(scope="module")
def roofbox(tmp_path_factory):
    path = scaffold(tmp_path_factory.mktemp("author"))
    spec = importlib.util.spec_from_file_location("dealercrm_roofbox_of_the_docs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def settings_check(text: str, folder: Path, plugins: tuple, monkeypatch, capsys) -> tuple[int, str]:
    """``dealercrm settings check`` on a settings file holding ``text``: (exit code, output)."""
    (folder / "dealercrm.toml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(folder)
    monkeypatch.delenv("DEALERCRM_SETTINGS", raising=False)
    monkeypatch.delenv("DEALERCRM_BLOCK_PLUGINS", raising=False)
    # the docs write "…" where the installer's own secret goes; the environment's wins (docs/http.md)
    monkeypatch.setenv("DEALERCRM_UNSUBSCRIBE_SECRET", "an-unsubscribe-secret-of-the-test")
    capsys.readouterr()
    try:
        typer.main.get_command(build_cli(plugins)).main(args=["settings", "check"], prog_name="dealercrm")
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    return code, capsys.readouterr().out


def test_the_docs_show_settings_examples_of_every_kind(roofbox):
    found = snippets(roofbox[0])
    tables = {key.split(".")[0] for body in found.values() for key in tomllib.loads(body)}
    assert {"dealercrm", "contact", "outbox", "cases", "relationships", "inbound", "http", "unsubscribe",
            "plugins"} <= tables
    assert any(where.startswith("README.md") for where in found)
    assert any(where.startswith("plugins/") for where in found)
    assert {"dealercrm-roofbox/src/dealercrm_roofbox/__init__.py:9", "dealercrm-roofbox/README.md:15"} <= set(found)


def test_every_settings_example_shipped_passes_settings_check(roofbox, tmp_path, monkeypatch, capsys):
    path, module = roofbox
    refused = {}
    for where, text in snippets(path).items():
        code, out = settings_check(text, tmp_path, (module,), monkeypatch, capsys)
        if code != 0:
            refused[where] = out
    assert refused == {}


def test_a_refused_example_would_be_seen(roofbox, tmp_path, monkeypatch, capsys):
    """The check above can fail: a snippet with a typo is refused by the same means."""
    code, out = settings_check("[plugins.roofbox]\nfodler = \"letters\"\n", tmp_path, (roofbox[1],), monkeypatch,
                               capsys)
    assert code == 1 and "did you mean 'folder'?" in out


@pytest.mark.parametrize("text, named", [
    ("[relationships]\nwindow_dayz = 30\n", "[relationships] key 'window_dayz'"),
    ('[relationships]\nlevels = [{ name = "sales", ours = ["sales"], their = ["buyer"] }]\n',
     "[relationships] levels[0] key 'their'"),
    ('[cases.service_levels.service_case.premium]\ncontract = ["premium"]\n',
     "[cases.service_levels.service_case.premium] key 'contract'"),
    ("[plugins.rule_single_threaded]\nvaluable_whenn = \"all\"\n", "[plugins.rule_single_threaded] key 'valuable_whenn'"),
    ("[plugins.rule_loyal_quiet]\ncompany_level = 2\n", "[plugins.rule_loyal_quiet] key 'company_level'"),
    ('[plugins.case_notifications]\nchanels = ["sms"]\n', "[plugins.case_notifications] key 'chanels'"),
])
def test_a_typo_in_a_newly_declared_table_is_refused_naming_it_and_the_right_key(text, named, tmp_path,
                                                                                  monkeypatch, capsys):
    code, out = settings_check(text, tmp_path, (), monkeypatch, capsys)
    assert code == 1 and named in out and "did you mean" in out, out


@pytest.mark.parametrize("text, said", [
    ('[plugins.rule_loyal_quiet]\ncompany_levels = ["sales", "golf"]\n',
     "must name levels of [relationships] levels: sales, service, operations, accounting, marketing, management"),
    ('[relationships]\nlevels = [{ name = "sales", ours = ["sales"], theirs = ["buyer"] }]\n\n'
     '[plugins.rule_loyal_quiet]\ncompany_levels = ["sales", "service"]\n',
     "must name levels of [relationships] levels: sales"),  # the installation's own levels
    ("[plugins.rule_single_threaded]\nmin_purchases = 0\nmin_revenue = 0\n", "at least one value criterion"),
    ('[cases.service_levels.service_case.fleet]\ndeadlines = { reported = "soon" }\n',
     'give a duration like "4h"'),  # the shape is right; the workflow says what it means
])
def test_a_value_that_does_not_fit_the_rest_of_the_settings_is_named_by_settings_check(text, said, tmp_path,
                                                                                       monkeypatch, capsys):
    code, out = settings_check(text, tmp_path, (), monkeypatch, capsys)
    assert code == 1 and said in out, out
