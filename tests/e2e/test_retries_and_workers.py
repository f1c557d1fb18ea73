"""End to end: retried writes, transient errors and several workers (issue 13, findings 2 to 6).

Faults come from the emulator (a 504 *after* the failover was applied, runs of 503s, slow reads); workers
are separate app contexts (own lease holder, own table clients) running the pulse and the reconcile at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from localdev import estate as est
from shared.context import AppContext
from shared.failover import engine as wfl
from shared.failover.refusals import WorkflowRefused
from shared.failover.workflow_state import load_workflow
from shared.state.audit import audit_trail
from shared.state.group_records import GroupState
from shared.ticks import pulse, reconcile
from tests.e2e.test_failover_lifecycle import SAP, SAP_RG, group_state, protect_sap
from tests.fixtures.app import Ppgdr
from tests.fixtures.together import at_once

E = est.DEMO_ESTATE


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Transient errors are retried after a pause in real seconds; the emulated minutes here pass in milliseconds."""
    monkeypatch.setattr(wfl, "TRANSIENT_BACKOFF_SECONDS", 0)


def posts(app: Ppgdr, action: str, *, applied_only: bool = False) -> int:
    return sum(
        1
        for r in app.emulator.requests()
        if r["method"] == "POST" and r["path"].endswith(f"/{action}")
        and (not applied_only or r["status"] < 300 or r.get("applied"))
    )


def events(app: Ppgdr) -> list[str]:
    return [a["event"] for a in audit_trail(app.ctx.store, "sap-ppg")]


def settle(app: Ppgdr, done: Callable[[], bool], rounds: int = 80) -> None:
    app.driver.settle(done, label="workflow", max_rounds=rounds)


def test_a_failover_accepted_before_a_gateway_504_is_adopted_not_resent(seeded: Ppgdr) -> None:
    """Finding 2: the POST is not retried blindly; the next step sees the items failing over and follows them."""
    app = seeded
    protect_sap(app)
    app.emulator.clear_requests()
    app.emulator.fault(method="POST", path="unplannedFailover$", status=504, afterApply=True, count=1)
    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    settle(app, lambda: group_state(app) == GroupState.REPROTECTED)
    assert posts(app, "unplannedFailover") == 1  # the 504'd one was applied; nothing sent again
    assert posts(app, "failoverCommit") == 1
    assert "blocked" not in events(app) and "failover-adopted" in events(app)
    wf = load_workflow(app.ctx, "sap-ppg")
    assert wf is not None and any("GatewayTimeout" in h or "504" in h for h in wf.history)
    assert [h["phase"] for h in wf.job_history][:1] == ["failover"]  # the job id, adopted from the recovery plan


def test_eight_503s_on_the_failover_are_ridden_out_without_an_operator(seeded: Ppgdr) -> None:
    """Finding 3: the step retries by itself on later pulses (with backoff), never blocking for a resume."""
    app = seeded
    protect_sap(app)
    app.emulator.clear_requests()
    app.emulator.fault(method="POST", path="unplannedFailover$", status=503, count=8)
    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    settle(app, lambda: group_state(app) == GroupState.REPROTECTED)
    assert posts(app, "unplannedFailover") == 9  # eight refused before Azure applied anything, then one accepted
    assert posts(app, "unplannedFailover", applied_only=True) == 1
    assert "blocked" not in events(app)


def test_transient_errors_beyond_the_budget_block_with_the_reason(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.emulator.fault(method="POST", path="unplannedFailover$", status=503, count=None)  # for good
    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    settle(app, lambda: group_state(app) == GroupState.BLOCKED, rounds=40)
    wf = load_workflow(app.ctx, "sap-ppg")
    assert wf is not None and wf.retries == wfl.TRANSIENT_ATTEMPTS and "ServiceUnavailable" in wf.error
    app.emulator.clear_faults()
    wfl.request(app.ctx, "sap-ppg", "resume")
    settle(app, lambda: group_state(app) == GroupState.REPROTECTED)


def _second_worker(app: Ppgdr) -> AppContext:
    return AppContext.from_settings(app.ctx.settings)


def _together(*calls: Callable[[], object]) -> None:
    """Run calls at once on threads (as two Function App instances would), re-raising the first error."""
    at_once(*calls)


def test_two_workers_pulsing_with_slow_reads_fail_a_group_over_once(seeded: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 4: each workflow is read under its lease, saved with its ETag; the lease is renewed per step."""
    app = seeded
    protect_sap(app)
    other = _second_worker(app)
    # The other worker's clock runs a lease ahead: to it, every lease this worker takes has expired already,
    # as a lease does when a step outlasts it (slow reads). It takes the group over mid-step, every time.
    ahead = timedelta(seconds=app.ctx.settings.lease_seconds + 5)
    other.store._clock = lambda: datetime.now(UTC) + ahead
    app.emulator.clear_requests()
    app.emulator.fault(method="GET", path="replicationProtectedItems/", latencyMs=50, count=None)
    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    for _ in range(80):
        if group_state(app) == GroupState.REPROTECTED:
            break
        _together(lambda: pulse(app.ctx), lambda: pulse(other))
        app.runner.advance(30)
    assert group_state(app) == GroupState.REPROTECTED
    assert posts(app, "unplannedFailover") == 1 and posts(app, "failoverCommit") == 1
    assert posts(app, "switchprotection") == len(SAP)
    assert "blocked" not in events(app) and "failover-adopted" not in events(app)


def test_two_workers_protecting_one_wave_send_each_write_once(seeded: Ppgdr) -> None:
    """Finding 5: protection steps take the VM's lease (and the vault's preparation lease), then look again."""
    app = seeded
    other = _second_worker(app)
    app.runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})  # the timers do the work here
    app.emulator.clear_requests()
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.emulator.fault(method="GET", path="replicationProtectedItems/|replicationNetworkMappings/", latencyMs=100, count=None)
    wanted = SAP | {"trade-cache-1"}
    for _ in range(60):
        if all(app.driver.states().get(n) == "protected" for n in wanted):
            break
        _together(lambda: reconcile(app.ctx), lambda: reconcile(other))
        _together(lambda: pulse(app.ctx), lambda: pulse(other))
        app.runner.advance(60)
    assert all(app.driver.states().get(n) == "protected" for n in wanted), app.driver.states()
    writes = [(r["method"], r["path"].lower()) for r in app.emulator.requests() if r["method"] != "GET"]
    writes = [w for w in writes if "tags/default" not in w[1]]
    repeated = {w: writes.count(w) for w in set(writes) if writes.count(w) > 1}
    assert repeated == {}, repeated
    enables = [w for w in writes if w[0] == "PUT" and w[1].rsplit("/", 2)[-2] == "replicationprotecteditems"]
    assert len(enables) == len(wanted)


def test_repair_asked_during_the_commit_job_runs_before_reprotect(seeded: Ppgdr) -> None:
    """Finding 6: a repair asked for while the commit job runs is carried out; asked while replicating, refused."""
    app = seeded
    protect_sap(app)
    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    for _ in range(60):
        wf = load_workflow(app.ctx, "sap-ppg")
        assert wf is not None
        if wf.phase == "commit" and wf.job:
            break
        app.runner.fire_timer("pulse")
        app.runner.advance(20)
    else:
        raise AssertionError("the commit never started")
    wfl.request(app.ctx, "sap-ppg", "repair")
    settle(app, lambda: (load_workflow(app.ctx, "sap-ppg") or wf).phase == "replicating")
    assert "repair" in events(app) and "repair-done" in events(app)
    assert events(app).index("repair-done") < events(app).index("reprotect")
    with pytest.raises(WorkflowRefused, match="being reprotected"):
        wfl.request(app.ctx, "sap-ppg", "repair")
    settle(app, lambda: group_state(app) == GroupState.REPROTECTED)
