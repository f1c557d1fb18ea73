"""What every route module of the HTTP app shares: the error shape, JSON bodies, flags, HTML answers."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import AppContext, get_context
from shared.operator.sessions import Session
from shared.platform.entra_tokens import Principal

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # the common alert schema is a few KiB; refuse anything absurd unread
MAX_JSON_DEPTH = 64  # a real alert nests 6 deep; json.loads recurses, so 1,000 levels would raise RecursionError

# Pages carry no script but the dashboard's own (nonce), fetch nothing, and are never framed.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; {script}connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class ApiKey:
    """One entry of ``PPGDR_API_KEYS``: its name and the sha256 (hex) of the key it accepts.

    An entry is ``name=sha256:<hex>``, ``name=<plain key>``, ``sha256:<hex>`` or ``<plain key>``. A key without a
    name is named by its fingerprint, ``key-<first 8 hex of its sha256>``, the same whether it is given plain or
    as a digest. A name is a letter then up to 63 letters, digits, ``.``, ``_``, ``@`` or ``-``; what follows its
    ``=`` must not start with ``=``, so a base64 key with ``==`` padding (Azure function keys) is never read as
    ``name=key``. A plain key with ``=`` inside needs a name in front (or give its digest).
    """

    name: str
    digest: str


_KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._@-]{0,63}")
_DIGEST = "sha256:"


@functools.lru_cache(maxsize=8)
def api_keys(configured: tuple[str, ...]) -> tuple[ApiKey, ...]:
    """The entries of ``PPGDR_API_KEYS``, parsed (cached: the setting is parsed once per value)."""
    keys = []
    for entry in configured:
        name, sep, rest = entry.partition("=")
        if not (sep and rest and not rest.startswith("=") and _KEY_NAME.fullmatch(name)):
            name, rest = "", entry
        if rest.lower().startswith(_DIGEST):
            digest = rest[len(_DIGEST) :].strip().lower()
        elif rest:
            digest = hashlib.sha256(rest.encode()).hexdigest()
        else:
            continue
        keys.append(ApiKey(name=name or f"key-{digest[:8]}", digest=digest))
    return tuple(keys)


def key_name(presented: str, configured: tuple[str, ...]) -> str | None:
    """The name of the configured key ``presented`` is, or None. Constant time: every entry is compared."""
    digest = hashlib.sha256(presented.encode()).hexdigest()
    found: str | None = None
    for key in api_keys(configured):
        if hmac.compare_digest(digest, key.digest) and found is None:
            found = key.name
    return found if presented else None


def key_matches(presented: str, configured: tuple[str, ...]) -> bool:
    """Whether ``presented`` is one of the configured keys (plain, digests, named or not)."""
    return key_name(presented, configured) is not None


def session_keys(configured: tuple[str, ...]) -> tuple[str, ...]:
    """The keys as ``sha256:<hex>`` digests without names: what ``shared.operator.sessions`` checks a session's key id against."""
    return tuple(f"{_DIGEST}{key.digest}" for key in api_keys(configured))


def key_name_of_session(session: Session, configured: tuple[str, ...]) -> str | None:
    """The name of the key that opened a session (its ``kid`` is the first 16 hex of the key's sha256)."""
    return next((key.name for key in api_keys(configured) if key.digest[:16] == session.key_id), None)


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class BodyRefused(HTTPException):
    """A request body refused before it is parsed: 413 ``TooLarge``, 400 ``TooDeep``. Answered by the app's
    ``HTTPException`` handler with ``code`` (an ``HTTPException``, so a route catching ``ValueError`` cannot turn it
    into a 400 "not JSON")."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(status_code, detail=message)
        self.code = code


def body_refused(refused: BodyRefused) -> JSONResponse:
    """The answer to a refused body; after a 413 the connection is closed, so the rest of the body is not read."""
    response = error(refused.status_code, refused.code, refused.detail)
    if refused.status_code == 413:
        response.headers["connection"] = "close"
    return response


def too_large(size: int | str, limit: int = MAX_BODY_BYTES) -> BodyRefused:
    return BodyRefused(413, "TooLarge", f"the body ({size} bytes) is over the {limit}-byte limit: nothing was read past it")


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The ``Content-Length`` a request declares, or None (absent or not a number: the body is counted as it comes)."""
    value = headers.get("content-length", "").strip()
    return int(value) if value.isdigit() and len(value) < 20 else None


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, read as it streams in and never past ``limit`` bytes (413 ``TooLarge`` as soon as it is over).

    A ``Content-Length`` over the limit is refused before anything is read; a body longer than it declared is
    still cut at the limit, since what is counted is what arrives.
    """
    declared = declared_length(request.headers)
    if declared is not None and declared > limit:
        raise too_large(declared, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"over {limit}" if declared is None or declared <= limit else declared, limit)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimit:
    """ASGI middleware: no route of the app reads more than ``MAX_BODY_BYTES`` of a body, whoever reads it.

    A ``Content-Length`` over the limit is answered 413 before routing (unread); otherwise the body is counted as
    the app receives it and the read that crosses the limit raises :class:`BodyRefused` (413), so a route that
    calls ``request.body()`` (the sign-in form) holds at most the limit plus one chunk in memory. Innermost in the
    app: the exception must rise through the route to the app's ``HTTPException`` handler.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(Headers(scope=scope))
        if declared is not None and declared > self.limit:
            log.warning("refused %s %s: Content-Length %d is over the limit", scope["method"], scope["path"][:200], declared)
            await body_refused(too_large(declared, self.limit))(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise too_large(f"over {self.limit}", self.limit)
            return message

        await self.app(scope, counted, send)


# Strings (skipped whole, escapes included) and the brackets outside them: enough to measure nesting without parsing.
_JSON_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays/objects deeper than ``limit``. A loop, not recursion: 100,000 ``[`` cost a
    scan, never a ``RecursionError``. Brackets inside strings do not count."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for match in _JSON_NESTING.finditer(raw):
        bracket = match.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


async def json_body(request: Request) -> Any:
    """The request's JSON (``{}`` for an empty body). Raises :class:`BodyRefused` (413 ``TooLarge``, 400 ``TooDeep``)
    before parsing anything absurd, ``ValueError`` for text that is not JSON."""
    raw = await read_body(request)
    if not raw:
        return {}
    if json_too_deep(raw):
        raise BodyRefused(400, "TooDeep", f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(raw)


def ctx() -> AppContext:
    return get_context()


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true", "yes")


def session_of(request: Request) -> Session | None:
    """The browser session that authenticated this request (None when a key did)."""
    found = getattr(request.state, "session", None)
    return found if isinstance(found, Session) else None


def principal_of(request: Request) -> Principal | None:
    """The Entra ID identity whose token authenticated this request (None for a key or a session)."""
    found = getattr(request.state, "principal", None)
    return found if isinstance(found, Principal) else None


def identity_of(request: Request) -> str | None:
    """Who is proven to ask, as the audit trail names them (None only on the public routes).

    A token's person (``Alice (alice@contoso.com) (Entra ID)``); a signed-in browser's name and the key it signed
    in with (``erin (dashboard) via key ops-alice``); a key's name (``ops-alice (key)``).
    """
    principal = principal_of(request)
    if principal is not None:
        return f"{principal.who} (Entra ID)"
    name = getattr(request.state, "key_name", None)
    session = session_of(request)
    if session is not None:
        return f"{session.who} (dashboard)" + (f" via key {name}" if isinstance(name, str) else "")
    if isinstance(name, str):
        return f"{name} (key)"
    return None


def requested_by(request: Request, body: Any, default: str = "api") -> str:
    """Who asks: :func:`identity_of` the request. A body's ``by`` is never the identity (see :func:`said_by`)."""
    return identity_of(request) or default


def said_by(request: Request, body: Any) -> str:
    """A key caller's ``by`` in the body, as a comment to store beside the key's name ('' when none, or when a
    token or session already names the person: the body cannot speak for them). Unverified: one line, 100 characters."""
    if principal_of(request) is not None or session_of(request) is not None or not isinstance(body, dict):
        return ""
    said = body.get("by")
    return " ".join(str(said).split())[:100] if isinstance(said, str | int | float) and str(said).strip() else ""


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
