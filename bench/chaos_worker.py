"""One chaos worker: a separate process doing a Functions host's job for ppg-dr, until the harness kills it.

:func:`worker_main` is the process entry point (``multiprocessing`` fork server: the app and the SDKs are
imported once in the server, so a respawned worker is ready in milliseconds, like a warm host instance).
It receives batches on its own pipe and answers each item with one message. Items are Event Grid
deliveries, timer firings and HTTP requests, each run through the function ``function_app.app``
registers, exactly as the Functions host invokes it in Azure; the app's logs go to the worker's log file.

What is harness code here, not app code:

- the app's **Table clock** follows the emulator's: ``StateStore.from_settings(settings, clock=...)`` with
  the harness's offset (the emulated seconds it advanced), so leases, lost-intent timeouts, backoffs and
  the hour before a failed enable is retried pass in ticks, as the ASR jobs do on the emulator's clock;
- the **kill at every step boundary**: the context's ``StateStore`` is wrapped so that before a write that
  moves a group's workflow from phase A to phase B, the worker creates ``ledger/<group>~<workflow>~A~B``
  with ``O_EXCL``; the first worker to reach a boundary records it and SIGKILLs itself, the worker that
  retries the step later finds the file and goes on. Every boundary of every workflow dies once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# Emulated seconds the harness advanced the emulator's clock by (sent with every batch).
_OFFSET = [0.0]


def virtual_now() -> datetime:
    """The app's notion of now: real time plus what the harness advanced the emulator's clock by."""
    return datetime.now(UTC) + timedelta(seconds=_OFFSET[0])


# ------------------------------------------------------------------------------------------------- kills


def _phase(data: dict[str, Any] | None) -> str:
    return str((data or {}).get("phase") or "none")


def boundary_name(group: str, workflow: str, before: str, after: str) -> str:
    """The ledger file of one step boundary (file-name safe: group names are ARM names, phases are words)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in group.lower())
    return f"{safe}~{workflow}~{before}~{after}"


def die_at_boundary(ledger: Path, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    """SIGKILL this process the first time any worker is about to write this phase change of this workflow.

    A phase change of a running workflow is named by the workflow's id. Starting a workflow is named by the
    record it replaces (none, or the previous workflow's id) and its kind: a retried start makes a fresh id
    each time, and must still die only once.
    """
    workflow = str(new.get("id") or "")
    previous = str((old or {}).get("id") or "none")
    if previous == workflow:
        before, name_id = _phase(old), workflow
    else:
        before, name_id = "new", f"{new.get('kind', '?')}-after-{previous}"
    after = _phase(new)
    if before == after:
        return  # a save within one phase (a job id, a retry time) is not a step boundary
    name = boundary_name(str(new.get("group") or "?"), name_id, before, after)
    try:
        fd = os.open(ledger / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return  # this boundary already killed someone: go through it
    os.write(fd, json.dumps({"pid": os.getpid(), "at": time.time()}).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def install_boundary_kills(store: Any, ledger: Path) -> None:
    """Wrap the store's workflow writes (``insert`` and ``replace_if_unchanged``; ``update`` goes through them).

    ``save_workflow`` writes with the ETag it read (``replace_if_unchanged`` on an empty record) or through
    ``update`` (insert or replace); either way the old phase is whatever the table holds right now.
    """
    from shared.state.store import WORKFLOWS

    real_insert: Callable[..., Any] = store.insert
    real_replace: Callable[..., Any] = store.replace_if_unchanged

    def insert(table: str, partition: str, row: str, data: dict[str, Any], **columns: Any) -> Any:
        if table == WORKFLOWS:
            die_at_boundary(ledger, None, data)
        return real_insert(table, partition, row, data, **columns)

    def replace_if_unchanged(table: str, record: Any, data: dict[str, Any], **columns: Any) -> Any:
        if table == WORKFLOWS:
            current = store.get(table, record.partition, record.row)
            die_at_boundary(ledger, current.data if current is not None else None, data)
        return real_replace(table, record, data, **columns)

    store.insert = insert
    store.replace_if_unchanged = replace_if_unchanged


# ------------------------------------------------------------------------------------------------- the app


def build_context(ledger: Path) -> Any:
    """ppg-dr's context for this process, as ``get_context`` builds it, with the harness's clock and kill hooks."""
    from shared.context import AppContext, quiet_sdk_logging, set_context
    from shared.platform.clients import AzureClients
    from shared.settings import Settings
    from shared.state.store import StateStore, new_holder_id

    quiet_sdk_logging()
    settings = Settings.from_env()
    store = StateStore.from_settings(settings, clock=virtual_now)
    install_boundary_kills(store, ledger)
    ctx = AppContext(settings, store, AzureClients(settings), new_holder_id())
    set_context(ctx)
    return ctx


def warm_up() -> None:
    """Import what the first invocations need, so a respawned worker is ready before its first batch."""
    import azure.mgmt.compute
    import azure.mgmt.recoveryservicessiterecovery
    import azure.mgmt.resource.resources  # noqa: F401

    from localdev.runner import function_map

    function_map()


def grid_event(event: dict[str, Any]) -> Any:
    """The ``azure.functions.EventGridEvent`` the Functions host builds from one event of a delivery."""
    import azure.functions as func

    when = event.get("eventTime")
    return func.EventGridEvent(
        id=str(event.get("id", "")),
        data=event.get("data"),  # type: ignore[arg-type]  # the host passes whatever the payload holds
        topic=str(event.get("topic", "")),
        subject=str(event.get("subject", "")),
        event_type=str(event.get("eventType", "")),
        event_time=datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else None,
        data_version=str(event.get("dataVersion", "")),
    )


class Host:
    """Runs one item the way the Functions host would; an exception is a failed invocation, reported as such."""

    def __init__(self) -> None:
        from localdev.runner import function_map

        self.functions = function_map()
        self.loop = asyncio.new_event_loop()  # one loop for the process's life, as the host's worker has

    def call(self, name: str, *args: Any) -> Any:
        return self.functions[name].get_user_function()(*args)

    def run(self, item: dict[str, Any]) -> dict[str, Any]:
        kind = item["kind"]
        if kind == "event":
            return {"outcome": str(self.call(item.get("function", "resource_events"), grid_event(item["event"])))}
        if kind == "timer":
            from azure.functions.timer import TimerRequest

            self.call(item["name"], TimerRequest(past_due=False))
            return {"outcome": "ok"}
        if kind == "http":
            return self.http(item["method"], item["path"], item.get("body"), item.get("key"))
        raise ValueError(f"unknown item kind {kind!r}")

    def http(self, method: str, path: str, body: Any, key: str | None) -> dict[str, Any]:
        """Call the registered ``http_api`` function (the ASGI app), as ``LocalRunner.http`` does."""
        import azure.functions as func

        headers = {"x-functions-key": key} if key else {}
        raw = json.dumps(body).encode() if body is not None else b""
        request = func.HttpRequest(method, f"http://localhost{path}", headers=headers, params={}, body=raw)
        response = self.loop.run_until_complete(self.call("http_api", request, None))
        payload = response.get_body()
        try:
            decoded = json.loads(payload) if payload else None
        except ValueError:
            decoded = payload.decode(errors="replace")[:500]
        return {"status": response.status_code, "body": decoded}


# ------------------------------------------------------------------------------------------------- protocol


def serve(host: Host, connection: Connection) -> None:
    """One batch a message in, one answer a message per item plus ``done`` per batch out, until the pipe closes."""
    while True:
        try:
            batch = connection.recv()
        except EOFError:
            return
        _OFFSET[0] = float(batch.get("offset", _OFFSET[0]))
        for index, item in enumerate(batch["items"]):
            started = time.perf_counter()
            try:
                answer: dict[str, Any] = {"ok": True, **host.run(item)}
            except Exception as exc:  # a failed invocation: the harness redelivers events, as Event Grid does
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:800]}
                traceback.print_exc(file=sys.stderr)
            answer.update(batch=batch["batch"], index=index, seconds=round(time.perf_counter() - started, 3))
            connection.send(json.loads(json.dumps(answer, default=str)))
        connection.send({"batch": batch["batch"], "done": True})


def worker_main(connection: Connection, env: dict[str, str], ledger: str, offset: float, log_path: str) -> None:
    """The process entry point (forked from the pool's fork server, which imported the app and the SDKs once)."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)  # the app's logs and tracebacks go to this worker's log file
    os.environ.update(env)
    _OFFSET[0] = offset
    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s {os.getpid()} %(levelname)s %(name)s %(message)s", force=True)
    build_context(Path(ledger))
    warm_up()
    host = Host()
    connection.send({"ready": os.getpid()})
    serve(host, connection)


# What the fork server imports once, so each worker it forks starts in milliseconds (as a warm host instance).
PRELOAD = (
    "function_app",
    "azure.functions",
    "azure.mgmt.compute",
    "azure.mgmt.recoveryservicessiterecovery",
    "azure.mgmt.resource.resources",
    "azure.data.tables",
    "azure.identity",
    "bench.chaos_worker",
)
