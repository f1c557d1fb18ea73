"""End to end: ppg-dr's Table state is lost (a wiped table, a new account) and Azure is the source of truth.

Issue 13, finding 1: after the loss the running app adopts what Azure shows (protected items in either
direction, failed-over and committed items, jobs in flight), rebuilds group records, statuses and workflows
with an ``adopted`` audit entry, and never sends a write Azure's state makes wrong.
"""

from __future__ import annotations

from collections.abc import Callable

from azure.data.tables import TableServiceClient

from localdev import estate as est
from shared.drills.engine import start_drill
from shared.failover import engine as wfl
from shared.failover.workflow_state import load_workflow
from shared.state.audit import audit_trail
from shared.state.drill_records import list_drills
from shared.state.group_records import GroupState, get_group
from shared.state.store import TABLES
from tests.e2e.test_failover_lifecycle import SAP, group_state, protect_sap
from tests.fixtures.app import Ppgdr

ITEMS = "replicationProtectedItems"


def wipe_state(app: Ppgdr) -> None:
    """Delete every ppg-dr table under the running app (its table clients stay cached, as in a real worker)."""
    connection = app.ctx.settings.state_connection
    assert connection
    service = TableServiceClient.from_connection_string(connection)
    for table in TABLES:
        service.delete_table(f"{app.ctx.settings.state_table_prefix}{table}")
    assert get_group(app.ctx.store, "sap-ppg").state == GroupState.PROTECTED  # the fresh default: nothing is known
    assert app.driver.states() == {}


def writes(app: Ppgdr) -> list[str]:
    """ARM writes since the last clear, as "METHOD last-path-segments", tag writes left out."""
    return [
        f"{r['method']} {'/'.join(r['path'].rstrip('/').split('/')[-2:])}"
        for r in app.emulator.requests()
        if r["method"] != "GET" and "tags/default" not in r["path"]
    ]


def run_timers(app: Ppgdr, until: Callable[[], bool], rounds: int = 80) -> None:
    """The pulse every emulated minute and the full reconcile every 15, as the Function App's timers run."""
    for minute in range(1, rounds + 1):
        app.runner.drain()
        if until():
            return
        app.runner.advance(60)
        app.runner.fire_timer("pulse")
        if minute % 15 == 0:
            app.runner.fire_timer("reconcile")
    raise AssertionError(f"not done after {rounds} emulated minutes: {get_group(app.ctx.store, 'sap-ppg')}")


def reprotected_then_lost(app: Ppgdr) -> None:
    """The SAP group failed over and replicating back, then ppg-dr's tables wiped (the request log cleared)."""
    protect_sap(app)
    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    app.driver.settle(lambda: group_state(app) == GroupState.REPROTECTED, label="failover", max_rounds=80)
    wipe_state(app)
    app.emulator.clear_requests()


def test_state_lost_after_reprotect_is_adopted_and_the_group_fails_back(seeded: Ppgdr) -> None:
    app = seeded
    reprotected_then_lost(app)

    app.runner.fire_timer("reconcile")
    app.runner.fire_timer("pulse")
    app.runner.fire_timer("reconcile")

    assert writes(app) == []  # no enable of VMs that replicate from their DR copies, no disable of deleted originals
    record = get_group(app.ctx.store, "sap-ppg")
    assert record.state == GroupState.REPROTECTED
    assert record.source_region == est.SOURCE_REGION and record.active_region == est.TARGET_REGION
    assert {vm.rsplit("/", 1)[-1] for vm in record.member_vm_ids} == SAP
    assert all(app.driver.states()[n] == "failed-over" for n in SAP)
    adopted = [a for a in audit_trail(app.ctx.store, "sap-ppg") if a["event"] == "adopted"]
    assert len(adopted) == 1 and "runs in the DR region" in adopted[0]["message"]

    wfl.start_failback(app.ctx, "sap-ppg", reason="after the state loss")
    app.driver.settle(lambda: group_state(app) == GroupState.PROTECTED, label="failback", max_rounds=80)
    back = get_group(app.ctx.store, "sap-ppg").placement
    assert back and all(row["running"] and row["in_ppg"] for row in back), back
    assert all(app.driver.states()[n] == "protected" for n in SAP)
    posts = [w for w in writes(app) if w.startswith("POST")]
    assert sum("unplannedFailover" in w for w in posts) == 1  # the failback, once
    assert not [w for w in writes(app) if w.startswith("PUT") and ITEMS in w]  # never an enable


def test_a_failback_asked_right_after_the_state_loss_adopts_the_group_on_demand(seeded: Ppgdr) -> None:
    """Found by the full chaos profile: until the next full reconcile, the lost group was an unknown group (404)."""
    app = seeded
    reprotected_then_lost(app)

    code, body = app.http("POST", "/api/groups/sap-ppg/failback")  # no reconcile ran since the loss
    assert code == 202 and body["kind"] == "failback", body
    events = [a["event"] for a in audit_trail(app.ctx.store, "sap-ppg")]
    assert events.index("adopted") < events.index("failback-started"), events
    assert writes(app) == []  # adopting wrote nothing to Azure; the pulse sends the failback
    app.driver.settle(lambda: group_state(app) == GroupState.PROTECTED, label="failback", max_rounds=80)
    assert sum("unplannedFailover" in w for w in writes(app)) == 1

    code, body = app.http("POST", "/api/groups/no-such-group/failback")  # still 404 for a group Azure does not show
    assert code == 404 and body["error"]["code"] == "NotFound"


def test_state_lost_during_the_commit_job_is_adopted_and_converges(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.emulator.clear_requests()
    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    for _ in range(60):  # up to the commit job in flight
        app.runner.fire_timer("pulse")
        wf = load_workflow(app.ctx, "sap-ppg")
        assert wf is not None
        if wf.phase == "commit" and wf.job:
            break
        app.runner.advance(20)
    else:
        raise AssertionError("the commit never started")
    wipe_state(app)

    app.runner.fire_timer("reconcile")  # the commit job still runs: its items are busy, adopted once it ends
    assert load_workflow(app.ctx, "sap-ppg") is None
    run_timers(app, until=lambda: group_state(app) == GroupState.REPROTECTED)

    posts = [r["path"].rsplit("/", 1)[-1] for r in app.emulator.requests() if r["method"] == "POST"]
    assert posts.count("unplannedFailover") == 1 and posts.count("failoverCommit") == 1
    assert posts.count("switchprotection") == len(SAP)
    assert not [r for r in app.emulator.requests() if r["method"] == "PUT" and r["path"].split("/")[-2] == ITEMS]
    events = [a["event"] for a in audit_trail(app.ctx.store, "sap-ppg")]
    assert "adopted" in events and "reprotected" in events
    assert all(app.driver.states()[n] == "failed-over" for n in SAP)


def test_state_lost_while_steady_costs_no_azure_write(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    wipe_state(app)
    app.emulator.clear_requests()
    app.runner.fire_timer("reconcile")
    app.runner.fire_timer("pulse")
    assert writes(app) == []
    assert all(app.driver.states()[n] == "protected" for n in SAP)
    assert not [a for a in audit_trail(app.ctx.store, "sap-ppg") if a["event"] == "adopted"]  # nothing to adopt
    # and the group can fail over again
    wfl.start_failover(app.ctx, "sap-ppg", reason="after the state loss")
    app.driver.settle(lambda: group_state(app) == GroupState.REPROTECTED, label="failover", max_rounds=80)


def test_test_vms_left_by_a_drill_whose_record_was_lost_are_cleaned_up(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    start_drill(app.ctx, "sap-ppg", by="sre")
    compute = app.ctx.clients.compute(est.SUBSCRIPTION)

    def test_vms() -> list[str]:
        return [vm.name or "" for vm in compute.virtual_machines.list("sap-prod-asr") if (vm.name or "").endswith("-test")]

    for _ in range(30):  # the test failover runs to its end; the drill record is lost before its cleanup
        app.runner.advance(30)
        drills = list_drills(app.ctx.store, "sap-ppg")
        if (drills and drills[0].phase in ("validate", "cleanup")) or len(test_vms()) == len(SAP):
            break
        app.runner.fire_timer("pulse")
    assert len(test_vms()) == len(SAP)
    wipe_state(app)
    app.emulator.clear_requests()

    app.runner.fire_timer("reconcile")
    run_timers(app, until=lambda: not test_vms())

    cleanups = [r for r in app.emulator.requests() if r["method"] == "POST" and r["path"].endswith("testFailoverCleanup")]
    assert len(cleanups) == 1
    drill = list_drills(app.ctx.store, "sap-ppg")[0]
    assert drill.trigger == "adopted" and drill.cleaned_up and drill.verdict == "failed"
    assert any(a["event"] == "adopted" and "test VMs" in a["message"] for a in audit_trail(app.ctx.store, "sap-ppg"))


def test_a_command_on_an_unknown_group_without_a_vault_is_404_and_lists_azure_at_most_once_a_minute(ppgdr: Ppgdr) -> None:
    """Found by schemathesis: the on-demand adoption's vault listing failed (no vault yet) and escaped as a 500."""
    app = ppgdr
    app.emulator.clear_requests()
    for name in ("0", "nope", "other"):
        code, body = app.http("POST", f"/api/groups/{name}/commit")
        assert code == 404 and body["error"]["code"] == "NotFound", body
    listings = [r for r in app.emulator.requests(method="GET") if r["path"].lower().endswith("/replicationprotecteditems")]
    assert len(listings) <= 1, listings  # one look at Azure, then the name is simply unknown for a minute
