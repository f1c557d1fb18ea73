"""Recovery plans compared with the recorded A2A recovery plan session.

ppg-dr keeps one recovery plan per group and fails groups over through it, so the plan body it reads
back (allowed operations, current scenario, groups) and the plan failover job are what its workflows
follow.
"""

from __future__ import annotations

from typing import Any

from tests.conformance.replay import GUID, World, load, shape_gaps, step

PLAN = load("powershell-A2ARecoveryPlanReplication.json")


def _create(world: World) -> Any:
    """PUT the plan the way PowerShell did: one Boot group naming the item by id only (21:54:19)."""
    t = world.topology
    body = {
        "properties": {
            "primaryFabricId": f"{t['vaultId']}/replicationFabrics/{t['primaryFabric']}",
            "recoveryFabricId": f"{t['vaultId']}/replicationFabrics/{t['recoveryFabric']}",
            "failoverDeploymentModel": "ResourceManager",
            "groups": [
                {
                    "groupType": "Boot",
                    "replicationProtectedItems": [{"id": world.item()["id"]}],
                    "startGroupActions": [],
                    "endGroupActions": [],
                }
            ],
        }
    }
    return world.send("PUT", f"{world.vault}/replicationRecoveryPlans/rp1", body)


def _label(task: dict[str, Any]) -> str:
    """A task by its taskId when that is a name, else by name (plan group tasks are named 'Unknown')."""
    return task["name"] if GUID.match(task["taskId"] or "") else task["taskId"]


def test_plan_create_job_is_save_recovery_plan(world: World) -> None:
    """PUT replicationRecoveryPlans: 202; job SaveRecoveryPlan 'Save a recovery plan', target RecoveryPlan,
    one task SaveRecoveryPlanTask (21:54:19)."""
    world.protect()
    accepted = _create(world)
    job = world.job(world.job_id(accepted))["properties"]
    recorded = step(PLAN, time="21:54:19", method="GET", at=2797000)["job"]
    assert (job["scenarioName"], job["friendlyName"], job["targetInstanceType"]) == (
        recorded["scenarioName"],
        recorded["friendlyName"],
        recorded["targetInstanceType"],
    )
    assert [t["name"] for t in job["tasks"]] == [t["name"] for t in recorded["tasks"]]


def test_fresh_plan_body(world: World) -> None:
    """A new plan: currentScenario / currentScenarioStatus / currentScenarioStatusDescription null,
    providerSpecificDetails [], Shutdown + Failover + Boot groups, the Boot item's virtualMachineId the
    ASR GUID, fabric friendly names the region names (21:54:20)."""
    world.protect()
    world.finish(_create(world), 1)
    plan = world.get(f"{world.vault}/replicationRecoveryPlans/rp1")
    recorded = step(PLAN, time="21:54:20", method="GET", at=2812000)
    p = plan["properties"]
    problems = shape_gaps(recorded["bodyKeys"], plan)
    expected = recorded["plan"]
    got = {
        "allowedOperations": p.get("allowedOperations"),
        "currentScenario": p.get("currentScenario", "absent"),
        "currentScenarioStatus": p.get("currentScenarioStatus", "absent"),
        "currentScenarioStatusDescription": p.get("currentScenarioStatusDescription", "absent"),
        "providerSpecificDetails": p.get("providerSpecificDetails"),
        "groupTypes": [g["groupType"] for g in p["groups"]],
    }
    want = {
        k: expected[k]
        for k in (
            "allowedOperations",
            "currentScenario",
            "currentScenarioStatus",
            "currentScenarioStatusDescription",
            "providerSpecificDetails",
            "groupTypes",
        )
    }
    problems += [f"{k}: {got[k]!r}, recorded {want[k]!r}" for k in want if got[k] != want[k]]
    vm_ids = [ref.get("virtualMachineId") for g in p["groups"] for ref in g["replicationProtectedItems"]]
    if not all(GUID.match(v or "") for v in vm_ids):
        problems.append(f"virtualMachineId {vm_ids}, recorded the ASR GUID of the VM")
    if p["primaryFabricFriendlyName"] != "West Europe":
        problems.append(f"primaryFabricFriendlyName {p['primaryFabricFriendlyName']!r}, recorded the region name ('East US')")
    assert problems == [], "\n".join(problems)


def test_plan_unplanned_failover_job(world: World) -> None:
    """POST plan unplannedFailover (sourceSiteOperations Required): 202 with Location
    {plan}/operationresults/{job}; job UnplannedFailover 'Failover', target RecoveryPlan named after the
    plan, tasks RpSrsPrerequisitesCheck, ShutdownAllActionGroup, FailoverAllActionGroup, Group1,
    EndRecoveryPlanTask, FailoverJobDetails (21:54:21 and entries[-1])."""
    world.protect()
    world.finish(_create(world), 1)
    recorded = step(PLAN, entry=-1)["job"]
    body = step(PLAN, time="21:54:21", method="POST")["requestBody"]
    accepted = world.send("POST", f"{world.vault}/replicationRecoveryPlans/rp1/unplannedFailover", body)
    assert accepted.status_code == 202, accepted.text
    job = world.finish(accepted, 300)["properties"]
    got = (
        job["scenarioName"],
        job["friendlyName"],
        job["targetInstanceType"],
        job["targetObjectName"],
        job["customDetails"]["instanceType"],
    )
    assert got == ("UnplannedFailover", "Failover", "RecoveryPlan", "rp1", "FailoverJobDetails")
    labels = [t["taskId"] if not GUID.match(t["taskId"]) else t["name"] for t in recorded["tasks"]]
    assert [_label(t) for t in job["tasks"]] == labels
