"""Event Grid trigger for Resource Health (``HealthResources.AvailabilityStatusChanged``) events."""

import logging

import azure.functions as func

from shared.context import get_context
from shared.failover.guard import ingest
from shared.health.health_events import parse_health_event
from shared.health.signals import Rejection
from shared.platform.telemetry import span
from shared.state.markers import note_delivery

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("health_events")
@bp.event_grid_trigger(arg_name="event")
def health_events(event: func.EventGridEvent) -> str:
    """Turn a VM availability change into a signal for its group's failover decision."""
    event_id = (event.id or "")[:200]
    with span("ppgdr health_events", kind="consumer", function="health_events", event_id=event_id) as traced:
        try:
            data = event.get_json()
        except ValueError:
            data = None
        parsed = parse_health_event(event.id, event.event_type, event.subject, data)
        if isinstance(parsed, Rejection):
            log.warning("rejected health event %s: %s", event_id[:100], parsed.reason, extra={"step": "health-event"})
            traced.set(outcome=f"rejected: {parsed.reason}"[:200])
            return f"rejected: {parsed.reason}"
        ctx = get_context()
        note_delivery(ctx.store, "health_events", event_id, str(event.event_type or ""))
        if parsed is None:
            return "ignored"
        traced.set(vm=(parsed.resource_id or "").rstrip("/").rsplit("/", 1)[-1] or None, signal=parsed.kind.value)
        outcomes = ingest(ctx, [parsed])
        traced.set(outcome=", ".join(str(o["kind"]) for o in outcomes)[:200])
        for outcome in outcomes:
            traced.set(group=str(outcome["group"]))
        summary = ", ".join(f"{o['group']}: {o['kind']}" for o in outcomes) or "no protected group"
        log.info("health event %s: %s", event.id, summary, extra={"step": "health-event"})
        return summary
