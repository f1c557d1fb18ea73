"""ARM requests received and not yet answered, so a clock jump can wait for them.

Why: a request held by a latency fault sleeps before it is served. If a test jumps the clock during that
sleep, the request is applied minutes (in virtual time) after it was sent: a 1.5 s delay becomes "the
failover POST arrived after the app's 5-minute send claim expired", which no real ARM front door does.
``POST /_emulator/clock`` with ``advance`` therefore first lets the ARM requests in flight finish (bounded,
so a hung client cannot wedge the admin API), then jumps. A choice, not Azure evidence: Azure has no jumps.

Only the requests in flight when the jump is asked are waited for: steady traffic (a poller, a fault on every
request) must not hold a jump back. The app serves every request on one event loop, and the only awaits are
the body read and the latency sleep, so a plain set is enough (no lock).
"""

from __future__ import annotations

import asyncio
import time

# The longest a clock jump waits for requests in flight (a latency fault longer than this is applied after).
DRAIN_LIMIT_S = 30.0
_POLL_S = 0.005


class InFlight:
    """The ARM requests between intake and answer, each by a number given at intake."""

    def __init__(self) -> None:
        self._next = 0
        self._active: set[int] = set()

    def enter(self) -> int:
        self._next += 1
        self._active.add(self._next)
        return self._next

    def leave(self, token: int) -> None:
        self._active.discard(token)

    async def drained(self, limit_s: float = DRAIN_LIMIT_S) -> bool:
        """Wait until every request in flight now is answered (True) or ``limit_s`` passed (False)."""
        waiting = set(self._active)
        deadline = time.monotonic() + limit_s
        while waiting & self._active:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_S)
        return True
