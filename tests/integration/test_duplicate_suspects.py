"""Duplicates suspected, never refused: who at Elektro Schmidt may be one person twice.

The Mustermanns share a landline; Erika was typed in again as "Mustermann, Erika" at the
same address and once more, misspelled, with her birthday; the hotel's thousand people
share its switchboard. The dealer's list names each suspect pair with its reasons and a
score, the likeliest first, and a merge takes the pair from there. Another dealer's
Erika Mustermann is another dealer's business: never paired, never shown.
"""

from __future__ import annotations

import pytest

from dealercrm import NotFound, NotPermitted, ValidationError
from dealercrm.services import duplicates as dup


@pytest.fixture
def shop(crm):
    s = crm.system
    schmidt = crm.parties.add("dealer", "Elektro Schmidt", by=s)
    meyer = crm.parties.add("dealer", "Küchenwelt Meyer", by=s)
    maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", by=s)
    lea = crm.parties.add_actor(schmidt.id, "Lea Yilmaz", "service", by=s)
    petra = crm.parties.add_actor(schmidt.id, "Petra Schmidt", "manager", by=s)
    uwe = crm.parties.add_actor(meyer.id, "Uwe Meyer", "service", by=s)
    claire = crm.parties.add_actor(maker.id, "Claire Dubois", "warranty", by=s)

    def add(name, owner=schmidt, **fields):
        return crm.customers.add(name, owner_party_id=owner.id, by=s, **fields).id

    ids = dict(
        erika=add("Erika Mustermann", phone="040 5550100", postcode="20095", birthday="1970-05-01"),
        max=add("Max Mustermann", phone="040 5550100", postcode="20095"),  # her husband, on the landline
        erika_again=add("Mustermann, Erika", postcode="20095"),
        erika_typo=add("Erika Musterman", birthday="1970-05-01"),
        stranger=add("Paul Berger", postcode="20095"),
        elsewhere=add("Erika Mustermann", owner=meyer, phone="040 5550100", postcode="20095"),
    )
    return dict(crm=crm, lea=lea.id, petra=petra.id, uwe=uwe.id, claire=claire.id, **ids)


def pairs(found) -> list[tuple[int, int]]:
    return [(s.keep_id, s.duplicate_id) for s in found]


def test_the_dealer_sees_every_suspect_with_its_reasons_the_likeliest_first(shop):
    crm = shop["crm"]
    found = crm.customers.duplicates(by=shop["lea"])
    assert pairs(found) == [(shop["erika"], shop["erika_typo"]), (shop["erika"], shop["erika_again"]),
                            (shop["erika"], shop["max"])]
    typo, again, landline = found
    assert typo.reasons == ("same birthday 1970-05-01", "names 95% alike") and typo.score == 72
    assert again.reasons == ("same postcode 20095", "names 100% alike") and again.name_score == 100
    assert landline.reasons[0] == "same phone +49405550100"  # a shared phone alone is a suspect: nothing refused
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
    assert all(s.owner_party_id == crm.parties.by_name("Elektro Schmidt", by=crm.system).id for s in found)


def test_another_dealers_customers_are_never_paired_nor_shown(shop):
    crm = shop["crm"]
    everyone = {i for s in crm.customers.duplicates(by=crm.system) for i in (s.keep_id, s.duplicate_id)}
    assert shop["elsewhere"] not in everyone  # the same name, phone and postcode: at another dealer
    assert crm.customers.duplicates(by=shop["uwe"]) == []
    with pytest.raises(NotFound):  # Uwe cannot ask about Schmidt's customer at all
        crm.customers.duplicates(customer_id=shop["erika"], by=shop["uwe"])


def test_one_customers_suspects_and_a_merge_started_from_there(shop):
    crm = shop["crm"]
    mine = crm.customers.duplicates(customer_id=shop["erika_again"], by=shop["lea"])
    assert pairs(mine) == [(shop["erika"], shop["erika_again"])]
    assert crm.customers.duplicates(customer_id=shop["stranger"], by=shop["lea"]) == []
    [suspect] = mine
    with pytest.raises(NotPermitted):  # listing is the desk's; merging is the manager's
        crm.customers.merge(suspect.keep_id, suspect.duplicate_id, by=shop["lea"])
    crm.customers.merge(suspect.keep_id, suspect.duplicate_id, by=shop["petra"])
    assert shop["erika_again"] not in {i for s in crm.customers.duplicates(by=shop["lea"])
                                       for i in (s.keep_id, s.duplicate_id)}


def test_a_manufacturer_looks_for_no_duplicates_and_bad_paging_is_named(shop):
    crm = shop["crm"]
    with pytest.raises(NotPermitted):
        crm.customers.duplicates(by=shop["claire"])
    with pytest.raises(ValidationError, match="limit"):
        crm.customers.duplicates(limit=0, by=shop["lea"])
    with pytest.raises(ValidationError, match="min_score"):
        crm.customers.duplicates(min_score=101, by=shop["lea"])
    assert pairs(crm.customers.duplicates(min_score=70, by=shop["lea"])) == [
        (shop["erika"], shop["erika_typo"]), (shop["erika"], shop["erika_again"])]
    assert pairs(crm.customers.duplicates(limit=1, offset=1, by=shop["lea"])) == [(shop["erika"], shop["erika_again"])]


def test_a_thousand_people_on_one_switchboard_make_no_suspects_but_a_copy_among_them_does(crm, tmp_path):
    """Everyone of the hotel is filed (the import reports the shared phone); the list does not
    pair a thousand colleagues by the switchboard — only the one typed in twice."""
    hotel = crm.parties.list(kind="dealer", by=crm.system)[0]
    lines = ["external_id,name,phone,postcode"] + [
        f"S-{n},{first} {last},+49 171 5550100,8{n % 10:04d}"
        for n, (first, last) in enumerate((f, l) for f in FIRST for l in LAST)][:1000]
    [home] = [line.rsplit(",", 1)[1] for line in lines if ",Johanna Zimmermann," in line]
    lines.append(f"S-9999,Johanna Zimmerman,+49 171 5550100,{home}")  # "Johanna Zimmermann" again, misspelled
    report = crm.imports.run_text("\n".join(lines) + "\n", by=crm.system)
    assert report.imported == 1001 and report.rejected == []
    found = crm.customers.duplicates(owner_party_id=hotel.id, limit=500, by=crm.system)
    assert [(s.keep_name, s.duplicate_name) for s in found] == [("Johanna Zimmermann", "Johanna Zimmerman")]
    assert found[0].reasons == ("same phone +491715550100", f"same postcode {home}", "names 95% alike")


def test_names_are_compared_as_people_write_them():
    assert dup.comparable("Müller-Lüdenscheidt, Erika") == "muller ludenscheidt erika"
    assert dup.comparable("  JÖRG  Weiß ") == "jorg weiss"


def test_a_large_block_compares_only_names_that_share_a_word_start():
    """A local dealer's customers share a handful of postcodes: the names of one postcode are
    compared where they share the start of a word, not all against all."""
    people = dup.people_of([Row(i, 1, name, None, "20095", None) for i, name in enumerate(
        [f"{f} {l}" for f in FIRST for l in LAST][:dup.SMALL_BLOCK + 100] + ["Erika Mustermann", "Mustermann Erika"],
        start=1)])
    found = dup.suspects_in(people)
    assert [(s.keep_name, s.duplicate_name) for s in found] == [("Erika Mustermann", "Mustermann Erika")]


class Row:
    def __init__(self, id, owner_party_id, name, phone, postcode, birthday):
        self.id, self.owner_party_id, self.name = id, owner_party_id, name
        self.phone, self.postcode, self.birthday = phone, postcode, birthday


FIRST = ["Anna", "Ben", "Clara", "David", "Emil", "Frieda", "Greta", "Hannes", "Ida", "Johanna", "Karl", "Lotte",
         "Moritz", "Nele", "Oskar", "Paula", "Quirin", "Rosa", "Stefan", "Tilda", "Ulla", "Viktor", "Wanda",
         "Xaver", "Yvonne", "Zeno", "Arne", "Birte", "Carlo", "Doro", "Eike", "Fenja"]
LAST = ["Albrecht", "Brandt", "Conrad", "Dietrich", "Engel", "Fuchs", "Graf", "Haas", "Iwanow", "Jung", "Kraus",
        "Lorenz", "Marx", "Nowak", "Otto", "Pohl", "Quandt", "Roth", "Sauer", "Thiel", "Ullrich", "Vogt", "Wolf",
        "Yilmaz", "Zimmermann", "Arnold", "Beck", "Cramer", "Dorn", "Eckert", "Fink", "Gerber"]
