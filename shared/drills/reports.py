"""Report data of a drill: what happened, when, and where every test VM landed (failovers: failover/report.py).

The HTML page is rendered from this data by the operator layer; the keys are documented in
docs/operations.md ("Reports"). Times are ISO 8601 UTC; durations are seconds.
"""

from __future__ import annotations

from typing import Any

from shared.context import AppContext
from shared.state.audit import events_between
from shared.state.drill_records import DrillRecord


def drill_report(ctx: AppContext, drill: DrillRecord) -> dict[str, Any]:
    return {
        "id": drill.id,
        "kind": "drill",
        "group": drill.group,
        "trigger": drill.trigger,
        "requested_by": drill.requested_by,
        "started": drill.started,
        "finished": drill.finished,
        "verdict": drill.verdict,
        "source_region": drill.source_region,
        "target_region": drill.target_region,
        "recovery_plan": drill.recovery_plan,
        "test_network_id": drill.test_network_id,
        "rto_seconds": drill.rto_seconds,
        "rpo_seconds": drill.rpo_seconds,
        "cleanup_seconds": drill.cleanup_seconds,
        "targets": {"rto_seconds": drill.rto_target_seconds, "rpo_seconds": drill.rpo_target_seconds},
        "cleaned_up": drill.cleaned_up,
        "placement": drill.placement,
        "timeline": drill.timeline,
        "probes": drill.probes,
        "problems": drill.problems,
        "events": events_between(ctx.store, drill.group, drill.started, drill.finished, key="drill", value=drill.id),
    }
