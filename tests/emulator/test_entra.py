"""The emulator's Entra ID tenant: OpenID metadata and keys shaped like Entra's, tokens a JWT library verifies."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx
import jwt
import pytest

from tests.fixtures.emulator import EmulatorHandle

AUDIENCE = "api://ppgdr-test"


def entra(emulator: EmulatorHandle, method: str, path: str, json: Any = None) -> httpx.Response:
    with httpx.Client(base_url=emulator.base_url, verify=ssl.create_default_context(cafile=emulator.cert), timeout=30) as client:
        return client.request(method, f"/_emulator/entra{path}", json=json)


def mint(emulator: EmulatorHandle, **request: Any) -> str:
    return str(emulator.admin("POST", "entra/token", json={"aud": AUDIENCE, **request})["access_token"])


def test_the_ready_line_names_the_authority_and_tenant(emulator: EmulatorHandle) -> None:
    state = emulator.admin("GET", "entra")
    assert emulator.process.ready["entra_authority"] == state["authority"] == f"{emulator.base_url}/_emulator/entra"
    assert emulator.process.ready["tenant_id"] == state["tenantId"]
    assert state["signingKid"] in state["kids"]


def test_metadata_documents_follow_entra(emulator: EmulatorHandle) -> None:
    state = emulator.admin("GET", "entra")
    tenant, authority = state["tenantId"], state["authority"]
    v2 = entra(emulator, "GET", f"/{tenant}/v2.0/.well-known/openid-configuration").json()
    assert v2["issuer"] == f"{authority}/{tenant}/v2.0"
    assert v2["jwks_uri"] == f"{authority}/{tenant}/discovery/v2.0/keys"
    assert v2["id_token_signing_alg_values_supported"] == ["RS256"]
    v1 = entra(emulator, "GET", f"/{tenant}/.well-known/openid-configuration").json()
    assert v1["issuer"] == f"https://sts.windows.net/{tenant}/"
    assert v1["jwks_uri"] == f"{authority}/common/discovery/keys"
    keys = entra(emulator, "GET", "/common/discovery/keys").json()["keys"]
    assert {k["kid"] for k in keys} == set(state["kids"])
    assert all(k["kty"] == "RSA" and k["use"] == "sig" and k["e"] == "AQAB" and k["x5t"] == k["kid"] for k in keys)
    unknown = entra(emulator, "GET", "/00000000-0000-0000-0000-000000000000/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400 and "AADSTS90002" in unknown.text


@pytest.mark.parametrize("version", [1, 2])
def test_minted_tokens_verify_with_the_published_keys(emulator: EmulatorHandle, version: int) -> None:
    state = emulator.admin("GET", "entra")
    raw = mint(emulator, version=version, roles=["DR.Operator"], name="Alice", appid="app-1", upn="alice@contoso.com")
    keys = jwt.PyJWKSet.from_dict(entra(emulator, "GET", f"/{state['tenantId']}/discovery/v2.0/keys").json())
    key = next(k for k in keys.keys if k.key_id == jwt.get_unverified_header(raw)["kid"])
    claims = jwt.decode(raw, key.key, algorithms=["RS256"], audience=AUDIENCE)
    expected_iss = f"{state['authority']}/{state['tenantId']}/v2.0" if version == 2 else f"https://sts.windows.net/{state['tenantId']}/"
    assert claims["iss"] == expected_iss and claims["tid"] == state["tenantId"] and claims["ver"] == f"{version}.0"
    assert claims["roles"] == ["DR.Operator"] and claims["name"] == "Alice"
    assert claims["azp" if version == 2 else "appid"] == "app-1"
    assert abs(claims["exp"] - time.time() - 3600) < 60  # real time, not the emulator's virtual clock


def test_times_and_issuer_can_be_set_for_refusal_tests(emulator: EmulatorHandle) -> None:
    raw = mint(emulator, exp=1000, nbf=900, iat=900, iss="https://elsewhere/", claims={"extra": True})
    claims = jwt.decode(raw, options={"verify_signature": False})
    assert (claims["exp"], claims["nbf"], claims["iss"], claims["extra"]) == (1000, 900, "https://elsewhere/", True)
    bad = entra(emulator, "POST", "/token", json={"roles": ["x"]})
    assert bad.status_code == 400 and "aud" in bad.text


def test_rotation_publishes_a_new_signing_key_and_can_retire_the_old(emulator: EmulatorHandle) -> None:
    before = emulator.admin("GET", "entra")
    kept = emulator.admin("POST", "entra/rotate", json={})
    assert kept["signingKid"] not in before["kids"] and set(before["kids"]) < set(kept["kids"])
    assert jwt.get_unverified_header(mint(emulator))["kid"] == kept["signingKid"]
    retired = emulator.admin("POST", "entra/rotate", json={"retire": True})
    assert retired["kids"] == [retired["signingKid"]]
    fetches = emulator.admin("GET", "entra")["jwksRequests"]
    entra(emulator, "GET", "/common/discovery/keys")
    assert emulator.admin("GET", "entra")["jwksRequests"] == fetches + 1
