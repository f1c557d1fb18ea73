"""Entra ID authentication end to end: the registered ``http_api`` function against the emulator's tenant.

The app runs with ``PPGDR_ALERT_AUTH_MODE=aad`` and operator tokens on (unless a test says otherwise), its
authority pointed at the emulator (``PPGDR_ENTRA_AUTHORITY``, trusted through ``PPGDR_ARM_CA_BUNDLE``). Tokens
are minted by the emulator (``POST /_emulator/entra/token``), forged here with keys of our own, and sent as
Azure Monitor's secure webhook and an operator would send them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev import estate as est
from localdev import outages
from shared.operator.http_api import create_app
from shared.operator.http_auth import PUBLIC
from shared.state.audit import audit_trail
from tests.fixtures.app import Ppgdr

ROOT = Path(__file__).resolve().parents[2]
ALERT_AUDIENCE = "api://ppgdr-alerts"
OPERATOR_AUDIENCE = "api://ppgdr-operators"
AZNS = "461e8683-5575-4561-ac7f-899cc907d62a"  # the Azure Monitor action groups application
ALERT_ROLE = "ActionGroupsSecureWebhook"
AAD = {"PPGDR_ALERT_AUTH_MODE": "aad", "PPGDR_ALERT_AUDIENCE": ALERT_AUDIENCE, "PPGDR_OPERATOR_AUDIENCE": OPERATOR_AUDIENCE}
KEYS_ONLY: dict[str, str] = {}
E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = {"sap-app-1", "sap-app-2", "sap-db-1"}


@pytest.fixture
def app_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings the ``ppgdr`` app runs with here: secure webhook and operator tokens, unless parametrized."""
    return dict(getattr(request, "param", AAD))


def mint(app: Ppgdr, **request: Any) -> str:
    return str(app.emulator.admin("POST", "entra/token", json=request)["access_token"])


def alert_token(app: Ppgdr, **request: Any) -> str:
    """A token like the one Azure Monitor's action group gets for the alert app registration (v1, app-only)."""
    return mint(app, **{"aud": ALERT_AUDIENCE, "roles": [ALERT_ROLE], "appid": AZNS, **request})


def person_token(app: Ppgdr, *roles: str, **request: Any) -> str:
    claims = {"aud": OPERATOR_AUDIENCE, "roles": list(roles), "name": "Alice Example", "upn": "alice@contoso.com"}
    return mint(app, **{**claims, **request})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forged(claims: dict[str, Any], kid: str) -> str:
    """A token signed with a key of our own (not the tenant's), under whatever kid we like."""
    own = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, own, algorithm="RS256", headers={"kid": kid})


def alert_body() -> dict[str, Any]:
    return outages.availability_alert([E.vm("sap-db-1").id])


def post_alert(app: Ppgdr, headers: dict[str, str] | None = None, key: str | None = None) -> tuple[int, Any]:
    return app.http("POST", "/api/alerts", body=alert_body(), key=key, headers=headers)


def jwks_fetches(app: Ppgdr) -> int:
    return int(app.emulator.admin("GET", "entra")["jwksRequests"])


# ------------------------------------------------------------------------------------------ the webhook


def test_a_secure_webhook_alert_is_accepted(ppgdr: Ppgdr) -> None:
    code, body = post_alert(ppgdr, bearer(alert_token(ppgdr)))
    assert code == 202 and body["signals"] == 1, body
    v2 = alert_token(ppgdr, version=2, aud=ALERT_AUDIENCE)  # a v2 token (login.../v2.0 issuer) is as good
    assert post_alert(ppgdr, bearer(v2))[0] == 202


def test_forged_expired_and_misdirected_alerts_are_refused_without_an_azure_call(ppgdr: Ppgdr) -> None:
    app = ppgdr
    assert post_alert(app, bearer(alert_token(app)))[0] == 202  # the keys are fetched and cached
    tenant = app.emulator.admin("GET", "entra")
    now = int(time.time())
    genuine = jwt.decode(alert_token(app), options={"verify_signature": False})
    other_tenant = "00000000-0000-0000-0000-0000000000ff"
    refusals: dict[str, tuple[dict[str, str], str, int]] = {
        "no token": ({}, "TokenRequired", 401),
        "forged signature, real kid": (bearer(forged(genuine, tenant["signingKid"])), "signature does not verify", 401),
        "forged signature, own kid": (bearer(forged(genuine, "attacker-key")), "does not publish", 401),
        "other tenant's issuer": (bearer(alert_token(app, iss=f"https://sts.windows.net/{other_tenant}/")), "issued by", 401),
        "other tenant": (bearer(alert_token(app, tid=other_tenant)), "tenant (tid)", 401),
        "wrong audience": (bearer(alert_token(app, aud=OPERATOR_AUDIENCE)), "for audience", 401),
        "expired": (bearer(alert_token(app, exp=now - 3600, nbf=now - 7200)), "expired", 401),
        "not yet valid": (bearer(alert_token(app, nbf=now + 3600)), "not valid for another", 401),
        "no role": (bearer(alert_token(app, roles=[])), "no app role ActionGroupsSecureWebhook", 403),
        "another role": (bearer(alert_token(app, roles=["DR.Operator"])), "no app role", 403),
        "alg none": (bearer(jwt.encode(genuine, None, algorithm="none", headers={"kid": tenant["signingKid"]})), "'none'", 401),
        "HS256": (bearer(jwt.encode(genuine, "a-secret-of-32-bytes-or-more-here!", algorithm="HS256")), "'HS256'", 401),
        "garbage": (bearer("not.a.token"), "not a JWT", 401),
        "basic": ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer <token>", 401),
    }
    app.emulator.clear_requests()
    fetches = jwks_fetches(app)
    for name, (headers, fragment, status) in refusals.items():
        code, body = post_alert(app, headers)
        assert code == status, (name, code, body)
        message = body["error"]["message"]
        assert fragment in message or fragment == body["error"]["code"], (name, body)
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        assert not token or token not in json.dumps(body), name
    # a key cannot post alerts in aad mode (no secret in a URL can fake an outage)
    code, body = post_alert(app, key="test-key-not-a-secret")
    assert code == 401 and "not keys" in body["error"]["message"]
    assert app.emulator.requests() == []  # nothing reached Azure
    assert jwks_fetches(app) == fetches  # and the forged kid did not make it refetch within the minute


def test_key_rotation_refetches_once_and_forged_kids_cannot_hammer_the_tenant(ppgdr: Ppgdr) -> None:
    app = ppgdr
    assert post_alert(app, bearer(alert_token(app)))[0] == 202
    keys = app.ctx.signing_keys
    refreshes = keys.refreshes
    base = time.monotonic
    keys.clock = lambda: base() + 120  # the keys were fetched two minutes ago
    app.emulator.admin("POST", "entra/rotate", json={"retire": True})  # Entra rolls its key over
    fetches = jwks_fetches(app)
    assert post_alert(app, bearer(alert_token(app)))[0] == 202  # unknown kid: fetched again, once
    assert keys.refreshes == refreshes + 1 and jwks_fetches(app) > fetches

    fetches = jwks_fetches(app)
    genuine = jwt.decode(alert_token(app), options={"verify_signature": False})
    for _ in range(25):
        code, body = post_alert(app, bearer(forged(genuine, f"made-up-{uuid.uuid4().hex}")))
        assert code == 401 and "does not publish" in body["error"]["message"]
    assert jwks_fetches(app) == fetches and keys.refreshes == refreshes + 1  # refused from the cache
    assert post_alert(app, bearer(alert_token(app)))[0] == 202  # and the genuine key still works


@pytest.mark.parametrize("app_env", [{**AAD, "PPGDR_ENTRA_AUTHORITY": "https://127.0.0.1:9/entra"}], indirect=True)
def test_an_unreachable_tenant_is_a_503_azure_monitor_retries(ppgdr: Ppgdr) -> None:
    code, body = post_alert(ppgdr, bearer(alert_token(ppgdr)))
    assert code == 503 and body["error"]["code"] == "SigningKeysUnavailable"


# ----------------------------------------------------------------------------------------- operators


def test_operator_tokens_need_the_role_of_what_they_do(ppgdr: Ppgdr) -> None:
    app = ppgdr
    operator, reader, nobody = person_token(app, "DR.Operator"), person_token(app, "DR.Reader"), person_token(app)
    for token in (operator, reader):
        code, body = app.http("GET", "/api/groups", key=None, headers=bearer(token))
        assert code == 200 and body == {"value": []}
    code, body = app.http("GET", "/api/groups", key=None, headers=bearer(nobody))
    assert code == 403 and body["error"]["code"] == "MissingRole"
    assert "Alice Example (alice@contoso.com)" in body["error"]["message"]
    code, body = app.http("POST", "/api/groups/nope/failover", key=None, headers=bearer(reader))
    assert code == 403 and "DR.Operator" in body["error"]["message"]  # reading is not operating
    code, body = app.http("POST", "/api/groups/nope/failover", key=None, headers=bearer(operator))
    assert code == 404  # authenticated and allowed: the group does not exist
    code, body = app.http("GET", "/api/groups", key=None, headers=bearer(alert_token(app)))
    assert code == 401 and "for audience" in body["error"]["message"]  # the alert app's token is not an operator's
    code, body = app.http("GET", "/api/groups", key=None, headers=bearer(person_token(app, "DR.Operator", exp=1)))
    assert code == 401 and body["error"]["code"] == "ExpiredToken"
    assert app.http("GET", "/api/groups")[0] == 200  # keys still work beside tokens
    code, _ = app.http("GET", "/api/groups", key="wrong", headers=bearer(operator))
    assert code == 401  # a wrong key is refused, not skipped for the token


@pytest.mark.parametrize("app_env", [KEYS_ONLY], indirect=True)
def test_without_a_tenant_audience_tokens_are_refused_and_keys_still_post_alerts(ppgdr: Ppgdr) -> None:
    app = ppgdr
    code, body = app.http("GET", "/api/groups", key=None, headers=bearer(person_token(app, "DR.Operator")))
    assert code == 401 and "takes no Entra ID tokens" in body["error"]["message"]
    assert post_alert(app, key="test-key-not-a-secret")[0] == 202  # functionKey mode: the key posts alerts
    assert post_alert(app, bearer(alert_token(app)))[0] == 401


def test_approvals_and_commands_are_attributed_to_the_person(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")
    app.corroborate([E.vm(n).id for n in SAP])  # Resource Health agrees: the alert decides at once
    body = outages.availability_alert([E.vm(n).id for n in SAP])
    code, _ = app.http("POST", "/api/alerts", body=body, key=None, headers=bearer(alert_token(app)))
    assert code == 202
    operator = bearer(person_token(app, "DR.Operator"))
    code, pending = app.http("GET", "/api/decisions", key=None, headers=bearer(person_token(app, "DR.Reader")))
    assert code == 200 and len(pending["value"]) == 1
    decision = pending["value"][0]["decision_id"]
    code, answer = app.http("POST", f"/api/decisions/{decision}/approve", key=None, headers=operator, body={"by": "mallory"})
    assert code == 200, answer
    trail = audit_trail(app.ctx.store, "sap-ppg")
    approved = [a for a in trail if a["event"] == "approved"]
    assert approved and "Alice Example (alice@contoso.com) (Entra ID)" in json.dumps(approved)
    assert "mallory" not in json.dumps(trail)  # the body cannot speak for the token's person
    started = [a for a in trail if a["event"] == "failover-started"]
    assert started, [a["event"] for a in trail]


def test_group_commands_name_the_person_too(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")
    operator = bearer(person_token(app, "DR.Operator", name="Bob", upn="bob@contoso.com"))
    code, _ = app.http("POST", "/api/groups/sap-ppg/failover", key=None, headers=operator, params={"dry_run": "true"})
    assert code == 202
    dry = [a for a in audit_trail(app.ctx.store, "sap-ppg") if a["event"] == "dry-run"]
    assert dry and "requested through the API by Bob (bob@contoso.com) (Entra ID)" in json.dumps(dry)


# ------------------------------------------------------------------------------ every route, every mode


def _routes() -> list[tuple[str, str]]:
    found = []
    for route in create_app().routes:
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", set())):
            found.append((method, path.replace("{", "").replace("}", "")))  # /api/groups/group/action: any value
    return found


@pytest.mark.parametrize("app_env", [KEYS_ONLY, AAD], indirect=True, ids=["functionKey", "aad"])
def test_no_route_answers_without_credentials(ppgdr: Ppgdr, app_env: dict[str, str]) -> None:
    routes = _routes()
    assert len(routes) > 20
    public = {path for _, path in routes if path in PUBLIC}
    assert public == {"/favicon.ico", "/api/favicon.ico", "/api/login", "/api/logout"}  # the whole list, on purpose
    bogus = bearer("eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.c2ln")
    for method, path in [*routes, ("GET", "/api/no-such-route"), ("POST", "/api/alerts/")]:
        if path in PUBLIC:
            code, _ = ppgdr.http(method, path, key=None)
            assert code != 500, (method, path)
            continue
        for headers in (None, bogus, {"Cookie": "ppgdr_session=forged.token"}):
            code, _ = ppgdr.http(method, path, key=None, headers=headers)
            assert code == 401, (app_env, method, path, headers, code)


# ------------------------------------------------------------------------------- the host's auth level


@pytest.mark.parametrize(
    ("env", "level"),
    [
        ({}, "FUNCTION"),
        ({"PPGDR_ALERT_AUTH_MODE": "functionKey", "PPGDR_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47"}, "FUNCTION"),
        ({**AAD, "PPGDR_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47"}, "ANONYMOUS"),
        ({"PPGDR_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47", "PPGDR_OPERATOR_AUDIENCE": "api://ops"}, "ANONYMOUS"),
        ({"PPGDR_ALERT_AUTH_MODE": "aad"}, "ANONYMOUS"),  # half-configured: the app answers 500 BadSetting, never opens
    ],
)
def test_the_registered_http_function_has_the_auth_level_of_the_mode(env: dict[str, str], level: str) -> None:
    script = (
        "import json, sys, function_app\n"
        "fn = next(f for f in function_app.app.get_functions() if f.get_function_name() == 'http_api')\n"
        "trigger = next(b for b in json.loads(fn.get_function_json())['bindings'] if b['type'] == 'httpTrigger')\n"
        "print(json.dumps({'level': trigger['authLevel'], 'jwt': 'jwt' in sys.modules}))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PPGDR_")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"level": level, "jwt": False}  # PyJWT loads with the first token, not at cold start


def test_a_half_configured_secure_webhook_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """``aad`` without a tenant makes the host anonymous (above); the app then answers 500 naming the setting."""
    from shared.context import set_context

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about its httpx client
        from starlette.testclient import TestClient

    for name in [n for n in os.environ if n.startswith("PPGDR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PPGDR_ALERT_AUTH_MODE", "aad")
    set_context(None)
    try:
        client = TestClient(create_app(), raise_server_exceptions=False)
        for method, path in _routes():
            if path in PUBLIC:
                continue
            answer = client.request(method, path, headers={"x-functions-key": "anything"})
            assert answer.status_code == 500, (method, path, answer.status_code)
            assert method == "HEAD" or "PPGDR_TENANT_ID" in answer.json()["error"]["message"]
    finally:
        set_context(None)
