"""Scheduled test-failover drills through the registered functions: they pass, fail, and are always cleaned up.

The ``drills`` timer starts what is due; the ``pulse`` carries a drill out (test failover into the isolated
network, validation, cleanup) and writes its report. Every failure case ends with the test VMs gone.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from localdev import estate as est
from localdev.processes import free_port
from shared.drills.engine import start_drill
from shared.failover import engine
from shared.failover.refusals import WorkflowRefused
from shared.platform.clients import StartedOperation
from shared.state.audit import audit_trail
from shared.state.drill_records import DrillRecord, list_drills, save_drill
from shared.state.group_records import GroupState, get_group
from shared.state.reports import get_report
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = ("sap-app-1", "sap-app-2", "sap-db-1")


def protect_sap(app: Ppgdr, **tags: str) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true", **tags})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")


def last_drill(app: Ppgdr) -> DrillRecord:
    return list_drills(app.ctx.store, "sap-ppg")[-1]


def run_to_end(app: Ppgdr) -> DrillRecord:
    app.driver.settle(lambda: last_drill(app).phase == "done", label="drill", max_rounds=80)
    return last_drill(app)


def leftover_test_vms(app: Ppgdr) -> list[str]:
    """Test VMs that exist in the DR resource group (a drill must never leave any)."""
    compute = app.ctx.clients.compute(est.SUBSCRIPTION)
    return [vm.name for vm in compute.virtual_machines.list("sap-prod-asr") if (vm.name or "").endswith("-test")]


def test_a_scheduled_drill_runs_from_the_timer_passes_and_leaves_a_report(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app, **{"ppgdr-drill": "weekly", "ppgdr-rto-minutes": "30"})
    app.runner.fire_timer("drills")
    drill = last_drill(app)
    assert drill.trigger == "schedule" and drill.phase == "starting" and drill.rto_target_seconds == 1800
    app.runner.fire_timer("drills")
    assert len(list_drills(app.ctx.store, "sap-ppg")) == 1  # not due again, and one in flight already
    drill = run_to_end(app)
    assert drill.verdict == "passed", drill.problems
    assert drill.cleaned_up and leftover_test_vms(app) == []
    assert drill.rto_seconds is not None and 0 < drill.rto_seconds <= 1800
    assert drill.rpo_seconds is not None and drill.cleanup_seconds is not None
    assert {row["vm"] for row in drill.placement} == set(SAP)
    assert all(row["running"] and row["in_ppg"] for row in drill.placement)
    assert all(row["vm_id"].endswith("-test") for row in drill.placement)
    report = get_report(app.ctx.store, drill.id)
    assert report is not None and report["kind"] == "drill" and report["verdict"] == "passed"
    assert {row["vm"] for row in report["timeline"]} == set(SAP)
    events = [row["event"] for row in audit_trail(app.ctx.store, "sap-ppg")]
    for expected in ("drill-started", "drill-test-failover", "drill-validated", "drill-cleanup", "drill-passed"):
        assert expected in events, events
    # production never moved
    assert get_group(app.ctx.store, "sap-ppg").state == GroupState.PROTECTED
    assert all(app.driver.states()[n] == "protected" for n in SAP)
    # weekly: due again once the last drill is a week old (not after six days)
    six_days_ago = (datetime.now(UTC) - timedelta(days=6)).isoformat()
    save_drill(app.ctx.store, replace(drill, started=six_days_ago))
    app.runner.fire_timer("drills")
    assert len(list_drills(app.ctx.store, "sap-ppg")) == 1
    save_drill(app.ctx.store, replace(drill, started=(datetime.now(UTC) - timedelta(days=7, minutes=1)).isoformat()))
    app.runner.fire_timer("drills")
    assert len(list_drills(app.ctx.store, "sap-ppg")) == 2


def test_a_drill_whose_validation_fails_is_still_cleaned_up(seeded: Ppgdr) -> None:
    app = seeded
    closed = free_port()  # nothing listens there: the probe fails
    protect_sap(app, **{"ppgdr-drill-probe": f"127.0.0.1:{closed}"})
    start_drill(app.ctx, "sap-ppg", by="alice")
    drill = run_to_end(app)
    assert drill.verdict == "failed" and drill.cleaned_up and leftover_test_vms(app) == []
    assert any(f"probe 127.0.0.1:{closed} failed" in p for p in drill.problems)
    events = [row["event"] for row in audit_trail(app.ctx.store, "sap-ppg")]
    assert "drill-validation-failed" in events and "drill-cleanup" in events and "drill-failed" in events


def test_a_failed_test_failover_is_cleaned_up_and_reported(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.emulator.fault(kind="asyncRefusal", method="POST", path="testFailover$", code="96001", count=1)
    start_drill(app.ctx, "sap-ppg", by="alice")
    drill = run_to_end(app)
    assert drill.verdict == "failed" and drill.cleaned_up and leftover_test_vms(app) == []
    assert any("96001" in p for p in drill.problems), drill.problems


def test_a_failed_cleanup_is_retried_and_said_loudly(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.emulator.fault(operationKind=r"asr\.TestFailoverCleanup", code="CleanupFailed", count=1)
    start_drill(app.ctx, "sap-ppg", by="alice")
    drill = run_to_end(app)
    assert drill.cleaned_up and drill.cleanup_attempts == 2 and leftover_test_vms(app) == []
    assert "drill-cleanup-failed" in [row["event"] for row in audit_trail(app.ctx.store, "sap-ppg")]


class CrashAfterSend:
    """The Site Recovery gateway of an instance that dies right after Azure accepted its test failover."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.crashed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def plan_test_failover(self, plan: str, **kwargs: Any) -> StartedOperation:
        started: StartedOperation = self.real.plan_test_failover(plan, **kwargs)
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("the instance died before it saved the job")
        return started


def test_a_drill_whose_starter_crashed_is_adopted_and_cleaned_up_by_the_pulse(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    real = app.ctx.site_recovery
    app.ctx.site_recovery_api = CrashAfterSend(real)
    start_drill(app.ctx, "sap-ppg", by="alice")
    with contextlib.suppress(RuntimeError):
        app.runner.fire_timer("pulse")  # the step that sends the test failover dies after the send
    app.ctx.site_recovery_api = real
    drill = run_to_end(app)
    assert drill.cleaned_up and leftover_test_vms(app) == []
    assert drill.verdict == "passed", drill.problems  # the job was adopted from the plan: measured as usual
    assert drill.rto_seconds is not None and drill.test_failover_job
    posts = [r["path"] for r in app.emulator.requests() if r["method"] == "POST" and r["path"].endswith("/testFailover")]
    assert len(posts) == 1  # adopted, never sent twice
    assert "drill-adopted" in [row["event"] for row in audit_trail(app.ctx.store, "sap-ppg")]


def test_a_drill_past_its_deadline_is_cleaned_up(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    drill = start_drill(app.ctx, "sap-ppg", by="alice")
    app.runner.fire_timer("pulse")  # sends the test failover
    stuck = replace(last_drill(app), deadline=drill.started)  # as if the instance had stalled past the deadline
    save_drill(app.ctx.store, stuck)
    drill = run_to_end(app)
    assert drill.cleaned_up and leftover_test_vms(app) == [] and drill.verdict == "failed"
    assert any("passed its deadline" in p for p in drill.problems)


def test_a_real_failover_decision_cleans_the_drill_up_first_then_fails_over(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    start_drill(app.ctx, "sap-ppg", by="alice")
    app.driver.settle(lambda: last_drill(app).phase in ("validate", "cleanup"), label="test failover done")
    engine.start_failover(app.ctx, "sap-ppg", reason="region down")
    app.driver.settle(
        lambda: get_group(app.ctx.store, "sap-ppg").state == GroupState.REPROTECTED, label="failover", max_rounds=90
    )
    drill = last_drill(app)
    assert drill.phase == "done" and drill.cleaned_up and leftover_test_vms(app) == []
    events = [row["event"] for row in audit_trail(app.ctx.store, "sap-ppg")]
    assert events.index("drill-cleanup-for-failover") < events.index("failover-job")
    assert events.index("drill-cleanup") < events.index("failover-job")


def test_drills_are_refused_on_groups_that_are_not_steady_and_dry_runs_change_nothing(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    dry = start_drill(app.ctx, "sap-ppg", by="alice", dry_run=True)
    assert dry.phase == "starting" and list_drills(app.ctx.store, "sap-ppg") == []
    start_drill(app.ctx, "sap-ppg", by="alice")
    try:
        start_drill(app.ctx, "sap-ppg", by="bob")
        raise AssertionError("a second drill started")
    except WorkflowRefused as exc:
        assert "already being drilled" in str(exc)
    run_to_end(app)
    engine.start_failover(app.ctx, "sap-ppg", reason="test")
    try:
        start_drill(app.ctx, "sap-ppg", by="bob")
        raise AssertionError("a drill started during a failover")
    except WorkflowRefused as exc:
        assert "failing-over" in str(exc)


def test_the_timer_keeps_to_the_window_and_the_concurrency_cap(seeded: Ppgdr) -> None:
    from shared.timeframes import parse_window

    app = seeded
    protect_sap(app, **{"ppgdr-drill": "daily"})
    for name in ("trade-engine-1", "trade-cache-1"):
        app.driver.tag(E.vm(name).id, {"ppgdr-protect": "true", "ppgdr-drill": "daily"})
    app.driver.settle(lambda: all(s == "protected" for s in app.driver.states().values()), label="protect all")
    now = datetime.now(UTC)
    closed = (now + timedelta(hours=3)).strftime("%H:%M") + "-" + (now + timedelta(hours=4)).strftime("%H:%M")
    app.ctx.settings = replace(app.ctx.settings, drill_window=parse_window(closed), max_concurrent_drills=1)
    app.runner.fire_timer("drills")
    assert list_drills(app.ctx.store) == []  # outside the window
    app.ctx.settings = replace(app.ctx.settings, drill_window=None)
    app.runner.fire_timer("drills")
    assert len(list_drills(app.ctx.store)) == 1  # both groups are due; the cap lets one run
    app.driver.settle(lambda: all(d.phase == "done" for d in list_drills(app.ctx.store)), label="first drill", max_rounds=80)
    app.runner.fire_timer("drills")
    assert len(list_drills(app.ctx.store)) == 2 and {d.group for d in list_drills(app.ctx.store)} == {"sap-ppg", "trade-ppg"}
