"""A type checker sees the public API: mypy runs clean on it, and code using it is checked.

The scope (the application, its services, events, errors and hook specifications) and the
settings are in pyproject.toml's ``[tool.mypy]``; the package lives in ``core/``, so mypy
finds it as ``dealercrm`` through a symlink on MYPYPATH. Before the service properties of
``CRM`` carried return annotations, everything reached through ``crm.`` was ``Any`` and
the second test's mistakes went unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mypy_path(tmp_path_factory) -> Path:
    """A folder in which ``dealercrm`` is the source tree's ``core/``."""
    folder = tmp_path_factory.mktemp("mypy_path")
    (folder / "dealercrm").symlink_to(ROOT / "core", target_is_directory=True)
    return folder


def mypy(mypy_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MYPYPATH": str(mypy_path)}
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--cache-dir", str(mypy_path / ".mypy_cache"), *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def test_mypy_runs_clean_on_the_public_api(mypy_path):
    done = mypy(mypy_path)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "Success: no issues found" in done.stdout


USER_CODE = '''
from datetime import date
from typing import assert_type

import dealercrm
from dealercrm.fields import Record
from dealercrm.services.customers import CustomerService

crm = dealercrm.connect("sqlite:///crm.db")
assert_type(crm.customers, CustomerService)
anna = crm.customers.add("Anna Berg", email="anna@example.org", by=crm.system)
assert_type(anna, Record)
assert_type(crm.customers.count(by=crm.system), int)

crm.customers.get("Anna", by=crm.system)            # an id is an int
crm.cases.open(anna.id, "drum noise", by="lea")     # so is an actor
crm.parties.add("dealer", "Autohaus Berg")          # every operation names its actor
crm.assets.record(anna.id, "WM-1", by=crm.system, purchased_on=date(2024, 5, 2), colour="red")
'''


def test_code_using_the_api_wrongly_is_caught_by_the_type_checker(mypy_path, tmp_path):
    """What a user's editor would underline: each wrong call above is an error mypy names,
    and the right ones (the ``assert_type`` lines) pass — the services are typed, not Any."""
    user = tmp_path / "user_code.py"
    user.write_text(USER_CODE, encoding="utf-8")
    done = mypy(mypy_path, "--follow-imports=silent", str(user))
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    lines = {int(line.split(":")[1]) for line in errors}
    source = USER_CODE.splitlines()
    wrong = {n for n, text in enumerate(source, start=1) if text.startswith("crm.") and "# " in text}
    wrong.add(next(n for n, text in enumerate(source, start=1) if text.startswith("crm.assets.record")))
    assert lines == wrong, done.stdout
