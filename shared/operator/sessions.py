"""Browser sessions for the dashboard and report pages: a signed, expiring token in a cookie, never the key.

A person signs in once through the login form (``POST /api/login``, the key in the form body, never in a
URL). The answer sets the ``ppgdr_session`` cookie (HTTP-only, ``SameSite=Strict``, ``Secure`` over https,
path ``/api``) holding::

    base64url(JSON {"v": 1, "exp": <unix seconds>, "kid": <16 hex>, "who": <name>, "n": <nonce>}) "." base64url(HMAC-SHA256)

- The HMAC key is ``PPGDR_SESSION_SECRET`` (``Settings.auth.session_secret``, at least 32 characters, checked
  with the other settings; give every instance the same one so a session works on all of them and survives
  restarts) or, when it is not set, a random secret made when the process starts (sessions then end with the
  process and hold on that instance only). Callers pass the setting's value as ``secret``.
- ``kid`` is the first 16 hex digits of the sha256 of the key that signed in: the key itself is never in the
  token, and removing the key from ``PPGDR_API_KEYS`` ends every session it opened.
- A session lasts :data:`SESSION_SECONDS` (12 hours); there is no renewal, a person signs in again.
- CSRF: a request that changes something and is authenticated by the cookie must carry
  :func:`csrf_token` of its session in the ``x-csrf-token`` header (the dashboard's buttons send it; the page
  carries it in a ``<meta>`` element). ``SameSite=Strict`` already keeps other sites' requests from carrying
  the cookie; the token makes that independent of the browser.

Pure functions over strings and the current time: the HTTP app (``http_api``) calls them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "ppgdr_session"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
SECRET_SETTING = "PPGDR_SESSION_SECRET"  # noqa: S105  (the setting's name, not a secret)
MAX_NAME_CHARS = 100

_PROCESS_SECRET = secrets.token_bytes(32)  # used when PPGDR_SESSION_SECRET is not set: sessions end with the process


@dataclass(frozen=True)
class Session:
    token: str
    who: str
    expires: int
    key_id: str


def session_secret(configured: str | None) -> bytes:
    """The HMAC key: the configured ``PPGDR_SESSION_SECRET`` (validated by ``Settings``), else this process's own."""
    return configured.encode() if configured else _PROCESS_SECRET


def key_id(presented: str) -> str:
    """The id of a key as a session records it: 16 hex digits of its sha256 (what a ``sha256:`` digest starts with)."""
    return hashlib.sha256(presented.encode()).hexdigest()[:16]


def configured_key_ids(configured: tuple[str, ...]) -> set[str]:
    ids = set()
    for key in configured:
        if key.startswith("sha256:"):
            ids.add(key.removeprefix("sha256:").lower()[:16])
        elif key:
            ids.add(key_id(key))
    return ids


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str, secret: str | None) -> str:
    return _b64(hmac.new(session_secret(secret), payload.encode(), hashlib.sha256).digest())


def issue(presented_key: str, who: str, *, secret: str | None = None, now: float | None = None) -> Session:
    """A new session for a key that was just checked (the caller checks it), valid for 12 hours."""
    moment = int(time.time() if now is None else now)
    name = " ".join(who.split())[:MAX_NAME_CHARS] or "dashboard"
    expires, kid = moment + SESSION_SECONDS, key_id(presented_key)
    claims = {"v": 1, "exp": expires, "kid": kid, "who": name, "n": secrets.token_hex(8)}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return Session(token=f"{payload}.{_sign(payload, secret)}", who=name, expires=expires, key_id=kid)


def read(
    token: str | None, configured: tuple[str, ...], *, secret: str | None = None, now: float | None = None
) -> Session | None:
    """The session a cookie holds, or None: bad signature, expired, malformed, or its key no longer configured."""
    if not token or len(token) > 1024 or "." not in token:
        return None
    payload, _, signature = token.partition(".")
    if not hmac.compare_digest(_sign(payload, secret), signature):
        return None
    try:
        claims = json.loads(_unb64(payload))
        expires, kid, who = int(claims["exp"]), str(claims["kid"]), str(claims["who"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if expires <= (time.time() if now is None else now) or kid not in configured_key_ids(configured):
        return None
    return Session(token=token, who=who, expires=expires, key_id=kid)


def csrf_token(session: Session, *, secret: str | None = None) -> str:
    """The token the session's pages send with requests that change something (derived, so nothing is stored)."""
    return hmac.new(session_secret(secret), f"csrf:{session.token}".encode(), hashlib.sha256).hexdigest()[:40]


def csrf_ok(session: Session, presented: str | None, *, secret: str | None = None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session, secret=secret), presented or "")
