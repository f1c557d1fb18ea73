"""Markers: when ppg-dr last received an Event Grid delivery, per function, kept in the ``markers`` table.

Why: Event Grid fails quietly. A deleted or disabled event subscription, an expired endpoint key or a filter
that matches nothing all look the same from inside the app: no events. The reconcile repairs what events
missed, so nothing breaks, it only gets up to 15 minutes slower; ``ppgdr preflight`` reads these markers to
say so ("no event for 30 hours").

Cost: every delivery ppg-dr did not refuse counts (an ignored event proves delivery as well as an acted-on
one), but each process writes a marker at most once per :data:`EVERY_SECONDS`, so a busy subscription costs
one small upsert a minute per instance, and an ignored event almost never touches storage.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import datetime

from shared.state.store import MARKERS, StateStore

log = logging.getLogger(__name__)

EVERY_SECONDS = 60.0
PARTITION = "delivery"

_lock = threading.Lock()
# store -> {source: monotonic time of this process's last write}; weak, so a test's store and its memory go together.
_written: weakref.WeakKeyDictionary[StateStore, dict[str, float]] = weakref.WeakKeyDictionary()


def note_delivery(
    store: StateStore, source: str, event_id: str, event_type: str, *, every_seconds: float = EVERY_SECONDS
) -> bool:
    """Record that ``source`` (the function's name) received an event now; True when this call wrote the marker.

    Best effort: a failed write is logged and forgotten (the event itself must not fail, or be redelivered, for it).
    """
    now = time.monotonic()
    with _lock:
        last = _written.setdefault(store, {}).get(source)
        if last is not None and now - last < every_seconds:
            return False
        _written[store][source] = now
    data = {"time": store.now().isoformat(), "event_id": event_id[:200], "event_type": event_type[:200]}
    try:
        store.put(MARKERS, PARTITION, source, data)
    except Exception as exc:
        log.warning("could not record the delivery marker of %s: %s", source, exc, extra={"step": "event"})
        return False
    return True


def last_deliveries(store: StateStore) -> dict[str, datetime]:
    """When each function last received an event (as far as the markers say: a minute's precision)."""
    found: dict[str, datetime] = {}
    for record in store.query(MARKERS, partition=PARTITION):
        raw = record.data.get("time")
        if isinstance(raw, str):
            try:
                found[record.row] = datetime.fromisoformat(raw)
            except ValueError:
                continue
    return found
