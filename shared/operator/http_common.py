"""What every route module of the HTTP app shares: the error shape, JSON bodies, flags, HTML answers."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

from shared.context import AppContext, get_context
from shared.operator.sessions import Session
from shared.platform.entra_tokens import Principal

MAX_BODY_BYTES = 256 * 1024  # the common alert schema is a few KiB; refuse anything absurd unread

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
