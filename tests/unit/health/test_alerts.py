"""Alert webhook parsing against every published common-schema sample, variants that must count, and junk."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.health.alerts import essentials_rule_id, parse_alert
from shared.health.signals import Rejection, Signal, SignalKind, SignalSource
from tests.data import data_path

FIXTURES = data_path("alerts")
SUB = "6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10"
VM = f"/subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/sap-db-1"
VM2 = f"/Subscriptions/{SUB}/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/sap-app-1"
TEST_RG = "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourcegroups/test-rg"
TEST_VM = TEST_RG + "/providers/microsoft.compute/virtualmachines/test-vm"

# Files that hold only the alertContext block: the essentials to wrap them in (monitoringService, signalType).
WRAP: dict[str, tuple[str, str]] = {
    "activitylog-administrative-alertcontext.json": ("Activity Log - Administrative", "Activity Log"),
    "activitylog-autoscale-alertcontext.json": ("Activity Log - Autoscale", "Activity Log"),
    "activitylog-policy-alertcontext.json": ("Activity Log - Policy", "Activity Log"),
    "activitylog-resourcehealth-alertcontext.json": ("Resource Health", "Activity Log"),
    "activitylog-security-alertcontext.json": ("Activity Log - Security", "Activity Log"),
    "activitylog-servicehealth-alertcontext.json": ("ServiceHealth", "Activity Log"),
    "common-schema-doc-activitylog-administrative-alertcontext.json": ("Activity Log - Administrative", "Activity Log"),
    "common-schema-doc-activitylog-servicehealth-alertcontext.json": ("ServiceHealth", "Activity Log"),
    "common-schema-doc-log-search-appinsights-alertcontext.json": ("Application Insights", "Log"),
    "common-schema-doc-log-search-log-alerts-v2-alertcontext.json": ("Log Alerts V2", "Log"),
    "common-schema-doc-log-search-loganalytics-alertcontext.json": ("Log Analytics", "Log"),
    "common-schema-doc-log-search-simple-log-alert-alertcontext.json": ("Simple Log Alert", "Log"),
    "common-schema-doc-metric-static-threshold-alertcontext.json": ("Platform", "Metric"),
    "log-search-appinsights-alertcontext.json": ("Application Insights", "Log"),
    "log-search-log-alerts-v2-alertcontext.json": ("Log Alerts V2", "Log"),
    "log-search-platform-alertcontext.json": ("Platform", "Log"),
    "metric-availability-test-alertcontext.json": ("Platform", "Metric"),
    "metric-dynamic-threshold-alertcontext.json": ("Platform", "Metric"),
    "metric-static-threshold-alertcontext.json": ("Platform", "Metric"),
    "prometheus-alertcontext.json": ("Prometheus", "Metric"),
}

UNSUPPORTED = "unsupported alert"
# Expected classification of every fixture: a Rejection whose reason contains the text, or the signals
# as (kind, resource id or region). A new fixture without an entry fails test_every_fixture_is_classified.
EXPECTED: dict[str, str | list[tuple[SignalKind, str]]] = {
    "activitylog-administrative-alertcontext.json": UNSUPPORTED,
    "activitylog-autoscale-alertcontext.json": UNSUPPORTED,
    "activitylog-policy-alertcontext.json": UNSUPPORTED,
    # A user stopping and deallocating a VM is not an outage: understood, not counted.
    "activitylog-resourcehealth-alertcontext.json": [],
    "activitylog-security-alertcontext.json": UNSUPPORTED,
    "activitylog-servicehealth-alertcontext.json": "unsupported alert: Service Health 'Maintenance'",
    "common-schema-doc-actiongroup-createorupdate-request-body.json": "unknown schemaId",
    "common-schema-doc-activitylog-administrative-alertcontext.json": UNSUPPORTED,
    "common-schema-doc-activitylog-servicehealth-alertcontext.json": "unsupported alert: Service Health 'Maintenance'",
    "common-schema-doc-full-metric-alert-resolved-with-customProperties.json": "metric alert on 'Percentage CPU'",
    "common-schema-doc-log-search-appinsights-alertcontext.json": UNSUPPORTED,
    "common-schema-doc-log-search-log-alerts-v2-alertcontext.json": UNSUPPORTED,
    "common-schema-doc-log-search-loganalytics-alertcontext.json": UNSUPPORTED,
    "common-schema-doc-log-search-simple-log-alert-alertcontext.json": UNSUPPORTED,
    "common-schema-doc-metric-static-threshold-alertcontext.json": "metric alert on 'Percentage CPU'",
    "common-schema-full-metric-alert-resolved.json": "metric alert on 'Percentage CPU'",
    "log-search-appinsights-alertcontext.json": UNSUPPORTED,
    "log-search-log-alerts-v2-alertcontext.json": UNSUPPORTED,
    "log-search-platform-alertcontext.json": UNSUPPORTED,
    "metric-availability-test-alertcontext.json": "metric alert on 'Failed Location'",
    "metric-dynamic-threshold-alertcontext.json": "metric alert on 'Egress'",
    "metric-static-threshold-alertcontext.json": "metric alert on 'Percentage CPU'",
    "prometheus-alertcontext.json": UNSUPPORTED,
    "testaction-activity-log-alert.json": UNSUPPORTED,
    "testaction-availability-test-alert.json": "metric alert on 'FailedLocation'",
    "testaction-budget-alert.json": UNSUPPORTED,
    "testaction-cost-budget-alert.json": UNSUPPORTED,
    "testaction-forecasted-budget-alert.json": UNSUPPORTED,
    "testaction-log-alert-v1-metric-measurement.json": UNSUPPORTED,
    "testaction-log-alert-v1-number-of-results.json": UNSUPPORTED,
    "testaction-log-alert-v2.json": UNSUPPORTED,
    "testaction-metric-alert-dynamic-threshold.json": UNSUPPORTED,
    "testaction-metric-alert-static-threshold.json": "metric alert on 'Transactions'",
    # The portal's test action: "Rebooted by user" (user-initiated) -> understood, not counted.
    "testaction-resource-health-alert.json": [],
    # The portal's test action: a resolved incident for "Global", which no failover can escape.
    "testaction-service-health-alert.json": [],
    "testaction-smart-alert.json": UNSUPPORTED,
}


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def envelope(
    context: dict[str, Any],
    service: str,
    signal_type: str,
    targets: list[Any] | None = None,
    condition: str = "Fired",
    alert_id: str = "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/0001",
) -> dict[str, Any]:
    """A complete common-schema envelope around an alertContext block."""
    essentials: dict[str, Any] = {
        "alertId": alert_id,
        "alertRule": "ppgdr-test-rule",
        "alertRuleId": f"/subscriptions/{SUB}/resourceGroups/ppgdr/providers/microsoft.insights/metricAlerts/ppgdr-test-rule",
        "severity": "Sev1",
        "signalType": signal_type,
        "monitorCondition": condition,
        "monitoringService": service,
        "alertTargetIDs": [VM] if targets is None else targets,
        "firedDateTime": "2025-04-15T18:17:12.851Z",
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if condition == "Resolved":
        essentials["resolvedDateTime"] = "2025-04-15T18:27:12.851Z"
    return {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": essentials, "alertContext": context}}


def fixture_payload(name: str) -> Any:
    raw = _load(name)
    if name in WRAP:
        service, signal_type = WRAP[name]
        return envelope(raw["alertContext"], service, signal_type)
    return raw


def summary(result: list[Signal] | Rejection) -> str | list[tuple[SignalKind, str]]:
    if isinstance(result, Rejection):
        return result.reason
    return [(s.kind, s.resource_id or s.region or "") for s in result]


def availability_metric(condition: str = "Fired", targets: list[Any] | None = None) -> dict[str, Any]:
    """The published static-threshold test action, turned into a VM availability alert."""
    payload = copy.deepcopy(_load("testaction-metric-alert-static-threshold.json"))
    essentials = payload["data"]["essentials"]
    essentials["alertTargetIDs"] = [VM] if targets is None else targets
    essentials["monitorCondition"] = condition
    if condition == "Resolved":
        essentials["resolvedDateTime"] = "2025-04-15T18:25:00Z"
    criterion = payload["data"]["alertContext"]["condition"]["allOf"][0]
    criterion.update(
        metricName="VmAvailabilityMetric", metricNamespace="Microsoft.Compute/virtualMachines", operator="LessThan", threshold="1"
    )
    return payload


def platform_health(condition: str = "Fired", status: str = "Unavailable") -> dict[str, Any]:
    """The published Resource Health test action, with a platform (not user) cause."""
    payload = copy.deepcopy(_load("testaction-resource-health-alert.json"))
    payload["data"]["essentials"]["monitorCondition"] = condition
    if condition == "Resolved":
        payload["data"]["essentials"]["resolvedDateTime"] = "2025-04-15T19:00:00Z"
    properties = payload["data"]["alertContext"]["properties"]
    properties.update(cause="PlatformInitiated", currentHealthStatus=status, title="Host node failure")
    return payload


def service_incident(regions: list[str], stage: str = "Active", as_text: bool = False) -> dict[str, Any]:
    """The published Service Health test action, as an active incident in the given regions."""
    payload = copy.deepcopy(_load("testaction-service-health-alert.json"))
    context = payload["data"]["alertContext"]
    context["status"] = "Active"
    impacted = [{"ImpactedRegions": [{"RegionName": r} for r in regions], "ServiceName": "Virtual Machines"}]
    context["properties"].update(stage=stage, impactedServices=json.dumps(impacted) if as_text else impacted)
    return payload


# --------------------------------------------------------------------------------------------------
# Published samples


FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.json"))


def test_fixture_directory_is_not_empty() -> None:
    assert len(FIXTURE_NAMES) >= 30


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_is_classified(name: str) -> None:
    assert name in EXPECTED, f"new fixture {name}: add its expected classification to EXPECTED (and WRAP if alertContext-only)"
    expected = EXPECTED[name]
    result = parse_alert(fixture_payload(name))
    if isinstance(expected, str):
        assert isinstance(result, Rejection), summary(result)
        assert expected in result.reason
        assert result.status_code == 400
    else:
        assert not isinstance(result, Rejection), result.reason
        assert summary(result) == expected


def test_alertcontext_only_fixtures_are_rejected_unwrapped() -> None:
    for name in WRAP:
        result = parse_alert(_load(name))
        assert isinstance(result, Rejection) and "schemaId" in result.reason


# --------------------------------------------------------------------------------------------------
# What counts


def test_vm_availability_metric_fired_and_resolved() -> None:
    fired = parse_alert(availability_metric("Fired"))
    assert isinstance(fired, list) and len(fired) == 1
    signal = fired[0]
    assert signal.kind == SignalKind.VM_UNAVAILABLE
    assert signal.source == SignalSource.METRIC_ALERT
    assert signal.resource_id == VM.lower() and signal.region is None
    assert signal.observed_at == datetime(2025, 4, 15, 18, 17, 12, 851000, tzinfo=UTC)
    assert "fired" in signal.signal_id and "VmAvailabilityMetric" in signal.detail

    resolved = parse_alert(availability_metric("Resolved"))
    assert isinstance(resolved, list) and [s.kind for s in resolved] == [SignalKind.VM_AVAILABLE]
    assert resolved[0].observed_at == datetime(2025, 4, 15, 18, 25, tzinfo=UTC)
    assert resolved[0].signal_id != signal.signal_id


def test_metric_alert_one_signal_per_vm_target_deduplicated() -> None:
    result = parse_alert(availability_metric(targets=[VM, VM2, VM.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")]))
    assert isinstance(result, list)
    assert [s.resource_id for s in result] == [VM.lower(), VM2.lower()]
    assert len({s.signal_id for s in result}) == 2


def test_metric_alert_with_placeholder_target_is_rejected() -> None:
    payload = copy.deepcopy(_load("common-schema-full-metric-alert-resolved.json"))
    criterion = payload["data"]["alertContext"]["condition"]["allOf"][0]
    criterion.update(metricName="VmAvailabilityMetric", operator="LessThan")
    result = parse_alert(payload)
    assert isinstance(result, Rejection) and "is not a virtual machine id" in result.reason


@pytest.mark.parametrize(
    "target",
    [
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa",
        f"/subscriptions/{SUB}/resourceGroups/rg",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/../../x",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%2F..",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm?api-version=1",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm\nFAKE LOG LINE",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/x",
        "https://evil.example/x",
        "",
        None,
        42,
        ["nested"],
        "/" * 5000,
    ],
)
def test_metric_alert_target_must_be_a_vm_id(target: object) -> None:
    result = parse_alert(availability_metric(targets=[VM, target]))
    assert isinstance(result, Rejection)
    assert "\n" not in result.reason and len(result.reason) < 400


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"metricName": "Percentage CPU"}, "metric alert on 'Percentage CPU'"),
        ({"metricNamespace": "Microsoft.Storage/storageAccounts"}, "from namespace"),
        ({"operator": "GreaterThan"}, "does not fire on unavailability"),
        ({"operator": None}, "does not fire on unavailability"),
    ],
)
def test_metric_alert_must_be_an_availability_drop(change: dict[str, Any], reason: str) -> None:
    payload = availability_metric()
    payload["data"]["alertContext"]["condition"]["allOf"][0].update(change)
    result = parse_alert(payload)
    assert isinstance(result, Rejection) and reason in result.reason


def test_metric_alert_with_any_other_criterion_is_rejected() -> None:
    payload = availability_metric()
    criteria = payload["data"]["alertContext"]["condition"]["allOf"]
    criteria.append({**criteria[0], "metricName": "Percentage CPU"})
    assert isinstance(parse_alert(payload), Rejection)


@pytest.mark.parametrize(
    ("condition", "status", "kind"),
    [
        ("Fired", "Unavailable", SignalKind.VM_UNAVAILABLE),
        ("Fired", "Degraded", SignalKind.VM_UNAVAILABLE),
        ("Fired", "Available", SignalKind.VM_AVAILABLE),
        ("Resolved", "Unavailable", SignalKind.VM_AVAILABLE),
        ("Resolved", "Available", SignalKind.VM_AVAILABLE),
    ],
)
def test_resource_health_alert(condition: str, status: str, kind: SignalKind) -> None:
    result = parse_alert(platform_health(condition, status))
    assert isinstance(result, list) and len(result) == 1
    assert result[0].kind == kind
    assert result[0].source == SignalSource.RESOURCE_HEALTH_ALERT
    assert result[0].resource_id == TEST_VM
    assert "Host node failure" in result[0].detail


def test_resource_health_unknown_and_user_initiated_give_no_signal() -> None:
    assert parse_alert(platform_health(status="Unknown")) == []
    user = platform_health()
    user["data"]["alertContext"]["properties"]["cause"] = "UserInitiated"
    assert parse_alert(user) == []
    # A user restarting the VM afterwards still reports it available again.
    user["data"]["alertContext"]["properties"]["currentHealthStatus"] = "Available"
    result = parse_alert(user)
    assert isinstance(result, list) and [s.kind for s in result] == [SignalKind.VM_AVAILABLE]


def test_resource_health_service_name_without_space_is_accepted() -> None:
    payload = platform_health()
    payload["data"]["essentials"]["monitoringService"] = "ResourceHealth"
    assert isinstance(parse_alert(payload), list)


@pytest.mark.parametrize("status", ["Sideways", "", None, 3, {"x": 1}])
def test_resource_health_unknown_status_is_rejected(status: object) -> None:
    payload = platform_health()
    payload["data"]["alertContext"]["properties"]["currentHealthStatus"] = status
    assert isinstance(parse_alert(payload), Rejection)


def test_resource_health_on_a_storage_account_is_rejected() -> None:
    payload = platform_health()
    payload["data"]["essentials"]["alertTargetIDs"] = [
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa"
    ]
    result = parse_alert(payload)
    assert isinstance(result, Rejection) and "not a virtual machine id" in result.reason


@pytest.mark.parametrize("as_text", [False, True])
def test_service_health_incident_per_region(as_text: bool) -> None:
    result = parse_alert(service_incident(["West Europe", "North Europe", "Global", "West Europe"], as_text=as_text))
    assert isinstance(result, list)
    assert summary(result) == [
        (SignalKind.REGION_INCIDENT, "northeurope"),
        (SignalKind.REGION_INCIDENT, "westeurope"),
    ]
    assert all(s.resource_id is None and s.source == SignalSource.SERVICE_HEALTH_ALERT for s in result)
    assert "TEST-TTT" in result[0].detail


@pytest.mark.parametrize(
    ("stage", "condition"),
    [("Resolved", "Fired"), ("RCA", "Fired"), ("Active", "Resolved")],
)
def test_service_health_resolution(stage: str, condition: str) -> None:
    payload = service_incident(["West Europe"], stage=stage)
    payload["data"]["essentials"]["monitorCondition"] = condition
    if condition == "Resolved":
        payload["data"]["essentials"]["resolvedDateTime"] = "2025-04-15T20:00:00Z"
    assert summary(parse_alert(payload)) == [(SignalKind.REGION_RESOLVED, "westeurope")]


def test_service_health_maintenance_from_the_alertcontext_sample_with_incident_type_counts() -> None:
    context = _load("activitylog-servicehealth-alertcontext.json")["alertContext"]
    context["properties"]["incidentType"] = "Incident"
    context["properties"]["stage"] = "Active"
    result = parse_alert(envelope(context, "ServiceHealth", "Activity Log", targets=[f"/subscriptions/{SUB}"]))
    assert summary(result) == [(SignalKind.REGION_INCIDENT, "eastus")]


@pytest.mark.parametrize(
    "impacted",
    [
        "not json",
        "{",
        "[" * 50_000,
        '{"ImpactedRegions": []}',
        [{"ImpactedRegions": "West Europe"}],
        [{"ImpactedRegions": [{"RegionName": 5}]}],
        [{"ImpactedRegions": [None]}],
        ["West Europe"],
        None,
        42,
        "x" * 300_000,
    ],
)
def test_service_health_malformed_impacted_services_is_rejected(impacted: object) -> None:
    payload = service_incident(["West Europe"])
    payload["data"]["alertContext"]["properties"]["impactedServices"] = impacted
    result = parse_alert(payload)
    assert isinstance(result, Rejection), summary(result)
    assert "\n" not in result.reason and len(result.reason) < 400


def test_service_health_odd_region_names_are_skipped_not_trusted() -> None:
    payload = service_incident(["West Europe", "../../etc", "x" * 500, "Non-Regional", "east us 2"])
    assert summary(parse_alert(payload)) == [
        (SignalKind.REGION_INCIDENT, "eastus2"),
        (SignalKind.REGION_INCIDENT, "westeurope"),
    ]


# --------------------------------------------------------------------------------------------------
# Envelope checks


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda p: p.update(schemaId="Microsoft.Insights/activityLogs"), "unknown schemaId"),
        (lambda p: p.pop("schemaId"), "unknown schemaId"),
        (lambda p: p.update(data=[]), "no data object"),
        (lambda p: p["data"].pop("essentials"), "no data.essentials"),
        (lambda p: p["data"].update(essentials="x"), "no data.essentials"),
        (lambda p: p["data"].pop("alertContext"), "no data.alertContext"),
        (lambda p: p["data"]["essentials"].update(monitorCondition="Maybe"), "monitorCondition"),
        (lambda p: p["data"]["essentials"].update(monitorCondition=None), "monitorCondition"),
        (lambda p: p["data"]["essentials"].update(alertId=""), "alertId"),
        (lambda p: p["data"]["essentials"].update(alertId=7), "alertId"),
        (lambda p: p["data"]["essentials"].update(alertId="a" * 5000), "alertId"),
        (lambda p: p["data"]["essentials"].update(firedDateTime="yesterday"), "firedDateTime"),
        (lambda p: p["data"]["essentials"].update(firedDateTime="2025-13-45T99:00:00Z"), "firedDateTime"),
        (lambda p: p["data"]["essentials"].update(firedDateTime=1713204000), "firedDateTime"),
        (lambda p: p["data"]["essentials"].pop("firedDateTime"), "firedDateTime"),
        (lambda p: p["data"]["essentials"].update(firedDateTime="2025-04-15T18:17:12Z" + " " * 100), "firedDateTime"),
        (lambda p: p["data"]["essentials"].update(alertTargetIDs=[]), "alertTargetIDs"),
        (lambda p: p["data"]["essentials"].update(alertTargetIDs=VM), "alertTargetIDs"),
        (lambda p: p["data"]["essentials"].update(alertTargetIDs=[VM] * 51), "more than the 50"),
        (lambda p: p["data"]["essentials"].update(monitoringService=None), UNSUPPORTED),
        (lambda p: p["data"]["essentials"].update(signalType="Log"), UNSUPPORTED),
        (lambda p: p["data"]["alertContext"].update(condition=None), "allOf"),
        (lambda p: p["data"]["alertContext"]["condition"].update(allOf=[]), "allOf"),
        (lambda p: p["data"]["alertContext"]["condition"].update(allOf=["x"]), "criterion"),
        (lambda p: p["data"]["alertContext"]["condition"].update(allOf=[{}] * 21), "criteria"),
    ],
)
def test_envelope_problems_are_rejected(mutate: Any, reason: str) -> None:
    payload = availability_metric()
    mutate(payload)
    result = parse_alert(payload)
    assert isinstance(result, Rejection), summary(result)
    assert reason in result.reason
    assert "\n" not in result.reason and len(result.reason) < 400


def test_resolved_alert_needs_resolved_time() -> None:
    payload = availability_metric("Resolved")
    del payload["data"]["essentials"]["resolvedDateTime"]
    result = parse_alert(payload)
    assert isinstance(result, Rejection) and "resolvedDateTime" in result.reason


def test_timestamp_offsets_are_converted_to_utc() -> None:
    payload = availability_metric()
    payload["data"]["essentials"]["firedDateTime"] = "2025-04-15T20:17:12.3713213+02:00"
    result = parse_alert(payload)
    assert isinstance(result, list)
    assert result[0].observed_at == datetime(2025, 4, 15, 18, 17, 12, 371321, tzinfo=UTC)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "",
        "x" * 1_000_000,
        0,
        1.5,
        True,
        b"bytes",
        {},
        {"schemaId": None},
        {"schemaId": ["azureMonitorCommonAlertSchema"]},
        {"schemaId": "azureMonitorCommonAlertSchema"},
        {"schemaId": "azureMonitorCommonAlertSchema", "data": None},
        {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {}}},
        {"schemaId": "azureMonitorCommonAlertSchema\n2025 FAKE LOG", "data": {}},
        {"schemaId": "x" * 100_000},
    ],
)
def test_hostile_payloads_are_rejected_with_log_safe_reasons(payload: object) -> None:
    result = parse_alert(payload)
    assert isinstance(result, Rejection)
    assert result.status_code == 400
    assert "\n" not in result.reason and len(result.reason) < 400
    assert all(" " <= c <= "~" for c in result.reason)


# --------------------------------------------------------------------------------------------------
# Rule id for the allow-list


def test_essentials_rule_id() -> None:
    assert (
        essentials_rule_id(_load("common-schema-doc-full-metric-alert-resolved-with-customProperties.json")) is None
    )  # "<subscription ID>" placeholder: not an id
    payload = availability_metric()
    payload["data"]["essentials"]["alertRuleId"] = (
        f"/subscriptions/{SUB}/resourceGroups/PPGDR/providers/microsoft.insights/metricAlerts/VM-Availability"
    )
    assert essentials_rule_id(payload) == (
        f"/subscriptions/{SUB}/resourcegroups/ppgdr/providers/microsoft.insights/metricalerts/vm-availability"
    )
    assert essentials_rule_id(_load("testaction-resource-health-alert.json")) is None  # no alertRuleId at all
    for junk in (None, [], {"data": []}, {"data": {"essentials": []}}, {"data": {"essentials": {"alertRuleId": 5}}}):
        assert essentials_rule_id(junk) is None
    payload["data"]["essentials"]["alertRuleId"] = "/subscriptions/x/../../y"
    assert essentials_rule_id(payload) is None


# --------------------------------------------------------------------------------------------------
# Fuzz


_JUNK: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**64,
    1e308,
    float("nan"),
    "",
    "Fired",
    "Resolved",
    "Unavailable",
    "Incident",
    "Platform",
    "ServiceHealth",
    "Resource Health",
    "VmAvailabilityMetric",
    "LessThan",
    "2025-04-15T18:17:12Z",
    "\x00\n\r\u202e",
    "x" * 10_000,
    VM,
    "/subscriptions/../x",
    [],
    {},
    [None],
    {"": None},
    '[{"ImpactedRegions":[{"RegionName":"West Europe"}]}]',
]


def _junk(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.random()
    if depth < 4 and choice < 0.15:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 4 and choice < 0.3:
        return {rng.choice(["a", "RegionName", "ImpactedRegions", "allOf", "properties"]): _junk(rng, depth + 1)}
    return copy.deepcopy(rng.choice(_JUNK))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _mutate(payload: Any, rng: random.Random) -> Any:
    mutated = copy.deepcopy(payload)
    for _ in range(rng.randint(1, 4)):
        paths = _paths(mutated)
        if not paths:
            return _junk(rng)
        path = rng.choice(paths)
        parent = mutated
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[path[-1]]
        else:
            parent[path[-1]] = _junk(rng)
    return mutated


def test_fuzz_never_raises() -> None:
    rng = random.Random(20250415)
    seeds: list[Any] = [fixture_payload(name) for name in FIXTURE_NAMES]
    seeds += [availability_metric(), availability_metric("Resolved"), platform_health(), service_incident(["West Europe"])]
    seeds += [service_incident(["North Europe"], as_text=True)]
    outcomes = {"signals": 0, "rejected": 0}
    for _ in range(4000):
        payload = _mutate(rng.choice(seeds), rng) if rng.random() < 0.9 else _junk(rng)
        result = parse_alert(payload)
        essentials_rule_id(payload)
        if isinstance(result, Rejection):
            outcomes["rejected"] += 1
            assert "\n" not in result.reason and len(result.reason) < 600
        else:
            outcomes["signals"] += 1
            for signal in result:
                assert isinstance(signal, Signal)
                assert signal.observed_at.tzinfo is not None
                assert (signal.resource_id is None) != (signal.region is None)
    # The fuzz reached both outcomes, so it exercised the accepting paths too.
    assert outcomes["signals"] > 50 and outcomes["rejected"] > 500
