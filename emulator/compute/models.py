"""Compute backend: VMs, disks, PPGs, availability sets, capacity reservation groups (no HTTP here).

:class:`ComputeBackend` combines the VM mixins (``vms``, ``vm_writes``) on the shared state (``core``)
and fronts the placement store (``placement``: PPGs, availability sets, CRGs, capacity) and the disk
store (``disks``), emitting the Event Grid events of their writes.
"""

from __future__ import annotations

import copy
from typing import Any

from emulator.arm import key
from emulator.compute.core import DEFAULT_DURATIONS
from emulator.compute.disks import DiskStore
from emulator.compute.placement import in_scope
from emulator.compute.vm_writes import VmWritesMixin
from emulator.compute.vms import VM_TYPE, Vm
from emulator.events import DELETE, WRITE

__all__ = ["DEFAULT_DURATIONS", "VM_TYPE", "ComputeBackend", "Vm"]


class ComputeBackend(VmWritesMixin):
    """State and behaviour of Microsoft.Compute for the emulator."""

    def put_ppg(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or update a PPG; returns (rendered, created)."""
        stored, created = self.placement.put_ppg(subscription, resource_group, name, body)
        self._emit(WRITE, stored["id"], "Microsoft.Compute/proximityPlacementGroups/write")
        return self.render_ppg(stored), created

    def get_ppg(self, subscription: str, resource_group: str, name: str, *, colocation: bool = False) -> dict[str, Any]:
        return self.render_ppg(self.placement.get_ppg(subscription, resource_group, name), colocation=colocation)

    def render_ppg(self, stored: dict[str, Any], *, colocation: bool = False) -> dict[str, Any]:
        return self.placement.render_ppg(stored, colocation=colocation, zones_of=self._zones_of)

    def _zones_of(self, vm_id: str) -> list[str] | None:
        vm = self.vms.get(key(vm_id))
        return vm.body.get("zones") if vm else None

    def list_ppgs(self, subscription: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        return [self.render_ppg(p) for p in self.placement.ppgs.values() if in_scope(p, subscription, resource_group)]

    def delete_ppg(self, subscription: str, resource_group: str, name: str) -> bool:
        stored = self.placement.delete_ppg(subscription, resource_group, name)
        if stored is not None:
            self._emit(DELETE, stored["id"], "Microsoft.Compute/proximityPlacementGroups/delete")
        return stored is not None

    def patch_ppg(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        stored = self.placement.patch_ppg(subscription, resource_group, name, body)
        self._emit(WRITE, stored["id"], "Microsoft.Compute/proximityPlacementGroups/write")
        return self.render_ppg(stored)

    def put_avset(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        stored = self.placement.put_avset(subscription, resource_group, name, body)
        self._emit(WRITE, stored["id"], "Microsoft.Compute/availabilitySets/write")
        return self.placement.render_avset(stored)

    def patch_avset(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        stored = self.placement.patch_avset(subscription, resource_group, name, body)
        self._emit(WRITE, stored["id"], "Microsoft.Compute/availabilitySets/write")
        return self.placement.render_avset(stored)

    def get_avset(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        return self.placement.render_avset(self.placement.get_avset(subscription, resource_group, name))

    def delete_avset(self, subscription: str, resource_group: str, name: str) -> bool:
        stored = self.placement.delete_avset(subscription, resource_group, name)
        if stored is not None:
            self._emit(DELETE, stored["id"], "Microsoft.Compute/availabilitySets/delete")
        return stored is not None

    def list_avsets(self, subscription: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        return [
            self.placement.render_avset(a) for a in self.placement.avsets.values() if in_scope(a, subscription, resource_group)
        ]

    def put_crg(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        stored, created = self.placement.put_crg(subscription, resource_group, name, body)
        self._emit(WRITE, stored["id"], "Microsoft.Compute/capacityReservationGroups/write")
        return copy.deepcopy(stored), created

    def get_crg(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.placement.get_crg(subscription, resource_group, name))

    def delete_crg(self, subscription: str, resource_group: str, name: str) -> bool:
        stored = self.placement.delete_crg(subscription, resource_group, name)
        if stored is not None:
            self._emit(DELETE, stored["id"], "Microsoft.Compute/capacityReservationGroups/delete")
        return stored is not None

    def list_crgs(self, subscription: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        return [copy.deepcopy(c) for c in self.placement.crgs.values() if in_scope(c, subscription, resource_group)]

    def put_disk(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or update a standalone managed disk; returns (rendered, created)."""
        stored, created = self.disks.put(subscription, resource_group, name, body, now=self.clock.now())
        self._emit(WRITE, stored["id"], "Microsoft.Compute/disks/write")
        return DiskStore.render(stored), created

    def get_disk(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        return DiskStore.render(self.disks.get(subscription, resource_group, name))

    def delete_disk(self, subscription: str, resource_group: str, name: str) -> bool:
        stored = self.disks.delete(subscription, resource_group, name)
        if stored is not None:
            self._emit(DELETE, stored["id"], "Microsoft.Compute/disks/delete")
        return stored is not None

    def list_disks(self, subscription: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        return [DiskStore.render(d) for d in self.disks.disks.values() if in_scope(d, subscription, resource_group)]

    def find(self, resource_id: str) -> dict[str, Any] | None:
        """Any compute resource by id (case-insensitive), rendered; None when absent."""
        k = key(resource_id)
        if k in self.vms:
            return self.render_vm(self.vms[k])
        if k in self.placement.ppgs:
            return self.render_ppg(self.placement.ppgs[k])
        if k in self.placement.avsets:
            return self.placement.render_avset(self.placement.avsets[k])
        if k in self.placement.crgs:
            return copy.deepcopy(self.placement.crgs[k])
        if k in self.disks.disks:
            return DiskStore.render(self.disks.disks[k])
        return None

    def set_tags(self, resource_id: str, tags: dict[str, str]) -> dict[str, Any] | None:
        """Replace the tags of any compute resource (the tags API); None when absent."""
        k = key(resource_id)
        vm = self.vms.get(k)
        if vm is not None:
            vm.body["tags"] = dict(tags)
            vm.etag += 1
            return self.render_vm(vm)
        for store in (self.placement.ppgs, self.placement.avsets, self.placement.crgs, self.disks.disks):
            if k in store:
                store[k]["tags"] = dict(tags)
                return self.find(resource_id)
        return None

    def delete_group(self, subscription: str, resource_group: str) -> None:
        """Everything in a resource group goes when the group goes (VMs first, as ARM orders it)."""
        for vm in [
            v
            for v in self.vms.values()
            if v.subscription.lower() == subscription.lower() and v.resource_group.lower() == resource_group.lower()
        ]:
            self._remove(vm)
        for store in (self.placement.avsets, self.placement.ppgs, self.placement.crgs, self.disks.disks):
            for k in [k for k, v in store.items() if in_scope(v, subscription, resource_group)]:
                del store[k]
