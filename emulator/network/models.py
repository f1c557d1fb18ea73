"""Minimal generic resources: virtual networks, NICs, storage accounts.

Site Recovery's network mappings and cache storage accounts refer to these by id, and the app checks
they exist; nothing more of their behaviour matters here, so one generic store serves every type.
"""

from __future__ import annotations

import copy
from typing import Any

from emulator.arm import key, normalise_location, parse_id, resource_id
from emulator.errors import ArmError
from emulator.events import DELETE, WRITE, EventEmitter

#: (provider, type) -> extra fields a created resource gets when the body does not give them.
SIMPLE_TYPES: dict[tuple[str, str], dict[str, Any]] = {
    ("Microsoft.Network", "virtualNetworks"): {
        "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": []}
    },
    ("Microsoft.Network", "networkInterfaces"): {"properties": {"ipConfigurations": []}},
    ("Microsoft.Storage", "storageAccounts"): {"kind": "StorageV2", "sku": {"name": "Standard_LRS"}, "properties": {}},
}


class SimpleResources:
    """PUT/GET/DELETE/list for the types in :data:`SIMPLE_TYPES`."""

    def __init__(self, *, events: EventEmitter | None = None) -> None:
        self.events = events
        self.items: dict[str, dict[str, Any]] = {}

    def put(
        self, subscription: str, resource_group: str, provider: str, rtype: str, name: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        canonical = self._type(provider, rtype)
        rid = resource_id(subscription, resource_group, canonical[0], canonical[1], name)
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        existing = self.items.get(key(rid))
        defaults = copy.deepcopy(SIMPLE_TYPES[canonical])
        stored: dict[str, Any] = {
            **defaults,
            **copy.deepcopy({k: v for k, v in body.items() if k not in ("id", "name", "type")}),
            "id": existing["id"] if existing else rid,
            "name": existing["name"] if existing else name,
            "type": f"{canonical[0]}/{canonical[1]}",
            "location": normalise_location(location),
        }
        props = stored.setdefault("properties", {})
        for field_name, value in defaults.get("properties", {}).items():
            props.setdefault(field_name, value)
        props["provisioningState"] = "Succeeded"
        self.items[key(rid)] = stored
        self._emit(WRITE, stored["id"], f"{canonical[0]}/{canonical[1]}/write")
        return copy.deepcopy(stored), existing is None

    def get(self, subscription: str, resource_group: str, provider: str, rtype: str, name: str) -> dict[str, Any]:
        canonical = self._type(provider, rtype)
        found = self.items.get(key(resource_id(subscription, resource_group, canonical[0], canonical[1], name)))
        if found is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{canonical[0]}/{canonical[1]}/{name}' under resource group '{resource_group}' was not found.",
            )
        return copy.deepcopy(found)

    def delete(self, subscription: str, resource_group: str, provider: str, rtype: str, name: str) -> bool:
        canonical = self._type(provider, rtype)
        found = self.items.pop(key(resource_id(subscription, resource_group, canonical[0], canonical[1], name)), None)
        if found is not None:
            self._emit(DELETE, found["id"], f"{canonical[0]}/{canonical[1]}/delete")
        return found is not None

    def list(self, subscription: str, provider: str, rtype: str, resource_group: str | None = None) -> list[dict[str, Any]]:
        canonical = self._type(provider, rtype)
        wanted = f"{canonical[0]}/{canonical[1]}".lower()
        found = []
        for item in self.items.values():
            parsed = parse_id(item["id"])
            if item["type"].lower() != wanted or parsed.subscription.lower() != subscription.lower():
                continue
            if resource_group is None or (parsed.resource_group or "").lower() == resource_group.lower():
                found.append(copy.deepcopy(item))
        return found

    def find(self, resource_id: str) -> dict[str, Any] | None:
        found = self.items.get(key(resource_id))
        return copy.deepcopy(found) if found else None

    def set_tags(self, resource_id: str, tags: dict[str, str]) -> dict[str, Any] | None:
        found = self.items.get(key(resource_id))
        if found is None:
            return None
        found["tags"] = dict(tags)
        return copy.deepcopy(found)

    def delete_group(self, subscription: str, resource_group: str) -> None:
        for k in [k for k, v in self.items.items() if _in_group(v["id"], subscription, resource_group)]:
            del self.items[k]

    def reset(self) -> None:
        self.items.clear()

    @staticmethod
    def _type(provider: str, rtype: str) -> tuple[str, str]:
        for canonical in SIMPLE_TYPES:
            if canonical[0].lower() == provider.lower() and canonical[1].lower() == rtype.lower():
                return canonical
        raise ArmError(404, "InvalidResourceType", f"The resource type '{provider}/{rtype}' is not emulated.")

    def _emit(self, event_type: str, rid: str, operation: str) -> None:
        if self.events is not None:
            self.events.emit(event_type, rid, operation)


def _in_group(rid: str, subscription: str, resource_group: str) -> bool:
    parsed = parse_id(rid)
    return parsed.subscription.lower() == subscription.lower() and (parsed.resource_group or "").lower() == resource_group.lower()
