"""Event Grid resource events -> hints about which VM (or resource group) to reconcile.

Events are hints, the reconcile is the truth: an event only says *what to look at now*; what to do is
decided from Azure's current state. So parsing keeps just the affected resource and refuses anything
malformed or hostile (logged, never acted on). Other resource types are ignored cheaply, before any
Azure call or table read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.arm.ids import ResourceId, parse_resource_id

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
ACTION = "Microsoft.Resources.ResourceActionSuccess"
RESOURCE_EVENT_TYPES = frozenset({WRITE, DELETE, ACTION})
TAGS_SUFFIX = "/providers/microsoft.resources/tags/default"
TAGS_WRITE = "microsoft.resources/tags/write"


class HintKind(StrEnum):
    VM_CHANGED = "vm-changed"
    VM_DELETED = "vm-deleted"
    RESOURCE_GROUP_CHANGED = "resource-group-changed"
    IGNORED = "ignored"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ResourceHint:
    """What an event asks us to look at; ``reason`` explains ignored and rejected events for the log."""

    kind: HintKind
    event_id: str
    event_type: str
    resource: ResourceId | None = None
    operation: str = ""
    reason: str = ""

    @property
    def actionable(self) -> bool:
        return self.kind in {HintKind.VM_CHANGED, HintKind.VM_DELETED, HintKind.RESOURCE_GROUP_CHANGED}


def _rejected(event_id: str, event_type: str, reason: str) -> ResourceHint:
    return ResourceHint(HintKind.REJECTED, event_id, event_type, reason=reason)


def classify_resource_event(event_id: Any, event_type: Any, subject: Any, data: Any) -> ResourceHint:
    """Classify one event of the subscription's system topic (Event Grid schema). Never raises."""
    event_id = event_id if isinstance(event_id, str) else ""
    event_type = event_type if isinstance(event_type, str) else ""
    if not event_id or len(event_id) > 200:
        return _rejected("", event_type, "event has no usable id")
    if event_type not in RESOURCE_EVENT_TYPES:
        return _rejected(event_id, event_type, f"unexpected event type {event_type!r} for the resource events function")
    if not isinstance(data, dict):
        return _rejected(event_id, event_type, "event data is not a JSON object")
    uri = data.get("resourceUri", subject)
    operation = data.get("operationName", "")
    if not isinstance(uri, str) or not isinstance(operation, str):
        return _rejected(event_id, event_type, "resourceUri or operationName is not a string")
    status = data.get("status", "Succeeded")
    if status not in ("Succeeded", None):
        return ResourceHint(HintKind.IGNORED, event_id, event_type, operation=operation, reason=f"status {status}")

    lowered = uri.lower()
    is_tags = lowered.endswith(TAGS_SUFFIX) or operation.lower() == TAGS_WRITE
    target_uri = uri[: -len(TAGS_SUFFIX)] if lowered.endswith(TAGS_SUFFIX) else uri
    cheap_type = target_uri.lower()
    if "/providers/microsoft.compute/virtualmachines/" not in cheap_type and not (is_tags and "/providers/" not in cheap_type):
        # The common case on a busy subscription: not ours. No parsing, no table read, no Azure call.
        return ResourceHint(HintKind.IGNORED, event_id, event_type, operation=operation, reason="not a VM or tag write")

    resource = parse_resource_id(target_uri)
    if resource is None:
        return _rejected(event_id, event_type, f"malformed resource id {target_uri[:200]!r}")

    if resource.is_type("Microsoft.Compute/virtualMachines") and len(resource.names) == 1:
        if event_type == DELETE and not is_tags:
            return ResourceHint(HintKind.VM_DELETED, event_id, event_type, resource, operation)
        return ResourceHint(HintKind.VM_CHANGED, event_id, event_type, resource, operation)
    if resource.namespace is None and resource.resource_group is not None and is_tags:
        return ResourceHint(HintKind.RESOURCE_GROUP_CHANGED, event_id, event_type, resource, operation)
    return ResourceHint(HintKind.IGNORED, event_id, event_type, resource, operation, reason="not a VM or its tags")
