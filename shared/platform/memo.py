"""What one process confirmed in Azure a moment ago and need not ask again on every event.

A Functions worker serves many invocations. Some facts an event would re-read every time change only when
someone reconfigures the deployment: the vault is prepared for a region pair (with these settings), a recovery
resource group exists, a target PPG exists with these VM sizes in its intent. Asking ARM or Table storage again
for each tagged VM costs a round trip per fact per event. A memo remembers a fact this process confirmed, for a
bounded time (``ttl``), never a failure: what was missing is looked at again next time.

One memo per state store (a weak reference: a test's context and its memo go together), so each context, and
therefore each deployment's settings, has its own.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Hashable


class ProcessMemo:
    """Facts confirmed by this process, each with the monotonic time it was confirmed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def known(self, key: Hashable, ttl_seconds: float | None = None) -> bool:
        """Whether ``key`` was confirmed (within the last ``ttl_seconds``; None: ever, in this process)."""
        with self._lock:
            at = self._seen.get(key)
            if at is None:
                return False
            if ttl_seconds is not None and self._clock() - at > ttl_seconds:
                del self._seen[key]
                return False
            return True

    def remember(self, key: Hashable) -> None:
        with self._lock:
            self._seen[key] = self._clock()

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._seen.pop(key, None)


_lock = threading.Lock()
_memos: weakref.WeakKeyDictionary[object, ProcessMemo] = weakref.WeakKeyDictionary()


def memo_for(owner: object) -> ProcessMemo:
    """The memo of ``owner`` (the process's state store), created on first use."""
    with _lock:
        memo = _memos.get(owner)
        if memo is None:
            memo = _memos[owner] = ProcessMemo()
        return memo
