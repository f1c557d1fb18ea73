"""The tenant's token-signing keys, fetched from Entra ID's OpenID metadata and cached per process.

Entra ID signs access tokens with keys it publishes at the ``jwks_uri`` of the tenant's OpenID
configuration and rolls them over periodically (in an emergency, at once). This cache:

- fetches the v2 and v1 OpenID configurations of the tenant (``{authority}/{tenant}/v2.0/.well-known/...``
  and ``{authority}/{tenant}/.well-known/...``: Microsoft says to validate each token version with its own
  metadata), then every distinct ``jwks_uri`` they name, and keeps the RSA signing keys by ``kid``;
- refreshes them when they are older than :data:`MAX_AGE_SECONDS` (Microsoft suggests checking daily);
- refetches once when a token names an unknown ``kid`` (a rollover), but never more often than every
  :data:`MIN_REFRESH_SECONDS`, so a flood of tokens with made-up ``kid`` values cannot make ppg-dr hammer
  Entra ID (or its own worker) with fetches;
- keeps serving the keys it has when a refresh fails (an outage of the metadata endpoint must not stop
  alerts signed with keys already known), and raises :class:`SigningKeysUnavailable` only when it has none.

The HTTP layer calls :meth:`SigningKeys.key` from a worker thread (fetching blocks); a lock makes one
thread fetch while the others wait for its result. Nothing logged here contains a key or a token.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import jwt

log = logging.getLogger(__name__)

MIN_REFRESH_SECONDS = 60.0
MAX_AGE_SECONDS = 24 * 3600.0
FETCH_TIMEOUT_SECONDS = 4.0  # Azure Monitor waits 10 s for the first webhook attempt: leave time to answer
MAX_DOCUMENT_BYTES = 512 * 1024

FetchJson = Callable[[str], Any]


class SigningKeysUnavailable(Exception):
    """No signing keys could be fetched (and none are cached): tokens cannot be checked right now."""


def metadata_urls(authority: str, tenant_id: str) -> tuple[str, str]:
    """The tenant's v2 and v1 OpenID configuration documents."""
    base = f"{authority.rstrip('/')}/{tenant_id}"
    return f"{base}/v2.0/.well-known/openid-configuration", f"{base}/.well-known/openid-configuration"


def https_fetcher(ca_bundle: str | None, timeout: float = FETCH_TIMEOUT_SECONDS) -> FetchJson:
    """GET a JSON document over https (trusting ``ca_bundle`` too, for the local emulator), no redirects."""
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=context))

    def fetch(url: str) -> Any:
        if not url.startswith("https://"):
            raise SigningKeysUnavailable(f"refusing to fetch signing-key metadata over {url.split(':', 1)[0]}")
        request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "ppg-dr"})  # noqa: S310
        with opener.open(request, timeout=timeout) as response:
            return json.loads(response.read(MAX_DOCUMENT_BYTES + 1)[:MAX_DOCUMENT_BYTES])

    return fetch


class SigningKeys:
    """The cached public keys of one tenant, by ``kid``; see the module docstring for the refresh rules."""

    def __init__(
        self,
        authority: str,
        tenant_id: str,
        *,
        fetch: FetchJson,
        clock: Callable[[], float] = time.monotonic,
        min_refresh_seconds: float = MIN_REFRESH_SECONDS,
        max_age_seconds: float = MAX_AGE_SECONDS,
    ) -> None:
        self.metadata = metadata_urls(authority, tenant_id)
        self.clock = clock
        self.min_refresh_seconds = min_refresh_seconds
        self.max_age_seconds = max_age_seconds
        self.refreshes = 0  # successful fetches of the key set (tests and logs)
        self._fetch = fetch
        self._keys: dict[str, Any] = {}
        self._loaded_at: float | None = None  # last successful refresh
        self._tried_at: float | None = None  # last attempt, successful or not
        self._problem = ""  # why the last attempt failed
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, authority: str, tenant_id: str, ca_bundle: str | None) -> SigningKeys:
        return cls(authority, tenant_id, fetch=https_fetcher(ca_bundle))

    def key(self, kid: str) -> Any | None:
        """The public key for ``kid``, or None when the tenant does not publish it (after at most one refetch).

        Raises :class:`SigningKeysUnavailable` when no key could be fetched yet.
        """
        with self._lock:
            now = self.clock()
            stale = self._loaded_at is None or now - self._loaded_at >= self.max_age_seconds
            if stale and self._may_fetch(now):
                self._refresh(now, why="first use" if self._loaded_at is None else "daily refresh")
            if not self._keys:
                raise SigningKeysUnavailable(
                    f"no signing keys yet: the last fetch {now - (self._tried_at or now):.0f} s ago failed ({self._problem})"
                )
            if kid in self._keys:
                return self._keys[kid]
            if not self._may_fetch(now):
                log.info(
                    "token names an unknown signing key; keys were fetched %.0f s ago, not fetching again before %.0f s",
                    now - (self._tried_at or now),
                    self.min_refresh_seconds,
                    extra={"step": "http-auth"},
                )
                return None
            self._refresh(now, why="a token names a signing key not seen yet (rollover?)")
            return self._keys.get(kid)

    def _may_fetch(self, now: float) -> bool:
        return self._tried_at is None or now - self._tried_at >= self.min_refresh_seconds

    def _refresh(self, now: float, *, why: str) -> None:
        self._tried_at = now
        try:
            keys = self._download()
        except Exception as exc:  # any failure: keep what we have, say what went wrong
            self._problem = f"{type(exc).__name__}: {str(exc)[:200]}"
            if self._keys:
                log.warning(
                    "could not refresh Entra ID signing keys (%s); still using the %d cached",
                    self._problem,
                    len(self._keys),
                    extra={"step": "http-auth"},
                )
                return
            log.error("cannot fetch Entra ID signing keys: %s", self._problem, extra={"step": "http-auth"})
            raise SigningKeysUnavailable(f"cannot fetch the tenant's signing keys ({self._problem})") from exc
        self._keys, self._loaded_at, self._problem = keys, now, ""
        self.refreshes += 1
        log.info("fetched %d Entra ID signing keys (%s)", len(keys), why, extra={"step": "http-auth"})

    def _download(self) -> dict[str, Any]:
        uris: list[str] = []
        for url in self.metadata:
            document = self._fetch(url)
            uri = document.get("jwks_uri") if isinstance(document, dict) else None
            if not isinstance(uri, str) or not uri.startswith("https://"):
                raise SigningKeysUnavailable(f"{url} names no https jwks_uri")
            if uri not in uris:
                uris.append(uri)
        keys: dict[str, Any] = {}
        for uri in uris:
            keys.update(parse_jwks(self._fetch(uri)))
        if not keys:
            raise SigningKeysUnavailable("the tenant publishes no RSA signing keys")
        return keys


def parse_jwks(document: Any) -> dict[str, Any]:
    """The RSA signature keys of a JWKS document by ``kid`` (public key objects); other keys are skipped."""
    found: dict[str, Any] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        try:
            found[kid] = jwt.PyJWK(entry, algorithm="RS256").key
        except (jwt.PyJWTError, ValueError, TypeError):  # a malformed key is skipped, never fatal
            continue
    return found
