"""Switch protection / reprotect (A2A): the failed-over item moves to the recovery container and replicates back."""

from __future__ import annotations

from typing import Any

from emulator.asr.models.common import A2A, last_segment, name_key, opt_str, props_of, rg_of, sub_of
from emulator.asr.models.enable import EnableMixin, vm_nic_names
from emulator.asr.models.items import COMMITTED, REPROTECTING, ProtectedItem
from emulator.asr.models.jobs import Job, TaskSpec
from emulator.asr.models.vaults import Vault
from emulator.errors import ArmError


class ReprotectMixin(EnableMixin):
    """Reverse replication validates the way back (region, mapping, placement) before the job starts."""

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
        return self._reverse_replication(vault, item, specific, with_placement=False)

    def _reverse_replication(self, vault: Vault, item: ProtectedItem, specific: dict[str, Any], *, with_placement: bool) -> Job:
        self._require(item, "ReverseReplicate")
        current_recovery = self._recovery_container(item)
        new_home = current_recovery
        target_id = opt_str(specific.get("recoveryContainerId"))
        if target_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.recoveryContainerId is required.")
        target = self.container_by_id(vault, target_id)
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
        policy_id = opt_str(specific.get("policyId")) or item.policy_id
        self.policy_by_id(vault, policy_id)
        previous_vm = item.source_vm_id
        previous_vm_rg = f"/subscriptions/{sub_of(previous_vm)}/resourceGroups/{rg_of(previous_vm)}"
        recovery_rg = opt_str(specific.get("recoveryResourceGroupId")) or previous_vm_rg
        avset = opt_str(specific.get("recoveryAvailabilitySetId"))
        ppg = opt_str(specific.get("recoveryProximityPlacementGroupId")) if with_placement else None
        zone = opt_str(specific.get("recoveryAvailabilityZone")) if with_placement else None
        crg = opt_str(specific.get("recoveryCapacityReservationGroupId")) if with_placement else None
        self._validate_placement(recovery_rg, ppg, avset, target.fabric.location, what="reprotect")
        failed_over_vm = item.failover_vm_id
        if failed_over_vm is None:
            raise ArmError(
                400, "InvalidParameter", f"Replicated item '{item.name}' has no failed-over virtual machine to protect."
            )
        vm = self.compute.find(failed_over_vm)
        vm_props = props_of(vm) if vm else {}
        new_disks = self._disks_for(vm_props, specific if with_placement else {}, recovery_rg) if vm_props else []
        new_nics = vm_nic_names(vm_props, last_segment(failed_over_vm)) if vm_props else item.nic_names
        new_key = name_key(new_home.fabric.name, new_home.name, item.name)
        if new_key in vault.items and vault.items[new_key] is not item:
            raise ArmError(
                409, "ReplicatedItemNameConflict", f"Container '{new_home.name}' already has an item named '{item.name}'."
            )
        new_id = (
            f"{vault.id}/replicationFabrics/{new_home.fabric.name}/replicationProtectionContainers/{new_home.name}"
            f"/replicationProtectedItems/{item.name}"
        )
        item.phase = REPROTECTING
        old_key = item.key

        def complete(job: Job) -> None:
            if vault.items.get(old_key) is not item:
                return
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
            item.failover_vm_id = previous_vm
            item.reversed = not item.reversed
            item.recovery_network_id = self._mapped_network(vault, new_home.fabric.name)
            item.nic_names = new_nics
            if new_disks:
                item.disks = new_disks
            else:
                for disk in item.disks:
                    disk.recovery_rg_id = recovery_rg
            vault.items[item.key] = item
            self._begin_initial_replication(item, job.op.due)

        def failed() -> None:
            if item.phase == REPROTECTING:
                item.phase = COMMITTED
                item.scenario = None

        job = self._start_job(
            vault,
            "SwitchProtection",
            target_id=item.id,
            target_name=item.friendly_name,
            target_type="ProtectionEntity",
            duration_s=self.timings.switch_protection_s,
            tasks=[
                TaskSpec("SwitchProtectionPrerequisitesCheck", "Prerequisites check"),
                TaskSpec("CreateReverseReplicationTask", "Create the reverse replication", 2),
                TaskSpec("StartInitialReplicationTask", "Start initial replication"),
            ],
            on_complete=complete,
            on_failed=failed,
            result=lambda: self.container_body(vault, new_home),
            custom={
                "instanceType": "SwitchProtectionJobDetails",
                "affectedObjectDetails": {},
                "newReplicationProtectedItemId": new_id,
            },
        )
        item.scenario = ("SwitchProtection", job.id, self.clock.now())
        return job
