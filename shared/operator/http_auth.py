"""Who may call the HTTP API: a key, a browser session or an Entra ID token, checked on every request.

Three ways in (``docs/security.md`` has the whole story):

- **A key** in the ``x-functions-key`` header or the ``code`` query parameter (as the Functions host and Azure
  Monitor's plain webhook send it), matching ``PPGDR_API_KEYS`` (plain, or ``sha256:<hex>`` digests, each
  optionally named: ``ops-alice=sha256:<hex>``). What the caller does is attributed to the key's name
  (``request.state.key_name``; an unnamed key is ``key-<8 hex of its sha256>``), never to a ``by`` in the body.
- **A browser session**: the cookie ``POST /api/login`` set (``shared.operator.sessions``). A POST it
  authenticates must carry the page's CSRF token in ``x-csrf-token``.
- **An Entra ID token** (``Authorization: Bearer``), validated in ``shared.platform.entra_tokens`` against the
  tenant's signing keys (``shared.platform.entra_keys``):

  - on ``POST /api/alerts`` when ``PPGDR_ALERT_AUTH_MODE=aad`` (Azure Monitor's secure webhook): audience
    ``PPGDR_ALERT_AUDIENCE``, app role ``PPGDR_ALERT_ROLE``. In that mode the webhook accepts **only** such a
    token: a key or a session cannot post alerts, so no secret in a URL can fake an outage;
  - on every other route when ``PPGDR_TENANT_ID`` and an operator audience are set: audience
    ``PPGDR_OPERATOR_AUDIENCE`` (default: the alert audience), app role ``PPGDR_OPERATOR_ROLE`` for anything,
    or ``PPGDR_READER_ROLE`` for reading (GET). What the caller does is attributed to the token's person.

Precedence: a key (header or ``code``) wins, then a bearer token, then the cookie; a credential that is
presented and wrong is refused (401), never skipped in favour of the next. Only :data:`PUBLIC` needs none.
A token that is valid but lacks the route's role is answered 403 (``MissingRole``). When the tenant's
signing keys cannot be fetched at all, a token is answered 503 with ``Retry-After`` (Azure Monitor retries
a webhook on 503, not on 401). A bad setting is answered 500 ``BadSetting`` naming it; every failure path
answers, none lets the request through.

Every refusal is logged at WARNING with its reason; no key, cookie or token is ever logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from shared.context import AppContext, get_context
from shared.operator import sessions
from shared.operator.http_common import error, key_name, key_name_of_session, session_keys
from shared.platform.entra_tokens import Principal, TokenRejected
from shared.settings import SettingsError

log = logging.getLogger(__name__)

PUBLIC = frozenset({"/favicon.ico", "/api/favicon.ico", "/api/login", "/api/logout"})
ALERTS_PATH = "/api/alerts"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
KEYS_RETRY_AFTER_SECONDS = 30
_STEP = {"step": "http-auth"}


class Authenticate(BaseHTTPMiddleware):
    """Every route needs a key, a signed-in browser or an Entra ID token (see the module docstring).

    A browser without any of them, asking for a page, is sent to the login form instead of a 401.
    """

    PUBLIC = PUBLIC

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path in self.PUBLIC:
            return await call_next(request)
        try:
            ctx = get_context()
        except SettingsError as exc:
            log.error("refused %s %s: %s", request.method, path, exc, extra=_STEP)
            return error(500, "BadSetting", str(exc))
        settings = ctx.settings
        if path == ALERTS_PATH and settings.auth.alert_tokens:
            return await self._alert(request, call_next, ctx)
        presented = request.headers.get("x-functions-key") or request.query_params.get("code") or ""
        if presented:
            name = key_name(presented, settings.api_keys)
            if name is not None:
                request.state.key_name = name  # what the audit trail records as who asked (identity_of)
                return await call_next(request)
            return _unauthorized(request, "not a valid key")
        authorization = request.headers.get("authorization")
        if authorization is not None:
            return await self._operator(request, call_next, ctx, authorization)
        cookie = request.cookies.get(sessions.COOKIE)
        keys = session_keys(settings.api_keys)
        session = sessions.read(cookie, keys, secret=settings.auth.session_secret) if cookie else None
        if session is not None:
            csrf = request.headers.get(sessions.CSRF_HEADER)
            if request.method not in SAFE_METHODS and not sessions.csrf_ok(session, csrf, secret=settings.auth.session_secret):
                log.warning("refused %s %s: signed in, but no valid CSRF token", request.method, path, extra=_STEP)
                return error(403, "CsrfRequired", f"send the page's CSRF token in the {sessions.CSRF_HEADER} header")
            request.state.session = session
            request.state.key_name = key_name_of_session(session, settings.api_keys)
            return await call_next(request)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = path + (f"?{request.url.query}" if request.url.query else "")
            log.info("sent %s to the login form", path, extra=_STEP)
            return RedirectResponse(f"/api/login?next={quote(target, safe='/')}", status_code=303)
        return _unauthorized(request, "no key, session or token")

    async def _alert(self, request: Request, call_next: Callable[[Request], Awaitable[Response]], ctx: AppContext) -> Response:
        """``PPGDR_ALERT_AUTH_MODE=aad``: the secure webhook's token with the alert role, and nothing else."""
        auth = ctx.settings.auth
        authorization = request.headers.get("authorization")
        if authorization is None:
            keyed = request.headers.get("x-functions-key") or request.query_params.get("code")
            reason = (
                "the alert webhook takes only Entra ID tokens (PPGDR_ALERT_AUTH_MODE=aad), not keys"
                if keyed
                else "the alert webhook needs an Entra ID bearer token (Azure Monitor secure webhook)"
            )
            return _token_refused(request, TokenRejected("TokenRequired", reason), what="alert")
        outcome = await _check(request, ctx, authorization, auth.alert_audiences)
        if isinstance(outcome, Response):
            return outcome
        if isinstance(outcome, TokenRejected):
            return _token_refused(request, outcome, what="alert")
        if auth.alert_role not in outcome.roles:
            return _missing_role(request, outcome, (auth.alert_role,), what="alert")
        request.state.principal = outcome
        log.debug("alert token accepted (app %s)", outcome.app_id, extra=_STEP)
        return await call_next(request)

    async def _operator(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]], ctx: AppContext, authorization: str
    ) -> Response:
        auth = ctx.settings.auth
        if not auth.operator_tokens:
            log.warning(
                "refused %s %s: a bearer token, but operator tokens are off (set PPGDR_TENANT_ID and PPGDR_OPERATOR_AUDIENCE)",
                request.method,
                request.url.path,
                extra=_STEP,
            )
            return _with_challenge(
                error(401, "Unauthorized", "this deployment takes no Entra ID tokens here: use a key, or sign in at /api/login"),
                "invalid_token",
            )
        outcome = await _check(request, ctx, authorization, auth.operator_audiences)
        if isinstance(outcome, Response):
            return outcome
        if isinstance(outcome, TokenRejected):
            return _token_refused(request, outcome, what="operator")
        needed = (auth.operator_role, auth.reader_role) if request.method in SAFE_METHODS else (auth.operator_role,)
        if not any(role in outcome.roles for role in needed):
            return _missing_role(request, outcome, needed, what="operator")
        request.state.principal = outcome
        if request.method not in SAFE_METHODS:
            log.info(
                "%s %s by %s (Entra ID object %s)",
                request.method,
                request.url.path,
                outcome.who,
                outcome.object_id or "?",
                extra=_STEP,
            )
        return await call_next(request)


async def _check(
    request: Request, ctx: AppContext, authorization: str, audiences: tuple[str, ...]
) -> Principal | TokenRejected | Response:
    """Validate the bearer token off the event loop (a key fetch blocks); a 503 when no keys can be had."""
    from shared.platform.entra_keys import SigningKeysUnavailable

    try:
        return await run_in_threadpool(validate_bearer, ctx, authorization, audiences)
    except SigningKeysUnavailable as exc:
        log.error("refused %s %s: %s", request.method, request.url.path, exc, extra=_STEP)
        response = error(503, "SigningKeysUnavailable", "the tenant's signing keys cannot be fetched right now; try again")
        response.headers["retry-after"] = str(KEYS_RETRY_AFTER_SECONDS)
        return response


def validate_bearer(ctx: AppContext, authorization: str, audiences: tuple[str, ...]) -> Principal | TokenRejected:
    """The principal of a valid ``Authorization: Bearer`` token for ``audiences``, or why it is refused."""
    from shared.platform import entra_tokens

    token = entra_tokens.bearer_token(authorization)
    if not isinstance(token, str):
        return token or TokenRejected("TokenRequired", "no bearer token")
    kid = entra_tokens.signing_key_id(token)
    if isinstance(kid, TokenRejected):
        return kid
    key = ctx.signing_keys.key(kid)
    if key is None:
        return TokenRejected("InvalidToken", "the token is signed with a key the tenant does not publish")
    auth = ctx.settings.auth
    assert auth.tenant_id is not None  # both callers need a tenant (Settings refuses aad mode without one)
    policy = entra_tokens.TokenPolicy.for_tenant(auth.entra_authority, auth.tenant_id, audiences)
    return entra_tokens.verify(token, key, policy, now=time.time())


def _unauthorized(request: Request, why: str) -> Response:
    log.warning("rejected %s %s: %s", request.method, request.url.path, why, extra=_STEP)
    return error(401, "Unauthorized", "a valid key is required (x-functions-key header), or sign in at /api/login")


def _token_refused(request: Request, rejected: TokenRejected, *, what: str) -> Response:
    log.warning("rejected %s token on %s %s: %s", what, request.method, request.url.path, rejected.reason, extra=_STEP)
    challenge = None if rejected.code == "TokenRequired" else "invalid_token"
    return _with_challenge(error(401, rejected.code, rejected.reason), challenge)


def _missing_role(request: Request, principal: Principal, needed: tuple[str, ...], *, what: str) -> Response:
    roles = " or ".join(needed)
    log.warning(
        "refused %s token of %s on %s %s: it has no app role %s (has: %s)",
        what,
        principal.who,
        request.method,
        request.url.path,
        roles,
        ", ".join(sorted(principal.roles)) or "none",
        extra=_STEP,
    )
    message = f"the token of {principal.who} carries no app role {roles}: assign it in Entra ID"
    return _with_challenge(error(403, "MissingRole", message), "insufficient_scope")


def _with_challenge(response: JSONResponse, problem: str | None) -> JSONResponse:
    """RFC 6750's ``WWW-Authenticate`` answer, so a client knows a bearer token is what is asked for."""
    response.headers["www-authenticate"] = 'Bearer realm="ppg-dr"' + (f', error="{problem}"' if problem else "")
    return response
