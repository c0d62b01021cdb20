"""A plugin author starts from ``dealercrm plugin new NAME``: the project it makes installs
with pip, dealercrm finds the plugin through its entry point, its settings are checked, and
its own tests — written against dealercrm's pytest fixtures — pass as made.

The project is installed with pip for real, into a folder of the test's own (``--target``,
without dependencies and without build isolation: dealercrm and setuptools are already
here, so nothing is fetched), and its tests run in a separate pytest process that sees the
folder on ``PYTHONPATH``, as an installed package would be seen.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dealercrm.cli import main


DEALERCRM = (sys.executable, "-c", "from dealercrm.cli import main; main()")  # the command, in this environment


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    """``dealercrm plugin new roofbox``, then ``pip install`` of what it made."""
    here = tmp_path_factory.mktemp("author")
    project = here / "dealercrm-roofbox"
    assert main(["plugin", "new", "roofbox", "--directory", str(project)]) == 0
    site = here / "site"
    pip = run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
              "--target", str(site), str(project), cwd=here)
    assert pip.returncode == 0, pip.stderr
    env = {"PYTHONPATH": str(site), "DEALERCRM_DATABASE_URL": f"sqlite:///{here}/shop.db"}
    env.pop("DEALERCRM_SETTINGS", None)
    return project, env


def test_the_new_project_has_the_entry_point_a_module_its_settings_and_a_test(installed):
    project, _ = installed
    assert '[project.entry-points.dealercrm]\nroofbox = "dealercrm_roofbox"' in (project / "pyproject.toml").read_text()
    module = (project / "src" / "dealercrm_roofbox" / "__init__.py").read_text()
    for part in ("class RoofboxSettings(RuleSettings)", "def dealercrm_register_settings",
                 "def dealercrm_register_channels", "def dealercrm_register_rules"):
        assert part in module
    assert "crm_factory" in (project / "tests" / "test_roofbox.py").read_text()


def test_the_tutorial_shows_exactly_the_files_the_scaffold_makes(installed):
    project, _ = installed
    tutorial = (Path(__file__).resolve().parents[2] / "docs" / "tutorial.md").read_text(encoding="utf-8")
    for name in ("pyproject.toml", "src/dealercrm_roofbox/__init__.py", "tests/test_roofbox.py"):
        assert (project / name).read_text(encoding="utf-8") in tutorial, f"docs/tutorial.md shows another {name}"


def test_the_projects_own_tests_pass_against_the_installed_plugin(installed):
    project, env = installed
    tests = run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, env=env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout


def test_dealercrm_lists_the_installed_plugin_and_checks_its_settings(installed, tmp_path):
    project, env = installed
    listed = run(*DEALERCRM, "plugins", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "roofbox" in listed.stdout and "dealercrm-roofbox 0.1.0" in listed.stdout

    (tmp_path / "dealercrm.toml").write_text('[plugins.roofbox]\nfodler = "/var/spool/letters"\n')
    checked = run(*DEALERCRM, "settings", "check", cwd=tmp_path, env=env)
    assert checked.returncode == 1
    assert "[plugins.roofbox] key 'fodler'" in checked.stdout and "did you mean 'folder'" in checked.stdout


def test_a_name_that_cannot_name_a_plugin_is_refused_and_nothing_is_made(tmp_path, capsys):
    assert main(["plugin", "new", "Roof-Box", "--directory", str(tmp_path / "p")]) == 1
    assert "lower case letters" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_a_folder_that_holds_something_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["plugin", "new", "roofbox", "--directory", str(tmp_path)]) == 1
    assert "not empty" in capsys.readouterr().err and (tmp_path / "notes.txt").read_text() == "mine"
