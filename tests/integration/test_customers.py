"""The customer file: registering, finding, changing and handing over customers.

It belongs to the company, not to a salesman's phone: every customer has an owning
party and an account owner who acts for it, and the same person is never filed twice.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dealercrm import (AccountOwnerChanged, CustomerChanged, CustomerRegistered, DuplicateCustomer, NotFound,
                       ValidationError, hookimpl)


def is_utc(value) -> bool:
    return value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


@pytest.fixture
def dealers(crm):
    """Our home dealer with two salespeople, and a second dealer with one."""
    home = crm.parties.by_name("Our Dealership", by=crm.system)
    other = crm.parties.add("dealer", "Autohaus Berg", by=crm.system)
    sabine = crm.parties.add_actor(home.id, "Sabine Krüger", "sales", by=crm.system)
    tom = crm.parties.add_actor(home.id, "Tom Albers", "sales", by=crm.system)
    petra = crm.parties.add_actor(other.id, "Petra Lorenz", "sales", by=crm.system)
    return dict(home=home, other=other, sabine=sabine, tom=tom, petra=petra)


class Events:
    """A plugin that writes down every committed event."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def dealercrm_handle_event(self, event):
        self.seen.append(event)

    def of(self, cls):
        return [e for e in self.seen if isinstance(e, cls)]


@pytest.fixture
def events(register_plugin):
    recorder = Events()
    register_plugin(recorder, "event-recorder")
    return recorder


# --- registering --------------------------------------------------------------------


def test_the_car_buyer_is_registered_with_normalised_email_and_e164_phone(crm, dealers, events):
    c = crm.customers.add("Max Mustermann", email=" Max.Mustermann@Example.ORG", phone="0171 5550100",
                          birthday="1978-02-14", street="Bergstraße 1", postcode="80331", city="München",
                          account_owner_id=dealers["sabine"].id, by=dealers["sabine"].id)
    got = crm.customers.get(c.id, by=crm.system)
    assert got.email == "max.mustermann@example.org"
    assert got.phone == "+491715550100"
    assert got.birthday == date(1978, 2, 14)
    assert (got.street, got.postcode, got.city) == ("Bergstraße 1", "80331", "München")
    assert got.kind == "person"
    assert got.owner_party_id == dealers["home"].id  # the home dealer when none is given
    assert got.account_owner_id == dealers["sabine"].id
    assert [e.customer_id for e in events.of(CustomerRegistered)] == [c.id]
    assert events.of(CustomerRegistered)[0].actor_id == dealers["sabine"].id


def test_customer_timestamps_are_timezone_aware_utc_on_every_backend(any_crm, clock):
    crm = any_crm
    c = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    clock.advance(hours=5)
    crm.interactions.record(c.id, "phone", "outbound", "check-in call", by=crm.system)
    crm.customers.update(c.id, city="Hamburg", by=crm.system)
    got = crm.customers.get(c.id, by=crm.system)
    for value in (got.created_at, got.updated_at, got.last_touch_at):
        assert is_utc(value), value
    assert got.created_at == clock.now() - timedelta(hours=5)
    assert got.updated_at == got.last_touch_at == clock.now()
    listed = crm.customers.list(by=crm.system)[0]
    assert is_utc(listed.created_at) and is_utc(listed.last_touch_at)
    view = crm.customers.view(c.id, by=crm.system)
    assert all(is_utc(i.at) for i in view.timeline)


def test_same_email_is_refused_with_the_existing_customers_id(any_crm):
    first = any_crm.customers.add("Max Mustermann", email="max@example.org", by=any_crm.system)
    with pytest.raises(DuplicateCustomer) as info:
        any_crm.customers.add("M. Mustermann", email="MAX@example.org", by=any_crm.system)
    assert info.value.existing_id == first.id
    assert info.value.field == "email"
    assert f"already used by customer {first.id}" in str(info.value)
    assert any_crm.customers.count(by=any_crm.system) == 1


def test_a_family_shares_a_landline_typed_any_way(any_crm):
    """A shared phone is no refusal: people share them (it makes a duplicate suspect)."""
    first = any_crm.customers.add("Max Mustermann", phone="+49 171 5550100", by=any_crm.system)
    second = any_crm.customers.add("Erika Mustermann", phone="0171/555 0100", by=any_crm.system)
    assert first.phone == second.phone == "+491715550100" and first.id != second.id


def test_the_same_person_may_be_a_customer_of_two_dealers_each_unique_in_its_own_file(any_crm):
    crm = any_crm
    other = crm.parties.add("dealer", "Küchenwelt Meyer", by=crm.system)
    mine = crm.customers.add("Max Mustermann", email="max@example.org", external_id="K-1", by=crm.system)
    theirs = crm.customers.add("Max Mustermann", email="max@example.org", external_id="K-1", owner_party_id=other.id,
                               by=crm.system)
    assert mine.id != theirs.id
    with pytest.raises(DuplicateCustomer) as info:
        crm.customers.add("Max M.", email="MAX@example.org", owner_party_id=other.id, by=crm.system)
    assert info.value.existing_id == theirs.id
    with pytest.raises(ValidationError, match="external_id"):
        crm.customers.add("Max M.", external_id="K-1", by=crm.system)
    with pytest.raises(DuplicateCustomer):  # moving him to the other dealer would file him twice there
        crm.customers.reassign(mine.id, owner_party_id=other.id, by=crm.system)


def test_a_duplicate_is_an_ordinary_validation_error_for_callers_that_catch_those(crm):
    crm.customers.add("Max", email="max@example.org", by=crm.system)
    with pytest.raises(ValidationError):
        crm.customers.add("Max", email="max@example.org", by=crm.system)


def test_changing_the_email_to_another_customers_is_refused_with_their_id(crm):
    max_ = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    erika = crm.customers.add("Erika Mustermann", email="erika@example.org", by=crm.system)
    with pytest.raises(DuplicateCustomer) as info:
        crm.customers.update(erika.id, email="max@example.org", by=crm.system)
    assert info.value.existing_id == max_.id
    assert crm.customers.get(erika.id, by=crm.system).email == "erika@example.org"
    # keeping one's own e-mail is not a duplicate
    assert crm.customers.update(max_.id, email="MAX@example.org", by=crm.system).email == "max@example.org"


def test_an_invalid_email_is_refused_naming_field_and_value(crm):
    with pytest.raises(ValidationError) as info:
        crm.customers.add("Max Mustermann", email="max.mustermann(at)example.org", by=crm.system)
    assert info.value.field == "email"
    assert "max.mustermann(at)example.org" in str(info.value)
    assert crm.customers.count(by=crm.system) == 0


def test_an_invalid_phone_is_refused_naming_field_and_value(crm):
    with pytest.raises(ValidationError) as info:
        crm.customers.add("Max Mustermann", phone="0171", by=crm.system)
    assert (info.value.field, info.value.value) == ("phone", "0171")
    with pytest.raises(ValidationError, match="invalid phone 'call me'"):
        crm.customers.update(crm.customers.add("Erika", by=crm.system).id, phone="call me", by=crm.system)


def test_a_customer_needs_a_name_and_a_known_kind(crm):
    with pytest.raises(ValidationError, match="invalid name"):
        crm.customers.add("   ", by=crm.system)
    with pytest.raises(ValidationError, match="invalid kind 'family': must be one of person, company"):
        crm.customers.add("Familie Mustermann", kind="family", by=crm.system)


def test_a_nul_character_in_a_name_is_a_validation_error_on_every_backend(any_crm):
    with pytest.raises(ValidationError, match="NUL"):
        any_crm.customers.add("Max\x00Mustermann", by=any_crm.system)
    with pytest.raises(ValidationError, match="invalid street"):
        any_crm.customers.add("Max Mustermann", street="Bergstr.\x001", by=any_crm.system)


def test_the_same_external_id_is_not_filed_twice(crm):
    crm.customers.add("Max Mustermann", external_id="ERP-42", by=crm.system)
    with pytest.raises(ValidationError, match="external_id 'ERP-42'"):
        crm.customers.add("Erika Mustermann", external_id="ERP-42", by=crm.system)


def test_a_customer_for_an_unknown_owner_party_is_refused(crm):
    with pytest.raises(NotFound, match="party 99 not found"):
        crm.customers.add("Max Mustermann", owner_party_id=99, by=crm.system)


def test_without_any_dealer_party_adding_a_customer_says_what_to_do(crm_factory):
    bare = crm_factory()
    with pytest.raises(ValidationError, match="dealercrm init"):
        bare.customers.add("Max Mustermann", by=bare.system)


# --- finding -------------------------------------------------------------------------


@pytest.mark.parametrize("call", [
    lambda crm: crm.customers.get(404, by=crm.system),
    lambda crm: crm.customers.update(404, city="Hamburg", by=crm.system),
    lambda crm: crm.customers.view(404, by=crm.system),
    lambda crm: crm.customers.reassign(404, account_owner_id=1, by=crm.system),
    lambda crm: crm.customers.add_contact(404, "Jens Buyer", by=crm.system),
    lambda crm: crm.customers.export(404, by=crm.system),
    lambda crm: crm.customers.erase(404, by=crm.system),
    lambda crm: crm.interactions.record(404, "phone", "outbound", "hello", by=crm.system),
    lambda crm: crm.interactions.timeline(404, by=crm.system),
    lambda crm: crm.consents.grant(404, "email", "service", source="form", by=crm.system),
    lambda crm: crm.consents.may_contact(404, "email", "service", by=crm.system),
    lambda crm: crm.interests.note(404, "skiing", by=crm.system),
], ids=["get", "update", "view", "reassign", "add_contact", "export", "erase", "record", "timeline", "grant",
        "may_contact", "note"])
def test_an_unknown_customer_id_raises_not_found_naming_kind_and_id(crm, call):
    with pytest.raises(NotFound) as info:
        call(crm)
    assert (info.value.kind, info.value.ident) == ("customer", 404)
    assert str(info.value) == "customer 404 not found"


def test_an_unknown_acting_actor_is_refused_before_anything_is_written(crm):
    with pytest.raises(NotFound, match="actor 77 not found"):
        crm.customers.add("Max Mustermann", by=77)
    assert crm.customers.count(by=crm.system) == 0


def test_a_customer_is_found_by_email_or_by_phone_typed_any_way(any_crm):
    c = any_crm.customers.add("Max Mustermann", email="max@example.org", phone="+49 171 5550100", by=any_crm.system)
    assert any_crm.customers.find(email="MAX@example.org", by=any_crm.system).id == c.id
    assert any_crm.customers.find(phone="0171 555 01 00", by=any_crm.system).id == c.id
    assert any_crm.customers.find(email="erika@example.org", by=any_crm.system) is None
    assert any_crm.customers.find(by=any_crm.system) is None


def test_search_finds_name_and_email_case_insensitively_and_pages(any_crm):
    crm = any_crm
    max_ = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    erika = crm.customers.add("Erika Mustermann", email="erika@beispiel.de", by=crm.system)
    otto = crm.customers.add("Otto Normal", email="otto@example.org", by=crm.system)
    assert [c.id for c in crm.customers.list(search="MUSTER", by=crm.system)] == [max_.id, erika.id]
    assert [c.id for c in crm.customers.list(search="example.org", by=crm.system)] == [max_.id, otto.id]
    assert [c.id for c in crm.customers.list(limit=2, by=crm.system)] == [max_.id, erika.id]
    assert [c.id for c in crm.customers.list(limit=2, offset=2, by=crm.system)] == [otto.id]
    assert crm.customers.list(search="nobody", by=crm.system) == []


def test_the_list_can_be_limited_to_one_owning_party(crm, dealers):
    ours = crm.customers.add("Max Mustermann", by=crm.system)
    theirs = crm.customers.add("Erika Mustermann", owner_party_id=dealers["other"].id, by=crm.system)
    assert [c.id for c in crm.customers.list(owner_party_id=dealers["other"].id, by=crm.system)] == [theirs.id]
    assert [c.id for c in crm.customers.list(owner_party_id=dealers["home"].id, by=crm.system)] == [ours.id]


def test_merged_duplicates_are_left_out_of_list_and_count(crm):
    keep = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    dup = crm.customers.add("Max Mustermann", phone="0171 5550100", by=crm.system)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    assert [c.id for c in crm.customers.list(by=crm.system)] == [keep.id]
    assert crm.customers.count(by=crm.system) == 1


# --- changing ------------------------------------------------------------------------


def test_an_update_changes_only_the_given_fields_and_announces_them(crm, clock, events):
    c = crm.customers.add("Max Mustermann", email="max@example.org", city="München", by=crm.system)
    clock.advance(days=1)
    got = crm.customers.update(c.id, city="Hamburg", email="max@example.org", phone="0171 5550100", by=crm.system)
    assert (got.city, got.email, got.phone) == ("Hamburg", "max@example.org", "+491715550100")
    assert got.updated_at == clock.now()
    assert got.created_at == clock.now() - timedelta(days=1)
    [changed] = events.of(CustomerChanged)
    assert set(changed.fields) == {"city", "phone"}


def test_an_update_that_changes_nothing_is_not_announced(crm, clock, events):
    c = crm.customers.add("Max Mustermann", city="München", by=crm.system)
    clock.advance(days=1)
    assert crm.customers.update(c.id, city="München", by=crm.system).updated_at == c.updated_at
    assert events.of(CustomerChanged) == []


def test_fields_outside_the_editable_ones_are_refused_by_name(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    with pytest.raises(ValidationError, match="invalid field 'owner_party_id': cannot be changed here"):
        crm.customers.update(c.id, owner_party_id=2, by=crm.system)


def test_a_blank_email_clears_it(crm):
    c = crm.customers.add("Max Mustermann", email="max@example.org", by=crm.system)
    assert crm.customers.update(c.id, email="", by=crm.system).email is None


def test_a_merged_tombstone_cannot_be_changed_any_more(crm):
    keep = crm.customers.add("Max Mustermann", by=crm.system)
    dup = crm.customers.add("Max M.", by=crm.system)
    crm.customers.merge(keep.id, dup.id, by=crm.system)
    with pytest.raises(ValidationError, match=f"was merged into customer {keep.id}"):
        crm.customers.update(dup.id, city="Hamburg", by=crm.system)


# --- a company and its people ---------------------------------------------------------


def test_a_company_keeps_contact_persons_at_every_level(crm):
    hotel = crm.customers.add("Hotel Bergblick GmbH", kind="company", email="info@bergblick.example.org", by=crm.system)
    people = [("Jens Einkauf", "buyer"), ("Lea Technik", "technician"), ("Petra Chefin", "management"),
              ("Uwe Zahlen", "accounting")]
    for name, function in people:
        crm.customers.add_contact(hotel.id, name, function, email=f"{name.split()[0].lower()}@bergblick.example.org",
                                  phone=None, by=crm.system)
    crm.customers.add_contact(hotel.id, "Ida Empfang", "reception", phone="040 1234567", by=crm.system)
    view = crm.customers.view(hotel.id, by=crm.system)
    assert view.customer.kind == "company"
    assert sorted((p.name, p.function) for p in view.contacts) == sorted([*people, ("Ida Empfang", "reception")])
    assert {p.phone for p in view.contacts} == {None, "+49401234567"}


def test_a_contact_person_with_an_invalid_email_or_no_name_is_refused(crm):
    hotel = crm.customers.add("Hotel Bergblick GmbH", kind="company", by=crm.system)
    with pytest.raises(ValidationError, match="invalid email 'jens'"):
        crm.customers.add_contact(hotel.id, "Jens Einkauf", "buyer", email="jens", by=crm.system)
    with pytest.raises(ValidationError, match="contact name"):
        crm.customers.add_contact(hotel.id, " ", "buyer", by=crm.system)
    assert crm.customers.view(hotel.id, by=crm.system).contacts == []


# --- the file belongs to the company --------------------------------------------------


def test_the_account_owner_must_act_for_the_owning_party_when_reassigned(crm, dealers):
    c = crm.customers.add("Max Mustermann", account_owner_id=dealers["sabine"].id, by=crm.system)
    with pytest.raises(ValidationError) as info:
        crm.customers.reassign(c.id, account_owner_id=dealers["petra"].id, by=crm.system)
    assert info.value.field == "account_owner_id"
    assert f"is not an active person of the owning party {dealers['home'].id}" in str(info.value)
    assert crm.customers.get(c.id, by=crm.system).account_owner_id == dealers["sabine"].id


def test_the_account_owner_must_act_for_the_owning_party_when_the_customer_is_added(crm, dealers):
    with pytest.raises(ValidationError, match="account_owner_id"):
        crm.customers.add("Max Mustermann", account_owner_id=dealers["petra"].id, by=crm.system)
    c = crm.customers.add("Max Mustermann", owner_party_id=dealers["other"].id, account_owner_id=dealers["petra"].id, by=crm.system)
    assert c.account_owner_id == dealers["petra"].id


def test_when_sabine_leaves_her_customers_go_to_tom_and_the_change_is_announced(crm, dealers, events):
    c = crm.customers.add("Max Mustermann", account_owner_id=dealers["sabine"].id, by=crm.system)
    got = crm.customers.reassign(c.id, account_owner_id=dealers["tom"].id, by=dealers["sabine"].id)
    assert got.account_owner_id == dealers["tom"].id
    assert crm.customers.get(c.id, by=crm.system).account_owner_id == dealers["tom"].id
    [event] = events.of(AccountOwnerChanged)
    assert (event.previous_owner_id, event.account_owner_id) == (dealers["sabine"].id, dealers["tom"].id)
    assert event.previous_party_id == event.owner_party_id == dealers["home"].id


def test_a_customer_handed_to_another_dealer_gets_that_dealers_account_owner(crm, dealers, events):
    c = crm.customers.add("Max Mustermann", account_owner_id=dealers["sabine"].id, by=crm.system)
    got = crm.customers.reassign(c.id, owner_party_id=dealers["other"].id, account_owner_id=dealers["petra"].id, by=crm.system)
    assert (got.owner_party_id, got.account_owner_id) == (dealers["other"].id, dealers["petra"].id)
    [event] = events.of(AccountOwnerChanged)
    assert (event.previous_party_id, event.previous_owner_id) == (dealers["home"].id, dealers["sabine"].id)


def test_the_old_dealers_salesman_does_not_stay_account_owner_after_a_handover(crm, dealers):
    c = crm.customers.add("Max Mustermann", account_owner_id=dealers["sabine"].id, by=crm.system)
    got = crm.customers.reassign(c.id, owner_party_id=dealers["other"].id, by=crm.system)
    assert got.owner_party_id == dealers["other"].id
    assert got.account_owner_id is None  # Sabine acts for the home dealer, not for the new owner
    assert crm.customers.get(c.id, by=crm.system).account_owner_id is None


def test_a_reassignment_that_changes_nothing_is_not_announced(crm, dealers, events):
    c = crm.customers.add("Max Mustermann", account_owner_id=dealers["sabine"].id, by=crm.system)
    crm.customers.reassign(c.id, account_owner_id=dealers["sabine"].id, by=crm.system)
    assert events.of(AccountOwnerChanged) == []


def test_someone_who_left_cannot_become_account_owner(crm, dealers):
    c = crm.customers.add("Max Mustermann", account_owner_id=dealers["sabine"].id, by=crm.system)
    crm.parties.set_actor_active(dealers["tom"].id, False, by=crm.system)
    for attempt in (lambda: crm.customers.reassign(c.id, account_owner_id=dealers["tom"].id, by=crm.system),
                    lambda: crm.customers.add("Lisa Lustig", account_owner_id=dealers["tom"].id, by=crm.system)):
        with pytest.raises(ValidationError, match="is not an active person of the owning party") as info:
            attempt()
        assert info.value.field == "account_owner_id"
    assert crm.customers.get(c.id, by=crm.system).account_owner_id == dealers["sabine"].id


def test_a_customer_belongs_to_a_dealer_not_to_a_manufacturer(crm):
    maker = crm.parties.add("manufacturer", "Brioche Hausgeräte", by=crm.system)
    c = crm.customers.add("Max Mustermann", by=crm.system)
    for attempt in (lambda: crm.customers.reassign(c.id, owner_party_id=maker.id, by=crm.system),
                    lambda: crm.customers.add("Lisa Lustig", owner_party_id=maker.id, by=crm.system)):
        with pytest.raises(ValidationError, match="is a manufacturer; customers belong to a dealer") as info:
            attempt()
        assert info.value.field == "owner_party_id"
    assert crm.customers.get(c.id, by=crm.system).owner_party_id == crm.parties.by_name("Our Dealership", by=crm.system).id


def test_reassigning_to_an_unknown_party_or_actor_is_not_found(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    with pytest.raises(NotFound, match="party 99 not found"):
        crm.customers.reassign(c.id, owner_party_id=99, by=crm.system)
    with pytest.raises(ValidationError, match="account_owner_id 99: is not an active person"):
        crm.customers.reassign(c.id, account_owner_id=99, by=crm.system)
