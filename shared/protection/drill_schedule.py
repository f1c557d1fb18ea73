"""When a DR group is drilled: its schedule, the drill window, and whether a drill is due. Pure.

A schedule is ``off``, ``daily``, ``weekly``, ``monthly`` (at most that long between two drills), or a
six-field NCRONTAB expression like the Functions timer's (``{second} {minute} {hour} {day} {month}
{day-of-week}``: due at each occurrence). The group's schedule is the strictest (most frequent) one among its
members: a VM that needs a weekly proof makes its whole group drill weekly. A drill window
(``PPGDR_DRILL_WINDOW``, e.g. ``Sat 02:00-06:00`` UTC) limits when drills may start.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from croniter import croniter

from shared.timeframes import Window

OFF = "off"
INTERVALS = {"daily": timedelta(days=1), "weekly": timedelta(days=7), "monthly": timedelta(days=30)}
# A fixed moment to measure a cron expression's period from (deterministic, a Monday).
_REFERENCE = datetime(2026, 1, 5, tzinfo=UTC)


class ScheduleError(ValueError):
    """A schedule or window value is not one ppg-dr understands; the message says what is allowed."""


def parse_schedule(value: str) -> str:
    """The canonical schedule (lower-case keyword or the cron expression), or :class:`ScheduleError`."""
    text = " ".join(value.split()).lower()
    if text in (OFF, *INTERVALS):
        return text
    if len(text.split(" ")) != 6 or not croniter.is_valid(text, second_at_beginning=True):
        raise ScheduleError(
            "use off, daily, weekly, monthly or a six-field NCRONTAB expression "
            "({second} {minute} {hour} {day} {month} {day-of-week}, e.g. '0 0 3 * * Sat')"
        )
    return text


def period(schedule: str) -> timedelta | None:
    """How often the schedule drills (None for off): the interval, or a cron expression's gap at its tightest."""
    if schedule == OFF:
        return None
    if schedule in INTERVALS:
        return INTERVALS[schedule]
    runs = croniter(schedule, _REFERENCE, second_at_beginning=True)
    times: list[datetime] = [runs.get_next(datetime) for _ in range(8)]
    return min(b - a for a, b in itertools.pairwise(times))


def strictest(schedules: list[str], default: str = OFF) -> str:
    """The most frequent of the members' schedules; ``default`` when no member sets one."""
    chosen = [s for s in schedules if s]
    if not chosen:
        return default
    active = [s for s in chosen if s != OFF]
    if not active:
        return OFF
    return min(active, key=lambda s: (period(s) or timedelta.max, s))


def due(schedule: str, last_drill: datetime | None, now: datetime, window: Window | None = None) -> bool:
    """Whether a drill should start now: the schedule asks for one since the last drill, inside the window."""
    if schedule == OFF or (window is not None and not window.contains(now)):
        return False
    if schedule in INTERVALS:
        return last_drill is None or now - last_drill >= INTERVALS[schedule]
    latest: datetime = croniter(schedule, now, second_at_beginning=True).get_prev(datetime)
    return last_drill is None or last_drill < latest
