"""End to end: a PPG group fails over together, is verified, committed, reprotected and failed back."""

from __future__ import annotations

from localdev import estate as est
from shared import workflows as wfl
from shared.keys import normalize_arm_id
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = {"sap-app-1", "sap-app-2", "sap-db-1"}


def protect_sap(app: Ppgdr) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")
    app.runner.fire_timer("reconcile")


def group_state(app: Ppgdr, name: str = "sap-ppg") -> str:
    return str(wfl.group_record(app.ctx, name).get("state"))


def test_group_failover_reprotect_and_failback(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    wf = wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    assert wf.phase == "plan"
    app.driver.settle(lambda: group_state(app) == wfl.REPROTECTED, label="failover", max_rounds=80)
    record = wfl.group_record(app.ctx, "sap-ppg")
    placement = record["placement"]
    assert {row["vm"] for row in placement} == SAP
    assert all(row["running"] and row["in_ppg"] for row in placement), placement
    compute = app.ctx.clients.compute(est.SUBSCRIPTION)
    dr_db = compute.virtual_machines.get("sap-prod-asr", "sap-db-1")
    assert dr_db.location == est.TARGET_REGION
    assert dr_db.properties.proximity_placement_group.id.lower().endswith("/sap-ppg-asr")
    assert app.driver.states()["sap-db-1"] == "failed-over"
    # the reconcile leaves a failed-over group alone (no second protection of the DR copies)
    app.emulator.clear_requests()
    app.runner.fire_timer("reconcile")
    assert [r for r in app.emulator.requests() if r["method"] != "GET"] == []

    wfl.start_failback(app.ctx, "sap-ppg", reason="region healthy again")
    app.driver.settle(lambda: group_state(app) == wfl.PROTECTED, label="failback", max_rounds=80)
    back = wfl.group_record(app.ctx, "sap-ppg")["placement"]
    assert all(row["running"] and row["in_ppg"] for row in back), back
    assert all("/sap-prod/" in normalize_arm_id(row["vm_id"]) for row in back)
    assert all(s == "protected" for n, s in app.driver.states().items() if n in SAP)
    events = [a["event"] for a in wfl.audit_trail(app.ctx, "sap-ppg")]
    for expected in ("failover-started", "placement", "commit", "reprotect", "reprotected", "failback-started", "failed-back"):
        assert expected in events, events
