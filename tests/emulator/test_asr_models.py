"""Site Recovery backend behaviour without HTTP: life cycle, placement, refusals, plans, jobs, scale."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.asr.models import MULTI_VM_GROUP_LIMIT, parse_filter
from emulator.errors import ArmError
from emulator.routing import ArmRequest, LazyBodies, page
from tests.emulator.asr_world import SOURCE_RG, SUB, TARGET_RG, World, make_world, rid


@pytest.fixture
def world() -> World:
    return make_world()


def props(world: World, item: Any) -> dict[str, Any]:
    return dict(world.asr.item_body(item)["properties"])


def failover(world: World, item: Any) -> Any:
    job = world.asr.unplanned_failover(
        world.vault,
        item.fabric,
        item.container,
        item.name,
        {"properties": {"failoverDirection": "PrimaryToRecovery", "providerSpecificDetails": {"instanceType": "A2A"}}},
    )
    world.advance(world.asr.timings.failover_s)
    return job


def commit(world: World, item: Any) -> None:
    world.asr.failover_commit(world.vault, item.fabric, item.container, item.name)
    world.advance(world.asr.timings.commit_s)


def switch(world: World, item: Any, *, container_id: str, rg_id: str, ppg: str | None) -> Any:
    specific: dict[str, Any] = {"instanceType": "A2A", "recoveryContainerId": container_id, "recoveryResourceGroupId": rg_id}
    if ppg:
        specific["recoveryProximityPlacementGroupId"] = ppg
    job = world.asr.switch_protection(
        world.vault,
        item.fabric,
        item.container,
        {"properties": {"replicationProtectedItemName": item.name, "providerSpecificDetails": specific}},
    )
    world.advance(world.asr.timings.switch_protection_s + world.asr.timings.initial_replication_s)
    return job


def test_enable_runs_a_job_then_initial_replication_then_protected(world: World) -> None:
    vm = world.compute.source_vm("app1", ppg_id=world.source_ppg)
    item = world.enable("app1", vm)
    job = world.asr.get_job(world.vault, item.scenario[1] if item.scenario else "")
    assert world.asr.job_body(job)["properties"]["state"] == "NotStarted", "Azure's job reads NotStarted at first"
    world.advance(5)
    assert world.asr.job_body(job)["properties"]["state"] == "InProgress"
    assert props(world, item)["allowedOperations"] == []

    world.advance(55)
    p = props(world, item)
    assert world.asr.job_body(job)["properties"]["state"] == "Succeeded"
    assert (p["protectionState"], p["protectionStateDescription"]) == (
        "InitialReplicationInProgress",
        "Initial replication is in progress",
    )
    assert p["allowedOperations"] == ["DisableProtection"]
    assert p["providerSpecificDetails"]["monitoringPercentageCompletion"] == 0

    world.advance(150)
    assert props(world, item)["providerSpecificDetails"]["monitoringPercentageCompletion"] == 50

    world.advance(150)
    p = props(world, item)
    assert p["protectionState"] == "Protected"
    assert p["allowedOperations"] == ["UnplannedFailover", "DisableProtection", "TestFailover"]
    assert p["providerSpecificDetails"]["recoveryProximityPlacementGroupId"] == world.target_ppg
    assert p["providerSpecificDetails"]["protectedManagedDisks"][0]["recoveryTargetDiskAccountType"] == "Premium_LRS"


def test_one_clock_jump_plays_every_step_in_order(world: World) -> None:
    item = world.enable("app1", world.compute.source_vm("app1"))
    world.advance(3600)
    assert props(world, item)["protectionState"] == "Protected"
    assert world.asr.recovery_points(item), "an hour of protection has recovery points"


def test_failover_commit_switch_protection_failback_round_trip(world: World) -> None:
    vm = world.compute.source_vm("app1", ppg_id=world.source_ppg, tags={"ppg-dr": "on"})
    item = world.protect("app1", vm)
    t = world.topology

    job = failover(world, item)
    p = props(world, item)
    assert (p["protectionState"], p["protectionStateDescription"]) == (
        "UnplannedFailoverCommitPendingStatesBegin",
        "Failover completed",
    )
    assert p["activeLocation"] == "Recovery"
    assert p["allowedOperations"] == ["CompleteMigration", "Commit", "DisableProtection", "ChangePit", "SwitchProtection"]
    dr_vm = world.compute.vm(TARGET_RG, "app1")
    assert dr_vm is not None and dr_vm["location"] == "northeurope"
    assert dr_vm["properties"]["proximityPlacementGroup"]["id"] == world.target_ppg
    assert dr_vm["tags"] == {"ppg-dr": "on"}
    assert world.asr.job_body(job)["properties"]["stateDescription"] == "Completed"
    assert p["failoverRecoveryPointId"]

    commit(world, item)
    p = props(world, item)
    assert (p["protectionState"], p["allowedOperations"]) == (
        "UnplannedFailoverCommitted",
        ["CompleteMigration", "DisableProtection", "SwitchProtection"],
    )

    source_rg_id = f"/subscriptions/{SUB}/resourceGroups/{SOURCE_RG}"
    job = switch(world, item, container_id=t["primaryContainerId"], rg_id=source_rg_id, ppg=world.source_ppg)
    assert item.container == t["recoveryContainer"], "switch protection re-homes the item in the recovery container"
    assert world.asr.job_body(job)["properties"]["customDetails"]["newReplicationProtectedItemId"].lower() == item.id.lower()
    p = props(world, item)
    assert (p["protectionState"], p["activeLocation"]) == ("Protected", "Primary")
    assert world.compute.vm(SOURCE_RG, "app1") is None, "reprotect towards the original region deletes the original VM"
    assert p["providerSpecificDetails"]["fabricObjectId"].lower() == dr_vm["id"].lower()
    assert p["providerSpecificDetails"]["recoveryProximityPlacementGroupId"] == world.source_ppg
    with pytest.raises(ArmError) as gone:
        world.asr.item(world.vault, t["primaryFabric"], t["primaryContainer"], "app1")
    assert gone.value.status == 404

    world.compute.put_calls.clear()
    failover(world, item)
    p = props(world, item)
    assert p["activeLocation"] == "Recovery", "activeLocation is relative to the reprotected item"
    assert world.compute.put_calls == ["app1"]
    recreated = world.compute.vm(SOURCE_RG, "app1")
    assert recreated is not None and recreated["properties"]["proximityPlacementGroup"]["id"] == world.source_ppg
    assert recreated["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"].endswith("/disks/app1_OsDisk")

    commit(world, item)
    switch(world, item, container_id=t["recoveryContainerId"], rg_id=world.recovery_rg_id, ppg=world.target_ppg)
    p = props(world, item)
    assert item.container == t["primaryContainer"]
    assert (p["protectionState"], p["activeLocation"]) == ("Protected", "Primary")
    assert p["providerSpecificDetails"]["fabricObjectId"].lower() == vm.lower()
    assert world.compute.vm(TARGET_RG, "app1") is not None, "reprotect towards the DR region keeps the DR VM"
    assert "app1" in world.compute.deallocated


def test_capacity_refusal_fails_over_outside_the_ppg_and_says_so(world: World) -> None:
    item = world.protect(
        "big", world.compute.source_vm("big", size="Standard_M128s"), recoveryAvailabilitySetId=world.target_avset
    )
    world.compute.refused[world.target_ppg.lower()] = {"standard_m128s"}
    job = failover(world, item)
    vm = world.compute.vm(TARGET_RG, "big")
    assert vm is not None
    assert "proximityPlacementGroup" not in vm["properties"] and "availabilitySet" not in vm["properties"]
    body = world.asr.job_body(job)["properties"]
    assert (body["state"], body["stateDescription"]) == ("CompletedWithInformation", "CompletedWithInformation")
    note = body["errors"][0]
    assert note["errorLevel"] == "Info"
    assert note["serviceErrorDetails"]["code"] == "OverconstrainedAllocationRequest"
    assert "outside the proximity placement group and the availability set" in note["serviceErrorDetails"]["message"]
    vm_task = next(t for t in body["tasks"] if t["name"] == "VmFailover")
    assert vm_task["errors"][0]["serviceErrorDetails"]["code"] == "OverconstrainedAllocationRequest"
    assert note["taskId"] == vm_task["taskId"] == "FailoverTask"
    status = world.asr.operation_status_body(job)
    assert status["status"] == "Succeeded" and status["error"]["code"] == "OverconstrainedAllocationRequest"


def test_test_failover_creates_test_vms_and_cleanup_removes_them(world: World) -> None:
    item = world.protect("app1", world.compute.source_vm("app1"))
    network = rid(TARGET_RG, "virtualNetworks", "vnet-test", "Microsoft.Network")
    world.asr.test_failover(
        world.vault,
        item.fabric,
        item.container,
        item.name,
        {"properties": {"failoverDirection": "PrimaryToRecovery", "networkType": "VmNetworkAsInput", "networkId": network}},
    )
    assert props(world, item)["testFailoverState"] == "InProgress"
    world.advance(world.asr.timings.test_failover_s)
    p = props(world, item)
    assert (p["testFailoverState"], p["testFailoverStateDescription"]) == ("WaitingForCompletion", "Waiting for user input")
    assert p["protectionStateDescription"] == "Cleanup test failover pending"
    assert p["allowedOperations"] == ["TestFailoverCleanup"]
    test_vm = world.compute.vm(TARGET_RG, "app1-test")
    assert test_vm is not None
    assert test_vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"].endswith("app1-nic-test")
    assert world.compute.vm(TARGET_RG, "app1") is None, "a drill never creates the real failover VM"

    world.asr.test_failover_cleanup(world.vault, item.fabric, item.container, item.name, {"properties": {"comments": "ok"}})
    assert props(world, item)["testFailoverState"] == "MarkedForDeletion"
    world.advance(world.asr.timings.test_failover_cleanup_s)
    p = props(world, item)
    assert world.compute.vm(TARGET_RG, "app1-test") is None
    # read back after the cleanup job: MarkedForDeletion with the normal operations (REST cleanup example) ...
    assert (p["testFailoverState"], p["allowedOperations"]) == (
        "MarkedForDeletion",
        ["UnplannedFailover", "DisableProtection", "TestFailover"],
    )
    assert p["lastSuccessfulTestFailoverTime"]
    # ... then None (recorded cluster, long after its cleanup)
    world.advance(world.asr.timings.test_failover_marked_s)
    assert (props(world, item)["testFailoverState"], props(world, item)["testFailoverStateDescription"]) == ("None", "None")


def test_disable_removes_the_item_after_a_job_and_keeps_the_vm(world: World) -> None:
    vm = world.compute.source_vm("app1")
    item = world.protect("app1", vm)
    world.asr.disable(world.vault, item.fabric, item.container, item.name)
    assert props(world, item)["protectionStateDescription"] == "Disabling protection"
    world.advance(world.asr.timings.disable_s)
    assert world.asr.items(world.vault) == []
    assert world.compute.find(vm) is not None
    # the same VM can be protected again, even under another name
    world.enable("app1-again", vm)


def test_purge_removes_an_item_in_any_state(world: World) -> None:
    item = world.enable("app1", world.compute.source_vm("app1"))
    world.asr.purge(world.vault, item.fabric, item.container, item.name)
    world.advance(world.asr.timings.purge_s)
    assert world.asr.items(world.vault) == []


# --------------------------------------------------------------------------------------------- refusals


def refusal(call: Any) -> ArmError:
    with pytest.raises(ArmError) as caught:
        call()
    return caught.value


def refused_enable(world: World, name: str, vm: str, **overrides: Any) -> dict[str, Any]:
    """Enable, let the job run into its refusal (202, then a failed job with 45005), return the job body."""
    item = world.enable(name, vm, **overrides)
    job = world.asr.get_job(world.vault, item.scenario[1] if item.scenario else "")
    world.advance(world.asr.timings.refusal_s)
    body = dict(world.asr.job_body(job)["properties"])
    assert (body["state"], body["tasks"][0]["state"]) == ("Failed", "Failed"), body
    assert props(world, item)["allowedOperations"] == ["DisableProtection"]
    status = world.asr.operation_status_body(job)
    assert (status["status"], status["error"]["code"]) == ("Failed", "45005")
    assert status["error"]["message"] == "Protection couldn't be enabled for the virtual machine."
    return body


def cause(job: dict[str, Any]) -> str:
    return str(job["errors"][0]["providerErrorDetails"]["errorMessage"])


def test_refuses_unmanaged_disks_with_a_ppg(world: World) -> None:
    vm = world.compute.source_vm("legacy", unmanaged=True, ppg_id=world.source_ppg)
    job = refused_enable(world, "legacy", vm)
    assert cause(job).startswith("UnmanagedDisksNotSupported:") and "unmanaged disks" in cause(job)


def test_refuses_a_target_ppg_outside_the_target_vm_resource_group(world: World) -> None:
    other_ppg = world.compute.ppg("rg-elsewhere", "ppg-x", "northeurope")
    vm = world.compute.source_vm("app1")
    job = refused_enable(world, "app1", vm, recoveryProximityPlacementGroupId=other_ppg)
    assert cause(job).startswith("ProximityPlacementGroupResourceGroupMismatch:")
    assert job["errors"][0]["serviceErrorDetails"]["code"] == "45005"


def test_refuses_an_availability_set_outside_the_target_resource_group(world: World) -> None:
    avset = world.compute.avset("rg-elsewhere", "avset-x", "northeurope")
    job = refused_enable(world, "app1", world.compute.source_vm("app1"), recoveryAvailabilitySetId=avset)
    assert cause(job).startswith("AvailabilitySetResourceGroupMismatch:")


def test_refuses_removing_the_target_ppg_but_accepts_changing_it(world: World) -> None:
    item = world.protect("app1", world.compute.source_vm("app1"))
    for empty in ("", None):
        error = refusal(
            lambda value=empty: world.asr.update_item(  # type: ignore[misc]
                world.vault,
                item.fabric,
                item.container,
                item.name,
                {"properties": {"providerSpecificDetails": {"instanceType": "A2A", "recoveryProximityPlacementGroupId": value}}},
            )
        )
        assert error.code == "ProximityPlacementGroupRemovalNotSupported"
        assert "Disable replication and enable it again" in error.message
    other = world.compute.ppg(TARGET_RG, "ppg-app-dr2", "northeurope")
    world.asr.update_item(
        world.vault,
        item.fabric,
        item.container,
        item.name,
        {
            "properties": {
                "recoveryAzureVMSize": "Standard_E8s_v5",
                "providerSpecificDetails": {"instanceType": "A2A", "recoveryProximityPlacementGroupId": other},
            }
        },
    )
    assert item.recovery_ppg_id == world.target_ppg, "applied when the update job completes"
    world.advance(world.asr.timings.update_s)
    p = props(world, item)["providerSpecificDetails"]
    assert (p["recoveryProximityPlacementGroupId"], p["recoveryAzureVMSize"]) == (other, "Standard_E8s_v5")


def test_refuses_operations_not_in_allowed_operations(world: World) -> None:
    item = world.protect("app1", world.compute.source_vm("app1"))
    error = refusal(lambda: world.asr.failover_commit(world.vault, item.fabric, item.container, item.name))
    assert (error.status, error.code) == (400, "OperationNotAllowedInCurrentState")
    assert "'Commit'" in error.message and "UnplannedFailover" in error.message
    error = refusal(lambda: world.asr.planned_failover(world.vault, item.fabric, item.container, item.name, {"properties": {}}))
    assert "Planned failover is not supported" in error.message


def test_refuses_a_second_protection_of_the_same_vm(world: World) -> None:
    vm = world.compute.source_vm("app1")
    world.enable("app1", vm)
    again = world.asr.create_item(
        world.vault, world.topology["primaryFabric"], world.topology["primaryContainer"], "app1", world.enable_input(vm)
    )
    assert again is None, "the same PUT again is idempotent"
    error = refusal(lambda: world.enable("app1-other-name", vm))
    assert (error.status, error.code) == (409, "ProtectionAlreadyEnabled")


def test_refuses_the_seventeenth_vm_of_a_multi_vm_group(world: World) -> None:
    for index in range(MULTI_VM_GROUP_LIMIT):
        world.enable(f"vm{index}", world.compute.source_vm(f"vm{index}"), multiVmGroupName="tier")
    items = world.asr.items(world.vault)
    assert len({i.multi_vm_group_id for i in items}) == 1
    job = refused_enable(world, "vm16", world.compute.source_vm("vm16"), multiVmGroupName="TIER")
    assert cause(job).startswith("MultiVmGroupLimitExceeded:")


def test_refuses_hyperv_failback_from_a_ppg(world: World) -> None:
    target = world.recovery_rg_id
    item = world.asr.seed_item(
        world.vault,
        {
            "provider": "HyperVReplicaAzure",
            "name": "hv1",
            "targetLocation": "northeurope",
            "targetResourceGroupId": target,
            "targetProximityPlacementGroupId": world.target_ppg,
        },
    )
    assert props(world, item)["allowedOperations"] == [
        "PlannedFailover",
        "UnplannedFailover",
        "DisableProtection",
        "TestFailover",
    ]
    world.asr.planned_failover(
        world.vault, item.fabric, item.container, item.name, {"properties": {"failoverDirection": "PrimaryToRecovery"}}
    )
    world.advance(world.asr.timings.failover_s)
    assert world.compute.vm(TARGET_RG, "hv1") is not None
    commit(world, item)
    assert "Failback" in props(world, item)["allowedOperations"]
    error = refusal(
        lambda: world.asr.planned_failover(
            world.vault,
            item.fabric,
            item.container,
            item.name,
            {
                "properties": {
                    "failoverDirection": "RecoveryToPrimary",
                    "providerSpecificDetails": {"instanceType": "HyperVReplicaAzureFailback"},
                }
            },
        )
    )
    assert error.code == "FailbackToHyperVNotSupported"
    assert "failback from proximity placement groups in Azure to Hyper-V is not supported" in error.message


def test_enable_of_onprem_providers_needs_an_appliance(world: World) -> None:
    body = {"properties": {"policyId": world.topology["policyId"], "providerSpecificDetails": {"instanceType": "InMageRcm"}}}
    error = refusal(
        lambda: world.asr.create_item(world.vault, world.topology["primaryFabric"], world.topology["primaryContainer"], "x", body)
    )
    assert error.code == "ProviderNeedsOnPremisesInfrastructure"


def test_update_of_seeded_vmware_item_sets_target_ppg_and_size(world: World) -> None:
    item = world.asr.seed_item(
        world.vault,
        {"provider": "InMageRcm", "name": "vmw1", "targetLocation": "northeurope", "targetResourceGroupId": world.recovery_rg_id},
    )
    world.asr.update_item(
        world.vault,
        item.fabric,
        item.container,
        item.name,
        {
            "properties": {
                "providerSpecificDetails": {
                    "instanceType": "InMageRcm",
                    "targetProximityPlacementGroupId": world.target_ppg,
                    "targetVmSize": "Standard_D8s_v5",
                }
            }
        },
    )
    world.advance(world.asr.timings.update_s)
    details = props(world, item)["providerSpecificDetails"]
    assert (details["targetProximityPlacementGroupId"], details["targetVmSize"]) == (world.target_ppg, "Standard_D8s_v5")


# --------------------------------------------------------------------------------------------- plans


def make_plan(world: World, items: list[Any]) -> Any:
    groups = [
        {"groupType": "Boot", "replicationProtectedItems": [{"id": i.id, "virtualMachineId": i.source_vm_id}]} for i in items
    ]
    world.asr.create_plan(
        world.vault,
        "rp-app",
        {
            "properties": {
                "primaryFabricId": f"{world.vault.id}/replicationFabrics/{world.topology['primaryFabric']}",
                "recoveryFabricId": f"{world.vault.id}/replicationFabrics/{world.topology['recoveryFabric']}",
                "failoverDeploymentModel": "ResourceManager",
                "groups": groups,
            }
        },
    )
    return world.asr.plan(world.vault, "rp-app")


def test_plan_fails_over_in_boot_group_order_and_reports_fallbacks(world: World) -> None:
    big = world.protect("db", world.compute.source_vm("db", size="Standard_M64s"))
    small = world.protect("web", world.compute.source_vm("web", size="Standard_D2s_v5"))
    plan = make_plan(world, [big, small])
    body = world.asr.plan_body(plan)
    assert body is not None and body["properties"]["allowedOperations"] == ["UnplannedFailover", "TestFailover"]
    world.compute.refused[world.target_ppg.lower()] = {"standard_d2s_v5"}
    job = world.asr.plan_unplanned_failover(
        world.vault,
        "rp-app",
        {
            "properties": {
                "failoverDirection": "PrimaryToRecovery",
                "providerSpecificDetails": [{"instanceType": "A2A", "recoveryPointType": "Latest"}],
            }
        },
    )
    world.advance(world.asr.timings.failover_s + 2 * world.asr.timings.plan_per_item_s)
    assert world.compute.put_calls == ["db", "web"]
    jb = world.asr.job_body(job)["properties"]
    assert jb["targetInstanceType"] == "RecoveryPlan" and jb["stateDescription"] == "CompletedWithInformation"
    assert [e["serviceErrorDetails"]["code"] for e in jb["errors"]] == ["OverconstrainedAllocationRequest"]
    assert "'web'" in jb["errors"][0]["serviceErrorDetails"]["message"]
    body = world.asr.plan_body(plan)
    assert body is not None
    assert body["properties"]["allowedOperations"] == ["Commit"]
    assert body["properties"]["currentScenario"]["scenarioName"] == "UnplannedFailover"

    world.asr.plan_commit(world.vault, "rp-app")
    world.advance(world.asr.timings.commit_s)
    assert {props(world, i)["protectionState"] for i in (big, small)} == {"UnplannedFailoverCommitted"}

    world.asr.plan_reprotect(world.vault, "rp-app")
    world.advance(world.asr.timings.switch_protection_s + world.asr.timings.initial_replication_s)
    assert {props(world, i)["protectionState"] for i in (big, small)} == {"Protected"}
    assert big.recovery_ppg_id is None, "reprotect has no PPG input: switch protection is the way to target a PPG"
    assert [i.name for i in world.asr.plan_items(plan)] == ["db", "web"], "the plan follows its items to their new container"


def test_plan_refuses_when_an_item_is_not_ready(world: World) -> None:
    ready = world.protect("a", world.compute.source_vm("a"))
    busy = world.enable("b", world.compute.source_vm("b"))
    make_plan(world, [ready, busy])
    error = refusal(
        lambda: world.asr.plan_unplanned_failover(
            world.vault, "rp-app", {"properties": {"failoverDirection": "PrimaryToRecovery"}}
        )
    )
    assert error.code == "OperationNotAllowedInCurrentState" and "b (UnprotectedStatesBegin)" in error.message


def test_plan_test_failover_and_cleanup(world: World) -> None:
    items = [world.protect(n, world.compute.source_vm(n)) for n in ("a", "b")]
    plan = make_plan(world, items)
    network = rid(TARGET_RG, "virtualNetworks", "vnet-test", "Microsoft.Network")
    world.asr.plan_test_failover(
        world.vault,
        "rp-app",
        {
            "properties": {
                "failoverDirection": "PrimaryToRecovery",
                "networkType": "VmNetworkAsInput",
                "networkId": network,
                "providerSpecificDetails": [{"instanceType": "A2A"}],
            }
        },
    )
    world.advance(world.asr.timings.test_failover_s + 2 * world.asr.timings.plan_per_item_s)
    body = world.asr.plan_body(plan)
    assert body is not None
    assert (body["properties"]["currentScenarioStatus"], body["properties"]["currentScenarioStatusDescription"]) == (
        "Suspended",
        "WaitingForStopTestFailover",
    )
    assert body["properties"]["allowedOperations"] == ["TestFailoverCleanup"]
    assert world.compute.vm(TARGET_RG, "a-test") and world.compute.vm(TARGET_RG, "b-test")
    world.asr.plan_test_failover_cleanup(world.vault, "rp-app", {"properties": {"comments": "drill ok"}})
    world.advance(world.asr.timings.test_failover_cleanup_s)
    assert world.compute.vm(TARGET_RG, "a-test") is None and world.compute.vm(TARGET_RG, "b-test") is None


# --------------------------------------------------------------------------------------------- jobs and scale


def test_injected_job_failure_marks_the_job_and_the_item(world: World) -> None:
    world.operations.failure_hook = lambda op: ArmError(500, "InternalError", "boom") if op.kind == "asr.EnableDr" else None
    item = world.enable("app1", world.compute.source_vm("app1"))
    world.advance(60)
    job = world.asr.get_job(world.vault, world.asr.list_jobs(world.vault, "jobName eq 'EnableDr'")[0].id)
    body = world.asr.job_body(job)["properties"]
    assert body["state"] == "Failed" and body["errors"][0]["serviceErrorDetails"]["code"] == "InternalError"
    assert [t["state"] for t in body["tasks"]][-1] == "Failed"
    p = props(world, item)
    assert (p["replicationHealth"], p["allowedOperations"]) == ("Critical", ["DisableProtection"])
    assert world.asr.operation_status_body(job)["status"] == "Failed"


def test_job_tasks_progress_on_the_clock(world: World) -> None:
    world.enable("app1", world.compute.source_vm("app1"))
    assert world.asr.list_jobs(world.vault, "jobStatus eq 'InProgress'") == [], "NotStarted at first"
    world.advance(5)
    job = world.asr.list_jobs(world.vault, "jobName eq 'EnableDr' and jobStatus eq 'InProgress'")[0]
    world.advance(15)
    states = [t["state"] for t in world.asr.job_body(job)["properties"]["tasks"]]
    assert states[0] == "Succeeded" and "InProgress" in states and states[-1] == "NotStarted"
    assert world.asr.list_jobs(world.vault, "jobStatus eq 'Succeeded' and jobName eq 'EnableDr'") == []


def test_recovery_points_are_crash_and_app_consistent_over_time(world: World) -> None:
    item = world.protect("app1", world.compute.source_vm("app1"))
    world.advance(2 * 3600)
    points = world.asr.recovery_points(item)
    kinds = {p["properties"]["recoveryPointType"] for p in points}
    assert kinds == {"CrashConsistent", "ApplicationConsistent"}
    times = [p["properties"]["recoveryPointTime"] for p in points]
    assert times == sorted(times, reverse=True)
    assert world.asr.recovery_point(item, points[0]["name"].upper()) == points[0]


def test_ten_thousand_items_page_lazily(world: World) -> None:
    added = world.asr.bulk_seed(
        world.vault, count=10_000, fabric="bp", container="bpc", recovery_fabric="br", recovery_container="brc"
    )
    assert added == 10_000
    rendered: list[int] = []
    items = world.asr.items(world.vault)

    def render(item: Any) -> dict[str, Any]:
        rendered.append(1)
        return world.asr.item_body(item)

    request = ArmRequest("GET", "/x", {"api-version": "2025-08-01"}, {}, None, "https://emulator")
    first = page(request, LazyBodies(items, render), 100)
    assert len(first.body["value"]) == 100 and "skiptoken" in first.body["nextLink"]
    assert len(rendered) == 100, "only the page is rendered"


def test_filters() -> None:
    assert parse_filter("sourceFabricName eq 'a' and instanceType eq 'A2A'") == {"sourcefabricname": "a", "instancetype": "A2A"}
    with pytest.raises(ArmError):
        parse_filter("nonsense")


def test_items_filter_by_vm(world: World) -> None:
    vm = world.compute.source_vm("app1")
    world.enable("app1", vm)
    world.enable("app2", world.compute.source_vm("app2"))
    found = world.asr.items(world.vault, f"fabricObjectId eq '{vm.upper()}'")
    assert [i.name for i in found] == ["app1"]


def test_the_failed_over_vm_gets_the_source_vms_tags_as_synced_at_failover(world: World) -> None:
    """Tags written after the enable reach the item's synced configuration and the VM a failover creates (choice)."""
    vm = world.compute.source_vm("app1", ppg_id=world.source_ppg, tags={"ppgdr-target-ppg": "none"})
    item = world.protect("app1", vm)
    world.compute.resources[vm.lower()]["tags"] = {"ppgdr-target-ppg": "auto"}  # tagged again while protected
    details = props(world, item)["providerSpecificDetails"]
    assert details["vmSyncedConfigDetails"]["tags"] == {"ppgdr-target-ppg": "auto"}
    failover(world, item)
    dr_vm = world.compute.vm(TARGET_RG, "app1")
    assert dr_vm is not None and dr_vm["tags"] == {"ppgdr-target-ppg": "auto"}
