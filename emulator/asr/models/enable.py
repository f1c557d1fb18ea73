"""Enabling and updating replication: what ASR checks on the source VM and on the recovery placement.

Enable (A2A) checks the request at once (required inputs, container, policy, name and VM conflicts) and
reads the VM through the compute backend (region, disks, NICs, zones, PPG); what Azure checks in the
job (unmanaged disks with a PPG, a target PPG or availability set in another resource group, more than
16 VMs in a multi-VM group, ...) fails the enable job with 45005. Initial replication follows on the
clock. Updates change the recovery settings when their job completes (placement checks fail the job).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from emulator.asr.models.common import (
    A2A,
    HYPERV_AZURE,
    INMAGE_RCM,
    last_segment,
    name_key,
    norm_location,
    opt_str,
    props_of,
    ref_id,
    rg_of,
    same_id,
)
from emulator.asr.models.item_bodies import ItemBodiesMixin
from emulator.asr.models.items import (
    COMMITTING,
    DISABLING,
    ENABLE_FAILED,
    ENABLING,
    FAILING_OVER,
    INITIAL_REPLICATION,
    PROTECTED,
    PROTECTION_STATES,
    REPROTECTING,
    TFO_CLEANING,
    TFO_RUNNING,
    Disk,
    ProtectedItem,
)
from emulator.asr.models.jobs import Job, TaskSpec
from emulator.asr.models.networks import NetworksMixin
from emulator.asr.models.policies import PoliciesMixin
from emulator.asr.models.refusals import ENABLE, UPDATE, first_refusal
from emulator.asr.models.vaults import Container, Vault
from emulator.errors import ArmError

#: Multi-VM consistency groups hold at most 16 VMs (Site Recovery support matrix).
MULTI_VM_GROUP_LIMIT = 16


class EnableMixin(PoliciesMixin, NetworksMixin, ItemBodiesMixin):
    """Enable (``create_item``), initial replication, update, and the placement and disk checks they share."""

    def create_item(self, vault: Vault, fabric_name: str, container_name: str, name: str, body: dict[str, Any]) -> Job | None:
        """Enable replication. Returns the job, or None when the same VM is already this item (idempotent PUT).

        The request itself is checked at once (required inputs, the container and policy it names, name
        and VM conflicts: choices, no recording); what depends on the VM and the target resources is checked
        by the job, which then fails with 45005 (hashicorp/terraform-provider-azurerm#31927)."""
        self.tick()
        container = self.container(vault, fabric_name, container_name)
        props = props_of(body)
        specific = props.get("providerSpecificDetails") or {}
        self._require_a2a_enable(specific)
        policy_id = opt_str(props.get("policyId"))
        if policy_id is None:
            raise ArmError(400, "InvalidParameter", "properties.policyId is required.")
        policy = self.policy_by_id(vault, policy_id)
        vm_id = opt_str(specific.get("fabricObjectId"))
        if vm_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.fabricObjectId (the VM id) is required.")
        if self._existing_protection(vault, container, name, vm_id):
            return None
        recovery_container_id = opt_str(specific.get("recoveryContainerId"))
        if recovery_container_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.recoveryContainerId is required.")
        recovery_container = self.container_by_id(vault, recovery_container_id)
        recovery_rg_id = opt_str(specific.get("recoveryResourceGroupId"))
        if recovery_rg_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.recoveryResourceGroupId is required.")

        vm = self.compute.find(vm_id) or {}
        vm_props = props_of(vm) if vm else {}
        source_ppg = ref_id(vm_props.get("proximityPlacementGroup"))
        recovery_ppg = opt_str(specific.get("recoveryProximityPlacementGroupId"))
        recovery_avset = opt_str(specific.get("recoveryAvailabilitySetId"))
        group_name = opt_str(specific.get("multiVmGroupName")) or ""
        group_id = opt_str(specific.get("multiVmGroupId")) or ""
        if group_name and not group_id:
            group_id = self._stable_id(vault.id, "multivmgroup", group_name)
        disks: list[Disk] = []

        def read_disks() -> None:
            disks.extend(self._disks_for(vm_props, specific, recovery_rg_id))

        refusal = first_refusal(
            ENABLE,
            lambda: self._check_source_vm(vm_id, vm, container),
            lambda: self._check_mapping(vault, container, recovery_container),
            lambda: self._check_unmanaged(vm_id, vm_props, specific, bool(source_ppg or recovery_ppg)),
            lambda: self._validate_placement(
                recovery_rg_id, recovery_ppg, recovery_avset, recovery_container.fabric.location, what="enable replication"
            ),
            lambda: self._check_group_size(vault, group_id, group_name),
            read_disks,
        )
        vm_name = opt_str(vm.get("name")) or last_segment(vm_id)
        zones = vm.get("zones") or []
        item = ProtectedItem(
            vault=vault,
            name=name,
            provider=A2A,
            fabric=container.fabric.name,
            container=container.name,
            recovery_fabric=recovery_container.fabric.name,
            recovery_container=recovery_container.name,
            policy_id=self.policy_id(vault, policy),
            source_vm_id=vm_id,
            friendly_name=vm_name,
            primary_location=container.fabric.location,
            recovery_location=recovery_container.fabric.location,
            os_type=vm_os_type(vm_props),
            vm_size=opt_str((vm_props.get("hardwareProfile") or {}).get("vmSize")) or "Standard_D2s_v3",
            recovery_rg_id=recovery_rg_id,
            recovery_ppg_id=recovery_ppg,
            recovery_avset_id=recovery_avset,
            recovery_zone=opt_str(specific.get("recoveryAvailabilityZone")),
            recovery_crg_id=opt_str(specific.get("recoveryCapacityReservationGroupId")),
            recovery_vm_name=vm_name,
            recovery_network_id=opt_str(specific.get("recoveryAzureNetworkId"))
            or self._mapped_network(vault, container.fabric.name),
            tfo_vm_name=f"{vm_name}-test",
            primary_zone=str(zones[0]) if zones else None,
            disks=disks,
            tags=dict(vm.get("tags") or {}),
            nic_names=vm_nic_names(vm_props, vm_name),
            multi_vm_group_name=group_name,
            multi_vm_group_id=group_id or self.new_id(),
            multi_vm_group_option="UserSpecified" if group_id else "AutoCreated",
            lifecycle_id=self.new_id(),
            management_id=self.new_id(),
            initial_primary_location=container.fabric.location,
            initial_recovery_location=recovery_container.fabric.location,
            initial_primary_zone=str(zones[0]) if zones else "",
            initial_recovery_zone=opt_str(specific.get("recoveryAvailabilityZone")) or "",
            extra={"sourcePpgId": source_ppg, "sourceAvsetId": ref_id(vm_props.get("availabilitySet"))},
        )
        vault.items[item.key] = item

        def completed(job: Job) -> None:
            self._begin_initial_replication(item, job.op.due)

        def failed() -> None:
            if vault.items.get(item.key) is item and item.phase == ENABLING:
                item.phase = ENABLE_FAILED
                item.replication_health = "Critical"
                item.scenario = None

        job = self._start_job(
            vault,
            "EnableDr",
            target=self._item_target(item),
            duration_s=self.timings.enable_s,
            tasks=enable_tasks(),
            on_complete=completed,
            on_failed=failed,
            result=lambda: self.item_body(item) if vault.items.get(item.key) is item else None,
            custom=self._affected(item),
            refusal=refusal,
        )
        if item.phase == ENABLING:
            item.scenario = ("EnableDr", job.id, job.op.started)
        return job

    def _require_a2a_enable(self, specific: dict[str, Any]) -> None:
        provider = opt_str(specific.get("instanceType")) or ""
        if provider in (INMAGE_RCM, HYPERV_AZURE, "InMageAzureV2", "HyperVReplica2012R2"):
            raise ArmError(
                400,
                "ProviderNeedsOnPremisesInfrastructure",
                f"Enabling '{provider}' replication needs an on-premises appliance (configuration/process server or "
                "Hyper-V host with the Site Recovery provider) registered with the vault; the emulator has none. "
                "Seed such items through POST /_emulator/asr/items.",
            )
        if provider != A2A:
            raise ArmError(400, "InvalidParameter", f"Unsupported providerSpecificDetails.instanceType '{provider}'.")

    def _existing_protection(self, vault: Vault, container: Container, name: str, vm_id: str) -> bool:
        """True for the same enable again (idempotent); 409 for a name or VM already protected otherwise."""
        existing = vault.items.get(name_key(container.fabric.name, container.name, name))
        if existing is not None:
            if same_id(existing.source_vm_id, vm_id):
                return True
            raise ArmError(
                409,
                "ReplicatedItemNameConflict",
                f"A replicated item named '{name}' already exists in container '{container.name}' for VM "
                f"'{existing.source_vm_id}'. Use another item name.",
            )
        for other in vault.items.values():
            if same_id(other.source_vm_id, vm_id) or (other.reversed and same_id(other.failover_vm_id, vm_id)):
                raise ArmError(
                    409,
                    "ProtectionAlreadyEnabled",
                    f"Replication is already enabled for virtual machine '{vm_id}' as replicated item '{other.name}' "
                    f"(container '{other.container}'). Use that item, or disable its replication first.",
                )
        return False

    @staticmethod
    def _check_source_vm(vm_id: str, vm: dict[str, Any], container: Container) -> None:
        if not vm:
            raise ArmError(400, "SourceVirtualMachineNotFound", f"The virtual machine '{vm_id}' was not found.")
        location = norm_location(opt_str(vm.get("location")) or "")
        if location != container.fabric.location:
            raise ArmError(
                400,
                "InvalidParameter",
                f"Virtual machine '{vm_id}' is in '{location}' but protection container '{container.name}' belongs to the "
                f"fabric of '{container.fabric.location}'. Use the container of the VM's region.",
            )

    def _check_mapping(self, vault: Vault, container: Container, recovery_container: Container) -> None:
        if self._mapping_between(vault, container, recovery_container) is None:
            raise ArmError(
                400,
                "ContainerMappingNotFound",
                f"No protection container mapping from '{container.name}' to '{recovery_container.name}' exists. "
                "Create the container mapping (with a replication policy) first.",
            )

    @staticmethod
    def _check_unmanaged(vm_id: str, vm_props: dict[str, Any], specific: dict[str, Any], with_ppg: bool) -> None:
        if (has_unmanaged_disks(vm_props) or bool(specific.get("vmDisks"))) and with_ppg:
            raise ArmError(
                400,
                "UnmanagedDisksNotSupported",
                f"Virtual machine '{vm_id}' uses unmanaged disks. Site Recovery for VMs in proximity placement groups "
                "is not supported for unmanaged disks. Convert the VM to managed disks, then enable replication.",
            )

    @staticmethod
    def _check_group_size(vault: Vault, group_id: str, group_name: str) -> None:
        if not group_id:
            return
        members = [i for i in vault.items.values() if i.multi_vm_group_id.lower() == group_id.lower()]
        if len(members) >= MULTI_VM_GROUP_LIMIT:
            raise ArmError(
                400,
                "MultiVmGroupLimitExceeded",
                f"Multi-VM consistency group '{group_name or group_id}' already has {len(members)} VMs; a group can "
                f"hold at most {MULTI_VM_GROUP_LIMIT}. Put this VM in another group.",
            )

    def _begin_initial_replication(self, item: ProtectedItem, start: datetime) -> None:
        item.phase = INITIAL_REPLICATION
        item.scenario = None
        item.ir_started = start
        due = start + timedelta(seconds=self.timings.initial_replication_s)
        item.ir_done = due

        def protected() -> None:
            if item.phase == INITIAL_REPLICATION and item.ir_done == due:
                item.phase = PROTECTED
                item.protected_since = due

        self._schedule(due, protected)

    def _validate_placement(
        self, recovery_rg_id: str, ppg_id: str | None, avset_id: str | None, recovery_location: str, *, what: str
    ) -> None:
        target_rg = (rg_of(recovery_rg_id) or last_segment(recovery_rg_id)).lower()
        ppg: dict[str, Any] | None = None
        if ppg_id:
            if (rg_of(ppg_id) or "").lower() != target_rg:
                raise ArmError(
                    400,
                    "ProximityPlacementGroupResourceGroupMismatch",
                    f"The target proximity placement group '{ppg_id}' is in resource group '{rg_of(ppg_id)}' but the target "
                    f"virtual machine will be created in resource group '{last_segment(recovery_rg_id)}'. The target PPG and "
                    f"the target VM must be in the same resource group. Choose a PPG in that resource group (or change the "
                    f"target resource group), then {what} again.",
                )
            ppg = self.compute.find(ppg_id)
            if ppg is None:
                raise ArmError(400, "InvalidParameter", f"The target proximity placement group '{ppg_id}' was not found.")
            ppg_location = norm_location(opt_str(ppg.get("location")) or recovery_location)
            if ppg_location != recovery_location:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"The target proximity placement group '{ppg_id}' is in '{ppg_location}', not in the recovery region "
                    f"'{recovery_location}'.",
                )
        if avset_id:
            if (rg_of(avset_id) or "").lower() != target_rg:
                raise ArmError(
                    400,
                    "AvailabilitySetResourceGroupMismatch",
                    f"The target availability set '{avset_id}' is in resource group '{rg_of(avset_id)}' but the target "
                    f"virtual machine (and its PPG) are in resource group '{last_segment(recovery_rg_id)}'. The availability "
                    "set, the VM and the PPG must all reside in the same resource group.",
                )
            avset = self.compute.find(avset_id)
            if avset is None:
                raise ArmError(400, "InvalidParameter", f"The target availability set '{avset_id}' was not found.")
            pinned = ref_id(props_of(avset).get("proximityPlacementGroup"))
            if pinned and ppg_id and not same_id(pinned, ppg_id):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"The target availability set '{avset_id}' is pinned to proximity placement group '{pinned}', not to "
                    f"the target PPG '{ppg_id}'.",
                )

    def _disks_for(self, vm_props: dict[str, Any], specific: dict[str, Any], recovery_rg_id: str) -> list[Disk]:
        storage = vm_props.get("storageProfile") or {}
        by_id: dict[str, tuple[str, str, int]] = {}
        os_disk = storage.get("osDisk") or {}
        os_id = ref_id(os_disk.get("managedDisk"))
        if os_id:
            by_id[os_id.lower()] = (
                opt_str(os_disk.get("name")) or last_segment(os_id),
                "OperatingSystem",
                int(os_disk.get("diskSizeGB") or 127),
            )
        for data in storage.get("dataDisks") or []:
            data_id = ref_id(data.get("managedDisk"))
            if data_id:
                by_id[data_id.lower()] = (
                    opt_str(data.get("name")) or last_segment(data_id),
                    "Data",
                    int(data.get("diskSizeGB") or 128),
                )
        inputs = specific.get("vmManagedDisks") or []
        disks: list[Disk] = []
        if inputs:
            for entry in inputs:
                disk_id = opt_str(entry.get("diskId"))
                if disk_id is None:
                    raise ArmError(400, "InvalidParameter", "Every vmManagedDisks entry needs a diskId.")
                known = by_id.get(disk_id.lower())
                if known is None:
                    raise ArmError(400, "InvalidParameter", f"Disk '{disk_id}' is not attached to the virtual machine.")
                disks.append(_disk(disk_id, known, entry, recovery_rg_id, self.compute.find(disk_id)))
        else:
            for disk_id, known in by_id.items():
                disks.append(_disk(disk_id, known, {}, recovery_rg_id, self.compute.find(disk_id)))
        return disks

    def update_item(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        if item.phase in (ENABLING, FAILING_OVER, COMMITTING, REPROTECTING, DISABLING) or item.tfo in (TFO_RUNNING, TFO_CLEANING):
            raise ArmError(
                409,
                "OperationInProgress",
                f"Replicated item '{item.name}' has an operation in progress ({PROTECTION_STATES[item.phase][1]}). "
                "Wait for the job to finish, then update it.",
            )
        props = props_of(body)
        specific = props.get("providerSpecificDetails") or {}
        kind = opt_str(specific.get("instanceType")) or item.provider
        if kind != item.provider:
            raise ArmError(
                400, "InvalidParameter", f"Replicated item '{item.name}' uses provider '{item.provider}', not '{kind}'."
            )
        changes: dict[str, Any] = {}
        ppg_key = {A2A: "recoveryProximityPlacementGroupId"}.get(item.provider, "targetProximityPlacementGroupId")
        if ppg_key in specific:
            new_ppg = specific.get(ppg_key)
            if item.recovery_ppg_id and not new_ppg:
                raise ArmError(
                    400,
                    "ProximityPlacementGroupRemovalNotSupported",
                    f"Removing the proximity placement group from the replication settings of replicated item '{item.name}' "
                    "is not supported. Disable replication and enable it again without a target PPG.",
                )
            if new_ppg:
                changes["recovery_ppg_id"] = str(new_ppg)
        for top, attr in (
            ("recoveryAzureVMName", "recovery_vm_name"),
            ("recoveryAzureVMSize", "recovery_vm_size"),
            ("selectedRecoveryAzureNetworkId", "recovery_network_id"),
            ("selectedTfoAzureNetworkId", "tfo_network_id"),
            ("recoveryAvailabilitySetId", "recovery_avset_id"),
        ):
            if opt_str(props.get(top)):
                changes[attr] = props[top]
        specific_map = {
            A2A: {
                "recoveryResourceGroupId": "recovery_rg_id",
                "recoveryAvailabilityZone": "recovery_zone",
                "recoveryCapacityReservationGroupId": "recovery_crg_id",
                "tfoAzureVMName": "tfo_vm_name",
            },
            INMAGE_RCM: {
                "targetVmName": "recovery_vm_name",
                "targetVmSize": "recovery_vm_size",
                "targetResourceGroupId": "recovery_rg_id",
                "targetAvailabilitySetId": "recovery_avset_id",
                "targetAvailabilityZone": "recovery_zone",
                "targetNetworkId": "recovery_network_id",
                "testNetworkId": "tfo_network_id",
                "targetCapacityReservationGroupId": "recovery_crg_id",
            },
            HYPERV_AZURE: {
                "recoveryAzureV2ResourceGroupId": "recovery_rg_id",
                "targetAvailabilityZone": "recovery_zone",
                "targetCapacityReservationGroupId": "recovery_crg_id",
            },
        }[item.provider]
        for source, attr in specific_map.items():
            if opt_str(specific.get(source)):
                changes[attr] = specific[source]
        disk_updates = specific.get("managedDiskUpdateDetails") or []
        rg = changes.get("recovery_rg_id", item.recovery_rg_id)
        refusal = first_refusal(
            UPDATE,
            lambda: self._validate_placement(
                rg,
                changes.get("recovery_ppg_id", item.recovery_ppg_id),
                changes.get("recovery_avset_id", item.recovery_avset_id),
                item.recovery_location,
                what="update the replicated item",
            ),
        )

        def done(_: Job) -> None:
            for attr, value in changes.items():
                setattr(item, attr, value)
            for upd in disk_updates:
                for disk in item.disks:
                    if same_id(disk.disk_id, opt_str(upd.get("diskId"))):
                        disk.target_account_type = opt_str(upd.get("recoveryTargetDiskAccountType")) or disk.target_account_type
                        disk.replica_account_type = (
                            opt_str(upd.get("recoveryReplicaDiskAccountType")) or disk.replica_account_type
                        )

        return self._start_job(
            vault,
            "UpdateVmProperties",
            target=self._item_target(item),
            duration_s=self.timings.update_s,
            tasks=[TaskSpec("UpdateVmPropertiesTask", "Update the virtual machine properties")],
            on_complete=done,
            result=lambda: self.item_body(item),
            custom=self._affected(item),
            refusal=refusal,
        )


def has_unmanaged_disks(vm_props: dict[str, Any]) -> bool:
    storage = vm_props.get("storageProfile") or {}
    disks = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
    return any(isinstance(d, dict) and d.get("vhd") for d in disks)


def vm_os_type(vm_props: dict[str, Any]) -> str:
    os_disk = (vm_props.get("storageProfile") or {}).get("osDisk") or {}
    return opt_str(os_disk.get("osType")) or "Windows"


def vm_nic_names(vm_props: dict[str, Any], vm_name: str) -> list[str]:
    nics = (vm_props.get("networkProfile") or {}).get("networkInterfaces") or []
    names = [last_segment(n["id"]) for n in nics if isinstance(n, dict) and opt_str(n.get("id"))]
    return names or [f"{vm_name}-nic"]


def _disk(
    disk_id: str, known: tuple[str, str, int], entry: dict[str, Any], recovery_rg_id: str, resource: dict[str, Any] | None
) -> Disk:
    name, kind, size_gb = known
    sku = opt_str(((resource or {}).get("sku") or {}).get("name")) or "Standard_LRS"
    size = int(props_of(resource).get("diskSizeGB") or size_gb) if resource else size_gb
    return Disk(
        disk_id=disk_id,
        name=opt_str((resource or {}).get("name")) or name,
        disk_type=kind,
        capacity_bytes=size << 30,
        recovery_rg_id=opt_str(entry.get("recoveryResourceGroupId")) or recovery_rg_id,
        replica_account_type=opt_str(entry.get("recoveryReplicaDiskAccountType")) or sku,
        target_account_type=opt_str(entry.get("recoveryTargetDiskAccountType")) or sku,
        staging_account_id=opt_str(entry.get("primaryStagingAzureStorageAccountId")),
    )


def enable_tasks() -> list[TaskSpec]:
    """The recorded EnableDr tasks, taskId and name as Azure gives them (PPG recording at 19:26:44)."""
    return [
        TaskSpec(
            "EnableProtectionPrerequisitesCheck",
            "Prerequisites check for enabling protection",
            task_id="EnableProtectionPreflightChecksTask",
        ),
        TaskSpec(
            "CreateProtectionTarget", "Installing Mobility Service and preparing target", 2, task_id="CreateProtectionTargetTask"
        ),
        TaskSpec("EnableProtection", "Enable replication", 2, task_id="EnableProtectionTask"),
        TaskSpec("VmStartInitialReplication", "Starting initial replication", task_id="StartInitialReplicationTask"),
        TaskSpec("UpdateDraState", "Updating the provider states", task_id="UpdateDraStateTask"),
    ]
