"""What a customer agreed to, what he cares about, and what he owns.

Story 000: the car buyer mentions skiing at the handover. This time it is written
down — who heard it, when, in which conversation — and nobody mails him about roof
boxes unless he agreed to marketing by e-mail at that moment.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from dealercrm import NotFound, ValidationError
from dealercrm.services.assets import add_months

UTC = timezone.utc


@pytest.fixture
def seller(crm):
    return crm.parties.add_actor(crm.parties.by_name("Our Dealership", by=crm.system).id, "Sabine Krüger", "sales", by=crm.system)


@pytest.fixture
def max_(crm, seller):
    return crm.customers.add("Max Mustermann", email="max@example.org", account_owner_id=seller.id, by=crm.system)


# --- consent: an append-only history ---------------------------------------------------


def test_grant_revoke_grant_keeps_three_records_and_overwrites_none(any_crm, clock):
    crm = any_crm
    c = crm.customers.add("Max Mustermann", by=crm.system)
    first = crm.consents.grant(c.id, "email", "marketing", source="handover form", by=crm.system)
    clock.advance(days=30)
    crm.consents.revoke(c.id, "email", "marketing", source="unsubscribe link", by=crm.system)
    clock.advance(days=30)
    crm.consents.grant(c.id, "email", "marketing", source="phone call", by=crm.system)
    history = crm.consents.history(c.id, by=crm.system)
    assert [(r.granted, r.source) for r in history] == [
        (True, "handover form"), (False, "unsubscribe link"), (True, "phone call")]
    assert history[0].id == first.id and history[0].at == first.at  # the first record is untouched
    assert [r.at for r in history] == [first.at, first.at + timedelta(days=30), first.at + timedelta(days=60)]
    assert all(r.at.tzinfo is not None and r.at.utcoffset() == timedelta(0) for r in history)


def test_may_contact_at_a_past_moment_answers_as_of_that_moment(any_crm, clock):
    crm = any_crm
    c = crm.customers.add("Max Mustermann", by=crm.system)
    t0 = clock.now()
    crm.consents.grant(c.id, "email", "marketing", source="handover form", by=crm.system)
    clock.advance(days=10)
    crm.consents.revoke(c.id, "email", "marketing", source="unsubscribe link", by=crm.system)
    clock.advance(days=10)
    crm.consents.grant(c.id, "email", "marketing", source="phone call", by=crm.system)
    ask = crm.as_actor(crm.system).consents.may_contact
    assert ask(c.id, "email", "marketing", at=t0 - timedelta(seconds=1)) is False  # before anything
    assert ask(c.id, "email", "marketing", at=t0) is True  # at the very moment of the grant
    assert ask(c.id, "email", "marketing", at=t0 + timedelta(days=5)) is True
    assert ask(c.id, "email", "marketing", at=t0 + timedelta(days=10)) is False
    assert ask(c.id, "email", "marketing", at=t0 + timedelta(days=15)) is False
    assert ask(c.id, "email", "marketing", at=t0 + timedelta(days=20)) is True
    assert ask(c.id, "email", "marketing") is True  # now


def test_may_contact_accepts_a_moment_in_any_timezone(crm, clock):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    crm.consents.grant(c.id, "sms", "service", source="form", by=crm.system)  # at 09:00 UTC
    berlin = timezone(timedelta(hours=1))
    assert crm.consents.may_contact(c.id, "sms", "service", at=clock.now().astimezone(berlin), by=crm.system) is True
    assert crm.consents.may_contact(c.id, "sms", "service",
                                    at=(clock.now() - timedelta(minutes=1)).astimezone(berlin), by=crm.system) is False


def test_a_consent_from_a_paper_form_can_be_recorded_with_its_own_date(crm, clock):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    signed = datetime(2026, 2, 1, 15, 30, tzinfo=timezone(timedelta(hours=1)))
    record = crm.consents.grant(c.id, "post", "marketing", source="signed purchase contract", at=signed, by=crm.system)
    assert record.at == datetime(2026, 2, 1, 14, 30, tzinfo=UTC)
    assert crm.consents.may_contact(c.id, "post", "marketing", at=signed, by=crm.system) is True
    assert crm.consents.may_contact(c.id, "post", "marketing", at=signed - timedelta(days=1), by=crm.system) is False


def test_consent_is_independent_per_channel_and_purpose(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    crm.consents.grant(c.id, "email", "service", source="handover form", by=crm.system)
    crm.consents.grant(c.id, "whatsapp", "marketing", source="chat", by=crm.system)
    crm.consents.revoke(c.id, "whatsapp", "service", source="chat", by=crm.system)
    answers = {(ch, pu): crm.consents.may_contact(c.id, ch, pu, by=crm.system)
               for ch in ("email", "sms", "whatsapp", "phone", "post") for pu in ("service", "marketing")}
    assert {k for k, v in answers.items() if v} == {("email", "service"), ("whatsapp", "marketing")}


def test_consent_of_one_customer_says_nothing_about_another(crm):
    max_ = crm.customers.add("Max Mustermann", by=crm.system)
    erika = crm.customers.add("Erika Mustermann", by=crm.system)
    crm.consents.grant(max_.id, "email", "marketing", source="form", by=crm.system)
    assert crm.consents.may_contact(erika.id, "email", "marketing", by=crm.system) is False


def test_without_any_record_there_is_no_consent(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    assert crm.consents.may_contact(c.id, "phone", "service", by=crm.system) is False


def test_the_latest_record_wins_when_two_share_the_same_moment(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    crm.consents.grant(c.id, "email", "marketing", source="form", by=crm.system)
    crm.consents.revoke(c.id, "email", "marketing", source="changed his mind at the counter", by=crm.system)
    assert crm.consents.may_contact(c.id, "email", "marketing", by=crm.system) is False
    view = crm.customers.view(c.id, by=crm.system)
    assert view.consents[("email", "marketing")].granted is False


@pytest.mark.parametrize("channel, purpose, field", [("telegram", "service", "channel"),
                                                    ("email", "newsletter", "purpose")])
def test_an_unknown_channel_or_purpose_is_refused_listing_the_allowed_ones(crm, channel, purpose, field):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    for call in (lambda: crm.consents.grant(c.id, channel, purpose, source="form", by=crm.system),
                 lambda: crm.consents.revoke(c.id, channel, purpose, source="form", by=crm.system),
                 lambda: crm.consents.may_contact(c.id, channel, purpose, by=crm.system)):
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.field == field
        assert "must be one of" in str(info.value)
    assert crm.consents.history(c.id, by=crm.system) == []


def test_a_consent_without_its_source_is_refused(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    with pytest.raises(ValidationError, match="consent source"):
        crm.consents.grant(c.id, "email", "service", source=" ", by=crm.system)


def test_a_naive_moment_is_a_validation_error_naming_the_field(crm):
    c = crm.customers.add("Max Mustermann", by=crm.system)
    with pytest.raises(ValidationError, match="invalid at .*timezone"):
        crm.consents.grant(c.id, "email", "service", source="form", at=datetime(2026, 2, 1, 15, 30), by=crm.system)
    with pytest.raises(ValidationError, match="timezone"):
        crm.consents.may_contact(c.id, "email", "service", at=datetime(2026, 2, 1, 15, 30), by=crm.system)


def test_the_consent_records_who_recorded_it(crm, max_, seller):
    record = crm.consents.grant(max_.id, "phone", "service", source="handover form", by=seller.id)
    assert record.actor_id == seller.id


# --- interests with provenance ---------------------------------------------------------


def test_the_skiing_interest_keeps_who_heard_it_when_and_in_which_conversation(any_crm, clock):
    crm = any_crm
    seller = crm.parties.add_actor(crm.parties.by_name("Our Dealership", by=crm.system).id, "Sabine Krüger", "sales", by=crm.system)
    c = crm.customers.add("Max Mustermann", account_owner_id=seller.id, by=crm.system)
    talk = crm.interactions.record(c.id, "visit", "inbound", "handover; off skiing in the Alps next month",
                                   by=seller.id)
    clock.advance(minutes=5)
    interest = crm.interests.note(c.id, "  Skiing ", note="going to the Alps in February",
                                  interaction_id=talk.id, by=seller.id)
    [got] = crm.interests.of_customer(c.id, by=crm.system)
    assert got.id == interest.id
    assert got.tag == "skiing"
    assert got.noted_by_id == seller.id
    assert got.noted_at == clock.now() and got.noted_at.utcoffset() == timedelta(0)
    assert got.interaction_id == talk.id
    assert got.note == "going to the Alps in February"
    assert [i.tag for i in crm.customers.view(c.id, by=crm.system).interests] == ["skiing"]


def test_interest_tags_are_normalised_so_rules_can_match_them(crm, max_):
    assert crm.interests.note(max_.id, "Mountain   BIKING", by=crm.system).tag == "mountain biking"


def test_an_interest_noted_by_the_system_names_the_system_actor(crm, max_):
    assert crm.interests.note(max_.id, "golf", by=crm.system).noted_by_id == crm.system_actor_id


def test_an_empty_or_overlong_interest_is_refused(crm, max_):
    with pytest.raises(ValidationError, match="invalid interest"):
        crm.interests.note(max_.id, "  ", by=crm.system)
    with pytest.raises(ValidationError, match="longer than 64"):
        crm.interests.note(max_.id, "x" * 65, by=crm.system)


def test_an_interest_cannot_cite_another_customers_conversation(crm, max_):
    erika = crm.customers.add("Erika Mustermann", by=crm.system)
    talk = crm.interactions.record(erika.id, "phone", "inbound", "asked about bikes", by=crm.system)
    with pytest.raises(ValidationError, match=f"belongs to customer {erika.id}"):
        crm.interests.note(max_.id, "cycling", interaction_id=talk.id, by=crm.system)
    with pytest.raises(NotFound, match="interaction 999 not found"):
        crm.interests.note(max_.id, "cycling", interaction_id=999, by=crm.system)
    assert crm.interests.of_customer(max_.id, by=crm.system) == []


# --- assets and their warranty --------------------------------------------------------


@pytest.fixture
def car(crm):
    maker = crm.parties.add("manufacturer", "Alpina Motors", by=crm.system)
    return crm.products.add("CAR-ALP-T", "Alpina Touring estate", category="car", warranty_months=36,
                            manufacturer_party_id=maker.id, by=crm.system)


def test_the_warranty_runs_the_products_months_from_the_handover(any_crm):
    crm = any_crm
    maker = crm.parties.add("manufacturer", "Alpina Motors", by=crm.system)
    car = crm.products.add("CAR-ALP-T", "Alpina Touring estate", warranty_months=36, manufacturer_party_id=maker.id, by=crm.system)
    c = crm.customers.add("Max Mustermann", by=crm.system)
    asset = crm.assets.record(c.id, car.id, serial_number="WALP0000000042", purchased_on="2023-01-02",
                              handed_over_on="2023-01-09", by=crm.system)
    got = crm.assets.get(asset.id, by=crm.system)
    assert got.warranty_until == date(2026, 1, 9)
    assert got.warranty_overridden is False
    assert got.manufacturer_party_id == maker.id  # from the product
    assert got.dealer_party_id == c.owner_party_id  # the selling dealer: the owning one
    assert got.created_at.utcoffset() == timedelta(0)


def test_without_a_handover_the_warranty_runs_from_the_purchase(crm, max_, car):
    asset = crm.assets.record(max_.id, car.id, purchased_on=date(2024, 5, 15), by=crm.system)
    assert asset.warranty_until == date(2027, 5, 15)


def test_without_any_date_no_warranty_end_is_invented(crm, max_, car):
    assert crm.assets.record(max_.id, car.id, by=crm.system).warranty_until is None


@pytest.mark.parametrize("start, months, end", [
    (date(2025, 1, 31), 1, date(2025, 2, 28)),   # no 31 February: the month's last day
    (date(2028, 1, 31), 1, date(2028, 2, 29)),   # leap year
    (date(2024, 2, 29), 12, date(2025, 2, 28)),  # a leap day plus a year
    (date(2025, 8, 31), 1, date(2025, 9, 30)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)),  # across the year end
    (date(2025, 12, 15), 24, date(2027, 12, 15)),
    (date(2025, 3, 10), 0, date(2025, 3, 10)),
])
def test_warranty_months_end_on_the_same_day_or_the_months_last_day(start, months, end):
    assert add_months(start, months) == end


def test_a_one_month_warranty_handed_over_on_january_31_ends_on_the_last_day_of_february(crm, max_):
    battery = crm.products.add("BAT-1", "Starter battery", warranty_months=1, by=crm.system)
    asset = crm.assets.record(max_.id, battery.id, handed_over_on="2025-01-31", by=crm.system)
    assert asset.warranty_until == date(2025, 2, 28)


def test_an_extended_warranty_overrides_the_derived_end_and_says_so(crm, max_, car):
    asset = crm.assets.record(max_.id, car.id, handed_over_on="2023-01-09", warranty_until="2028-01-09", by=crm.system)
    got = crm.assets.get(asset.id, by=crm.system)
    assert got.warranty_until == date(2028, 1, 9)
    assert got.warranty_overridden is True


def test_a_handover_before_the_purchase_is_refused(crm, max_, car):
    with pytest.raises(ValidationError, match="handed_over_on '2023-01-01': is before the purchase"):
        crm.assets.record(max_.id, car.id, purchased_on="2023-01-09", handed_over_on="2023-01-01", by=crm.system)
    assert crm.assets.of_customer(max_.id, by=crm.system) == []


def test_a_date_not_in_iso_form_is_refused_naming_the_field(crm, max_, car):
    with pytest.raises(ValidationError) as info:
        crm.assets.record(max_.id, car.id, purchased_on="09.01.2023", by=crm.system)
    assert (info.value.field, info.value.value) == ("purchased_on", "09.01.2023")


def test_an_asset_for_an_unknown_product_party_or_customer_is_not_found(crm, max_, car):
    with pytest.raises(NotFound, match="product 99 not found"):
        crm.assets.record(max_.id, 99, by=crm.system)
    with pytest.raises(NotFound, match="party 99 not found"):
        crm.assets.record(max_.id, car.id, dealer_party_id=99, by=crm.system)
    with pytest.raises(NotFound, match="customer 99 not found"):
        crm.assets.record(99, car.id, by=crm.system)
    with pytest.raises(NotFound, match="asset 99 not found"):
        crm.assets.get(99, by=crm.system)


def test_a_replacement_machine_points_at_the_one_it_replaces(crm, max_):
    washer = crm.products.add("WM-BRI-8", "Brioche WashPro 8kg", warranty_months=24, by=crm.system)
    old = crm.assets.record(max_.id, washer.id, serial_number="A1", handed_over_on="2026-02-24", by=crm.system)
    new = crm.assets.record(max_.id, washer.id, serial_number="A2", handed_over_on="2026-03-02",
                            replaces_asset_id=old.id, by=crm.system)
    assert new.replaces_asset_id == old.id
    assert new.warranty_until == date(2028, 3, 2)  # a new machine, a new warranty
    assert [a.serial_number for a in crm.assets.of_customer(max_.id, by=crm.system)] == ["A1", "A2"]


def test_a_product_needs_a_unique_sku_and_a_warranty_that_is_not_negative(crm, car):
    with pytest.raises(ValidationError, match="sku 'CAR-ALP-T': already exists"):
        crm.products.add("CAR-ALP-T", "Another car", by=crm.system)
    with pytest.raises(ValidationError, match="warranty_months"):
        crm.products.add("X-1", "Broken", warranty_months=-1, by=crm.system)
    assert [p.sku for p in crm.products.list(by=crm.system)] == ["CAR-ALP-T"]


def test_a_timeline_line_names_only_a_case_of_its_own_customer(crm, max_):
    """A call noted on Max's file cannot point into Erika's case: the case is not found
    (whether another customer's case exists is not told), and nothing of the line is kept."""
    erika = crm.customers.add("Erika Musterfrau", by=crm.system)
    her_case = crm.cases.open(erika.id, "washes badly on day one", by=crm.system)
    with pytest.raises(NotFound, match="case"):
        crm.interactions.record(max_.id, "phone", "outbound", "about the washer", case_id=her_case.id, by=crm.system)
    with pytest.raises(NotFound, match="case"):
        crm.interactions.record(max_.id, "phone", "outbound", "about the washer", case_id=999_999, by=crm.system)
    assert crm.interactions.timeline(max_.id, by=crm.system) == []
    talk = crm.interactions.record(erika.id, "phone", "outbound", "about the washer", case_id=her_case.id, by=crm.system)
    assert talk.case_id == her_case.id
