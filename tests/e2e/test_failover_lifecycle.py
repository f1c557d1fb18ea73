"""End to end: a PPG group fails over together, is verified, committed, reprotected and failed back."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import timedelta

from localdev import estate as est
from localdev import outages
from shared.arm.keys import normalize_arm_id
from shared.failover import engine as wfl
from shared.failover import placement
from shared.failover.recovery_plans import sync_all_plans
from shared.failover.refusals import WorkflowRefused
from shared.failover.workflow_state import load_workflow
from shared.platform import site_recovery
from shared.state.audit import audit_trail
from shared.state.group_records import GroupState, get_group
from shared.state.store import GROUPS, WORKFLOWS
from shared.state.vm_status import VmStatus, all_statuses
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = {"sap-app-1", "sap-app-2", "sap-db-1"}


def protect_sap(app: Ppgdr) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")
    app.runner.fire_timer("reconcile")


def group_state(app: Ppgdr, name: str = "sap-ppg") -> str:
    return str(get_group(app.ctx.store, name).state)


def test_group_failover_reprotect_and_failback(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    wf = wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    assert wf.phase == "plan"
    app.driver.settle(lambda: group_state(app) == GroupState.REPROTECTED, label="failover", max_rounds=80)
    record = get_group(app.ctx.store, "sap-ppg")
    placement = record.placement
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
    app.driver.settle(lambda: group_state(app) == GroupState.PROTECTED, label="failback", max_rounds=80)
    back = get_group(app.ctx.store, "sap-ppg").placement
    assert all(row["running"] and row["in_ppg"] for row in back), back
    assert all("/sap-prod/" in normalize_arm_id(row["vm_id"]) for row in back)
    assert all(s == "protected" for n, s in app.driver.states().items() if n in SAP)
    events = [a["event"] for a in audit_trail(app.ctx.store, "sap-ppg")]
    for expected in ("failover-started", "placement", "commit", "reprotect", "reprotected", "failback-started", "failed-back"):
        assert expected in events, events


def test_outage_below_quorum_does_not_fail_over(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    outcome = app.runner.deliver(outages.health_event(E.vm("sap-app-2").id), "health_events")
    assert outcome == "sap-ppg: none"
    record = get_group(app.ctx.store, "sap-ppg")
    assert record.state == GroupState.PROTECTED and not record.pending_decision
    assert any("quorum" in r for r in record.last_decision_reasons)


def test_regional_outage_reaches_quorum_waits_for_approval_then_fails_over(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    # the webhook rejects junk and unknown alerts without acting
    code, body = app.http("POST", "/api/alerts", body=b"{not json")
    assert code == 400
    code, body = app.http("POST", "/api/alerts", body={"schemaId": "something-else"})
    assert code == 400
    code, _ = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm("sap-db-1").id]), key="spoofed")
    assert code == 401
    assert get_group(app.ctx.store, "sap-ppg").pending_decision is None

    app.corroborate([E.vm(n).id for n in ("sap-app-1", "sap-db-1")])  # Resource Health sees the outage too
    alert = outages.availability_alert([E.vm(n).id for n in ("sap-app-1", "sap-db-1")])
    code, body = app.http("POST", "/api/alerts", body=alert)
    assert code == 202 and body["decisions"][0]["kind"] == "pending-approval"
    code, again = app.http("POST", "/api/alerts", body=alert)  # redelivered: same evidence, one decision
    assert code == 202 and again["decisions"][0].get("duplicate") is True
    code, pending = app.http("GET", "/api/decisions")
    assert code == 200 and len(pending["value"]) == 1
    decision = pending["value"][0]["decision_id"]
    code, approved = app.http("POST", f"/api/decisions/{decision}/approve", body={"by": "sre-on-call"})
    assert code == 200 and approved["group"] == "sap-ppg"
    code, _ = app.http("POST", f"/api/decisions/{decision}/approve", body={"by": "sre-on-call"})
    assert code == 409  # no second failover
    app.driver.settle(lambda: group_state(app) == GroupState.REPROTECTED, label="approved failover", max_rounds=80)
    events = [a["event"] for a in audit_trail(app.ctx.store, "sap-ppg")]
    assert events.index("decision-pending") < events.index("approved") < events.index("failover-started")


def test_auto_mode_fails_over_without_approval_and_the_cap_holds_the_next(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true", "ppgdr-failover": "auto"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")
    app.corroborate([E.vm(n).id for n in SAP])
    alert = outages.availability_alert([E.vm(n).id for n in ("sap-app-1", "sap-app-2", "sap-db-1")])
    code, body = app.http("POST", "/api/alerts", body=alert)
    assert code == 202 and body["decisions"][0]["kind"] == "failover" and body["decisions"][0]["workflow_started"]
    assert group_state(app) == GroupState.FAILING_OVER


def test_group_operations_dry_run_change_nothing(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.emulator.clear_requests()
    code, body = app.http("POST", "/api/groups/sap-ppg/failover", params={"dry_run": "true"})
    assert code == 202 and body["dry_run"] is True
    assert group_state(app) == GroupState.PROTECTED
    assert [r for r in app.emulator.requests() if r["method"] != "GET"] == []
    code, audit_body = app.http("GET", "/api/groups/sap-ppg/audit")
    assert any(a["event"] == "dry-run" for a in audit_body["value"])


class Crash(RuntimeError):
    """The function instance dies right after Azure accepted a call, before the workflow was saved."""


def test_crash_after_each_send_never_sends_twice(seeded: Ppgdr, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app = seeded
    protect_sap(app)
    real = site_recovery.start_operation
    crashed: list[str] = []

    def crash_once_per_kind(begin, *args, **kwargs):  # type: ignore[no-untyped-def]
        started = real(begin, *args, **kwargs)
        name = begin.__name__
        if name not in crashed:
            crashed.append(name)
            raise Crash(f"instance died after {name}")
        return started

    monkeypatch.setattr(site_recovery, "start_operation", crash_once_per_kind)
    wfl.start_failover(app.ctx, "sap-ppg", reason="crash test")
    for _ in range(80):
        app.runner.drain()
        if group_state(app) == GroupState.REPROTECTED:
            break
        app.runner.advance(60)
        with contextlib.suppress(Crash):  # the host logs the failed invocation; the next pulse starts fresh
            app.runner.fire_timer("pulse")
    assert group_state(app) == GroupState.REPROTECTED
    assert {"begin_unplanned_failover", "begin_failover_commit", "begin_switch_protection"} <= set(crashed)
    posts = [r["path"].rsplit("/", 1)[-1] for r in app.emulator.requests() if r["method"] == "POST"]
    assert posts.count("unplannedFailover") == 1
    assert posts.count("failoverCommit") == 1
    assert posts.count("switchprotection") == 3  # one per VM, none twice
    events = [a["event"] for a in audit_trail(app.ctx.store, "sap-ppg")]
    assert "failover-adopted" in events


def test_capacity_fallback_is_reported_and_repaired_anchor_first(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    target = est.rid("sap-prod-asr", "Microsoft.Compute/proximityPlacementGroups", "sap-ppg-asr")
    app.emulator.capacity(target, ["Standard_M64s"])
    wfl.start_failover(app.ctx, "sap-ppg", reason="capacity test", repair=True)
    app.driver.settle(lambda: bool(get_group(app.ctx.store, "sap-ppg").placement), label="verify")
    placed = {r["vm"]: r for r in get_group(app.ctx.store, "sap-ppg").placement}
    assert placed["sap-db-1"]["in_ppg"] is False and "OverconstrainedAllocationRequest" in placed["sap-db-1"]["problem"]
    assert placed["sap-app-1"]["in_ppg"] is True
    audit = [a for a in audit_trail(app.ctx.store, "sap-ppg") if a["event"] == "placement"]
    assert "OUTSIDE: sap-db-1" in audit[0]["message"]
    app.emulator.capacity(target, [])
    app.driver.settle(lambda: group_state(app) == GroupState.REPROTECTED, label="repair", max_rounds=90)
    repaired = {r["vm"]: r for r in get_group(app.ctx.store, "sap-ppg").placement}
    assert all(r["in_ppg"] and r["running"] for r in repaired.values()), repaired
    starts = [r["path"] for r in app.emulator.requests() if r["method"] == "POST" and r["path"].endswith("/start")]
    assert starts[0].endswith("/sap-db-1/start")  # the M64s anchors the PPG: started first


def test_commit_is_held_until_every_vm_runs_when_configured(seeded: Ppgdr, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app = seeded
    protect_sap(app)
    monkeypatch.setattr(app.ctx, "settings", dataclasses.replace(app.ctx.settings, require_all_running=True))
    real_report = placement.placement_report

    def one_stopped(ctx, wf):  # type: ignore[no-untyped-def]
        rows = real_report(ctx, wf)
        rows[0]["running"] = False
        return rows

    monkeypatch.setattr(placement, "placement_report", one_stopped)
    wfl.start_failover(app.ctx, "sap-ppg", reason="hold test")
    app.driver.settle(lambda: group_state(app) == GroupState.BLOCKED, label="held")
    wf = load_workflow(app.ctx, "sap-ppg")
    assert wf is not None and "commit is held" in wf.error and wf.next_phase == "commit"
    monkeypatch.setattr(placement, "placement_report", real_report)
    code, body = app.http("POST", "/api/groups/sap-ppg/commit")
    assert code == 202, body
    app.driver.settle(lambda: group_state(app) == GroupState.REPROTECTED, label="after commit", max_rounds=80)


def test_automatic_failback_after_the_source_region_is_healthy_for_the_window(seeded: Ppgdr, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app = seeded
    protect_sap(app)
    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    app.driver.settle(lambda: group_state(app) == GroupState.REPROTECTED, label="failover", max_rounds=80)
    monkeypatch.setattr(app.ctx, "settings", dataclasses.replace(app.ctx.settings, auto_failback_minutes=30))
    # a source VM is still reported down: no failback however long we wait
    app.runner.deliver(outages.health_event(E.vm("sap-db-1").id, "Unavailable", minutes_ago=0), "health_events")
    real_clock = app.ctx.store._clock
    monkeypatch.setattr(app.ctx.store, "_clock", lambda: real_clock() + timedelta(hours=2))
    app.runner.fire_timer("pulse")
    assert group_state(app) == GroupState.REPROTECTED
    # it recovers; 2 hours later the window has passed
    app.runner.deliver(outages.health_event(E.vm("sap-db-1").id, "Available", minutes_ago=0), "health_events")
    monkeypatch.setattr(app.ctx.store, "_clock", lambda: real_clock() + timedelta(hours=2))
    app.runner.fire_timer("pulse")
    assert group_state(app) == GroupState.FAILING_BACK
    assert any("healthy for 30 minutes" in a["message"] for a in audit_trail(app.ctx.store, "sap-ppg"))


def test_reconcile_keeps_one_recovery_plan_per_group_in_step(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)  # fires the reconcile timer once protected
    vault = app.ctx.clients.vault()
    asr = app.ctx.clients.site_recovery(vault.subscription)
    plan = asr.replication_recovery_plans.get(*vault.args, "ppgdr-sap-ppg")
    boot = [
        sorted(i.id.rsplit("/", 1)[-1].rsplit("-", 1)[0] for i in g.replication_protected_items)  # item = <vm>-<hash>
        for g in plan.properties.groups
        if getattr(g.group_type, "value", g.group_type) == "Boot"
    ]
    assert boot == [["sap-db-1"], ["sap-app-1", "sap-app-2"]]  # the M64s anchors the PPG: it boots first
    record = get_group(app.ctx.store, "sap-ppg")
    assert record.boot_groups == [["sap-db-1"], ["sap-app-1", "sap-app-2"]]
    # unprotecting a member takes it out of the plan; nothing else changes
    app.driver.tag(E.vm("sap-app-2").id, {"ppgdr-protect": "false"})
    app.driver.settle(lambda: app.driver.states().get("sap-app-2") == "not-protected", label="unprotect")
    app.runner.fire_timer("reconcile")
    app.driver.settle(lambda: get_group(app.ctx.store, "sap-ppg").plan_members == ["sap-db-1", "sap-app-1"], label="plan")
    app.emulator.clear_requests()
    app.runner.fire_timer("reconcile")
    assert [r for r in app.emulator.requests() if r["method"] != "GET"] == []


def test_a_plan_sync_on_stale_statuses_reads_them_again_before_it_writes(seeded: Ppgdr) -> None:
    """A reconcile's status snapshot can predate a failback's last writes (a member still "failed-over" there, the
    group already protected): under the group's lease the sync reads the group again, and the plan is not shrunk."""
    app = seeded
    protect_sap(app)
    stale = []
    for status in all_statuses(app.ctx.store):
        if status.vm_name == "sap-app-2":
            status = VmStatus.from_data(status.to_data())
            status.state = "failed-over"
        stale.append(status)
    app.emulator.clear_requests()
    assert sync_all_plans(app.ctx, statuses=stale) == []
    assert [r for r in app.emulator.requests() if r["method"] != "GET"] == []
    assert get_group(app.ctx.store, "sap-ppg").plan_members == ["sap-db-1", "sap-app-1", "sap-app-2"]


def test_service_health_incident_for_the_source_region_counts_as_quorum_and_the_cap_holds_auto(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true", "ppgdr-failover": "auto"})
    for name in ("trade-engine-1", "trade-cache-1"):
        app.driver.tag(E.vm(name).id, {"ppgdr-protect": "true", "ppgdr-failover": "auto"})
    everyone = SAP | {"trade-engine-1", "trade-cache-1"}
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in everyone), label="protect all")
    app.runner.fire_timer("reconcile")
    # an incident elsewhere concerns no group
    code, body = app.http("POST", "/api/alerts", body=outages.service_health_incident("East US"))
    assert code == 202 and body["decisions"] == []
    code, body = app.http("POST", "/api/alerts", body=outages.service_health_incident("West Europe"))
    assert code == 202
    kinds = {d["group"]: d["kind"] for d in body["decisions"]}
    # both groups sit in westeurope and are in auto mode: the fleet cap (1 an hour) lets one go, holds the other
    assert sorted(kinds.values()) == ["failover", "pending-approval"], kinds
    held = next(d for d in body["decisions"] if d["kind"] == "pending-approval")
    assert any("cap reached" in r for r in held["reasons"])


def test_alerts_from_rules_outside_the_allow_list_are_refused(seeded: Ppgdr, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app = seeded
    protect_sap(app)
    monkeypatch.setattr(app.ctx, "settings", dataclasses.replace(app.ctx.settings, alert_rule_ids=(outages.ALERT_RULE.lower(),)))
    spoofed = outages.availability_alert([E.vm(n).id for n in SAP])
    essentials = spoofed["data"]["essentials"]
    essentials["alertRuleId"] = essentials["alertRuleId"].replace("vm-availability", "someone-elses-rule")
    code, _ = app.http("POST", "/api/alerts", body=spoofed)
    assert code == 403
    assert get_group(app.ctx.store, "sap-ppg").last_decision is None
    app.corroborate([E.vm(n).id for n in SAP])
    code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP]))
    assert code == 202 and body["decisions"][0]["kind"] == "pending-approval"


def test_crashes_at_every_third_state_write_still_converge_without_double_sends(seeded: Ppgdr, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Chaos: the instance dies before every third workflow/group write, all the way through failover and failback."""
    app = seeded
    protect_sap(app)
    calls = {"n": 0}

    real_update = app.ctx.store.update

    def flaky_update(table, *args, **kwargs):  # type: ignore[no-untyped-def]
        if table in (WORKFLOWS, GROUPS):  # workflow and group-record writes (not VM statuses)
            calls["n"] += 1
            if calls["n"] % 3 == 0:
                raise Crash(f"instance died before write {calls['n']}")
        return real_update(table, *args, **kwargs)

    real_replace = app.ctx.store.replace_if_unchanged

    def flaky_replace(table, *args, **kwargs):  # type: ignore[no-untyped-def]
        if table == WORKFLOWS:  # workflow writes checked against the ETag they were read with
            calls["n"] += 1
            if calls["n"] % 3 == 0:
                raise Crash(f"instance died before write {calls['n']}")
        return real_replace(table, *args, **kwargs)

    monkeypatch.setattr(app.ctx.store, "update", flaky_update)
    monkeypatch.setattr(app.ctx.store, "replace_if_unchanged", flaky_replace)

    def start(action, kind):  # type: ignore[no-untyped-def]
        for _ in range(5):  # the operator (or the decision) retries a command that died
            try:
                return action()
            except Crash:
                continue
            except WorkflowRefused as exc:
                if f"already has a {kind}" in str(exc):
                    return None  # the command got through before the instance died
                # e.g. the previous workflow's last save died after the group's state was written: the next pulse
                # finishes it, and the operator tries again
                with contextlib.suppress(Crash):
                    app.runner.fire_timer("pulse")
        raise AssertionError("the command never got through")

    def drive(state: str) -> None:
        for _ in range(120):
            app.runner.drain()
            if group_state(app) == state:
                return
            app.runner.advance(60)
            with contextlib.suppress(Crash):
                app.runner.fire_timer("pulse")
        raise AssertionError(f"never reached {state}: {get_group(app.ctx.store, 'sap-ppg')}")

    start(lambda: wfl.start_failover(app.ctx, "sap-ppg", reason="chaos"), "failover")
    drive(GroupState.REPROTECTED)
    start(lambda: wfl.start_failback(app.ctx, "sap-ppg", reason="chaos"), "failback")
    drive(GroupState.PROTECTED)
    posts = [r["path"].rsplit("/", 1)[-1] for r in app.emulator.requests() if r["method"] == "POST"]
    assert posts.count("unplannedFailover") == 2  # one failover, one failback
    assert posts.count("failoverCommit") == 2
    assert posts.count("switchprotection") == 6  # three VMs, each direction once
    assert calls["n"] > 20  # the chaos really happened, many times


def test_mode_off_refuses_and_the_audit_says_why(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true", "ppgdr-failover": "off"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")
    app.corroborate([E.vm(n).id for n in SAP])
    code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP]))
    assert code == 202 and body["decisions"][0]["kind"] == "refused"
    assert group_state(app) == GroupState.PROTECTED
    assert any(a["event"] == "decision-refused" for a in audit_trail(app.ctx.store, "sap-ppg"))


def test_a_flapping_vm_does_not_count_and_debounce_is_rechecked_by_the_pulse(seeded: Ppgdr, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app = seeded
    protect_sap(app)
    db = E.vm("sap-db-1").id
    for minutes in (25, 20, 15, 10):  # down, up, down, up ... four recoveries inside the 30-minute window
        app.runner.deliver(outages.health_event(db, "Unavailable", minutes_ago=minutes + 2), "health_events")
        app.runner.deliver(outages.health_event(db, "Available", minutes_ago=minutes), "health_events")
    app.runner.deliver(outages.health_event(db, "Unavailable", minutes_ago=8), "health_events")
    outcome = app.runner.deliver(outages.health_event(E.vm("sap-app-1").id, "Unavailable", minutes_ago=8), "health_events")
    assert outcome == "sap-ppg: none"
    reasons = " ".join(get_group(app.ctx.store, "sap-ppg").last_decision_reasons)
    assert "flapping" in reasons and "sap-db-1" in reasons
    # a fresh outage of the third VM is not counted until the debounce passed ...
    app.runner.deliver(outages.health_event(E.vm("sap-app-2").id, "Unavailable", minutes_ago=1), "health_events")
    assert not get_group(app.ctx.store, "sap-ppg").pending_decision
    # ... and the pulse decides again once it has, without any new signal
    real_clock = app.ctx.store._clock
    monkeypatch.setattr(app.ctx.store, "_clock", lambda: real_clock() + timedelta(minutes=6))
    app.runner.fire_timer("pulse")
    assert get_group(app.ctx.store, "sap-ppg").pending_decision is not None
