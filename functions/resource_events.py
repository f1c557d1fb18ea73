"""Event Grid trigger for the subscription's resource events (VM writes, tag writes, deletes)."""

import logging

import azure.functions as func

from shared.context import get_context
from shared.platform.telemetry import span
from shared.protection.reconciler import handle_resource_hint
from shared.protection.resource_events import HintKind, classify_resource_event
from shared.state.markers import note_delivery

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("resource_events")
@bp.event_grid_trigger(arg_name="event")
def resource_events(event: func.EventGridEvent) -> str:
    """Reconcile the VM (or resource group) an event names; malformed events are logged and dropped."""
    event_id = (event.id or "")[:200]
    with span("ppgdr resource_events", kind="consumer", function="resource_events", event_id=event_id) as traced:
        try:
            data = event.get_json()
        except ValueError:
            data = None
        hint = classify_resource_event(event.id, event.event_type, event.subject, data)
        if hint.resource is not None:
            rg_event = hint.kind == HintKind.RESOURCE_GROUP_CHANGED
            traced.set(vm=None if rg_event else hint.resource.name, resource_id=str(hint.resource))
        ctx = get_context()
        outcome = handle_resource_hint(ctx, hint)  # rejected and ignored events touch neither storage nor Azure
        if hint.kind != HintKind.REJECTED:  # ...but for the delivery marker, written at most once a minute
            note_delivery(ctx.store, "resource_events", hint.event_id, hint.event_type)
        traced.set(event_type=hint.event_type, hint=hint.kind.value, outcome=outcome[:200])
        if hint.actionable:  # ignored ones (most of a busy subscription) are logged at debug level only
            log.info("resource event %s: %s", event.id, outcome, extra={"step": "event", "event_id": event.id})
        return outcome
