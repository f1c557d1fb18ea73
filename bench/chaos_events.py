"""Event Grid as the chaos harness plays it: at-least-once, out of order, sometimes not at all.

The harness registers :class:`EventSink` as the emulator's event subscriber, so every event the emulator
emits (tag writes, VM writes, deletes, ...) arrives here first. :class:`EventRelay` then decides, with the
run's seeded ``random.Random``, what Event Grid does with each: drop it (never delivered: the reconcile
timer must catch up), deliver it once, deliver it twice (possibly to two different workers, possibly
ticks apart), hold it back a few ticks (late, so later events overtake it), and redeliver an event whose
function invocation failed or whose worker died (Event Grid retries a failed delivery).
"""

from __future__ import annotations

import queue
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from localdev.runner import EventSinkHandler, EventSinkServer

MAX_ATTEMPTS = 6  # Event Grid's retry policy gives up eventually (dead-lettering); so does the relay


class EventSink:
    """The subscriber endpoint: accepts each delivery at once and queues its events for the relay."""

    def __init__(self) -> None:
        self._server = EventSinkServer(("127.0.0.1", 0), EventSinkHandler)  # ppgdr-local's subscriber endpoint
        self._server.events = queue.Queue()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="chaos-event-sink")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/events"

    def start(self) -> None:
        self._thread.start()

    def take(self) -> list[dict[str, Any]]:
        """Every event received since the last call, in arrival order."""
        taken: list[dict[str, Any]] = []
        while True:
            try:
                taken.append(self._server.events.get_nowait())
            except queue.Empty:
                return taken

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Delivery:
    """One delivery attempt of one event (a duplicate is a second delivery of the same event)."""

    seq: int
    event: dict[str, Any]
    due_tick: int
    attempt: int = 1
    duplicate: bool = False


@dataclass
class EventStats:
    emitted: int = 0
    delivered: int = 0  # delivery attempts handed to a worker (duplicates and retries included)
    duplicated: int = 0
    dropped: int = 0
    reordered: int = 0  # deliveries that reached a worker after an event emitted later had
    delayed: int = 0
    redelivered: int = 0  # after a failed invocation or a dead worker
    failed_invocations: int = 0
    lost_with_worker: int = 0
    gave_up: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class RelayPolicy:
    drop: float = 0.10
    duplicate: float = 0.30
    delay: float = 0.20
    max_delay_ticks: int = 3


class EventRelay:
    """Decides, per event, drops, duplicates and delays; hands out what is due each tick, shuffled."""

    def __init__(self, sink: EventSink, rng: random.Random, policy: RelayPolicy) -> None:
        self.sink = sink
        self.rng = rng
        self.policy = policy
        self.stats = EventStats()
        self.pending: list[Delivery] = []
        self._seq = 0
        self._highest_delivered = -1
        self.dropped_ids: list[str] = []

    def intake(self, tick: int) -> None:
        """Take what the emulator emitted since last tick and schedule it (or drop it)."""
        for event in self.sink.take():
            self._seq += 1
            self.stats.emitted += 1
            # The first event is always duplicated and the second always dropped, so even a small run has both.
            if self._seq == 2 or (self._seq > 2 and self.rng.random() < self.policy.drop):
                self.stats.dropped += 1
                self.dropped_ids.append(str(event.get("id", "")))
                continue
            self.pending.append(Delivery(self._seq, event, self._due(tick)))
            if self._seq == 1 or self.rng.random() < self.policy.duplicate:
                self.stats.duplicated += 1
                self.pending.append(Delivery(self._seq, event, self._due(tick), duplicate=True))

    def _due(self, tick: int) -> int:
        if self.rng.random() < self.policy.delay:
            self.stats.delayed += 1
            return tick + self.rng.randint(1, self.policy.max_delay_ticks)
        return tick

    def due(self, tick: int) -> list[Delivery]:
        """The deliveries due now, in a shuffled order (Event Grid does not promise any)."""
        now = [d for d in self.pending if d.due_tick <= tick]
        self.pending = [d for d in self.pending if d.due_tick > tick]
        self.rng.shuffle(now)
        for delivery in now:
            self.stats.delivered += 1
            if delivery.seq < self._highest_delivered:
                self.stats.reordered += 1
            self._highest_delivered = max(self._highest_delivered, delivery.seq)
        return now

    def settle(self, delivery: Delivery, answer: dict[str, Any] | None, tick: int) -> None:
        """Record the outcome; a failed or lost delivery is retried next tick (as Event Grid retries)."""
        if answer is not None and answer.get("ok"):
            outcome = str(answer.get("outcome", ""))
            key = outcome.split(":", 1)[0][:40] if outcome else "ok"
            self.stats.outcomes[key] = self.stats.outcomes.get(key, 0) + 1
            return
        if answer is None:
            self.stats.lost_with_worker += 1
        else:
            self.stats.failed_invocations += 1
        if delivery.attempt >= MAX_ATTEMPTS:
            self.stats.gave_up += 1
            return
        self.stats.redelivered += 1
        self.pending.append(Delivery(delivery.seq, delivery.event, tick + 1, delivery.attempt + 1, delivery.duplicate))

    @property
    def idle(self) -> bool:
        return not self.pending
