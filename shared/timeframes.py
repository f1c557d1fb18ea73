"""Drill windows: the days and UTC hours when drills may start (``PPGDR_DRILL_WINDOW``). Pure, standard library only.

Kept at the bottom layer so the settings can refuse a malformed window when they are read, like every
other setting, instead of failing later inside the drill timer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = "(?:mon|tue|wed|thu|fri|sat|sun)"
_WINDOW = re.compile(
    rf"^(?:(?P<days>{_DAY}(?:-{_DAY})?(?:,{_DAY}(?:-{_DAY})?)*)\s+)?(?P<start>\d{{1,2}}:\d{{2}})-(?P<end>\d{{1,2}}:\d{{2}})$",
    re.IGNORECASE,
)


class WindowError(ValueError):
    """A drill window that is not ``[days] HH:MM-HH:MM``; the message says what is allowed."""


@dataclass(frozen=True)
class Window:
    """Days of the week (0 = Monday; all when empty) and a UTC time range (may pass midnight)."""

    days: frozenset[int]
    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        moment = moment.astimezone(UTC)
        clock = moment.time().replace(tzinfo=None)
        if self.start <= self.end:
            day, inside = moment.weekday(), self.start <= clock < self.end
        else:  # e.g. 22:00-02:00: after midnight belongs to the previous day's window
            inside = clock >= self.start or clock < self.end
            day = moment.weekday() if clock >= self.start else (moment.weekday() - 1) % 7
        return inside and (not self.days or day in self.days)


def parse_window(value: str | None) -> Window | None:
    """``Sat 02:00-06:00``, ``Mon-Fri 01:00-04:00``, ``Sat,Sun 22:00-02:00`` or ``02:00-06:00`` (UTC); None = any time."""
    if value is None or not value.strip():
        return None
    found = _WINDOW.match(value.strip())
    if not found:
        raise WindowError(
            f"{value!r} is not a drill window: use '[days] HH:MM-HH:MM' in UTC, e.g. 'Sat 02:00-06:00' or 'Mon-Fri 01:00-04:00'"
        )
    days: set[int] = set()
    for part in (found["days"] or "").lower().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    try:
        start = time.fromisoformat(found["start"].zfill(5))
        end = time.fromisoformat(found["end"].zfill(5))
    except ValueError as exc:
        raise WindowError(f"{value!r}: {exc}") from exc
    if start == end:
        raise WindowError(f"{value!r}: the window is empty (start equals end)")
    return Window(frozenset(days), start, end)
