"""What people type, normalised or refused with the field, the value and the reason."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from dealercrm import ValidationError
from dealercrm import validation


def test_email_is_stripped_and_lowercased():
    assert validation.email("  Max.Mustermann@Example.ORG ") == "max.mustermann@example.org"


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_blank_email_means_no_email(blank):
    assert validation.email(blank) is None


@pytest.mark.parametrize("bad", ["max.mustermann", "max@@example.org", "max@localhost", "max@example"])
def test_an_invalid_email_names_the_field_and_the_value(bad):
    with pytest.raises(ValidationError) as info:
        validation.email(bad)
    assert info.value.field == "email"
    assert info.value.value == bad
    assert "email" in str(info.value) and repr(bad) in str(info.value)
    assert info.value.reason  # says why, not just "invalid"


@pytest.mark.parametrize("typed", ["0171 5550100", "+49 171 5550100", "0049 (171) 555-0100", "+491715550100"])
def test_a_german_mobile_typed_any_way_is_stored_as_e164(typed):
    assert validation.phone(typed) == "+491715550100"


def test_a_phone_without_country_code_is_read_in_the_given_region():
    assert validation.phone("0664 1234567", region="AT") == "+436641234567"


@pytest.mark.parametrize("blank", [None, "", "  "])
def test_a_blank_phone_means_no_phone(blank):
    assert validation.phone(blank) is None


@pytest.mark.parametrize("bad", ["12", "not a number", "0171"])
def test_an_invalid_phone_names_the_field_and_the_value(bad):
    with pytest.raises(ValidationError) as info:
        validation.phone(bad)
    assert info.value.field == "phone"
    assert info.value.value == bad
    assert str(info.value).startswith(f"invalid phone {bad!r}: ")


def test_a_choice_outside_the_allowed_values_lists_what_is_allowed():
    with pytest.raises(ValidationError, match=r"invalid channel 'telegram': must be one of email, sms"):
        validation.choice("channel", "telegram", ("email", "sms"))
    assert validation.choice("channel", "sms", ("email", "sms")) == "sms"


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_required_field_left_blank_is_refused(blank):
    with pytest.raises(ValidationError, match="invalid name .*: is required"):
        validation.required("name", blank)


def test_a_required_field_is_stripped():
    assert validation.required("name", "  Max Mustermann ") == "Max Mustermann"


def test_text_with_a_nul_character_is_refused_on_every_backend():
    with pytest.raises(ValidationError, match="NUL"):
        validation.required("name", "Max\x00Mustermann")
    with pytest.raises(ValidationError) as info:
        validation.text("street", "Hauptstr.\x00 1")
    assert info.value.field == "street"


def test_blank_free_text_becomes_none():
    assert validation.text("city", "  ") is None
    assert validation.text("city", " Hamburg ") == "Hamburg"


def test_an_iso_date_is_parsed_and_a_date_passes_through():
    assert validation.iso_date("birthday", "1978-02-14") == date(1978, 2, 14)
    assert validation.iso_date("birthday", date(1978, 2, 14)) == date(1978, 2, 14)
    assert validation.iso_date("birthday", " ") is None
    assert validation.iso_date("birthday", None) is None


@pytest.mark.parametrize("bad", ["14.02.1978", "1978-02-30", "yesterday"])
def test_a_date_not_in_iso_form_names_the_field_and_the_value(bad):
    with pytest.raises(ValidationError) as info:
        validation.iso_date("birthday", bad)
    assert (info.value.field, info.value.value) == ("birthday", bad)
    assert "YYYY-MM-DD" in str(info.value)


def test_an_aware_datetime_is_converted_to_utc():
    berlin = timezone(timedelta(hours=1))
    got = validation.aware("at", datetime(2026, 3, 2, 10, 0, tzinfo=berlin))
    assert got == datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    assert got.utcoffset() == timedelta(0)


def test_a_naive_datetime_is_a_validation_error_not_a_guess():
    with pytest.raises(ValidationError) as info:
        validation.aware("due_at", datetime(2026, 3, 2, 10, 0))
    assert info.value.field == "due_at"
    assert "timezone" in str(info.value)
