"""The pages a person opens in a browser: the dashboard, the login form, sign-out, and a quiet favicon.

Signing in: ``GET /api/login`` shows a form; ``POST /api/login`` takes the key in the form body (never in a
URL), checks it like every other route does, and sets the HTTP-only session cookie (``shared.operator.sessions``)
before sending the browser on to the page it asked for. ``POST /api/logout`` clears the cookie. These three
routes and ``/favicon.ico`` are the only ones that need no key (``http_auth.PUBLIC``).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from shared.operator import sessions, views
from shared.operator.http_common import ctx, error, key_matches, new_nonce, page, session_of

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 8 * 1024
DEFAULT_PAGE = "/api/dashboard"
DEFAULT_REFRESH_SECONDS = 30


def safe_next(value: str) -> str:
    """Where to go after signing in: a path of this app only (no other host, no scheme), else the dashboard."""
    parts = urlsplit(value or "")
    if parts.scheme or parts.netloc or "\\" in value or not value.startswith("/api/") or value.startswith("/api/log"):
        return DEFAULT_PAGE
    return value[:500]


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def _same_origin(request: Request) -> bool:
    """A form posted from another site is refused (login CSRF); a request without ``Origin`` is allowed."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    return urlsplit(origin).netloc.lower() == host.split(",")[0].strip().lower()


async def login_form(request: Request) -> Response:
    from shared.operator.render import render_login  # Jinja2 loads on the first page, not at cold start

    return page(render_login(next_path=safe_next(request.query_params.get("next", ""))))


async def login(request: Request) -> Response:
    from shared.operator.render import render_login

    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return error(400, "InvalidPayload", "the sign-in form is too large")
    if not _same_origin(request):
        log.warning("refused a sign-in posted from another origin", extra={"step": "http-auth"})
        return error(403, "CrossOrigin", "sign in from ppg-dr's own login page")
    try:
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=10)
    except ValueError:  # more fields than the form has: not a browser's sign-in (found by schemathesis)
        log.warning("refused a sign-in form with too many fields", extra={"step": "http-auth"})
        return error(400, "InvalidPayload", "the sign-in form has too many fields")
    key, name = form.get("key", [""])[0].strip(), form.get("name", [""])[0]
    next_path = safe_next(form.get("next", [""])[0])
    if not key_matches(key, ctx().settings.api_keys):
        log.warning("rejected a sign-in: not a valid key", extra={"step": "http-auth"})
        return page(render_login(next_path=next_path, error="That key is not valid."), status=401)
    session = sessions.issue(key, name, secret=ctx().settings.auth.session_secret)
    log.info("signed in %s (key %s...)", session.who, session.key_id[:6], extra={"step": "http-auth"})
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        sessions.COOKIE,
        session.token,
        max_age=sessions.SESSION_SECONDS,
        path="/api",
        httponly=True,
        samesite="strict",
        secure=is_https(request),
    )
    return response


async def logout(request: Request) -> Response:
    response = RedirectResponse("/api/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/api", httponly=True, samesite="strict", secure=is_https(request))
    return response


async def favicon(request: Request) -> Response:
    """Browsers ask for it unprompted: answer without a key and without logging a rejected request."""
    return Response(status_code=204, headers={"cache-control": "public, max-age=86400"})


def refresh_period(value: str | None) -> int:
    """``?refresh=N``: reload every N seconds (at least 10), 0 for never; 30 by default or for nonsense."""
    if value is None or not value.strip().isdigit():
        return DEFAULT_REFRESH_SECONDS
    seconds = int(value)
    return 0 if seconds == 0 else max(seconds, 10)


def dashboard(request: Request) -> Response:
    from shared.operator.render import render_dashboard  # Jinja2 loads on the first page, not at cold start

    session = session_of(request)
    nonce = new_nonce()
    html = render_dashboard(
        views.dashboard_data(ctx()),
        csrf=sessions.csrf_token(session, secret=ctx().settings.auth.session_secret) if session else "",
        who=session.who if session else "",
        nonce=nonce,
        refresh_seconds=refresh_period(request.query_params.get("refresh")),
    )
    return page(html, nonce=nonce)
