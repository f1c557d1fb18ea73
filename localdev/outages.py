"""Health signals as Azure sends them, for the demo and end-to-end tests.

Azure Monitor posts common-alert-schema payloads to an action group's webhook; Resource Health
publishes ``AvailabilityStatusChanged`` events to Event Grid. These builders produce those shapes (the
same fields as the published samples in ``shared/fixtures``) for VMs of the local estate.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

SUB = "6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10"
ALERT_RULE = f"/subscriptions/{SUB}/resourceGroups/dr-ops/providers/Microsoft.Insights/metricAlerts/vm-availability"
SERVICE_HEALTH_RULE = f"/subscriptions/{SUB}/resourceGroups/dr-ops/providers/microsoft.insights/activityLogAlerts/service-health"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def availability_alert(vm_ids: list[str], *, fired: bool = True, minutes_ago: float = 10) -> dict[str, Any]:
    """A metric alert on ``VmAvailabilityMetric`` below 1 for the given VMs (Fired or Resolved)."""
    when = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    essentials: dict[str, Any] = {
        "alertId": f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/{uuid.uuid4()}",
        "alertRule": "vm-availability",
        "alertRuleId": ALERT_RULE,
        "severity": "Sev1",
        "signalType": "Metric",
        "monitorCondition": "Fired" if fired else "Resolved",
        "monitoringService": "Platform",
        "alertTargetIDs": [vm.lower() for vm in vm_ids],
        "configurationItems": [vm.rsplit("/", 1)[-1] for vm in vm_ids],
        "originAlertId": f"{SUB}_dr-ops_microsoft.insights_metricAlerts_vm-availability_{uuid.uuid4().int % 10**10}",
        "firedDateTime": _iso(when),
        "description": "VM availability dropped below 1",
        "essentialsVersion": "1.0",
        "alertContextVersion": "1.0",
    }
    if not fired:
        essentials["resolvedDateTime"] = _iso(datetime.now(UTC))
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": essentials,
            "alertContext": {
                "properties": {},
                "conditionType": "SingleResourceMultipleMetricCriteria",
                "condition": {
                    "windowSize": "PT5M",
                    "allOf": [
                        {
                            "metricName": "VmAvailabilityMetric",
                            "metricNamespace": "Microsoft.Compute/virtualMachines",
                            "operator": "LessThan",
                            "threshold": "1",
                            "timeAggregation": "Average",
                            "dimensions": [],
                            "metricValue": 0,
                            "webTestName": None,
                        }
                    ],
                    "windowStartTime": _iso(when - timedelta(minutes=5)),
                    "windowEndTime": _iso(when),
                },
            },
            "customProperties": None,
        },
    }


def health_event(vm_id: str, state: str = "Unavailable", *, minutes_ago: float = 10) -> dict[str, Any]:
    """A Resource Health ``AvailabilityStatusChanged`` event (Event Grid schema) for one VM."""
    when = _iso(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    event_id = str(uuid.uuid4())
    previous = "Available" if state != "Available" else "Unavailable"
    return {
        "id": event_id,
        "topic": f"/subscriptions/{SUB}",
        "subject": vm_id,
        "data": {
            "resourceInfo": {
                "id": f"{vm_id}/providers/Microsoft.ResourceHealth/availabilityStatuses/{event_id}",
                "name": event_id,
                "type": "Microsoft.ResourceHealth/availabilityStatuses",
                "properties": {
                    "targetResourceId": vm_id,
                    "targetResourceType": "Microsoft.Compute/virtualMachines",
                    "occurredTime": when,
                    "previousAvailabilityState": previous,
                    "availabilityState": state,
                    "title": "Virtual machine unavailable" if state != "Available" else "Virtual machine available",
                    "reasonType": "Unplanned",
                },
            },
            "operationalInfo": {"resourceEventTime": when},
            "apiVersion": "2023-12-01",
        },
        "eventType": "Microsoft.ResourceNotifications.HealthResources.AvailabilityStatusChanged",
        "dataVersion": "1",
        "metadataVersion": "1",
        "eventTime": when,
    }


def service_health_incident(
    region_display_name: str, *, resolved: bool = False, minutes_ago: float = 10, tracking_id: str = "XK2L-9TZ"
) -> dict[str, Any]:
    """A Service Health activity-log alert for an incident in one region (``West Europe``), or its resolution."""
    when = _iso(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/{uuid.uuid4()}",
                "alertRule": "service-health-compute",
                "alertRuleId": SERVICE_HEALTH_RULE,
                "severity": "Sev1",
                "signalType": "ActivityLog",
                # Activity log alerts are stateless: a resolution is another Fired alert with stage Resolved
                # (alerts-payload-samples.md, "Sample test action Service health alert").
                "monitorCondition": "Fired",
                "monitoringService": "ServiceHealth",
                "alertTargetIDs": [f"/subscriptions/{SUB}"],
                "originAlertId": str(uuid.uuid4()),
                "firedDateTime": when,
                "description": "Service Health incident",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {
                "channels": "Admin",
                "eventSource": "ServiceHealth",
                "eventTimestamp": when,
                "level": "Warning",
                "operationName": "Microsoft.ServiceHealth/incident/action",
                "properties": {
                    "title": "Virtual Machines - Connectivity issues",
                    "service": "Virtual Machines",
                    "region": region_display_name,
                    "incidentType": "Incident",
                    "trackingId": tracking_id,
                    "impactStartTime": when,
                    "impactedServices": [
                        {"ImpactedRegions": [{"RegionName": region_display_name}], "ServiceName": "Virtual Machines"}
                    ],
                    "stage": "Resolved" if resolved else "Active",
                },
                "status": "Resolved" if resolved else "Active",
            },
        },
    }
