"""The alert allow-list binds a rule to the alerts its type can send (issue 14)."""

from __future__ import annotations

from localdev import outages
from shared.health.alerts import allow_list_problem

VM = "/subscriptions/6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10/resourceGroups/sap-prod/providers/Microsoft.Compute/virtualMachines/a"
METRIC_RULE = outages.ALERT_RULE
HEALTH_RULE = outages.SERVICE_HEALTH_RULE


def test_an_empty_list_trusts_any_rule() -> None:
    assert allow_list_problem(outages.availability_alert([VM]), ()) is None


def test_a_listed_rule_is_trusted_for_the_alerts_its_type_sends() -> None:
    assert allow_list_problem(outages.availability_alert([VM]), (METRIC_RULE.upper(),)) is None
    assert allow_list_problem(outages.service_health_incident("West Europe"), (HEALTH_RULE,)) is None


def test_a_service_health_payload_carrying_a_metric_rules_id_is_refused() -> None:
    forged = outages.service_health_incident("West Europe")
    forged["data"]["essentials"]["alertRuleId"] = METRIC_RULE
    problem = allow_list_problem(forged, (METRIC_RULE, HEALTH_RULE))
    assert problem is not None and "does not send 'ServiceHealth' alerts" in problem


def test_an_activity_log_rule_bound_to_one_service_sends_only_that_one() -> None:
    resource_health = outages.service_health_incident("West Europe")
    resource_health["data"]["essentials"]["monitoringService"] = "Resource Health"
    bound = (f"servicehealth={HEALTH_RULE}",)
    assert allow_list_problem(outages.service_health_incident("West Europe"), bound) is None
    assert allow_list_problem(resource_health, bound) is not None
    assert allow_list_problem(resource_health, (HEALTH_RULE,)) is None  # unbound: both activity-log services


def test_unknown_rules_and_missing_rule_ids_are_refused() -> None:
    other = outages.availability_alert([VM])
    other["data"]["essentials"]["alertRuleId"] = METRIC_RULE.replace("vm-availability", "someone-elses")
    assert "not one ppg-dr is configured to trust" in (allow_list_problem(other, (METRIC_RULE,)) or "")
    del other["data"]["essentials"]["alertRuleId"]
    assert "names no alert rule" in (allow_list_problem(other, (METRIC_RULE,)) or "")
    assert allow_list_problem("junk", (METRIC_RULE,)) is not None


def test_a_service_health_alert_must_be_for_a_watched_subscription() -> None:
    incident = outages.service_health_incident("West Europe")
    watched = (outages.SUB,)
    assert allow_list_problem(incident, (HEALTH_RULE,), watched) is None
    assert allow_list_problem(incident, (HEALTH_RULE,), ("00000000-0000-0000-0000-000000000000",)) is not None
