"""The Compute gateway for the group workflows: where a VM runs, its power state, and moving it.

Placement verification and repair ask a few questions of many VMs (is it running, in which PPG,
availability set and zone, which managed disks) and send a few actions (deallocate, start, put it into a
PPG). Keeping them here keeps SDK model walking out of the workflow phases, which can then be tested
against a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from azure.core.exceptions import AzureError, ResourceNotFoundError

from shared.arm.ids import ResourceId, parse_resource_id
from shared.platform.clients import AzureClients, start_operation
from shared.platform.observed import attr, text


@dataclass(frozen=True)
class VmPlacement:
    """Where a VM is and whether it runs, as Compute reports it."""

    id: str
    size: str
    power: str  # "running", "deallocated", ... ("" when Compute reports none)
    ppg_id: str | None
    availability_set_id: str | None
    zone: str | None
    managed_disks: tuple[tuple[str, str], ...] = ()  # (disk id, storage SKU)

    @property
    def running(self) -> bool:
        return self.power == "running"


class ComputeApi(Protocol):
    """What the workflows use; :class:`ComputeGateway` against Azure, a fake in unit tests."""

    def placement(self, vm_id: str) -> VmPlacement | None: ...

    def power(self, vm_id: str) -> str: ...

    def answers(self, vm_id: str) -> bool: ...

    def ppg_colocation(self, ppg_id: str) -> str: ...

    def deallocate(self, vm_id: str) -> None: ...

    def start(self, vm_id: str) -> None: ...

    def move_into_ppg(self, vm_id: str, ppg_id: str) -> None: ...


def _vm_ref(vm_id: str) -> ResourceId:
    parsed = parse_resource_id(vm_id)
    if parsed is None or parsed.resource_group is None:
        raise ValueError(f"not a VM id: {vm_id!r}")
    return parsed


def placement_of(vm: Any) -> VmPlacement:
    """An SDK ``VirtualMachine`` (read with ``expand=instanceView``) as a :class:`VmPlacement`."""
    props = vm.properties
    power = ""
    for status in attr(props, "instance_view", "statuses") or []:
        code = status.code or ""
        if code.startswith("PowerState/"):
            power = code.split("/", 1)[1]
    storage = attr(props, "storage_profile")
    disks = []
    for disk in [attr(storage, "os_disk"), *(attr(storage, "data_disks") or [])]:
        managed = attr(disk, "managed_disk")
        if managed is not None and managed.id:
            disks.append((str(managed.id), text(managed.storage_account_type) or "Standard_LRS"))
    return VmPlacement(
        id=str(vm.id),
        size=text(attr(props, "hardware_profile", "vm_size")) or "",
        power=power,
        ppg_id=attr(props, "proximity_placement_group", "id"),
        availability_set_id=attr(props, "availability_set", "id"),
        zone=vm.zones[0] if vm.zones else None,
        managed_disks=tuple(disks),
    )


class ComputeGateway:
    """The gateway over ``azure-mgmt-compute`` (clients per subscription)."""

    def __init__(self, clients: AzureClients) -> None:
        self._clients = clients

    def placement(self, vm_id: str) -> VmPlacement | None:
        ref = _vm_ref(vm_id)
        assert ref.resource_group is not None
        try:
            vm = self._clients.compute(ref.subscription).virtual_machines.get(ref.resource_group, ref.name, expand="instanceView")
        except ResourceNotFoundError:
            return None
        return placement_of(vm)

    def power(self, vm_id: str) -> str:
        ref = _vm_ref(vm_id)
        assert ref.resource_group is not None
        view = self._clients.compute(ref.subscription).virtual_machines.instance_view(ref.resource_group, ref.name)
        for status in view.statuses or []:
            if (status.code or "").startswith("PowerState/"):
                return str(status.code).split("/", 1)[1]
        return "unknown"

    def answers(self, vm_id: str) -> bool:
        """Whether the VM's region answers a read now, without retries (a dead region must not stall a failover)."""
        ref = parse_resource_id(vm_id)
        if ref is None or ref.resource_group is None:
            return False
        try:
            self._clients.compute(ref.subscription).virtual_machines.get(ref.resource_group, ref.name, retry_total=0)
        except AzureError:
            return False
        return True

    def ppg_colocation(self, ppg_id: str) -> str:
        """The PPG's colocation status code, ``missing`` when it does not exist."""
        ref = parse_resource_id(ppg_id)
        if ref is None or ref.resource_group is None:
            return "unknown"
        try:
            ppg = self._clients.compute(ref.subscription).proximity_placement_groups.get(
                ref.resource_group, ref.name, include_colocation_status="true"
            )
        except ResourceNotFoundError:
            return "missing"
        return str(attr(ppg, "properties", "colocation_status", "code") or "unknown")

    def deallocate(self, vm_id: str) -> None:
        ref = _vm_ref(vm_id)
        assert ref.resource_group is not None
        start_operation(self._clients.compute(ref.subscription).virtual_machines.begin_deallocate, ref.resource_group, ref.name)

    def start(self, vm_id: str) -> None:
        ref = _vm_ref(vm_id)
        assert ref.resource_group is not None
        start_operation(self._clients.compute(ref.subscription).virtual_machines.begin_start, ref.resource_group, ref.name)

    def move_into_ppg(self, vm_id: str, ppg_id: str) -> None:
        """Set a deallocated VM's PPG (Azure allows it only while the VM is deallocated)."""
        from azure.mgmt.compute import models as cm  # lazy: the SDK loads on first use, not at cold start

        ref = _vm_ref(vm_id)
        assert ref.resource_group is not None
        compute = self._clients.compute(ref.subscription)
        vm = compute.virtual_machines.get(ref.resource_group, ref.name)
        if vm.properties is not None:
            vm.properties.proximity_placement_group = cm.SubResource(id=ppg_id)
            compute.virtual_machines.begin_create_or_update(ref.resource_group, ref.name, vm, polling=False)
