"""Placement resources: proximity placement groups, availability sets, capacity reservation groups.

They are kept apart from VMs because their rules are about *where* a VM may go: a PPG and an
availability set pinned to it must be in the VM's region, the set's PPG must be the VM's PPG, and a
PPG may refuse a VM size (the capacity model). The capacity model is what makes the documented ASR
behaviour reproducible: when the target datacenter cannot host a size in the PPG, Azure answers
``OverconstrainedAllocationRequest`` and ASR falls back to creating the VM outside the PPG.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from emulator.arm import key, normalise_location, parse_id, resource_id, same_location
from emulator.compute.capacity import CapacityModel
from emulator.errors import ArmError

PPG_TYPE = "Microsoft.Compute/proximityPlacementGroups"
AVSET_TYPE = "Microsoft.Compute/availabilitySets"
CRG_TYPE = "Microsoft.Compute/capacityReservationGroups"

ALL_PPGS = "*"


def _require_location(body: dict[str, Any]) -> str:
    location = body.get("location")
    if not isinstance(location, str) or not location:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    return normalise_location(location)


def _zones(body: dict[str, Any]) -> list[str] | None:
    zones = body.get("zones")
    if zones is None:
        return None
    if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
        raise ArmError(400, "InvalidParameter", "The value of parameter 'zones' is invalid.")
    return list(zones)


class PlacementStore:
    """PPGs, availability sets and capacity reservation groups, plus the per-PPG capacity model.

    Membership (which VMs are in a PPG / set) is owned by the VM side and reported through
    ``members``, so the back-references in GET responses are always derived, never stored twice.
    """

    def __init__(self, members: Callable[[str, str], list[str]], capacity: CapacityModel | None = None) -> None:
        #: ``members(kind, resource_key)`` -> ids of VMs (kind "ppg" / "avset") in that resource.
        self._members = members
        self._capacity = capacity or CapacityModel()
        self.ppgs: dict[str, dict[str, Any]] = {}
        self.avsets: dict[str, dict[str, Any]] = {}
        self.crgs: dict[str, dict[str, Any]] = {}
        self._refused: dict[str, set[str]] = {}

    # --- capacity model ------------------------------------------------------------------------
    def set_capacity(self, ppg_id: str, refused_sizes: list[str]) -> None:
        """Make ``ppg_id`` (or ``"*"`` for every PPG) refuse these VM sizes; an empty list clears."""
        target = ALL_PPGS if ppg_id == ALL_PPGS else key(ppg_id)
        if refused_sizes:
            self._refused[target] = {s.lower() for s in refused_sizes}
        else:
            self._refused.pop(target, None)

    def capacity(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in self._refused.items()}

    def capacity_allows(self, ppg_id: str, vm_size: str) -> bool:
        size = vm_size.lower()
        refused = self._refused.get(key(ppg_id), set()) | self._refused.get(ALL_PPGS, set())
        return size not in refused

    def clear_capacity(self) -> None:
        self._refused.clear()

    # --- proximity placement groups --------------------------------------------------------------
    def put_ppg(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or update a PPG; returns (stored, created)."""
        rid = resource_id(subscription, resource_group, "Microsoft.Compute", "proximityPlacementGroups", name)
        location = _require_location(body)
        zones = _zones(body)
        props = body.get("properties") or {}
        ppg_type = props.get("proximityPlacementGroupType", "Standard")
        if ppg_type not in ("Standard", "Ultra"):
            raise ArmError(400, "InvalidParameter", f"The value '{ppg_type}' of proximityPlacementGroupType is invalid.")
        existing = self.ppgs.get(key(rid))
        if existing is not None:
            if not same_location(existing["location"], location):
                raise ArmError(
                    409, "InvalidResourceLocation", f"The resource '{name}' already exists in location '{existing['location']}'."
                )
            if self._members("ppg", key(rid)) and zones != existing.get("zones"):
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The zones of proximity placement group '{name}' cannot change while it has members.",
                )
        stored: dict[str, Any] = {
            "id": existing["id"] if existing else rid,
            "name": existing["name"] if existing else name,
            "type": PPG_TYPE,
            "location": location,
            "properties": {"proximityPlacementGroupType": ppg_type},
        }
        if body.get("tags") is not None:
            stored["tags"] = dict(body["tags"])
        if zones is not None:
            stored["zones"] = zones
        intent = props.get("intent")
        if intent is not None:
            stored["properties"]["intent"] = {"vmSizes": list(intent.get("vmSizes") or [])}
            self._capacity.check_intent(stored["id"], location, zones, [str(s) for s in intent.get("vmSizes") or []])
        self.ppgs[key(rid)] = stored
        return stored, existing is None

    def patch_ppg(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        stored = self._get(self.ppgs, subscription, resource_group, "proximityPlacementGroups", name)
        if "tags" in body:
            stored["tags"] = dict(body["tags"] or {})
        return stored

    def get_ppg(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        return self._get(self.ppgs, subscription, resource_group, "proximityPlacementGroups", name)

    def ppg_by_id(self, ppg_id: str) -> dict[str, Any] | None:
        return self.ppgs.get(key(ppg_id))

    def delete_ppg(self, subscription: str, resource_group: str, name: str) -> dict[str, Any] | None:
        rid = resource_id(subscription, resource_group, "Microsoft.Compute", "proximityPlacementGroups", name)
        stored = self.ppgs.get(key(rid))
        if stored is None:
            return None
        if self._members("ppg", key(rid)) or self._avsets_in(key(rid)):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Proximity placement group '{name}' cannot be deleted because virtual machines or availability sets "
                "still reference it. Remove them from the group first.",
            )
        del self.ppgs[key(rid)]
        return stored

    def render_ppg(
        self, stored: dict[str, Any], *, colocation: bool = False, zones_of: Callable[[str], list[str] | None] | None = None
    ) -> dict[str, Any]:
        body = copy.deepcopy(stored)
        vms = self._members("ppg", key(stored["id"]))
        props = body["properties"]
        props["virtualMachines"] = [{"id": v} for v in vms]
        props["virtualMachineScaleSets"] = []
        props["availabilitySets"] = [{"id": a["id"]} for a in self._avsets_in(key(stored["id"]))]
        if colocation:
            spread = {tuple(zones_of(v) or ()) for v in vms} if zones_of else set()
            aligned = len(spread) <= 1
            props["colocationStatus"] = {
                "code": "ColocationStatus/Aligned" if aligned else "ColocationStatus/NotAligned",
                "level": "Info" if aligned else "Warning",
                "displayStatus": "Aligned" if aligned else "Not Aligned",
                "message": "All resources in the proximity placement group are aligned."
                if aligned
                else "Resources in the proximity placement group are spread across zones.",
            }
        return body

    def _avsets_in(self, ppg_key: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.avsets.values()
            if key((a["properties"].get("proximityPlacementGroup") or {}).get("id", "")) == ppg_key
        ]

    # --- availability sets -------------------------------------------------------------------
    def put_avset(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        rid = resource_id(subscription, resource_group, "Microsoft.Compute", "availabilitySets", name)
        location = _require_location(body)
        props = body.get("properties") or {}
        ppg_ref = (props.get("proximityPlacementGroup") or {}).get("id")
        existing = self.avsets.get(key(rid))
        if ppg_ref:
            ppg = self.ppg_by_id(ppg_ref)
            if ppg is None:
                raise _missing("proximityPlacementGroups", ppg_ref)
            if not same_location(ppg["location"], location):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Availability set '{name}' is in '{location}' but proximity placement group '{ppg['name']}' is in "
                    f"'{ppg['location']}'; they must be in the same region.",
                )
        if existing is not None and self._members("avset", key(rid)):
            old = (existing["properties"].get("proximityPlacementGroup") or {}).get("id", "")
            if key(old) != key(ppg_ref or ""):
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The proximity placement group of availability set '{name}' cannot change while it has virtual "
                    "machines; deallocate them first.",
                )
        sku = body.get("sku") or {"name": "Aligned" if props.get("platformFaultDomainCount", 2) else "Classic"}
        stored: dict[str, Any] = {
            "id": existing["id"] if existing else rid,
            "name": existing["name"] if existing else name,
            "type": AVSET_TYPE,
            "location": location,
            "sku": dict(sku),
            "properties": {
                "platformFaultDomainCount": int(props.get("platformFaultDomainCount", 2)),
                "platformUpdateDomainCount": int(props.get("platformUpdateDomainCount", 5)),
            },
        }
        if body.get("tags") is not None:
            stored["tags"] = dict(body["tags"])
        if ppg_ref:
            stored["properties"]["proximityPlacementGroup"] = {"id": self.ppgs[key(ppg_ref)]["id"]}
        self.avsets[key(rid)] = stored
        return stored

    def patch_avset(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        stored = self._get(self.avsets, subscription, resource_group, "availabilitySets", name)
        if "tags" in body:
            stored["tags"] = dict(body["tags"] or {})
        return stored

    def get_avset(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        return self._get(self.avsets, subscription, resource_group, "availabilitySets", name)

    def avset_by_id(self, avset_id: str) -> dict[str, Any] | None:
        return self.avsets.get(key(avset_id))

    def delete_avset(self, subscription: str, resource_group: str, name: str) -> dict[str, Any] | None:
        rid = resource_id(subscription, resource_group, "Microsoft.Compute", "availabilitySets", name)
        if self._members("avset", key(rid)):
            raise ArmError(
                409, "OperationNotAllowed", f"Availability set '{name}' still has virtual machines; delete them first."
            )
        return self.avsets.pop(key(rid), None)

    def render_avset(self, stored: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(stored)
        body["properties"]["virtualMachines"] = [{"id": v} for v in self._members("avset", key(stored["id"]))]
        body["properties"]["statuses"] = []
        return body

    # --- capacity reservation groups (minimal) ---------------------------------------------------
    def put_crg(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        rid = resource_id(subscription, resource_group, "Microsoft.Compute", "capacityReservationGroups", name)
        existing = self.crgs.get(key(rid))
        stored: dict[str, Any] = {
            "id": existing["id"] if existing else rid,
            "name": existing["name"] if existing else name,
            "type": CRG_TYPE,
            "location": _require_location(body),
            "properties": {"capacityReservations": [], "virtualMachinesAssociated": []},
        }
        zones = _zones(body)
        if zones is not None:
            stored["zones"] = zones
        if body.get("tags") is not None:
            stored["tags"] = dict(body["tags"])
        self.crgs[key(rid)] = stored
        return stored, existing is None

    def get_crg(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        return self._get(self.crgs, subscription, resource_group, "capacityReservationGroups", name)

    def delete_crg(self, subscription: str, resource_group: str, name: str) -> dict[str, Any] | None:
        rid = resource_id(subscription, resource_group, "Microsoft.Compute", "capacityReservationGroups", name)
        return self.crgs.pop(key(rid), None)

    # --- shared ------------------------------------------------------------------------------
    @staticmethod
    def _get(store: dict[str, dict[str, Any]], subscription: str, resource_group: str, rtype: str, name: str) -> dict[str, Any]:
        found = store.get(key(resource_id(subscription, resource_group, "Microsoft.Compute", rtype, name)))
        if found is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Compute/{rtype}/{name}' under resource group '{resource_group}' was not found.",
            )
        return found

    def reset(self) -> None:
        self.ppgs.clear()
        self.avsets.clear()
        self.crgs.clear()
        self._refused.clear()


def _missing(rtype: str, rid: str) -> ArmError:
    parsed = parse_id(rid)
    return ArmError(
        404,
        "NotFound",
        f"The resource 'Microsoft.Compute/{rtype}/{parsed.name}' referenced by the request was not found "
        f"in resource group '{parsed.resource_group}'.",
    )


def in_scope(stored: dict[str, Any], subscription: str, resource_group: str | None = None) -> bool:
    """Is the resource in this subscription (and resource group, when given)?"""
    parsed = parse_id(stored["id"])
    if parsed.subscription.lower() != subscription.lower():
        return False
    return resource_group is None or (parsed.resource_group or "").lower() == resource_group.lower()
