"""Azure accepts a step (202) and its job fails later with a numeric code: every step's failed-job path.

The emulator's async-refusal fault (``POST /_emulator/faults {"kind": "asyncRefusal", ...}``) turns the next
matching Site Recovery write into that: a 202, then a job that fails in its prerequisite check. ppg-dr must
report Azure's code and message where the operator looks, leave nothing half-done, not resend the same
request in a loop, and let the operator resume a blocked workflow.
"""

from __future__ import annotations

from localdev import estate as est
from shared.failover import engine
from shared.failover.workflow_state import BLOCKED, load_workflow
from shared.state.audit import audit_trail
from shared.state.group_records import GroupState, get_group
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = ("sap-app-1", "sap-app-2", "sap-db-1")
REFUSED = "45005: Protection couldn't be enabled for the virtual machine."


def fabric_puts(app: Ppgdr) -> int:
    """PUTs of a fabric itself (not of anything under a fabric)."""
    return sum(
        1
        for r in app.emulator.requests()
        if r["method"] == "PUT" and r["path"].rstrip("/").split("/")[-2] == "replicationFabrics"
    )


def protect_sap(app: Ppgdr) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")


def test_a_refused_enable_is_reported_cleaned_up_and_not_resent_until_something_changes(seeded: Ppgdr) -> None:
    app = seeded
    vm = E.vm("trade-cache-1")
    item_path = "/replicationProtectedItems/"
    app.emulator.fault(kind="asyncRefusal", method="PUT", path=item_path, count=1)
    app.driver.tag(vm.id, {"ppgdr-protect": "true"})
    app.driver.settle(
        lambda: (
            app.driver.statuses()["trade-cache-1"].state == "failed"
            and "retried after" in app.driver.statuses()["trade-cache-1"].reason
        ),
        label="refused enable",
    )
    status = app.driver.statuses()["trade-cache-1"]
    assert REFUSED in status.reason and status.last_failure["operation"] == "enable-protection"
    assert status.last_failure["error"].startswith("45005")
    history = " | ".join(status.history)
    assert "enable-protection failed: 45005" in history and "removing the item it left in the vault" in history
    # nothing half-done: the item the failed enable left is gone from the vault
    vault = app.ctx.clients.vault()
    items = app.ctx.clients.site_recovery(vault.subscription).replication_protected_items.list(*vault.args)
    assert [i.name for i in items if "trade-cache-1" in (i.name or "")] == []
    enables = sum(1 for r in app.emulator.requests() if r["method"] == "PUT" and item_path in r["path"])
    for _ in range(5):  # the same request again would fail the same way: held, not resent
        app.runner.advance(60)
        app.runner.fire_timer("pulse")
    app.runner.fire_timer("reconcile")
    assert sum(1 for r in app.emulator.requests() if r["method"] == "PUT" and item_path in r["path"]) == enables
    # a change of the tags is a different request: it goes ahead at once, and succeeds
    app.driver.tag(vm.id, {"ppgdr-target-zone": "2"})
    app.driver.settle(lambda: app.driver.states()["trade-cache-1"] in ("initial-replication", "protected"), label="retry")
    assert app.driver.statuses()["trade-cache-1"].last_failure == {}


def test_a_refused_target_ppg_update_keeps_the_vm_protected_and_says_why(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.emulator.fault(kind="asyncRefusal", method="PATCH", path="/replicationProtectedItems/", code="95001", count=1)
    app.driver.tag(E.vm("sap-db-1").id, {"ppgdr-target-ppg": "sap-db-ppg"})
    app.driver.settle(lambda: "update-target-ppg failed: 95001" in app.driver.statuses()["sap-db-1"].reason, label="refused")
    status = app.driver.statuses()["sap-db-1"]
    assert status.state == "protected" and status.target_ppg_id.endswith("/sap-ppg-asr")  # unchanged, still failover-ready
    assert "retried after" in status.reason


def test_failed_failover_commit_and_reprotect_jobs_block_with_azures_code_and_resume(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    steps = (("/unplannedFailover", "91001"), ("/failoverCommit", "91002"), ("/switchprotection", "91003"))
    engine.start_failover(app.ctx, "sap-ppg", reason="failed jobs")
    for path, code in steps:
        app.emulator.fault(kind="asyncRefusal", method="POST", path=path, code=code, count=1)
        app.driver.settle(lambda: get_group(app.ctx.store, "sap-ppg").state == GroupState.BLOCKED, label=f"{path} refused")
        wf = load_workflow(app.ctx, "sap-ppg")
        assert wf is not None and wf.phase == BLOCKED and f"{code}:" in wf.error, (path, wf)
        assert f"{code}:" in (get_group(app.ctx.store, "sap-ppg").blocked_reason or "")
        code_, body = app.http("POST", "/api/groups/sap-ppg/resume")
        assert code_ == 202, body
    app.driver.settle(
        lambda: get_group(app.ctx.store, "sap-ppg").state == GroupState.REPROTECTED, label="after resumes", max_rounds=90
    )
    blocked = [row for row in audit_trail(app.ctx.store, "sap-ppg") if row["event"] == "blocked"]
    assert [next(c for _, c in steps if f"{c}:" in row["message"]) for row in blocked] == ["91001", "91002", "91003"]
    posts = [r["path"].rsplit("/", 1)[-1] for r in app.emulator.requests() if r["method"] == "POST"]
    assert posts.count("unplannedFailover") == 2 and posts.count("failoverCommit") == 2  # refused once, resumed once


def test_a_refused_vault_step_is_reported_and_retried_later_not_every_pulse(seeded: Ppgdr) -> None:
    app = seeded
    app.emulator.fault(kind="asyncRefusal", method="PUT", path="/replicationFabrics/", code="93001", count=1)
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: "failed: 93001" in app.driver.statuses()["trade-cache-1"].reason, label="vault refused")
    reason = app.driver.statuses()["trade-cache-1"].reason
    assert reason.startswith("preparing the vault: fabric") and "retried after" in reason
    fabric_puts = sum(
        1
        for r in app.emulator.requests()
        if r["method"] == "PUT"
        and r["path"].count("/replicationFabrics/")
        and r["path"].rstrip("/").split("/")[-2] == "replicationFabrics"
    )
    for _ in range(5):
        app.runner.advance(60)
        app.runner.fire_timer("pulse")
    assert (
        sum(
            1
            for r in app.emulator.requests()
            if r["method"] == "PUT" and r["path"].rstrip("/").split("/")[-2] == "replicationFabrics"
        )
        == fabric_puts
    )
