"""Traces and log dimensions for Application Insights, through OpenTelemetry, and nothing when it is off.

Why a module of our own: every trigger and the HTTP app open one span per invocation (an Event Grid event, a
timer run, an HTTP call) with the group, the VM and the ASR jobs it touched as attributes, and every log line
written inside it carries the same fields as custom dimensions, so one failover can be followed end to end in
Kusto. The wiring must cost nothing where telemetry is off (locally, in tests, in the CLI): ``import
function_app`` never imports OpenTelemetry, and :func:`span` is a shared no-op object until telemetry is on.

Telemetry is on when, at the first span of the process:

- the Functions Python worker configured the Azure Monitor distro itself
  (``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true``, with ``"telemetryMode": "OpenTelemetry"`` in host.json:
  the worker also parents our spans under the host's invocation), or
- ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set: the distro is configured here, lazily, on that first span
  (``APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD`` makes its exporter use the managed identity),
- or a caller installed its own providers (:func:`install`: the tests, with in-memory exporters).

Span kinds follow what Application Insights makes of them: an invocation span is ``SERVER`` (timers, HTTP) or
``CONSUMER`` (Event Grid) and lands in ``requests``; a span inside one is ``INTERNAL`` and lands in
``dependencies`` (type ``InProc``); Azure SDK calls are ``dependencies`` too (the distro's ``azure_sdk``
instrumentation). Log records become ``traces`` rows; their ``extra`` fields are ``customDimensions``.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger(__name__)

#: The structured fields of ppg-dr's log records (``extra=``), one name for one thing across code, logs and Kusto.
DIMENSIONS = ("group", "vm", "step", "job", "event_id", "function")
#: Fields whose several values in one invocation are kept as a comma-separated list (a resource-group event
#: reconciles several VMs; a pulse follows several jobs). More than this many are cut, with the count kept.
MULTI_VALUED = ("group", "vm", "job")
MAX_VALUES = 20

# The Azure SDKs log every HTTP request and every token fetch at INFO: hundreds of lines a minute that drown
# what ppg-dr itself says, and in Azure each would be an ingested (billed) row. The distro's exporter logs each
# upload too. Their warnings and errors still come through.
NOISY_SDK_LOGGERS = (
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "azure.data.tables",
    "azure.monitor.opentelemetry",
)

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
WORKER_TELEMETRY = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"

Kind = Literal["internal", "server", "consumer"]
Attribute = str | bool | int | float


def quiet_sdk_logging() -> None:
    """Raise the Azure SDKs' chatty loggers to WARNING (locally and in Azure alike)."""
    for name in NOISY_SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


# ------------------------------------------------------------------------------------------------ the span API


class SpanHandle:
    """What code inside :func:`span` may do with it: add attributes, say it failed. A no-op when telemetry is off."""

    def set(self, **attributes: Attribute | None) -> None:
        """Set attributes (``None`` values are skipped); ``group``, ``vm`` and ``job`` accumulate, see :func:`annotate`."""

    def fail(self, description: str) -> None:
        """Mark the invocation failed (``success == false`` in ``requests``) without an exception."""


class _NoSpan(SpanHandle):
    """The shared span of a process without telemetry: entering and leaving it costs two method calls."""

    def __enter__(self) -> SpanHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_NO_SPAN = _NoSpan()


@dataclass
class _Live(SpanHandle):
    """A recording span and the dimensions its log records inherit."""

    otel: Any
    values: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def set(self, **attributes: Attribute | None) -> None:
        for key, value in attributes.items():
            if value is None or value == "":
                continue
            if key in MULTI_VALUED:
                self._add(key, str(value))
            else:
                self.otel.set_attribute(key, value)
                if key in DIMENSIONS:
                    self.values[key] = [str(value)]

    def _add(self, key: str, value: str) -> None:
        known = self.values.setdefault(key, [])
        if value in known:
            return
        self.counts[key] = self.counts.get(key, 0) + 1
        if len(known) < MAX_VALUES:
            known.append(value)
        self.otel.set_attribute(key, joined(known, self.counts[key]))

    def fail(self, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self.otel.set_status(Status(StatusCode.ERROR, description[:500]))

    def dimension(self, key: str) -> str | None:
        """The value a log record inherits: only a field with exactly one value (a list would mislead)."""
        known = self.values.get(key)
        return known[0] if known and len(known) == 1 and self.counts.get(key, 1) == 1 else None


def joined(values: list[str], total: int) -> str:
    """``a,b,c`` and, past :data:`MAX_VALUES`, ``a,b,...,+N more`` (pure, for the attribute value)."""
    text = ",".join(values)
    return text if total <= len(values) else f"{text},+{total - len(values)} more"


_current: contextvars.ContextVar[_Live | None] = contextvars.ContextVar("ppgdr_span", default=None)


@dataclass
class _State:
    """Whether telemetry is on in this process, decided once (``None``: not yet), and the tracer to use."""

    on: bool | None = None
    tracer: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()


def enabled() -> bool:
    """Whether spans are recorded in this process (decides, and configures the distro, on first call)."""
    on = _state.on
    if on is None:
        on = _decide()
    return on


def span(name: str, *, kind: Kind = "internal", **attributes: Attribute | None) -> AbstractContextManager[SpanHandle]:
    """A context manager for one span named ``name`` with ``attributes``; yields a :class:`SpanHandle`.

    Exceptions leaving the block are recorded on the span and mark it failed, then propagate unchanged.
    """
    if not enabled():
        return _NO_SPAN
    return _recording(name, kind, attributes)


def annotate(**attributes: Attribute | None) -> None:
    """Add attributes to the innermost ppg-dr span of this invocation, from any layer (nothing outside a span).

    Why: the code that learns a VM's group or an ASR job id (a reconcile step, :func:`start_operation`) is deep
    below the trigger that opened the span; it says what it learnt here instead of passing it back up.
    """
    current = _current.get()
    if current is not None:
        current.set(**attributes)


@contextmanager
def _recording(name: str, kind: Kind, attributes: dict[str, Attribute | None]) -> Iterator[SpanHandle]:
    from opentelemetry.trace import SpanKind

    kinds = {"internal": SpanKind.INTERNAL, "server": SpanKind.SERVER, "consumer": SpanKind.CONSUMER}
    with _state.tracer.start_as_current_span(name, kind=kinds[kind]) as otel:
        live = _Live(otel)
        parent = _current.get()
        if parent is not None:  # an inner span inherits the invocation's single-valued fields for its log lines
            for key in DIMENSIONS:
                value = parent.dimension(key)
                if value is not None:
                    live.values[key] = [value]
        live.set(**attributes)
        token = _current.set(live)
        try:
            yield live
        finally:
            _current.reset(token)


# ------------------------------------------------------------------------------------------------ log records


class DimensionsFilter(logging.Filter):
    """Gives a log record the fields of the span it was written in, where the call did not pass them itself.

    Installed on the OpenTelemetry log handler only (so other handlers see records as they were written). It also
    drops empty and ``None`` values of the known fields (OpenTelemetry refuses ``None`` with a warning per record).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        current = _current.get()
        for key in DIMENSIONS:
            present = getattr(record, key, _MISSING)
            if present is None or present == "":
                delattr(record, key)
                present = _MISSING
            if present is _MISSING and current is not None:
                value = current.dimension(key)
                if value is not None:
                    setattr(record, key, value)
        return True


_MISSING = object()


def attach_dimensions(handler: logging.Handler) -> None:
    """Add the :class:`DimensionsFilter` to an OpenTelemetry log handler (once)."""
    if not any(isinstance(f, DimensionsFilter) for f in handler.filters):
        handler.addFilter(DimensionsFilter())


def _otel_handlers() -> list[logging.Handler]:
    """The OpenTelemetry log handlers the distro (ours or the worker's) attached: on the root logger, or on
    ``PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME`` when the worker was told another logger."""
    names = {"", os.environ.get("PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME", "")}
    return [
        handler
        for name in names
        for handler in logging.getLogger(name).handlers
        if type(handler).__module__.startswith("opentelemetry")
    ]


# ------------------------------------------------------------------------------------------------ configuration


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def mode(env: MutableMapping[str, str] | None = None) -> Literal["off", "worker", "app"]:
    """Who configures telemetry, from the environment (pure): nobody, the Functions worker, or this module."""
    env = os.environ if env is None else env
    if not (env.get(CONNECTION_STRING) or "").strip():
        return "off"
    return "worker" if _truthy(env.get(WORKER_TELEMETRY)) else "app"


def _decide() -> bool:
    with _state.lock:
        if _state.on is not None:
            return _state.on
        chosen = mode()
        if chosen == "off":
            _state.on = False
            return False
        try:
            if chosen == "app":
                from azure.monitor.opentelemetry import configure_azure_monitor  # lazy: ~0.3 s, only where it is on

                # Live metrics and performance counters are off: a timer-driven app scaled to zero gains nothing
                # from them, and each is a background thread and an ingestion stream per instance.
                configure_azure_monitor(enable_live_metrics=False, enable_performance_counters=False)
            from opentelemetry import trace

            _state.tracer = trace.get_tracer("ppgdr")
        except Exception:  # telemetry must never stop the app: a bad connection string means no traces
            log.exception("Application Insights telemetry could not be configured; running without traces")
            _state.on = False
            return False
        quiet_sdk_logging()
        for handler in _otel_handlers():
            handler.setLevel(max(handler.level, logging.INFO))  # DEBUG lines are for a local console, not ingestion
            attach_dimensions(handler)
        _state.on = True
        who = "the Functions worker" if chosen == "worker" else "ppg-dr"
        log.info("Application Insights telemetry on (%s configured it)", who)
        return True


def install(tracer_provider: Any, log_handler: logging.Handler | None = None) -> None:
    """Record spans with this provider (and give ``log_handler`` the span fields), whatever the environment.

    For tests and tools that bring their own exporters; :func:`reset` undoes it.
    """
    with _state.lock:
        _state.tracer = tracer_provider.get_tracer("ppgdr")
        _state.on = True
    if log_handler is not None:
        attach_dimensions(log_handler)


def reset() -> None:
    """Forget the decision: the next span decides again from the environment."""
    with _state.lock:
        _state.on = None
        _state.tracer = None


# ------------------------------------------------------------------------------------------------ HTTP


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Path parameters that are span attributes as they are (the others only shape ``http.route``).
_PATH_ATTRIBUTES = ("group", "decision", "drill", "report", "action", "verb")


def route_of(path: str, params: dict[str, Any]) -> str:
    """The route template of a request path (``/api/groups/{group}/audit``), from the router's path parameters (pure)."""
    parts = path.split("/")
    for name, value in params.items():
        text = str(value)
        for index, part in enumerate(parts):
            if part == text:
                parts[index] = "{" + name + "}"
                break
    return "/".join(parts)


def route_params(scope: Scope) -> dict[str, Any] | None:
    """The path parameters of the route a request matched; None when no route matches.

    Routing fills ``path_params`` in the shared scope; a request refused before routing (401) is matched against
    the app's routes here (Starlette's ``routes`` / ``matches``, read by duck typing), so it is named by its route
    too and unknown paths (scanners) do not become one span name each.
    """
    if scope.get("path_params") is not None:
        return dict(scope["path_params"])
    for route in getattr(scope.get("app"), "routes", ()):
        match, child = route.matches(scope)
        if getattr(match, "name", "") == "FULL":
            return dict(child.get("path_params") or {})
    return None


class TracingMiddleware:
    """ASGI middleware: one ``SERVER`` span per HTTP call (``requests`` in Application Insights), named
    ``ppgdr <METHOD> <route>``, with the group / decision / drill from the path and the status code.

    Outermost in the app, so refused (401) calls are traced too. When telemetry is off it only forwards the call.
    """

    def __init__(self, app: Asgi) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not enabled():
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        path = str(scope.get("path", ""))
        status: list[int] = []

        async def sending(message: Message) -> None:
            if message.get("type") == "http.response.start":
                status.append(int(message.get("status", 0)))
            await send(message)

        with span(f"ppgdr {method} {path}", kind="server", function="http_api") as handle:
            handle.set(**{"http.request.method": method, "url.path": path})
            try:
                await self.app(scope, receive, sending)
            finally:
                params = route_params(scope)
                route = "(unmatched)" if params is None else route_of(path, params)
                params = params or {}
                handle.set(**{"http.route": route}, **{k: str(params[k]) for k in _PATH_ATTRIBUTES if k in params})
                if isinstance(handle, _Live):  # named after the route, not the path: one name per endpoint in Kusto
                    handle.otel.update_name(f"ppgdr {method} {route}")
                if status:
                    handle.set(**{"http.response.status_code": status[0]})
                    if status[0] >= 500:
                        handle.fail(f"answered {status[0]}")
