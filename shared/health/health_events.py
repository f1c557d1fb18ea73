"""Resource Health events from Event Grid (``HealthResources`` system topic) -> health signals.

The ``Microsoft.ResourceNotifications.HealthResources`` topic tells, per VM, when its availability
state changes. It is the cheapest, fastest per-VM health source, and like every Event Grid source it
delivers at least once and out of order: the signal keeps the event id (for de-duplication) and the
time the change occurred (for ordering), and the decision engine does the rest.

Three outcomes, so the trigger can log each differently:
- a :class:`~shared.health.signals.Signal` for an availability change of a VM;
- ``None`` for events that are fine but say nothing we act on (other resource types, ``Unknown``
  state, user-initiated stops, ``ResourceAnnotated`` events);
- a :class:`~shared.health.signals.Rejection` for anything malformed or inconsistent.

Event ids are not validated as GUIDs: Azure's own published sample carries a non-hex id.
Pure logic; never raises.
"""

from __future__ import annotations

from shared.arm.ids import VIRTUAL_MACHINES, parse_resource_id
from shared.arm.keys import normalize_arm_id
from shared.health.signals import (
    Rejection,
    Signal,
    SignalKind,
    SignalSource,
    clean_text,
    is_user_initiated,
    parse_timestamp,
    show,
)

AVAILABILITY_STATUS_CHANGED = "Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged"
RESOURCE_ANNOTATED = "Microsoft.ResourceNotifications.HealthResources.ResourceAnnotated"
MAX_EVENT_ID_CHARS = 200

_UNAVAILABLE_STATES = frozenset({"unavailable", "degraded"})


def parse_health_event(event_id: object, event_type: object, subject: object, data: object) -> Signal | Rejection | None:
    """Classify one HealthResources event (Event Grid or CloudEvents schema: same ``data``). Never raises.

    ``subject`` may be None (it is optional in CloudEvents); when present it must name the same
    resource as ``data.resourceInfo.properties.targetResourceId``: an event whose envelope and body
    disagree is refused rather than guessed at.
    """
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID_CHARS:
        return Rejection("health event has no usable id")
    if event_type == RESOURCE_ANNOTATED:
        # Annotations explain availability changes; the change itself arrives as its own event.
        return None
    if event_type != AVAILABILITY_STATUS_CHANGED:
        return Rejection(f"unexpected event type {show(event_type)} for the health events function")
    if not isinstance(data, dict):
        return Rejection("health event data is not a JSON object")
    info = data.get("resourceInfo")
    properties = info.get("properties") if isinstance(info, dict) else None
    if not isinstance(properties, dict):
        return Rejection("health event has no data.resourceInfo.properties object")

    target = properties.get("targetResourceId")
    if not isinstance(target, str) or not target:
        return Rejection(f"health event has no targetResourceId string ({show(target)})")
    target_type = properties.get("targetResourceType")
    if target_type is not None and not isinstance(target_type, str):
        return Rejection(f"health event targetResourceType is not a string ({show(target_type)})")
    if isinstance(target_type, str) and target_type.lower() != VIRTUAL_MACHINES.lower():
        # Scale sets and their instances: not ours. Ignored before anything else is parsed.
        return None
    parsed = parse_resource_id(target)
    if parsed is None:
        return Rejection(f"health event targetResourceId {show(target)} is not a resource id")
    if not parsed.is_type(VIRTUAL_MACHINES) or len(parsed.names) != 1:
        if target_type is not None:
            return Rejection(f"health event targetResourceId {show(target)} is not a virtual machine, as its type claims")
        return None
    vm = parsed.normalized
    if subject is not None and (not isinstance(subject, str) or normalize_arm_id(subject) != vm):
        return Rejection(f"health event subject {show(subject)} does not match targetResourceId {show(target)}")

    state = properties.get("availabilityState")
    if not isinstance(state, str) or not state.strip():
        return Rejection(f"health event has no availabilityState string ({show(state)})")
    lowered = state.strip().lower()
    if lowered == "unknown":
        return None
    if lowered == "available":
        kind = SignalKind.VM_AVAILABLE
    elif lowered in _UNAVAILABLE_STATES:
        if is_user_initiated(properties):
            return None
        kind = SignalKind.VM_UNAVAILABLE
    else:
        return Rejection(f"health event availabilityState {show(state)} is not Available, Degraded, Unavailable or Unknown")

    occurred = properties.get("occurredTime")
    operational = data.get("operationalInfo")
    fallback = operational.get("resourceEventTime") if isinstance(operational, dict) else None
    observed_at = parse_timestamp(occurred if occurred is not None else fallback)
    if observed_at is None:
        return Rejection(f"health event occurredTime {show(occurred if occurred is not None else fallback)} is not a timestamp")

    previous = clean_text(properties.get("previousAvailabilityState"), 20) or "?"
    detail = f"Resource Health event {previous} -> {clean_text(state, 20)}"
    signal_id = f"event:{event_id.strip()}:{lowered}"
    return Signal(kind, SignalSource.RESOURCE_HEALTH_EVENT, vm, None, observed_at, signal_id, detail)
