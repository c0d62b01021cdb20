"""A dealer's customer list over HTTP: posted as CSV, every good row filed as the dealer's own,
every bad one reported with its line, field and reason.

The body is the file ``dealercrm import customers`` reads. A document that cannot be
read as a whole is a 422 and imports nothing; a manufacturer or technician keeps no
customer file (403); a repeat with the same ``Idempotency-Key`` gets the first report.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dealercrm.db.models import AuditRecord, Customer, Interest

HEADER = "external_id,name,kind,email,phone,birthday,street,postcode,city,owner_party,interests"
MAX = "K-1,Max Mustermann,person,max@example.org,0171 5550100,1978-02-14,Bergstraße 1,80331,München,,skiing;Golf"
HOTEL = "K-3,Hotel Bergblick GmbH,company,info@bergblick.example.org,040 1234567,,,,Hamburg,,"


def csv_of(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def post(api, who: str, body: bytes, content_type: str = "text/csv", **headers: str):
    return api.post("/imports/customers", content=body, headers=api.as_(who, **{"Content-Type": content_type},
                                                                          **headers))


def filed(world) -> dict[str, Customer]:
    with world.crm.read(world.crm.system) as uow:
        found = uow.session.scalars(select(Customer).where(Customer.external_id.is_not(None)))
        return {c.external_id: c for c in found}


def test_a_dealer_files_its_customer_list_and_learns_which_rows_were_refused_and_why(api, world):
    answer = post(api, "service", csv_of(
        MAX,                                                   # line 2
        "K-6,Bad Mail,person,bad-mail,,,,,,,",                 # line 3
        HOTEL,                                                 # line 4
        "K-7,Bad Date,person,,,02/14/1978,,,,,",               # line 5
        "K-8,Too Many,person,,,,,,,,,extra",                   # line 6
        "K-9,,person,,,,,,,,",                                 # line 7
    ))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["rows"], report["imported"], report["already_present"]) == (6, 2, 0)
    assert [(r["line"], r["field"]) for r in report["rejected"]] == [
        (3, "email"), (5, "birthday"), (6, "row"), (7, "name")]
    assert report["rejected"][0]["reason"].startswith("invalid email 'bad-mail'")
    assert "02/14/1978" in report["rejected"][1]["reason"] and "fields" in report["rejected"][2]["reason"]
    got = filed(world)
    assert sorted(got) == ["K-1", "K-3"]
    assert {c.owner_party_id for c in got.values()} == {world.dealer.id}  # not the home dealer: the caller's
    assert got["K-1"].phone == "+491715550100"
    with world.crm.read(world.crm.system) as uow:
        tags = sorted(uow.session.scalars(select(Interest.tag).where(Interest.customer_id == got["K-1"].id)))
        audited_by = set(uow.session.scalars(select(AuditRecord.actor_id).where(
            AuditRecord.operation == "import.customers", AuditRecord.entity == "customer")))
    assert tags == ["golf", "skiing"] and audited_by == {world.service.id}
    mine = api.get("/customers?q=bergblick", headers=api.as_("service")).json()["items"]
    assert [c["external_id"] for c in mine] == ["K-3"]
    assert api.get("/customers?q=bergblick", headers=api.as_("other_dealer")).json()["items"] == []


def test_a_row_naming_another_party_as_owner_is_refused_and_the_others_are_filed(api, world):
    answer = post(api, "service", csv_of(
        "K-1,Max Mustermann,person,,,,,,,Elektro Schmidt,",   # its own party, by name: fine
        "K-2,Erika Meyer,person,,,,,,,Küchenwelt Meyer,",     # another dealer's
        "K-3,Otto Brioche,person,,,,,,,Brioche Hausgeräte,",  # a manufacturer keeps no customer file
        "K-4,Anna Niemand,person,,,,,,,Autohaus Nirgendwo,",
    ))
    assert answer.status_code == 200, answer.text
    rejected = {r["line"]: r for r in answer.json()["rejected"]}
    assert sorted(rejected) == [3, 4, 5] and {r["field"] for r in rejected.values()} == {"owner_party"}
    assert "imports its own customers only" in rejected[3]["reason"]
    assert "is a manufacturer; customers belong to a dealer" in rejected[4]["reason"]
    assert "no such party" in rejected[5]["reason"]
    assert {k: c.owner_party_id for k, c in filed(world).items()} == {"K-1": world.dealer.id}


def test_another_partys_customers_neither_block_nor_show_through_an_import(api, world):
    """Uniqueness is per dealer: the same external id or e-mail at Meyer's is no business of Schmidt's import."""
    meyers = world.crm.customers.add("Hans Meyer", email="hans@meyer.example", external_id="M-1",
                                     owner_party_id=world.other_dealer.id, by=world.crm.system)
    answer = post(api, "service", csv_of(
        "M-1,Hans Meyer,person,,,,,,,,",                       # Meyer's numbering: Schmidt's own M-1 now
        "K-2,Hans M.,person,hans@meyer.example,,,,,,,",        # Meyer's customer's e-mail: filed here too
        "K-3,Erika again,person,erika@example.org,,,,,,,",     # its own customer's e-mail: named
    ))
    report = answer.json()
    assert (report["imported"], report["already_present"]) == (2, 0)
    [rejected] = report["rejected"]
    assert rejected["line"] == 4 and f"already used by customer {world.customer.id}" in rejected["reason"]
    assert f"customer {meyers.id}" not in answer.text
    assert world.crm.customers.get(meyers.id, by=world.crm.system).name == "Hans Meyer"


@pytest.mark.parametrize("body,field,words", [
    (b"", "body", "is empty"),
    (b"\n\n", "body", "is empty"),
    (csv_of("Max Mustermann,max@example.org", header="name,email"), "body", "has no column 'external_id'"),
    (csv_of("K-1", header="external_id"), "body", "has no column 'name'"),
    (csv_of("K-1,Max", "K-2,J\x81rgen", header="external_id,name").replace(b"\xc2\x81", b"\x81"),
     "body", "is neither UTF-8 nor Windows-1252 text (line 3)"),
    # broken after a first chunk of good rows (rows are filed 2,000 at a time)
    (csv_of(*(f"K-{i},Kunde {i}" for i in range(2000)), 'K-x,"' + "x" * 200_000 + '"', header="external_id,name"),
     "body", "line 2002: field larger than field limit"),
])
def test_a_document_that_cannot_be_read_is_a_422_naming_what_is_wrong_and_imports_nothing(api, world, body, field,
                                                                                          words):
    answer = post(api, "service", body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == "urn:dealercrm:problem:validation-error" and problem["field"] == field
    assert words in problem["detail"]
    assert filed(world) == {}  # not even the good first row of a document broken further down


def test_an_excel_export_with_a_byte_order_mark_is_read(api, world):
    answer = post(api, "service", "\ufeff".encode() + csv_of(HOTEL), "text/csv; charset=UTF-8")
    assert answer.status_code == 200 and answer.json()["imported"] == 1


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/csv; charset=shift_jis",
                                          "multipart/form-data; boundary=x"])
def test_anything_but_utf8_csv_is_415(api, world, content_type):
    answer = post(api, "service", csv_of(MAX), content_type)
    assert answer.status_code == 415 and answer.json()["type"] == "urn:dealercrm:problem:unsupported-media-type"
    assert "text/csv" in answer.json()["detail"]
    assert filed(world) == {}


@pytest.mark.parametrize("who", ["warranty", "fitter", "other_maker"])
def test_a_manufacturer_or_technician_imports_no_customers(api, world, who):
    answer = post(api, who, csv_of(MAX))
    assert answer.status_code == 403 and answer.json()["type"] == "urn:dealercrm:problem:not-permitted"
    assert "only a dealer may" in answer.json()["detail"]
    assert filed(world) == {}


def test_no_key_imports_nothing(api, world):
    answer = api.post("/imports/customers", content=csv_of(MAX), headers={"Content-Type": "text/csv"})
    assert answer.status_code == 401 and filed(world) == {}


def test_a_repeat_with_the_same_idempotency_key_gets_the_first_report_and_files_nothing_again(api, world):
    body = csv_of(MAX, HOTEL, "K-6,Bad Mail,person,bad-mail,,,,,,,")
    first = post(api, "service", body, **{"Idempotency-Key": "list-2026-03"})
    again = post(api, "service", body, **{"Idempotency-Key": "list-2026-03"})
    assert first.status_code == again.status_code == 200
    assert first.json()["imported"] == 2 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert len(filed(world)) == 2
    other = post(api, "service", csv_of(MAX), **{"Idempotency-Key": "list-2026-03"})
    assert other.status_code == 422 and other.json()["type"] == "urn:dealercrm:problem:idempotency-key-reused"
    rerun = post(api, "service", body)  # without a key: carried out again, and skips what is filed
    assert (rerun.json()["imported"], rerun.json()["already_present"], len(rerun.json()["rejected"])) == (0, 2, 1)


def test_a_list_over_the_body_limit_is_413_and_imports_nothing(api, world):
    rows = [f"K-{i},Kunde {i},person,,,,,,,," + "x" * 100 for i in range(9000)]
    answer = post(api, "service", csv_of(*rows))
    assert answer.status_code == 413 and "exceeds 1048576 bytes" in answer.json()["detail"]
    assert filed(world) == {}


def test_the_system_imports_for_any_dealer_through_the_python_api(world):
    system = world.crm.as_actor(world.crm.system_actor_id)
    report = system.imports.run_text(csv_of("K-1,Max Mustermann,person,,,,,,,Küchenwelt Meyer,",
                                             "K-2,Anna Bauer,person,,,,,,,,").decode())
    assert (report.imported, report.rejected) == (2, [])
    assert {k: c.owner_party_id for k, c in filed(world).items()} == {
        "K-1": world.other_dealer.id, "K-2": world.crm.parties.by_name("Our Dealership", by=world.crm.system).id}


def test_after_an_import_the_host_finds_each_customer_by_its_own_id_and_no_one_elses(api, world):
    assert post(api, "service", csv_of(MAX, HOTEL)).status_code == 200
    found = api.get("/customers?external_id=K-3", headers=api.as_("service")).json()["items"]
    assert [(c["external_id"], c["name"]) for c in found] == [("K-3", "Hotel Bergblick GmbH")]
    assert found[0]["id"] == filed(world)["K-3"].id
    assert api.get("/customers?external_id=K-3", headers=api.as_("other_dealer")).json()["items"] == []
    assert api.get("/customers?external_id=K-404", headers=api.as_("service")).json()["items"] == []
