"""What Site Recovery does to Compute VMs: create the failed-over VM, shut the source down, retire old targets.

- **Failover** creates the VM in the recovery resource group through the compute backend, in the item's
  recovery PPG and availability set (PPG recording 19:56:05; cluster commit entries[-1]); when Compute
  refuses the allocation there (``OverconstrainedAllocationRequest``) the VM is created outside both,
  as ASR documents (reference article, lines 31-32), and the job carries an informational error.
- **Source shutdown** (``sourceSiteOperations`` Required) runs the recorded task "Shut down the virtual
  machine"; what power state the VM is left in is not recorded: the emulator deallocates it (choice).
- **Switch protection towards the original region** deletes the old target VM (the original source VM)
  before reverse replication; towards the DR region it only turns it off (azure-docs
  ``azure-to-azure-how-to-reprotect.md`` @ dc779061: "the target VM (original source VM), and associated
  NIC(s) are deleted ... when the VM is re-protected again from the primary region to disaster recovery
  region after failback, we do not delete the VM").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emulator.asr.models.common import last_segment, opt_str, props_of, ref_id, rg_of, same_id, sub_of
from emulator.asr.models.core import AsrCore
from emulator.asr.models.items import Disk, ProtectedItem
from emulator.asr.models.jobs import job_error


class FailoverVmsMixin(AsrCore):
    """Compute writes Site Recovery makes on behalf of failovers and switch protection."""

    def _place_vm(self, item: ProtectedItem, *, test: bool, when: datetime) -> tuple[str, dict[str, Any] | None]:
        """Create (or reuse) the VM a failover brings up; returns its id and the fallback note, if any."""
        sub = sub_of(item.recovery_rg_id) or item.vault.subscription
        rg = rg_of(item.recovery_rg_id) or last_segment(item.recovery_rg_id)
        name = item.tfo_vm_name if test else item.recovery_vm_name
        size = item.recovery_vm_size or item.vm_size
        vm_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        existing = None if test else self.compute.find(vm_id)
        body = self._existing_vm_body(existing) if existing is not None else self._new_vm_body(item, sub, rg, test=test)
        props = body["properties"]
        props["hardwareProfile"] = {"vmSize": size}
        if existing is None or item.recovery_ppg_id:
            props.pop("proximityPlacementGroup", None)
        if existing is None or item.recovery_avset_id:
            props.pop("availabilitySet", None)
        if item.recovery_ppg_id:
            props["proximityPlacementGroup"] = {"id": item.recovery_ppg_id}
        if item.recovery_avset_id:
            props["availabilitySet"] = {"id": item.recovery_avset_id}
        if item.recovery_zone and existing is None:
            body["zones"] = [item.recovery_zone]
        if item.recovery_crg_id:
            props["capacityReservation"] = {"capacityReservationGroup": {"id": item.recovery_crg_id}}
        created = self.compute.put_vm(sub, rg, name, body, allow_placement_fallback=True)
        created_props = props_of(created)
        if not test:
            self._remember_target_disks(item, created_props)
        created_id = opt_str(created.get("id")) or vm_id
        note: dict[str, Any] | None = None
        if item.recovery_ppg_id and not same_id(ref_id(created_props.get("proximityPlacementGroup")), item.recovery_ppg_id):
            outside = "the proximity placement group"
            if item.recovery_avset_id:
                outside += " and the availability set"
            note = job_error(
                "OverconstrainedAllocationRequest",
                f"Virtual machine '{name}' ({size}) was created outside {outside} '{item.recovery_ppg_id}' because the "
                "allocation could not be satisfied inside it (OverconstrainedAllocationRequest). Site Recovery places VMs "
                "in a proximity placement group on a best-effort basis. Move the VM into the PPG when capacity is "
                "available (deallocate, set the PPG, start), or fail over again.",
                "Info",
                when,
                None,
                error_id=self._stable_id(item.id, "fallback", created_id, str(when)),
            )
        return created_id, note

    @staticmethod
    def _existing_vm_body(existing: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "location": existing.get("location"),
            "tags": dict(existing.get("tags") or {}),
            "properties": {k: v for k, v in props_of(existing).items() if k not in ("provisioningState", "instanceView", "vmId")},
        }
        if existing.get("zones"):
            body["zones"] = existing["zones"]
        return body

    def _new_vm_body(self, item: ProtectedItem, sub: str, rg: str, *, test: bool) -> dict[str, Any]:
        suffix = "-ASRtest" if test else ""
        disks = item.disks or [
            Disk(
                "",
                f"{item.recovery_vm_name}_OsDisk",
                "OperatingSystem",
                127 << 30,
                item.recovery_rg_id,
                "Standard_LRS",
                "Standard_LRS",
            )
        ]
        storage: dict[str, Any] = {"dataDisks": []}
        for disk in disks:
            disk_name = f"{disk.name}{suffix}"
            disk_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{disk_name}"
            entry = {
                "name": disk_name,
                # ASR attaches the disk it seeded from the replica; the emulator lets Compute create it.
                "createOption": "Attach" if self.compute.find(disk_id) is not None else "Empty",
                "diskSizeGB": max(1, disk.capacity_bytes >> 30),
                "managedDisk": {"id": disk_id, "storageAccountType": disk.target_account_type},
            }
            if disk.disk_type == "OperatingSystem":
                storage["osDisk"] = {"osType": item.os_type, **entry}
            else:
                storage["dataDisks"].append({"lun": len(storage["dataDisks"]), **entry})
        nic_prefix = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces"
        nics = [
            {"id": f"{nic_prefix}/{nic}{'-test' if test else ''}", "properties": {"primary": index == 0}}
            for index, nic in enumerate(item.nic_names or [f"{item.recovery_vm_name}-nic"])
        ]
        return {
            "location": item.recovery_location,
            "tags": self.synced_tags(item),
            "properties": {"storageProfile": storage, "networkProfile": {"networkInterfaces": nics}},
        }

    @staticmethod
    def _remember_target_disks(item: ProtectedItem, vm_props: dict[str, Any]) -> None:
        """Which disk of the failed-over VM each replicated disk became (``recoveryTargetDiskId``)."""
        storage = vm_props.get("storageProfile") or {}
        used = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
        by_name = {str(d.get("name", "")).lower(): ref_id(d.get("managedDisk")) for d in used}
        for disk in item.disks:
            disk.target_disk_id = by_name.get(disk.name.lower())

    def _shut_down_source(self, item: ProtectedItem) -> bool:
        """The recorded "Shut down the virtual machine" task; False when there is no source VM to shut down."""
        return self.compute.deallocate_vm(item.source_vm_id)

    def _retire_old_target(self, vm_id: str, *, towards_origin: bool) -> None:
        """Switch protection: delete the VM reverse replication will overwrite when it is the original source
        (replicating back to the VM's own region), else only turn it off."""
        if towards_origin:
            sub, rg = sub_of(vm_id), rg_of(vm_id)
            if sub and rg:
                self.compute.delete_vm(sub, rg, last_segment(vm_id))
        else:
            self.compute.deallocate_vm(vm_id)
