"""The audit trail of a DR group: every decision, approval, refusal, workflow step and placement report.

Append-only rows per group (row keys sort by time), so an operator can follow one outage from the first
signal to the failback, and a reviewer can see who approved what.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from shared.arm.keys import name_key
from shared.state.store import AUDIT, StateStore

log = logging.getLogger(__name__)

#: Details of an audit row that its log line carries as fields too (custom dimensions in Application Insights),
#: so a Kusto query can follow one decision, workflow, ASR job or drill without reading the table.
LOGGED_DETAILS = ("decision", "workflow", "job", "drill", "by", "kind")


def audit(store: StateStore, group: str, event: str, message: str, **details: Any) -> None:
    """Append a row to the group's audit trail (and log it, with the group and the event as fields)."""
    now = store.now()
    row = f"{now.strftime('%Y%m%dT%H%M%S.%f')}-{uuid.uuid4().hex[:6]}"
    store.put(AUDIT, name_key(group), row, {"time": now.isoformat(), "event": event, "message": message, **details})
    fields = {k: str(v) for k, v in details.items() if k in LOGGED_DETAILS and v not in (None, "")}
    log.info("audit %s %s: %s", group, event, message, extra={"group": group, "step": event, **fields})


def audit_trail(store: StateStore, group: str) -> list[dict[str, Any]]:
    return [r.data for r in store.query(AUDIT, partition=name_key(group))]


def has_audit(store: StateStore, group: str) -> bool:
    return next(iter(store.query(AUDIT, partition=name_key(group))), None) is not None


# Audit events that belong to a failover, failback or drill report when they happened in its time span.
_REPORTED = ("drill", "failover", "failback", "placement", "commit", "reprotect", "repair", "blocked", "operator-")


def events_between(store: StateStore, group: str, since: str, until: str | None, *, key: str, value: str) -> list[dict[str, Any]]:
    """The audit rows of one run (tagged ``key=value``, or lifecycle events within its time span), for its report."""
    rows = []
    for row in audit_trail(store, group):
        in_span = since <= str(row["time"]) <= (until or "9999") and str(row["event"]).startswith(_REPORTED)
        if row.get(key) == value or in_span:
            rows.append({"time": row["time"], "event": row["event"], "message": row["message"]})
    return rows
