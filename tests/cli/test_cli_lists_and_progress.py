"""Issue #16, item 3: lists in three formats, progress only where a person watches, ``--quiet``,
and the old command forms kept one more version.

Every list takes ``--format table|json|csv``; its JSON is what the HTTP API answers for the
same list and the same person, so a script can move from one to the other. Progress bars
go to a terminal only: piped into a file or run from cron, ``tick`` prints its result and
nothing else, and with ``--quiet`` not even that.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from dealercrm.cli import build_cli, main
from dealercrm.cli.conventions import walk
from dealercrm.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "http"))

from api_world import Api, issue_keys  # noqa: E402
from case_world import copy_world  # noqa: E402

ENV_KEYS = ("DEALERCRM_DATABASE_URL", "DEALERCRM_SETTINGS", "DEALERCRM_BLOCK_PLUGINS", "DEALERCRM_DEFAULT_REGION")


@pytest.fixture
def world(tmp_path, clock, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    w = copy_world(tmp_path, clock, settings=Settings())
    w.url = w.crm.engine.url.render_as_string(hide_password=False)
    w.to_technician(w.open_case().id)  # the technician sees the case and a minimised customer
    yield w
    w.crm.close()


def run(capsys, world, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--db", world.url, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def drop_promise(page: dict) -> dict:
    for item in page["items"]:
        if "resolved_by" in item:
            item["resolved_by"] = "present" if item["resolved_by"] else None
    return page


@pytest.mark.parametrize("cli_args,path", [
    (("customers", "list"), "/customers"),
    (("cases", "list"), "/cases"),
    (("parties", "list"), "/parties"),
    (("products", "list"), "/products"),
])
def test_a_lists_json_is_the_http_apis_answer_for_the_same_person(world, capsys, cli_args, path):
    from dealercrm.http import create_app

    with Api(create_app(world.crm)) as api:
        api.keys = issue_keys(world)
        for who, actor in (("service", world.service), ("fitter", world.fitter)):
            code, out, _ = run(capsys, world, "--as", str(actor.id), *cli_args, "--limit", "3", "--format", "json")
            assert code == 0
            answer = api.get(path, params={"limit": 3}, headers=api.as_(who))
            # a case's promise is worked out from now: the command line runs on the wall clock, the
            # API here on the story's clock, so only the presence of ``resolved_by`` can be compared
            assert drop_promise(json.loads(out)) == drop_promise(answer.json()), who
            assert json.loads(out)["items"], "the comparison should not be of empty lists"


def test_a_list_as_csv_has_a_header_and_a_row_per_item_safe_for_spreadsheets(world, capsys):
    world.crm.customers.add("=HYPERLINK(\"http://evil.example\")", owner_party_id=world.dealer.id,
                            by=world.crm.system)
    code, out, _ = run(capsys, world, "customers", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["name"] for r in rows] == ["Erika Musterfrau", "'=HYPERLINK(\"http://evil.example\")"]
    assert rows[0]["email"] == "erika@example.org" and "created_at" in rows[0]


def list_commands() -> list[tuple[str, ...]]:
    """Every visible list command that needs no argument: each must answer ``--format json``.

    A list's ``--format`` offers table, json and csv; a command whose ``--format`` offers
    other forms shows one thing, not a list (``workflow show``: text|mermaid, ``settings
    show``: toml|json)."""
    root = typer.main.get_command(build_cli())
    found = []
    for path, command, _ in walk(root, root.make_context("dealercrm", [], resilient_parsing=True), ("dealercrm",)):
        formats = {c for p in command.params if "--format" in p.opts for c in getattr(p.type, "choices", ()) or ()}
        if {"table", "json", "csv"} <= formats and not command.hidden and not any(p.required for p in command.params):
            found.append(path[1:])
    assert ("customers", "list") in found and ("workflow", "show") not in found
    return found


@pytest.mark.parametrize("command", list_commands(), ids=" ".join)
def test_every_list_command_answers_json_and_csv(world, capsys, command):
    code, out, err = run(capsys, world, *command, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert "items" in data or command == ("report",)  # the report's sections, as before
    code, out, _ = run(capsys, world, *command, "--format", "csv")
    assert code == 0 and out.strip()


def test_the_old_forms_still_work_for_one_version_and_say_what_replaces_them(world, capsys, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("external_id,name\nK-1,Max Mustermann\n", encoding="utf-8")
    code, out, err = run(capsys, world, "import", "customers", str(path))
    assert (code, out.strip()) == (0, "1 rows: 1 imported, 0 already present, 0 rejected")
    assert "`dealercrm import customers` is now `dealercrm customers import`" in err
    code, out, err = run(capsys, world, "export", "customer", str(world.customer.id))
    assert code == 0 and json.loads(out)["customer"]["name"] == "Erika Musterfrau"
    assert "is now `dealercrm customers export`" in err
    code, out, err = run(capsys, world, "plugins")
    assert code == 0 and "service_case" in out and "is now `dealercrm plugins list`" in err
    code, out, err = run(capsys, world, "channels")
    assert code == 0 and "needs consent for" in out and "is now `dealercrm channels list`" in err
    code, out, err = run(capsys, world, "erase", "customer", str(world.customer.id), "--yes")
    assert code == 0 and "is now `dealercrm customers erase`" in err
    code, out, _ = run(capsys, world, "--help")
    assert "customers" in out and "\n  import " not in out and "\n  erase " not in out  # hidden


def test_quiet_leaves_out_confirmations_but_not_what_was_asked_for(world, capsys):
    code, out, _ = run(capsys, world, "--quiet", "customers", "add", "Max Mustermann")
    assert (code, out) == (0, "")
    code, out, _ = run(capsys, world, "-q", "customers", "list", "--format", "json")
    assert [c["name"] for c in json.loads(out)["items"]] == ["Erika Musterfrau", "Max Mustermann"]
    code, out, err = run(capsys, world, "--quiet", "customers", "add", "Max M.", "--email", "nope")
    assert code == 1 and "invalid email 'nope'" in err  # errors still


def in_a_terminal(world, *args: str) -> str:
    """Run ``dealercrm`` with stdout and stderr on a pseudo-terminal, as a person at a terminal does."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS} | {"COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-c", "from dealercrm.cli import main; main()", "--db", world.url,
                             *args], stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            raise AssertionError(f"no output for 60 s: {seen!r}")
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=60)
    os.close(leader)
    return seen.decode(errors="replace")


def piped(world, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    return subprocess.run([sys.executable, "-c", "from dealercrm.cli import main; main()", "--db", world.url, *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_tick_shows_its_progress_in_a_terminal_and_nothing_of_it_when_piped_or_quiet(world):
    shown = in_a_terminal(world, "tick")
    assert "escalating overdue cases" in shown and "sending the outbox" in shown
    assert "suppressed at sending time" in shown  # and the result
    done = piped(world, "tick")
    assert done.returncode == 0 and "escalating" not in done.stdout + done.stderr and "0 sent" in done.stdout
    quiet = in_a_terminal(world, "--quiet", "tick")
    assert "escalating" not in quiet and "sending time" not in quiet


def test_rule_runs_and_dispatch_show_progress_in_a_terminal(world):
    assert "sending the outbox" in in_a_terminal(world, "dispatch")
    assert "sending the outbox" not in piped(world, "dispatch").stderr
    shown = in_a_terminal(world, "rules", "run", "rule_case_reminders")
    assert "running rule rule_case_reminders" in shown
