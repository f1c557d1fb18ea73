"""Azure Monitor alert webhooks (common alert schema) -> health signals.

The alert webhook is reachable from the internet and feeds the decision that fails regions over, so
parsing is strict and narrow: only the three alert types that say something about a VM or its region
are accepted, every field is type-checked, and anything else is refused with a reason that is safe to
log and to send back. Parsing never raises, whatever arrives.

Accepted (action groups must use the common alert schema, ``useCommonAlertSchema: true``):

- **Metric alerts** on the VM availability metric (``VmAvailabilityMetric``, monitoringService
  ``Platform``, signalType ``Metric``): one signal per target VM.
- **Resource Health** activity log alerts on VMs: ``currentHealthStatus`` Unavailable/Degraded ->
  VM_UNAVAILABLE, Available -> VM_AVAILABLE. Unavailability a user caused (stop, deallocate, restart)
  produces no signal: it is not an outage.
- **Service Health** activity log alerts of ``incidentType`` Incident: one REGION_INCIDENT per impacted
  region, REGION_RESOLVED once the incident is resolved.

``monitorCondition`` ``Fired`` produces the kinds above; ``Resolved`` produces only the clearing kinds
(VM_AVAILABLE, REGION_RESOLVED). Who may send alerts is the HTTP layer's business: it checks the alert
against the alert rules ppg-dr deployed with :func:`allow_list_refusal` (rule, the alerts its type sends,
the subscriptions the alert is about).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.arm.ids import VIRTUAL_MACHINES, parse_resource_id, parse_typed_id
from shared.arm.keys import normalize_arm_id
from shared.health.signals import (
    NON_REGIONAL,
    Rejection,
    Signal,
    SignalKind,
    SignalSource,
    clean_text,
    is_user_initiated,
    normalize_region,
    parse_timestamp,
    show,
)

COMMON_ALERT_SCHEMA = "azureMonitorCommonAlertSchema"
FIRED = "Fired"
RESOLVED = "Resolved"
VM_AVAILABILITY_METRIC = "VmAvailabilityMetric"

# Bounds on untrusted input: a real alert has one target (multi-resource metric alerts send one
# alert per resource) and a handful of impacted services; these leave ample room and stop abuse.
MAX_TARGETS = 50
MAX_CRITERIA = 20
MAX_IMPACTED_SERVICES = 200
MAX_REGIONS = 200
MAX_ID_CHARS = 1024
MAX_IMPACTED_SERVICES_JSON = 256 * 1024

# An availability rule fires when the metric drops (1 = available, 0 = unavailable). A rule that fires
# when it rises says nothing about an outage.
_FALLING_OPERATORS = frozenset({"lessthan", "lessthanorequal", "greaterorlessthan"})
_UNAVAILABLE_STATES = frozenset({"unavailable", "degraded"})
_RESOLVED_STAGES = frozenset({"resolved", "rca"})


def _compact(value: str) -> str:
    """``"Resource Health"`` and ``"ResourceHealth"`` are the same service name."""
    return "".join(value.split()).lower()


_METRIC_SERVICE = "platform"
_RESOURCE_HEALTH_SERVICE = "resourcehealth"
_SERVICE_HEALTH_SERVICE = "servicehealth"


def essentials_rule_id(payload: object) -> str | None:
    """The firing rule's id (``data.essentials.alertRuleId``), normalised, or None.

    The HTTP layer compares it with the alert rules ppg-dr deployed, so a payload forged with
    someone else's (or no) rule is refused before it can count as evidence.
    """
    essentials = _essentials(payload)
    if essentials is None:
        return None
    rule_id = essentials.get("alertRuleId")
    if not isinstance(rule_id, str) or parse_resource_id(rule_id) is None:
        return None
    return normalize_arm_id(rule_id)


# Which alerts a rule of each type can send: a metric alert rule sends metric alerts, an activity log alert
# rule Resource Health or Service Health alerts (common alert schema, monitoringService).
_SERVICES_OF_RULE_TYPE = {
    "microsoft.insights/metricalerts": frozenset({_METRIC_SERVICE}),
    "microsoft.insights/activitylogalerts": frozenset({_RESOURCE_HEALTH_SERVICE, _SERVICE_HEALTH_SERVICE}),
}
_SERVICE_NAMES = {"metric": _METRIC_SERVICE, "resourcehealth": _RESOURCE_HEALTH_SERVICE, "servicehealth": _SERVICE_HEALTH_SERVICE}


def allow_list_problem(payload: object, allowed: tuple[str, ...], subscriptions: tuple[str, ...] = ()) -> str | None:
    """Why ``PPGDR_ALERT_RULE_IDS`` does not let this alert in (None: it does). Pure.

    :func:`allow_list_refusal` without the code.
    """
    refusal = allow_list_refusal(payload, allowed, subscriptions)
    return None if refusal is None else refusal[1]


def allow_list_refusal(payload: object, allowed: tuple[str, ...], subscriptions: tuple[str, ...] = ()) -> tuple[str, str] | None:
    """``(code, reason)`` when ``PPGDR_ALERT_RULE_IDS`` does not let this alert in, None when it does. Pure.

    An entry is a rule id, or ``<service>=<rule id>`` (``metric``, ``resourcehealth``, ``servicehealth``) binding
    an activity log alert rule to the one kind of alert it was made for. A rule is trusted only for the alerts
    its type can send: a Service Health payload carrying a metric rule's id is refused (``AlertRuleMismatch``).
    Where the alert names its targets (``alertTargetIDs``: a subscription for Service Health, VMs otherwise),
    each must be in a subscription ppg-dr watches (``subscriptions``, when known; ``UnwatchedSubscription``);
    a Service Health alert must name one. An unknown rule, or none, is ``UnknownAlertRule``.
    """
    if not allowed:
        return None
    rule = essentials_rule_id(payload)
    essentials = _essentials(payload) or {}
    service = essentials.get("monitoringService")
    compact = _compact(service) if isinstance(service, str) else ""
    if rule is None:
        return "UnknownAlertRule", "the alert names no alert rule (essentials.alertRuleId)"
    bound: set[str] = set()
    for entry in allowed:
        name, _, rule_id = entry.partition("=") if "=" in entry else ("", "", entry)
        if normalize_arm_id(rule_id) != rule:
            continue
        rule_type = "/".join(rule.split("/providers/", 1)[-1].split("/")[:2])
        services = _SERVICES_OF_RULE_TYPE.get(rule_type, frozenset())
        if name:
            services = services & {_SERVICE_NAMES.get(name.strip().lower(), "")}
        bound |= services
    if not bound:
        return "UnknownAlertRule", f"alert rule {show(rule, 200)} is not one ppg-dr is configured to trust"
    if compact not in bound:
        return "AlertRuleMismatch", f"alert rule {show(rule, 200)} does not send {show(service)} alerts"
    if subscriptions:
        watched = {sub.lower() for sub in subscriptions}
        targets = essentials.get("alertTargetIDs")
        named = [t for t in targets if isinstance(t, str)] if isinstance(targets, list) else []
        if compact == _SERVICE_HEALTH_SERVICE and not named:
            return "UnwatchedSubscription", "the Service Health alert names no subscription (essentials.alertTargetIDs)"
        outside = [t for t in named if _subscription_of(t) not in watched]
        if outside:
            return "UnwatchedSubscription", f"the alert is about {show(outside[0], 200)}, in a subscription ppg-dr does not watch"
    return None


def _subscription_of(arm_id: str) -> str:
    """The subscription id an ARM id starts with (lowercase), or '' when it does not start with one."""
    parts = arm_id.strip().strip("/").split("/")
    return parts[1].lower() if len(parts) >= 2 and parts[0].lower() == "subscriptions" else ""


def parse_alert(payload: object) -> list[Signal] | Rejection:
    """Turn one webhook payload into signals, or say why it is refused. Never raises.

    An accepted alert may yield no signal (a Resource Health alert for a user-initiated stop, a
    Service Health incident that impacts no single region): it was understood and deliberately not
    counted.
    """
    if not isinstance(payload, dict):
        return Rejection(f"alert payload is not a JSON object (got {type(payload).__name__})")
    schema = payload.get("schemaId")
    if schema != COMMON_ALERT_SCHEMA:
        return Rejection(f"unknown schemaId {show(schema)}: configure the action group with useCommonAlertSchema=true")
    data = payload.get("data")
    if not isinstance(data, dict):
        return Rejection("alert has no data object")
    essentials = data.get("essentials")
    if not isinstance(essentials, dict):
        return Rejection("alert has no data.essentials object")

    service = essentials.get("monitoringService")
    signal_type = essentials.get("signalType")
    if not isinstance(service, str) or not isinstance(signal_type, str):
        return Rejection(
            f"unsupported alert: monitoringService {show(service)}, signalType {show(signal_type)} (expected strings)"
        )
    compact_service = _compact(service)
    if compact_service == _METRIC_SERVICE and _compact(signal_type) == "metric":
        parser = _metric_alert
    elif compact_service == _RESOURCE_HEALTH_SERVICE:
        parser = _resource_health_alert
    elif compact_service == _SERVICE_HEALTH_SERVICE:
        parser = _service_health_alert
    else:
        return Rejection(
            f"unsupported alert: monitoringService {show(service)}, signalType {show(signal_type)}; "
            "ppg-dr accepts VM availability metric alerts, Resource Health and Service Health alerts"
        )

    condition = essentials.get("monitorCondition")
    if not isinstance(condition, str) or condition not in (FIRED, RESOLVED):
        return Rejection(f"monitorCondition {show(condition)} is neither {FIRED!r} nor {RESOLVED!r}")
    alert_id = essentials.get("alertId")
    if not isinstance(alert_id, str) or not alert_id.strip() or len(alert_id) > MAX_ID_CHARS:
        return Rejection("alert has no usable essentials.alertId")
    time_field = "firedDateTime" if condition == FIRED else "resolvedDateTime"
    observed_at = parse_timestamp(essentials.get(time_field))
    if observed_at is None:
        return Rejection(f"essentials.{time_field} {show(essentials.get(time_field))} is not an ISO 8601 timestamp")
    context = data.get("alertContext")
    if not isinstance(context, dict):
        return Rejection("alert has no data.alertContext object")
    return parser(_Alert(essentials, context, alert_id.strip(), condition, observed_at))


class _Alert:
    """The checked parts every alert type needs."""

    __slots__ = ("alert_id", "condition", "context", "essentials", "observed_at")

    def __init__(
        self, essentials: dict[str, Any], context: dict[str, Any], alert_id: str, condition: str, observed_at: datetime
    ) -> None:
        self.essentials = essentials
        self.context = context
        self.alert_id = alert_id
        self.condition = condition
        self.observed_at = observed_at

    @property
    def origin(self) -> str:
        """What a Resolved of this alert clears: the alert (Azure Monitor keeps the alert id from Fired to Resolved)."""
        return f"alert:{self.alert_id}"

    def signal_id(self, subject: str) -> str:
        # One alert can name several targets or regions; each is its own piece of evidence.
        return f"alert:{self.alert_id}:{self.condition.lower()}:{subject}"


def _essentials(payload: object) -> dict[str, Any] | None:
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    essentials = data.get("essentials")
    return essentials if isinstance(essentials, dict) else None


def _vm_targets(essentials: Mapping[str, Any]) -> list[str] | Rejection:
    """Every alertTargetID, each a well-formed VM id (normalised); or why not."""
    targets = essentials.get("alertTargetIDs")
    if not isinstance(targets, list) or not targets:
        return Rejection("alert has no essentials.alertTargetIDs list")
    if len(targets) > MAX_TARGETS:
        return Rejection(f"alert names {len(targets)} targets, more than the {MAX_TARGETS} accepted")
    vms: list[str] = []
    for target in targets:
        parsed = parse_typed_id(target, VIRTUAL_MACHINES)
        if parsed is None or len(parsed.names) != 1:
            return Rejection(f"alert target {show(target)} is not a virtual machine id")
        vm = parsed.normalized
        if vm not in vms:
            vms.append(vm)
    return vms


def _metric_alert(alert: _Alert) -> list[Signal] | Rejection:
    condition = alert.context.get("condition")
    criteria = condition.get("allOf") if isinstance(condition, dict) else None
    if not isinstance(criteria, list) or not criteria:
        return Rejection("metric alert has no alertContext.condition.allOf criteria")
    if len(criteria) > MAX_CRITERIA:
        return Rejection(f"metric alert has {len(criteria)} criteria, more than the {MAX_CRITERIA} accepted")
    for criterion in criteria:
        if not isinstance(criterion, dict):
            return Rejection("metric alert criterion is not an object")
        metric = criterion.get("metricName")
        if not isinstance(metric, str) or metric.lower() != VM_AVAILABILITY_METRIC.lower():
            return Rejection(
                f"unsupported alert: metric alert on {show(metric)}; only {VM_AVAILABILITY_METRIC} "
                "(VM availability) alerts count as health signals"
            )
        namespace = criterion.get("metricNamespace")
        if namespace is not None and (not isinstance(namespace, str) or namespace.lower() != VIRTUAL_MACHINES.lower()):
            return Rejection(f"unsupported alert: {VM_AVAILABILITY_METRIC} from namespace {show(namespace)}")
        operator = criterion.get("operator")
        if not isinstance(operator, str) or operator.lower() not in _FALLING_OPERATORS:
            return Rejection(
                f"unsupported alert: {VM_AVAILABILITY_METRIC} rule with operator {show(operator)} does not fire on "
                "unavailability (use LessThan)"
            )
    vms = _vm_targets(alert.essentials)
    if isinstance(vms, Rejection):
        return vms
    kind = SignalKind.VM_UNAVAILABLE if alert.condition == FIRED else SignalKind.VM_AVAILABLE
    rule = clean_text(alert.essentials.get("alertRule"), 80)
    detail = f"{VM_AVAILABILITY_METRIC} alert {rule or '(unnamed rule)'} {alert.condition.lower()}"
    return [
        Signal(kind, SignalSource.METRIC_ALERT, vm, None, alert.observed_at, alert.signal_id(vm), detail, alert.origin)
        for vm in vms
    ]


def _resource_health_alert(alert: _Alert) -> list[Signal] | Rejection:
    properties = alert.context.get("properties")
    if not isinstance(properties, dict):
        return Rejection("Resource Health alert has no alertContext.properties object")
    current = properties.get("currentHealthStatus")
    if not isinstance(current, str) or not current.strip():
        return Rejection(f"Resource Health alert has no usable currentHealthStatus ({show(current)})")
    state = current.strip().lower()
    if state not in _UNAVAILABLE_STATES | {"available", "unknown"}:
        return Rejection(f"Resource Health status {show(current)} is not Available, Degraded, Unavailable or Unknown")
    vms = _vm_targets(alert.essentials)
    if isinstance(vms, Rejection):
        return vms

    if alert.condition == RESOLVED or state == "available":
        kind = SignalKind.VM_AVAILABLE
    elif state == "unknown":
        # Unknown means Resource Health has not heard from the host recently: not evidence either way.
        return []
    elif is_user_initiated(properties):
        return []
    else:
        kind = SignalKind.VM_UNAVAILABLE
    title = clean_text(properties.get("title"), 80)
    previous = clean_text(properties.get("previousHealthStatus"), 20) or "?"
    detail = f"Resource Health {previous} -> {clean_text(current, 20)}" + (f": {title}" if title else "")
    return [
        Signal(kind, SignalSource.RESOURCE_HEALTH_ALERT, vm, None, alert.observed_at, alert.signal_id(vm), detail, alert.origin)
        for vm in vms
    ]


def _service_health_alert(alert: _Alert) -> list[Signal] | Rejection:
    properties = alert.context.get("properties")
    if not isinstance(properties, dict):
        return Rejection("Service Health alert has no alertContext.properties object")
    incident_type = properties.get("incidentType")
    if not isinstance(incident_type, str) or incident_type.strip().lower() != "incident":
        return Rejection(
            f"unsupported alert: Service Health {show(incident_type)} notification; only incidents count as health signals"
        )
    regions = _impacted_regions(properties.get("impactedServices"))
    if isinstance(regions, Rejection):
        return regions

    stage = properties.get("stage")
    status = alert.context.get("status")
    resolved = (
        alert.condition == RESOLVED
        or (isinstance(stage, str) and stage.strip().lower() in _RESOLVED_STAGES)
        or (isinstance(status, str) and status.strip().lower() == "resolved")
    )
    kind = SignalKind.REGION_RESOLVED if resolved else SignalKind.REGION_INCIDENT
    tracking = clean_text(properties.get("trackingId"), 40)
    title = clean_text(properties.get("title"), 80)
    services = clean_text(properties.get("service"), 60)
    detail = f"Service Health incident {tracking or '(no tracking id)'}" + (f" ({services})" if services else "")
    detail += f": {title}" if title else ""
    # An incident is one tracking id whichever rule reports it: its resolution clears it, in any order.
    origin = f"incident:{tracking}" if tracking else alert.origin
    return [
        Signal(kind, SignalSource.SERVICE_HEALTH_ALERT, None, region, alert.observed_at, alert.signal_id(region), detail, origin)
        for region in regions
    ]


def _impacted_regions(value: object) -> list[str] | Rejection:
    """Regions from ``impactedServices[*].ImpactedRegions[*].RegionName`` (an array, or that array as JSON text).

    Display names become ARM names; names that are no single region (``Global``) or no region at all
    are skipped: failing over to another region cannot escape them.
    """
    if isinstance(value, str):
        if len(value) > MAX_IMPACTED_SERVICES_JSON:
            return Rejection("Service Health impactedServices text is too large")
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return Rejection("Service Health impactedServices is neither an array nor JSON text of one")
    if not isinstance(value, list):
        return Rejection(f"Service Health impactedServices is not an array ({show(value)})")
    if len(value) > MAX_IMPACTED_SERVICES:
        return Rejection(f"Service Health alert names {len(value)} impacted services, more than {MAX_IMPACTED_SERVICES}")
    regions: set[str] = set()
    for service in value:
        impacted = service.get("ImpactedRegions") if isinstance(service, dict) else None
        if not isinstance(impacted, list) or len(impacted) > MAX_REGIONS:
            return Rejection("Service Health impactedServices entry has no ImpactedRegions array")
        for entry in impacted:
            name = entry.get("RegionName") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                return Rejection(f"Service Health impacted region has no RegionName string ({show(name)})")
            region = normalize_region(name)
            if region is not None and region not in NON_REGIONAL:
                regions.add(region)
    return sorted(regions)
