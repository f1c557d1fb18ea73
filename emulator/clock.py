"""The emulator clock: virtual time that tests can advance or speed up.

Replication and failover jobs take minutes in Azure. Every duration in the emulator is measured on
this clock, so a test can jump forward (``advance``) or run time faster (``speed``) instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Virtual UTC time = start + elapsed real time x speed + explicit advances."""

    def __init__(self, *, speed: float = 1.0, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._base_virtual = start or datetime.now(UTC)
        self._base_real = time.monotonic()
        self._speed = speed

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._base_real) * self._speed
            return self._base_virtual + timedelta(seconds=elapsed)

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Change how fast virtual time runs from now on (1.0 = real time, 0 = frozen)."""
        if speed < 0:
            raise ValueError("clock speed must be >= 0")
        current = self.now()
        with self._lock:
            self._base_virtual = current
            self._base_real = time.monotonic()
            self._speed = speed

    def advance(self, seconds: float) -> datetime:
        """Jump virtual time forward; returns the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._base_virtual += timedelta(seconds=seconds)
        return self.now()


def iso(moment: datetime) -> str:
    """ARM timestamps: ISO 8601 with a ``Z`` suffix, as in the recorded responses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
