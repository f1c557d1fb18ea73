"""The signing-key cache: discovery, refetch on rollover, a floor under refetching, stale keys over none."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.platform.entra_keys import (
    MIN_REFRESH_SECONDS,
    SigningKeys,
    SigningKeysUnavailable,
    metadata_urls,
    parse_jwks,
)

AUTHORITY = "https://login.example"
TENANT = "11111111-2222-3333-4444-555555555555"


def jwk(kid: str, **extra: Any) -> dict[str, Any]:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    return {"kty": "RSA", "use": "sig", "kid": kid, "n": b64(numbers.n), "e": b64(numbers.e), **extra}


class FakeEntra:
    """Serves the two OpenID documents and their key sets; counts fetches; can be made to fail."""

    def __init__(self) -> None:
        self.keys = [jwk("k1")]
        self.fetched: list[str] = []
        self.down = False
        v2, v1 = metadata_urls(AUTHORITY, TENANT)
        self.documents: dict[str, Any] = {
            v2: {"jwks_uri": f"{AUTHORITY}/{TENANT}/discovery/v2.0/keys"},
            v1: {"jwks_uri": f"{AUTHORITY}/common/discovery/keys"},
        }

    def __call__(self, url: str) -> Any:
        self.fetched.append(url)
        if self.down:
            raise OSError("connection refused")
        if url in self.documents:
            return self.documents[url]
        return {"keys": self.keys}

    def key_set_fetches(self) -> int:
        return sum(1 for url in self.fetched if "discovery" in url)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def entra() -> FakeEntra:
    return FakeEntra()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(entra: FakeEntra, clock: Clock) -> SigningKeys:
    return SigningKeys(AUTHORITY, TENANT, fetch=entra, clock=clock)


def test_keys_come_from_both_metadata_documents_and_are_cached(keys: SigningKeys, entra: FakeEntra) -> None:
    assert keys.key("k1") is not None
    assert entra.fetched == [
        f"{AUTHORITY}/{TENANT}/v2.0/.well-known/openid-configuration",
        f"{AUTHORITY}/{TENANT}/.well-known/openid-configuration",
        f"{AUTHORITY}/{TENANT}/discovery/v2.0/keys",
        f"{AUTHORITY}/common/discovery/keys",
    ]
    for _ in range(50):
        assert keys.key("k1") is not None
    assert len(entra.fetched) == 4 and keys.refreshes == 1


def test_a_rolled_over_key_is_fetched_once_when_a_token_names_it(keys: SigningKeys, entra: FakeEntra, clock: Clock) -> None:
    keys.key("k1")
    clock.now += MIN_REFRESH_SECONDS + 1
    entra.keys = [jwk("k2")]
    assert keys.key("k2") is not None and keys.refreshes == 2
    assert keys.key("k1") is None  # retired in the new set; refetching again is not allowed yet
    assert keys.refreshes == 2


def test_unknown_kids_cannot_make_it_fetch_more_than_once_a_minute(keys: SigningKeys, entra: FakeEntra, clock: Clock) -> None:
    keys.key("k1")
    for i in range(200):
        assert keys.key(f"forged-{i}") is None
    assert entra.key_set_fetches() == 2 and keys.refreshes == 1  # only the first load
    clock.now += MIN_REFRESH_SECONDS
    assert keys.key("forged-late") is None
    assert keys.key("forged-later") is None
    assert keys.refreshes == 2  # one refetch per interval, however many kids arrive


def test_keys_are_refreshed_daily_even_when_every_kid_is_known(keys: SigningKeys, clock: Clock) -> None:
    keys.key("k1")
    clock.now += keys.max_age_seconds - 1
    keys.key("k1")
    assert keys.refreshes == 1
    clock.now += 2
    keys.key("k1")
    assert keys.refreshes == 2


def test_an_outage_keeps_the_cached_keys(keys: SigningKeys, entra: FakeEntra, clock: Clock) -> None:
    keys.key("k1")
    entra.down = True
    clock.now += keys.max_age_seconds + 1
    assert keys.key("k1") is not None  # refresh failed: the cached key still verifies
    clock.now += MIN_REFRESH_SECONDS + 1
    assert keys.key("k9") is None


def test_no_keys_at_all_is_unavailable_and_retried_only_after_the_interval(
    keys: SigningKeys, entra: FakeEntra, clock: Clock
) -> None:
    entra.down = True
    with pytest.raises(SigningKeysUnavailable, match="connection refused"):
        keys.key("k1")
    attempts = len(entra.fetched)
    with pytest.raises(SigningKeysUnavailable, match="last fetch"):
        keys.key("k1")
    assert len(entra.fetched) == attempts  # no second attempt inside the interval
    entra.down = False
    clock.now += MIN_REFRESH_SECONDS
    assert keys.key("k1") is not None


def test_metadata_without_an_https_jwks_uri_is_refused(entra: FakeEntra, clock: Clock) -> None:
    v2, _ = metadata_urls(AUTHORITY, TENANT)
    entra.documents[v2] = {"jwks_uri": "http://plain/keys"}
    with pytest.raises(SigningKeysUnavailable, match="https jwks_uri"):
        SigningKeys(AUTHORITY, TENANT, fetch=entra, clock=clock).key("k1")


def test_only_rsa_signature_keys_are_kept() -> None:
    document = {
        "keys": [
            jwk("sig"),
            jwk("enc", use="enc"),
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "a", "y": "b"},
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            jwk(""),
            "nonsense",
        ]
    }
    assert set(parse_jwks(document)) == {"sig"}
    assert parse_jwks({"keys": "no"}) == {} and parse_jwks([]) == {}
