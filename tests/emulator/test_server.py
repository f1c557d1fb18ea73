"""The HTTPS server and the ARM front door: authentication, error envelope, JSON, process lifecycle."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle

REPO = Path(__file__).resolve().parents[2]


def test_https_with_the_generated_ca(emulator: EmulatorHandle) -> None:
    assert emulator.base_url.startswith("https://127.0.0.1:")
    assert Path(emulator.cert).read_text().startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises(httpx.ConnectError):
        httpx.get(emulator.base_url + "/_emulator/health")  # not trusted without the CA
    answer = httpx.get(emulator.base_url + "/_emulator/health", verify=ssl.create_default_context(cafile=emulator.cert))
    assert answer.status_code == 200


def test_arm_requests_without_a_token_get_401(fresh_emulator: EmulatorHandle) -> None:
    context = ssl.create_default_context(cafile=fresh_emulator.cert)
    answer = httpx.get(
        f"{fresh_emulator.base_url}/subscriptions/x/resourcegroups", params={"api-version": "2025-04-01"}, verify=context
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "AuthenticationFailed"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_arm_error_envelope_and_bad_json(fresh_emulator: EmulatorHandle) -> None:
    with fresh_emulator.http() as http:
        missing = http.get("/subscriptions/s/resourcegroups/nope", params={"api-version": "2025-04-01"})
        bad_json = http.put(
            "/subscriptions/s/resourcegroups/rg", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        unknown = http.get("/subscriptions/s/providers/Microsoft.Unknown/things")
        wrong_method = http.post("/subscriptions/s/resourcegroups/rg")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "ResourceGroupNotFound", "message": "Resource group 'nope' could not be found."}}
    assert missing.headers["x-ms-request-id"]
    assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (400, "InvalidRequestContent")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "InvalidResourceType")
    assert wrong_method.status_code == 405


def test_any_subscription_and_token_are_accepted(fresh_emulator: EmulatorHandle) -> None:
    client = fresh_emulator.resource_client(subscription_id="11111111-2222-3333-4444-555555555555")
    client.resource_groups.create_or_update("rg-other-sub", {"location": "westeurope"})
    assert [g.name for g in client.resource_groups.list()] == ["rg-other-sub"]
    assert list(fresh_emulator.resource_client().resource_groups.list()) == []  # subscriptions are separate


def test_serve_prints_ready_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "serve", "--port", "0", "--cert-dir", str(tmp_path), "--clock-speed", "10"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["ready"] is True
        assert ready["cert"] == str(tmp_path / "cert.pem")
        assert ready["identity_endpoint"] is None  # only with --identity-port
        clock = httpx.get(ready["base_url"] + "/_emulator/clock", verify=ssl.create_default_context(cafile=ready["cert"])).json()
        assert clock["speed"] == 10
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
