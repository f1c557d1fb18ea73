"""The CLI and API a person uses, as the README and docs/operations.md describe them.

Names instead of resource ids, unknown groups and decisions answered as such (non-zero exit, 404),
decision id prefixes, human output with ``--json`` beside it, a dry-run failover that shows its plan,
groups that do not claim "protected" too early and say where they run.
"""

from __future__ import annotations

import json

from click.testing import CliRunner, Result

from localdev import estate as est
from localdev import outages
from shared.failover import engine as wfl
from shared.failover.workflow_state import load_workflow
from shared.operator.cli import cli
from shared.state.audit import audit_trail
from shared.state.group_records import GroupState, get_group
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = {"sap-app-1", "sap-app-2", "sap-db-1"}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def run(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def protect_sap(app: Ppgdr) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")


def pending_id(app: Ppgdr) -> str:
    app.corroborate([E.vm(n).id for n in SAP])
    code, _ = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP]))
    assert code == 202
    pending = json.loads(run("decisions", "--json"))
    assert len(pending) == 1
    return str(pending[0]["decision_id"])


def test_vm_names_are_accepted_where_unique_and_refused_clearly_otherwise(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(E.vm("sap-db-1").id, {"ppgdr-protect": "true"})
    app.runner.drain()
    by_name = json.loads(run("plan", "--vm", "sap-db-1", "--json"))
    by_rg = json.loads(run("plan", "--vm", "sap-prod/sap-db-1", "--json"))
    by_id = json.loads(run("plan", "--vm", E.vm("sap-db-1").id, "--json"))
    assert by_name["vm"].lower() == by_rg["vm"].lower() == E.vm("sap-db-1").id.lower()
    assert by_name["action"] == by_id["action"] != "none"
    # a VM ppg-dr does not manage yet is found among the VMs it watches
    untagged = json.loads(run("plan", "--vm", "trade-cache-1", "--json"))
    assert untagged["vm"].lower() == E.vm("trade-cache-1").id.lower() and "not tagged" in untagged["reason"]
    assert "sap-db-1" in run("status", "--vm", "sap-db-1")

    # the same name in two resource groups is ambiguous: the error names both, as rg/name
    twin = est.VmSpec("sap-db-1", "trading", "Standard_E8s_v5")
    est.create_vm(app.ctx.clients.compute(est.SUBSCRIPTION), twin)
    app.driver.tag(twin.id, {"ppgdr-protect": "true"})
    app.runner.drain()
    ambiguous = invoke("plan", "--vm", "sap-db-1")
    assert ambiguous.exit_code == 1
    assert "ambiguous" in ambiguous.output and "sap-prod/sap-db-1" in ambiguous.output and "trading/sap-db-1" in ambiguous.output
    unknown = invoke("plan", "--vm", "no-such-vm")
    assert unknown.exit_code == 1 and "no VM named 'no-such-vm'" in unknown.output
    assert "Traceback" not in unknown.output
    code, body = app.http("GET", "/api/status", params={"vm": "sap-prod/sap-db-1"})
    assert code == 200 and body["vm_name"] == "sap-db-1"
    code, body = app.http("GET", "/api/status", params={"vm": "no-such-vm"})
    assert code == 404 and body["error"]["code"] == "NotFound"


def test_unknown_groups_decisions_and_routes_are_not_found(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    for args in (("status", "--group", "nope"), ("audit", "nope"), ("failover", "nope"), ("resume", "nope")):
        result = invoke(*args)
        assert result.exit_code == 1 and "unknown group 'nope'" in result.output, (args, result.output)
    assert "sap-ppg" in run("status", "--group", "SAP-PPG")
    for method, path in (
        ("GET", "/api/groups/nope"),
        ("GET", "/api/groups/nope/audit"),
        ("POST", "/api/groups/nope/failover"),
        ("POST", "/api/groups/nope/resume"),
        ("POST", "/api/groups/nope/failback"),
        ("POST", "/api/decisions/dec-0000000000000000/approve"),
        ("POST", "/api/decisions/dec-0000000000000000/reject"),
        ("GET", "/api/no-such-route"),
    ):
        code, body = app.http(method, path)
        assert code == 404 and body["error"]["code"] == "NotFound", (method, path, code, body)
    code, body = app.http("GET", "/api/status", params={"group": "nope"})
    assert code == 404
    code, body = app.http("DELETE", "/api/groups")
    assert code == 405 and body["error"]["code"] == "MethodNotAllowed"
    code, body = app.http("GET", "/api/groups/sap-ppg/audit")
    assert code == 200 and body["value"] == []  # a known group with no history yet: empty, not 404
    code, body = app.http("POST", "/api/groups/sap-ppg/resume")
    assert code == 409 and body["error"]["code"] == "Refused"  # it exists; there is nothing to resume
    assert invoke("reject", "dec-0000000000000000").exit_code == 1


def test_decision_prefixes_human_output_and_a_dry_run_approval_that_records_nothing(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    decision = pending_id(app)
    dry = run("approve", decision[:12], "--dry-run", "--by", "alice")
    assert f"dry run: approving {decision}" in dry
    assert "boot order (anchor first):" in dry and "1. sap-db-1 (Standard_M64s)" in dry
    assert "recovery point: LatestProcessed" in dry and "source shutdown: Required" in dry
    events = [a["event"] for a in audit_trail(app.ctx.store, "sap-ppg")]
    assert "approved" not in events and "failover-started" not in events
    assert json.loads(run("decisions", "--json"))[0]["decision_id"] == decision  # still pending
    assert get_group(app.ctx.store, "sap-ppg").state == "protected"
    dry_json = json.loads(run("approve", decision[:12], "--dry-run", "--json"))
    assert dry_json["dry_run"] is True and dry_json["plan"]["boot_groups"][0] == ["sap-db-1"]

    too_short = invoke("approve", decision[:5])
    assert too_short.exit_code == 1 and "unknown decision" in too_short.output
    approved = run("approve", decision[:12], "--by", "alice")
    assert approved.startswith(f"approved {decision} for group sap-ppg (by alice): failover workflow ")
    again = invoke("approve", decision)
    assert again.exit_code == 1 and "no longer pending: approved by alice" in again.output
    code, body = app.http("POST", f"/api/decisions/{decision}/approve")
    assert code == 409 and "no longer pending" in body["error"]["message"]


def test_reject_prints_a_sentence_or_json(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    decision = pending_id(app)
    out = json.loads(run("reject", decision[:10], "--by", "bob", "--json"))
    assert out == {"group": "sap-ppg", "decision_id": decision, "rejected": True}
    assert json.loads(run("decisions", "--json")) == []


def test_failover_dry_run_prints_the_plan_it_would_run(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    out = run("failover", "sap-ppg", "--dry-run", "--recovery-point", "LatestApplicationConsistent")
    assert "would fail over group sap-ppg from westeurope to northeurope with recovery plan ppgdr-sap-ppg" in out
    assert "recovery point: LatestApplicationConsistent" in out
    assert "source shutdown: Required (the source region answers" in out
    assert "1. sap-db-1 (Standard_M64s)" in out and "2. sap-app-1 (Standard_E16s_v5), sap-app-2 (Standard_E16s_v5)" in out
    assert load_workflow(app.ctx, "sap-ppg") is None  # nothing started
    code, body = app.http("POST", "/api/groups/sap-ppg/failover", params={"dry_run": "true"})
    assert code == 202 and body["dry_run"] is True and body["plan"]["boot_groups"] == [["sap-db-1"], ["sap-app-1", "sap-app-2"]]


def test_groups_say_protecting_until_every_member_is_protected_and_where_they_run(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: any(s == "initial-replication" for s in app.driver.states().values()), label="enabling")
    early = json.loads(run("groups", "--json"))
    assert early[0]["state"] == "protecting" and early[0]["members_protected"] != "3 of 3"
    assert "sap-ppg: protecting" in run("groups")
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect")
    row = json.loads(run("groups", "--json"))[0]
    assert row["state"] == "protected" and row["running_in"] == "westeurope" and row["running_ppgs"] == ["sap-ppg"]
    assert row["members_protected"] == "3 of 3"
    # the plan already holds every member: the pulse kept it in step, no reconcile timer was needed
    assert sorted(name for boot in row["boot_groups"] for name in boot) == sorted(SAP)

    wfl.start_failover(app.ctx, "sap-ppg", reason="test")
    app.driver.settle(
        lambda: get_group(app.ctx.store, "sap-ppg").state == GroupState.REPROTECTED, label="failover", max_rounds=80
    )
    row = json.loads(run("groups", "--json"))[0]
    assert row["state"] == "reprotected" and row["running_in"] == "northeurope" and row["running_ppgs"] == ["sap-ppg-asr"]
    assert "sap-ppg: reprotected, running in northeurope (PPG sap-ppg-asr)" in run("groups")


def test_recovery_plan_follows_membership_without_waiting_for_the_reconcile(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    vault = app.ctx.clients.vault()
    asr = app.ctx.clients.site_recovery(vault.subscription)

    def plan_members() -> set[str]:
        plan = asr.replication_recovery_plans.get(*vault.args, "ppgdr-sap-ppg")
        items = {
            str(i.id).rsplit("/", 1)[-1].lower() for g in plan.properties.groups for i in g.replication_protected_items or []
        }
        # Azure answers a plan member's virtualMachineId with its own GUID: the item id names the member
        return {s.vm_name for s in app.driver.statuses().values() if s.item_name.lower() in items}

    assert plan_members() == SAP  # no reconcile timer has fired in this test
    app.driver.tag(E.vm("sap-app-2").id, {"ppgdr-protect": "false"})
    app.driver.settle(lambda: app.driver.states().get("sap-app-2") == "not-protected", label="unprotect")
    app.driver.settle(lambda: plan_members() == SAP - {"sap-app-2"}, label="plan follows")
    app.emulator.clear_requests()
    app.runner.fire_timer("reconcile")
    assert [r for r in app.emulator.requests() if r["method"] not in ("GET", "HEAD")] == []


def test_version() -> None:
    out = run("--version")
    assert out.startswith("ppgdr, version ")
