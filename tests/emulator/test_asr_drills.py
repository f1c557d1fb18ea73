"""Drills (test failover + cleanup) beyond the conformance suite: failure paths, placement, points, subnets.

What ppg-dr's drill workflow must survive: a test failover refused inside its job (async refusal, wrong
direction), one that fails after it created its VMs (an operation fault), a cleanup that fails once and
is retried, the capacity fallback of the test VM, and the recovery point and subnet choices. Raw HTTP on a
frozen clock (``tests.conformance.replay``), plus the backend with a fake compute for the subnet rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator.network.models import SimpleResources
from tests.conformance.replay import COMPUTE_API, TARGET_RG, World, build_world
from tests.emulator.asr_world import SOURCE_RG, SUB, make_world, rid
from tests.fixtures.emulator import EmulatorHandle

TFO_S, CLEANUP_S = 120, 60
NORMAL = ["UnplannedFailover", "DisableProtection", "TestFailover"]


@pytest.fixture
def world(fresh_emulator: EmulatorHandle) -> Iterator[World]:
    built = build_world(fresh_emulator)
    try:
        yield built
    finally:
        built.http.close()


def _test_vm(world: World) -> str:
    return f"{world.rg_id(TARGET_RG)}/providers/Microsoft.Compute/virtualMachines/app1-test"


def _item_state(world: World) -> tuple[str, list[str]]:
    p = world.item()["properties"]
    return p["testFailoverState"], p["allowedOperations"]


def _power(world: World, vm_id: str) -> str:
    view = world.get(f"{vm_id}/instanceView", api=COMPUTE_API)
    return next(s["code"] for s in view["statuses"] if s["code"].startswith("PowerState/"))


def _job(world: World, accepted: Any, seconds: float) -> dict[str, Any]:
    return dict(world.finish(accepted, seconds)["properties"])


def test_async_refusal_of_a_test_failover_leaves_nothing_and_allows_a_retry(world: World) -> None:
    world.protect()
    network = world.test_network()
    world.emulator.fault(kind="asyncRefusal", method="POST", path="testFailover")
    accepted = world.test_failover(network)
    job = _job(world, accepted, 5)
    assert job["state"] == "Failed"
    assert job["errors"][0]["serviceErrorDetails"]["code"] == "45005"
    assert [t["state"] for t in job["tasks"]] == ["Failed", "NotStarted", "NotStarted", "NotStarted"]
    assert job["customDetails"]["protectedItemDetails"] == []
    assert _item_state(world) == ("None", NORMAL)
    assert world.item()["properties"]["currentScenario"]["scenarioName"] == "None"
    assert world.send("GET", _test_vm(world), api=COMPUTE_API).status_code == 404
    retried = _job(world, world.test_failover(network), TFO_S)
    assert retried["state"] == "Succeeded"
    assert _item_state(world) == ("WaitingForCompletion", ["TestFailoverCleanup"])


def test_operation_fault_fails_the_test_failover_after_its_vm_was_created(world: World) -> None:
    """The job fails in its last task: the test VM exists, created but not started, and the item waits for the
    cleanup that removes it (choice); no lastSuccessfulTestFailoverTime."""
    world.protect()
    world.emulator.fault(operationKind=r"asr\.TestFailover", code="InternalError", message="boom")
    job = _job(world, world.test_failover(world.test_network()), TFO_S)
    assert job["state"] == "Failed" and job["errors"][-1]["serviceErrorDetails"]["code"] == "InternalError"
    assert [t["state"] for t in job["tasks"]] == ["Succeeded", "Succeeded", "Succeeded", "Failed"]
    vm = world.get(_test_vm(world), api=COMPUTE_API)
    assert _power(world, vm["id"]) == "PowerState/deallocated"
    assert _item_state(world) == ("WaitingForCompletion", ["TestFailoverCleanup"])
    assert world.item()["properties"]["lastSuccessfulTestFailoverTime"] is None
    assert world.unplanned_failover().status_code == 400
    cleaned = _job(world, world.test_failover_cleanup(), CLEANUP_S)
    assert cleaned["state"] == "Succeeded"
    assert world.send("GET", _test_vm(world), api=COMPUTE_API).status_code == 404
    assert _item_state(world) == ("MarkedForDeletion", NORMAL)


def test_a_cleanup_that_fails_once_is_allowed_again_and_then_succeeds(world: World) -> None:
    world.protect()
    world.finish(world.test_failover(world.test_network()), TFO_S)
    world.emulator.fault(operationKind=r"asr\.TestFailoverCleanup", code="InternalError", message="cleanup failed")
    failed = _job(world, world.test_failover_cleanup(), CLEANUP_S)
    assert failed["state"] == "Failed" and failed["errors"][-1]["serviceErrorDetails"]["code"] == "InternalError"
    assert world.send("GET", _test_vm(world), api=COMPUTE_API).status_code == 200, "the failed cleanup deleted nothing"
    assert _item_state(world) == ("WaitingForCompletion", ["TestFailoverCleanup"])
    retried = _job(world, world.test_failover_cleanup(), CLEANUP_S)
    assert retried["state"] == "Succeeded"
    assert world.send("GET", _test_vm(world), api=COMPUTE_API).status_code == 404


def test_async_refusal_of_a_cleanup_keeps_the_test_vm(world: World) -> None:
    world.protect()
    world.finish(world.test_failover(world.test_network()), TFO_S)
    world.emulator.fault(kind="asyncRefusal", method="POST", path="testFailoverCleanup", code="28092", message="refused")
    failed = _job(world, world.test_failover_cleanup(), 5)
    assert failed["state"] == "Failed" and failed["errors"][0]["serviceErrorDetails"]["code"] == "28092"
    assert _item_state(world) == ("WaitingForCompletion", ["TestFailoverCleanup"])
    assert world.send("GET", _test_vm(world), api=COMPUTE_API).status_code == 200


def test_states_while_the_jobs_run(world: World) -> None:
    """Choices: InProgress 'Test failover in progress' with no operations while the test failover runs;
    MarkedForDeletion with no operations while the cleanup runs; neither allows a failover."""
    world.protect()
    world.running_job(world.test_failover(world.test_network()))
    p = world.item()["properties"]
    assert (p["testFailoverState"], p["testFailoverStateDescription"], p["allowedOperations"]) == (
        "InProgress",
        "Test failover in progress",
        [],
    )
    assert p["currentScenario"]["scenarioName"] == "TestFailover"
    assert world.unplanned_failover().status_code == 400
    world.advance(TFO_S)
    world.running_job(world.test_failover_cleanup())
    p = world.item()["properties"]
    assert (p["testFailoverState"], p["allowedOperations"]) == ("MarkedForDeletion", [])
    assert p["currentScenario"]["scenarioName"] == "TestFailoverCleanup"
    assert world.unplanned_failover().status_code == 400


def test_wrong_direction_fails_the_job_and_creates_nothing(world: World) -> None:
    world.protect()
    body = {
        "properties": {
            "failoverDirection": "RecoveryToPrimary",
            "networkType": "VmNetworkAsInput",
            "networkId": world.test_network(),
            "providerSpecificDetails": {"instanceType": "A2A"},
        }
    }
    job = _job(world, world.send("POST", f"{world.item_path()}/testFailover", body), 5)
    assert job["state"] == "Failed" and job["errors"][0]["serviceErrorDetails"]["code"] == "95002"
    assert _item_state(world) == ("None", NORMAL)
    assert world.send("GET", _test_vm(world), api=COMPUTE_API).status_code == 404


def test_unknown_recovery_point_and_missing_network_are_refused(world: World) -> None:
    world.protect()
    refused = world.test_failover(world.test_network(), recovery_point_id=f"{world.item_path()}/recoveryPoints/nope")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "InvalidParameter"
    body = {"properties": {"failoverDirection": "PrimaryToRecovery", "providerSpecificDetails": {"instanceType": "A2A"}}}
    missing = world.send("POST", f"{world.item_path()}/testFailover", body)
    assert missing.status_code == 400 and "networkId" in missing.json()["error"]["message"]
    assert _item_state(world) == ("None", NORMAL)


def test_test_vm_falls_back_outside_the_ppg_when_capacity_refuses(world: World) -> None:
    """Same placement rules as a failover: outside the PPG, job CompletedWithInformation with the Info note on
    the VM creation task, fallback in GET /_emulator/capacity."""
    world.protect()
    world.emulator.capacity(world.target_ppg, ["Standard_D2s_v3"])
    job = _job(world, world.test_failover(world.test_network()), TFO_S)
    assert job["state"] == "CompletedWithInformation"
    note = job["errors"][0]
    assert (note["errorLevel"], note["serviceErrorDetails"]["code"]) == ("Info", "OverconstrainedAllocationRequest")
    create = next(t for t in job["tasks"] if t["friendlyName"] == "Create test virtual machine")
    assert note["taskId"] == create["taskId"] and create["state"] == "CompletedWithInformation"
    vm = world.get(_test_vm(world), api=COMPUTE_API)
    assert "proximityPlacementGroup" not in vm["properties"]
    fallbacks = world.emulator.admin("GET", "capacity")["fallbacks"]
    assert any(f["vmId"].lower() == vm["id"].lower() for f in fallbacks)


def _plan_test_failover(world: World, point_type: str = "Latest") -> tuple[str, Any]:
    t = world.topology
    plan = f"{world.vault}/replicationRecoveryPlans/rp-drill"
    body: dict[str, Any] = {
        "properties": {
            "primaryFabricId": f"{t['vaultId']}/replicationFabrics/{t['primaryFabric']}",
            "recoveryFabricId": f"{t['vaultId']}/replicationFabrics/{t['recoveryFabric']}",
            "failoverDeploymentModel": "ResourceManager",
            "groups": [{"groupType": "Boot", "replicationProtectedItems": [{"id": world.item()["id"]}]}],
        }
    }
    world.finish(world.send("PUT", plan, body), 1)
    tfo = {
        "properties": {
            "failoverDirection": "PrimaryToRecovery",
            "networkType": "VmNetworkAsInput",
            "networkId": world.test_network(),
            "providerSpecificDetails": [{"instanceType": "A2A", "recoveryPointType": point_type}],
        }
    }
    return plan, world.send("POST", f"{plan}/testFailover", tfo)


def test_plan_test_failover_job_has_per_vm_start_tasks_with_real_times(world: World) -> None:
    """The plan job's boot group names each VM (VirtualMachineTaskDetails, jobTask TestFailover) with the times
    it started; TestFailoverJobDetails names the VM and the point; LatestApplicationConsistent picks one."""
    world.protect()
    world.advance(3600)
    _, accepted = _plan_test_failover(world, "LatestApplicationConsistent")
    job = _job(world, accepted, TFO_S + 15)
    assert job["state"] == "Succeeded" and job["customDetails"]["instanceType"] == "TestFailoverJobDetails"
    boot = next(t for t in job["tasks"] if t["taskId"] == "Group1")
    child = boot["groupTaskCustomDetails"]["childTasks"][0]
    assert child["customDetails"]["jobTask"]["jobScenarioName"] == "TestFailover"
    assert "0001-01-01T00:00:00" not in (child["startTime"], child["endTime"])
    entry = job["customDetails"]["protectedItemDetails"][0]
    points = {p["name"]: p for p in world.get(f"{world.item_path()}/recoveryPoints")["value"]}
    assert points[entry["recoveryPointId"]]["properties"]["recoveryPointType"] == "ApplicationConsistent"


def test_plan_test_failover_that_fails_late_waits_for_the_plan_cleanup(world: World) -> None:
    world.protect()
    world.emulator.fault(operationKind=r"asr\.TestFailover$")
    plan, accepted = _plan_test_failover(world)
    job = _job(world, accepted, TFO_S + 15)
    assert job["state"] == "Failed"
    body = world.get(plan)["properties"]
    assert body["allowedOperations"] == ["TestFailoverCleanup"]
    assert (body["currentScenario"]["scenarioName"], body["currentScenarioStatus"]) == ("TestFailover", "Failed")
    vm = world.get(_test_vm(world), api=COMPUTE_API)
    assert _power(world, vm["id"]) == "PowerState/running", "its boot group had started it before the failure"
    cleaned = _job(world, world.send("POST", f"{plan}/testFailoverCleanup", {"properties": {}}), CLEANUP_S)
    assert cleaned["state"] == "Succeeded" and cleaned["customDetails"]["comments"] == ""
    assert world.send("GET", _test_vm(world), api=COMPUTE_API).status_code == 404


def test_subnet_of_the_source_name_is_preferred() -> None:
    """The documented rule's first half: a subnet with the source NIC's subnet name wins over alphabetical order."""
    w = make_world()
    network = SimpleResources()
    w.asr.network_store = network
    sub = SUB
    source_vnet = rid(SOURCE_RG, "virtualNetworks", "vnet-app", "Microsoft.Network")
    network.put(
        sub,
        SOURCE_RG,
        "Microsoft.Network",
        "networkInterfaces",
        "app1-nic",
        {
            "location": "westeurope",
            "properties": {"ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": f"{source_vnet}/subnets/app"}}}]},
        },
    )
    test_vnet = rid(TARGET_RG, "virtualNetworks", "vnet-drill", "Microsoft.Network")
    subnets = [{"name": n, "properties": {}} for n in ("Alpha", "app")]
    network.put(
        sub,
        TARGET_RG,
        "Microsoft.Network",
        "virtualNetworks",
        "vnet-drill",
        {"location": "northeurope", "properties": {"subnets": subnets}},
    )
    item = w.protect("app1", w.compute.source_vm("app1"))
    job = w.asr.test_failover(w.vault, item.fabric, item.container, item.name, {"properties": {"networkId": test_vnet}})
    w.advance(TFO_S)
    assert w.asr.job_body(job)["properties"]["customDetails"]["protectedItemDetails"][0]["subnet"] == "app"
    nic = network.find(rid(TARGET_RG, "networkInterfaces", "app1-nic-test", "Microsoft.Network"))
    assert nic is not None and nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"].endswith("/subnets/app")
    w.asr.test_failover_cleanup(w.vault, item.fabric, item.container, item.name, {})
    w.advance(CLEANUP_S)
    assert network.find(rid(TARGET_RG, "networkInterfaces", "app1-nic-test", "Microsoft.Network")) is None
