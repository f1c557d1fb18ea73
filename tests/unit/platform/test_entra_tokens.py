"""Entra ID token validation without I/O: what is accepted, what is refused, and what the refusal says.

Tokens are signed here with PyJWT and locally generated RSA keys; the end-to-end tests sign with the
emulator's tenant instead (its own signing code) and go through the registered HTTP function.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.platform.entra_tokens import (
    LEEWAY_SECONDS,
    MAX_TOKEN_CHARS,
    Principal,
    TokenPolicy,
    TokenRejected,
    bearer_token,
    display_name,
    has_role,
    issuers_for,
    signing_key_id,
    verify,
)

TENANT = "11111111-2222-3333-4444-555555555555"
AUTHORITY = "https://login.microsoftonline.com"
AUDIENCE = "api://ppgdr-alerts"
CLIENT_ID = "99999999-8888-7777-6666-555555555555"
AZNS = "461e8683-5575-4561-ac7f-899cc907d62a"  # Azure Monitor action groups' application id
NOW = 1_800_000_000.0

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
POLICY = TokenPolicy.for_tenant(AUTHORITY, TENANT, [AUDIENCE, CLIENT_ID])


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "aud": AUDIENCE,
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": int(NOW) - 10,
        "nbf": int(NOW) - 10,
        "exp": int(NOW) + 3600,
        "tid": TENANT,
        "oid": "0af1c0de-0000-0000-0000-000000000001",
        "appid": AZNS,
        "roles": ["ActionGroupsSecureWebhook"],
        "ver": "1.0",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(body: dict[str, Any], *, key: Any = KEY, kid: str = "k1", alg: str = "RS256") -> str:
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def check(raw: str, policy: TokenPolicy = POLICY, now: float = NOW) -> Principal | TokenRejected:
    kid = signing_key_id(raw)
    if isinstance(kid, TokenRejected):
        return kid
    return verify(raw, KEY.public_key(), policy, now=now)


def refused(outcome: Principal | TokenRejected, fragment: str) -> None:
    assert isinstance(outcome, TokenRejected), outcome
    assert fragment in outcome.reason, outcome.reason


def test_a_secure_webhook_token_of_the_tenant_is_accepted() -> None:
    outcome = check(token(claims()))
    assert isinstance(outcome, Principal)
    assert outcome.roles == {"ActionGroupsSecureWebhook"} and outcome.app_id == AZNS
    assert outcome.who == f"application {AZNS}" and outcome.is_application
    assert has_role(outcome, "DR.Operator", "ActionGroupsSecureWebhook") and not has_role(outcome, "DR.Operator")


def test_v2_tokens_use_the_authority_issuer_and_the_client_id_audience() -> None:
    v2 = claims(iss=f"{AUTHORITY}/{TENANT}/v2.0", aud=CLIENT_ID, ver="2.0", appid=None, azp=AZNS)
    outcome = check(token(v2))
    assert isinstance(outcome, Principal) and outcome.app_id == AZNS and outcome.token_version == "2.0"
    assert issuers_for(AUTHORITY + "/", TENANT.upper()) == (f"https://sts.windows.net/{TENANT}/", f"{AUTHORITY}/{TENANT}/v2.0")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (claims(iss="https://sts.windows.net/00000000-0000-0000-0000-000000000000/"), "issued by"),
        (claims(iss=f"{AUTHORITY}/{TENANT}/"), "issued by"),  # close is not equal
        (claims(iss="https://evil.example/"), "not by the configured tenant"),
        (claims(aud="api://someone-else"), "for audience 'api://someone-else'"),
        (claims(aud=None), "no 'aud' claim"),
        (claims(exp=None), "no 'exp' claim"),
        (claims(nbf=None), "no 'nbf' claim"),
        (claims(exp="tomorrow"), "must be numbers"),
        (claims(tid="00000000-0000-0000-0000-000000000000"), "tenant (tid)"),
        (claims(exp=int(NOW) - LEEWAY_SECONDS - 1), "expired"),
        (claims(nbf=int(NOW) + LEEWAY_SECONDS + 5), "not valid for another"),
        (claims(roles="ActionGroupsSecureWebhook"), "roles claim is not a list"),
    ],
)
def test_claims_that_do_not_fit_are_refused_with_a_reason(body: dict[str, Any], fragment: str) -> None:
    refused(check(token(body)), fragment)


def test_clock_skew_within_the_leeway_is_tolerated() -> None:
    assert isinstance(check(token(claims(exp=int(NOW) - LEEWAY_SECONDS + 5))), Principal)
    assert isinstance(check(token(claims(nbf=int(NOW) + LEEWAY_SECONDS - 5))), Principal)
    expired = check(token(claims(exp=int(NOW) - 3600)))
    assert isinstance(expired, TokenRejected) and expired.code == "ExpiredToken"


def test_a_token_signed_with_another_key_is_refused() -> None:
    forged = token(claims(), key=OTHER_KEY)
    refused(check(forged), "signature does not verify")
    tampered = token(claims(roles=["Nothing"]))
    head, _, signature = tampered.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims(roles=["DR.Operator"])).encode()).rstrip(b"=").decode()
    refused(check(f"{head}.{payload}.{signature}"), "signature does not verify")


def test_none_and_hmac_algorithms_are_refused_before_any_key_is_looked_up() -> None:
    unsigned = jwt.encode(claims(), key=None, algorithm="none", headers={"kid": "k1"})
    refused(signing_key_id(unsigned), "'none', not RS256")
    # The classic confusion: HS256 "signed" with the public key as the shared secret.
    public_pem = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT","kid":"k1"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=").decode()
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    refused(signing_key_id(confused), "'HS256', not RS256")
    # and verify() on its own never accepts it either, whatever key it is handed
    refused(verify(confused, KEY.public_key(), POLICY, now=NOW), "malformed")


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "\x00\x01.\x02.\x03", "eyJhbGciOiJSUzI1NiJ9..", "x" * 10])
def test_garbage_is_refused_and_never_raises(garbage: str) -> None:
    refused(signing_key_id(garbage), "")
    refused(verify(garbage, KEY.public_key(), POLICY, now=NOW), "")


def test_tokens_without_a_kid_or_absurdly_long_are_refused() -> None:
    no_kid = jwt.encode(claims(), KEY, algorithm="RS256")
    refused(signing_key_id(no_kid), "no signing key (kid)")
    refused(signing_key_id("a" * (MAX_TOKEN_CHARS + 1)), "longer than")


def test_bearer_header_parsing() -> None:
    assert bearer_token(None) is None
    assert bearer_token("Bearer abc.def.ghi") == "abc.def.ghi"
    assert bearer_token("bearer   abc ") == "abc"
    refused(bearer_token("Basic dXNlcjpwYXNz"), "must be 'Bearer <token>'")  # type: ignore[arg-type]
    refused(bearer_token("Bearer "), "holds no token")  # type: ignore[arg-type]


def test_reasons_never_contain_the_token() -> None:
    for body in (claims(aud="api://x"), claims(iss="https://evil/"), claims(exp=1)):
        raw = token(body)
        outcome = check(raw)
        assert isinstance(outcome, TokenRejected) and raw not in outcome.reason and raw.split(".")[2] not in outcome.reason


def test_people_are_named_by_name_and_sign_in_name() -> None:
    alice = {"name": "Alice Example", "preferred_username": "alice@contoso.com"}
    assert display_name(alice) == "Alice Example (alice@contoso.com)"
    assert display_name({"name": "bob@contoso.com", "upn": "BOB@contoso.com"}) == "bob@contoso.com"
    assert display_name({"unique_name": "carol@contoso.com"}) == "carol@contoso.com"
    assert display_name({"name": "Dora\n\x1b[31mthe\tExplorer", "oid": "x"}) == "Dora [31mthe Explorer"
    assert display_name({"oid": "abc"}) == "object abc"
    assert display_name({"azp": "app-1"}) == "application app-1"
    assert len(display_name({"name": "n" * 500})) == 100


def test_an_operator_token_names_the_person() -> None:
    person = claims(roles=["DR.Operator"], appid="some-cli", name="Alice Example", upn="alice@contoso.com")
    outcome = check(token(person))
    assert isinstance(outcome, Principal) and outcome.who == "Alice Example (alice@contoso.com)"
    assert not outcome.is_application and outcome.roles == {"DR.Operator"}
