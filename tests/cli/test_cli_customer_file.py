"""The ``dealercrm`` command line over the customer file.

Thin commands over the services: what they print, their exit codes, and that bad
input ends in one line on stderr and a non-zero exit — never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import dealercrm
from dealercrm.cli import main
from dealercrm.cli import common
from dealercrm.db.models import Customer, Interest
from dealercrm.settings import Settings

DEALERCRM = Path(sys.executable).with_name("dealercrm")
ENV_KEYS = ("DEALERCRM_DATABASE_URL", "DEALERCRM_SETTINGS", "DEALERCRM_BLOCK_PLUGINS", "DEALERCRM_DEFAULT_REGION")


def invoke(argv: list[str]) -> int:
    """``main`` returns click's exit code, and raises SystemExit(1) for domain errors."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """Run ``dealercrm --db <a fresh SQLite file> ARGS``; returns (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no dealercrm.toml from the developer's directory
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(common.console, "_width", 200)  # wide enough that nothing is cut
    monkeypatch.setattr(common.err, "_width", 200)
    url = f"sqlite:///{tmp_path}/cli.db"

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = invoke(["--db", url, *args])
        out, err = capsys.readouterr()
        return code, out, err

    run.url = url
    return run


def connect(url: str) -> dealercrm.CRM:
    return dealercrm.connect(url, settings=Settings(), load_entry_points=False)


# --- init and customers ------------------------------------------------------------------


def test_init_creates_the_database_with_the_home_dealer_once(cli):
    code, out, _ = cli("init")
    assert code == 0
    assert "dealercrm ready at sqlite:///" in out and "home dealer 'Our Dealership'" in out
    assert cli("init")[0] == 0
    code, out, _ = cli("init", "--dealer", "Autohaus Berg")
    assert code == 0 and "'Autohaus Berg'" in out
    crm = connect(cli.url)
    assert sorted(p.name for p in crm.parties.list("dealer", by=crm.system)) == ["Autohaus Berg", "Our Dealership"]


def test_customers_add_then_list_shows_the_normalised_customer(cli):
    cli("init")
    code, out, _ = cli("customers", "add", "Max Mustermann", "--email", "Max@Example.org", "--phone", "0171 5550100",
                       "--birthday", "1978-02-14")
    assert (code, out.strip()) == (0, "customer 1 added: Max Mustermann")
    cli("customers", "add", "Hotel Bergblick GmbH", "--kind", "company")
    code, out, _ = cli("customers", "list")
    assert code == 0
    assert "max@example.org" in out and "+491715550100" in out and "Hotel Bergblick GmbH" in out
    code, out, _ = cli("customers", "list", "--search", "berg")
    assert "Hotel Bergblick GmbH" in out and "Max Mustermann" not in out


def test_an_invalid_email_ends_with_one_line_and_exit_code_1(cli):
    cli("init")
    code, out, err = cli("customers", "add", "Max Mustermann", "--email", "max(at)example.org")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: invalid email 'max(at)example.org': ")
    assert "Traceback" not in err and out == ""


def test_a_known_email_is_refused_naming_the_existing_customer_but_a_shared_phone_is_not(cli):
    cli("init")
    cli("customers", "add", "Max Mustermann", "--phone", "+49 171 5550100", "--email", "max@example.org")
    code, _, err = cli("customers", "add", "Max M.", "--email", "MAX@example.org")
    assert code == 1
    assert "error: invalid email 'max@example.org': already used by customer 1" in err
    code, out, _ = cli("customers", "add", "Erika Mustermann", "--phone", "0171/5550100")  # the family's landline
    assert code == 0 and "customer 2 added" in out


def test_a_customer_before_init_is_refused_with_a_hint(cli):
    code, _, err = cli("customers", "add", "Max Mustermann")
    assert code == 1 and "dealercrm init" in err


def test_show_is_the_360_degree_view(cli):
    cli("init")
    crm = connect(cli.url)
    home = crm.parties.by_name("Our Dealership", by=crm.system)
    sabine = crm.parties.add_actor(home.id, "Sabine Krüger", "sales", by=crm.system)
    car = crm.products.add("CAR-ALP-T", "Alpina Touring estate", warranty_months=36, by=crm.system)
    c = crm.customers.add("Hotel Bergblick GmbH", kind="company", email="info@bergblick.example.org",
                          account_owner_id=sabine.id, by=crm.system)
    crm.customers.add_contact(c.id, "Jens Einkauf", "buyer", by=crm.system)
    crm.customers.add_contact(c.id, "Uwe Zahlen", "accounting", by=crm.system)
    crm.assets.record(c.id, car.id, serial_number="WALP0000000042", handed_over_on="2023-01-09", by=crm.system)
    talk = crm.interactions.record(c.id, "visit", "inbound", "handover; the owner goes skiing in February", by=crm.system)
    crm.interests.note(c.id, "skiing", note="Alps in February", interaction_id=talk.id, by=crm.system)
    crm.consents.grant(c.id, "email", "marketing", source="handover form", by=crm.system)
    crm.interactions.record(c.id, "email", "outbound", "spring newsletter", personal=False, by=crm.system)
    crm.tasks.create("offer a roof box", crm.clock.now(), customer_id=c.id, assigned_actor_id=sabine.id, by=crm.system)
    code, out, err = cli("customers", "show", str(c.id))
    assert code == 0, err
    for expected in (f"customer {c.id}: Hotel Bergblick GmbH", "Sabine Krüger", "Contact persons", "Jens Einkauf",
                     "accounting", "Assets", "Alpina Touring estate", "WALP0000000042", "2026-01-09", "Interests",
                     "skiing", "Alps in February", "Consents", "yes (handover form)", "Timeline",
                     "handover; the owner goes skiing in February", "spring newsletter (mass)", "Open tasks",
                     "offer a roof box"):
        assert expected in out, expected


def test_show_prints_what_people_typed_even_when_it_looks_like_markup(cli):
    cli("init")
    crm = connect(cli.url)
    c = crm.customers.add("Anna [Admin] Bauer", by=crm.system)
    crm.interactions.record(c.id, "phone", "inbound", "asked about [/] tags and [bold]prices", by=crm.system)
    code, out, err = cli("customers", "show", str(c.id))
    assert code == 0, err
    assert "Anna [Admin] Bauer" in out
    assert "asked about [/] tags and [bold]prices" in out
    crm.customers.erase(c.id, by=crm.system)
    code, out, _ = cli("customers", "show", str(c.id))
    assert code == 0 and "[erased]" in out  # the anonymised summary, not an empty cell
    code, out, _ = cli("customers", "list")
    assert "erased customer #1" in out


def test_show_of_an_unknown_customer_exits_1_naming_kind_and_id(cli):
    cli("init")
    code, out, err = cli("customers", "show", "42")
    assert (code, out, err.strip()) == (1, "", "error: customer 42 not found")


def test_merge_combines_two_customers(cli):
    cli("init")
    cli("customers", "add", "Max Mustermann", "--email", "max@example.org")
    cli("customers", "add", "Max Mustermann", "--phone", "0171 5550100")
    code, out, _ = cli("customers", "merge", "1", "2")
    assert (code, out.strip()) == (0, "customer 2 merged into customer 1")
    crm = connect(cli.url)
    assert crm.customers.get(1, by=crm.system).phone == "+491715550100"
    assert crm.customers.get(2, by=crm.system).merged_into_id == 1
    code, _, err = cli("customers", "merge", "1", "1")
    assert code == 1 and "cannot be merged into itself" in err


# --- import, export, erase ---------------------------------------------------------------


def test_import_prints_the_summary_and_exits_0_when_every_row_is_good(cli, tmp_path):
    cli("init")
    path = tmp_path / "customers.csv"
    path.write_text("external_id,name,email,interests\nK-1,Max Mustermann,max@example.org,skiing\n"
                    "K-2,Erika Mustermann,,\n", encoding="utf-8")
    code, out, _ = cli("customers", "import", str(path))
    assert (code, out.strip()) == (0, "2 rows: 2 imported, 0 already present, 0 rejected")
    code, out, _ = cli("customers", "import", str(path))
    assert (code, out.strip()) == (0, "2 rows: 0 imported, 2 already present, 0 rejected")


def test_import_reports_bad_rows_on_stderr_and_exits_3(cli, tmp_path):
    cli("init")
    path = tmp_path / "customers.csv"
    path.write_text("external_id,name,email\nK-1,Max Mustermann,max@example.org\nK-2,Bad Mail,bad-mail\n"
                    "K-3,,\n", encoding="utf-8")
    code, out, err = cli("customers", "import", str(path), "--show-rejected", "1")
    assert code == 3
    assert out.strip() == "3 rows: 1 imported, 0 already present, 2 rejected"
    assert "line 3: invalid email 'bad-mail'" in err
    assert "… and 1 more rejected rows" in err
    assert "line 4" not in err


def test_import_of_a_file_without_the_required_columns_exits_1(cli, tmp_path):
    cli("init")
    path = tmp_path / "customers.csv"
    path.write_text("name,email\nMax,max@example.org\n", encoding="utf-8")
    code, _, err = cli("customers", "import", str(path))
    assert code == 1 and "has no column 'external_id'" in err and "Traceback" not in err
    code, _, err = cli("customers", "import", str(tmp_path / "missing.csv"))
    assert code == 1 and "missing.csv" in err


def test_export_prints_valid_json_with_everything_held(cli, tmp_path):
    cli("init")
    cli("customers", "add", "Max Mustermann", "--email", "max@example.org")
    crm = connect(cli.url)
    crm.interests.note(1, "skiing", by=crm.system)
    code, out, _ = cli("customers", "export", "1")
    assert code == 0
    data = json.loads(out)
    assert data["customer"]["email"] == "max@example.org"
    assert [i["tag"] for i in data["interest"]] == ["skiing"]
    assert {r["operation"] for r in data["audit"]} >= {"customers.add", "interests.note"}
    target = tmp_path / "max.json"
    code, out, _ = cli("customers", "export", "1", "-o", str(target))
    assert code == 0 and "written to" in out
    assert json.loads(target.read_text(encoding="utf-8")) == data
    assert cli("customers", "export", "9")[0] == 1


def test_erase_with_yes_anonymises_and_a_second_erase_fails(cli):
    cli("init")
    cli("customers", "add", "Max Mustermann", "--email", "max@example.org")
    code, out, _ = cli("customers", "erase", "1", "--yes")
    assert (code, out.strip()) == (0, "customer 1 erased")
    c = (app := connect(cli.url)).customers.get(1, by=app.system)
    assert (c.name, c.email) == ("erased customer #1", None)
    code, _, err = cli("customers", "erase", "1", "--yes")
    assert code == 1 and "was already erased" in err


def test_erase_asks_first_and_answering_no_keeps_everything(cli, monkeypatch):
    cli("init")
    cli("customers", "add", "Max Mustermann", "--email", "max@example.org")
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, _ = cli("customers", "erase", "1")
    assert code == 1
    assert (app := connect(cli.url)).customers.get(1, by=app.system).email == "max@example.org"


@pytest.mark.parametrize("url, reason", [
    ("sqlite:///:memory:", "in-memory SQLite is not supported"),
    ("nosuchdb://somewhere/crm", "nosuchdb"),
    ("sqlite:////no/such/directory/crm.db", "unable to open database file"),
    ("postgresql://crm:secret@127.0.0.1:1/crm", "connection"),
])
def test_an_unusable_database_url_is_one_line_not_a_traceback(cli, capsys, url, reason):
    capsys.readouterr()
    code = invoke(["--db", url, "init"])
    out, err = capsys.readouterr()
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith(("error: cannot open database ", "error: invalid database url"))
    assert reason in err
    assert "secret" not in err  # the password is not printed


# --- plugins ---------------------------------------------------------------------------


def test_plugins_lists_the_demo_plugin_with_its_hook_and_origin(cli):
    code, out, _ = cli("plugins")
    assert code == 0
    line = next(line for line in out.splitlines() if "demo_customer_file" in line)
    assert "dealercrm_seed_demo" in line
    assert "built-in (dealercrm.plugins.demo_customer_file)" in line


def test_a_blocked_plugin_is_not_loaded_and_the_list_says_so(cli, monkeypatch):
    monkeypatch.setenv("DEALERCRM_BLOCK_PLUGINS", "demo_customer_file")
    code, out, _ = cli("plugins")
    assert code == 0
    assert "blocked: demo_customer_file" in out
    assert not any(line.startswith("│ demo_customer_file") for line in out.splitlines())


# --- the demo: seeded once per module, it takes seconds ------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``dealercrm demo`` into a fresh file, once; later capabilities' seeders are blocked
    to keep this module fast (they have their own tests)."""
    where = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{where}/demo.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(where)
        for key in ENV_KEYS:
            mp.delenv(key, raising=False)
        mp.setenv("DEALERCRM_BLOCK_PLUGINS", "demo_service_case")
        mp.setattr(common.console, "_width", 200)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = invoke(["--db", url, "demo"])
    return url, code, out.getvalue()


def test_the_demo_seeds_a_small_dealer_into_the_given_database(demo):
    url, code, out = demo
    assert code == 0, out
    assert "seeding the demo" in out
    assert "the skiing car buyer is customer 1" in out
    crm = connect(url)
    with crm.read(crm.system) as uow:
        assert uow.session.scalar(select(func.count()).select_from(Customer)) > 200
    max_ = crm.customers.view(1, by=crm.system)
    assert max_.customer.name == "Max Mustermann"
    assert [i.tag for i in max_.interests] == ["skiing"]
    assert max_.interests[0].interaction_id is not None  # heard at the handover, and written down
    assert crm.consents.may_contact(1, "email", "marketing", by=crm.system) is True


def test_a_second_demo_run_shows_the_data_without_seeding_again(demo, tmp_path, monkeypatch, capsys):
    url, _, _ = demo
    before = (app := connect(url)).customers.count(by=app.system)
    monkeypatch.chdir(tmp_path)
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(common.console, "_width", 200)
    assert invoke(["--db", url, "demo"]) == 0
    out = capsys.readouterr().out
    assert "already holds data" in out and "seeding the demo" not in out
    assert (app := connect(url)).customers.count(by=app.system) == before


def test_the_demos_skiing_buyer_is_shown_by_customers_show(demo, tmp_path, monkeypatch, capsys):
    url, _, _ = demo
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common.console, "_width", 200)
    assert invoke(["--db", url, "customers", "show", "1"]) == 0
    out = capsys.readouterr().out
    assert "Max Mustermann" in out and "skiing" in out and "Alpina Touring estate" in out


# --- the real executable -------------------------------------------------------------------


def run_real(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    return subprocess.run([str(DEALERCRM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_installed_command_reports_bad_input_in_one_line_without_traceback(tmp_path):
    url = f"sqlite:///{tmp_path}/real.db"
    assert run_real("--db", url, "init", cwd=tmp_path).returncode == 0
    bad = run_real("--db", url, "customers", "add", "Max Mustermann", "--email", "max@@example.org", cwd=tmp_path)
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert bad.stderr.startswith("error: invalid email 'max@@example.org'")
    memory = run_real("--db", "sqlite:///:memory:", "init", cwd=tmp_path)
    assert memory.returncode != 0
    assert "Traceback" not in memory.stderr
    assert memory.stderr.strip().splitlines() == [memory.stderr.strip()]
    assert "in-memory SQLite is not supported" in memory.stderr
