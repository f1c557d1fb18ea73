"""Switch protection / reprotect (A2A): the failed-over item moves to the recovery container and replicates back.

A2A reprotect is ``POST {container}/switchprotection`` on the item's home container (PowerShell's
Update-AzRecoveryServicesAsrProtectionDirection: A2AReprotectTest entry 16). It is allowed once the item
is failed over, committed or not: on an item still pending commit its job commits first (PPG recording
20:06:06-20:06:28, CommitFailoverTask Succeeded; skipped on a committed item, A2AReprotectTest entry 18).
The job is SwitchReplicationGroupProtection "Reprotect"; when it is done the item has the same name in
the old recovery container, activeLocation Primary, in initial replication, and the job names the moved
item (``newReplicationProtectedItemId``, A2AReprotectTest entries[-1]; PPG entries[-1]).

The item action ``reProtect`` only knows unmanaged disks (``vmDisks``) for A2A: on a managed-disk VM its
job fails at "Reprotecting virtual machine" with "Managed disk details not provided", and
``vmManagedDisks`` in its input is a 400 ``VMDisksMissing`` (a public script's comment, no recording:
weak evidence).
"""

from __future__ import annotations

from typing import Any

from emulator.asr.models.common import A2A, last_segment, name_key, opt_str, props_of, rg_of, sub_of
from emulator.asr.models.enable import EnableMixin, vm_nic_names
from emulator.asr.models.failover_vms import FailoverVmsMixin
from emulator.asr.models.items import COMMITTED, FAILOVER_PENDING_COMMIT, REPROTECTING, ProtectedItem
from emulator.asr.models.jobs import Job, Refusal
from emulator.asr.models.refusals import REPROTECT, first_refusal
from emulator.asr.models.task_lists import fill_job_ids, switch_protection_tasks
from emulator.asr.models.vaults import Container, Vault
from emulator.errors import ArmError


class ReprotectMixin(EnableMixin, FailoverVmsMixin):
    """Reverse replication: request checks at once, the way back (region, mapping, placement) in the job."""

    def switch_protection(self, vault: Vault, fabric: str, container: str, body: dict[str, Any]) -> Job:
        self.tick()
        home = self.container(vault, fabric, container)
        props = props_of(body)
        name = opt_str(props.get("replicationProtectedItemName"))
        if name is None:
            raise ArmError(400, "InvalidParameter", "properties.replicationProtectedItemName is required.")
        item = self.item(vault, home.fabric.name, home.name, name)
        specific = props.get("providerSpecificDetails") or {}
        if (opt_str(specific.get("instanceType")) or A2A) != A2A or item.provider != A2A:
            raise ArmError(
                400, "InvalidParameter", "Switch protection is supported for A2A replicated items with A2ASwitchProtectionInput."
            )
        return self._reverse_replication(vault, item, specific, with_placement=True)

    def reprotect(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = props_of(body)
        specific = props.get("providerSpecificDetails") or {}
        if item.provider != A2A:
            self._require(item, "Failback" if item.phase == COMMITTED else "ReverseReplicate")
            raise ArmError(
                400, "InvalidParameter", "Reprotect of on-premises items needs the on-premises appliance; not emulated."
            )
        if specific.get("vmManagedDisks"):
            raise ArmError(
                400,
                "VMDisksMissing",
                "The disks of the virtual machine were not provided. A2AReprotectInput takes vmDisks; use switch protection "
                "(A2ASwitchProtectionInput with vmManagedDisks) to reprotect a VM with managed disks.",
            )
        missing_disks = None
        if item.disks and not specific.get("vmDisks"):
            missing_disks = Refusal(
                REPROTECT[0],
                REPROTECT[1],
                reason="Managed disk details not provided.",
                recommended_action="Reprotect the virtual machine with switch protection and its managed disk details.",
                provider_code=int(REPROTECT[0]),
                at_task="ProtectReplicaTask",
            )
        return self._reverse_replication(vault, item, specific, with_placement=False, refused=missing_disks)

    def _reverse_replication(
        self, vault: Vault, item: ProtectedItem, specific: dict[str, Any], *, with_placement: bool, refused: Refusal | None = None
    ) -> Job:
        self._require(item, "SwitchProtection")
        new_home = self._recovery_container(item)
        target_id = opt_str(specific.get("recoveryContainerId"))
        if target_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.recoveryContainerId is required.")
        target = self.container_by_id(vault, target_id)
        policy_id = opt_str(specific.get("policyId")) or item.policy_id
        self.policy_by_id(vault, policy_id)
        new_key = name_key(new_home.fabric.name, new_home.name, item.name)
        if new_key in vault.items and vault.items[new_key] is not item:
            raise ArmError(
                409, "ReplicatedItemNameConflict", f"Container '{new_home.name}' already has an item named '{item.name}'."
            )
        previous_vm = item.source_vm_id
        previous_vm_rg = f"/subscriptions/{sub_of(previous_vm)}/resourceGroups/{rg_of(previous_vm)}"
        recovery_rg = opt_str(specific.get("recoveryResourceGroupId")) or previous_vm_rg
        avset = opt_str(specific.get("recoveryAvailabilitySetId"))
        ppg = opt_str(specific.get("recoveryProximityPlacementGroupId")) if with_placement else None
        zone = opt_str(specific.get("recoveryAvailabilityZone")) if with_placement else None
        crg = opt_str(specific.get("recoveryCapacityReservationGroupId")) if with_placement else None
        failed_over_vm = item.failover_vm_id
        refused = refused or first_refusal(
            REPROTECT,
            lambda: self._check_way_back(vault, item, new_home, target),
            lambda: self._validate_placement(recovery_rg, ppg, avset, target.fabric.location, what="reprotect"),
            lambda: self._check_failed_over_vm(item, failed_over_vm),
        )
        vm = self.compute.find(failed_over_vm) if failed_over_vm else None
        vm_props = props_of(vm) if vm else {}
        commit_first = item.phase == FAILOVER_PENDING_COMMIT
        previous_phase = item.phase
        old_key = item.key
        new_id = (
            f"{vault.id}/replicationFabrics/{new_home.fabric.name}/replicationProtectionContainers/{new_home.name}"
            f"/replicationProtectedItems/{item.name}"
        )
        custom: dict[str, Any] = {
            "newReplicationProtectedItemId": None,
            "instanceType": "SwitchProtectionJobDetails",
            "affectedObjectDetails": self._affected(item)["affectedObjectDetails"],
        }
        item.phase = REPROTECTING

        def complete(job: Job) -> None:
            if vault.items.get(old_key) is not item or failed_over_vm is None:
                return
            new_disks = self._disks_for(vm_props, specific if with_placement else {}, recovery_rg) if vm_props else []
            self._retire_old_target(previous_vm, towards_origin=target.fabric.location == item.initial_primary_location)
            del vault.items[old_key]
            item.fabric, item.container = new_home.fabric.name, new_home.name
            item.recovery_fabric, item.recovery_container = target.fabric.name, target.name
            item.primary_location, item.recovery_location = item.recovery_location, item.primary_location
            item.policy_id = policy_id
            item.previous_source_vm_id = previous_vm
            item.source_vm_id = failed_over_vm
            item.recovery_vm_name = last_segment(previous_vm)
            item.tfo_vm_name = f"{last_segment(previous_vm)}-test"
            item.primary_zone = item.recovery_zone
            item.recovery_rg_id = recovery_rg
            item.recovery_ppg_id = ppg
            item.recovery_avset_id = avset
            item.recovery_zone = zone
            item.recovery_crg_id = crg
            item.recovery_vm_size = None
            item.failover_vm_id = None
            item.last_failover = None
            item.failover_recovery_point_id = None
            item.active_location = "Primary"
            item.reversed = not item.reversed
            item.recovery_network_id = self._mapped_network(vault, new_home.fabric.name)
            item.nic_names = vm_nic_names(vm_props, last_segment(failed_over_vm)) if vm_props else item.nic_names
            if new_disks:
                item.disks = new_disks
            else:
                for disk in item.disks:
                    disk.recovery_rg_id = recovery_rg
                    disk.target_disk_id = None
            vault.items[item.key] = item
            custom["newReplicationProtectedItemId"] = new_id.replace("/Subscriptions/", "/subscriptions/", 1)
            self._begin_initial_replication(item, job.op.due)

        def failed() -> None:
            if item.phase == REPROTECTING:
                item.phase = previous_phase
                item.scenario = None

        tasks, _protect = switch_protection_tasks(item, commit_first=commit_first)
        job = self._start_job(
            vault,
            "SwitchReplicationGroupProtection",
            target=self._item_target(item),
            duration_s=self.timings.switch_protection_s,
            tasks=tasks,
            on_complete=complete,
            on_failed=failed,
            result=lambda: self.container_body(vault, new_home),
            custom=custom,
            refusal=refused,
        )
        fill_job_ids(tasks, job.arm_id)
        item.scenario = ("SwitchReplicationGroupProtection", job.id, self.clock.now())
        return job

    def _check_way_back(self, vault: Vault, item: ProtectedItem, new_home: Container, target: Container) -> None:
        if target.fabric.location != item.primary_location:
            raise ArmError(
                400,
                "InvalidParameter",
                f"Reprotect must replicate back to the region the VM failed over from ('{item.primary_location}'); container "
                f"'{target.name}' is in '{target.fabric.location}'.",
            )
        if self._mapping_between(vault, new_home, target) is None:
            raise ArmError(
                400,
                "ContainerMappingNotFound",
                f"No protection container mapping from '{new_home.name}' to '{target.name}' exists for the reverse direction. "
                "Create the failback container mapping first.",
            )

    @staticmethod
    def _check_failed_over_vm(item: ProtectedItem, vm_id: str | None) -> None:
        if vm_id is None:
            raise ArmError(
                400, "InvalidParameter", f"Replicated item '{item.name}' has no failed-over virtual machine to protect."
            )
