"""The ppgdr CLI against Azurite and the emulator: the operator's view of protection and groups."""

from __future__ import annotations

import json

from click.testing import CliRunner

from localdev import estate as est
from localdev import outages
from shared.operator.cli import cli
from shared.state.group_records import get_group
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = {"sap-app-1", "sap-app-2", "sap-db-1"}


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_status_plan_groups_decisions_and_dry_run_through_the_cli(seeded: Ppgdr) -> None:
    app = seeded
    assert "no VMs are tagged" in run("status")
    app.runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    planned = json.loads(run("plan", "--json"))
    assert {row["vm"] for row in planned} == SAP and all(row["action"] == "enable" for row in planned)
    assert app.driver.states() == {}  # plan changed nothing
    run("reconcile")
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect")
    table = run("status")
    assert "sap-db-1" in table and "protected" in table and "sap-ppg-asr" in table

    out = run("groups")
    assert "sap-ppg: protected, running in westeurope (PPG sap-ppg); mode approve; 3 of 3 members protected" in out
    app.corroborate([E.vm(n).id for n in ("sap-app-1", "sap-db-1")])
    alert = outages.availability_alert([E.vm(n).id for n in ("sap-app-1", "sap-db-1")])
    code, _ = app.http("POST", "/api/alerts", body=alert)
    assert code == 202
    pending = json.loads(run("decisions", "--json"))
    assert len(pending) == 1 and pending[0]["group"] == "sap-ppg"
    out = run("approve", pending[0]["decision_id"], "--dry-run", "--by", "alice", "--json")
    assert json.loads(out)["dry_run"] is True
    assert get_group(app.ctx.store, "sap-ppg").state == "protected"
    out = run("failover", "sap-ppg", "--dry-run")
    assert "nothing was changed (dry run)" in out
    trail = run("audit", "sap-ppg")
    assert "decision-pending" in trail and "dry-run" in trail
    rejected = CliRunner().invoke(cli, ["reject", pending[0]["decision_id"], "--by", "alice", "--comment", "false alarm"])
    assert rejected.exit_code == 0
    assert json.loads(run("decisions", "--json")) == []
    refused = CliRunner().invoke(cli, ["failback", "sap-ppg"])
    assert refused.exit_code != 0 and "failback needs a group that failed over" in refused.output
