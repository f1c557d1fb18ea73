"""Backends without HTTP: the behaviour Site Recovery and the admin API build on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from emulator.errors import ArmError
from emulator.events import WRITE, EventEmitter
from emulator.faults import FaultRegistry
from emulator.operations import FAILED, SUCCEEDED
from emulator.state import Emulator
from tests.emulator.conftest import LOCATION, vm_body

SUB = "sub-1"


@pytest.fixture
def state() -> Iterator[Emulator]:
    emulator = Emulator()
    emulator.resources.put_group(SUB, "rg", {"location": LOCATION})
    yield emulator
    emulator.close()


def _ppg(state: Emulator, name: str = "ppg", location: str = LOCATION) -> str:
    body, _ = state.compute.put_ppg(SUB, "rg", name, {"location": location})
    return str(body["id"])


def _avset(state: Emulator, ppg_id: str) -> str:
    body = state.compute.put_avset(
        SUB, "rg", "as", {"location": LOCATION, "properties": {"proximityPlacementGroup": {"id": ppg_id}}}
    )
    return str(body["id"])


def test_put_vm_refuses_a_size_the_ppg_cannot_host(state: Emulator) -> None:
    ppg_id = _ppg(state)
    state.compute.set_capacity(ppg_id, ["Standard_M128s"])
    assert state.compute.capacity_allows(ppg_id, "standard_m128s") is False
    assert state.compute.capacity_allows(ppg_id, "Standard_D2s_v5") is True

    with pytest.raises(ArmError) as refused:
        state.compute.put_vm(SUB, "rg", "vm", vm_body(size="Standard_M128s", ppg_id=ppg_id))
    assert (refused.value.status, refused.value.code) == (409, "OverconstrainedAllocationRequest")


def test_put_vm_with_fallback_lands_outside_the_ppg_and_says_so(state: Emulator) -> None:
    ppg_id = _ppg(state)
    avset_id = _avset(state, ppg_id)
    state.compute.set_capacity("*", ["Standard_M128s"])

    vm = state.compute.put_vm(SUB, "rg", "vm", vm_body(size="Standard_M128s", avset_id=avset_id), allow_placement_fallback=True)

    assert "proximityPlacementGroup" not in vm["properties"]
    assert "availabilitySet" not in vm["properties"]
    assert vm["properties"]["provisioningState"] == "Succeeded"
    placement = state.compute.vm_placement(vm["id"])
    assert placement is not None
    assert placement["requestedProximityPlacementGroup"].lower() == ppg_id.lower()
    assert placement["requestedAvailabilitySet"] == avset_id
    assert state.compute.placement_fallbacks == [placement]
    assert state.compute.get_ppg(SUB, "rg", "ppg")["properties"]["virtualMachines"] == []
    assert [e["data"]["operationName"] for e in state.events.events()][-1] == "Microsoft.Compute/virtualMachines/write"


def test_put_vm_in_capacity_lands_in_the_ppg(state: Emulator) -> None:
    ppg_id = _ppg(state)
    vm = state.compute.put_vm(SUB, "rg", "vm", vm_body(ppg_id=ppg_id), allow_placement_fallback=True)
    assert vm["properties"]["proximityPlacementGroup"]["id"] == ppg_id
    assert state.compute.vm_placement(vm["id"]) is None


def test_get_find_and_delete_are_case_insensitive(state: Emulator) -> None:
    vm = state.compute.put_vm(SUB, "rg", "VM-One", vm_body())
    assert state.compute.get_vm(SUB.upper(), "RG", "vm-one")["id"] == vm["id"]
    assert state.compute.find(vm["id"].upper()) is not None
    assert state.compute.find(vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"].lower())["managedBy"] == vm["id"]
    assert state.find_resource(vm["id"].lower()) is not None
    assert state.compute.delete_vm(SUB, "rg", "vm-one") is True
    assert state.compute.delete_vm(SUB, "rg", "vm-one") is False
    with pytest.raises(ArmError) as missing:
        state.compute.get_vm(SUB, "rg", "vm-one")
    assert missing.value.status == 404


def test_region_and_set_rules(state: Emulator) -> None:
    far = _ppg(state, "ppg-far", location="northeurope")
    near = _ppg(state)
    avset_id = _avset(state, near)
    with pytest.raises(ArmError, match="same region"):
        state.compute.put_vm(SUB, "rg", "vm", vm_body(ppg_id=far))
    with pytest.raises(ArmError, match="must match"):
        state.compute.put_vm(SUB, "rg", "vm", vm_body(ppg_id=_ppg(state, "ppg-2"), avset_id=avset_id))
    with pytest.raises(ArmError, match="same region"):
        state.compute.put_avset(
            SUB, "rg", "as-far", {"location": LOCATION, "properties": {"proximityPlacementGroup": {"id": far}}}
        )


def test_unmanaged_disks_are_kept_and_create_no_disk_resource(state: Emulator) -> None:
    vm = state.compute.put_vm(SUB, "rg", "vm", vm_body(unmanaged=True))
    assert vm["properties"]["storageProfile"]["osDisk"]["vhd"]["uri"].endswith(".vhd")
    assert [d["name"] for d in state.compute.list_disks(SUB)] == ["vm_DataDisk_0"]


def test_seed_vms_is_bulk_and_silent(state: Emulator) -> None:
    ids = state.compute.seed_vms(SUB, "rg", 500, proximity_placement_group_id=_ppg(state))
    assert len(ids) == len(state.compute.list_vms(SUB)) == 500
    assert len(state.compute.get_ppg(SUB, "rg", "ppg")["properties"]["virtualMachines"]) == 500
    assert [e["data"]["operationName"] for e in state.events.events()][-1] == "Microsoft.Compute/proximityPlacementGroups/write"


def test_tags_merge_replace_delete_on_a_vm(state: Emulator) -> None:
    vm = state.compute.put_vm(SUB, "rg", "vm", vm_body(tags={"a": "1"}))
    state.resources.patch_tags(vm["id"], {"operation": "Merge", "properties": {"tags": {"b": "2"}}})
    assert state.compute.get_vm(SUB, "rg", "vm")["tags"] == {"a": "1", "b": "2"}
    state.resources.patch_tags(vm["id"], {"operation": "Delete", "properties": {"tags": {"a": "other"}}})
    assert state.compute.get_vm(SUB, "rg", "vm")["tags"] == {"a": "1", "b": "2"}  # value must match to delete
    state.resources.patch_tags(vm["id"], {"operation": "Delete", "properties": {"tags": {"a": ""}}})
    assert state.compute.get_vm(SUB, "rg", "vm")["tags"] == {"b": "2"}
    state.resources.patch_tags(vm["id"], {"operation": "Replace", "properties": {"tags": {"c": "3"}}})
    assert state.compute.get_vm(SUB, "rg", "vm")["tags"] == {"c": "3"}
    last = state.events.events(event_type=WRITE)[-1]
    assert (last["subject"], last["data"]["operationName"]) == (vm["id"], "Microsoft.Resources/tags/write")


def test_operation_faults_fail_operations_by_kind(state: Emulator) -> None:
    state.faults.add_operation_fault(kind="^failover$", code="A2AFailoverFailed", count=1)
    failed = state.operations.start("failover", 0)
    ok = state.operations.start("failover", 0)
    other = state.operations.start("vm.start", 0)
    assert failed.status == FAILED and failed.error is not None and failed.error.code == "A2AFailoverFailed"
    assert ok.status == SUCCEEDED and other.status == SUCCEEDED


def test_request_faults_count_down() -> None:
    registry = FaultRegistry()
    rule = registry.add_request_fault(path="virtualMachines", method="GET", status=429, count=2)
    assert rule.retry_after == 1  # a throttle always says when to come back
    assert registry.take_request_fault("PUT", "/x/virtualMachines/a") is None
    assert registry.take_request_fault("GET", "/x/virtualMachines/a") is rule
    assert registry.take_request_fault("GET", "/x/virtualMachines/a") is rule
    assert registry.take_request_fault("GET", "/x/virtualMachines/a") is None
    with pytest.raises(ValueError):
        registry.add_request_fault(path="x")


def test_reset_empties_everything(state: Emulator) -> None:
    state.compute.put_vm(SUB, "rg", "vm", vm_body())
    state.faults.add_request_fault(status=500, count=None)
    state.reset()
    assert state.compute.list_vms(SUB) == [] or len(state.compute.list_vms(SUB)) == 0
    assert state.resources.list_groups(SUB) == []
    assert state.faults.describe() == []
    assert state.events.events() == []


class _Flaky(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: Any = self.server
        server.attempts += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(500 if server.attempts == 1 else 200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_event_delivery_retries_then_gives_up_without_blocking() -> None:
    server: Any = HTTPServer(("127.0.0.1", 0), _Flaky)
    server.attempts = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from datetime import UTC, datetime

    emitter = EventEmitter(now=lambda: datetime.now(UTC), subscriber_url=f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        emitter.emit(WRITE, "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm", "w")
        assert emitter.flush(10)
        assert (server.attempts, emitter.delivered, emitter.failed) == (2, 1, 0)

        emitter.set_subscriber("http://127.0.0.1:1/unreachable")
        emitter.emit(WRITE, "/subscriptions/s", "w")  # returns at once; delivery happens in the background
        assert emitter.flush(15)
        assert emitter.failed == 1
    finally:
        emitter.close()
        server.shutdown()
        server.server_close()
