"""Entra ID bearer tokens: what a valid one is, decided without I/O.

Two callers present Entra ID access tokens to the HTTP API: Azure Monitor's action group (the *secure
webhook*: an app-only token for the alert app registration, carrying the app role assigned to the "AzNS AAD
Webhook" service principal) and people or automation calling the operator routes (a token with an app role
such as ``DR.Operator``). Both are checked the same way here; the HTTP layer says which audiences and role
a route needs, and the key cache (``shared.platform.entra_keys``) supplies the public key by ``kid``.

A token is accepted only when all of these hold (``docs/security.md`` says why each matters):

- it is a compact JWS of at most :data:`MAX_TOKEN_CHARS`, with header ``alg`` exactly ``RS256`` (so ``none``
  and HMAC tokens, which would be "verified" with a public key as the secret, are refused before any key is
  looked at) and a ``kid`` naming one of the tenant's published signing keys;
- the RSA signature verifies against that key (PyJWT does the cryptography);
- ``iss`` is the tenant's v1 issuer ``https://sts.windows.net/{tenant}/`` or its v2 issuer
  ``{authority}/{tenant}/v2.0``, and ``tid`` (when present) is the tenant;
- ``aud`` is one of the configured audiences (the Application ID URI for v1 tokens, the client id for v2);
- ``exp`` and ``nbf`` are present and hold now, within :data:`LEEWAY_SECONDS` of clock skew;
- the caller's ``roles`` claim holds the role the route needs (checked by :func:`has_role`).

PyJWT is imported by the functions that need it, not with this module: importing it costs ~0.1 s, which
``function_app`` should not pay at cold start for the data types below.

Nothing here logs, and no rejection reason contains the token: reasons are safe to log and to send back.
Claims echoed in a reason (an unexpected issuer or audience) are shortened and quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ALGORITHM = "RS256"
LEEWAY_SECONDS = 60  # clock skew between Entra ID and this host; Entra's own libraries allow up to 5 minutes
MAX_TOKEN_CHARS = 16 * 1024  # Entra access tokens are 1-3 KiB; a larger "token" is refused unread
MAX_WHO_CHARS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class TokenPolicy:
    """What a token must say to be accepted: for whom (audiences) and from whom (tenant, issuers)."""

    tenant_id: str
    audiences: tuple[str, ...]
    issuers: tuple[str, ...]
    leeway_seconds: int = LEEWAY_SECONDS

    @classmethod
    def for_tenant(cls, authority: str, tenant_id: str, audiences: Iterable[str]) -> TokenPolicy:
        return cls(tenant_id=tenant_id.lower(), audiences=tuple(audiences), issuers=issuers_for(authority, tenant_id))


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for: a person (``name``/``preferred_username``/``upn``) or an application."""

    who: str
    object_id: str
    app_id: str
    roles: frozenset[str]
    token_version: str

    @property
    def is_application(self) -> bool:
        return self.who.startswith("application ")


@dataclass(frozen=True)
class TokenRejected:
    """Why a token is refused: a short code for the answer and a reason safe to log and to send back."""

    code: str
    reason: str


def issuers_for(authority: str, tenant_id: str) -> tuple[str, str]:
    """The v1 and v2 issuers of a tenant's access tokens (``iss`` must be exactly one of them).

    v1 tokens (the default for app registrations, ``accessTokenAcceptedVersion`` null or 1, and what the
    secure webhook gets) are issued by ``https://sts.windows.net/{tenant}/``; v2 tokens by
    ``{authority}/{tenant}/v2.0``.
    """
    tenant = tenant_id.lower()
    return f"https://sts.windows.net/{tenant}/", f"{authority.rstrip('/')}/{tenant}/v2.0"


def bearer_token(authorization: str | None) -> str | TokenRejected | None:
    """The token of an ``Authorization: Bearer <token>`` header; None without the header."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return TokenRejected("InvalidToken", "the Authorization header must be 'Bearer <token>'")
    token = token.strip()
    if not token:
        return TokenRejected("InvalidToken", "the Authorization header holds no token")
    return token


def signing_key_id(token: str) -> str | TokenRejected:
    """The ``kid`` of a token whose header asks for RS256; anything else is refused before a key is looked up.

    Checking the algorithm first means a forged ``alg: none`` or ``HS256`` token never reaches the key cache,
    so it cannot make ppg-dr fetch keys either.
    """
    import jwt

    if len(token) > MAX_TOKEN_CHARS:
        return TokenRejected("InvalidToken", f"the token is longer than {MAX_TOKEN_CHARS} characters")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return TokenRejected("InvalidToken", "the bearer token is not a JWT")
    algorithm = header.get("alg")
    if algorithm != ALGORITHM:
        return TokenRejected("InvalidToken", f"the token's algorithm is {_show(algorithm)}, not {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 200:
        return TokenRejected("InvalidToken", "the token names no signing key (kid)")
    return kid


def verify(token: str, key: Any, policy: TokenPolicy, *, now: float) -> Principal | TokenRejected:
    """Check signature, issuer, tenant, audience and lifetime of ``token`` against ``key`` (the public key of
    its ``kid``). ``now`` is passed in (Unix seconds) so expiry is testable without waiting."""
    import jwt

    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=list(policy.audiences),
            issuer=list(policy.issuers),
            options={
                # Lifetime is checked below against ``now``; everything else by PyJWT.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp", "nbf", "iss", "aud"],
            },
        )
    except jwt.InvalidSignatureError:
        return TokenRejected("InvalidToken", "the token's signature does not verify with the tenant's signing key")
    except jwt.MissingRequiredClaimError as exc:
        return TokenRejected("InvalidToken", f"the token has no {exc.claim!r} claim")
    except jwt.InvalidAudienceError:
        return TokenRejected("InvalidToken", f"the token is for audience {_show(_claim(token, 'aud'))}, not this app")
    except jwt.InvalidIssuerError:
        return TokenRejected(
            "InvalidToken", f"the token was issued by {_show(_claim(token, 'iss'))}, not by the configured tenant"
        )
    except jwt.PyJWTError as exc:
        return TokenRejected("InvalidToken", f"the token is malformed ({type(exc).__name__})")
    return _lifetime_and_identity(claims, policy, now)


def _lifetime_and_identity(claims: dict[str, Any], policy: TokenPolicy, now: float) -> Principal | TokenRejected:
    exp, nbf = _number(claims.get("exp")), _number(claims.get("nbf"))
    if exp is None or nbf is None:
        return TokenRejected("InvalidToken", "the token's exp and nbf must be numbers")
    if now >= exp + policy.leeway_seconds:
        return TokenRejected("ExpiredToken", f"the token expired {int(now - exp)} seconds ago")
    if now < nbf - policy.leeway_seconds:
        return TokenRejected("InvalidToken", f"the token is not valid for another {int(nbf - now)} seconds (nbf)")
    tenant = claims.get("tid")
    if tenant is not None and str(tenant).lower() != policy.tenant_id:
        return TokenRejected("InvalidToken", f"the token's tenant (tid) is {_show(tenant)}, not the configured tenant")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        return TokenRejected("InvalidToken", "the token's roles claim is not a list of strings")
    return Principal(
        who=display_name(claims),
        object_id=_text(claims.get("oid")),
        app_id=_text(claims.get("appid") or claims.get("azp")),
        roles=frozenset(roles),
        token_version=_text(claims.get("ver")),
    )


def has_role(principal: Principal, *roles: str) -> bool:
    """The token carries at least one of ``roles`` (app roles arrive in the ``roles`` claim, case-sensitive)."""
    return any(role in principal.roles for role in roles)


def display_name(claims: dict[str, Any]) -> str:
    """How the audit trail names the caller: ``Name (user@domain)``, the one of them present, or the app.

    ``name`` is what a person is called; ``preferred_username`` (v2) or ``upn``/``unique_name`` (v1) is the
    sign-in name that tells two people of the same name apart. App-only tokens (Azure Monitor, automation)
    have neither and are named by their client id.
    """
    name = _text(claims.get("name"))
    username = _text(claims.get("preferred_username") or claims.get("upn") or claims.get("unique_name"))
    both = name and username and name.lower() != username.lower()
    who = f"{name} ({username})" if both else (name or username)
    if not who:
        app = _text(claims.get("appid") or claims.get("azp"))
        oid = _text(claims.get("oid"))
        who = f"application {app}" if app else f"object {oid or 'unknown'}"
    return who[:MAX_WHO_CHARS]


def _text(value: Any) -> str:
    """A claim as one clean line (claims end up in the audit trail and in logs)."""
    if not isinstance(value, str):
        return ""
    return " ".join(_CONTROL.sub(" ", value).split())[:MAX_WHO_CHARS]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _claim(token: str, name: str) -> Any:
    """A claim of a token already known to be well-formed (for the reason of a refusal only; never trusted)."""
    import jwt

    try:
        return jwt.decode(token, options={"verify_signature": False}).get(name)
    except jwt.PyJWTError:
        return None


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else repr(_CONTROL.sub("?", value))
    return text if len(text) <= 80 else text[:77] + "...'"
