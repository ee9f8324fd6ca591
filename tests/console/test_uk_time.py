"""UK days and times: a diary day is cut at UK midnight, and times read in UK time, which is
UTC+1 in summer (the sandbox's browser tests run in whatever season it is)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from uec_booking.console.pages import _local
from uec_booking.provider.diary import uk_day_bounds


def test_a_summer_day_starts_at_23_utc_the_evening_before() -> None:
    assert uk_day_bounds(date(2026, 7, 1)) == (datetime(2026, 6, 30, 23), datetime(2026, 7, 1, 23))


def test_a_winter_day_is_the_utc_day() -> None:
    assert uk_day_bounds(date(2026, 12, 2)) == (datetime(2026, 12, 2), datetime(2026, 12, 3))


def test_a_week_across_the_clocks_going_back_is_one_hour_longer() -> None:
    lo, hi = uk_day_bounds(date(2026, 10, 22), 7)
    assert (hi - lo).total_seconds() == 7 * 24 * 3600 + 3600


def test_times_are_shown_in_uk_time() -> None:
    assert _local(datetime(2026, 7, 1, 8, 30, tzinfo=UTC)) == "09:30"
    assert _local(datetime(2026, 12, 2, 8, 30, tzinfo=UTC)) == "08:30"
