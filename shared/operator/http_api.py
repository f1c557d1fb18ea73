"""The HTTP surface: alert webhook, status, groups, decisions and approvals, group operations, dashboard.

One Starlette app, served in Azure through ``azure.functions.AsgiFunctionApp`` (the Functions host
checks the function key first) and locally through uvicorn. The app authenticates every request
itself as well: a caller presents a key (``x-functions-key`` header or ``code`` query parameter, as
Azure Monitor webhooks and the host use) that must match ``PPGDR_API_KEYS`` (plain values, or
``sha256:<hex>`` digests so the setting holds no usable secret). No keys configured means no access.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from shared.context import AppContext, get_context
from shared.failover import engine
from shared.failover.guard import approve, ingest, pending_decisions, reject
from shared.failover.lookup import require_group
from shared.failover.refusals import NotFound, WorkflowRefused
from shared.health.alerts import essentials_rule_id, parse_alert
from shared.health.signals import Rejection
from shared.operator.group_view import group_rows
from shared.operator.vm_lookup import VmLookupError, resolve_vm
from shared.state.audit import audit_trail
from shared.state.vm_status import all_statuses, get_status

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # the common alert schema is a few KiB; refuse anything absurd unread
GROUP_ACTIONS = ("failover", "commit", "repair", "reprotect", "resume", "failback")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def key_matches(presented: str, configured: tuple[str, ...]) -> bool:
    """Constant-time comparison against plain keys or ``sha256:<hex>`` digests."""
    digest = hashlib.sha256(presented.encode()).hexdigest()
    ok = False
    for key in configured:
        if key.startswith("sha256:"):
            ok |= hmac.compare_digest(digest, key.removeprefix("sha256:").lower())
        else:
            ok |= hmac.compare_digest(presented.encode(), key.encode())
    return ok and bool(presented)


class KeyAuth(BaseHTTPMiddleware):
    """Every route needs a valid key; failures are logged without the key."""

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        presented = request.headers.get("x-functions-key") or request.query_params.get("code") or ""
        if not key_matches(presented, get_context().settings.api_keys):
            log.warning("rejected unauthenticated %s %s", request.method, request.url.path, extra={"step": "http-auth"})
            return _error(401, "Unauthorized", "a valid key is required (x-functions-key header or code parameter)")
        return await call_next(request)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ValueError(f"body of {len(raw)} bytes is over the {MAX_BODY_BYTES}-byte limit")
    if not raw:
        return {}
    return json.loads(raw)


def _ctx() -> AppContext:
    return get_context()


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


# ------------------------------------------------------------------------------------------------ routes


async def alerts(request: Request) -> Response:
    """Azure Monitor action-group webhook (common alert schema). Malformed or unknown: 400, never acted on."""
    try:
        payload = await _json_body(request)
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("rejected alert: not JSON (%s)", str(exc)[:120], extra={"step": "alert"})
        return _error(400, "InvalidPayload", "the body is not JSON in the common alert schema")
    ctx = _ctx()
    parsed = parse_alert(payload)
    if isinstance(parsed, Rejection):
        log.warning("rejected alert: %s", parsed.reason, extra={"step": "alert"})
        return _error(parsed.status_code, "UnsupportedAlert", parsed.reason)
    rule = essentials_rule_id(payload)
    if ctx.settings.alert_rule_ids and (rule is None or rule.lower() not in ctx.settings.alert_rule_ids):
        log.warning("rejected alert from rule %s: not in PPGDR_ALERT_RULE_IDS", (rule or "?")[:200], extra={"step": "alert"})
        return _error(403, "UnknownAlertRule", "the alert rule is not one ppg-dr is configured to trust")
    outcomes = ingest(ctx, parsed)
    return JSONResponse({"signals": len(parsed), "decisions": outcomes}, status_code=202)


async def status(request: Request) -> Response:

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


async def groups(request: Request) -> Response:
    return JSONResponse({"value": group_overview(_ctx())})


async def group_detail(request: Request) -> Response:
    name = request.path_params["group"].lower()
    for row in group_overview(_ctx()):
        if row["name"].lower() == name:
            return JSONResponse(row)
    return _error(404, "NotFound", f"no DR group named {name[:100]!r}")


async def group_audit(request: Request) -> Response:

    ctx = _ctx()
    return JSONResponse({"value": audit_trail(ctx.store, require_group(ctx, request.path_params["group"]))})


async def decisions(request: Request) -> Response:

    return JSONResponse({"value": pending_decisions(_ctx())})


async def decide_on(request: Request) -> Response:

    try:
        body = await _json_body(request)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "InvalidPayload", "the body must be JSON")
    by = str(body.get("by") or "api")[:100] if isinstance(body, dict) else "api"
    decision_id = request.path_params["decision"]
    verb = request.path_params["verb"]
    if verb not in ("approve", "reject"):
        return _error(404, "NotFound", "use approve or reject")
    try:
        if verb == "approve":
            result = approve(_ctx(), decision_id, by=by, repair=_flag(request, "repair"), dry_run=_flag(request, "dry_run"))
        else:
            comment = str(body.get("comment") or "")[:500] if isinstance(body, dict) else ""
            result = reject(_ctx(), decision_id, by=by, comment=comment)
    except WorkflowRefused as exc:
        return _refused(exc)
    return JSONResponse(result)


def _refused(exc: Exception) -> JSONResponse:
    """404 for a group or decision that does not exist, 409 for one that exists but refuses the action."""
    if isinstance(exc, NotFound):
        return _error(404, "NotFound", str(exc))
    return _error(409, "Refused", str(exc))


async def group_action(request: Request) -> Response:

    name = request.path_params["group"]
    action = request.path_params["action"]
    dry_run = _flag(request, "dry_run")
    ctx = _ctx()
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
                reason="requested through the API",
                repair=_flag(request, "repair"),
                recovery_point=recovery_point,
                dry_run=dry_run,
            )
        elif action == "failback":
            wf = engine.start_failback(ctx, name, reason="requested through the API", dry_run=dry_run)
        else:
            wf = engine.request(ctx, name, action, dry_run=dry_run)
    except WorkflowRefused as exc:
        return _refused(exc)
    answer: dict[str, Any] = {"group": wf.group, "workflow": wf.id, "kind": wf.kind, "phase": wf.phase, "dry_run": dry_run}
    if plan is not None:
        answer["plan"] = plan
    return JSONResponse(answer, status_code=202)


async def dashboard(request: Request) -> Response:
    """A small read-only page: groups, their state and placement, pending decisions."""
    rows = group_overview(_ctx())
    parts = [
        "<html><head><title>ppg-dr</title></head><body><h1>ppg-dr: DR groups</h1><table border=1>",
        "<tr><th>group</th><th>state</th><th>mode</th><th>members</th><th>workflow</th><th>pending decision</th></tr>",
    ]
    for row in rows:
        members = ", ".join(f"{m['vm']} ({m['size']}, {m['state']})" for m in row["members"])
        wf = row["workflow"]
        pending = row["pending_decision"]
        parts.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    row["name"],
                    row["state"],
                    row["failover_mode"],
                    members,
                    f"{wf['kind']} {wf['phase']}" if wf else "-",
                    "; ".join(pending["reasons"]) if pending else "-",
                )
            )
            + "</tr>"
        )
    parts.append("</table></body></html>")
    return HTMLResponse("".join(parts))


def openapi_document() -> dict[str, Any]:
    """A hand-kept OpenAPI 3 description of the routes (small enough to keep true by hand)."""
    security: list[dict[str, list[str]]] = [{"functionKey": []}]

    def op(summary: str, status: str = "200", body: bool = False) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "summary": summary,
            "security": security,
            "responses": {
                status: {"description": "ok"},
                "401": {"description": "no valid key"},
                "400": {"description": "bad input"},
            },
        }
        if body:
            spec["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
        return spec

    group_param = [{"name": "group", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 63}}]
    return {
        "openapi": "3.0.3",
        "info": {"title": "ppg-dr", "version": "1"},
        "components": {"securitySchemes": {"functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}}},
        "paths": {
            "/api/alerts": {"post": op("Azure Monitor webhook (common alert schema)", "202", body=True)},
            "/api/status": {"get": op("Protection status per VM")},
            "/api/groups": {"get": op("DR groups")},
            "/api/groups/{group}": {"get": {**op("One DR group"), "parameters": group_param}},
            "/api/groups/{group}/audit": {"get": {**op("A group's audit trail"), "parameters": group_param}},
            "/api/groups/{group}/{action}": {
                "post": {
                    **op("failover, commit, repair, reprotect, resume or failback", "202"),
                    "parameters": [
                        *group_param,
                        {
                            "name": "action",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(GROUP_ACTIONS)},
                        },
                    ],
                }
            },
            "/api/decisions": {"get": op("Pending failover decisions")},
            "/api/decisions/{decision}/{verb}": {
                "post": {
                    **op("approve or reject a decision", body=True),
                    "parameters": [
                        {"name": "decision", "in": "path", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "verb",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": ["approve", "reject"]},
                        },
                    ],
                }
            },
            "/api/dashboard": {"get": op("HTML dashboard")},
        },
    }


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and wrong methods answer in the same JSON error shape as every other route."""
    assert isinstance(exc, HTTPException)
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
            Route("/api/groups/{group}/{action}", group_action, methods=["POST"]),
            Route("/api/decisions", decisions, methods=["GET"]),
            Route("/api/decisions/{decision}/{verb}", decide_on, methods=["POST"]),
            Route("/api/dashboard", dashboard, methods=["GET"]),
            Route("/api/openapi.json", openapi, methods=["GET"]),
        ],
        middleware=[Middleware(KeyAuth)],
        exception_handlers={HTTPException: _http_error, NotFound: _not_found},
    )
