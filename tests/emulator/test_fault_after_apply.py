"""The ``afterApply`` request fault: the request is served (state changed, job started), then answered 5xx.

A gateway or front door that times out after the backend accepted a write looks like this to a client
(ARM's 504 ``GatewayTimeout`` while the resource provider completes). Retry logic that resends such a
write blindly sends it twice; the chaos suite (``bench/chaos.py``) injects it on Site Recovery writes.
These tests drive it through HTTP only: the admin API to add the rule, raw ARM calls and the SDK.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from tests.emulator.conftest import vm_body
from tests.fixtures.emulator import EmulatorHandle

API = {"api-version": "2024-07-01"}


def _ppg_path(emulator: EmulatorHandle, group: str, name: str) -> str:
    return (
        f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/proximityPlacementGroups/{name}"
    )


def _put_ppg(http: httpx.Client, path: str) -> httpx.Response:
    body: dict[str, Any] = {"location": "westeurope", "properties": {"proximityPlacementGroupType": "Standard"}}
    return http.put(path, params=API, json=body)


def test_a_put_is_applied_and_the_client_sees_the_injected_503(fresh_emulator: EmulatorHandle, group: str) -> None:
    path = _ppg_path(fresh_emulator, group, "ppg-after")
    rule = fresh_emulator.fault(path="proximityPlacementGroups/ppg-after$", method="PUT", status=503, afterApply=True)
    fresh_emulator.clear_requests()

    with fresh_emulator.http() as http:
        answer = _put_ppg(http, path)
        assert answer.status_code == 503
        assert answer.json() == {"error": {"code": "ServiceUnavailable", "message": "Injected fault: ServiceUnavailable."}}
        read = http.get(path, params=API)

    assert read.status_code == 200  # the write took effect although the client was told it failed
    assert read.json()["name"] == "ppg-after"
    put, get = fresh_emulator.requests(path="ppg-after$")
    assert (put["method"], put["status"], put["fault"]) == ("PUT", 503, rule["id"])
    assert put["applied"] is True and put["appliedStatus"] in (200, 201)
    assert (get["method"], get["status"], get["fault"]) == ("GET", 200, None)
    assert "applied" not in get  # entries no after-apply rule answered are as before


def test_get_faults_describes_the_rule_and_other_rules_are_unchanged(fresh_emulator: EmulatorHandle) -> None:
    after = fresh_emulator.fault(path="unplannedFailover$", method="POST", status=504, code="GatewayTimeout", afterApply=True)
    before = fresh_emulator.fault(path="unplannedFailover$", method="POST", status=503)

    assert after["afterApply"] is True and after["status"] == 504 and after["code"] == "GatewayTimeout"
    assert "afterApply" not in before  # rules without it describe themselves exactly as before
    listed = {r["id"]: r for r in fresh_emulator.admin("GET", "faults")["value"]}
    assert listed[after["id"]]["afterApply"] is True
    assert set(listed[before["id"]]) == {
        "id", "kind", "method", "path", "status", "code", "retryAfter", "latencyMs", "remaining", "hits",
    }  # fmt: skip


def test_a_fault_before_apply_changes_nothing(fresh_emulator: EmulatorHandle, group: str) -> None:
    path = _ppg_path(fresh_emulator, group, "ppg-before")
    fresh_emulator.fault(path="proximityPlacementGroups/ppg-before$", method="PUT", status=503)
    with fresh_emulator.http() as http:
        assert _put_ppg(http, path).status_code == 503
        assert http.get(path, params=API).status_code == 404
    put = fresh_emulator.requests(path="ppg-before$", method="PUT")[-1]
    assert put["fault"] is not None and "applied" not in put


def test_an_action_post_starts_its_operation_before_the_injected_answer(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    client.virtual_machines.begin_create_or_update(group, "vm-after", vm_body()).result()
    fresh_emulator.fault(path="virtualMachines/vm-after/deallocate$", method="POST", status=504, afterApply=True)
    vm_path = _ppg_path(fresh_emulator, group, "x").replace("proximityPlacementGroups/x", "virtualMachines/vm-after")

    with fresh_emulator.http() as http:
        answer = http.post(f"{vm_path}/deallocate", params=API)
    assert answer.status_code == 504

    fresh_emulator.advance(600)
    view = client.virtual_machines.instance_view(group, "vm-after")
    assert "PowerState/deallocated" in [s.code for s in view.statuses]
    post = fresh_emulator.requests(path="vm-after/deallocate$")[-1]
    assert post["status"] == 504 and post["applied"] is True and post["appliedStatus"] == 202


def test_the_sdk_retries_an_idempotent_put_and_both_attempts_were_applied(fresh_emulator: EmulatorHandle, group: str) -> None:
    """azure-core retries a PUT on 503: the resend lands on a resource that already exists (same answer)."""
    client = fresh_emulator.compute_client()
    fresh_emulator.fault(path="proximityPlacementGroups/ppg-sdk$", method="PUT", status=503, afterApply=True)
    fresh_emulator.clear_requests()

    created = client.proximity_placement_groups.create_or_update(
        group, "ppg-sdk", {"location": "westeurope", "properties": {"proximityPlacementGroupType": "Standard"}}
    )

    assert created.name == "ppg-sdk"
    puts = fresh_emulator.requests(path="ppg-sdk$", method="PUT")
    assert [(p["status"], p.get("applied")) for p in puts] == [(503, True), (200, None)]


def test_a_refused_request_is_reported_as_not_applied(fresh_emulator: EmulatorHandle) -> None:
    """The real answer was an error (here: no such resource group), so nothing took effect behind the 503."""
    path = _ppg_path(fresh_emulator, "no-such-group", "ppg-x")
    fresh_emulator.fault(path="proximityPlacementGroups/ppg-x$", method="PUT", status=503, afterApply=True)
    with fresh_emulator.http() as http:
        assert _put_ppg(http, path).status_code == 503
    put = fresh_emulator.requests(path="ppg-x$")[-1]
    assert put["applied"] is False and put["appliedStatus"] == 404


def test_after_apply_needs_a_5xx_status(fresh_emulator: EmulatorHandle) -> None:
    for rule in (
        {"afterApply": True, "latencyMs": 10},
        {"afterApply": True, "status": 429},
        {"afterApply": "yes", "status": 503},
    ):
        tls = ssl.create_default_context(cafile=fresh_emulator.cert)
        with httpx.Client(base_url=fresh_emulator.base_url, verify=tls, timeout=30) as client:
            answer = client.post("/_emulator/faults", json=rule)
        assert answer.status_code == 400, rule
        assert answer.json()["error"]["code"] == "InvalidParameter"
    assert fresh_emulator.admin("GET", "faults")["value"] == []
