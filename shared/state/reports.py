"""Reports of drills and real failovers, as data: what happened, when, where every VM landed.

A report is written once when a drill or a failover/failback ends and read by the API, the CLI and the
dashboard; the HTML page is rendered from this data on demand (``shared/operator``), so stored reports
stay small and a template change applies to old reports too.
"""

from __future__ import annotations

from typing import Any

from shared.arm.keys import encode_key, name_key
from shared.state.store import REPORTS, StateStore


def save_report(store: StateStore, report: dict[str, Any]) -> None:
    """Keep a report (``id``, ``kind`` drill/failover/failback, ``group`` ... see docs/operations.md)."""
    store.put(REPORTS, name_key(str(report["group"])), encode_key(str(report["id"])), report, kind=report.get("kind"))


def get_report(store: StateStore, report_id: str) -> dict[str, Any] | None:
    for record in store.query(REPORTS, where="RowKey eq @id", parameters={"id": encode_key(report_id)}):
        return dict(record.data)
    return None


def list_reports(store: StateStore, group: str | None = None) -> list[dict[str, Any]]:
    """Reports, oldest first (one group's, or all)."""
    records = store.query(REPORTS, partition=name_key(group)) if group else store.query(REPORTS)
    return sorted((dict(r.data) for r in records), key=lambda r: (str(r.get("started", "")), str(r.get("id", ""))))
