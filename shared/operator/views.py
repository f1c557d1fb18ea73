"""Drills, reports and the dashboard as an operator sees them: one shape for the API, the CLI and the pages.

A drill (``GET /api/drills``, ``ppgdr drills``) uses the names its report uses (``rto_seconds``, ``targets``,
``cleaned_up`` ...) plus where its report is once it has one; a report summary is the report without its
per-VM lists. The field lists are in docs/operations.md ("Response fields"); a test checks them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC
from typing import Any
from urllib.parse import quote

from shared.context import AppContext
from shared.failover.guard import pending_decisions
from shared.operator.group_view import group_rows
from shared.state import vm_status as st
from shared.state.drill_records import DONE, DrillRecord, list_drills
from shared.state.reports import list_reports

# What a report summary keeps (GET /api/reports): everything but the per-VM lists and the events.
SUMMARY_KEYS = (
    "id",
    "kind",
    "group",
    "trigger",
    "requested_by",
    "started",
    "finished",
    "verdict",
    "source_region",
    "target_region",
    "recovery_plan",
    "rto_seconds",
    "rpo_seconds",
    "cleanup_seconds",
    "targets",
    "cleaned_up",
    "problems",
)
RECENT_REPORTS = 12


def duration(seconds: Any) -> str:
    """``43 s``, ``2 min 43 s``, ``1 h``, ``1 h 05 min``; ``-`` when not measured."""
    if seconds is None:
        return "-"
    total = round(float(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        minutes, rest = divmod(total, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(total, 3600)
    return f"{hours} h {rest // 60:02d} min" if rest >= 60 else f"{hours} h"


def report_path(report_id: str) -> str:
    return f"/api/reports/{quote(report_id, safe='')}"


def report_page_path(report_id: str) -> str:
    return f"{report_path(report_id)}/html"


def drill_view(drill: DrillRecord, *, has_report: bool) -> dict[str, Any]:
    """A drill in the list, in a POST answer and at the top of its detail."""
    return {
        "id": drill.id,
        "group": drill.group,
        "phase": drill.phase,
        "verdict": drill.verdict or None,
        "trigger": drill.trigger,
        "requested_by": drill.requested_by,
        "started": drill.started,
        "finished": drill.finished or None,
        "source_region": drill.source_region,
        "target_region": drill.target_region,
        "recovery_plan": drill.recovery_plan,
        "test_network_id": drill.test_network_id,
        "rto_seconds": drill.rto_seconds,
        "rpo_seconds": drill.rpo_seconds,
        "cleanup_seconds": drill.cleanup_seconds,
        "targets": {"rto_seconds": drill.rto_target_seconds, "rpo_seconds": drill.rpo_target_seconds},
        "cleaned_up": drill.cleaned_up,
        "problems": list(drill.problems),
        "report": report_path(drill.id) if has_report else None,
        "report_html": f"/api/drills/{quote(drill.id, safe='')}/report" if has_report else None,
    }


def drill_detail(drill: DrillRecord, *, has_report: bool) -> dict[str, Any]:
    """``GET /api/drills/{id}``: the summary plus its jobs, what it checked and its history."""
    return {
        **drill_view(drill, has_report=has_report),
        "deadline": drill.deadline,
        "test_failover_job": drill.test_failover_job or None,
        "cleanup_job": drill.cleanup_job or None,
        "cleanup_attempts": drill.cleanup_attempts,
        "cleanup_reason": drill.cleanup_reason or None,
        "placement": drill.placement,
        "timeline": drill.timeline,
        "probes": drill.probes,
        "history": drill.history,
    }


def report_summary(report: dict[str, Any]) -> dict[str, Any]:
    summary = {key: report.get(key) for key in SUMMARY_KEYS}
    summary["html"] = report_page_path(str(report["id"]))
    return summary


def full_report(report: dict[str, Any]) -> dict[str, Any]:
    """``GET /api/reports/{id}``: the stored report as written, plus where its page is."""
    return {**report, "html": report_page_path(str(report["id"]))}


def report_ids(ctx: AppContext, group: str | None = None) -> set[str]:
    return {str(r.get("id")) for r in list_reports(ctx.store, group)}


def drills_newest_first(ctx: AppContext, group: str | None = None) -> list[dict[str, Any]]:
    have = report_ids(ctx, group)
    return [drill_view(d, has_report=d.id in have) for d in reversed(list_drills(ctx.store, group))]


def reports_newest_first(ctx: AppContext, group: str | None = None) -> list[dict[str, Any]]:
    return [report_summary(r) for r in reversed(list_reports(ctx.store, group))]


# ------------------------------------------------------------------------------------------ dashboard


def _health(members: list[dict[str, Any]], statuses: dict[str, st.VmStatus]) -> dict[str, Any]:
    """Replication health of a group's members as ASR reports it (``Normal`` / ``Warning`` / ``Critical``)."""
    unhealthy = []
    for member in members:
        status = statuses.get(member["vm"].lower())
        health = status.replication_health if status else ""
        if health and health != "Normal":
            unhealthy.append(f"{member['vm']}: {health}")
    reported = [m for m in members if (s := statuses.get(m["vm"].lower())) is not None and s.replication_health]
    return {
        "normal": len(reported) - len(unhealthy),
        "reported": len(reported),
        "unhealthy": unhealthy,
        "ok": not unhealthy,
    }


def dashboard_data(ctx: AppContext) -> dict[str, Any]:
    """Everything the dashboard shows, read once: groups, drill history, decisions, operations, reports."""
    rows = group_rows(ctx)
    statuses = {s.vm_name.lower(): s for s in st.all_statuses(ctx.store)}
    reports = list_reports(ctx.store)
    have = {str(r.get("id")) for r in reports}
    history: dict[str, list[DrillRecord]] = defaultdict(list)
    for drill in list_drills(ctx.store):
        history[drill.group.lower()].append(drill)
    groups = []
    in_flight: list[dict[str, Any]] = []
    for row in rows:
        drills = history.get(row["name"].lower(), [])
        done = [d for d in drills if d.phase == DONE]
        last = drills[-1] if drills else None
        groups.append(
            {
                **row,
                "health": _health(row["members"], statuses),
                "last_drill": drill_view(last, has_report=last.id in have) if last else None,
                "drill_history": [drill_view(d, has_report=d.id in have) for d in done],
            }
        )
        wf = row["workflow"]
        if wf and wf["phase"] != "done":
            in_flight.append(
                {"kind": wf["kind"], "id": wf["id"], "group": row["name"], "phase": wf["phase"], "detail": wf["error"] or ""}
            )
        for drill in drills:
            if drill.active:
                in_flight.append(
                    {"kind": "drill", "id": drill.id, "group": drill.group, "phase": drill.phase, "detail": drill.cleanup_reason}
                )
    return {
        "generated_at": ctx.store.now().astimezone(UTC).isoformat(timespec="seconds"),
        "groups": groups,
        "pending": pending_decisions(ctx),
        "in_flight": in_flight,
        "reports": [report_summary(r) for r in reversed(reports)][:RECENT_REPORTS],
        "report_count": len(reports),
    }
