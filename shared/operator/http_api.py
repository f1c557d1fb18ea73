"""The HTTP surface: alert webhook, status, groups, decisions and approvals, group operations, drills,
reports, the dashboard and its sign-in.

One Starlette app, served in Azure through ``azure.functions.AsgiFunctionApp`` and locally through
uvicorn. The app authenticates every request itself (:class:`~shared.operator.http_auth.Authenticate`):
a key (``x-functions-key`` header or ``code`` query parameter) matching ``PPGDR_API_KEYS``, the session
cookie the login form set, or an Entra ID bearer token with the right app role (Azure Monitor's secure
webhook on ``/api/alerts``, operators elsewhere). No keys and no tenant configured means no access. The
Functions host checks the function key first unless the app accepts Entra ID tokens
(``shared.settings.http_auth_level``): then the host lets requests through and the app is the only gate.

Cold start: ``function_app`` imports this module; Jinja2 and the page rendering (``render``) are imported
inside the routes that draw a page, so an alert or a timer never pays for them.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.context import AppContext, get_context
from shared.failover import engine
from shared.failover.guard import approve, ingest, pending_decisions, reject
from shared.failover.lookup import require_group
from shared.failover.refusals import NotFound, WorkflowRefused
from shared.health.alerts import allow_list_refusal, parse_alert
from shared.health.signals import Rejection
from shared.operator import http_drills, http_pages, sessions
from shared.operator.group_view import group_rows
from shared.operator.http_auth import Authenticate
from shared.operator.http_common import (
    MAX_BODY_BYTES,
    BodyLimit,
    BodyRefused,
    body_refused,
    error,
    flag,
    identity_of,
    json_body,
    key_matches,
    requested_by,
    said_by,
)
from shared.operator.vm_lookup import VmLookupError, resolve_vm
from shared.platform.telemetry import TracingMiddleware
from shared.settings import Settings
from shared.state.audit import audit_trail
from shared.state.vm_status import all_statuses, get_status

log = logging.getLogger(__name__)

__all__ = ["GROUP_ACTIONS", "MAX_BODY_BYTES", "Authenticate", "create_app", "key_matches", "openapi_document"]

GROUP_ACTIONS = ("failover", "commit", "repair", "reprotect", "resume", "failback")

_error = error
_json_body = json_body
_flag = flag


def _ctx() -> AppContext:
    return get_context()


def watched_subscriptions(settings: Settings) -> tuple[str, ...]:
    """The subscriptions ppg-dr watches: ``PPGDR_SUBSCRIPTIONS`` and those of ``PPGDR_RESOURCE_GROUPS``."""
    from_groups = (group.strip("/").split("/")[1] for group in settings.resource_groups if group.count("/") >= 2)
    return tuple(dict.fromkeys(sub.lower() for sub in (*settings.subscriptions, *from_groups)))


# ------------------------------------------------------------------------------------------------ routes
#
# Table storage and ARM calls block. A route that reads a body is ``async`` (the body streams in on the event loop,
# bounded by ``read_body``) and hands the rest to a worker thread (``run_in_threadpool``); a route without a body
# is a plain ``def``, which Starlette runs in its thread pool. Either way a slow storage call holds one worker
# thread, never the event loop: other requests (``/api/openapi.json``, the alert webhook) keep being answered.


async def alerts(request: Request) -> Response:
    """Azure Monitor action-group webhook (common alert schema). Malformed or unknown: 400; from a rule not
    allowed to send it (``PPGDR_ALERT_RULE_IDS``: rule, the alerts its type sends, watched subscriptions): 403.
    Either way nothing is stored and Azure is not called."""
    try:
        payload = await _json_body(request)
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("rejected alert: not JSON (%s)", str(exc)[:120], extra={"step": "alert"})
        return _error(400, "InvalidPayload", "the body is not JSON in the common alert schema")
    return await run_in_threadpool(take_alert, payload)


def take_alert(payload: Any) -> Response:
    """The alert webhook's work after the body is read (blocking: Table storage; a worker thread runs it)."""
    ctx = _ctx()
    refused = allow_list_refusal(payload, ctx.settings.alert_rule_ids, watched_subscriptions(ctx.settings))
    if refused is not None:
        code, reason = refused
        log.warning("refused alert (%s): %s; nothing stored", code, reason, extra={"step": "alert"})
        return _error(403, code, f"{reason}: check PPGDR_ALERT_RULE_IDS and the action group that sends it")
    parsed = parse_alert(payload)
    if isinstance(parsed, Rejection):
        log.warning("rejected alert: %s", parsed.reason, extra={"step": "alert"})
        return _error(parsed.status_code, "UnsupportedAlert", parsed.reason)
    outcomes = ingest(ctx, parsed)
    return JSONResponse({"signals": len(parsed), "decisions": outcomes}, status_code=202)


def status(request: Request) -> Response:

    ctx = _ctx()
    vm = request.query_params.get("vm")
    if vm:
        try:
            found = get_status(ctx.store, resolve_vm(ctx, vm, managed_only=True))
        except VmLookupError as exc:
            return _error(404, "NotFound", str(exc))
        if found is None:
            return _error(404, "NotFound", f"ppg-dr has no status for {vm[:300]}")
        return JSONResponse(found.to_data())
    group = (request.query_params.get("group") or "").lower()
    if group:
        require_group(ctx, group)
    return JSONResponse({"value": [s.to_data() for s in all_statuses(ctx.store) if not group or s.group.lower() == group]})


def group_overview(ctx: AppContext) -> list[dict[str, Any]]:
    """Every group: members, state, where it runs, plan, pending decision, workflow (API, CLI, dashboard)."""
    return group_rows(ctx)


def groups(request: Request) -> Response:
    return JSONResponse({"value": group_overview(_ctx())})


def group_detail(request: Request) -> Response:
    name = request.path_params["group"].lower()
    for row in group_overview(_ctx()):
        if row["name"].lower() == name:
            return JSONResponse(row)
    return _error(404, "NotFound", f"no DR group named {name[:100]!r}")


def group_audit(request: Request) -> Response:

    ctx = _ctx()
    return JSONResponse({"value": audit_trail(ctx.store, require_group(ctx, request.path_params["group"]))})


def decisions(request: Request) -> Response:

    return JSONResponse({"value": pending_decisions(_ctx())})


async def decide_on(request: Request) -> Response:

    try:
        body = await _json_body(request)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "InvalidPayload", "the body must be JSON")
    return await run_in_threadpool(decide, request, body)


def decide(request: Request, body: Any) -> Response:
    """Approve or reject once the body is read (blocking: a worker thread runs it)."""
    by = requested_by(request, body)
    decision_id = request.path_params["decision"]
    verb = request.path_params["verb"]
    if verb not in ("approve", "reject"):
        return _error(404, "NotFound", "use approve or reject")
    try:
        if verb == "approve":
            result = approve(_ctx(), decision_id, by=by, repair=_flag(request, "repair"), dry_run=_flag(request, "dry_run"))
        else:
            comment = str(body.get("comment") or "")[:500] if isinstance(body, dict) else ""
            said = said_by(request, body)  # a key caller's "by": kept as a comment, never the identity
            comment = "; ".join(part for part in (comment, f"by {said!r} (unverified)" if said else "") if part)
            result = reject(_ctx(), decision_id, by=by, comment=comment)
    except WorkflowRefused as exc:
        return _refused(exc)
    return JSONResponse(result)


def _refused(exc: Exception) -> JSONResponse:
    """404 for a group or decision that does not exist, 409 for one that exists but refuses the action."""
    if isinstance(exc, NotFound):
        return _error(404, "NotFound", str(exc))
    return _error(409, "Refused", str(exc))


def group_action(request: Request) -> Response:

    name = request.path_params["group"]
    action = request.path_params["action"]
    dry_run = _flag(request, "dry_run")
    ctx = _ctx()
    who = identity_of(request)
    reason = f"requested through the API by {who}" if who else "requested through the API"
    if action not in GROUP_ACTIONS:
        return _error(404, "NotFound", f"unknown action; use one of {', '.join(GROUP_ACTIONS)}")
    plan: dict[str, Any] | None = None
    try:
        if action == "failover":
            recovery_point = request.query_params.get("recovery_point", "LatestProcessed")
            if dry_run:
                plan = engine.preview_failover(ctx, name, recovery_point=recovery_point, repair=_flag(request, "repair"))
            wf = engine.start_failover(
                ctx,
                name,
                reason=reason,
                repair=_flag(request, "repair"),
                recovery_point=recovery_point,
                dry_run=dry_run,
            )
        elif action == "failback":
            wf = engine.start_failback(ctx, name, reason=reason, dry_run=dry_run)
        else:
            wf = engine.request(ctx, name, action, dry_run=dry_run, by=who or "the operator")
    except WorkflowRefused as exc:
        return _refused(exc)
    answer: dict[str, Any] = {"group": wf.group, "workflow": wf.id, "kind": wf.kind, "phase": wf.phase, "dry_run": dry_run}
    if plan is not None:
        answer["plan"] = plan
    return JSONResponse(answer, status_code=202)


def openapi_document() -> dict[str, Any]:
    """A hand-kept OpenAPI 3 description of the routes (small enough to keep true by hand; a test checks
    that every route of :func:`create_app` is in it)."""
    security: list[dict[str, list[str]]] = [{"functionKey": []}, {"sessionCookie": []}, {"entraToken": []}]

    def op(summary: str, status: str = "200", body: bool = False, html: bool = False, public: bool = False) -> dict[str, Any]:
        ok: dict[str, Any] = {"description": "ok"}
        if html:
            ok["content"] = {"text/html": {"schema": {"type": "string"}}}
        spec: dict[str, Any] = {
            "summary": summary,
            "security": [] if public else security,
            "responses": {status: ok, "400": {"description": "bad input"}},
        }
        if not public:
            spec["responses"]["401"] = {"description": "no valid key, session or token"}
            spec["responses"]["403"] = {
                "description": "signed in, but no valid CSRF token (POST); or a valid token without the route's app role"
            }
            spec["responses"]["503"] = {"description": "an Entra ID token, but the tenant's signing keys cannot be fetched"}
        if body:
            spec["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        return spec

    def with_404(spec: dict[str, Any], what: str) -> dict[str, Any]:
        spec["responses"]["404"] = {"description": f"unknown {what}"}
        return spec

    def path_param(name: str, **schema: Any) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string", **schema}}

    def query(name: str, description: str, kind: str = "string") -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": description, "schema": {"type": kind}}

    group_param = [path_param("group", maxLength=63)]
    group_query = query("group", "only this DR group (404 if unknown)")
    dry_run = query("dry_run", "check and record, change nothing", "boolean")
    return {
        "openapi": "3.0.3",
        "info": {"title": "ppg-dr", "version": "1"},
        "components": {
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": sessions.COOKIE,
                    "description": f"set by POST /api/login; POSTs also need the {sessions.CSRF_HEADER} header",
                },
                "entraToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "an Entra ID access token: on /api/alerts with PPGDR_ALERT_ROLE (PPGDR_ALERT_AUTH_MODE=aad, "
                    "then the only way in), elsewhere with PPGDR_OPERATOR_ROLE (or PPGDR_READER_ROLE to read)",
                },
            }
        },
        "paths": {
            "/api/alerts": {"post": op("Azure Monitor webhook (common alert schema)", "202", body=True)},
            "/api/status": {"get": op("Protection status per VM")},
            "/api/groups": {"get": op("DR groups")},
            "/api/groups/{group}": {"get": {**with_404(op("One DR group"), "group"), "parameters": group_param}},
            "/api/groups/{group}/audit": {"get": {**with_404(op("A group's audit trail"), "group"), "parameters": group_param}},
            "/api/groups/{group}/drill": {
                "post": {
                    **with_404(
                        op("Start a test-failover drill of the group (409 with the reason if refused)", "202", body=True), "group"
                    ),
                    "parameters": [*group_param, dry_run],
                }
            },
            "/api/groups/{group}/{action}": {
                "post": {
                    **with_404(op("failover, commit, repair, reprotect, resume or failback", "202"), "group"),
                    "parameters": [*group_param, path_param("action", enum=list(GROUP_ACTIONS)), dry_run],
                }
            },
            "/api/decisions": {"get": op("Pending failover decisions")},
            "/api/decisions/{decision}/{verb}": {
                "post": {
                    **with_404(op("approve or reject a decision", body=True), "decision"),
                    "parameters": [path_param("decision"), path_param("verb", enum=["approve", "reject"])],
                }
            },
            "/api/drills": {"get": {**with_404(op("Drills, newest first"), "group"), "parameters": [group_query]}},
            "/api/drills/{drill}": {"get": {**with_404(op("One drill"), "drill"), "parameters": [path_param("drill")]}},
            "/api/drills/{drill}/report": {
                "get": {
                    **with_404(op("The drill's report page", html=True), "drill or no report yet"),
                    "parameters": [path_param("drill")],
                }
            },
            "/api/reports": {
                "get": {
                    **with_404(op("Drill, failover and failback reports, newest first"), "group"),
                    "parameters": [group_query],
                }
            },
            "/api/reports/{report}": {
                "get": {
                    **with_404(op("One report (JSON, or the page with format=html)"), "report"),
                    "parameters": [
                        path_param("report"),
                        {**query("format", "json (default) or html"), "schema": {"type": "string", "enum": ["json", "html"]}},
                    ],
                }
            },
            "/api/reports/{report}/html": {
                "get": {
                    **with_404(op("One report as a self-contained page", html=True), "report"),
                    "parameters": [path_param("report")],
                }
            },
            "/api/dashboard": {"get": op("HTML dashboard (a browser without a session is sent to /api/login)", html=True)},
            "/api/login": {
                "get": op("The sign-in form", html=True, public=True),
                "post": {
                    **op("Sign in: the key in the form body; sets the HTTP-only session cookie", "303", public=True),
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "key": {"type": "string"},
                                        "name": {"type": "string"},
                                        "next": {"type": "string"},
                                    },
                                    "required": ["key"],
                                }
                            }
                        }
                    },
                },
            },
            "/api/logout": {"post": op("Sign out: clears the session cookie", "303", public=True)},
            "/api/favicon.ico": {"get": op("No icon (204), answered without a key", "204", public=True)},
            "/api/preflight": {
                "get": {
                    **op("The preflight checklist (ppgdr preflight): what ppg-dr can reach and read"),
                    "parameters": [query("event_hours", "warn when no event came for this many hours (24)", "integer")],
                }
            },
            "/api/openapi.json": {"get": op("This document")},
        },
    }


def preflight_checklist(request: Request) -> Response:
    """``GET /api/preflight``: imported on first use, so a cold start of any other route does not pay for the checks.
    A plain ``def``: Starlette runs it in its thread pool (the checks call Azure and Table storage)."""
    from shared.operator.preflight import http_preflight

    return http_preflight(request)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes, wrong methods and refused bodies answer in the same JSON error shape as every other route."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, BodyRefused):
        log.warning("refused the body of %s %s: %s", request.method, request.url.path[:200], exc.detail, extra={"step": "http"})
        return body_refused(exc)
    codes = {404: "NotFound", 405: "MethodNotAllowed"}
    message = {404: f"no route {request.url.path[:200]}", 405: f"{request.method} is not allowed on {request.url.path[:200]}"}
    response = _error(exc.status_code, codes.get(exc.status_code, "Error"), message.get(exc.status_code, str(exc.detail)))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _not_found(request: Request, exc: Exception) -> Response:
    return _refused(exc)


def create_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/api/alerts", alerts, methods=["POST"]),
            Route("/api/status", status, methods=["GET"]),
            Route("/api/groups", groups, methods=["GET"]),
            Route("/api/groups/{group}", group_detail, methods=["GET"]),
            Route("/api/groups/{group}/audit", group_audit, methods=["GET"]),
            Route("/api/groups/{group}/drill", http_drills.start_drill, methods=["POST"]),
            Route("/api/groups/{group}/{action}", group_action, methods=["POST"]),
            Route("/api/decisions", decisions, methods=["GET"]),
            Route("/api/decisions/{decision}/{verb}", decide_on, methods=["POST"]),
            Route("/api/drills", http_drills.drills, methods=["GET"]),
            Route("/api/drills/{drill}", http_drills.drill_detail, methods=["GET"]),
            Route("/api/drills/{drill}/report", http_drills.drill_report, methods=["GET"]),
            Route("/api/reports", http_drills.reports, methods=["GET"]),
            Route("/api/reports/{report}", http_drills.report_detail, methods=["GET"]),
            Route("/api/reports/{report}/html", http_drills.report_html, methods=["GET"]),
            Route("/api/dashboard", http_pages.dashboard, methods=["GET"]),
            Route("/api/login", http_pages.login_form, methods=["GET"]),
            Route("/api/login", http_pages.login, methods=["POST"]),
            Route("/api/logout", http_pages.logout, methods=["POST"]),
            Route("/favicon.ico", http_pages.favicon, methods=["GET"]),
            Route("/api/favicon.ico", http_pages.favicon, methods=["GET"]),
            Route("/api/preflight", preflight_checklist, methods=["GET"]),
            Route("/api/openapi.json", openapi, methods=["GET"]),
        ],
        # Tracing outermost: refusals are traced too. BodyLimit innermost: it bounds every route's reads, and its 413
        # is raised in the route's own call (outside it, Authenticate's task group would wrap it into a 500).
        middleware=[Middleware(TracingMiddleware), Middleware(Authenticate), Middleware(BodyLimit)],
        exception_handlers={HTTPException: _http_error, NotFound: _not_found},
    )
