"""End to end: an allow-listed alert rule is trusted only for the alerts its type sends, and only for watched
subscriptions (issue 14, "The allow-list checks only the rule id"). Through the registered ``http_api`` function.

A refused alert is answered 403 with a code saying why, logged, and leaves no trace: no table write, no ARM write,
no decision.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from localdev import estate as est
from localdev import outages
from shared.failover.guard import pending_decisions
from shared.state.group_records import get_group
from tests.e2e.test_failover_lifecycle import SAP, protect_sap
from tests.fixtures.app import Ppgdr
from tests.fuzz.watch import arm_writes, table_writes

E = est.DEMO_ESTATE
OTHER_SUB = "00000000-0000-0000-0000-0000000000ee"
RULES = (outages.ALERT_RULE.lower(), f"servicehealth={outages.SERVICE_HEALTH_RULE.lower()}")


@pytest.fixture
def guarded(seeded: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> Ppgdr:
    """The SAP group protected, and PPGDR_ALERT_RULE_IDS naming the metric rule and the Service Health rule."""
    protect_sap(seeded)
    monkeypatch.setattr(seeded.ctx, "settings", dataclasses.replace(seeded.ctx.settings, alert_rule_ids=RULES))
    return seeded


def refused_without_a_trace(app: Ppgdr, payload: object, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    app.emulator.clear_requests()
    with table_writes(app.ctx.store, monkeypatch) as writes:
        code, body = app.http("POST", "/api/alerts", body=payload)
    assert code == 403, body
    assert writes == []
    assert arm_writes(app) == []
    assert pending_decisions(app.ctx) == []
    assert get_group(app.ctx.store, "sap-ppg").last_decision is None
    return dict(body["error"])


def test_a_service_health_payload_carrying_the_metric_rules_id_is_refused(
    guarded: Ppgdr, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    forged = outages.service_health_incident("West Europe")
    forged["data"]["essentials"]["alertRuleId"] = outages.ALERT_RULE
    with caplog.at_level(logging.WARNING, logger="shared.operator.http_api"):
        error = refused_without_a_trace(guarded, forged, monkeypatch)
    assert error["code"] == "AlertRuleMismatch"
    assert "does not send 'ServiceHealth' alerts" in error["message"]
    assert any("refused alert (AlertRuleMismatch)" in r.getMessage() for r in caplog.records)


def test_a_rule_bound_to_service_health_cannot_send_resource_health(guarded: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    forged = outages.service_health_incident("West Europe")
    forged["data"]["essentials"]["monitoringService"] = "Resource Health"
    assert refused_without_a_trace(guarded, forged, monkeypatch)["code"] == "AlertRuleMismatch"


def test_alerts_about_an_unwatched_subscription_are_refused(guarded: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    incident = outages.service_health_incident("West Europe")
    incident["data"]["essentials"]["alertTargetIDs"] = [f"/subscriptions/{OTHER_SUB}"]
    assert refused_without_a_trace(guarded, incident, monkeypatch)["code"] == "UnwatchedSubscription"
    elsewhere = [E.vm(n).id.replace(est.SUBSCRIPTION, OTHER_SUB) for n in sorted(SAP)]
    assert refused_without_a_trace(guarded, outages.availability_alert(elsewhere), monkeypatch)["code"] == "UnwatchedSubscription"


def test_unknown_rules_are_refused_and_the_genuine_alert_still_counts(guarded: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    app = guarded
    spoofed = outages.availability_alert([E.vm(n).id for n in SAP])
    spoofed["data"]["essentials"]["alertRuleId"] = outages.ALERT_RULE.replace("vm-availability", "someone-elses")
    assert refused_without_a_trace(app, spoofed, monkeypatch)["code"] == "UnknownAlertRule"
    app.corroborate([E.vm(n).id for n in SAP])
    code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP]))
    assert code == 202 and body["decisions"][0]["kind"] == "pending-approval"
    code, body = app.http("POST", "/api/alerts", body=outages.service_health_incident("West Europe"))
    assert code == 202
