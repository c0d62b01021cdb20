"""A car dealer's plugin adds ``licence_plate`` to the customer file: declared once, it is
stored, validated, imported, shown, merged, exported, minimised and erased like a built-in."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import dealercrm
from dealercrm import ValidationError
from dealercrm.cli import build_cli
from dealercrm.fields import field


class LicencePlates:
    """The test plugin: the car's registration, personal, seen by the workshop."""

    @dealercrm.hookimpl
    def dealercrm_register_fields(self):
        return [field("licence_plate", "the car's registration", personal=True, readers=("technician",),
                      importable=True, mergeable=True)]


@pytest.fixture
def crm(crm_factory):
    app = crm_factory(plugins=[LicencePlates()])
    app.parties.add("dealer", app.settings.home_dealer, by=app.system)
    return app


def test_a_plugins_field_is_kept_changed_and_read_like_a_built_in_one(crm):
    max_ = crm.customers.add("Max Mustermann", licence_plate="M-AB 123", by=crm.system)
    assert crm.customers.get(max_.id, by=crm.system).licence_plate == "M-AB 123"
    crm.customers.update(max_.id, licence_plate="M-XY 999", by=crm.system)
    assert crm.customers.get(max_.id, by=crm.system)["licence_plate"] == "M-XY 999"
    with pytest.raises(ValidationError, match="licence_plat"):
        crm.customers.add("Erika", licence_plat="typo", by=crm.system)


def test_the_csv_import_reads_the_plugins_column(crm, tmp_path):
    path = tmp_path / "dms.csv"
    path.write_text("external_id,name,licence_plate\nK-1,Max Mustermann,HH-CD 42\n", encoding="utf-8")
    report = crm.imports.run(path, by=crm.system)
    assert (report.imported, report.rejected) == (1, [])
    [max_] = crm.customers.list(external_id="K-1", by=crm.system)
    assert max_.licence_plate == "HH-CD 42"


def test_the_export_holds_it_and_erasure_blanks_it(crm):
    max_ = crm.customers.add("Max Mustermann", licence_plate="B-ER 777", by=crm.system)
    assert "B-ER 777" in json.dumps(crm.customers.export(max_.id, by=crm.system), default=str)
    crm.customers.erase(max_.id, by=crm.system)
    assert crm.customers.get(max_.id, by=crm.system).get("licence_plate") is None
    assert "B-ER 777" not in json.dumps(crm.customers.export(max_.id, by=crm.system), default=str)


def test_a_merge_fills_it_in_from_the_duplicate(crm):
    keep = crm.customers.add("Max Mustermann", by=crm.system)
    dup = crm.customers.add("Max M.", licence_plate="K-OE 1", by=crm.system)
    assert crm.customers.merge(keep.id, dup.id, by=crm.system).licence_plate == "K-OE 1"


def test_the_workshop_reads_it_the_manufacturer_does_not(crm):
    from dealercrm.fields import CUSTOMER
    fields = crm.customers.fields
    assert "licence_plate" in fields.visible("technician") and "licence_plate" not in fields.visible("manufacturer")
    assert "licence_plate" not in CUSTOMER  # the core's declarations are not changed by one application's plugin


def test_the_command_line_takes_and_shows_it(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/cli.db"
    cli = build_cli(plugins=(LicencePlates(),))
    runner = CliRunner()
    monkeypatch.setenv("DEALERCRM_DATABASE_URL", url)
    app = dealercrm.connect(url, plugins=[LicencePlates()], load_entry_points=False)
    app.parties.add("dealer", app.settings.home_dealer, by=app.system)
    done = runner.invoke(cli, ["customers", "add", "Max Mustermann", "--licence-plate", "M-AB 123"])
    assert done.exit_code == 0, done.output
    assert app.customers.list(by=app.system)[0].licence_plate == "M-AB 123"
    shown = runner.invoke(cli, ["customers", "show", "1"])
    assert shown.exit_code == 0 and "M-AB 123" in shown.output and "licence plate" in shown.output


def test_the_http_api_documents_takes_and_minimises_it(crm):
    from fastapi.testclient import TestClient

    from dealercrm.http import create_app
    dealer = crm.parties.by_name(crm.settings.home_dealer, by=crm.system)
    key = crm.api_keys.create(dealer.id, "service", by=crm.system).key
    with TestClient(create_app(crm)) as api:
        schemas = api.get("/openapi.json").json()["components"]["schemas"]
        for model in ("CustomerIn", "CustomerPatch", "CustomerOut"):
            assert schemas[model]["properties"]["licence_plate"]["description"] == "the car's registration"
        auth = {"Authorization": f"Bearer {key}"}
        made = api.post("/customers", headers=auth, json={"name": "Max Mustermann", "licence_plate": "M-AB 123"})
        assert made.status_code == 201 and made.json()["licence_plate"] == "M-AB 123"
        changed = api.patch(f"/customers/{made.json()['id']}", headers=auth, json={"licence_plate": "M-XY 9"})
        assert changed.json()["licence_plate"] == "M-XY 9"
        assert api.get(f"/customers/{made.json()['id']}", headers=auth).json()["customer"]["licence_plate"] == "M-XY 9"
        refused = api.post("/customers", headers=auth, json={"name": "Erika", "licence_plat": "typo"})
        assert refused.status_code == 422


def test_an_application_without_the_plugin_does_not_know_the_field(crm_factory):
    from fastapi.testclient import TestClient

    from dealercrm.http import create_app
    plain = crm_factory()
    with TestClient(create_app(plain)) as api:
        assert "licence_plate" not in api.get("/openapi.json").json()["components"]["schemas"]["CustomerIn"]["properties"]
