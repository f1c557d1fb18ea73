"""Delivery markers: at most one write a minute per function and process, and a failed write never fails the event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.state.markers import last_deliveries, note_delivery
from shared.state.store import StateStore
from tests.fakes.tables import FakeTableService

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_busy_minute_writes_each_functions_marker_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(FakeTableService(), clock=lambda: T0)
    clock = [1000.0]
    monkeypatch.setattr("shared.state.markers.time.monotonic", lambda: clock[0])
    assert note_delivery(store, "resource_events", "e1", "Microsoft.Resources.ResourceWriteSuccess")
    assert not note_delivery(store, "resource_events", "e2", "Microsoft.Resources.ResourceWriteSuccess")
    assert note_delivery(store, "health_events", "h1", "Microsoft.ResourceNotifications.HealthResources.Changed")
    clock[0] += 61
    assert note_delivery(store, "resource_events", "e3", "Microsoft.Resources.ResourceActionSuccess")
    assert last_deliveries(store) == {"resource_events": T0, "health_events": T0}
    assert note_delivery(StateStore(FakeTableService()), "resource_events", "e4", "x")  # another store: its own memory


def test_a_failed_marker_write_is_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    store = StateStore(FakeTableService())

    def broken(*_: object, **__: object) -> None:
        raise ConnectionError("table endpoint unreachable")

    store.put = broken  # type: ignore[method-assign]
    assert note_delivery(store, "resource_events", "e1", "x") is False
    assert "could not record the delivery marker of resource_events" in caplog.text
