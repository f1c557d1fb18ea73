"""Resource Health events (Event Grid HealthResources topic) against the published samples and hostile variants."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.health.health_events import AVAILABILITY_STATUS_CHANGED, RESOURCE_ANNOTATED, parse_health_event
from shared.health.signals import Rejection, Signal, SignalKind, SignalSource
from tests.data import data_path

FIXTURES = data_path("eventgrid")
SUB = "6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10"
VM = f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/sap-db-1"
EVENTGRID = "health-AvailabilityStatusChanged-EventGridSchema.json"
CLOUDEVENT = "health-AvailabilityStatusChanged-CloudEventSchema.json"
SAMPLE_ID = "1fb6fa94-d965-4306-abeq-4810f0774e97"  # sic: Azure's sample id is not a GUID


def _raw(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    return data[0] if isinstance(data, list) else data


def _filled(name: str) -> dict[str, Any]:
    """The published sample with its ``{placeholders}`` replaced by a real VM."""
    text = (FIXTURES / name).read_text()
    text = text.replace("{subscription-id}", SUB).replace("{rg-name}", "sap-prod").replace("{vm-name}", "sap-db-1")
    text = text.replace("{event-id}", "ev-1")
    data = json.loads(text)
    return data[0] if isinstance(data, list) else data


def parse(event: dict[str, Any]) -> Signal | Rejection | None:
    """Call the parser the way each schema's trigger would."""
    event_type = event.get("eventType", event.get("type"))
    return parse_health_event(event.get("id"), event_type, event.get("subject"), event.get("data"))


def props(event: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = event["data"]["resourceInfo"]["properties"]
    return properties


@pytest.mark.parametrize("name", [EVENTGRID, CLOUDEVENT])
def test_published_samples_with_placeholders_are_rejected(name: str) -> None:
    # "{subscription-id}" is not a resource id; the parser must not guess.
    result = parse(_raw(name))
    assert isinstance(result, Rejection) and "is not a resource id" in result.reason


@pytest.mark.parametrize("name", [EVENTGRID, CLOUDEVENT])
def test_published_samples_filled_in_give_an_available_signal(name: str) -> None:
    result = parse(_filled(name))
    assert isinstance(result, Signal)
    assert result.kind == SignalKind.VM_AVAILABLE
    assert result.source == SignalSource.RESOURCE_HEALTH_EVENT
    assert result.resource_id == VM.lower() and result.region is None
    assert result.observed_at == datetime(2023, 7, 24, 19, 20, 37, 924507, tzinfo=UTC)
    assert result.signal_id == f"event:{SAMPLE_ID}:available"
    assert result.detail == "Resource Health event Unavailable -> Available"


def test_both_schemas_give_the_same_signal() -> None:
    assert parse(_filled(EVENTGRID)) == parse(_filled(CLOUDEVENT))


@pytest.mark.parametrize(
    "name", ["health-ResourceAnnotated-EventGridSchema.json", "health-ResourceAnnotated-CloudEventSchema.json"]
)
def test_resource_annotated_is_ignored(name: str) -> None:
    assert parse(_raw(name)) is None


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("Unavailable", SignalKind.VM_UNAVAILABLE),
        ("Degraded", SignalKind.VM_UNAVAILABLE),
        ("Available", SignalKind.VM_AVAILABLE),
        ("unavailable", SignalKind.VM_UNAVAILABLE),
        ("Unknown", None),
    ],
)
def test_availability_states(state: str, expected: SignalKind | None) -> None:
    event = _filled(EVENTGRID)
    props(event)["availabilityState"] = state
    result = parse(event)
    if expected is None:
        assert result is None
    else:
        assert isinstance(result, Signal) and result.kind == expected
        assert result.signal_id.endswith(":" + state.lower())


@pytest.mark.parametrize(
    ("key", "value"),
    [("reasonType", "UserInitiated"), ("healthEventCause", "UserInitiated"), ("context", "Customer Initiated")],
)
def test_user_initiated_unavailability_is_ignored(key: str, value: str) -> None:
    event = _filled(EVENTGRID)
    props(event).update({"availabilityState": "Unavailable", key: value})
    assert parse(event) is None
    props(event)[key] = "PlatformInitiated" if key != "context" else "Platform Initiated"
    result = parse(event)
    assert isinstance(result, Signal) and result.kind == SignalKind.VM_UNAVAILABLE


def test_scale_set_targets_are_ignored() -> None:
    event = _filled(EVENTGRID)
    vmss = f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachineScaleSets/ss"
    props(event).update(targetResourceId=vmss, targetResourceType="Microsoft.Compute/virtualMachineScaleSets")
    event["subject"] = vmss
    assert parse(event) is None
    # Without a type, the id decides.
    del props(event)["targetResourceType"]
    assert parse(event) is None
    # A scale set instance is not a standalone VM.
    instance = vmss + "/virtualMachines/0"
    props(event).update(targetResourceId=instance)
    event["subject"] = instance
    assert parse(event) is None


def test_type_that_lies_about_the_target_is_rejected() -> None:
    event = _filled(EVENTGRID)
    storage = f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Storage/storageAccounts/sa"
    props(event)["targetResourceId"] = storage
    event["subject"] = storage
    result = parse(event)
    assert isinstance(result, Rejection) and "as its type claims" in result.reason


def test_subject_must_match_the_target() -> None:
    event = _filled(EVENTGRID)
    event["subject"] = VM.replace("sap-db-1", "sap-db-2")
    result = parse(event)
    assert isinstance(result, Rejection) and "does not match" in result.reason
    event["subject"] = VM.upper().replace("/SUBSCRIPTIONS/", "/Subscriptions/")
    assert isinstance(parse(event), Signal)
    event["subject"] = None
    assert isinstance(parse(event), Signal)
    event["subject"] = 7
    assert isinstance(parse(event), Rejection)


def test_event_time_falls_back_to_operational_info() -> None:
    event = _filled(EVENTGRID)
    del props(event)["occurredTime"]
    event["data"]["operationalInfo"]["resourceEventTime"] = "2023-07-24T19:25:00Z"
    result = parse(event)
    assert isinstance(result, Signal) and result.observed_at == datetime(2023, 7, 24, 19, 25, tzinfo=UTC)
    del event["data"]["operationalInfo"]
    result = parse(event)
    assert isinstance(result, Rejection) and "occurredTime" in result.reason


def _mutations() -> list[tuple[str, Any]]:
    def set_props(**values: Any) -> Any:
        return lambda e: props(e).update(values)

    return [
        ("id missing", lambda e: e.pop("id")),
        ("id empty", lambda e: e.update(id="   ")),
        ("id not a string", lambda e: e.update(id=123)),
        ("id too long", lambda e: e.update(id="a" * 201)),
        ("wrong type", lambda e: e.update(eventType="Microsoft.Resources.ResourceWriteSuccess")),
        ("type missing", lambda e: e.pop("eventType")),
        ("type not a string", lambda e: e.update(eventType=["x"])),
        ("data not an object", lambda e: e.update(data="{}")),
        ("data missing", lambda e: e.pop("data")),
        ("resourceInfo missing", lambda e: e["data"].pop("resourceInfo")),
        ("properties not an object", lambda e: e["data"]["resourceInfo"].update(properties=[])),
        ("target missing", lambda e: props(e).pop("targetResourceId")),
        ("target not a string", lambda e: props(e).update(targetResourceId={"id": VM})),
        ("target type not a string", set_props(targetResourceType=5)),
        ("target traversal", set_props(targetResourceId=VM + "/../../other")),
        ("target encoded slash", set_props(targetResourceId=VM + "%2F..")),
        ("target newline", set_props(targetResourceId=VM + "\nFAKE")),
        ("target huge", set_props(targetResourceId="/subscriptions/" + "a" * 100_000)),
        ("state missing", lambda e: props(e).pop("availabilityState")),
        ("state bogus", set_props(availabilityState="Sideways")),
        ("state not a string", set_props(availabilityState=1)),
        ("time bogus", set_props(occurredTime="not a time")),
        ("time number", set_props(occurredTime=1690226437)),
        ("time impossible", set_props(occurredTime="2023-02-30T00:00:00Z")),
    ]


@pytest.mark.parametrize(("label", "mutate"), _mutations(), ids=[m[0] for m in _mutations()])
def test_malformed_events_are_rejected(label: str, mutate: Any) -> None:
    event = _filled(EVENTGRID)
    mutate(event)
    result = parse(event)
    assert isinstance(result, Rejection), label
    assert result.status_code == 400
    assert "\n" not in result.reason and len(result.reason) < 400
    assert all(" " <= c <= "~" for c in result.reason)


@pytest.mark.parametrize("data", [None, [], "x" * 1_000_000, 0, {"resourceInfo": None}, {"resourceInfo": {"properties": None}}])
def test_hostile_data_is_rejected(data: object) -> None:
    result = parse_health_event("id-1", AVAILABILITY_STATUS_CHANGED, VM, data)
    assert isinstance(result, Rejection)


def test_annotation_is_ignored_whatever_its_body() -> None:
    assert parse_health_event("id-1", RESOURCE_ANNOTATED, None, "junk") is None


_JUNK: list[Any] = [None, True, 0, -1, 1e308, "", "Unavailable", "Available", "Unknown", VM, "\x00\n", "x" * 5000, [], {}]


def test_fuzz_never_raises() -> None:
    rng = random.Random(424242)
    seeds = [_filled(EVENTGRID), _filled(CLOUDEVENT), _raw(EVENTGRID)]
    outcomes = {"signal": 0, "none": 0, "rejected": 0}
    for _ in range(3000):
        event = copy.deepcopy(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            target = rng.choice([event, event["data"], props(event) if isinstance(event.get("data"), dict) else event])
            if not isinstance(target, dict) or not target:
                continue
            key = rng.choice(sorted(target))
            if rng.random() < 0.3:
                del target[key]
            else:
                target[key] = copy.deepcopy(rng.choice(_JUNK))
            if not isinstance(event.get("data"), dict) or not isinstance(event["data"].get("resourceInfo"), dict):
                break
            if not isinstance(event["data"]["resourceInfo"].get("properties"), dict):
                break
        result = parse(event)
        if isinstance(result, Rejection):
            outcomes["rejected"] += 1
            assert "\n" not in result.reason and len(result.reason) < 600
        elif result is None:
            outcomes["none"] += 1
        else:
            outcomes["signal"] += 1
            assert result.resource_id == VM.lower()
    assert all(count > 20 for count in outcomes.values()), outcomes
