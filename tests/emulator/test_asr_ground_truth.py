"""Issue #9 behaviour beyond the conformance suite, through the unmodified SiteRecoveryManagementClient.

Failover direction (item-relative for items, plan-relative for plans), refusals Azure makes inside a
job (a 202, then a failed job with a numeric code), the source shutdown of ``sourceSiteOperations``,
the A2A item ``reProtect`` action without managed-disk details, and the async-refusal fault mode of the
admin API. Each test fails on the emulator as it was before issue #9.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.recoveryservicessiterecovery import models as m

from tests.emulator.test_asr_sdk import PRIMARY, RECOVERY, VAULT, VAULT_RG, Env, env

__all__ = ["env"]  # the fixture, shared with test_asr_sdk


def unplanned(direction: str = "PrimaryToRecovery", shutdown: str = "NotRequired") -> m.UnplannedFailoverInput:
    return m.UnplannedFailoverInput(
        properties=m.UnplannedFailoverInputProperties(
            failover_direction=direction, source_site_operations=shutdown, provider_specific_details=m.A2AUnplannedFailoverInput()
        )
    )


def plan_unplanned(direction: str, shutdown: str = "NotRequired") -> m.RecoveryPlanUnplannedFailoverInput:
    return m.RecoveryPlanUnplannedFailoverInput(
        properties=m.RecoveryPlanUnplannedFailoverInputProperties(
            failover_direction=direction,
            source_site_operations=shutdown,
            provider_specific_details=[m.RecoveryPlanA2AFailoverInput(recovery_point_type="Latest")],
        )
    )


def make_plan(env: Env, name: str, groups: list[list[Any]]) -> Any:
    """A plan with one Boot group per inner list (items in that order)."""
    plan_input = m.CreateRecoveryPlanInput(
        properties=m.CreateRecoveryPlanInputProperties(
            primary_fabric_id=f"{env.vault_id}/replicationFabrics/{env.primary_fabric}",
            recovery_fabric_id=f"{env.vault_id}/replicationFabrics/{env.recovery_fabric}",
            failover_deployment_model="ResourceManager",
            groups=[
                m.RecoveryPlanGroup(
                    group_type="Boot", replication_protected_items=[m.RecoveryPlanProtectedItem(id=i.id) for i in g]
                )
                for g in groups
            ],
        )
    )
    return env.run(env.client.replication_recovery_plans.begin_create(VAULT_RG, VAULT, name, plan_input))


def last_job(env: Env, scenario: str) -> Any:
    listed = next(iter(env.client.replication_jobs.list(VAULT_RG, VAULT, filter=f"jobName eq '{scenario}'")))
    return env.client.replication_jobs.get(VAULT_RG, VAULT, listed.name)


def failed_with(env: Env, poller: Any, code: str, seconds: float = 5) -> HttpResponseError:
    """The SDK poller of an accepted write raises the failed job's numeric code from the operation status."""
    with pytest.raises(HttpResponseError) as failed:
        env.run(poller, seconds)
    assert failed.value.error is not None and failed.value.error.code == code, str(failed.value)
    return failed.value


def switch_back(env: Env, name: str, *, ppg: str | None) -> Any:
    """Switch protection of a failed-over item back to the original region (the recorded PowerShell input)."""
    dr_vm = env.compute.virtual_machines.get("rg-app-asr", name)
    specific = m.A2ASwitchProtectionInput(
        recovery_container_id=env.container_id(env.primary_fabric, env.primary_container),
        policy_id=env.policy_id,
        recovery_resource_group_id=env.rg_id("rg-app"),
        recovery_proximity_placement_group_id=ppg,
        vm_managed_disks=[
            m.A2AVmManagedDiskInputDetails(
                disk_id=dr_vm.storage_profile.os_disk.managed_disk.id,
                primary_staging_azure_storage_account_id=f"{env.rg_id('rg-app-asr')}/providers/Microsoft.Storage/storageAccounts/c2",
                recovery_resource_group_id=env.rg_id("rg-app"),
            )
        ],
    )
    body = m.SwitchProtectionInput(
        properties=m.SwitchProtectionInputProperties(replication_protected_item_name=name, provider_specific_details=specific)
    )
    return env.client.replication_protection_containers.begin_switch_protection(
        VAULT_RG, VAULT, env.primary_fabric, env.primary_container, body
    )


def power(env: Env, rg: str, name: str) -> str:
    statuses = env.compute.virtual_machines.instance_view(rg, name).statuses
    return next(s.code for s in statuses if s.code.startswith("PowerState/"))


# --------------------------------------------------------------------------------------------- failover direction


def test_item_failover_direction_is_relative_to_the_item(env: Env) -> None:
    """RecoveryToPrimary on a protected A2A item fails its job (the item replicates from its own primary); the
    item stays Protected and PrimaryToRecovery then works (choice: a failed job, as Azure fails invalid
    failover inputs after accepting them, Azure/azure-powershell#2872)."""
    env.protect("app1", env.vm("app1"), ppg=None)
    c = env.client
    poller = c.replication_protected_items.begin_unplanned_failover(
        VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1", unplanned("RecoveryToPrimary")
    )
    failed_with(env, poller, "95002")
    job = last_job(env, "UnplannedFailover")
    assert job.properties.state == "Failed"
    assert job.properties.errors[0].provider_error_details.error_message.startswith("InvalidFailoverDirection:")
    assert env.item("app1").properties.protection_state == "Protected"
    done = env.run(
        c.replication_protected_items.begin_unplanned_failover(
            VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1", unplanned()
        ),
        120,
    )
    assert done.properties.protection_state == "UnplannedFailoverCommitPendingStatesBegin"


def test_plan_failover_direction_and_failback(env: Env) -> None:
    """A plan keeps its fabrics: RecoveryToPrimary while the items replicate from the plan's primary fabric fails
    the job; after failover, commit and switch protection, PrimaryToRecovery fails and RecoveryToPrimary (the
    failback of oortizmcp/Automating-DR Failback-Reprotect-RP_V2.ps1) brings the VMs back to the original
    region, in the PPG switch protection named."""
    source_ppg = env.ppg("rg-app", "ppg-app", PRIMARY)
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    item = env.protect("app1", env.vm("app1", ppg=source_ppg), ppg=target_ppg)
    make_plan(env, "rp-app", [[item]])
    c = env.client.replication_recovery_plans
    failed_with(env, c.begin_unplanned_failover(VAULT_RG, VAULT, "rp-app", plan_unplanned("RecoveryToPrimary")), "95002")
    assert env.item("app1").properties.protection_state == "Protected"

    env.run(c.begin_unplanned_failover(VAULT_RG, VAULT, "rp-app", plan_unplanned("PrimaryToRecovery")), 150)
    env.run(c.begin_failover_commit(VAULT_RG, VAULT, "rp-app"), 30)
    env.run(switch_back(env, "app1", ppg=source_ppg), 90)
    env.emulator.advance(300)
    reverse = env.item("app1", env.recovery_fabric, env.recovery_container)
    assert (reverse.properties.protection_state, reverse.properties.active_location) == ("Protected", "Primary")

    failed_with(env, c.begin_unplanned_failover(VAULT_RG, VAULT, "rp-app", plan_unplanned("PrimaryToRecovery")), "95002")
    back = env.run(c.begin_unplanned_failover(VAULT_RG, VAULT, "rp-app", plan_unplanned("RecoveryToPrimary")), 150)
    assert back.properties.allowed_operations == ["Commit"]
    vm = env.compute.virtual_machines.get("rg-app", "app1")
    assert vm.location == PRIMARY and vm.proximity_placement_group.id.lower() == source_ppg.lower()


# --------------------------------------------------------------------------------------------- source shutdown


@pytest.mark.parametrize(
    ("operations", "task_state", "source_power"),
    [
        ("Required", "Succeeded", "PowerState/deallocated"),
        ("NotRequired", "Other", "PowerState/running"),
    ],
)
def test_source_site_operations_decide_the_shutdown(env: Env, operations: str, task_state: str, source_power: str) -> None:
    """Required runs "Shut down the virtual machine" (PPG recording, ShutdownVmOnPrimaryForUFO) and the source is
    deallocated (choice: the power state is not recorded); NotRequired skips the task (Other/Skipped, as the
    cluster recording's shutdown task) and the source keeps running."""
    env.protect("app1", env.vm("app1"), ppg=None)
    env.run(
        env.client.replication_protected_items.begin_unplanned_failover(
            VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1", unplanned(shutdown=operations)
        ),
        120,
    )
    job = last_job(env, "UnplannedFailover")
    shutdown = next(t for t in job.properties.tasks if t.task_id == "ShutdownVmOnPrimaryForUFO")
    assert shutdown.state == task_state
    assert power(env, "rg-app", "app1") == source_power
    assert power(env, "rg-app-asr", "app1") == "PowerState/running"


def test_plan_failover_with_required_shuts_every_source_down(env: Env) -> None:
    """The plan's ShutdownAllActionGroup ran for the VMs (A2ARecoveryPlanReplication entries[-1])."""
    items = [env.protect(n, env.vm(n), ppg=None) for n in ("db", "web")]
    make_plan(env, "rp-app", [items])
    env.run(
        env.client.replication_recovery_plans.begin_unplanned_failover(
            VAULT_RG, VAULT, "rp-app", plan_unplanned("PrimaryToRecovery", "Required")
        ),
        200,
    )
    job = last_job(env, "UnplannedFailover")
    group = next(t for t in job.properties.tasks if t.task_id == "ShutdownAllActionGroup")
    assert group.state == "Succeeded" and group.friendly_name == "All groups shutdown (2)"
    assert {power(env, "rg-app", n) for n in ("db", "web")} == {"PowerState/deallocated"}


# --------------------------------------------------------------------------------------------- refusals inside jobs


def test_update_placement_refusal_is_a_failed_job(env: Env) -> None:
    """An update naming a target PPG outside the target group is accepted, then its job fails (no sync 400)."""
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    env.protect("app1", env.vm("app1"), ppg=target_ppg)
    elsewhere = env.ppg("rg-app", "ppg-wrong-rg", RECOVERY)
    poller = env.client.replication_protected_items.begin_update(
        VAULT_RG,
        VAULT,
        env.primary_fabric,
        env.primary_container,
        "app1",
        m.UpdateReplicationProtectedItemInput(
            properties=m.UpdateReplicationProtectedItemInputProperties(
                provider_specific_details=m.A2AUpdateReplicationProtectedItemInput(
                    recovery_proximity_placement_group_id=elsewhere
                )
            )
        ),
    )
    failed_with(env, poller, "95001")
    job = last_job(env, "UpdateVmProperties")
    assert job.properties.errors[0].provider_error_details.error_message.startswith(
        "ProximityPlacementGroupResourceGroupMismatch:"
    )
    assert env.item("app1").properties.provider_specific_details.recovery_proximity_placement_group_id == target_ppg


def test_item_reprotect_action_without_managed_disk_details_fails(env: Env) -> None:
    """The A2A reProtect action knows only unmanaged disks: on a managed-disk VM its job fails at "Reprotecting
    virtual machine" with "Managed disk details not provided", and vmManagedDisks in its input is a 400
    VMDisksMissing (a public script's comment; weak evidence)."""
    env.protect("app1", env.vm("app1"), ppg=None)
    c = env.client.replication_protected_items
    args = (VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1")
    env.run(c.begin_unplanned_failover(*args, unplanned()), 120)
    env.run(c.begin_failover_commit(*args), 30)
    reprotect = m.ReverseReplicationInput(
        properties=m.ReverseReplicationInputProperties(
            failover_direction="RecoveryToPrimary",
            provider_specific_details=m.A2AReprotectInput(
                recovery_container_id=env.container_id(env.primary_fabric, env.primary_container), vm_disks=[]
            ),
        )
    )
    failed_with(env, c.begin_reprotect(*args, reprotect), "95003", seconds=90)
    job = last_job(env, "SwitchReplicationGroupProtection")
    failing = next(t for t in job.properties.tasks if t.state == "Failed")
    assert failing.name == "ProtectReplicaTask"
    assert job.properties.errors[0].provider_error_details.error_message == "Managed disk details not provided."
    assert env.item("app1").properties.protection_state == "UnplannedFailoverCommitted"

    raw = reprotect.as_dict()
    raw["properties"]["providerSpecificDetails"]["vmManagedDisks"] = [{"diskId": "x"}]
    item_path = f"{env.container_id(env.primary_fabric, env.primary_container)}/replicationProtectedItems/app1"
    with env.emulator.http() as http:
        answer = http.post(f"{item_path}/reProtect", params={"api-version": "2025-08-01"}, json=raw)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "VMDisksMissing")


# --------------------------------------------------------------------------------------------- the async-refusal fault


def test_async_refusal_fault_fails_the_next_matching_write_after_a_202(env: Env) -> None:
    """``POST /_emulator/faults`` with kind asyncRefusal: the next matching write answers 202 and its job fails
    with the code (default 45005, Azure's enable failure) and message; the write is not applied; writes that
    start no job do not use the rule up."""
    env.protect("app1", env.vm("app1"), ppg=None)
    rule = env.emulator.fault(kind="asyncRefusal", method="POST", path="/unplannedFailover$", message="Failover refused.")
    assert (rule["kind"], rule["code"], rule["remaining"]) == ("asyncRefusal", "45005", 1)
    c = env.client.replication_protected_items
    args = (VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1")
    with pytest.raises(HttpResponseError):
        c.begin_failover_commit(*args)  # a synchronous refusal (not allowed now): no job, the rule stays
    error = failed_with(env, c.begin_unplanned_failover(*args, unplanned()), "45005")
    assert error.error is not None and error.error.message == "Failover refused."
    job = last_job(env, "UnplannedFailover")
    assert (job.properties.state, job.properties.tasks[0].state) == ("Failed", "Failed")
    assert job.properties.errors[0].service_error_details.code == "45005"
    assert job.properties.errors[0].provider_error_details.error_code == 45005
    assert env.item("app1").properties.protection_state == "Protected", "not applied"
    assert [f["remaining"] for f in env.emulator.admin("GET", "faults")["value"]] == [0]

    done = env.run(c.begin_unplanned_failover(*args, unplanned()), 120)
    assert done.properties.protection_state == "UnplannedFailoverCommitPendingStatesBegin"


def test_async_refusal_fault_covers_setup_writes_and_enable(env: Env) -> None:
    """A refused plan PUT leaves no plan; a refused enable leaves its item in the failed state, as a failed enable."""
    item = env.protect("app1", env.vm("app1"), ppg=None)
    env.emulator.fault(kind="asyncRefusal", method="PUT", path="/replicationRecoveryPlans/", code="95100", message="No.")
    with pytest.raises(HttpResponseError) as refused:
        make_plan(env, "rp-app", [[item]])
    assert refused.value.error is not None and refused.value.error.code == "95100"
    assert list(env.client.replication_recovery_plans.list(VAULT_RG, VAULT)) == []

    env.emulator.fault(kind="asyncRefusal", method="PUT", path="/replicationProtectedItems/app2$")
    poller = env.client.replication_protected_items.begin_create(
        VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app2", env.enable_input(env.vm("app2"), ppg=None)
    )
    failed_with(env, poller, "45005")
    assert env.item("app2").properties.allowed_operations == ["DisableProtection"]


@pytest.mark.parametrize("rule", [{"kind": "asyncRefusal", "code": "Boom"}, {"kind": "asyncRefusal", "method": "GET"}])
def test_async_refusal_fault_validates_its_rule(env: Env, rule: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="400"):
        env.emulator.admin("POST", "faults", json=rule)
