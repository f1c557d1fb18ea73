"""Resource event classification against the published Event Grid samples and hostile variants."""

import copy
import json

import pytest

from shared.protection.resource_events import DELETE, WRITE, HintKind, classify_resource_event
from tests.data import data_path

FIXTURES = data_path("eventgrid")
SUB = "6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10"
VM = f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/sap-db-1"


def _sample(name: str) -> dict:
    data = json.loads((FIXTURES / name).read_text())
    return data[0] if isinstance(data, list) else data


def _as_vm_event(sample: dict, uri: str, operation: str) -> dict:
    event = copy.deepcopy(sample)
    event["subject"] = uri
    event["data"]["resourceUri"] = uri
    event["data"]["operationName"] = operation
    return event


def classify(event: dict):
    return classify_resource_event(event.get("id"), event.get("eventType"), event.get("subject"), event.get("data"))


def test_published_storage_write_sample_is_ignored_cheaply() -> None:
    hint = classify(_sample("subscription-ResourceWriteSuccess-EventGridSchema.json"))
    assert hint.kind == HintKind.IGNORED and hint.resource is None


def test_vm_write_names_the_vm() -> None:
    event = _as_vm_event(
        _sample("subscription-ResourceWriteSuccess-EventGridSchema.json"), VM, "Microsoft.Compute/virtualMachines/write"
    )
    hint = classify(event)
    assert hint.kind == HintKind.VM_CHANGED
    assert str(hint.resource).lower() == VM.lower()


def test_tag_write_on_a_vm_names_the_vm() -> None:
    event = _as_vm_event(
        _sample("subscription-ResourceWriteSuccess-EventGridSchema.json"),
        VM + "/providers/Microsoft.Resources/tags/default",
        "Microsoft.Resources/tags/write",
    )
    hint = classify(event)
    assert hint.kind == HintKind.VM_CHANGED and hint.resource is not None and hint.resource.name == "sap-db-1"


def test_tag_write_on_a_resource_group() -> None:
    rg = f"/subscriptions/{SUB}/resourceGroups/sap-prod"
    event = _as_vm_event(
        _sample("subscription-ResourceWriteSuccess-EventGridSchema.json"),
        rg + "/providers/Microsoft.Resources/tags/default",
        "Microsoft.Resources/tags/write",
    )
    hint = classify(event)
    assert hint.kind == HintKind.RESOURCE_GROUP_CHANGED and hint.resource is not None
    assert hint.resource.resource_group == "sap-prod"


def test_vm_delete_and_action() -> None:
    delete = _as_vm_event(
        _sample("subscription-ResourceDeleteSuccess-EventGridSchema.json"), VM, "Microsoft.Compute/virtualMachines/delete"
    )
    assert classify(delete).kind == HintKind.VM_DELETED
    action = _as_vm_event(
        _sample("subscription-ResourceActionSuccess-EventGridSchema.json"), VM, "Microsoft.Compute/virtualMachines/start/action"
    )
    assert classify(action).kind == HintKind.VM_CHANGED


def test_uppercase_subscriptions_segment_is_the_same_vm() -> None:
    event = _as_vm_event(
        _sample("subscription-ResourceWriteSuccess-EventGridSchema.json"),
        VM.replace("/subscriptions/", "/Subscriptions/"),
        "Microsoft.Compute/virtualMachines/write",
    )
    hint = classify(event)
    assert hint.kind == HintKind.VM_CHANGED


def test_vm_child_resources_are_ignored() -> None:
    event = _as_vm_event(
        _sample("subscription-ResourceWriteSuccess-EventGridSchema.json"),
        VM + "/extensions/AzureMonitorAgent",
        "Microsoft.Compute/virtualMachines/extensions/write",
    )
    assert classify(event).kind == HintKind.IGNORED


@pytest.mark.parametrize(
    "uri",
    [
        f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/../../x",
        f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/a?b=c",
        f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/a%2Fb",
        f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/a\nb",
        f"/subscriptions/{SUB}/resourceGroups//providers/Microsoft.Compute/virtualMachines/a",
        "/providers/Microsoft.Compute/virtualMachines/x" + "a" * 2000,
    ],
)
def test_hostile_resource_ids_are_rejected(uri: str) -> None:
    event = _as_vm_event(
        _sample("subscription-ResourceWriteSuccess-EventGridSchema.json"), uri, "Microsoft.Compute/virtualMachines/write"
    )
    hint = classify(event)
    assert hint.kind == HintKind.REJECTED and not hint.actionable


@pytest.mark.parametrize(
    ("event_id", "event_type", "subject", "data"),
    [
        (None, WRITE, VM, {}),
        ("id-1", "Microsoft.Storage.BlobCreated", VM, {}),
        ("id-1", WRITE, VM, "not an object"),
        ("id-1", WRITE, VM, {"resourceUri": 42}),
        ("id-1", 7, VM, {}),
        ("x" * 500, DELETE, VM, {}),
    ],
)
def test_malformed_events_are_rejected(event_id, event_type, subject, data) -> None:
    assert classify_resource_event(event_id, event_type, subject, data).kind == HintKind.REJECTED


def test_failed_operations_are_ignored() -> None:
    event = _as_vm_event(
        _sample("subscription-ResourceWriteSuccess-EventGridSchema.json"), VM, "Microsoft.Compute/virtualMachines/write"
    )
    event["data"]["status"] = "Failed"
    assert classify(event).kind == HintKind.IGNORED


def test_health_event_is_not_a_resource_event() -> None:
    hint = classify(_sample("health-AvailabilityStatusChanged-EventGridSchema.json"))
    assert hint.kind == HintKind.REJECTED
