"""Drill schedules, windows and due times: pure rules, tested exhaustively."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.protection.drill_schedule import ScheduleError, due, parse_schedule, period, strictest
from shared.timeframes import WindowError, parse_window

SAT_3AM = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # a Saturday


@pytest.mark.parametrize(
    ("value", "canonical"),
    [("off", "off"), ("Daily", "daily"), (" weekly ", "weekly"), ("MONTHLY", "monthly"), ("0 0 3 * * Sat", "0 0 3 * * sat")],
)
def test_schedules_are_keywords_or_six_field_ncrontab(value: str, canonical: str) -> None:
    assert parse_schedule(value) == canonical


@pytest.mark.parametrize("value", ["hourly", "0 3 * * *", "0 0 3 * * * *", "0 0 25 * * *", "", "every week"])
def test_anything_else_is_refused_with_what_is_allowed(value: str) -> None:
    with pytest.raises(ScheduleError, match="six-field NCRONTAB"):
        parse_schedule(value)


def test_the_strictest_member_schedule_wins_and_off_only_when_all_say_off() -> None:
    assert strictest(["weekly", "daily", "monthly"]) == "daily"
    assert strictest(["off", "monthly"]) == "monthly"
    assert strictest(["off", "off"]) == "off"
    assert strictest([], default="weekly") == "weekly"
    assert strictest(["weekly", "0 0 3 * * *"]) == "0 0 3 * * *"  # every day beats every week
    assert period("0 0 */6 * * *") == timedelta(hours=6)


def test_windows_hold_days_and_times_in_utc_also_across_midnight() -> None:
    window = parse_window("Sat 02:00-06:00")
    assert window is not None and window.contains(SAT_3AM) and not window.contains(SAT_3AM + timedelta(hours=3))
    assert not window.contains(SAT_3AM + timedelta(days=1))
    night = parse_window("Fri 22:00-02:00")
    assert night is not None and night.contains(SAT_3AM - timedelta(hours=2)) and not night.contains(SAT_3AM)
    weekdays = parse_window("Mon-Fri 01:00-04:00")
    assert weekdays is not None and not weekdays.contains(SAT_3AM) and weekdays.contains(SAT_3AM - timedelta(days=1))
    assert parse_window("") is None and parse_window(None) is None
    for bad in ("Saturday 02:00", "Sat 02:00-02:00", "Sat 25:00-26:00"):
        with pytest.raises(WindowError):
            parse_window(bad)


def test_due_after_the_interval_or_the_latest_cron_occurrence_inside_the_window() -> None:
    assert due("weekly", None, SAT_3AM)
    assert not due("weekly", SAT_3AM - timedelta(days=6), SAT_3AM)
    assert due("weekly", SAT_3AM - timedelta(days=7), SAT_3AM)
    assert not due("off", None, SAT_3AM)
    assert not due("daily", None, SAT_3AM, parse_window("Sun 02:00-06:00"))
    assert due("0 0 2 * * Sat", SAT_3AM - timedelta(days=7), SAT_3AM)  # 02:00 today passed since the last drill
    assert not due("0 0 2 * * Sat", SAT_3AM - timedelta(minutes=30), SAT_3AM)  # drilled after 02:00 already
