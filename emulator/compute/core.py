"""The base of the compute backend: its stores, PPG / availability set membership, events and capacity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.arm import key, resource_id
from emulator.clock import Clock
from emulator.compute.capacity import CapacityModel
from emulator.compute.disks import DiskStore
from emulator.compute.placement import PlacementStore
from emulator.errors import ArmError
from emulator.events import EventEmitter
from emulator.operations import Operations

if TYPE_CHECKING:
    from emulator.compute.vms import Vm

#: Virtual seconds each long-running compute operation takes (0 = done at the first poll).
DEFAULT_DURATIONS: dict[str, float] = {
    "vm.create": 0.0,
    "vm.update": 0.0,
    "vm.delete": 0.0,
    "vm.start": 0.0,
    "vm.deallocate": 0.0,
    "vm.powerOff": 0.0,
    "vm.restart": 0.0,
    "disk.write": 0.0,
    "disk.delete": 0.0,
}


class ComputeCore:
    """State of Microsoft.Compute for the emulator: VMs, PPGs / availability sets / CRGs, disks."""

    def __init__(self, *, clock: Clock, operations: Operations, events: EventEmitter | None = None) -> None:
        self.clock = clock
        self.operations = operations
        self.events = events
        self.durations: dict[str, float] = dict(DEFAULT_DURATIONS)
        self.vms: dict[str, Vm] = {}
        self.capacity_model = CapacityModel()
        self.placement = PlacementStore(self._members, self.capacity_model)
        self.disks = DiskStore()
        self.placement_fallbacks: list[dict[str, Any]] = []
        self._ppg_members: dict[str, dict[str, str]] = {}
        self._avset_members: dict[str, dict[str, str]] = {}

    def _members(self, kind: str, resource_key: str) -> list[str]:
        index = self._ppg_members if kind == "ppg" else self._avset_members
        return list(index.get(resource_key, {}).values())

    def _index(self, vm: Vm) -> None:
        vm_key = key(vm.id)
        for index, ref in (
            (self._ppg_members, vm.ref("proximityPlacementGroup")),
            (self._avset_members, vm.ref("availabilitySet")),
        ):
            for members in index.values():
                members.pop(vm_key, None)
            if ref:
                index.setdefault(key(ref), {})[vm_key] = vm.id

    def _unindex(self, vm: Vm) -> None:
        vm_key = key(vm.id)
        for index in (self._ppg_members, self._avset_members):
            for members in index.values():
                members.pop(vm_key, None)

    def _emit(self, event_type: str, rid: str, operation: str) -> None:
        if self.events is not None:
            self.events.emit(event_type, rid, operation)

    def capacity_allows(self, ppg_id: str, vm_size: str) -> bool:
        """Would the PPG's datacenter host this size now? (the admin-configured capacity model)"""
        return self.placement.capacity_allows(ppg_id, vm_size)

    def set_capacity(self, ppg_id: str, refused_sizes: list[str]) -> None:
        self.placement.set_capacity(ppg_id, refused_sizes)

    def _allocate(self, ppg_ref: str, *, location: str, size: str, zones: Any) -> ArmError | None:
        """Place an allocation in the PPG's datacenter (pinning it on the first one); the refusal, or None."""
        ppg = self.placement.ppg_by_id(ppg_ref)
        if ppg is None:
            return None
        intent = [str(s) for s in ((ppg.get("properties") or {}).get("intent") or {}).get("vmSizes") or []]
        zone = str(zones[0]) if isinstance(zones, list) and zones else None
        return self.capacity_model.allocate(
            key(ppg_ref), ppg["id"], location=location, size=size, zone=zone, ppg_zones=ppg.get("zones"), intent=intent
        )

    def _refresh_pin(self, ppg_ref: str | None) -> None:
        """Unpin a PPG once none of its members is allocated (all deallocated or deleted)."""
        if not ppg_ref:
            return
        for vm_id in self._members("ppg", key(ppg_ref)):
            vm = self.vms.get(key(vm_id))
            if vm is not None and vm.power != "deallocated":
                return
        self.capacity_model.unpin(key(ppg_ref))

    def reset(self) -> None:
        self.vms.clear()
        self.placement.reset()
        self.capacity_model.reset()
        self.disks.reset()
        self.placement_fallbacks.clear()
        self._ppg_members.clear()
        self._avset_members.clear()
        self.durations = dict(DEFAULT_DURATIONS)

    @staticmethod
    def _vm_id(subscription: str, resource_group: str, name: str) -> str:
        return resource_id(subscription, resource_group, "Microsoft.Compute", "virtualMachines", name)

    def _vm(self, subscription: str, resource_group: str, name: str) -> Vm:
        vm = self.vms.get(key(self._vm_id(subscription, resource_group, name)))
        if vm is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group '{resource_group}' was not found. "
                "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        return vm

    @staticmethod
    def _check_etag(vm: Vm | None, if_match: str | None, if_none_match: str | None) -> None:
        current = f'"{vm.etag}"' if vm else None
        if if_match and (current is None or (if_match != "*" and if_match != current)):
            raise ArmError(412, "PreconditionFailed", "The specified precondition 'If-Match' failed.")
        if if_none_match and current is not None and if_none_match in ("*", current):
            raise ArmError(412, "PreconditionFailed", "The specified precondition 'If-None-Match' failed.")
