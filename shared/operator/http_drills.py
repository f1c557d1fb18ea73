"""Routes for drills and reports: start a drill, list and read drills, reports as JSON and as pages.

``POST /api/groups/{group}/drill`` starts a test-failover drill (the pulse carries it out) and answers 202
with the drill; ``GET /api/drills[/{id}]``; ``GET /api/drills/{id}/report`` is its report page once it has
one; ``GET /api/reports[/{id}]`` (JSON) and ``/api/reports/{id}/html`` (or ``?format=html``) for every
drill, failover and failback report. Shapes: ``shared.operator.views``; pages: ``shared.operator.render``.
"""

from __future__ import annotations

from datetime import UTC

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.failover.lookup import require_group
from shared.failover.refusals import NotFound, WorkflowRefused
from shared.operator import views
from shared.operator.http_common import ctx, error, flag, json_body, page, requested_by
from shared.state.drill_records import get_drill
from shared.state.reports import get_report


def _refused(exc: WorkflowRefused) -> JSONResponse:
    if isinstance(exc, NotFound):
        return error(404, "NotFound", str(exc))
    return error(409, "Refused", str(exc))


def _group_filter(request: Request) -> str | None:
    """``?group=``: the group as stored (``NotFound`` for an unknown one), or None for every group."""
    name = (request.query_params.get("group") or "").strip()
    return require_group(ctx(), name) if name else None


async def start_drill(request: Request) -> Response:
    from shared.drills.engine import start_drill as begin

    try:
        body = await json_body(request)
    except (ValueError, UnicodeDecodeError):
        return error(400, "InvalidPayload", "the body must be JSON")
    dry_run = flag(request, "dry_run")
    try:  # off the event loop: starting a drill reads and writes Table storage and reads Azure
        drill = await run_in_threadpool(
            begin, ctx(), request.path_params["group"], by=requested_by(request, body), trigger="operator", dry_run=dry_run
        )
    except WorkflowRefused as exc:
        return _refused(exc)
    return JSONResponse({**views.drill_view(drill, has_report=False), "dry_run": dry_run}, status_code=202)


def drills(request: Request) -> Response:
    return JSONResponse({"value": views.drills_newest_first(ctx(), _group_filter(request))})


def drill_detail(request: Request) -> Response:
    drill_id = request.path_params["drill"]
    drill = get_drill(ctx().store, drill_id)
    if drill is None:
        return error(404, "NotFound", f"no drill {drill_id[:100]!r}: GET /api/drills lists them")
    return JSONResponse(views.drill_detail(drill, has_report=get_report(ctx().store, drill.id) is not None))


def _report_page(report: dict[str, object]) -> Response:
    from shared.operator.render import render_report  # Jinja2 loads on the first page, not at cold start

    return page(render_report(report, generated_at=ctx().store.now().astimezone(UTC).isoformat()))


def drill_report(request: Request) -> Response:
    drill_id = request.path_params["drill"]
    drill = get_drill(ctx().store, drill_id)
    if drill is None:
        return error(404, "NotFound", f"no drill {drill_id[:100]!r}: GET /api/drills lists them")
    report = get_report(ctx().store, drill.id)
    if report is None:
        return error(
            404, "NotFound", f"drill {drill.id} has no report yet (phase {drill.phase}); it is written when the drill ends"
        )
    return _report_page(report)


def reports(request: Request) -> Response:
    return JSONResponse({"value": views.reports_newest_first(ctx(), _group_filter(request))})


def _find_report(request: Request) -> dict[str, object] | Response:
    report_id = request.path_params["report"]
    report = get_report(ctx().store, report_id)
    if report is None:
        return error(404, "NotFound", f"no report {report_id[:100]!r}: GET /api/reports lists them")
    return report


def report_detail(request: Request) -> Response:
    found = _find_report(request)
    if isinstance(found, Response):
        return found
    fmt = request.query_params.get("format", "json").lower()
    if fmt == "html":
        return _report_page(found)
    if fmt != "json":
        return error(400, "InvalidPayload", "format is json or html")
    return JSONResponse(views.full_report(found))


def report_html(request: Request) -> Response:
    found = _find_report(request)
    return found if isinstance(found, Response) else _report_page(found)
