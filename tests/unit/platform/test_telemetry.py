"""Telemetry wiring without Azure: who configures it, the no-op path, span attributes and log dimensions."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared.platform import telemetry
from shared.platform.telemetry import MAX_VALUES, annotate, joined, mode, route_of, span


@pytest.fixture
def recorded() -> Iterator[tuple[InMemorySpanExporter, InMemoryLogRecordExporter, logging.Logger]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    handler = LoggingHandler(logger_provider=logger_provider)
    logger = logging.getLogger("tests.telemetry")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    telemetry.install(provider, handler)
    try:
        yield spans, logs, logger
    finally:
        logger.removeHandler(handler)
        telemetry.reset()


def one(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = [s for s in spans.get_finished_spans() if s.name == name]
    assert len(found) == 1, [s.name for s in spans.get_finished_spans()]
    return found[0]


def test_who_configures_telemetry_follows_the_app_settings() -> None:
    assert mode({}) == "off"
    assert mode({"APPLICATIONINSIGHTS_CONNECTION_STRING": "  "}) == "off"
    assert mode({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}) == "app"
    worker = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x",
        "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true",
    }
    assert mode(worker) == "worker"


def test_without_a_connection_string_span_is_a_shared_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    telemetry.reset()
    try:
        first = span("ppgdr x", vm="a")
        assert first is span("ppgdr y") and not telemetry.enabled()
        with first as handle:
            handle.set(group="g")
            handle.fail("nothing records this")
            annotate(job="j")  # outside a recording span: ignored
    finally:
        telemetry.reset()


def test_importing_the_app_does_not_import_opentelemetry() -> None:
    code = "import sys, function_app; print(any(m.startswith(('opentelemetry', 'azure.monitor')) for m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "False"


def test_invocation_span_carries_its_fields_and_accumulates_groups_vms_and_jobs(recorded) -> None:  # type: ignore[no-untyped-def]
    spans, _, _ = recorded
    with span("ppgdr resource_events", kind="consumer", function="resource_events", event_id="ev-1", vm=None) as handle:
        annotate(job="job-1")
        annotate(job="job-2", group="sap-ppg")
        annotate(job="job-1")  # a repeat is not a second value
        handle.set(vm="sap-db-1", outcome="enable: enabling")
    done = one(spans, "ppgdr resource_events")
    assert done.kind == SpanKind.CONSUMER
    assert done.attributes is not None
    assert dict(done.attributes) == {
        "function": "resource_events",
        "event_id": "ev-1",
        "job": "job-1,job-2",
        "group": "sap-ppg",
        "vm": "sap-db-1",
        "outcome": "enable: enabling",
    }


def test_many_values_are_cut_with_their_count() -> None:
    assert joined(["a", "b"], 2) == "a,b"
    assert joined(["a", "b"], 5) == "a,b,+3 more"


def test_a_busy_reconcile_keeps_the_first_values_and_counts_the_rest(recorded) -> None:  # type: ignore[no-untyped-def]
    spans, _, _ = recorded
    with span("ppgdr reconcile", kind="server"):
        for number in range(MAX_VALUES + 5):
            annotate(vm=f"vm-{number}")
    attributes = one(spans, "ppgdr reconcile").attributes
    assert attributes is not None
    assert str(attributes["vm"]).endswith(",+5 more") and str(attributes["vm"]).startswith("vm-0,vm-1,")


def test_an_exception_marks_the_span_failed_and_propagates(recorded) -> None:  # type: ignore[no-untyped-def]
    spans, _, _ = recorded
    with pytest.raises(RuntimeError), span("ppgdr pulse", kind="server"):
        raise RuntimeError("ARM said no")
    failed = one(spans, "ppgdr pulse")
    assert failed.status.status_code == StatusCode.ERROR
    assert [e.name for e in failed.events] == ["exception"]
    with span("ppgdr reconcile", kind="server") as handle:
        handle.fail("2 errors: ...")
    assert one(spans, "ppgdr reconcile").status.status_code == StatusCode.ERROR


def test_log_records_carry_their_fields_and_inherit_the_spans_single_values(recorded) -> None:  # type: ignore[no-untyped-def]
    _, logs, logger = recorded
    with span("ppgdr resource_events", kind="consumer", function="resource_events", event_id="ev-9") as handle:
        handle.set(vm="sap-db-1", group="sap-ppg")
        logger.info("inherits", extra={"step": "enable"})
        logger.info("own vm wins", extra={"vm": "other-vm", "job": None})
        annotate(group="trade-ppg")  # two groups now: a log line inherits neither
        logger.info("after a second group")
        with span("ppgdr preflight"):
            logger.info("inner span")
    logger.info("outside any span", extra={"group": "g"})
    by_body = {str(r.log_record.body): dict(r.log_record.attributes or {}) for r in logs.get_finished_logs()}
    assert {k: by_body["inherits"].get(k) for k in ("event_id", "function", "vm", "group", "step")} == {
        "event_id": "ev-9",
        "function": "resource_events",
        "vm": "sap-db-1",
        "group": "sap-ppg",
        "step": "enable",
    }
    assert by_body["own vm wins"]["vm"] == "other-vm" and "job" not in by_body["own vm wins"]
    assert "group" not in by_body["after a second group"] and by_body["after a second group"]["vm"] == "sap-db-1"
    assert by_body["inner span"]["event_id"] == "ev-9" and by_body["inner span"]["function"] == "resource_events"
    assert by_body["outside any span"]["group"] == "g" and "event_id" not in by_body["outside any span"]


def test_route_templates_come_from_the_path_parameters() -> None:
    assert route_of("/api/groups/sap-ppg/audit", {"group": "sap-ppg"}) == "/api/groups/{group}/audit"
    assert route_of("/api/groups/g/failover", {"group": "g", "action": "failover"}) == "/api/groups/{group}/{action}"
    assert route_of("/api/status", {}) == "/api/status"


def test_a_broken_distro_configuration_leaves_the_app_running_untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.monitor.opentelemetry as distro

    def broken(**_: object) -> None:
        raise ValueError("Invalid instrumentation key")

    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=not-a-key")
    monkeypatch.delenv("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", raising=False)
    monkeypatch.setattr(distro, "configure_azure_monitor", broken)
    telemetry.reset()
    try:
        assert not telemetry.enabled()
        with span("ppgdr pulse") as handle:
            handle.set(vm="x")
    finally:
        telemetry.reset()
