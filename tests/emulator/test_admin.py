"""The admin API: faults, clock, capacity, request log, events (with delivery), identity, seeding."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.data import data_path
from tests.emulator.conftest import vm_body
from tests.fixtures.emulator import EmulatorHandle


class _Subscriber(BaseHTTPRequestHandler):
    """A tiny Event Grid subscriber: records each POSTed batch; fails the first ``fail_first`` posts."""

    batches: list[list[dict[str, Any]]]
    fail_first: int

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server: Any = self.server
        if server.fail_first > 0:
            server.fail_first -= 1
            self.send_response(503)
        else:
            server.batches.append(payload)
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def subscriber() -> Iterator[Any]:
    server: Any = HTTPServer(("127.0.0.1", 0), _Subscriber)
    server.batches = []
    server.fail_first = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _wait_for(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_health(fresh_emulator: EmulatorHandle) -> None:
    health = fresh_emulator.health()
    assert health["status"] == "ok"
    assert health["virtualMachines"] == 0


def test_throttling_429_is_retried_by_the_sdk(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    fresh_emulator.fault(
        path="/providers/Microsoft.Compute/proximityPlacementGroups$", method="GET", status=429, retryAfter=1, count=1
    )
    fresh_emulator.clear_requests()

    started = time.monotonic()
    assert list(client.proximity_placement_groups.list_by_resource_group(group)) == []

    assert time.monotonic() - started >= 1.0  # the SDK honoured Retry-After
    logged = fresh_emulator.requests(path="proximityPlacementGroups$")
    assert [e["status"] for e in logged] == [429, 200]
    assert logged[0]["fault"] is not None


def test_server_errors_and_latency(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    client.virtual_machines.begin_create_or_update(group, "vm-5xx", vm_body()).result()
    fresh_emulator.fault(path="virtualMachines/vm-5xx$", method="GET", status=503, count=1)
    assert client.virtual_machines.get(group, "vm-5xx").name == "vm-5xx"  # retried after the 503
    assert [e["status"] for e in fresh_emulator.requests(path="vm-5xx$", method="GET")][-2:] == [503, 200]

    fresh_emulator.fault(path="virtualMachines/vm-5xx$", method="GET", status=500, code="Boom", count=None)
    with fresh_emulator.http() as http:
        answer = http.get(
            f"/subscriptions/{fresh_emulator.subscription_id}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/vm-5xx"
        )
    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "Boom", "message": "Injected fault: Boom."}}
    fresh_emulator.clear_faults()

    fresh_emulator.fault(path="virtualMachines/vm-5xx$", latencyMs=300, count=1)
    started = time.monotonic()
    client.virtual_machines.get(group, "vm-5xx")
    assert time.monotonic() - started >= 0.3
    assert fresh_emulator.requests(path="vm-5xx$", method="GET")[-1]["duration_ms"] >= 300


def test_operation_faults_fail_jobs_by_kind(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    client.virtual_machines.begin_create_or_update(group, "vm-1", vm_body()).result()
    fresh_emulator.fault(operationKind="^vm\\.deallocate$", code="InternalOperationError", message="injected", count=1)

    with pytest.raises(HttpResponseError) as failed:
        client.virtual_machines.begin_deallocate(group, "vm-1").result()
    assert "InternalOperationError" in str(failed.value)
    client.virtual_machines.begin_deallocate(group, "vm-1").result()  # count=1: the next one succeeds
    assert client.virtual_machines.instance_view(group, "vm-1").statuses[1].code == "PowerState/deallocated"


def test_clock_advance_and_speed(fresh_emulator: EmulatorHandle) -> None:
    before = fresh_emulator.admin("GET", "clock")
    after = fresh_emulator.advance(3600)
    assert after["now"] > before["now"]
    assert fresh_emulator.set_speed(0)["speed"] == 0
    frozen = fresh_emulator.admin("GET", "clock")["now"]
    time.sleep(0.05)
    assert fresh_emulator.admin("GET", "clock")["now"] == frozen
    fresh_emulator.reset()
    assert fresh_emulator.admin("GET", "clock")["speed"] == 1.0  # reset restores the start speed


def test_a_clock_jump_waits_for_a_request_held_by_latency(fresh_emulator: EmulatorHandle, group: str) -> None:
    """A request delayed 1 s is served at the time it was sent, not after a jump asked during the delay."""
    client = fresh_emulator.compute_client()
    client.virtual_machines.begin_create_or_update(group, "vm-slow", vm_body()).result()
    fresh_emulator.fault(path="virtualMachines/vm-slow$", method="GET", latencyMs=1000, count=1)
    before = fresh_emulator.admin("GET", "clock")["now"]
    reader = threading.Thread(target=client.virtual_machines.get, args=(group, "vm-slow"))
    reader.start()
    deadline = time.monotonic() + 5
    while not fresh_emulator.admin("GET", "faults")["value"][0]["hits"] and time.monotonic() < deadline:
        time.sleep(0.01)  # the GET is now inside its delay
    started = time.monotonic()
    fresh_emulator.advance(3600)
    waited = time.monotonic() - started
    served = fresh_emulator.requests(path="vm-slow$", method="GET")
    reader.join()
    assert waited >= 0.5  # the jump waited for the delayed GET
    assert served and served[-1]["duration_ms"] >= 1000  # answered before the jump landed
    assert fresh_emulator.admin("GET", "clock")["now"] > before


def test_capacity_admin_reports_rules(fresh_emulator: EmulatorHandle) -> None:
    answer = fresh_emulator.capacity("*", ["Standard_M128s", "Standard_E96s_v5"])
    assert answer["capacity"] == {"*": ["standard_e96s_v5", "standard_m128s"]}
    assert fresh_emulator.capacity("*", [])["capacity"] == {}


def test_request_log_filters_and_clear(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    fresh_emulator.clear_requests()
    list(client.virtual_machines.list(group))
    [entry] = fresh_emulator.requests(method="GET", path="/virtualMachines$")
    assert entry["status"] == 200
    assert entry["query"]["api-version"]
    assert set(entry) >= {"method", "path", "query", "status", "duration_ms", "timestamp"}
    assert fresh_emulator.requests(status=404) == []
    fresh_emulator.clear_requests()
    assert fresh_emulator.requests() == []  # admin calls themselves are not logged


def test_vm_events_match_the_event_grid_schema(fresh_emulator: EmulatorHandle, group: str) -> None:
    root = data_path("eventgrid")
    client = fresh_emulator.compute_client()
    fresh_emulator.clear_events()
    client.virtual_machines.begin_create_or_update(group, "vm-ev", vm_body()).result()
    client.virtual_machines.begin_deallocate(group, "vm-ev").result()
    client.virtual_machines.begin_delete(group, "vm-ev").result()

    events = fresh_emulator.events(subject="vm-ev")
    kinds = [(e["eventType"].rsplit(".", 1)[1], e["data"]["operationName"]) for e in events]
    assert kinds == [
        ("ResourceWriteSuccess", "Microsoft.Compute/virtualMachines/write"),
        ("ResourceActionSuccess", "Microsoft.Compute/virtualMachines/deallocate/action"),
        ("ResourceDeleteSuccess", "Microsoft.Compute/virtualMachines/delete"),
    ]
    for event in events:
        [sample] = json.loads((root / f"subscription-{event['eventType'].rsplit('.', 1)[1]}-EventGridSchema.json").read_text())
        assert set(sample) == set(event)
        assert set(sample["data"]) <= set(event["data"])
        assert set(sample["data"]["authorization"]) == set(event["data"]["authorization"])
        assert event["data"]["resourceProvider"] == "Microsoft.Compute"
        assert event["dataVersion"] == "2"
    assert events[0]["data"]["httpRequest"]["method"] == "PUT"
    assert events[1]["data"]["httpRequest"]["method"] == "POST"


def test_events_are_delivered_to_a_subscriber_with_retry(fresh_emulator: EmulatorHandle, group: str, subscriber: Any) -> None:
    subscriber.fail_first = 1  # the first delivery attempt fails: the emulator retries
    fresh_emulator.subscribe(f"http://127.0.0.1:{subscriber.server_address[1]}/api/events")
    vm = fresh_emulator.compute_client().virtual_machines.begin_create_or_update(group, "vm-push", vm_body()).result()
    fresh_emulator.resource_client().tags.begin_update_at_scope(
        vm.id, {"operation": "Merge", "properties": {"tags": {"ppgdr-enabled": "true"}}}
    ).result()

    _wait_for(lambda: len(subscriber.batches) >= 2)
    operations = [batch[0]["data"]["operationName"] for batch in subscriber.batches]
    assert operations == ["Microsoft.Compute/virtualMachines/write", "Microsoft.Resources/tags/write"]
    assert all(isinstance(batch, list) and len(batch) == 1 for batch in subscriber.batches)
    _wait_for(lambda: fresh_emulator.admin("GET", "events/pending")["pending"] == 0)
    delivery = fresh_emulator.admin("GET", "events")["delivery"]
    assert (delivery["delivered"], delivery["failed"]) == (2, 0)
    fresh_emulator.subscribe(None)


def test_managed_identity_endpoint_serves_default_azure_credential(
    emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import DefaultAzureCredential

    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", emulator.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", emulator.identity_header)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")

    token = DefaultAzureCredential().get_token("https://management.azure.com/.default")

    assert token.token.count(".") == 2
    assert token.expires_on > time.time() + 3000

    from azure.mgmt.resource.resources import ResourceManagementClient

    client = ResourceManagementClient(
        DefaultAzureCredential(), emulator.subscription_id, base_url=emulator.base_url, connection_verify=emulator.cert
    )
    assert client.resource_groups.check_existence("rg-anything") in (True, False)


def test_identity_endpoint_refuses_a_wrong_header(emulator: EmulatorHandle) -> None:
    import httpx

    answer = httpx.get(
        emulator.identity_endpoint,
        params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
        headers={"X-IDENTITY-HEADER": "wrong"},
    )
    assert answer.status_code == 401
