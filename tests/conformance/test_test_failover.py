"""Test failover and cleanup (a DR drill) compared with recorded Azure, the REST examples and the docs.

ppg-dr runs scheduled drills: a test failover into an isolated network, validation, then the cleanup. It
measures RTO from the test failover job's task times and the achieved RPO from the recovery point the job
reports, and decides its next step from the item's and the plan's allowedOperations. Each test replays one
step of a drill on the emulator and compares what a client reads with ``powershell-A2AClusterTestFailover``
(the recorded cluster drill: job shapes, test VM, cleanup) and ``rest-and-docs-TestFailover`` (item and plan
states, the A2A job's tasks, the subnet rule).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.conformance.replay import COMPUTE_API, GUID, ITEM, NOT_A_TIME, TARGET_RG, World, load, shape_gaps, step

CLUSTER = load("powershell-A2AClusterTestFailover.json")
REST = load("rest-and-docs-TestFailover.json")
TFO_S, CLEANUP_S = 120, 60


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _drilled(world: World, network: str) -> dict[str, Any]:
    """Protected, then test failed over; returns the finished test failover job."""
    world.protect()
    return world.finish(world.test_failover(network), TFO_S)


def _test_vm_path(world: World) -> str:
    return f"{world.rg_id(TARGET_RG)}/providers/Microsoft.Compute/virtualMachines/app1-test"


def _plan(world: World) -> str:
    t = world.topology
    plan = f"{world.vault}/replicationRecoveryPlans/rp-drill"
    body = {
        "properties": {
            "primaryFabricId": f"{t['vaultId']}/replicationFabrics/{t['primaryFabric']}",
            "recoveryFabricId": f"{t['vaultId']}/replicationFabrics/{t['recoveryFabric']}",
            "failoverDeploymentModel": "ResourceManager",
            "groups": [{"groupType": "Boot", "replicationProtectedItems": [{"id": world.item()["id"]}]}],
        }
    }
    world.finish(world.send("PUT", plan, body), 1)
    return plan


def test_test_failover_is_accepted_with_the_recorded_lro_headers(world: World) -> None:
    """POST testFailover answers 202 with Azure-AsyncOperation on replicationOperationStatus/{job},
    Location on the item's operationresults/{job} and Retry-After, empty body (recorded drill at 10:31:57)."""
    world.protect()
    accepted = world.test_failover(world.test_network())
    recorded = step(CLUSTER, time="10:31:57")
    assert accepted.status_code == recorded["status"]
    job = world.job_id(accepted)
    assert accepted.headers["Azure-AsyncOperation"].split("?")[0].endswith(f"/replicationOperationStatus/{job}")
    assert accepted.headers["Location"].split("?")[0].endswith(f"/replicationProtectedItems/{ITEM}/operationresults/{job}")
    assert "Retry-After" in accepted.headers and accepted.content == b""


def test_test_failover_job_reads_like_the_documented_one(world: World) -> None:
    """Scenario TestFailover 'Test failover', target ProtectionEntity, and the four documented tasks in order
    (azure-to-azure-powershell.md, Get-ASRJob -Job $TFOJob)."""
    world.protect()
    job = world.running_job(world.test_failover(world.test_network()))["properties"]
    documented = step(REST, document="azure-to-azure-powershell.md")["job"]
    assert (job["scenarioName"], job["friendlyName"], job["targetInstanceType"]) == (
        documented["scenarioName"],
        documented["friendlyName"],
        documented["targetInstanceType"],
    )
    assert [t["friendlyName"] for t in job["tasks"]] == documented["taskFriendlyNames"]
    assert GUID.match(job["targetObjectId"])


def test_running_test_failover_custom_details(world: World) -> None:
    """While the job runs: TestFailoverJobDetails with testFailoverStatus 'Active', comments null, the test
    network's name, networkType as requested and no protectedItemDetails yet (recorded drill at 10:31:59)."""
    world.protect()
    network = world.test_network()
    job = world.running_job(world.test_failover(network))["properties"]
    recorded = step(CLUSTER, time="10:31:59")["job"]
    custom = job["customDetails"]
    gaps = shape_gaps(recorded["customDetailsKeys"], custom)
    assert gaps == [], "\n".join(gaps)
    expected = {k: v for k, v in recorded["customDetails"].items() if k != "instanceType"}
    expected.update(networkName="vnet-drill", networkFriendlyName="vnet-drill")
    assert custom["instanceType"] == "TestFailoverJobDetails"
    assert {k: custom[k] for k in expected} == expected
    assert job["allowedActions"] == recorded["allowedActions"]


def test_finished_test_failover_names_the_recovery_point_it_used(world: World) -> None:
    """The finished job lists the VM: its ASR GUID, '<vm>-test', Connected, the network and subnet, and the
    recovery point used by name and time exactly as the item's recoveryPoints list shows it (recorded drill
    at 10:40:51 and the recovery points read at ~189,000). The point is not newer than the job's start."""
    job = _drilled(world, world.test_network())["properties"]
    recorded = step(CLUSTER, time="10:40:51")["job"]
    assert (job["state"], job["stateDescription"]) == (recorded["state"], recorded["stateDescription"])
    details = job["customDetails"]["protectedItemDetails"]
    assert len(details) == 1
    entry = details[0]
    gaps = shape_gaps(recorded["protectedItemDetailsKeys"], entry)
    assert gaps == [], "\n".join(gaps)
    assert entry["name"] == job["targetObjectId"]
    assert (entry["testVmName"], entry["testVmFriendlyName"], entry["networkConnectionStatus"]) == (
        "app1-test",
        "app1-test",
        "Connected",
    )
    assert entry["networkFriendlyName"] == "vnet-drill"
    points = world.get(f"{world.item_path()}/recoveryPoints")["value"]
    used = [p for p in points if p["name"] == entry["recoveryPointId"]]
    assert used, f"{entry['recoveryPointId']} is not one of the item's recovery points"
    assert entry["recoveryPointTime"] == used[0]["properties"]["recoveryPointTime"]
    assert _time(entry["recoveryPointTime"]) <= _time(job["startTime"])


def test_subnet_follows_the_documented_rule(world: World) -> None:
    """No subnet of the source's name in the test network: the first in alphabetical order
    (azure-to-azure-network-mapping.md, "Specify a subnet"); the test NIC is on it."""
    job = _drilled(world, world.test_network(("zeta", "Alpha", "middle")))["properties"]
    assert job["customDetails"]["protectedItemDetails"][0]["subnet"] == "Alpha"
    vm = world.get(_test_vm_path(world), api=COMPUTE_API)
    nic = world.get(vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"], api="2024-05-01")
    subnet = nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"]
    assert subnet.endswith("/virtualNetworks/vnet-drill/subnets/Alpha")


def test_a_requested_recovery_point_is_the_one_used(world: World) -> None:
    """recoveryPointId in the A2A input picks that point (the recorded drill passed sdgql0's point and the job
    named it, 2025-03-20T06:13:31.939969Z, hours old)."""
    world.protect()
    world.advance(3600)
    points = world.get(f"{world.item_path()}/recoveryPoints")["value"]
    oldest = points[-1]
    job = world.finish(world.test_failover(world.test_network(), recovery_point_id=oldest["id"]), TFO_S)
    entry = job["properties"]["customDetails"]["protectedItemDetails"][0]
    assert (entry["recoveryPointId"], entry["recoveryPointTime"]) == (oldest["name"], oldest["properties"]["recoveryPointTime"])


def test_task_times_give_the_rto(world: World) -> None:
    """Every task of the finished job has real, ordered start and end times (recorded drill at 10:40:51:
    finished tasks never carry 0001-01-01T00:00:00); the VM start task ends with the job, so RTO = its
    endTime - the job's startTime."""
    job = _drilled(world, world.test_network())["properties"]
    tasks = job["tasks"]
    assert all(t["state"] == "Succeeded" for t in tasks), [t["state"] for t in tasks]
    assert all(NOT_A_TIME not in (t["startTime"], t["endTime"]) for t in tasks)
    times = [_time(x) for t in tasks for x in (t["startTime"], t["endTime"])]
    assert times == sorted(times)
    start = tasks[-1]
    assert start["friendlyName"] == "Start the virtual machine"
    # the job's endTime is whole seconds: recorded 10:40:36Z after a last task ending 10:40:36.520086Z
    assert _time(job["startTime"]) <= _time(start["endTime"]) < _time(job["endTime"]) + timedelta(seconds=1)


def test_test_vm_is_placed_like_the_recorded_one(world: World) -> None:
    """'<vm>-test' in the recovery resource group and recovery PPG, disks '-ASRtest', NIC '-test', running
    (recorded test VM read at 10:40:52: recovery availability set and PPG, disks Attach, NIC '<nic>-test')."""
    _drilled(world, world.test_network())
    vm = world.get(_test_vm_path(world), api=COMPUTE_API)
    props = vm["properties"]
    assert vm["name"] == "app1-test"
    assert props["proximityPlacementGroup"]["id"].lower() == world.target_ppg.lower()
    assert props["storageProfile"]["osDisk"]["name"].endswith("-ASRtest")
    assert props["networkProfile"]["networkInterfaces"][0]["id"].endswith("-test")
    view = world.get(f"{vm['id']}/instanceView", api=COMPUTE_API)
    assert "PowerState/running" in [s["code"] for s in view["statuses"]]
    assert world.send("GET", world.vm_id, api=COMPUTE_API).status_code == 200, "the source VM is untouched"


def test_item_waits_for_cleanup_and_refuses_a_failover(world: World) -> None:
    """After the test failover: WaitingForCompletion 'Waiting for user input', only TestFailoverCleanup,
    'Cleanup test failover pending', currentScenario the test failover job, failoverRecoveryPointId set
    (REST example ReplicationProtectedItems_TestFailover). A real failover or a second drill is refused."""
    job = _drilled(world, world.test_network())
    expected = step(REST, example="ReplicationProtectedItems_TestFailover.json")["item"]
    p = world.item()["properties"]
    got = {
        "protectionState": p["protectionState"],
        "protectionStateDescription": p["protectionStateDescription"],
        "testFailoverState": p["testFailoverState"],
        "testFailoverStateDescription": p["testFailoverStateDescription"],
        "allowedOperations": p["allowedOperations"],
        "activeLocation": p["activeLocation"],
        "currentScenario.scenarioName": p["currentScenario"]["scenarioName"],
        "failoverRecoveryPointIdSet": bool(p["failoverRecoveryPointId"]),
    }
    assert got == {k: v for k, v in expected.items() if k in got}
    assert p["currentScenario"]["jobId"].lower() == job["id"].lower()
    for refused in (world.unplanned_failover(), world.test_failover(world.test_network())):
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "OperationNotAllowedInCurrentState"


def test_cleanup_deletes_the_test_vm_and_reports_the_comments(world: World) -> None:
    """Cleanup: job TestFailoverCleanup 'Test failover cleanup' with TestFailoverJobDetails carrying the
    comments and null network fields (recorded cluster cleanup at 10:58:59; REST cleanup input); afterwards
    the test VM's GET answers 404 ResourceNotFound (recorded at 10:44:52), its disks and NIC are gone."""
    _drilled(world, world.test_network())
    vm = world.get(_test_vm_path(world), api=COMPUTE_API)
    disk = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
    nic = vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"]
    job = world.finish(world.test_failover_cleanup("drill ok"), CLEANUP_S)["properties"]
    recorded = step(CLUSTER, time="10:58:59")["job"]
    assert (job["scenarioName"], job["friendlyName"], job["state"]) == (
        "TestFailoverCleanup",
        "Test failover cleanup",
        "Succeeded",
    )
    gaps = shape_gaps(recorded["customDetailsKeys"], job["customDetails"])
    assert gaps == [], "\n".join(gaps)
    expected = {**recorded["customDetails"], "instanceType": "TestFailoverJobDetails", "comments": "drill ok"}
    assert {k: job["customDetails"][k] for k in expected} == expected
    gone = world.send("GET", _test_vm_path(world), api=COMPUTE_API)
    error = step(CLUSTER, time="10:44:52")
    assert gone.status_code == error["status"]
    assert gone.json()["error"]["code"] == error["error"]["error"]["code"]
    assert world.send("GET", disk, api=COMPUTE_API).status_code == 404
    assert world.send("GET", nic, api="2024-05-01").status_code == 404


def test_cleanup_without_comments_reports_an_empty_comment(world: World) -> None:
    """No comment given: comments '' (recorded cluster cleanup, PowerShell without -Comment)."""
    _drilled(world, world.test_network())
    job = world.finish(world.test_failover_cleanup(None), CLEANUP_S)["properties"]
    assert job["customDetails"]["comments"] == ""


def test_item_after_cleanup(world: World) -> None:
    """Read back after the cleanup: MarkedForDeletion 'Cleaning up test environment' with the normal Protected
    operations, currentScenario None, lastSuccessfulTestFailoverTime the test failover job's start (REST
    cleanup example); later None 'None' (recorded cluster, hours after)."""
    world.protect()
    accepted = world.test_failover(world.test_network())
    world.advance(5)
    started = world.item()["properties"]["currentScenario"]["startTime"]
    world.finish(accepted, TFO_S)
    world.finish(world.test_failover_cleanup(), CLEANUP_S)
    expected = step(REST, example="ReplicationProtectedItems_TestFailoverCleanup.json")["item"]
    p = world.item()["properties"]
    got = {
        "protectionState": p["protectionState"],
        "protectionStateDescription": p["protectionStateDescription"],
        "testFailoverState": p["testFailoverState"],
        "testFailoverStateDescription": p["testFailoverStateDescription"],
        "a2aAllowedOperations": p["allowedOperations"],
        "currentScenario": {**p["currentScenario"], "jobId": "{vault}/replicationJobs/None"},
    }
    assert got == {k: expected[k] for k in got}
    assert p["currentScenario"]["jobId"].endswith("/replicationJobs/None")
    assert p["lastSuccessfulTestFailoverTime"] == started
    world.advance(3600)
    later = world.item()["properties"]
    recorded = step(CLUSTER, file="A2AClutserTestFailoverJob.json")["cluster"]
    assert (later["testFailoverState"], later["testFailoverStateDescription"]) == (
        recorded["testFailoverState"],
        recorded["testFailoverStateDescription"],
    )


def test_a_second_drill_creates_the_test_vm_again(world: World) -> None:
    """After a cleanup the item accepts another test failover, which creates the test VM again (recorded second
    drill: POST at 10:45:27 answered 202; the test VM exists again at 10:54:43 with a new vmId)."""
    network = world.test_network()
    _drilled(world, network)
    first = world.get(_test_vm_path(world), api=COMPUTE_API)["properties"]["vmId"]
    world.finish(world.test_failover_cleanup(), CLEANUP_S)
    again = world.test_failover(network)
    assert again.status_code == step(CLUSTER, time="10:45:27")["status"]
    world.finish(again, TFO_S)
    assert world.get(_test_vm_path(world), api=COMPUTE_API)["properties"]["vmId"] != first


def test_plan_drill_states(world: World) -> None:
    """Plan test failover: afterwards only TestFailoverCleanup, currentScenario TestFailover, Suspended
    'WaitingForStopTestFailover'; after the cleanup: TestFailoverCleanup Succeeded 'Completed',
    lastTestFailoverTime set, failover and test failover allowed again (REST plan examples, A2A row)."""
    world.protect()
    plan = _plan(world)
    body = {
        "properties": {
            "failoverDirection": "PrimaryToRecovery",
            "networkType": "VmNetworkAsInput",
            "networkId": world.test_network(),
            "providerSpecificDetails": [{"instanceType": "A2A", "recoveryPointType": "LatestProcessed"}],
        }
    }
    job = world.finish(world.send("POST", f"{plan}/testFailover", body), TFO_S + 15)["properties"]
    assert job["scenarioName"] == "TestFailover" and job["targetInstanceType"] == "RecoveryPlan"
    after = world.get(plan)["properties"]
    expected = step(REST, example="ReplicationRecoveryPlans_TestFailover.json")["plan"]
    got = {
        "allowedOperations": after["allowedOperations"],
        "currentScenario.scenarioName": after["currentScenario"]["scenarioName"],
        "currentScenarioStatus": after["currentScenarioStatus"],
        "currentScenarioStatusDescription": after["currentScenarioStatusDescription"],
    }
    assert got == expected
    world.finish(
        world.send("POST", f"{plan}/testFailoverCleanup", {"properties": {"comments": "Test Failover Cleanup"}}), CLEANUP_S
    )
    cleaned = world.get(plan)["properties"]
    expected = step(REST, example="ReplicationRecoveryPlans_TestFailoverCleanup.json")["plan"]
    got = {
        "a2aAllowedOperations": cleaned["allowedOperations"],
        "currentScenario.scenarioName": cleaned["currentScenario"]["scenarioName"],
        "currentScenarioStatus": cleaned["currentScenarioStatus"],
        "currentScenarioStatusDescription": cleaned["currentScenarioStatusDescription"],
        "lastTestFailoverTimeSet": bool(cleaned.get("lastTestFailoverTime")),
    }
    assert got == {k: expected[k] for k in got}
