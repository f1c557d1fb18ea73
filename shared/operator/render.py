"""The HTML pages: a report, the dashboard, the login form, rendered with Jinja2 from ``templates/``.

Every page is self-contained: inline CSS, charts as inline SVG that the templates draw from the geometry
computed here, no script or asset fetched at run time, so a report saved to a file (``ppgdr report ID
--html PATH``) reads the same offline. Autoescaping is on for every template; undefined names fail loudly.

Imported lazily by the routes and commands that render (Jinja2 is not loaded at cold start).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from shared.operator.views import duration

TEMPLATES = Path(__file__).with_name("templates")

# Bar colour classes of the timeline chart, by the phase a step belongs to.
PHASE_CLASSES = {
    "test failover": "tf",
    "failover": "fo",
    "verify": "va",
    "validate": "va",
    "commit": "cm",
    "repair": "rp",
    "reprotect": "rp",
    "cleanup": "cl",
}
FAILED_STATES = ("failed", "cancelled", "canceled", "suspended", "timedout")
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
KIND_TITLES = {"drill": "Drill", "failover": "Failover", "failback": "Failback"}


# ------------------------------------------------------------------------------------------- filters


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def when(value: Any) -> str:
    moment = parse_time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def clock(value: Any) -> str:
    moment = value if isinstance(value, datetime) else parse_time(value)
    return moment.strftime("%H:%M:%S") if moment else "-"


def name_of(resource_id: Any) -> str:
    """The last segment of an ARM id (a PPG's or VM's name), ``-`` for none."""
    return str(resource_id).rstrip("/").rsplit("/", 1)[-1] if resource_id else "-"


def flag(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(duration=duration, when=when, clock=clock, name_of=name_of, flag=flag)
    return env


# -------------------------------------------------------------------------------------------- charts


def _tick_step(span: float) -> int:
    return next((step for step in TICK_STEPS if span / step <= 6), TICK_STEPS[-1])


def timeline_chart(timeline: list[dict[str, Any]], *, width: int = 900) -> dict[str, Any] | None:
    """Gantt-like geometry: one row per VM, one bar per step, a time axis from the first step's start."""
    label_w, right, top, row_h, bar_h, axis_h = 170, 24, 10, 28, 18, 34
    times = [
        moment
        for entry in timeline
        for step in entry.get("steps") or []
        for moment in (parse_time(step.get("start")), parse_time(step.get("end")))
        if moment is not None
    ]
    if not times:
        return None
    t0, t1 = min(times), max(times)
    span = max((t1 - t0).total_seconds(), 1.0)
    plot_w = width - label_w - right

    def x_at(seconds: float) -> float:
        return round(label_w + seconds / span * plot_w, 1)

    rows, legend = [], {}
    for index, entry in enumerate(timeline):
        y = top + index * row_h
        bars = []
        for step in entry.get("steps") or []:
            start, end = parse_time(step.get("start")), parse_time(step.get("end"))
            if start is None:
                continue
            phase = str(step.get("phase") or "")
            state = str(step.get("state") or "")
            cls = PHASE_CLASSES.get(phase.lower(), "other")
            legend[cls] = phase or "other"
            failed = state.lower() in FAILED_STATES
            x0 = x_at((start - t0).total_seconds())
            x1 = x_at(((end or t1) - t0).total_seconds())
            name = str(step.get("name") or phase)
            length = duration((end - start).total_seconds()) if end else "still running"
            bars.append(
                {
                    "x": x0,
                    "y": y + (row_h - bar_h) / 2,
                    "w": max(round(x1 - x0, 1), 3.0),
                    "h": bar_h,
                    "cls": cls + (" failed" if failed else "") + (" running" if end is None else ""),
                    "label": name if x1 - x0 > 8 * len(name) else "",
                    "title": f"{entry.get('vm')}: {name} ({phase}), {state or 'no state'}, "
                    f"{clock(start)} to {clock(end) if end else '...'} ({length})",
                }
            )
        rows.append({"vm": str(entry.get("vm") or "?"), "y": y, "text_y": y + row_h / 2 + 4, "bars": bars})
    axis_y = top + len(rows) * row_h + 4
    step = _tick_step(span)
    ticks = [{"x": x_at(k * step), "label": "+" + duration(k * step) if k else "0"} for k in range(int(span // step) + 1)]
    return {
        "width": width,
        "height": axis_y + axis_h,
        "label_w": label_w,
        "rows": rows,
        "ticks": ticks,
        "top": top,
        "axis_y": axis_y,
        "end_x": x_at(span),
        "start": t0.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "span": duration(span),
        "legend": [{"cls": cls, "phase": phase} for cls, phase in sorted(legend.items(), key=lambda kv: kv[1])],
    }


def sparkline(values: list[float | None], target: float | None, *, width: int = 150, height: int = 36) -> dict[str, Any] | None:
    """A small trend line over a group's drills (oldest left), with the target as a dashed line."""
    points = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    if not points:
        return None
    pad = 4
    top = max(max(v for _, v in points), float(target or 0)) * 1.15 or 1.0
    count = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return round(pad + i * (width - 2 * pad) / count, 1), round(height - pad - v / top * (height - 2 * pad), 1)

    coords = [xy(i, v) for i, v in points]
    last = points[-1][1]
    return {
        "width": width,
        "height": height,
        "points": " ".join(f"{x},{y}" for x, y in coords),
        "dots": [
            {"x": x, "y": y, "over": bool(target) and v > float(target or 0)}
            for (x, y), (_, v) in zip(coords, points, strict=True)
        ],
        "target_y": xy(0, float(target))[1] if target else None,
        "last": last,
        "target": target,
        "over": bool(target) and last > float(target or 0),
        "count": len(points),
    }


# ------------------------------------------------------------------------------------------- reports


def _measure(report: dict[str, Any], key: str, targets: dict[str, Any]) -> dict[str, Any]:
    value = float(report[key]) if report.get(key) is not None else None
    target = float(targets[key]) if targets.get(key) else None
    return {
        "value": value,
        "target": target,
        "over": value is not None and target is not None and value > target,
        "percent": min(round(100 * value / target), 100) if value is not None and target else None,
    }


def placement_rows(placement: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for row in placement or []:
        outside = bool(row.get("problem")) or False in (row.get("in_ppg"), row.get("in_availability_set"), row.get("in_zone"))
        rows.append(
            {
                "vm": row.get("vm") or name_of(row.get("vm_id")),
                "placed_vm": name_of(row.get("vm_id")),
                "running": row.get("running"),
                "power": row.get("power") or ("running" if row.get("running") else "-"),
                "size": row.get("size") or "",
                "ppg": name_of(row.get("ppg")),
                "expected_ppg": name_of(row.get("expected_ppg")),
                "in_ppg": row.get("in_ppg"),
                "availability_set": name_of(row.get("availability_set")),
                "expected_availability_set": name_of(row.get("expected_availability_set")),
                "in_availability_set": row.get("in_availability_set"),
                "zone": row.get("zone") or "-",
                "expected_zone": row.get("expected_zone") or "-",
                "in_zone": row.get("in_zone"),
                "problem": row.get("problem") or "",
                "outside": outside,
            }
        )
    return rows


def verdict_class(verdict: Any) -> str:
    text = str(verdict or "").lower()
    if text in ("passed", "completed"):
        return "ok"
    if text.startswith("completed"):
        return "warn"
    return "bad" if text else "busy"


def report_view(report: dict[str, Any]) -> dict[str, Any]:
    """The report with every optional part filled in, and the chart geometry, for ``report.html.j2``."""
    targets = report.get("targets") or {}
    placement = placement_rows(report.get("placement") or [])
    started, finished = parse_time(report.get("started")), parse_time(report.get("finished"))
    kind = str(report.get("kind") or "report")
    return {
        "id": str(report.get("id")),
        "kind": kind,
        "kind_title": KIND_TITLES.get(kind, kind.title()),
        "group": str(report.get("group") or "?"),
        "trigger": report.get("trigger") or "-",
        "requested_by": report.get("requested_by") or "-",
        "started": report.get("started"),
        "finished": report.get("finished"),
        "elapsed": (finished - started).total_seconds() if started and finished else None,
        "verdict": report.get("verdict") or "in progress",
        "verdict_class": verdict_class(report.get("verdict")),
        "source_region": report.get("source_region") or "-",
        "target_region": report.get("target_region") or "-",
        "recovery_plan": report.get("recovery_plan") or "-",
        "test_network": name_of(report.get("test_network_id")) if report.get("test_network_id") else None,
        "rto": _measure(report, "rto_seconds", targets),
        "rpo": _measure(report, "rpo_seconds", targets),
        "cleanup_seconds": report.get("cleanup_seconds"),
        "cleaned_up": report.get("cleaned_up"),
        "placement": placement,
        "placed_as_planned": sum(1 for r in placement if r["running"] and not r["outside"]),
        "outside": [r["vm"] for r in placement if r["outside"]],
        "chart": timeline_chart(report.get("timeline") or []),
        "probes": report.get("probes") or [],
        "problems": [str(p) for p in report.get("problems") or []],
        "events": report.get("events") or [],
    }


def render_report(report: dict[str, Any], *, generated_at: str) -> str:
    return environment().get_template("report.html.j2").render(r=report_view(report), generated_at=generated_at)


# ----------------------------------------------------------------------------------------- dashboard


def state_class(state: str) -> str:
    if state in ("protected", "reprotected"):
        return "ok"
    if state == "blocked":
        return "bad"
    return "busy"


def dashboard_view(data: dict[str, Any]) -> dict[str, Any]:
    groups = []
    for group in data["groups"]:
        history = group["drill_history"]
        targets = history[-1]["targets"] if history else {}
        groups.append(
            {
                **group,
                "state_class": state_class(str(group["state"])),
                "rto_trend": sparkline([d["rto_seconds"] for d in history], targets.get("rto_seconds")),
                "rpo_trend": sparkline([d["rpo_seconds"] for d in history], targets.get("rpo_seconds")),
                "can_drill": group["state"] == "protected" and not any(op["group"] == group["name"] for op in data["in_flight"]),
            }
        )
    return {**data, "groups": groups}


def render_dashboard(data: dict[str, Any], *, csrf: str, who: str, nonce: str, refresh_seconds: int = 30) -> str:
    return (
        environment()
        .get_template("dashboard.html.j2")
        .render(
            d=dashboard_view(data), csrf=csrf, who=who, nonce=nonce, refresh_seconds=refresh_seconds, verdict_class=verdict_class
        )
    )


def render_login(*, next_path: str, error: str = "") -> str:
    return environment().get_template("login.html.j2").render(next_path=next_path, error=error)
