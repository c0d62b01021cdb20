"""Importing the customer list from the old system: every bad row reported with its
line and reason, the good ones kept, and a re-run — after a crash, a veto or a
truncated copy — files every good row exactly once (idempotent by external id).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from dealercrm import CustomersImported, ImportInterrupted, ValidationError, Vetoed, hookimpl
from dealercrm.db.models import AuditRecord, Customer, Interest

HEADER = "external_id,name,kind,email,phone,birthday,street,postcode,city,owner_party,interests"
GOOD = [
    "K-1,Max Mustermann,person,max@example.org,0171 5550100,1978-02-14,Bergstraße 1,80331,München,,skiing;Golf",
    "K-2,Erika Mustermann,person,erika@example.org,,,,,,,",
    "K-3,Hotel Bergblick GmbH,company,info@bergblick.example.org,040 1234567,,,,Hamburg,,",
    "K-4,Otto Normal,,,+49 30 1234567,,,,,Autohaus Berg,cycling",
    "K-5,Anna Bauer,person,anna@example.org,,1990-07-01,,,,,",
]


def write(tmp_path: Path, lines: list[str], name: str = "customers.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def customers(crm) -> dict[str, Customer]:
    with crm.read(crm.system) as uow:
        return {c.external_id: c for c in uow.session.scalars(select(Customer).order_by(Customer.id))}


@pytest.fixture
def berg(crm):
    return crm.parties.add("dealer", "Autohaus Berg", by=crm.system)


def test_good_rows_are_imported_and_bad_rows_reported_with_line_and_reason(crm, berg, tmp_path):
    path = write(tmp_path, [
        GOOD[0],                                              # line 2
        "K-6,Bad Mail,person,bad-mail,,,,,,,",                # line 3
        GOOD[1],                                              # line 4
        "K-7,Bad Phone,person,,0171,,,,,,",                   # line 5
        ",No Id,person,,,,,,,,",                              # line 6
        "K-8,,person,,,,,,,,",                                # line 7
        "K-9,Bad Date,person,,,02/14/1978,,,,,",              # line 8
        "K-10,Unknown Dealer,person,,,,,,,Autohaus Nirgendwo,", # line 9
        "K-11,Bad Kind,family,,,,,,,,",                       # line 10
        "K-12,Too Many,person,,,,,,,,,extra",                 # line 11
        GOOD[3],                                              # line 12
    ])
    report = crm.imports.run(path, by=crm.system)
    assert report.imported == 3
    lines = dict(report.rejected)
    assert sorted(lines) == [3, 5, 6, 7, 8, 9, 10, 11]
    assert "invalid email 'bad-mail'" in lines[3]
    assert "invalid phone '0171'" in lines[5]
    assert "external_id" in lines[6]
    assert "invalid name" in lines[7]
    assert "invalid birthday '02/14/1978'" in lines[8]
    assert "Autohaus Nirgendwo" in lines[9] and "no such party" in lines[9]
    assert "invalid kind 'family'" in lines[10]
    assert "fields" in lines[11]
    got = customers(crm)
    assert sorted(got) == ["K-1", "K-2", "K-4"]
    assert got["K-1"].phone == "+491715550100" and got["K-1"].city == "München"
    assert got["K-4"].owner_party_id == berg.id
    assert got["K-1"].owner_party_id == crm.parties.by_name("Our Dealership", by=crm.system).id
    assert got["K-1"].created_at.utcoffset() is not None


def test_the_summary_counts_rows_imported_present_and_rejected(crm, berg, tmp_path):
    crm.customers.add("Already Here", external_id="K-2", by=crm.system)
    report = crm.imports.run(write(tmp_path, [GOOD[0], GOOD[1], "K-6,Bad,person,bad-mail,,,,,,,"]), by=crm.system)
    assert (report.rows, report.imported, report.already_present, len(report.rejected)) == (3, 1, 1, 1)
    assert report.summary() == "3 rows: 1 imported, 1 already present, 1 rejected"


def test_a_rerun_imports_nothing_new(any_crm, tmp_path):
    crm = any_crm
    crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    path = write(tmp_path, GOOD)
    first = crm.imports.run(path, chunk_size=2, by=crm.system)
    assert (first.imported, first.already_present, first.rejected) == (5, 0, [])
    before = customers(crm)
    second = crm.imports.run(path, chunk_size=2, by=crm.system)
    assert (second.rows, second.imported, second.already_present, second.rejected) == (5, 0, 5, [])
    assert {k: c.id for k, c in customers(crm).items()} == {k: c.id for k, c in before.items()}
    with crm.read(crm.system) as uow:
        assert len(list(uow.session.scalars(select(Interest)))) == 3  # skiing, golf, cycling: once


def test_an_import_vetoed_in_its_second_chunk_and_rerun_files_every_good_row_once(any_crm, tmp_path):
    crm = any_crm
    crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    path = write(tmp_path, [GOOD[0], "K-6,Bad,person,bad-mail,,,,,,,", GOOD[1], GOOD[2], GOOD[3], GOOD[4]])
    seen = []

    class SecondChunkFails:
        armed = True

        @hookimpl
        def dealercrm_check_event(self, event):
            if isinstance(event, CustomersImported):
                seen.append(event.imported)
                if self.armed and len(seen) == 2:
                    raise Vetoed("flaky-sync", "CRM sync is down")

    plugin = SecondChunkFails()
    crm.register(plugin, "flaky-sync")
    with pytest.raises(ImportInterrupted) as stopped:  # not a bare Vetoed: that would say nothing was written
        crm.imports.run(path, chunk_size=2, by=crm.system)
    assert isinstance(stopped.value.cause, Vetoed) and stopped.value.line == 4
    assert (stopped.value.report.imported, len(stopped.value.report.rejected)) == (1, 1)
    assert sorted(customers(crm)) == ["K-1"]  # the first chunk was committed, the second not at all
    plugin.armed = False
    report = crm.imports.run(path, chunk_size=2, by=crm.system)
    assert (report.imported, report.already_present) == (4, 1)
    assert [line for line, _ in report.rejected] == [3]
    assert sorted(customers(crm)) == ["K-1", "K-2", "K-3", "K-4", "K-5"]


def test_a_truncated_copy_then_the_full_file_files_every_good_row_once(crm, berg, tmp_path):
    crm.imports.run(write(tmp_path, GOOD[:2], name="partial.csv"), by=crm.system)
    report = crm.imports.run(write(tmp_path, GOOD, name="full.csv"), by=crm.system)
    assert (report.imported, report.already_present) == (3, 2)
    assert sorted(customers(crm)) == ["K-1", "K-2", "K-3", "K-4", "K-5"]


def test_a_row_whose_email_is_already_filed_is_refused_naming_the_customer(crm, tmp_path):
    max_ = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    report = crm.imports.run(write(tmp_path, ["K-9,Max M.,person,max@example.org,,,,,,,", GOOD[1]]), by=crm.system)
    [(line, reason)] = report.rejected
    assert line == 2
    assert f"already used by customer {max_.id}" in reason and "email" in reason
    assert set(customers(crm)) == {None, "K-2"}


def test_a_shared_phone_imports_and_is_reported_as_a_suspect(crm, tmp_path):
    """A company's people all carry the switchboard number: every one of them is filed."""
    switchboard = crm.customers.add("Hotel Bergblick GmbH", kind="company", phone="+49 171 5550100", by=crm.system)
    staff = [f"S-{n},Employee {n},person,e{n}@bergblick.example,+49 171 5550100,,,,,," for n in range(1000)]
    report = crm.imports.run(write(tmp_path, staff), by=crm.system)
    assert (report.imported, report.rejected) == (1000, [])
    assert len(report.suspects) == 1000 and f"customer {switchboard.id}" in report.suspects[0][1]
    assert "1000 suspected duplicates" in report.summary()


def test_the_same_person_twice_in_one_file_is_filed_once(crm, tmp_path):
    report = crm.imports.run(write(tmp_path, [
        GOOD[1],
        "K-20,Erika M.,person,ERIKA@example.org,,,,,,,",
        "K-2,Erika again,person,,,,,,,,",
    ]), by=crm.system)
    assert report.imported == 1
    assert [line for line, _ in report.rejected] == [3, 4]
    assert "appears twice in this file" in dict(report.rejected)[3]
    assert "appears twice in this file" in dict(report.rejected)[4]


def test_an_external_id_repeated_in_a_later_chunk_is_reported_like_one_in_the_same_chunk(crm, tmp_path):
    report = crm.imports.run(write(tmp_path, [GOOD[1], GOOD[4], "K-2,Erika again,person,,,,,,,,"]), chunk_size=2, by=crm.system)
    assert [line for line, _ in report.rejected] == [4]


def test_a_tombstone_keeps_its_external_id_so_a_rerun_after_a_merge_adds_no_duplicate(crm, berg, tmp_path):
    path = write(tmp_path, GOOD)
    crm.imports.run(path, by=crm.system)
    got = customers(crm)
    crm.customers.merge(got["K-1"].id, got["K-5"].id, by=crm.system)
    report = crm.imports.run(path, by=crm.system)
    assert (report.imported, report.already_present) == (0, 5)
    assert crm.customers.count(by=crm.system) == 4


def test_imported_customers_and_their_interests_are_filed_with_provenance_and_audited(crm, berg, tmp_path, clock):
    sabine = crm.parties.add_actor(crm.parties.by_name("Our Dealership", by=crm.system).id, "Sabine Krüger", "office", by=crm.system)
    crm.imports.run(write(tmp_path, [GOOD[0]]), by=sabine.id)
    c = customers(crm)["K-1"]
    with crm.read(crm.system) as uow:
        tags = list(uow.session.scalars(select(Interest).where(Interest.customer_id == c.id).order_by(Interest.tag)))
        trail = list(uow.session.scalars(select(AuditRecord).where(AuditRecord.customer_id == c.id)))
    assert [(i.tag, i.noted_by_id, i.noted_at) for i in tags] == [("golf", sabine.id, clock.now()),
                                                                 ("skiing", sabine.id, clock.now())]
    [row] = [r for r in trail if r.entity == "customer"]
    assert (row.operation, row.actor_id, row.action) == ("import.customers", sabine.id, "insert")
    assert row.personal_changes["email"] == [None, "max@example.org"]
    assert row.changes["external_id"] == [None, "K-1"]


def test_imported_interests_are_audited_like_noted_ones(crm, tmp_path):
    crm.imports.run(write(tmp_path, [GOOD[0]]), by=crm.system)
    with crm.read(crm.system) as uow:
        entities = list(uow.session.scalars(select(AuditRecord.entity).where(AuditRecord.operation == "import.customers")))
    assert entities.count("interest") == 2


def test_a_name_with_a_nul_character_is_a_bad_row_not_a_crash(any_crm, tmp_path):
    report = any_crm.imports.run(write(tmp_path, [GOOD[1], "K-9,Max\x00Mustermann,person,,,,,,,,"]), by=any_crm.system)
    assert report.imported == 1
    assert [line for line, _ in report.rejected] == [3]


def test_a_street_with_a_nul_character_is_a_bad_row_not_a_crash(any_crm, tmp_path):
    report = any_crm.imports.run(write(tmp_path, [GOOD[1], "K-9,Max,person,,,,Berg\x00str 1,,,,"]), by=any_crm.system)
    assert [line for line, _ in report.rejected] == [3]


def test_a_missing_required_column_is_a_clear_error_and_nothing_is_imported(crm, tmp_path):
    path = write(tmp_path, ["Max Mustermann,max@example.org"], header="name,email")
    with pytest.raises(ValidationError) as info:
        crm.imports.run(path, by=crm.system)
    assert info.value.field == "file"
    assert "has no column 'external_id'" in str(info.value)
    assert crm.customers.count(by=crm.system) == 0


def test_a_missing_file_is_a_clear_error(crm, tmp_path):
    with pytest.raises(ValidationError, match="nope.csv"):
        crm.imports.run(tmp_path / "nope.csv", by=crm.system)


def test_an_excel_export_with_a_byte_order_mark_is_read(crm, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + HEADER + "\n" + GOOD[1] + "\n").encode("utf-8"))
    assert crm.imports.run(path, by=crm.system).imported == 1


def test_a_file_in_neither_utf8_nor_windows_1252_is_a_clear_error_naming_the_line(crm, tmp_path):
    """Byte 0x81 means nothing in Windows-1252 (and starts nothing in UTF-8): no guess is made."""
    path = tmp_path / "mystery.csv"
    path.write_bytes(b"external_id,name\nK-1,Max\nK-2,J\x81rgen\n")
    with pytest.raises(ValidationError, match=r"is neither UTF-8 nor Windows-1252 text \(line 3\)"):
        crm.imports.run(path, by=crm.system)
    assert customers(crm) == {}


def test_progress_is_reported_per_chunk(crm, berg, tmp_path):
    steps = []
    crm.imports.run(write(tmp_path, GOOD), chunk_size=2, on_progress=steps.append, by=crm.system)
    assert steps == [2, 2, 1]


def test_a_manufacturer_named_as_owner_is_a_bad_row_customers_belong_to_a_dealer(crm, tmp_path):
    crm.parties.add("manufacturer", "Brioche Hausgeräte", by=crm.system)
    report = crm.imports.run(write(tmp_path, [GOOD[1], "K-9,Otto Brioche,person,,,,,,,Brioche Hausgeräte,"]), by=crm.system)
    assert report.imported == 1
    [(line, reason)] = report.rejected
    assert line == 3 and "is a manufacturer; customers belong to a dealer" in reason
    assert report.fields == {3: "owner_party"}


def test_each_rejected_line_names_the_field_it_was_refused_for(crm, tmp_path):
    crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    report = crm.imports.run(write(tmp_path, ["K-9,Max M.,person,max@example.org,,,,,,,",
                                              "K-6,Bad,person,bad-mail,,,,,,,", "K-7,Too Many,,,,,,,,,,x",
                                              ",No Id,person,,,,,,,,"]), by=crm.system)
    assert report.rejections == [
        {"line": 2, "field": "email", "reason": report.rejected[0][1]},
        {"line": 3, "field": "email", "reason": report.rejected[1][1]},
        {"line": 4, "field": "row", "reason": report.rejected[2][1]},
        {"line": 5, "field": "external_id", "reason": report.rejected[3][1]}]


def test_a_malformed_line_stops_the_file_naming_that_line(crm, tmp_path):
    path = write(tmp_path, [GOOD[1], 'K-9,"' + "x" * 200_000 + '"'])
    with pytest.raises(ValidationError, match=r"line 3: field larger than field limit"):
        crm.imports.run(path, by=crm.system)


def test_an_empty_file_says_what_its_first_line_must_be(crm, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValidationError, match="is empty: its first line must name the columns, at least "
                                              "external_id,name"):
        crm.imports.run(path, by=crm.system)
