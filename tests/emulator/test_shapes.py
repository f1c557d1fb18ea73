"""Responses keep the shapes of the published Compute REST examples (``tests/data/compute-rest-examples``).

Each test sends what the example sends (or the closest emulated equivalent) and compares the *key
sets* of the raw JSON, recursively: every key of the example must be in the emulator's answer,
except the few documented as not emulated (VM extensions, VMSS migration info, patch status...).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.data import data_path
from tests.emulator.conftest import LOCATION, vm_body
from tests.fixtures.emulator import EmulatorHandle

EXAMPLES = data_path("compute-rest-examples")
API = {"api-version": "2024-11-01"}

#: Example keys the emulator does not produce, and why.
NOT_EMULATED = {
    "resources",  # VM extensions are not emulated
    "managedBy",  # VMs managed by a scale set: scale sets are not emulated
    "properties.virtualMachineScaleSetMigrationInfo",  # availability set -> VMSS migration
    "properties.scheduledEventsPolicy",  # scheduled events are not emulated
    "patchStatus",  # guest patching is not emulated
    "sku.tier",  # availability sets: only in the generated "maximum set" example, not in Azure's answers
    "sku.capacity",
}
#: Keys whose children are free-form (user data), so their names are not part of the shape.
FREE_FORM = {"tags"}


def _example(name: str) -> dict[str, Any]:
    found = next(EXAMPLES.rglob(f"{name}.json"))
    return dict(json.loads(found.read_text()))


def missing_keys(example: Any, ours: Any, path: str = "") -> list[str]:
    """Dotted paths of keys present in ``example`` but absent in ``ours`` (lists compare their first items)."""
    missing: list[str] = []
    if isinstance(example, dict) and isinstance(ours, dict):
        for name, value in example.items():
            dotted = f"{path}.{name}" if path else name
            if dotted in NOT_EMULATED:
                continue
            if name not in ours:
                missing.append(dotted)
            elif name not in FREE_FORM:
                missing += missing_keys(value, ours[name], dotted)
    elif isinstance(example, list) and isinstance(ours, list) and example and ours:
        missing += missing_keys(example[0], ours[0], path + "[]")
    return missing


def _put(http: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    response = http.put(path, params=API, json=body)
    assert response.status_code in (200, 201), response.text
    return response


def _base(emulator: EmulatorHandle, group: str) -> str:
    return f"/subscriptions/{emulator.subscription_id}/resourceGroups/{group}/providers/Microsoft.Compute"


def test_ppg_shapes(fresh_emulator: EmulatorHandle, group: str) -> None:
    base = _base(fresh_emulator, group)
    create = _example("ProximityPlacementGroup_CreateOrUpdate")
    with fresh_emulator.http() as http:
        created = _put(http, f"{base}/proximityPlacementGroups/ppg", create["parameters"]["parameters"])
        assert created.status_code == 201
        assert missing_keys(create["responses"]["201"]["body"], created.json()) == []
        _put(http, f"{base}/virtualMachines/vm", vm_body(ppg_id=created.json()["id"], zones=["1"], location="westus"))

        got = http.get(f"{base}/proximityPlacementGroups/ppg", params=API).json()
        assert missing_keys(_example("ProximityPlacementGroup_Get")["responses"]["200"]["body"], got) == []
        listed = http.get(f"{base}/proximityPlacementGroups", params=API).json()
        example_list = _example("ProximityPlacementGroup_ListByResourceGroup")["responses"]["200"]["body"]
        assert missing_keys(example_list["value"][0], listed["value"][0]) == []
        by_sub = http.get(
            f"/subscriptions/{fresh_emulator.subscription_id}/providers/Microsoft.Compute/proximityPlacementGroups", params=API
        )
        example_sub = _example("ProximityPlacementGroup_ListBySubscription")["responses"]["200"]["body"]
        assert missing_keys(example_sub["value"][0], by_sub.json()["value"][0]) == []

        patch = _example("ProximityPlacementGroup_Patch")
        patched = http.patch(f"{base}/proximityPlacementGroups/ppg", params=API, json=patch["parameters"]["parameters"])
        assert missing_keys(patch["responses"]["200"]["body"], patched.json()) == []
        assert patched.json()["tags"] == {"additionalProp1": "string"}

        http.delete(f"{base}/virtualMachines/vm", params=API)
        deleted = http.delete(f"{base}/proximityPlacementGroups/ppg", params=API)
        assert deleted.status_code == int(next(iter(_example("ProximityPlacementGroup_Delete")["responses"])))


def test_availability_set_shapes(fresh_emulator: EmulatorHandle, group: str) -> None:
    base = _base(fresh_emulator, group)
    create = _example("AvailabilitySet_Create")
    with fresh_emulator.http() as http:
        ppg = _put(http, f"{base}/proximityPlacementGroups/ppg", {"location": LOCATION}).json()
        created = _put(http, f"{base}/availabilitySets/as", create["parameters"]["parameters"] | {"location": LOCATION})
        assert missing_keys(create["responses"]["200"]["body"], created.json()) == []
        body = {"location": LOCATION, "tags": {"k": "v"}, "properties": {"proximityPlacementGroup": {"id": ppg["id"]}}}
        _put(http, f"{base}/availabilitySets/as2", body)
        _put(http, f"{base}/virtualMachines/vm", vm_body(avset_id=f"{base}/availabilitySets/as2"))
        got = http.get(f"{base}/availabilitySets/as2", params=API).json()
        assert missing_keys(_example("AvailabilitySet_Get_MaximumSet_Gen")["responses"]["200"]["body"], got) == []


def test_vm_create_shapes(fresh_emulator: EmulatorHandle, group: str) -> None:
    base = _base(fresh_emulator, group)
    with fresh_emulator.http() as http:
        avset = _put(http, f"{base}/availabilitySets/as", {"location": "westus"}).json()
        for name in ("VirtualMachine_Create_InAnAvailabilitySet", "VirtualMachine_Create_WithPremiumStorage"):
            example = _example(name)
            body = example["parameters"]["parameters"]
            if "availabilitySet" in body["properties"]:
                body["properties"]["availabilitySet"] = {"id": avset["id"]}
            created = http.put(f"{base}/virtualMachines/{name.lower()}", params=API, json=body)
            assert created.status_code == 201
            assert "Azure-AsyncOperation" in created.headers
            assert created.json()["properties"]["provisioningState"] == "Creating"
            assert missing_keys(example["responses"]["201"]["body"], created.json()) == [], name
            assert "adminPassword" not in created.json()["properties"]["osProfile"]


def test_vm_get_and_instance_view_shapes(fresh_emulator: EmulatorHandle, group: str) -> None:
    base = _base(fresh_emulator, group)
    example = _example("VirtualMachine_Get")["responses"]["200"]["body"]
    with fresh_emulator.http() as http:
        ppg = _put(http, f"{base}/proximityPlacementGroups/ppg", {"location": LOCATION}).json()
        avset = _put(
            http,
            f"{base}/availabilitySets/as",
            {"location": LOCATION, "properties": {"proximityPlacementGroup": {"id": ppg["id"]}}},
        ).json()
        body = vm_body(ppg_id=ppg["id"], avset_id=avset["id"], tags={"myTag1": "tagValue1"})
        props = body["properties"]
        props["osProfile"]["windowsConfiguration"] = {"provisionVMAgent": True, "enableAutomaticUpdates": False}
        props["storageProfile"]["imageReference"]["publisher"] = "MicrosoftWindowsServer"
        props["diagnosticsProfile"] = {"bootDiagnostics": {"enabled": True, "storageUri": "http://diag.blob.core.windows.net"}}
        for passthrough in ("applicationProfile", "userData", "extensionsTimeBudget"):
            props[passthrough] = example["properties"][passthrough]
        _put(http, f"{base}/virtualMachines/vm", body)

        got = http.get(f"{base}/virtualMachines/vm", params=API).json()
        assert missing_keys(example, got) == []
        assert got["etag"] == '"1"'
        assert got["properties"]["storageProfile"]["osDisk"]["osType"] == "Windows"

        view = http.get(f"{base}/virtualMachines/vm/instanceView", params=API).json()
        assert missing_keys(_example("VirtualMachine_Get_InstanceView")["responses"]["200"]["body"], view) == []
        expanded = http.get(f"{base}/virtualMachines/vm", params=API | {"$expand": "instanceView"}).json()
        assert [s["code"] for s in expanded["properties"]["instanceView"]["statuses"]] == [s["code"] for s in view["statuses"]]


def test_vm_power_actions_answer_202_with_location(fresh_emulator: EmulatorHandle, group: str) -> None:
    base = _base(fresh_emulator, group)
    with fresh_emulator.http() as http:
        _put(http, f"{base}/virtualMachines/vm", vm_body())
        for name in ("VirtualMachine_Deallocate_MinimumSet_Gen", "VirtualMachine_Start_MinimumSet_Gen"):
            action = "deallocate" if "Deallocate" in name else "start"
            answer = http.post(f"{base}/virtualMachines/vm/{action}", params=API)
            assert answer.status_code == 202
            assert set(_example(name)["responses"]["202"]["headers"]) <= {h.lower() for h in answer.headers}
            assert http.get(answer.headers["location"]).status_code == 200  # monitor URL: done
