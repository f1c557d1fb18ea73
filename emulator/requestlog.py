"""The request log: every ARM request the emulator served, for tests and benchmarks.

Tests assert on what the app *sent* (e.g. "one PUT per protected item", "no polling storm"), and
benchmarks count calls; both read this log through ``GET /_emulator/requests``.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

_MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    status: int
    duration_ms: float
    timestamp: str
    fault: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """A bounded, thread-safe list of served requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LoggedRequest] = deque(maxlen=_MAX_ENTRIES)

    def record(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        status: int,
        duration_ms: float,
        *,
        fault: str | None = None,
    ) -> LoggedRequest:
        entry = LoggedRequest(
            method=method.upper(),
            path=path,
            query=dict(query),
            status=status,
            duration_ms=round(duration_ms, 3),
            timestamp=datetime.now(UTC).isoformat(),
            fault=fault,
        )
        with self._lock:
            self._entries.append(entry)
        return entry

    def entries(self, *, method: str | None = None, path: str | None = None, status: int | None = None) -> list[LoggedRequest]:
        """Entries in order, filtered by method, path regex (case-insensitive) and status."""
        with self._lock:
            found = list(self._entries)
        if method:
            found = [e for e in found if e.method == method.upper()]
        if path:
            pattern = re.compile(path, re.IGNORECASE)
            found = [e for e in found if pattern.search(e.path)]
        if status is not None:
            found = [e for e in found if e.status == status]
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
