"""End to end: stale, forged and junk signals never move a group (issue 14, "Signals").

Through the registered functions (the alert webhook, the health_events Event Grid function, the timers)
against Azurite and the emulator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from localdev import estate as est
from localdev import outages
from shared.failover.guard import pending_decisions
from shared.state.audit import audit_trail
from shared.state.group_records import get_group
from shared.state.store import SIGNALS
from tests.e2e.test_failover_lifecycle import SAP, protect_sap
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SEVENTY_YEARS = 70 * 365 * 24 * 60


def signal_rows(app: Ppgdr) -> list[dict[str, object]]:
    return [r.data for r in app.ctx.store.query(SIGNALS)]


def test_an_incident_dated_in_the_future_is_counted_from_receipt_and_its_resolution_withdraws_the_decision(
    seeded: Ppgdr,
) -> None:
    app = seeded
    protect_sap(app)
    future = outages.service_health_incident("West Europe", minutes_ago=-SEVENTY_YEARS)  # dated ~2096
    code, body = app.http("POST", "/api/alerts", body=future)
    assert code == 202 and body["decisions"][0]["kind"] == "pending-approval"
    (stored,) = signal_rows(app)
    assert datetime.fromisoformat(str(stored["observed_at"])) <= datetime.now(UTC)  # not believed
    assert "dated in the future" in str(stored["detail"])
    resolved = outages.service_health_incident("West Europe", resolved=True, minutes_ago=0)
    code, body = app.http("POST", "/api/alerts", body=resolved)
    assert code == 202 and body["decisions"][0]["kind"] == "none"
    assert pending_decisions(app.ctx) == []
    record = get_group(app.ctx.store, "sap-ppg")
    assert record.last_decided is not None and str(record.last_decided["outcome"]).startswith("withdrawn")
    assert "decision-withdrawn" in [a["event"] for a in audit_trail(app.ctx.store, "sap-ppg")]


def test_a_resolution_clears_its_incident_whatever_the_times_say(seeded: Ppgdr) -> None:
    """The resolution carries an earlier time than the (skewed) incident: it still clears it (same tracking id)."""
    app = seeded
    protect_sap(app)
    app.http("POST", "/api/alerts", body=outages.service_health_incident("West Europe", minutes_ago=-3))  # 3 min ahead
    resolved = outages.service_health_incident("West Europe", resolved=True, minutes_ago=1)
    code, body = app.http("POST", "/api/alerts", body=resolved)
    assert code == 202 and body["decisions"][0]["kind"] == "none"
    assert pending_decisions(app.ctx) == []
    # another incident (another tracking id) is not cleared by that resolution
    other = outages.service_health_incident("West Europe", minutes_ago=0, tracking_id="ZZ99-AAA")
    code, body = app.http("POST", "/api/alerts", body=other)
    assert body["decisions"][0]["kind"] == "pending-approval"


def test_an_alert_backdated_half_an_hour_does_not_pass_the_debounce_at_once(
    seeded: Ppgdr, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = seeded
    protect_sap(app)
    code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP], minutes_ago=29))
    assert code == 202 and body["decisions"][0]["kind"] == "none"
    assert any("debounce needs 300s" in r for r in body["decisions"][0]["reasons"])
    assert pending_decisions(app.ctx) == []
    # the debounce counts from receipt: five minutes later the pulse decides without a new signal
    real_clock = app.ctx.store._clock
    monkeypatch.setattr(app.ctx.store, "_clock", lambda: real_clock() + timedelta(minutes=6))
    app.runner.fire_timer("pulse")
    assert len(pending_decisions(app.ctx)) == 1


def test_two_channels_agreeing_on_an_earlier_start_are_believed(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.corroborate([E.vm(n).id for n in SAP], minutes_ago=12)  # Resource Health, 12 minutes ago
    code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP], minutes_ago=10))
    assert code == 202 and body["decisions"][0]["kind"] == "pending-approval"


def test_alerts_about_vms_ppg_dr_does_not_manage_store_nothing(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    stranger = "/subscriptions/00000000-0000-0000-0000-0000000000ff/resourceGroups/x/providers/Microsoft.Compute/virtualMachines"
    for index in range(101):
        code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([f"{stranger}/vm{index}"]))
        assert code == 202 and body["decisions"] == []
    code, body = app.http("POST", "/api/alerts", body=outages.service_health_incident("East US"))
    assert code == 202 and body["decisions"] == []
    assert signal_rows(app) == []
    assert get_group(app.ctx.store, "sap-ppg").last_decision is None


def test_signals_older_than_the_window_are_purged_but_each_vms_latest_is_kept(
    seeded: Ppgdr, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = seeded
    protect_sap(app)
    db = E.vm("sap-db-1").id
    for state in ("Unavailable", "Available", "Unavailable", "Available"):
        app.runner.deliver(outages.health_event(db, state, minutes_ago=5), "health_events")
    app.runner.deliver(outages.health_event(E.vm("sap-app-1").id, "Unavailable", minutes_ago=4), "health_events")
    assert len(signal_rows(app)) == 5
    real_clock = app.ctx.store._clock
    monkeypatch.setattr(app.ctx.store, "_clock", lambda: real_clock() + timedelta(hours=1))
    app.runner.fire_timer("reconcile")
    rows = signal_rows(app)
    assert len(rows) == 2  # the newest of sap-db-1 and of sap-app-1
    assert {str(r["resource_id"]).rsplit("/", 1)[-1] for r in rows} == {"sap-db-1", "sap-app-1"}
