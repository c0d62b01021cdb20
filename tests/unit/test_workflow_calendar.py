from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealercrm.errors import ValidationError
from dealercrm.workflow import WALL_CLOCK, BusinessCalendar, Calendars, DeadlinePolicy, remaining, resume

BERLIN = ZoneInfo("Europe/Berlin")
GERMANY = BusinessCalendar()  # Mon-Fri 08:00-17:00, national holidays
DAY = GERMANY.day_length


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN)


def test_a_working_day_is_nine_hours_by_default():
    assert DAY == timedelta(hours=9)


def test_a_deadline_handed_over_on_friday_afternoon_lands_on_monday():
    assert GERMANY.add(berlin(2026, 1, 9, 15), timedelta(hours=4)) == berlin(2026, 1, 12, 10)


def test_two_working_days_from_friday_afternoon_end_on_tuesday_afternoon():
    assert GERMANY.add(berlin(2026, 1, 9, 15), 2 * DAY) == berlin(2026, 1, 13, 15)


def test_a_deadline_that_uses_up_a_day_ends_at_closing_not_next_morning():
    assert GERMANY.add(berlin(2026, 1, 12, 8), DAY) == berlin(2026, 1, 12, 17)


def test_a_case_reported_on_saturday_starts_counting_on_monday_morning():
    assert GERMANY.add(berlin(2026, 1, 10, 11), timedelta(hours=1)) == berlin(2026, 1, 12, 9)


def test_christmas_does_not_eat_the_manufacturers_review_time():
    # 24 December is a working day in Germany; 25 and 26 December are holidays.
    assert GERMANY.add(berlin(2026, 12, 23, 14), 2 * DAY) == berlin(2026, 12, 28, 14)


def test_easter_monday_and_good_friday_are_skipped():
    assert GERMANY.add(berlin(2026, 4, 2, 16), DAY) == berlin(2026, 4, 7, 16)


def test_a_bavarian_technician_gets_epiphany_off_a_berlin_one_does_not():
    bavaria, berlin_state = BusinessCalendar(subdiv="BY"), BusinessCalendar(subdiv="BE")
    start = berlin(2026, 1, 5, 16)
    assert bavaria.add(start, timedelta(hours=2)) == berlin(2026, 1, 7, 9)
    assert berlin_state.add(start, timedelta(hours=2)) == berlin(2026, 1, 6, 9)


def test_opening_hours_follow_local_time_across_the_clock_change():
    due = GERMANY.add(berlin(2026, 3, 27, 16), timedelta(hours=2))
    assert due == berlin(2026, 3, 30, 9)
    assert due == datetime(2026, 3, 30, 7, tzinfo=timezone.utc)
    assert due.tzinfo == timezone.utc


def test_working_time_between_counts_only_opening_hours():
    friday, tuesday = berlin(2026, 1, 9, 15), berlin(2026, 1, 13, 15)
    assert GERMANY.working_time_between(friday, tuesday) == timedelta(hours=18)
    assert GERMANY.working_time_between(tuesday, friday) == -timedelta(hours=18)


@settings(max_examples=100, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(BERLIN)),
    minutes=st.integers(min_value=0, max_value=60 * 9 * 30),
)
def test_adding_working_time_and_measuring_it_agree(start, minutes):
    duration = timedelta(minutes=minutes)
    assert GERMANY.working_time_between(start, GERMANY.add(start, duration)) == duration


def test_naive_times_and_negative_durations_are_refused():
    with pytest.raises(ValueError, match="naive datetime"):
        GERMANY.add(datetime(2026, 1, 5, 9), DAY)
    with pytest.raises(ValidationError, match="must not be negative"):
        GERMANY.add(berlin(2026, 1, 5, 9), -DAY)


@pytest.mark.parametrize(
    "settings_, field",
    [
        ({"workdays": ()}, "workdays"),
        ({"workdays": (7,)}, "workdays"),
        ({"opens": time(17), "closes": time(8)}, "closes"),
        ({"region": "XX"}, "calendar"),
        ({"subdiv": "ZZ"}, "calendar"),
        ({"tz": "Mars/Olympus"}, "calendar"),
    ],
)
def test_a_wrong_calendar_is_refused_when_built(settings_, field):
    with pytest.raises(ValidationError) as err:
        BusinessCalendar(**settings_)
    assert err.value.field == field


def test_each_party_works_by_its_own_calendar_and_customer_silence_by_the_wall_clock():
    calendars = Calendars(by_party={"technician": BusinessCalendar(subdiv="BY")})
    start = berlin(2026, 1, 5, 16)
    two_hours = DeadlinePolicy(timedelta(hours=2))
    assert calendars.deadline("technician", two_hours, start) == berlin(2026, 1, 7, 9)
    assert calendars.deadline("dealer", two_hours, start) == berlin(2026, 1, 6, 9)
    fortnight = DeadlinePolicy(timedelta(days=14), business=False)
    assert calendars.deadline("customer", fortnight, start) == start + timedelta(days=14)


def test_the_clock_stops_while_the_customer_is_asked_and_gives_back_what_was_left():
    due, asked = berlin(2026, 1, 13, 15), berlin(2026, 1, 12, 15)
    left = remaining(due, asked, GERMANY)
    assert left == DAY
    assert resume(left, berlin(2026, 1, 14, 10), GERMANY) == berlin(2026, 1, 15, 10)


def test_an_overdue_case_paused_for_the_customer_is_due_again_on_return():
    left = remaining(berlin(2026, 1, 12, 10), berlin(2026, 1, 13, 10), GERMANY)
    assert left == timedelta(0)
    back = berlin(2026, 1, 14, 10)
    assert resume(left, back, GERMANY) == back


def test_wall_clock_pauses_count_nights_and_weekends():
    left = remaining(berlin(2026, 1, 12, 10), berlin(2026, 1, 10, 10), WALL_CLOCK)
    assert left == timedelta(days=2)
