"""Group invariants through the registered functions: availability sets move together, one outage is one decision."""

from __future__ import annotations

import json

from click.testing import CliRunner

from localdev import estate as est
from localdev import outages
from shared.failover.guard import pending_decisions
from shared.failover.workflow_state import load_workflow
from shared.operator.cli import cli
from shared.state.audit import audit_trail
from shared.state.group_records import GroupState, get_group
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = ("sap-app-1", "sap-app-2", "sap-db-1")
RECOVERY_AVSET = ("sap-prod-asr", "sap-avset-asr")


def protect_sap(app: Ppgdr) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")


def item_ppg(app: Ppgdr, name: str) -> str:
    return app.driver.statuses()[name].target_ppg_id.rsplit("/", 1)[-1]


def avset_ppg(app: Ppgdr) -> str:
    avset = app.ctx.clients.compute(est.SUBSCRIPTION).availability_sets.get(*RECOVERY_AVSET)
    return str(avset.properties.proximity_placement_group.id).rsplit("/", 1)[-1]


def test_one_member_of_an_availability_set_cannot_move_it_alone_the_whole_set_can(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.driver.tag(E.vm("sap-app-1").id, {"ppgdr-target-ppg": "sap-ppg-b"})
    app.driver.settle(lambda: "shares availability set" in app.driver.statuses()["sap-app-1"].reason, label="refused")
    status = app.driver.statuses()["sap-app-1"]
    assert status.state == "protected" and status.reason.endswith("protection kept as it is, nothing changed")
    assert "shares availability set sap-avset with sap-app-2" in status.reason
    assert "Set the same ppgdr-target-ppg on every VM of the set" in status.reason
    # nothing moved: both items and the shared recovery set stay in the group's DR PPG
    assert item_ppg(app, "sap-app-1") == item_ppg(app, "sap-app-2") == avset_ppg(app) == "sap-ppg-asr"
    assert app.driver.statuses()["sap-app-2"].reason == "protected as desired"
    # the group can still fail over (nothing a failover would refuse)
    assert "would fail over group sap-ppg" in CliRunner().invoke(cli, ["failover", "sap-ppg", "--dry-run"]).output

    app.driver.tag(E.vm("sap-app-2").id, {"ppgdr-target-ppg": "sap-ppg-b"})
    app.driver.settle(
        lambda: (
            all(app.driver.states()[n] == "protected" for n in ("sap-app-1", "sap-app-2"))
            and item_ppg(app, "sap-app-1") == item_ppg(app, "sap-app-2") == "sap-ppg-b"
        ),
        label="the set moves together",
    )
    assert avset_ppg(app) == "sap-ppg-b"
    assert {app.driver.statuses()[n].reason for n in ("sap-app-1", "sap-app-2")} == {"protected as desired"}


def test_a_second_signal_source_adds_evidence_to_the_pending_decision_which_keeps_its_id(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    app.corroborate([E.vm(n).id for n in ("sap-app-1", "sap-db-1")])
    code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in ("sap-app-1", "sap-db-1")]))
    assert code == 202 and body["decisions"][0]["kind"] == "pending-approval"
    shown = body["decisions"][0]["decision_id"]
    # Resource Health, then the metric alert, report the third VM of the same outage
    app.corroborate([E.vm("sap-app-2").id])
    code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm("sap-app-2").id]))
    assert code == 202 and body["decisions"][0]["kind"] == "pending-approval"
    pending = pending_decisions(app.ctx)
    assert len(pending) == 1 and pending[0]["decision_id"] == shown
    assert pending[0]["evidence_updates"] == 1 and len(pending[0]["unavailable"]) == 3
    listed = json.loads(CliRunner().invoke(cli, ["decisions", "--json"]).output)
    assert [d["decision_id"] for d in listed] == [shown]
    assert "1 later signal(s)" in CliRunner().invoke(cli, ["decisions"]).output
    assert "decision-evidence" in [row["event"] for row in audit_trail(app.ctx.store, "sap-ppg")]
    # the id the operator saw is the one that works
    code, body = app.http("POST", f"/api/decisions/{shown}/approve", body={"by": "alice"})
    assert code == 200 and body["decision_id"] == shown
    assert get_group(app.ctx.store, "sap-ppg").state == GroupState.FAILING_OVER
    # one approved decision starts exactly one workflow
    code, body = app.http("POST", f"/api/decisions/{shown}/approve")
    assert code == 409
    wf = load_workflow(app.ctx, "sap-ppg")
    assert wf is not None and wf.decision_id == shown
