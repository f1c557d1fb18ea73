"""What every route module of the HTTP app shares: the error shape, JSON bodies, flags, HTML answers."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from shared.context import AppContext, get_context
from shared.operator.sessions import Session

MAX_BODY_BYTES = 256 * 1024  # the common alert schema is a few KiB; refuse anything absurd unread

# Pages carry no script but the dashboard's own (nonce), fetch nothing, and are never framed.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; {script}connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


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


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ValueError(f"body of {len(raw)} bytes is over the {MAX_BODY_BYTES}-byte limit")
    if not raw:
        return {}
    return json.loads(raw)


def ctx() -> AppContext:
    return get_context()


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def session_of(request: Request) -> Session | None:
    """The browser session that authenticated this request (None when a key did)."""
    found = getattr(request.state, "session", None)
    return found if isinstance(found, Session) else None


def requested_by(request: Request, body: Any, default: str = "api") -> str:
    """Who asks: a signed-in person's name (the session's, not the body's), else the body's ``by``."""
    session = session_of(request)
    if session is not None:
        return f"{session.who} (dashboard)"
    return str(body.get("by") or default)[:100] if isinstance(body, dict) else default


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def page(html: str, *, status: int = 200, nonce: str | None = None) -> HTMLResponse:
    """An HTML answer that is not cached, not framed, and runs no script but its own (by nonce)."""
    script = f"script-src 'nonce-{nonce}'; " if nonce else ""
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "content-security-policy": _CSP.format(script=script),
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
            "referrer-policy": "same-origin",  # with no-referrer a form POST says Origin: null
            "x-frame-options": "DENY",
        },
    )
