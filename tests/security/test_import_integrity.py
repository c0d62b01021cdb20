"""Issue #14, findings 8 and 9: a customer import loses nothing without saying so.

Finding 8, data that vanished while the answer said "0 rejected": columns the import
does not know (``Email``, ``Telefon``) were dropped; a stray quote swallowed the rows
after it into one customer's name; of a column named twice only the last value was kept;
an external id of 128 KB was filed (HTTP caps it at 100). Finding 9: a plugin failing on
the second chunk answered "nothing was changed" although the first chunk was committed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dealercrm import CustomersImported, ImportInterrupted, ValidationError, Vetoed, hookimpl
from dealercrm.db.models import Customer


def post(api, text: str, who: str = "service"):
    return api.post("/imports/customers", content=text.encode(), headers=api.as_(who, **{"Content-Type": "text/csv"}))


def filed(world) -> dict[str, str]:
    """external id -> name of every imported customer."""
    with world.crm.read(world.crm.system) as uow:
        return {c.external_id: c.name for c in uow.session.scalars(
            select(Customer).where(Customer.external_id.is_not(None)))}


def refused_whole(answer, *words: str) -> None:
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "body"
    for word in words:
        assert word in answer.json()["detail"]


# -- finding 8 ------------------------------------------------------------------------------

def test_columns_the_import_does_not_read_are_named_not_dropped(api):
    answer = post(api, "external_id,name,Email,Telefon\nK-1,Max Mustermann,max@example.org,0171 5550100\n")
    refused_whole(answer, "'Email' (did you mean 'email'?)", "'Telefon'", "would be lost")
    assert filed(api.world) == {}  # not filed without its e-mail and phone


def test_an_unnamed_column_is_named_by_its_position(api):
    refused_whole(post(api, "external_id,name,\nK-1,Max Mustermann,0171 5550100\n"), "unnamed column 3")


def test_a_column_named_twice_is_refused(api):
    answer = post(api, "external_id,name,email,email\nK-1,Max Mustermann,old@example.org,max@example.org\n")
    refused_whole(answer, "'email' twice")
    assert filed(api.world) == {}


@pytest.mark.parametrize("text,rejected_line,kept", [
    # the quote is never closed: everything after it would have become Erika's name
    ('external_id,name\nK-1,Max Mustermann\nK-2,"Erika Musterfrau\nK-3,Hans Meyer\nK-4,Otto Normal\n', 3,
     {"K-1": "Max Mustermann"}),
    # another stray quote closes it further down: the rows in between would have vanished into one name
    ('external_id,name\nK-2,"Erika Musterfrau\nK-3,Hans Meyer\nK-4,Otto "Otti" Normal\nK-5,Anna Bauer\n', 2,
     {"K-5": "Anna Bauer"}),
])
def test_a_stray_quote_that_swallows_rows_is_reported_with_its_line(api, text, rejected_line, kept):
    answer = post(api, text)
    assert answer.status_code == 200, answer.text
    [rejected] = answer.json()["rejected"]
    assert (rejected["line"], rejected["field"]) == (rejected_line, "row")
    assert "quote" in rejected["reason"] and "runs over" in rejected["reason"]
    assert filed(api.world) == kept  # nobody filed under a name made of other rows


def test_the_file_import_says_the_same(api, tmp_path):
    world = api.world
    path = tmp_path / "list.csv"
    path.write_text("external_id,name,Telefon\nK-1,Max,0171 5550100\n", encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        world.crm.imports.run(path, by=world.crm.system)
    assert err.value.field == "file" and "'Telefon'" in str(err.value)
    path.write_text('external_id,name\nK-1,"Max\nK-2,Erika\n', encoding="utf-8")
    report = world.crm.imports.run(path, by=world.crm.system)
    assert (report.imported, [line for line, _ in report.rejected]) == (0, [2])


@pytest.mark.parametrize("length", [101, 128 * 1024])
def test_an_external_id_longer_than_the_http_api_allows_is_refused_everywhere(api, length):
    world = api.world
    long_id = "K" * length
    answer = post(api, f"external_id,name\n{long_id},Max Mustermann\nK-2,Erika Musterfrau\n")
    assert answer.status_code == 200
    [rejected] = answer.json()["rejected"]
    assert (rejected["line"], rejected["field"]) == (2, "external_id")
    assert filed(world) == {"K-2": "Erika Musterfrau"}
    with pytest.raises(ValidationError) as err:
        world.crm.customers.add("Max Mustermann", external_id=long_id, by=world.service.id)
    assert err.value.field == "external_id"


def test_an_external_id_of_100_characters_is_filed(api):
    assert post(api, f"external_id,name\n{'K' * 100},Max Mustermann\n").json()["imported"] == 1


# -- finding 9 ------------------------------------------------------------------------------

class SecondChunkFails:
    """A plugin that refuses (or crashes on) the second chunk of an import."""

    def __init__(self, how: str):
        self.how, self.chunks = how, 0

    @hookimpl
    def dealercrm_check_event(self, event):
        if isinstance(event, CustomersImported):
            self.chunks += 1
            if self.chunks == 2:
                if self.how == "veto":
                    raise Vetoed("dms-sync", "the DMS sync is down")
                raise RuntimeError("the DMS sync crashed")


LIST = "external_id,name\n" + "".join(f"K-{i},Kunde {i}\n" for i in range(1, 8))  # lines 2-8


@pytest.mark.parametrize("how,status", [("veto", 409), ("crash", 500)])
def test_a_failure_on_a_later_chunk_says_what_was_committed(inbound_api, how, status):
    api, world = inbound_api(http={"import_chunk_rows": 3})
    world.crm.register(SecondChunkFails(how), "dms-sync")
    answer = post(api, LIST)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert "nothing was changed" not in problem["detail"]
    assert "stopped at line 5" in problem["detail"] and "the lines before it were committed" in problem["detail"]
    assert (problem["stopped_at_line"], problem["imported"], problem["already_present"]) == (5, 3, 0)
    assert sorted(filed(world)) == ["K-1", "K-2", "K-3"]  # as the answer says
    again = post(api, LIST)  # the plugin has recovered: a repeat files the rest
    assert (again.json()["imported"], again.json()["already_present"]) == (4, 3)


def test_a_failure_on_the_first_chunk_changed_nothing_and_says_so(inbound_api):
    api, world = inbound_api(http={"import_chunk_rows": 3})
    plugin = SecondChunkFails("crash")
    plugin.chunks = 1  # the first chunk is the one that fails
    world.crm.register(plugin, "dms-sync")
    answer = post(api, LIST)
    assert answer.status_code == 500 and "nothing was changed" in answer.json()["detail"]
    assert filed(world) == {}


def test_the_python_api_raises_import_interrupted_with_the_committed_report(api, tmp_path):
    world = api.world
    world.crm.register(SecondChunkFails("veto"), "dms-sync")
    path = tmp_path / "list.csv"
    path.write_text(LIST, encoding="utf-8")
    with pytest.raises(ImportInterrupted) as stopped:
        world.crm.imports.run(path, chunk_size=3, by=world.crm.system)
    assert isinstance(stopped.value.cause, Vetoed) and stopped.value.line == 5
    assert (stopped.value.report.rows, stopped.value.report.imported) == (3, 3)
