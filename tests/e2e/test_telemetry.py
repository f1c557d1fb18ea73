"""Traces and log dimensions of the registered functions, recorded with in-memory OpenTelemetry exporters.

What Application Insights would receive in Azure, checked locally: one span per Event Grid event, per timer run
and per HTTP call, with the group, the VM and the ASR jobs as attributes, and log records carrying their fields
(the custom dimensions operators query with Kusto, docs/operations.md "Observability").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from localdev import estate as est
from shared.platform import telemetry
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE


@dataclass
class Recorded:
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def log_rows(self) -> list[tuple[str, dict[str, Any]]]:
        return [(str(r.log_record.body), dict(r.log_record.attributes or {})) for r in self.logs.get_finished_logs()]


@pytest.fixture
def recorded(caplog: pytest.LogCaptureFixture) -> Iterator[Recorded]:
    """Telemetry on, into memory: a tracer provider and the OpenTelemetry log handler on the root logger."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    caplog.set_level(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    telemetry.install(provider, handler)
    try:
        yield Recorded(spans, logs)
    finally:
        root.removeHandler(handler)
        telemetry.reset()


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_events_timers_and_http_calls_each_get_a_span_with_group_vm_and_jobs(seeded: Ppgdr, recorded: Recorded) -> None:
    app = seeded
    recorded.spans.clear()
    app.driver.tag(E.vm("sap-db-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: app.driver.states().get("sap-db-1") == "protected", label="protect")

    events = recorded.named("ppgdr resource_events")
    assert events and all(s.kind == SpanKind.CONSUMER for s in events)
    assert all(attrs(s)["function"] == "resource_events" and attrs(s)["event_id"] for s in events)
    tag_event = [s for s in events if attrs(s).get("vm") == "sap-db-1" and attrs(s).get("hint") == "vm-changed"]
    assert tag_event, [attrs(s) for s in events]
    assert attrs(tag_event[0])["group"] == "sap-ppg" and attrs(tag_event[0])["resource_id"] == E.vm("sap-db-1").id

    pulses = recorded.named("ppgdr pulse")
    assert pulses and all(s.kind == SpanKind.SERVER and attrs(s)["step"] == "pulse" for s in pulses)
    assert any(attrs(s).get("vm") == "sap-db-1" for s in pulses)  # the pulse that followed its enable job to the end

    started = {job for s in (*events, *pulses) for job in str(attrs(s).get("job", "")).split(",") if job}
    assert started, "no span names an ASR job"
    jobs = app.ctx.clients.site_recovery(est.SUBSCRIPTION).replication_jobs.list(est.VAULT_RG, est.VAULT_NAME)
    assert started <= {j.name for j in jobs}  # the attributes are the vault's real job ids

    app.runner.fire_timer("reconcile")
    (reconcile,) = recorded.named("ppgdr reconcile")
    assert reconcile.kind == SpanKind.SERVER and attrs(reconcile)["vms_seen"] >= 6 and attrs(reconcile)["errors"] == 0
    (preflight,) = recorded.named("ppgdr preflight")  # the first reconcile of the context runs it, inside its span
    assert preflight.parent is not None and preflight.parent.span_id == reconcile.context.span_id
    assert attrs(preflight)["failed"] == 0 and attrs(preflight)["checks"] >= 10

    code, _ = app.http("GET", "/api/groups/sap-ppg")
    assert code == 200
    (detail,) = recorded.named("ppgdr GET /api/groups/{group}")
    assert detail.kind == SpanKind.SERVER
    assert {k: attrs(detail).get(k) for k in ("function", "group", "http.route", "http.response.status_code")} == {
        "function": "http_api",
        "group": "sap-ppg",
        "http.route": "/api/groups/{group}",
        "http.response.status_code": 200,
    }
    code, _ = app.http("POST", "/api/groups/sap-ppg/failover", params={"dry_run": "true"}, key=None)
    assert code == 401
    (refused,) = recorded.named("ppgdr POST /api/groups/{group}/{action}")
    assert attrs(refused)["http.response.status_code"] == 401 and attrs(refused)["action"] == "failover"


def test_log_records_carry_their_fields_as_dimensions(seeded: Ppgdr, recorded: Recorded) -> None:
    app = seeded
    app.driver.tag(E.vm("sap-db-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: app.driver.states().get("sap-db-1") == "protected", label="protect")
    rows = recorded.log_rows()

    handled = [a for body, a in rows if body.startswith("resource event ") and a.get("vm")]
    assert handled, "the handled tag event's log line lacks its dimensions"
    assert all(a["step"] == "event" and a["event_id"] and a["function"] == "resource_events" for a in handled)

    # Lines written deep inside an invocation (vault preparation, by the event or later by the pulse) name neither
    # the event nor the function: they inherit them from the span, and keep their own step.
    preparing = [a for body, a in rows if body.startswith("vault preparation: started")]
    assert preparing and {a["step"] for a in preparing} == {"prepare-vault"}
    assert {a["function"] for a in preparing} <= {"resource_events", "pulse"}
    from_event = [a for a in preparing if a["function"] == "resource_events"]
    assert from_event and all(a["event_id"] and a["vm"] == "sap-db-1" for a in from_event)

    pulse_lines = [(body, a) for body, a in rows if body.startswith("pulse: ")]
    assert pulse_lines and all(a["function"] == "pulse" for _, a in pulse_lines)
    enabled = [a for body, a in pulse_lines if body.startswith("pulse: enable-protection succeeded")]
    assert enabled and all(a["vm"] == E.vm("sap-db-1").id and a["step"] == "enable-protection" for a in enabled)
    assert all("vm" not in a for body, a in pulse_lines if body.startswith("pulse: prepare-vault"))  # "" is dropped

    audit = [a for body, a in rows if body.startswith("audit ")]
    app.runner.fire_timer("reconcile")  # creates the group's recovery plan if the pulse did not: logged with the group
    plan_lines = [a for body, a in recorded.log_rows() if "recovery plan" in body and a.get("group") == "sap-ppg"]
    assert plan_lines or audit, "no log line carried the group"
    assert all(v is not None for _, a in recorded.log_rows() for v in a.values())  # None fields never reach the exporter
