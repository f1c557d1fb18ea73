"""Event Grid trigger for the subscription's resource events (VM writes, tag writes, deletes)."""

import logging

import azure.functions as func

from shared.context import get_context
from shared.protection.reconciler import handle_resource_hint
from shared.protection.resource_events import classify_resource_event

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("resource_events")
@bp.event_grid_trigger(arg_name="event")
def resource_events(event: func.EventGridEvent) -> str:
    """Reconcile the VM (or resource group) an event names; malformed events are logged and dropped."""
    try:
        data = event.get_json()
    except ValueError:
        data = None
    hint = classify_resource_event(event.id, event.event_type, event.subject, data)
    outcome = handle_resource_hint(get_context(), hint)  # rejected and ignored events touch neither storage nor Azure
    if hint.actionable:  # ignored ones (most of a busy subscription) are logged at debug level only
        log.info("resource event %s: %s", event.id, outcome, extra={"step": "event", "event_id": event.id})
    return outcome
