"""Event Grid trigger for Resource Health (``HealthResources.AvailabilityStatusChanged``) events."""

import logging

import azure.functions as func

from shared.context import get_context
from shared.failover.guard import ingest
from shared.health.health_events import parse_health_event
from shared.health.signals import Rejection

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("health_events")
@bp.event_grid_trigger(arg_name="event")
def health_events(event: func.EventGridEvent) -> str:
    """Turn a VM availability change into a signal for its group's failover decision."""
    try:
        data = event.get_json()
    except ValueError:
        data = None
    parsed = parse_health_event(event.id, event.event_type, event.subject, data)
    if isinstance(parsed, Rejection):
        log.warning("rejected health event %s: %s", (event.id or "")[:100], parsed.reason, extra={"step": "health-event"})
        return f"rejected: {parsed.reason}"
    if parsed is None:
        return "ignored"
    outcomes = ingest(get_context(), [parsed])
    summary = ", ".join(f"{o['group']}: {o['kind']}" for o in outcomes) or "no protected group"
    log.info("health event %s: %s", event.id, summary, extra={"step": "health-event"})
    return summary
