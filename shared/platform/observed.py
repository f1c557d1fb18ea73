"""Observed state: what Azure says a VM and its protection look like, as plain data.

SDK models are converted at the edge so the planner stays a pure function of plain dataclasses (and
its unit tests need no SDK objects). Only the fields ppg-dr decides on are kept.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from shared.arm.ids import ResourceId, parse_resource_id, segment_after
from shared.arm.names import item_named_for


@dataclass(frozen=True, slots=True)
class ManagedDisk:
    id: str
    sku: str | None
    is_os: bool


@dataclass(frozen=True, slots=True)
class ObservedVm:
    """A source VM as Compute reports it."""

    ref: ResourceId  # the id, parsed once where Compute returned it
    name: str
    location: str
    size: str
    zones: tuple[str, ...] = ()
    ppg_id: str | None = None
    availability_set_id: str | None = None
    disks: tuple[ManagedDisk, ...] = ()
    unmanaged_disks: tuple[str, ...] = ()
    scale_set_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.ref)

    @property
    def subscription(self) -> str:
        return self.ref.subscription

    @property
    def resource_group(self) -> str:
        assert self.ref.resource_group is not None  # vm_from_sdk refuses ids without one
        return self.ref.resource_group

    @property
    def key_id(self) -> str:
        return self.ref.normalized

    @property
    def ppg_name(self) -> str | None:
        """The source PPG's name (the last segment of the id Compute reports)."""
        return self.ppg_id.rstrip("/").rsplit("/", 1)[-1] if self.ppg_id else None

    @property
    def availability_set_name(self) -> str | None:
        return self.availability_set_id.rstrip("/").rsplit("/", 1)[-1] if self.availability_set_id else None


@dataclass(frozen=True, slots=True)
class ObservedItem:
    """A replicated protected item in the vault (any provider)."""

    name: str
    id: str
    provider: str
    fabric_name: str
    container_name: str
    source_vm_id: str | None
    protection_state: str | None
    protection_description: str | None
    replication_health: str | None
    health_errors: tuple[str, ...] = ()
    recovery_ppg_id: str | None = None
    recovery_availability_set_id: str | None = None
    recovery_zone: str | None = None
    recovery_resource_group_id: str | None = None
    active_location: str | None = None
    allowed_operations: tuple[str, ...] = ()
    percent_complete: int | None = None
    friendly_name: str | None = None
    recovery_vm_size: str | None = None
    # where the item came from and what it copies (adoption after state loss reads these)
    recovery_vm_id: str | None = None  # the failed-over copy (recoveryFabricObjectId), once there is one
    recovery_vm_name: str | None = None  # the VM failover creates or, after reprotect, the original VM's name
    initial_primary_region: str | None = None  # the region the item was first enabled from (its "home")
    synced_tags: dict[str, str] = field(default_factory=dict)  # the VM's tags as ASR last synced them

    @property
    def protected(self) -> bool:
        return (self.protection_state or "").lower() == "protected"


def text(value: Any) -> str | None:
    """SDK enums are ``str`` subclasses whose ``str()`` is ``Class.MEMBER`` on Python 3.11: use the value."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def attr(obj: Any, *path: str) -> Any:
    """``obj.a.b.c`` or None as soon as a link is missing (SDK models leave optional parts None)."""
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj


def vm_from_sdk(vm: Any) -> ObservedVm:
    """Convert an ``azure.mgmt.compute`` ``VirtualMachine``."""
    parsed = parse_resource_id(vm.id)
    if parsed is None or parsed.resource_group is None:
        raise ValueError(f"Compute returned a VM with an unusable id {vm.id!r}")
    storage = vm.storage_profile
    disks: list[ManagedDisk] = []
    unmanaged: list[str] = []
    os_disk = attr(storage, "os_disk")
    all_disks = [(os_disk, True)] + [(d, False) for d in (attr(storage, "data_disks") or [])]
    for disk, is_os in all_disks:
        if disk is None:
            continue
        managed = attr(disk, "managed_disk")
        if managed is not None and managed.id:
            disks.append(ManagedDisk(managed.id, text(managed.storage_account_type), is_os))
        elif attr(disk, "vhd", "uri"):
            unmanaged.append(str(disk.name or disk.vhd.uri))
    return ObservedVm(
        ref=parsed,
        name=vm.name,
        location=(vm.location or "").lower().replace(" ", ""),
        size=text(attr(vm, "hardware_profile", "vm_size")) or "",
        zones=tuple(vm.zones or ()),
        ppg_id=attr(vm, "proximity_placement_group", "id"),
        availability_set_id=attr(vm, "availability_set", "id"),
        disks=tuple(disks),
        unmanaged_disks=tuple(unmanaged),
        scale_set_id=attr(vm, "virtual_machine_scale_set", "id"),
        tags=dict(vm.tags or {}),
    )


def item_from_sdk(item: Any) -> ObservedItem:
    """Convert an ASR ``ReplicationProtectedItem`` (A2A, InMageRcm, HyperVReplicaAzure, ...)."""
    props = item.properties
    details = attr(props, "provider_specific_details")
    provider = text(attr(details, "instance_type") or attr(props, "replication_provider")) or ""
    errors = tuple(str(e.error_message or e.error_code or "unknown health error") for e in (attr(props, "health_errors") or []))
    recovery_ppg = attr(details, "recovery_proximity_placement_group_id") or attr(details, "target_proximity_placement_group_id")
    percent = attr(details, "monitoring_percentage_completion")
    return ObservedItem(
        name=item.name,
        id=item.id,
        provider=provider,
        fabric_name=segment_after(item.id, "replicationFabrics"),
        container_name=segment_after(item.id, "replicationProtectionContainers"),
        source_vm_id=attr(details, "fabric_object_id"),
        protection_state=text(attr(props, "protection_state")),
        protection_description=text(attr(props, "protection_state_description")),
        replication_health=text(attr(props, "replication_health")),
        health_errors=errors,
        recovery_ppg_id=recovery_ppg or None,
        recovery_availability_set_id=attr(details, "recovery_availability_set") or None,
        recovery_zone=attr(details, "recovery_availability_zone") or None,
        recovery_resource_group_id=attr(details, "recovery_azure_resource_group_id") or None,
        active_location=text(attr(props, "active_location")),
        allowed_operations=tuple(str(text(op)) for op in (attr(props, "allowed_operations") or ())),
        percent_complete=int(percent) if isinstance(percent, int | float) else None,
        friendly_name=attr(props, "friendly_name"),
        recovery_vm_size=text(attr(details, "recovery_azure_vm_size")),
        recovery_vm_id=attr(details, "recovery_fabric_object_id") or None,
        recovery_vm_name=attr(details, "recovery_azure_vm_name") or None,
        initial_primary_region=_region(attr(details, "initial_primary_fabric_location")),
        synced_tags={str(k): str(v) for k, v in (attr(details, "vm_synced_config_details", "tags") or {}).items()},
    )


# Raw JSON (fleet listings, :mod:`shared.platform.fleet`): the same records straight from the REST bodies, without
# building SDK models (at 10,000 items, model building and attribute lookup were 41% of a reconcile tick).
# What each provider's details carry, as the SDK's models name them (REST names; tests compare with the SDK).
_A2A_DETAILS = {
    "recovery_proximity_placement_group_id": "recoveryProximityPlacementGroupId",
    "monitoring_percentage_completion": "monitoringPercentageCompletion",
    "fabric_object_id": "fabricObjectId",
    "recovery_availability_set": "recoveryAvailabilitySet",
    "recovery_availability_zone": "recoveryAvailabilityZone",
    "recovery_azure_resource_group_id": "recoveryAzureResourceGroupId",
    "recovery_azure_vm_size": "recoveryAzureVMSize",
    "recovery_fabric_object_id": "recoveryFabricObjectId",
    "recovery_azure_vm_name": "recoveryAzureVMName",
    "initial_primary_fabric_location": "initialPrimaryFabricLocation",
    "vm_synced_config_details": "vmSyncedConfigDetails",
}
_ONPREM_AZURE_DETAILS = {
    "target_proximity_placement_group_id": "targetProximityPlacementGroupId",
    "recovery_azure_resource_group_id": "recoveryAzureResourceGroupId",
    "recovery_azure_vm_size": "recoveryAzureVMSize",
    "recovery_azure_vm_name": "recoveryAzureVMName",
}
DETAIL_FIELDS: dict[str, dict[str, str]] = {
    "A2A": _A2A_DETAILS,
    "A2ACrossClusterMigration": {"fabric_object_id": "fabricObjectId"},
    "HyperVReplicaAzure": {**_ONPREM_AZURE_DETAILS, "recovery_azure_vm_name": "recoveryAzureVmName"},
    "InMageAzureV2": _ONPREM_AZURE_DETAILS,
    "InMageRcm": {"target_proximity_placement_group_id": "targetProximityPlacementGroupId"},
}


_SHARED: dict[Any, Any] = {}  # equal values the fleet repeats, kept once: (key) -> the one instance


def _once(value: Any) -> Any:
    """One instance of a value many records share (a group's recovery PPG and resource group, a region, a state,
    an allowed-operations tuple): 100,000 items then hold a few thousand strings, not 100,000 copies of each."""
    if value is None:
        return None
    if isinstance(value, str):
        return sys.intern(value)
    return _SHARED.setdefault(value, value) if len(_SHARED) < 10_000 else value


_TAG_SETS: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}


def _shared_tags(tags: Any) -> dict[str, str]:
    """Synced tags as a dict shared by every item with the same tags (records are read, never changed)."""
    if not isinstance(tags, dict) or not tags:
        return {}
    pairs = tuple(sorted((str(k), str(v)) for k, v in tags.items()))
    found = _TAG_SETS.get(pairs)
    if found is None:
        found = {_once(k): _once(v) for k, v in pairs}
        if len(_TAG_SETS) < 10_000:
            _TAG_SETS[pairs] = found
    return found


def _get(body: Any, *path: str) -> Any:
    """``body[a][b][c]`` or None as soon as a link is missing or not an object."""
    for key in path:
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def vm_from_json(body: dict[str, Any]) -> ObservedVm:
    """A VM as Compute's REST API returns it (``Microsoft.Compute/virtualMachines``), like :func:`vm_from_sdk`."""
    vm_id = body.get("id")
    parsed = parse_resource_id(vm_id) if isinstance(vm_id, str) else None
    if parsed is None or parsed.resource_group is None:
        raise ValueError(f"Compute returned a VM with an unusable id {vm_id!r}")
    props = body.get("properties") or {}
    storage = props.get("storageProfile")
    disks: list[ManagedDisk] = []
    unmanaged: list[str] = []
    all_disks = [(_get(storage, "osDisk"), True)] + [(d, False) for d in (_get(storage, "dataDisks") or [])]
    for disk, is_os in all_disks:
        if not isinstance(disk, dict):
            continue
        managed = disk.get("managedDisk")
        if isinstance(managed, dict) and managed.get("id"):
            disks.append(ManagedDisk(managed["id"], managed.get("storageAccountType"), is_os))
        elif _get(disk, "vhd", "uri"):
            unmanaged.append(str(disk.get("name") or disk["vhd"]["uri"]))
    return ObservedVm(
        ref=parsed,
        name=body.get("name") or "",
        location=_once((body.get("location") or "").lower().replace(" ", "")),
        size=_once(_get(props, "hardwareProfile", "vmSize") or ""),
        zones=tuple(body.get("zones") or ()),
        ppg_id=_once(_get(props, "proximityPlacementGroup", "id")),
        availability_set_id=_once(_get(props, "availabilitySet", "id")),
        disks=tuple(disks),
        unmanaged_disks=tuple(unmanaged),
        scale_set_id=_get(props, "virtualMachineScaleSet", "id"),
        tags=dict(body.get("tags") or {}),
    )


def item_from_json(body: dict[str, Any]) -> ObservedItem:
    """A replicated item as Site Recovery's REST API returns it, like :func:`item_from_sdk`.

    A provider's details are read only where that provider's model has the field (``DETAIL_FIELDS``), so a key
    another provider uses never leaks into the record.
    """
    props = body.get("properties") or {}
    raw_details = props.get("providerSpecificDetails")
    provider = str(_get(raw_details, "instanceType") or "")
    known = DETAIL_FIELDS.get(provider, {})

    def detail(name: str) -> Any:
        rest = known.get(name)
        return raw_details.get(rest) if rest is not None and isinstance(raw_details, dict) else None

    item_id = str(body.get("id") or "")
    errors = tuple(
        str(e.get("errorMessage") or e.get("errorCode") or "unknown health error")
        for e in (props.get("healthErrors") or [])
        if isinstance(e, dict)
    )
    recovery_ppg = detail("recovery_proximity_placement_group_id") or detail("target_proximity_placement_group_id")
    percent = detail("monitoring_percentage_completion")
    tags = _get(detail("vm_synced_config_details"), "tags") or {}
    return ObservedItem(
        name=str(body.get("name") or ""),
        id=item_id,
        provider=_once(provider),
        fabric_name=_once(segment_after(item_id, "replicationFabrics")),
        container_name=_once(segment_after(item_id, "replicationProtectionContainers")),
        source_vm_id=detail("fabric_object_id"),
        protection_state=_once(props.get("protectionState")),
        protection_description=_once(props.get("protectionStateDescription")),
        replication_health=_once(props.get("replicationHealth")),
        health_errors=_once(errors),
        recovery_ppg_id=_once(recovery_ppg or None),
        recovery_availability_set_id=_once(detail("recovery_availability_set") or None),
        recovery_zone=_once(detail("recovery_availability_zone") or None),
        recovery_resource_group_id=_once(detail("recovery_azure_resource_group_id") or None),
        active_location=_once(props.get("activeLocation")),
        allowed_operations=_once(tuple(str(op) for op in (props.get("allowedOperations") or ()))),
        percent_complete=int(percent) if isinstance(percent, int | float) and not isinstance(percent, bool) else None,
        friendly_name=_once(props.get("friendlyName")),  # the VM's name, as recovery_vm_name usually is: one string
        recovery_vm_size=_once(detail("recovery_azure_vm_size")),
        recovery_vm_id=detail("recovery_fabric_object_id") or None,
        recovery_vm_name=_once(detail("recovery_azure_vm_name") or None),
        initial_primary_region=_once(_region(detail("initial_primary_fabric_location"))),
        synced_tags=_shared_tags(tags),
    )


def _region(value: Any) -> str | None:
    """A location as ARM spells it in ids and settings (``West Europe`` -> ``westeurope``)."""
    return str(value).replace(" ", "").lower() if value else None


def home_vm_id(item: ObservedItem) -> str | None:
    """The VM the item was created for, when ppg-dr named the item (None for items it did not create).

    After a switch of protection the item's source is the DR copy; its recovery side names the original VM
    (``recoveryAzureVMName`` in ``recoveryAzureResourceGroupId``), which may not exist until the failback.
    """
    candidates = [item.source_vm_id, item.recovery_vm_id]
    if item.recovery_resource_group_id and item.recovery_vm_name:
        candidates.append(
            f"{item.recovery_resource_group_id.rstrip('/')}/providers/Microsoft.Compute/virtualMachines/{item.recovery_vm_name}"
        )
    return next((c for c in candidates if c and item_named_for(item.name, c)), None)
