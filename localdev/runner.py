"""The local runner: the Functions host's job, done locally against the local Azure.

Core Tools (``func``) cannot be installed offline, so this runner does what the host does for ppg-dr:
it receives the emulator's Event Grid deliveries and invokes the registered ``resource_events``
function with ``azure.functions.EventGridEvent`` objects, and it fires the timer functions. It calls
the very function objects ``function_app.app`` registers, so the demo and the end-to-end tests run the
code that runs in Azure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from localdev.processes import Azurite, Emulator, start_azurite, start_emulator

log = logging.getLogger("ppgdr.local")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


_FUNCTIONS: dict[str, Any] | None = None


def function_map() -> dict[str, Any]:
    """The registered functions by name. ``app.get_functions()`` may be called once per app, so cache it."""
    global _FUNCTIONS
    if _FUNCTIONS is None:
        from function_app import app

        _FUNCTIONS = {str(f.get_function_name()): f for f in app.get_functions()}
    return _FUNCTIONS


def app_environment(azurite: Azurite, emulator: Emulator, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The application settings that point ppg-dr at the local Azure (as a Function App's settings would)."""
    env = {
        "PPGDR_ARM_ENDPOINT": emulator.base_url,
        "PPGDR_ARM_CA_BUNDLE": emulator.cert,
        "PPGDR_STATE_CONNECTION": azurite.connection_string,
        # The emulator serves the App Service managed-identity protocol: DefaultAzureCredential works as in Azure.
        "IDENTITY_ENDPOINT": str(emulator.ready["identity_endpoint"]),
        "IDENTITY_HEADER": str(emulator.ready.get("identity_header", "local")),
        "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
    }
    # The emulator's Entra ID tenant (OpenID metadata, signing keys): what PPGDR_ALERT_AUTH_MODE=aad and operator
    # tokens are checked against locally. Without an audience setting nothing takes tokens (docs/security.md).
    if emulator.ready.get("entra_authority"):
        env["PPGDR_ENTRA_AUTHORITY"] = str(emulator.ready["entra_authority"])
        env["PPGDR_TENANT_ID"] = str(emulator.ready["tenant_id"])
    env.update(extra or {})
    return env


class EventSinkHandler(BaseHTTPRequestHandler):
    """The Event Grid subscriber endpoint: accepts a batch, queues it, answers at once."""

    server: EventSinkServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            batch = json.loads(raw or b"[]")
        except json.JSONDecodeError:
            self.send_response(400)
            self.end_headers()
            return
        events = batch if isinstance(batch, list) else [batch]
        for event in events:
            self.server.events.put(event)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class EventSinkServer(ThreadingHTTPServer):
    events: queue.Queue[Any]


@dataclass
class LocalRunner:
    """Invokes the registered functions: Event Grid deliveries as they come, timers on request."""

    functions: dict[str, Any]
    emulator: Emulator
    delivered: list[tuple[str, str]] = field(default_factory=list)  # (event type, outcome)
    _server: EventSinkServer | None = None
    _worker: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    on_event: Callable[[dict[str, Any], str], None] | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_app(cls, emulator: Emulator) -> LocalRunner:

        return cls(function_map(), emulator)

    # ------------------------------------------------------------------------------------ functions

    def call(self, name: str, *args: Any) -> Any:
        return self.functions[name].get_user_function()(*args)

    def deliver(self, event: dict[str, Any], function: str = "resource_events") -> str:
        """Invoke an Event Grid function (``resource_events`` by default) for one event in the Event Grid schema."""
        import azure.functions as func

        grid_event = func.EventGridEvent(
            id=str(event.get("id", "")),
            data=event.get("data"),  # type: ignore[arg-type]  # the host passes whatever the payload holds
            topic=str(event.get("topic", "")),
            subject=str(event.get("subject", "")),
            event_type=str(event.get("eventType", "")),
            event_time=_parse_time(event.get("eventTime")),
            data_version=str(event.get("dataVersion", "")),
        )
        try:
            outcome = str(self.call(function, grid_event))
        except Exception as exc:  # the host would log and retry; the runner logs and goes on
            log.exception("%s failed for event %s", function, event.get("id"))
            outcome = f"error: {exc}"
        self.delivered.append((str(event.get("eventType", "")), outcome))
        if self.on_event is not None:
            self.on_event(event, outcome)
        return outcome

    def http(
        self,
        method: str,
        path: str,
        *,
        key: str | None,
        params: dict[str, str] | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """Call the registered ``http_api`` function (the ASGI app) as the Functions host would.

        ``key`` goes in ``x-functions-key``; ``headers`` adds any others (``Authorization: Bearer ...``).
        """
        import azure.functions as func

        headers = {**({"x-functions-key": key} if key else {}), **(headers or {})}
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        query = f"?{urlencode(params)}" if params else ""
        request = func.HttpRequest(method, f"http://localhost{path}{query}", headers=headers, params=params or {}, body=raw)
        if self._loop is None:
            # One loop for the runner's life, as the host's worker has: the ASGI app's lifespan task lives on it.
            self._loop = asyncio.new_event_loop()
        response = self._loop.run_until_complete(self.functions["http_api"].get_user_function()(request, None))
        payload = response.get_body()
        try:
            return response.status_code, json.loads(payload) if payload else None
        except ValueError:
            return response.status_code, payload.decode()

    def fire_timer(self, name: str, *, past_due: bool = False) -> None:
        from azure.functions.timer import TimerRequest

        self.call(name, TimerRequest(past_due=past_due))

    @staticmethod
    def _shutdown_asgi(loop: asyncio.AbstractEventLoop) -> None:
        """Run the ASGI lifespan shutdown on the loop that started it, as the host does at worker exit."""
        from function_app import app

        if getattr(app, "startup_task_done", False):
            loop.run_until_complete(app.middleware.notify_shutdown())  # type: ignore[no-untyped-call]
            app.startup_task_done = False

    # ------------------------------------------------------------------------------- event delivery

    def start(self) -> str:
        """Listen for Event Grid deliveries and register as the emulator's subscriber; returns the URL."""
        server = EventSinkServer(("127.0.0.1", 0), EventSinkHandler)
        server.events = queue.Queue()
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True, name="event-sink").start()
        self._worker = threading.Thread(target=self._work, daemon=True, name="event-worker")
        self._worker.start()
        url = f"http://127.0.0.1:{server.server_address[1]}/api/events"
        self.admin("POST", "/_emulator/events/subscriber", json={"url": url})
        return url

    def _work(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                event = self._server.events.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self.deliver(event)
            finally:
                self._server.events.task_done()

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every event the emulator emitted so far has been delivered and handled."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = self.admin("GET", "/_emulator/events", params={"eventType": "none"}).json()["delivery"]["pending"]
            # The emulator counts a batch as delivered once the sink queued it; the queue counts it done
            # once the function returned: both at zero means every event so far was handled.
            if pending == 0 and (self._server is None or self._server.events.unfinished_tasks == 0):
                return
            time.sleep(0.01)
        raise TimeoutError("events were still being delivered after the timeout")

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            self._shutdown_asgi(self._loop)
            self._loop.close()
            self._loop = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # ---------------------------------------------------------------------------------------- admin

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        tls = ssl.create_default_context(cafile=self.emulator.cert)
        with httpx.Client(base_url=self.emulator.base_url, verify=tls, timeout=30) as client:
            response = client.request(method, path, **kwargs)
        response.raise_for_status()
        return response

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock (replication and failover jobs finish on it)."""
        self.admin("POST", "/_emulator/clock", json={"advance": seconds})


@contextmanager
def local_azure(
    *, extra_env: Mapping[str, str] | None = None, clock_speed: float | None = None, log_dir: Path | None = None
) -> Iterator[tuple[LocalRunner, dict[str, str]]]:
    """Start Azurite, the emulator and the runner; point this process's settings at them; stop all after."""
    from shared.context import set_context

    azurite = start_azurite(log_dir=log_dir)
    emulator: Emulator | None = None
    runner: LocalRunner | None = None
    saved = dict(os.environ)
    try:
        emulator = start_emulator(clock_speed=clock_speed)
        env = app_environment(azurite, emulator, extra_env)
        os.environ.update(env)
        set_context(None)
        runner = LocalRunner.from_app(emulator)
        runner.start()
        yield runner, env
    finally:
        if runner is not None:
            runner.stop()
        set_context(None)
        os.environ.clear()
        os.environ.update(saved)
        if emulator is not None:
            emulator.stop()
        azurite.stop()


def serve_api(port: int, *, host: str = "127.0.0.1", request_seconds: float = 10.0) -> Any:
    """Serve the same ASGI app the Function App serves, with uvicorn, on ``host`` (background thread).

    Returns the started ``uvicorn.Server`` (``server.should_exit = True`` stops it). In Azure the Functions front end
    bounds connections; locally uvicorn does, with the limits below (issue 14: a slow or incomplete connection must
    not be kept forever). Bodies are bounded by the app itself (``MAX_BODY_BYTES``, 413).
    """

    import h11
    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from shared.operator.http_api import create_app

    class DeadlineH11(H11Protocol):
        """uvicorn's h11 protocol plus a deadline for receiving each request (head and body): uvicorn has none, and
        its keep-alive timer is cancelled by any byte, so a client dripping a header a byte at a time (slowloris) or
        connecting and sending nothing would hold its connection forever. ``request_seconds`` after a connection
        opens, or after the first byte of the next request, a connection whose request is still incomplete is
        closed. A request being answered is never cut: the deadline counts only what the client owes."""

        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None:
                self._arm()
            super().data_received(data)

        def on_response_complete(self) -> None:
            self._disarm()  # the keep-alive timer (timeout_keep_alive) takes over until the next request's first byte
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._deadline = self.loop.call_later(request_seconds, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                log.warning("closed a connection from %s: no complete request within %.0f s", self.client, request_seconds)
                self.transport.close()

    config = uvicorn.Config(
        create_app(),
        host=host,
        port=port,
        log_level="warning",
        http=DeadlineH11,
        # Close an idle keep-alive connection after 5 s (uvicorn's default, stated so it stays so).
        timeout_keep_alive=5,
        # At most 64 connections and requests at once; beyond that uvicorn answers 503 instead of queueing without end.
        limit_concurrency=64,
        # Request heads (request line and headers) of at most 16 KiB; larger is a 400 before the app sees it.
        h11_max_incomplete_event_size=16 * 1024,
        # On shutdown, give requests in flight 5 s, then close.
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True, name="http-api").start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server


# What a shell needs to point the CLI (or a second process) at this runner's local Azure.
EXPORTED = (
    "PPGDR_ARM_ENDPOINT",
    "PPGDR_ARM_CA_BUNDLE",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "AZURE_TOKEN_CREDENTIALS",
    "PPGDR_STATE_CONNECTION",
)


def export_lines(env: Mapping[str, str]) -> list[str]:
    """``export NAME=value`` lines (shell-quoted) for the local endpoints and every PPGDR_* setting in use."""
    import shlex

    names = [*EXPORTED, *sorted(n for n in env if n.startswith("PPGDR_") and n not in EXPORTED)]
    return [f"export {name}={shlex.quote(env[name])}" for name in names if name in env]


SEEDS = ("demo", "estate")


def seed_estate(runner: LocalRunner, kind: str) -> str:
    """Create the demo estate (``estate``), and tag it for protection as the demo does (``demo``)."""
    from localdev import estate as est
    from shared.context import get_context

    ctx = get_context()
    est.seed(ctx.clients)
    if kind == "estate":
        return "demo estate created (untagged): tag VMs ppgdr-protect=true to protect them"
    est.tag(ctx.clients, f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod", {"ppgdr-protect": "true"})
    for name in ("trade-engine-1", "trade-cache-1"):
        est.tag(ctx.clients, est.DEMO_ESTATE.vm(name).id, {"ppgdr-protect": "true", "ppgdr-target-zone": "2"})
    return "demo estate created and tagged: sap-prod and the trading VMs are being protected"


def _run_timer(runner: LocalRunner, name: str, problems: dict[str, str]) -> None:
    """Fire a timer as the host would: a failed run is logged (one line when it is a connectivity problem)."""
    from shared.context import get_context
    from shared.platform.connectivity import connection_problem

    try:
        runner.fire_timer(name)
        problems.pop(name, None)
    except Exception as exc:
        try:
            problem = connection_problem(exc, get_context().settings)
        except Exception:  # the settings themselves are broken: say that, once
            problem = None
        line = problem or f"{type(exc).__name__}: {exc}"
        if problems.get(name) != line:  # the same failure every tick is said once
            if problem is None:
                log.exception("%s timer failed", name)
            else:
                log.error("%s timer failed: %s", name, problem)
            problems[name] = line


def _stop_on_sigterm() -> None:
    """``kill <pid>`` stops the runner like Ctrl-C does: Azurite and the emulator are stopped too."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    """``ppgdr-local``: run the functions against the local Azure until interrupted (Ctrl-C or SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="ppgdr-local",
        description="Run ppg-dr's functions against Azurite and the ARM emulator (the Functions host's job, locally).",
    )
    parser.add_argument("--pulse-seconds", type=float, default=5.0, help="how often to fire the pulse timer")
    parser.add_argument("--reconcile-seconds", type=float, default=60.0, help="how often to fire the reconcile timer")
    parser.add_argument("--clock-speed", type=float, default=60.0, help="emulator clock speed (60 = a minute a second)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra app setting")
    parser.add_argument("--api-port", type=int, default=0, help="also serve the HTTP API with uvicorn on this port")
    parser.add_argument(
        "--seed",
        choices=SEEDS,
        help="start with the demo estate and its settings (demo: tagged for protection; estate: untagged)",
    )
    parser.add_argument("--print-env", action="store_true", help="print 'export NAME=value' lines for the CLI once ready")
    parser.add_argument("--env-file", type=Path, help="write the same export lines to this file (source it in a shell)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the runner's own admin calls to the emulator
    extra: dict[str, str] = {}
    if args.seed:
        from localdev import estate as est

        extra.update(est.app_settings())
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env {item!r}: use NAME=VALUE")
        extra[name] = value
    api_key = None
    if args.api_port and not extra.get("PPGDR_API_KEYS") and not os.environ.get("PPGDR_API_KEYS"):
        import hashlib
        import secrets

        api_key = secrets.token_urlsafe(24)  # a throwaway key for this run: the runner prints it once, never logs it
        extra["PPGDR_API_KEYS"] = "sha256:" + hashlib.sha256(api_key.encode()).hexdigest()
    _stop_on_sigterm()
    try:
        with local_azure(extra_env=extra, clock_speed=args.clock_speed) as (runner, env):
            exports = export_lines({**env, **({"PPGDR_API_KEY": api_key} if api_key else {})})
            if args.api_port:
                serve_api(args.api_port)
            seeded = seed_estate(runner, args.seed) if args.seed else None
            ready: dict[str, Any] = {"ready": True, "env": {k: v for k, v in env.items() if k in EXPORTED}}
            if args.api_port:
                ready["api"] = f"http://127.0.0.1:{args.api_port}/api"
                ready["api_key"] = api_key or "(your PPGDR_API_KEYS)"
            print(json.dumps(ready), flush=True)
            if args.print_env:
                print("\n".join(exports), flush=True)
            if args.env_file:
                args.env_file.write_text("\n".join(exports) + "\n")
                args.env_file.chmod(0o600)
            print(seeded or _empty_hint(env), flush=True)
            _loop(runner, args.pulse_seconds, args.reconcile_seconds)
    except KeyboardInterrupt:
        pass
    print("ppgdr-local: stopped Azurite and the emulator", flush=True)
    return 0


def _empty_hint(env: Mapping[str, str]) -> str:
    if env.get("PPGDR_SUBSCRIPTIONS") or env.get("PPGDR_RESOURCE_GROUPS"):
        return "watching " + (env.get("PPGDR_SUBSCRIPTIONS") or env.get("PPGDR_RESOURCE_GROUPS", ""))
    return (
        "the local Azure is empty and no PPGDR_SUBSCRIPTIONS / PPGDR_RESOURCE_GROUPS are set: nothing to watch. "
        "Start with --seed demo, or create resources and pass --env settings."
    )


def _loop(runner: LocalRunner, pulse_seconds: float, reconcile_seconds: float) -> None:
    problems: dict[str, str] = {}
    last_reconcile = 0.0
    while True:
        _run_timer(runner, "pulse", problems)
        if time.monotonic() - last_reconcile >= reconcile_seconds:
            _run_timer(runner, "reconcile", problems)
            last_reconcile = time.monotonic()
        time.sleep(pulse_seconds)
