"""The ASGI app: one catch-all endpoint that turns HTTP into router calls, the way ARM's front door does.

Per request, in order: check the bearer token is present (ARM paths only), decode JSON (malformed
-> ARM 400), apply an injected fault (latency / 429 / 5xx), then under the state lock advance due
operations and dispatch. A clock jump (``POST /_emulator/clock`` with ``advance``) first waits for the ARM
requests in flight (``emulator/inflight.py``). An after-apply fault (``afterApply``) is answered last: the request is served,
then its answer replaced by the injected 5xx (a gateway timing out after the backend accepted). Every
``ArmError`` becomes ARM's error envelope; anything else becomes a 500 with the exception text (an
emulator bug should be loud, not a hang). ARM requests are logged.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import traceback
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.admin import PREFIX
from emulator.assembly import build_admin_router, build_arm_router
from emulator.errors import ArmError
from emulator.inflight import InFlight
from emulator.routing import ArmRequest, ArmResponse, Router
from emulator.state import Emulator

_CHALLENGE = 'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"'
_METHODS = ["GET", "PUT", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _decode(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArmError(
            400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: '{exc}'."
        ) from exc


def _to_response(result: ArmResponse, method: str, request_id: str) -> Response:
    headers = {"x-ms-request-id": request_id, "x-ms-correlation-request-id": request_id, **result.headers}
    if result.body is None or method == "HEAD":
        return Response(status_code=result.status, headers=headers)
    payload = json.dumps(result.body, separators=(",", ":")).encode()
    return Response(payload, status_code=result.status, headers=headers, media_type="application/json; charset=utf-8")


def create_app(emulator: Emulator) -> Starlette:
    """The Starlette app serving ``emulator`` (ARM paths and the ``/_emulator/`` admin API)."""
    arm = build_arm_router(emulator)
    admin = build_admin_router(emulator)
    in_flight = InFlight()

    async def endpoint(request: Request) -> Response:
        is_admin = request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")
        if is_admin:
            return await serve(request, is_admin=True)
        token = in_flight.enter()
        try:
            return await serve(request, is_admin=False)
        finally:
            in_flight.leave(token)

    async def serve(request: Request, *, is_admin: bool) -> Response:
        started = time.perf_counter()
        method, path = request.method.upper(), request.url.path
        query = dict(request.query_params)
        headers = {k.lower(): v for k, v in request.headers.items()}
        request_id = str(uuid.uuid4())
        fault_id: str | None = None
        after_apply: ArmError | None = None
        try:
            if not is_admin and "authorization" not in headers:
                raise ArmError(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                    headers={
                        "WWW-Authenticate": _CHALLENGE,
                    },
                )
            body = _decode(await request.body())
            if is_admin and method == "POST" and path == PREFIX + "/clock" and isinstance(body, dict) and body.get("advance"):
                await in_flight.drained()  # a jump must not land inside a delayed request (emulator/inflight.py)
            if not is_admin:
                fault = emulator.faults.take_request_fault(method, path)
                if fault is not None:
                    fault_id = fault.id
                    if fault.latency_ms > 0:
                        await asyncio.sleep(fault.latency_ms / 1000)
                    injected = fault.error()
                    if injected is not None and fault.after_apply:
                        after_apply = injected  # served first, replaced below
                    elif injected is not None:
                        raise injected
            base_url = f"{request.url.scheme}://{request.url.netloc}"
            router = admin if is_admin else arm
            result = _dispatch(emulator, router, is_admin, method, path, query, headers, body, base_url, str(request.url))
        except ArmError as exc:
            result = ArmResponse(exc.status, exc.body(), dict(exc.headers))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            result = ArmResponse(
                500, {"error": {"code": "InternalServerError", "message": f"Emulator error: {type(exc).__name__}: {exc}"}}
            )
        real_status = result.status
        if after_apply is not None:
            result = ArmResponse(after_apply.status, after_apply.body(), dict(after_apply.headers))
        if not is_admin or headers.get("x-emulator-log") == "1":
            entry = emulator.request_log.record(
                method, path, query, result.status, (time.perf_counter() - started) * 1000, fault=fault_id
            )
            if after_apply is not None:
                emulator.faults.note_applied(entry, real_status)
        return _to_response(result, method, request_id)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=_METHODS)])


def _dispatch(
    emulator: Emulator,
    router: Router,
    is_admin: bool,
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    body: Any,
    base_url: str,
    url: str,
) -> ArmResponse:
    with emulator.lock:
        if is_admin:
            handler, params = router.match(method, path)
            return handler(ArmRequest(method, path, query, headers, body, base_url, params))
        emulator.events.request_context(None)
        emulator.operations.advance()
        handler, params = router.match(method, path)
        emulator.events.request_context(method, url)
        try:
            return handler(ArmRequest(method, path, query, headers, body, base_url, params))
        finally:
            emulator.events.request_context(None)
