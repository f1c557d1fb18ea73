"""Resource groups and tags (Microsoft.Resources), without HTTP.

Tags are ppg-dr's desired state: an operator tags a VM, Event Grid reports
``Microsoft.Resources/tags/write``, the app reconciles. So the tags API writes the tags *of the
resource itself* (a VM's ``tags`` change, as in Azure) and emits that event. The backend reaches
other resources through a :class:`TagTarget` lookup so it needs no knowledge of Compute.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Protocol

from emulator.arm import key, normalise_location, parse_id
from emulator.errors import ArmError
from emulator.events import DELETE, WRITE, EventEmitter


class TagTarget(Protocol):
    """A backend whose resources can be tagged through the tags API."""

    def find(self, resource_id: str) -> dict[str, Any] | None: ...

    def set_tags(self, resource_id: str, tags: dict[str, str]) -> dict[str, Any] | None: ...


_MAX_TAGS = 50


def _validate_tags(tags: Any) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ArmError(400, "InvalidTagFormat", "Tags must be an object of string names to string values.")
    if len(tags) > _MAX_TAGS:
        raise ArmError(400, "InvalidTagCount", f"A resource can have at most {_MAX_TAGS} tags; {len(tags)} were given.")
    clean: dict[str, str] = {}
    for name, value in tags.items():
        if not isinstance(name, str) or not name or len(name) > 512 or any(c in name for c in "<>%&\\?/"):
            raise ArmError(400, "InvalidTagNameCharacters", f"The tag name '{name}' is invalid.")
        if value is None:
            value = ""
        if not isinstance(value, str) or len(value) > 256:
            raise ArmError(400, "InvalidTagValueLength", f"The value of tag '{name}' must be a string of at most 256 characters.")
        clean[name] = value
    return clean


class ResourcesBackend:
    """Resource groups per subscription, subscription tags, and tags at any emulated scope."""

    def __init__(self, *, events: EventEmitter | None = None, targets: Callable[[], list[TagTarget]] | None = None) -> None:
        self.events = events
        self._targets = targets or (lambda: [])
        self.groups: dict[str, dict[str, Any]] = {}
        self.subscription_tags: dict[str, dict[str, str]] = {}
        #: Called with (subscription, group) when a group is deleted, so contained resources go too.
        self.on_group_deleted: list[Callable[[str, str], None]] = []

    # --- resource groups ---------------------------------------------------------------------
    @staticmethod
    def group_id(subscription: str, name: str) -> str:
        return f"/subscriptions/{subscription}/resourceGroups/{name}"

    def put_group(self, subscription: str, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create or update a group; returns (group, created). The location of a group never changes."""
        location = body.get("location")
        if not isinstance(location, str) or not location:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        gid = self.group_id(subscription, name)
        existing = self.groups.get(key(gid))
        if existing is not None and normalise_location(existing["location"]) != normalise_location(location):
            raise ArmError(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{location}'. The Resource group already exists in location "
                f"'{existing['location']}'.",
            )
        group: dict[str, Any] = {
            "id": existing["id"] if existing else gid,
            "name": existing["name"] if existing else name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": normalise_location(location),
            "properties": {"provisioningState": "Succeeded"},
        }
        tags = _validate_tags(body.get("tags"))
        if tags or body.get("tags") is not None:
            group["tags"] = tags
        if body.get("managedBy"):
            group["managedBy"] = body["managedBy"]
        self.groups[key(gid)] = group
        self._emit(WRITE, group["id"], "Microsoft.Resources/subscriptions/resourceGroups/write")
        return copy.deepcopy(group), existing is None

    def ensure_group(self, subscription: str, name: str, location: str) -> dict[str, Any]:
        """The group, created if missing (seeding); never emits for an existing group."""
        found = self.groups.get(key(self.group_id(subscription, name)))
        if found is not None:
            return copy.deepcopy(found)
        return self.put_group(subscription, name, {"location": location})[0]

    def patch_group(self, subscription: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group(subscription, name)
        if "tags" in body:
            group["tags"] = _validate_tags(body["tags"])
        self._emit(WRITE, group["id"], "Microsoft.Resources/subscriptions/resourceGroups/write")
        return copy.deepcopy(group)

    def get_group(self, subscription: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self._group(subscription, name))

    def group_exists(self, subscription: str, name: str) -> bool:
        return key(self.group_id(subscription, name)) in self.groups

    def list_groups(self, subscription: str) -> list[dict[str, Any]]:
        prefix = f"/subscriptions/{subscription}/".lower()
        return [copy.deepcopy(g) for k, g in self.groups.items() if k.startswith(prefix)]

    def delete_group(self, subscription: str, name: str) -> bool:
        """Delete a group and (through ``on_group_deleted``) everything in it; False when absent."""
        group = self.groups.pop(key(self.group_id(subscription, name)), None)
        if group is None:
            return False
        for hook in self.on_group_deleted:
            hook(subscription, name)
        self._emit(DELETE, group["id"], "Microsoft.Resources/subscriptions/resourceGroups/delete")
        return True

    def _group(self, subscription: str, name: str) -> dict[str, Any]:
        group = self.groups.get(key(self.group_id(subscription, name)))
        if group is None:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return group

    # --- tags at a scope ---------------------------------------------------------------------
    def get_tags(self, scope: str) -> dict[str, Any]:
        return self._tags_resource(scope, self._read_tags(scope))

    def put_tags(self, scope: str, body: dict[str, Any]) -> dict[str, Any]:
        """``createOrUpdateAtScope``: the scope's tags become exactly these."""
        tags = _validate_tags((body.get("properties") or {}).get("tags"))
        return self._write_tags(scope, tags)

    def patch_tags(self, scope: str, body: dict[str, Any]) -> dict[str, Any]:
        """``updateAtScope``: ``operation`` Merge (add/replace), Replace (exactly these), Delete (remove names)."""
        operation = str(body.get("operation") or "")
        given = _validate_tags((body.get("properties") or {}).get("tags"))
        current = self._read_tags(scope)
        if operation.lower() == "merge":
            tags = {**current, **given}
        elif operation.lower() == "replace":
            tags = given
        elif operation.lower() == "delete":
            tags = {n: v for n, v in current.items() if not (n in given and (given[n] in ("", v)))}
        else:
            raise ArmError(
                400, "InvalidTagOperation", f"The tag operation '{operation}' is invalid; use Merge, Replace or Delete."
            )
        return self._write_tags(scope, tags)

    def delete_tags(self, scope: str) -> None:
        self._write_tags(scope, {})

    def _read_tags(self, scope: str) -> dict[str, str]:
        parsed = parse_id(scope)
        if parsed.resource_group is None:
            return dict(self.subscription_tags.get(parsed.subscription.lower(), {}))
        if parsed.provider is None:
            return dict(self._group(parsed.subscription, parsed.resource_group).get("tags") or {})
        return dict(self._find(scope).get("tags") or {})

    def _write_tags(self, scope: str, tags: dict[str, str]) -> dict[str, Any]:
        if len(tags) > _MAX_TAGS:
            raise ArmError(400, "InvalidTagCount", f"A resource can have at most {_MAX_TAGS} tags.")
        parsed = parse_id(scope)
        if parsed.resource_group is None:
            self.subscription_tags[parsed.subscription.lower()] = dict(tags)
            resource_uri = f"/subscriptions/{parsed.subscription}"
        elif parsed.provider is None:
            group = self._group(parsed.subscription, parsed.resource_group)
            group["tags"] = dict(tags)
            resource_uri = group["id"]
        else:
            written = None
            for target in self._targets():
                written = target.set_tags(scope, tags)
                if written is not None:
                    break
            if written is None:
                raise self._not_found(scope)
            resource_uri = written["id"]
        self._emit(WRITE, resource_uri, "Microsoft.Resources/tags/write")
        return self._tags_resource(scope, tags)

    def _find(self, scope: str) -> dict[str, Any]:
        for target in self._targets():
            found = target.find(scope)
            if found is not None:
                return found
        raise self._not_found(scope)

    @staticmethod
    def _not_found(scope: str) -> ArmError:
        parsed = parse_id(scope)
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{parsed.provider}/{parsed.rtype}/{parsed.name}' under resource group "
            f"'{parsed.resource_group}' was not found.",
        )

    @staticmethod
    def _tags_resource(scope: str, tags: dict[str, str]) -> dict[str, Any]:
        return {
            "id": f"{scope.rstrip('/')}/providers/Microsoft.Resources/tags/default",
            "name": "default",
            "type": "Microsoft.Resources/tags",
            "properties": {"tags": dict(tags)},
        }

    def _emit(self, event_type: str, rid: str, operation: str) -> None:
        if self.events is not None:
            self.events.emit(event_type, rid, operation)

    def reset(self) -> None:
        self.groups.clear()
        self.subscription_tags.clear()
