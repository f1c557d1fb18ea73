"""Managed disks: created with their VM (OS/data disks) or on their own, attached by id.

ASR replicates disks, and the app refuses VMs with unmanaged (``vhd``) disks, so the emulator keeps
both kinds: managed disks exist as ``Microsoft.Compute/disks`` resources (with ``managedBy`` pointing
at their VM), unmanaged disks stay as ``vhd`` URIs inside the VM and create no resource.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Any

from emulator.arm import key, normalise_location, resource_id
from emulator.clock import iso
from emulator.errors import ArmError

DISK_TYPE = "Microsoft.Compute/disks"

_TIERS = {"premium_lrs": "Premium", "premium_zrs": "Premium", "standardssd_lrs": "StandardSSD", "ultrassd_lrs": "Ultra"}


class DiskStore:
    """All managed disks, keyed by lower-cased id."""

    def __init__(self) -> None:
        self.disks: dict[str, dict[str, Any]] = {}

    def put(
        self,
        subscription: str,
        resource_group: str,
        name: str,
        body: dict[str, Any],
        *,
        now: datetime,
        managed_by: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create or update a disk from an ARM body; returns (stored, created)."""
        rid = resource_id(subscription, resource_group, "Microsoft.Compute", "disks", name)
        existing = self.disks.get(key(rid))
        location = body.get("location") or (existing or {}).get("location")
        if not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        props = body.get("properties") or {}
        sku_name = (body.get("sku") or {}).get("name") or ((existing or {}).get("sku") or {}).get("name") or "Standard_LRS"
        size = int(props.get("diskSizeGB") or ((existing or {}).get("properties") or {}).get("diskSizeGB") or 32)
        stored: dict[str, Any] = {
            "id": existing["id"] if existing else rid,
            "name": existing["name"] if existing else name,
            "type": DISK_TYPE,
            "location": normalise_location(location),
            "sku": {"name": sku_name, "tier": _TIERS.get(sku_name.lower(), "Standard")},
            "properties": {
                "creationData": dict(props.get("creationData") or {"createOption": "Empty"}),
                "diskSizeGB": size,
                "diskSizeBytes": size * 1024**3,
                "uniqueId": (existing or {}).get("properties", {}).get("uniqueId") or str(uuid.uuid4()),
                "provisioningState": "Succeeded",
                "diskState": "Unattached",
                "timeCreated": (existing or {}).get("properties", {}).get("timeCreated") or iso(now),
            },
        }
        if props.get("osType"):
            stored["properties"]["osType"] = props["osType"]
        if body.get("zones"):
            stored["zones"] = list(body["zones"])
        if body.get("tags") is not None:
            stored["tags"] = dict(body["tags"])
        elif existing and "tags" in existing:
            stored["tags"] = existing["tags"]
        holder = managed_by if managed_by is not None else (existing or {}).get("managedBy")
        if holder:
            stored["managedBy"] = holder
            stored["properties"]["diskState"] = "Attached"
        self.disks[key(rid)] = stored
        return stored, existing is None

    def get(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        found = self.disks.get(key(resource_id(subscription, resource_group, "Microsoft.Compute", "disks", name)))
        if found is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Compute/disks/{name}' under resource group '{resource_group}' was not found.",
            )
        return found

    def by_id(self, disk_id: str) -> dict[str, Any] | None:
        return self.disks.get(key(disk_id))

    def attach(self, disk_id: str, vm_id: str) -> None:
        disk = self.disks[key(disk_id)]
        disk["managedBy"] = vm_id
        disk["properties"]["diskState"] = "Attached"

    def detach(self, disk_id: str) -> None:
        disk = self.disks.get(key(disk_id))
        if disk is not None:
            disk.pop("managedBy", None)
            disk["properties"]["diskState"] = "Unattached"

    def delete(self, subscription: str, resource_group: str, name: str) -> dict[str, Any] | None:
        rid = key(resource_id(subscription, resource_group, "Microsoft.Compute", "disks", name))
        disk = self.disks.get(rid)
        if disk is None:
            return None
        if disk.get("managedBy"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Disk {name} is attached to VM {disk['managedBy']}. Detach it or delete the VM first.",
            )
        return self.disks.pop(rid)

    @staticmethod
    def render(stored: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(stored)

    def reset(self) -> None:
        self.disks.clear()
