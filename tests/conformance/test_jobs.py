"""ASR jobs compared with recorded sessions: scenario names, task lists, ids, times, errors.

ppg-dr follows every write through its job (state, errors) and operators read the task list in the
portal; the scenario names are what a ``$filter=jobName eq ...`` matches. Each test replays the write
that started a recorded job and compares the job as a client reads it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.replay import GUID, NOT_A_TIME, World, load, shape_gaps, step

REPROTECT = load("powershell-A2AReprotectTest.json")
PPG = load("powershell-A2AReplicateProximityPlacementGroupVm.json")
ZONE = load("powershell-A2AUpdateProtectionWithZone.json")
CLUSTER = load("powershell-A2ACluster.json")


def _tasks(job: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["name"], t["friendlyName"]) for t in job["properties"]["tasks"]]


def _recorded_tasks(recorded_step: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["name"], t["friendlyName"].split(" (")[0]) for t in recorded_step["job"]["tasks"]]


def test_enable_job_scenario_and_tasks(world: World) -> None:
    """EnableDr 'Enable replication' with the recorded five tasks, names and friendly names in order
    (PPG recording at 19:26:44)."""
    job = world.running_job(world.enable())
    recorded = step(PPG, time="19:26:44")
    p = job["properties"]
    assert (p["scenarioName"], p["friendlyName"], p["targetInstanceType"]) == (
        "EnableDr",
        "Enable replication",
        "ProtectionEntity",
    )
    assert _tasks(job) == _recorded_tasks(recorded)


def test_unplanned_failover_job_scenario_and_tasks(world: World) -> None:
    """UnplannedFailover 'Failover', FailoverJobDetails, and the five recorded tasks with the source shutdown
    when sourceSiteOperations is Required (PPG recording at 19:52:2x)."""
    world.protect()
    job = world.running_job(world.unplanned_failover("Required"))
    recorded = step(PPG, time="19:52:2x")
    p = job["properties"]
    assert (p["scenarioName"], p["friendlyName"]) == ("UnplannedFailover", "Failover")
    assert p["customDetails"]["instanceType"] == "FailoverJobDetails"
    assert _tasks(job) == _recorded_tasks(recorded)


def test_update_job_scenario_and_task(world: World) -> None:
    """PATCH of the item (new recovery PPG) answers 202; job UpdateVmProperties with one
    UpdateVmPropertiesTask (PPG recording at 19:51:57)."""
    world.protect()
    body = {
        "properties": {"providerSpecificDetails": {"instanceType": "A2A", "recoveryProximityPlacementGroupId": world.target_ppg}}
    }
    accepted = world.send("PATCH", world.item_path(), body)
    job = world.running_job(accepted)
    recorded = step(PPG, time="19:51:57", method="GET")
    assert (job["properties"]["scenarioName"], job["properties"]["friendlyName"]) == (
        "UpdateVmProperties",
        "Update the virtual machine",
    )
    assert _tasks(job) == _recorded_tasks(recorded)


def test_switch_protection_job_scenario_and_tasks(world: World) -> None:
    """A2A switch protection runs as SwitchReplicationGroupProtection 'Reprotect' with
    SwitchProtectionJobDetails and five tasks (A2AReprotectTest entry 17)."""
    world.committed()
    job = world.running_job(world.switch_protection())
    recorded = step(REPROTECT, entry=17)
    p = job["properties"]
    assert (p["scenarioName"], p["friendlyName"]) == (recorded["job"]["scenarioName"], recorded["job"]["friendlyName"])
    assert p["customDetails"]["instanceType"] == "SwitchProtectionJobDetails"
    assert _tasks(job) == _recorded_tasks(recorded)


def test_finished_switch_protection_names_the_moved_item(world: World) -> None:
    """When the reprotect job is done: Succeeded/Completed, no actions left, and
    customDetails.newReplicationProtectedItemId = the item under the recovery container (entries[-1])."""
    world.committed()
    job = world.finish(world.switch_protection(), 90)["properties"]
    assert (job["state"], job["stateDescription"], job["allowedActions"]) == ("Succeeded", "Completed", [])
    moved = (job.get("customDetails") or {}).get("newReplicationProtectedItemId") or ""
    assert moved.lower() == world.item_path("recovery").lower()


def test_commit_job_name(world: World) -> None:
    """Per-VM commit is CommitFailover 'Commit' (cluster commit recording entries[-2], child jobTask)."""
    world.failed_over()
    job = world.running_job(world.send("POST", f"{world.item_path()}/failoverCommit"))["properties"]
    expected = CLUSTER["observations"]["perVmChildJobScenarios"]["CommitFailover"]
    assert (job["scenarioName"], job["friendlyName"]) == ("CommitFailover", expected)


def test_test_failover_cleanup_job_name(world: World) -> None:
    """Per-VM test failover cleanup: TestFailoverCleanup 'Test failover cleanup' (cluster test failover
    cleanup recording entries[-1], child jobTask)."""
    world.protect()
    network = f"{world.rg_id('rg-app-asr')}/providers/Microsoft.Network/virtualNetworks/vnet-test"
    tfo = {
        "properties": {
            "failoverDirection": "PrimaryToRecovery",
            "networkType": "VmNetworkAsInput",
            "networkId": network,
            "providerSpecificDetails": {"instanceType": "A2A"},
        }
    }
    world.finish(world.send("POST", f"{world.item_path()}/testFailover", tfo), 120)
    job = world.running_job(world.send("POST", f"{world.item_path()}/testFailoverCleanup", {"properties": {"comments": ""}}))
    expected = CLUSTER["observations"]["perVmChildJobScenarios"]["TestFailoverCleanup"]
    assert (job["properties"]["scenarioName"], job["properties"]["friendlyName"]) == ("TestFailoverCleanup", expected)


def test_job_target_object_id_is_a_guid(world: World) -> None:
    """Item jobs name their target by ASR GUID (targetObjectId) and VM name (targetObjectName), never by ARM
    id (A2AReprotectTest entry 17; PPG recording EnableDr job)."""
    job = world.running_job(world.enable())["properties"]
    assert GUID.match(job["targetObjectId"] or ""), job["targetObjectId"]
    assert job["targetObjectName"] == "app1"


def test_unstarted_tasks_carry_the_zero_time(world: World) -> None:
    """A task not started has startTime and endTime '0001-01-01T00:00:00'; a running one has the zero
    endTime (A2AReprotectTest entry 17, PPG recording EnableDr job)."""
    job = world.running_job(world.enable())["properties"]
    waiting = [t for t in job["tasks"] if t["state"] == "NotStarted"]
    running = [t for t in job["tasks"] if t["state"] == "InProgress"]
    assert waiting and running, [t["state"] for t in job["tasks"]]
    assert {(t["startTime"], t["endTime"]) for t in waiting} == {(NOT_A_TIME, NOT_A_TIME)}
    assert {t["endTime"] for t in running} == {NOT_A_TIME}


def test_job_and_task_keys_and_types(world: World) -> None:
    """A running job and its tasks have the recorded keys (taskType, groupTaskCustomDetails, customDetails
    {instanceType 'TaskDetails'}) and no endTime key yet (A2AReprotectTest entry 17)."""
    job = world.running_job(world.enable())
    recorded = step(REPROTECT, entry=17)
    problems = shape_gaps({k: v for k, v in recorded["bodyKeys"].items() if k != "properties"}, job)
    problems += shape_gaps(
        {k: v for k, v in recorded["bodyKeys"]["properties"].items() if k != "customDetails"}, job["properties"]
    )
    problems += shape_gaps(recorded["taskKeys"], job["properties"]["tasks"][0], ".tasks[0]")
    if "endTime" in job["properties"]:
        problems.append(".properties.endTime: present while InProgress (Azure omits it until the job is done)")
    kinds = {t["customDetails"]["instanceType"] for t in job["properties"]["tasks"]}
    if kinds != {"TaskDetails"}:
        problems.append(f".tasks[].customDetails.instanceType: {sorted(kinds)}, recorded 'TaskDetails'")
    assert problems == [], "\n".join(problems)


def test_job_read_at_once_is_not_started(world: World) -> None:
    """Read in the instant after the 202, Azure's job is NotStarted with scenarioName null and no tasks
    (PPG recording 19:52:19 failover, 20:06:07 switch protection; plan recording 21:54:21). The other job
    tests read a few seconds later (``World.running_job``), as the recordings they compare with did."""
    job = world.job(world.job_id(world.enable()))["properties"]
    recorded = step(PPG, time="19:52:19", method="GET")["job"]
    assert (job["state"], job["scenarioName"], job["tasks"]) == (recorded["state"], recorded["scenarioName"], recorded["tasks"])


def test_failed_job_error_shape(world: World) -> None:
    """A job's errors[] entry: serviceErrorDetails {code, message, possibleCauses, recommendedAction,
    activityId} and providerErrorDetails {errorCode (integer), errorMessage, errorId, possibleCauses,
    recommendedAction}, errorLevel, creationTime, taskId (A2AUpdateProtectionWithZone entries[-1])."""
    world.emulator.fault(
        operationKind="asr.EnableDr", code="45005", message="Protection couldn't be enabled for the virtual machine."
    )
    job = world.finish(world.enable(), 60)["properties"]
    recorded = step(ZONE, entry=-1)["jobErrorKeys"]
    assert job["errors"], job
    gaps = shape_gaps(recorded, job["errors"][0], ".errors[0]")
    assert gaps == [], "\n".join(gaps)


@pytest.mark.parametrize(
    ("kind", "scenario", "friendly", "instance_type"),
    [
        ("fabric", "CreateSite", "Create a site", "Server"),
        ("container", "CreateCloud", "Create protection container", "ProtectionContainer"),
        ("policy", "AddProtectionProfile", "Create replication policy", "ProtectionProfile"),
        ("mapping", "AssociateProtectionProfile", "Associate replication policy", "ProtectionProfile"),
        ("network mapping", "NetworkPairing", "Map Networks", "Network"),
    ],
)
def test_setup_job_scenario_names(world: World, kind: str, scenario: str, friendly: str, instance_type: str) -> None:
    """Setup writes and their recorded job names (PPG recording job list at 19:34:45; plan recording job
    list at 21:45:59)."""
    recorded = {s["scenarioName"]: s for s in PPG["jobScenarios"]}[scenario]
    assert (recorded["friendlyName"], recorded["targetInstanceType"]) == (friendly, instance_type)
    v = world.vault
    vnets = "providers/Microsoft.Network/virtualNetworks"
    vnet = f"{world.rg_id('rg-app')}/{vnets}/vnet-extra"
    writes = {
        "fabric": (
            "PUT",
            f"{v}/replicationFabrics/extra-fabric",
            {"properties": {"customDetails": {"instanceType": "Azure", "location": "westeurope"}}},
        ),
        "container": (
            "PUT",
            f"{world.container_path().rsplit('/', 1)[0]}/extra-container",
            {"properties": {"providerSpecificInput": [{"instanceType": "A2A"}]}},
        ),
        "policy": (
            "PUT",
            f"{v}/replicationPolicies/extra-policy",
            {"properties": {"providerSpecificInput": {"instanceType": "A2A", "multiVmSyncStatus": "Enable"}}},
        ),
        "mapping": (
            "PUT",
            f"{world.container_path()}/replicationProtectionContainerMappings/extra-mapping",
            {
                "properties": {
                    "targetProtectionContainerId": world.topology["recoveryContainerId"],
                    "policyId": world.topology["policyId"],
                    "providerSpecificInput": {"instanceType": "A2A"},
                }
            },
        ),
        "network mapping": (
            "PUT",
            f"{v}/replicationFabrics/{world.topology['primaryFabric']}/replicationNetworks/azureNetwork/replicationNetworkMappings/extra-net",
            {
                "properties": {
                    "recoveryFabricName": world.topology["recoveryFabric"],
                    "recoveryNetworkId": f"{world.rg_id('rg-app-asr')}/{vnets}/vnet-extra-asr",
                    "fabricSpecificDetails": {"instanceType": "AzureToAzure", "primaryNetworkId": vnet},
                }
            },
        ),
    }
    method, path, body = writes[kind]
    job = world.job(world.job_id(world.send(method, path, body)))["properties"]
    assert (job["scenarioName"], job["friendlyName"], job["targetInstanceType"]) == (scenario, friendly, instance_type)
