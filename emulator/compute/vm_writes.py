"""VM writes: create / update (validated against Azure's placement rules), delete, power actions, seeding.

The rules Azure enforces on placement are what ppg-dr exists to work with, so they are modelled:
the VM, its availability set and its PPG must share a region; the set's PPG must be the VM's PPG;
the PPG of a running VM cannot change; a PPG may refuse a VM size (``OverconstrainedAllocationRequest``).
``put_vm`` is also how Site Recovery creates failed-over VMs; with ``allow_placement_fallback`` it
does what ASR documents: create the VM outside the PPG and its availability set, and say so.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from emulator.arm import key, normalise_location, parse_id, resource_id, same_location
from emulator.clock import iso
from emulator.compute.capacity import overconstrained
from emulator.compute.vms import VM_TYPE, Vm, VmViewsMixin, vm_os_type
from emulator.errors import ArmError
from emulator.events import ACTION, DELETE, WRITE
from emulator.operations import Operation

_WRITE_ONLY = ("adminPassword", "customData")


class VmWritesMixin(VmViewsMixin):
    """ARM writes start an operation on the clock (``begin_*``); Site Recovery and seeding write at once."""

    def put_vm(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        body: dict[str, Any],
        *,
        allow_placement_fallback: bool = False,
    ) -> dict[str, Any]:
        """Create or update a VM synchronously (used by Site Recovery for failed-over VMs).

        Raises ``ArmError(409, "OverconstrainedAllocationRequest")`` when the PPG refuses the size,
        unless ``allow_placement_fallback``: then the VM is created outside the PPG and its
        availability set, and the fallback is recorded (``placement_fallbacks``, ``vm_placement``).
        """
        vm, refusal = self._write_vm(subscription, resource_group, name, body, allow_fallback=allow_placement_fallback)
        if refusal is not None:
            raise refusal
        self._finish_write(vm, created=True)
        return self.render_vm(vm)

    def begin_put_vm(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        body: dict[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> tuple[dict[str, Any], Operation, bool]:
        """The ARM PUT: validate now, allocate on the operation (which fails on a capacity refusal)."""
        existing = self.vms.get(key(self._vm_id(subscription, resource_group, name)))
        self._check_etag(existing, if_match, if_none_match)
        vm, refusal = self._write_vm(subscription, resource_group, name, body, allow_fallback=False)
        created = existing is None
        vm.provisioning = "Creating" if created else "Updating"
        answer = self.render_vm(vm)  # ARM answers with the state at acceptance, even if the work is instant
        op = self._start_write(vm, "vm.create" if created else "vm.update", refusal, created=created)
        return answer, op, created

    def begin_patch_vm(
        self, subscription: str, resource_group: str, name: str, patch: dict[str, Any], *, if_match: str | None = None
    ) -> tuple[dict[str, Any], Operation]:
        """The ARM PATCH (``VirtualMachineUpdate``): merge into the current VM, then write it."""
        current = self._vm(subscription, resource_group, name)
        self._check_etag(current, if_match, None)
        merged = copy.deepcopy(current.body)
        if "tags" in patch:
            merged["tags"] = dict(patch["tags"] or {})
        if "zones" in patch:
            merged["zones"] = patch["zones"]
        deep_merge(merged.setdefault("properties", {}), patch.get("properties") or {})
        vm, refusal = self._write_vm(subscription, resource_group, name, merged, allow_fallback=False)
        vm.provisioning = "Updating"
        answer = self.render_vm(vm)
        op = self._start_write(vm, "vm.update", refusal, created=False)
        return answer, op

    def _start_write(self, vm: Vm, kind: str, refusal: ArmError | None, *, created: bool) -> Operation:
        def complete() -> None:
            if refusal is not None:
                vm.provisioning, vm.power, vm.failure = "Failed", "deallocated", refusal
                self._refresh_pin(vm.ref("proximityPlacementGroup"))
                raise refusal
            self._finish_write(vm, created=created)

        op = self.operations.start(kind, self.durations.get(kind, 0.0), complete, context={"resourceId": vm.id})
        vm.pending = op
        return op

    def _finish_write(self, vm: Vm, *, created: bool) -> None:
        vm.provisioning, vm.failure, vm.pending = "Succeeded", None, None
        if created:
            vm.power = "running"
        self._emit(WRITE, vm.id, "Microsoft.Compute/virtualMachines/write")

    def _write_vm(
        self, subscription: str, resource_group: str, name: str, body: dict[str, Any], *, allow_fallback: bool
    ) -> tuple[Vm, ArmError | None]:
        """Validate and store a VM body; returns the VM and the capacity refusal, if any."""
        rid = self._vm_id(subscription, resource_group, name)
        existing = self.vms.get(key(rid))
        if existing is not None and existing.provisioning == "Deleting":
            raise ArmError(409, "OperationNotAllowed", f"Virtual machine '{name}' is being deleted.")
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        location = normalise_location(location)
        if existing is not None and not same_location(existing.body["location"], location):
            raise ArmError(
                409, "InvalidResourceLocation", f"The resource '{name}' already exists in location '{existing.body['location']}'."
            )
        props = copy.deepcopy(body.get("properties") or {})
        size = (props.get("hardwareProfile") or {}).get("vmSize")
        if not size:
            raise ArmError(400, "InvalidParameter", "Required parameter 'hardwareProfile.vmSize' is missing (null).")
        if not (props.get("storageProfile") or {}).get("osDisk") and not (props.get("storageProfile") or {}).get(
            "imageReference"
        ):
            raise ArmError(400, "InvalidParameter", "Required parameter 'storageProfile.osDisk' is missing (null).")
        zones = body.get("zones")
        ppg_ref, avset_ref = self._placement_refs(name, location, zones, props, existing)
        refusal: ArmError | None = None
        fallback: dict[str, Any] | None = None
        if ppg_ref and not self.capacity_allows(ppg_ref, size):
            refusal = overconstrained(ppg_ref, size)
        elif ppg_ref and (existing is None or existing.power != "deallocated"):
            # Only an allocation is placed: creating, or writing a VM that holds its allocation.
            refusal = self._allocate(ppg_ref, location=location, size=size, zones=zones)
        if refusal is not None and allow_fallback:
            fallback = {
                "vmId": rid,
                "vmSize": size,
                "requestedProximityPlacementGroup": ppg_ref,
                "requestedAvailabilitySet": avset_ref,
                "reason": refusal.code,
                "time": iso(self.clock.now()),
            }
            ppg_ref = avset_ref = None
            refusal = None
        previous_ppg = existing.ref("proximityPlacementGroup") if existing is not None else None
        if ppg_ref:
            props["proximityPlacementGroup"] = {"id": self.placement.ppgs[key(ppg_ref)]["id"]}
        else:
            props.pop("proximityPlacementGroup", None)
        if avset_ref:
            props["availabilitySet"] = {"id": self.placement.avsets[key(avset_ref)]["id"]}
        else:
            props.pop("availabilitySet", None)
        vm_body: dict[str, Any] = {
            "id": existing.id if existing else rid,
            "name": existing.body["name"] if existing else name,
            "type": VM_TYPE,
            "location": location,
            "properties": props,
        }
        if body.get("tags") is not None:
            vm_body["tags"] = dict(body["tags"])
        if zones:
            vm_body["zones"] = list(zones)
        for extra in ("plan", "identity", "extendedLocation"):
            if body.get(extra) is not None:
                vm_body[extra] = copy.deepcopy(body[extra])
        props["vmId"] = (existing.props.get("vmId") if existing else None) or str(uuid.uuid4())
        props["timeCreated"] = (existing.props.get("timeCreated") if existing else None) or iso(self.clock.now())
        props.pop("provisioningState", None)
        props.pop("instanceView", None)
        self._normalise_os_profile(name, props)
        disk_ids = self._materialise_disks(subscription, resource_group, name, vm_body)
        vm = existing or Vm(body=vm_body, subscription=subscription, resource_group=resource_group)
        if existing is not None:
            for old in set(existing.disk_ids) - {key(d) for d in disk_ids}:
                self.disks.detach(old)
            vm.body = vm_body
            vm.etag += 1
        vm.disk_ids = [key(d) for d in disk_ids]
        for disk_id in disk_ids:
            self.disks.attach(disk_id, vm.id)
        if fallback is not None:
            vm.placement_fallback = fallback
            self.placement_fallbacks.append(fallback)
        elif existing is None:
            vm.placement_fallback = None
        self.vms[key(rid)] = vm
        self._index(vm)
        if previous_ppg and key(previous_ppg) != key(ppg_ref or ""):
            self._refresh_pin(previous_ppg)
        return vm, refusal

    def _placement_refs(
        self,
        name: str,
        location: str,
        zones: Any,
        props: dict[str, Any],
        existing: Vm | None,
    ) -> tuple[str | None, str | None]:
        """Validate PPG + availability set references the way Azure does; returns the effective ids."""
        ppg_ref = (props.get("proximityPlacementGroup") or {}).get("id")
        avset_ref = (props.get("availabilitySet") or {}).get("id")
        ppg = avset = None
        if avset_ref:
            avset = self.placement.avset_by_id(avset_ref)
            if avset is None:
                parsed = parse_id(avset_ref)
                raise ArmError(
                    404,
                    "NotFound",
                    f"Availability set '{parsed.name}' in resource group '{parsed.resource_group}' was not found.",
                )
            if not same_location(avset["location"], location):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Virtual machine '{name}' is in '{location}' but availability set '{avset['name']}' is in "
                    f"'{avset['location']}'; they must be in the same region.",
                )
            if zones:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    "A virtual machine cannot be in an availability set and an availability zone at the same time.",
                )
        if ppg_ref:
            ppg = self.placement.ppg_by_id(ppg_ref)
            if ppg is None:
                parsed = parse_id(ppg_ref)
                raise ArmError(
                    404,
                    "NotFound",
                    f"Proximity placement group '{parsed.name}' in resource group '{parsed.resource_group}' was not found.",
                )
            if not same_location(ppg["location"], location):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Virtual machine '{name}' is in '{location}' but proximity placement group '{ppg['name']}' is in "
                    f"'{ppg['location']}'; they must be in the same region.",
                )
            if ppg.get("zones") and zones and sorted(zones) != sorted(ppg["zones"]):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Virtual machine '{name}' zones {zones} do not match proximity placement group "
                    f"'{ppg['name']}' zones {ppg['zones']}.",
                )
        if avset is not None:
            set_ppg = (avset["properties"].get("proximityPlacementGroup") or {}).get("id")
            if ppg_ref is None and set_ppg:
                ppg_ref = set_ppg
            elif key(ppg_ref or "") != key(set_ppg or ""):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Virtual machine '{name}' asks for proximity placement group '{ppg_ref}' but its availability set "
                    f"'{avset['name']}' is in '{set_ppg or 'no proximity placement group'}'; they must match.",
                )
        if existing is not None:
            if key(existing.ref("availabilitySet") or "") != key(avset_ref or ""):
                # Also after an ASR fallback created the VM outside its set: a VM's set never changes
                # (Azure/azure-powershell#1820); the documented way is to recreate the VM.
                raise ArmError(409, "PropertyChangeNotAllowed", "Changing property 'availabilitySet.id' is not allowed.")
            if key(existing.ref("proximityPlacementGroup") or "") != key(ppg_ref or "") and existing.power not in (
                "deallocated",
            ):
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The proximity placement group of virtual machine '{name}' can only change while it is deallocated. "
                    "Deallocate the VM, update it, then start it.",
                )
        return ppg_ref, avset_ref

    @staticmethod
    def _normalise_os_profile(name: str, props: dict[str, Any]) -> None:
        os_profile = props.get("osProfile")
        if os_profile is None:
            return
        for secret in _WRITE_ONLY:
            os_profile.pop(secret, None)
        os_profile.setdefault("computerName", name)
        os_profile.setdefault("secrets", [])
        if "linuxConfiguration" not in os_profile and vm_os_type(props) == "Windows":
            os_profile.setdefault("windowsConfiguration", {"provisionVMAgent": True, "enableAutomaticUpdates": True})
        elif "windowsConfiguration" not in os_profile:
            os_profile.setdefault("linuxConfiguration", {"disablePasswordAuthentication": False, "provisionVMAgent": True})

    def _materialise_disks(self, subscription: str, resource_group: str, vm_name: str, vm_body: dict[str, Any]) -> list[str]:
        """Managed OS/data disks become disk resources; unmanaged ``vhd`` disks are kept as they are."""
        storage = vm_body["properties"].setdefault("storageProfile", {})
        os_disk = storage.setdefault("osDisk", {"createOption": "FromImage"})
        os_disk.setdefault("osType", vm_os_type(vm_body["properties"]))
        storage.setdefault("dataDisks", [])
        ids: list[str] = []
        default_os_name = f"{vm_name}_OsDisk_1_{uuid.uuid4().hex}"
        entries = [(os_disk, default_os_name)] + [
            (d, f"{vm_name}_DataDisk_{d.get('lun', i)}") for i, d in enumerate(storage["dataDisks"])
        ]
        for disk, default_name in entries:
            disk.setdefault("caching", "ReadWrite" if disk is os_disk else "None")
            if disk.get("vhd"):
                disk.setdefault("name", default_name)
                continue
            managed = disk.setdefault("managedDisk", {})
            managed.setdefault("storageAccountType", "Standard_LRS")
            if managed.get("id"):
                found = self.disks.by_id(managed["id"])
                if found is None:
                    if (disk.get("createOption") or "").lower() == "attach":
                        parsed = parse_id(managed["id"])
                        raise ArmError(
                            404, "NotFound", f"Disk '{parsed.name}' in resource group '{parsed.resource_group}' was not found."
                        )
                    parsed = parse_id(managed["id"])
                    found = self._create_vm_disk(
                        parsed.subscription, parsed.resource_group or resource_group, parsed.name or default_name, disk, vm_body
                    )
                holder = found.get("managedBy")
                if holder and key(holder) != key(vm_body["id"]):
                    raise ArmError(409, "OperationNotAllowed", f"Disk '{found['name']}' is already attached to VM '{holder}'.")
                disk["name"] = found["name"]
                managed["id"] = found["id"]
            else:
                found = self._create_vm_disk(subscription, resource_group, disk.get("name") or default_name, disk, vm_body)
                disk["name"] = found["name"]
                managed["id"] = found["id"]
            disk.setdefault("diskSizeGB", found["properties"]["diskSizeGB"])
            ids.append(found["id"])
        return ids

    def _create_vm_disk(
        self, subscription: str, resource_group: str, name: str, disk: dict[str, Any], vm_body: dict[str, Any]
    ) -> dict[str, Any]:
        existing = self.disks.by_id(resource_id(subscription, resource_group, "Microsoft.Compute", "disks", name))
        if existing is not None:
            return existing
        body: dict[str, Any] = {
            "location": vm_body["location"],
            "sku": {"name": disk["managedDisk"].get("storageAccountType", "Standard_LRS")},
            "properties": {
                "creationData": {"createOption": "FromImage" if disk.get("createOption") == "FromImage" else "Empty"},
                "diskSizeGB": disk.get("diskSizeGB") or (30 if "osType" in disk else 32),
            },
        }
        if disk.get("osType"):
            body["properties"]["osType"] = disk["osType"]
        if vm_body.get("zones"):
            body["zones"] = vm_body["zones"]
        stored, _ = self.disks.put(subscription, resource_group, name, body, now=self.clock.now())
        return stored

    def delete_vm(self, subscription: str, resource_group: str, name: str) -> bool:
        """Delete now (Site Recovery cleanup, admin); returns whether it existed."""
        vm = self.vms.get(key(self._vm_id(subscription, resource_group, name)))
        if vm is None:
            return False
        self._remove(vm)
        return True

    def deallocate_vm(self, vm_id: str) -> bool:
        """Deallocate now (Site Recovery shutting a VM down); False when there is no such VM."""
        vm = self.vms.get(key(vm_id))
        if vm is None:
            return False
        if vm.power != "deallocated":
            vm.power = "deallocated"
            self._refresh_pin(vm.ref("proximityPlacementGroup"))
            self._emit(ACTION, vm.id, "Microsoft.Compute/virtualMachines/deallocate/action")
        return True

    def begin_delete_vm(self, subscription: str, resource_group: str, name: str) -> Operation | None:
        """The ARM DELETE: None when there is nothing to delete (ARM answers 204)."""
        vm = self.vms.get(key(self._vm_id(subscription, resource_group, name)))
        if vm is None:
            return None
        vm.provisioning = "Deleting"
        op = self.operations.start(
            "vm.delete", self.durations["vm.delete"], lambda: self._remove(vm), context={"resourceId": vm.id}
        )
        vm.pending = op
        return op

    def _remove(self, vm: Vm) -> None:
        if self.vms.pop(key(vm.id), None) is None:
            return
        self._unindex(vm)
        self._refresh_pin(vm.ref("proximityPlacementGroup"))
        storage = vm.props.get("storageProfile") or {}
        for disk in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]:
            disk_id = (disk.get("managedDisk") or {}).get("id")
            if not disk_id:
                continue
            if (disk.get("deleteOption") or "").lower() == "delete":
                self.disks.disks.pop(key(disk_id), None)
            else:
                self.disks.detach(disk_id)
        self._emit(DELETE, vm.id, "Microsoft.Compute/virtualMachines/delete")

    def begin_action(self, subscription: str, resource_group: str, name: str, action: str) -> Operation:
        """start / deallocate / powerOff / restart: the power state changes when the operation completes."""
        vm = self._vm(subscription, resource_group, name)
        if vm.provisioning in ("Creating", "Deleting"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation '{action}' is not allowed on VM '{name}' while it is {vm.provisioning.lower()}.",
            )
        transitions = {
            "start": ("starting", "running"),
            "deallocate": ("deallocating", "deallocated"),
            "powerOff": ("stopping", "stopped"),
            "restart": ("starting", "running"),
        }
        if action not in transitions:
            raise ArmError(400, "InvalidParameter", f"Unknown action '{action}'.")
        if action == "restart" and vm.power != "running":
            raise ArmError(409, "OperationNotAllowed", f"Cannot restart VM '{name}' because it is not running ({vm.power}).")
        during, after = transitions[action]
        before = vm.power
        refusal: ArmError | None = None
        ppg = vm.ref("proximityPlacementGroup")
        if action == "start" and before == "deallocated" and ppg:
            size = (vm.props.get("hardwareProfile") or {}).get("vmSize", "")
            if not self.capacity_allows(ppg, size):
                refusal = overconstrained(ppg, size)
            else:
                refusal = self._allocate(ppg, location=vm.body["location"], size=size, zones=vm.body.get("zones"))
        vm.power = during

        def complete() -> None:
            if refusal is not None:
                vm.power = before
                raise refusal
            vm.power = after
            if after == "deallocated":
                self._refresh_pin(ppg)
            self._emit(ACTION, vm.id, f"Microsoft.Compute/virtualMachines/{action}/action")

        kind = f"vm.{action}"
        return self.operations.start(kind, self.durations.get(kind, 0.0), complete, context={"resourceId": vm.id})

    def seed_vms(
        self,
        subscription: str,
        resource_group: str,
        count: int,
        *,
        location: str = "westeurope",
        vm_size: str = "Standard_D2s_v5",
        name_prefix: str = "vm",
        start_index: int = 0,
        proximity_placement_group_id: str | None = None,
        tags: dict[str, str] | None = None,
        zones: list[str] | None = None,
        power: str = "running",
    ) -> list[str]:
        """Create many VMs at once without HTTP or events (large estates for scale tests)."""
        created: list[str] = []
        for index in range(start_index, start_index + count):
            name = f"{name_prefix}{index:05d}"
            body: dict[str, Any] = {
                "location": location,
                "tags": dict(tags or {}),
                "properties": {
                    "hardwareProfile": {"vmSize": vm_size},
                    "storageProfile": {
                        "imageReference": {
                            "publisher": "Canonical",
                            "offer": "ubuntu-24_04-lts",
                            "sku": "server",
                            "version": "latest",
                        },
                        "osDisk": {
                            "name": f"{name}-os",
                            "createOption": "FromImage",
                            "managedDisk": {"storageAccountType": "Premium_LRS"},
                        },
                    },
                    "osProfile": {"computerName": name, "adminUsername": "azureuser"},
                    "networkProfile": {
                        "networkInterfaces": [
                            {
                                "id": resource_id(
                                    subscription, resource_group, "Microsoft.Network", "networkInterfaces", f"{name}-nic"
                                )
                            }
                        ]
                    },
                },
            }
            if proximity_placement_group_id:
                body["properties"]["proximityPlacementGroup"] = {"id": proximity_placement_group_id}
            if zones:
                body["zones"] = zones
            vm, refusal = self._write_vm(subscription, resource_group, name, body, allow_fallback=False)
            if refusal is not None:
                raise refusal
            vm.provisioning, vm.power = "Succeeded", power
            created.append(vm.id)
        return created


def deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """PATCH semantics of ARM: objects merge, everything else (incl. lists) replaces; null removes."""
    for name, value in patch.items():
        if value is None:
            target.pop(name, None)
        elif isinstance(value, dict) and isinstance(target.get(name), dict):
            deep_merge(target[name], value)
        else:
            target[name] = copy.deepcopy(value)
