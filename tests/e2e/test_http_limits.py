"""End to end: the HTTP surface holds under abuse (issue 14, "HTTP limits").

Deep JSON is refused (400 ``TooDeep``) without a ``RecursionError``; a body over 256 KiB is refused (413 ``TooLarge``)
without being read past the limit, whatever its ``Content-Length`` says; a slow storage call holds a worker thread,
never the event loop; and the local server (``serve_api``) closes connections that never finish their request.
Through the registered ``http_api`` function, the ASGI app itself (to count what it reads) and uvicorn.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from localdev.runner import serve_api
from shared.operator.http_api import create_app
from shared.operator.http_common import MAX_BODY_BYTES
from shared.state.store import SIGNALS
from tests.fixtures.app import API_KEY, Ppgdr
from tests.fuzz.watch import arm_writes, table_writes

CHUNK = 64 * 1024
FIFTY_MB = 50 * 1024 * 1024


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# ------------------------------------------------------------------------------------------ deep JSON


@pytest.mark.parametrize("path", ["/api/alerts", "/api/decisions/dec-0000000000000000/approve", "/api/groups/sap-ppg/drill"])
def test_json_nested_a_thousand_deep_is_refused_with_400_not_a_recursion_error(
    ppgdr: Ppgdr, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for body in (deep(1000), b'{"data": ' * 1000 + b"1" + b"}" * 1000, deep(100_000)):
        with table_writes(ppgdr.ctx.store, monkeypatch) as writes:
            code, answer = ppgdr.http("POST", path, body=body)
        assert code == 400, answer
        assert answer["error"]["code"] == "TooDeep"
        assert writes == []


def test_json_nested_within_the_limit_is_parsed_as_usual(ppgdr: Ppgdr) -> None:
    code, answer = ppgdr.http("POST", "/api/alerts", body=deep(60))
    assert code == 400 and answer["error"]["code"] == "UnsupportedAlert"  # parsed, then refused as no alert
    brackets_in_a_string = json.dumps({"schemaId": "[" * 5000}).encode()
    code, answer = ppgdr.http("POST", "/api/alerts", body=brackets_in_a_string)
    assert code == 400 and answer["error"]["code"] == "UnsupportedAlert"


# ------------------------------------------------------------------------------------------ huge bodies


def test_a_body_over_the_limit_is_answered_413_through_the_registered_function(
    ppgdr: Ppgdr, monkeypatch: pytest.MonkeyPatch
) -> None:
    ppgdr.emulator.clear_requests()
    with table_writes(ppgdr.ctx.store, monkeypatch) as writes:
        code, answer = ppgdr.http("POST", "/api/alerts", body=b" " * (MAX_BODY_BYTES + 1))
    assert code == 413 and answer["error"]["code"] == "TooLarge"
    assert writes == [] and arm_writes(ppgdr) == []
    assert list(ppgdr.ctx.store.query(SIGNALS)) == []


class Upload:
    """An ASGI ``receive`` that streams ``total`` bytes in 64 KiB chunks, made as they are asked for (never all held)."""

    def __init__(self, total: int) -> None:
        self.total, self.sent = total, 0
        self.chunks_read = 0

    async def __call__(self) -> dict[str, Any]:
        if self.sent >= self.total:
            return {"type": "http.disconnect"}
        size = min(CHUNK, self.total - self.sent)
        self.sent += size
        self.chunks_read += 1
        return {"type": "http.request", "body": b"x" * size, "more_body": self.sent < self.total}


def call_asgi(method: str, path: str, upload: Upload, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send one request through the app as uvicorn would (``await app(scope, receive, send)``)."""
    import asyncio

    answer: dict[str, Any] = {"body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7071),
    }
    asyncio.run(create_app()(scope, upload, send))
    return int(answer["status"]), bytes(answer["body"])


LIMIT_CHUNKS = MAX_BODY_BYTES // CHUNK + 1  # the chunk that crosses the limit is the last one read


@pytest.mark.parametrize("path", ["/api/alerts", "/api/decisions/dec-0000000000000000/reject", "/api/login"])
def test_a_fifty_megabyte_stream_is_refused_after_the_limit_and_never_held(ppgdr: Ppgdr, path: str) -> None:
    upload = Upload(FIFTY_MB)
    headers = {"x-functions-key": API_KEY, "content-type": "application/json", "origin": "http://127.0.0.1:7071"}
    call_asgi("POST", path, Upload(10), headers)  # first use: lazy imports (Jinja2 for the sign-in page) are not the body's
    tracemalloc.start()
    try:
        code, body = call_asgi("POST", path, upload, headers)  # no Content-Length: chunked
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 413, body
    assert json.loads(body)["error"]["code"] == "TooLarge"
    assert upload.chunks_read <= LIMIT_CHUNKS + 1 < FIFTY_MB // CHUNK
    assert peak < 8 * MAX_BODY_BYTES, f"peak {peak} bytes while refusing a 50 MB body"


def test_a_content_length_over_the_limit_is_refused_before_anything_is_read(ppgdr: Ppgdr) -> None:
    for path in ("/api/alerts", "/api/login", "/api/no-such-route"):
        upload = Upload(FIFTY_MB)
        code, body = call_asgi("POST", path, upload, {"x-functions-key": API_KEY, "content-length": str(FIFTY_MB)})
        assert code == 413 and json.loads(body)["error"]["code"] == "TooLarge"
        assert upload.chunks_read == 0


def test_a_body_longer_than_its_content_length_is_still_cut_at_the_limit(ppgdr: Ppgdr) -> None:
    upload = Upload(FIFTY_MB)
    code, body = call_asgi("POST", "/api/alerts", upload, {"x-functions-key": API_KEY, "content-length": "100"})
    assert code == 413 and json.loads(body)["error"]["code"] == "TooLarge"
    assert upload.chunks_read <= LIMIT_CHUNKS + 1


# ------------------------------------------------------------------------------------------ uvicorn


@pytest.fixture
def served(ppgdr: Ppgdr) -> Iterator[tuple[str, int]]:
    """The app served by ``serve_api`` on a free port, with a 1 s request deadline; stopped after."""
    server = serve_api(0, request_seconds=1.0)
    assert server.started, "uvicorn did not start"
    port = int(server.servers[0].sockets[0].getsockname()[1])
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True


def test_a_slow_storage_call_does_not_stall_other_requests(
    ppgdr: Ppgdr, served: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = served
    real_query = ppgdr.ctx.store.query

    def slow_query(*args: Any, **kwargs: Any) -> Any:
        time.sleep(3)  # 3 s of storage latency, in the thread that asked
        return real_query(*args, **kwargs)

    monkeypatch.setattr(ppgdr.ctx.store, "query", slow_query)
    base, headers = f"http://{host}:{port}", {"x-functions-key": API_KEY}
    slow: dict[str, Any] = {}

    def groups() -> None:
        slow["status"] = httpx.get(f"{base}/api/groups", headers=headers, timeout=30).status_code

    blocked = [threading.Thread(target=groups) for _ in range(3)]
    for thread in blocked:
        thread.start()
    time.sleep(0.3)  # the /api/groups calls are now waiting on storage
    started = time.monotonic()
    answer = httpx.get(f"{base}/api/openapi.json", headers=headers, timeout=30)
    waited = time.monotonic() - started
    assert answer.status_code == 200 and answer.json()["openapi"].startswith("3.")
    assert waited < 1.5, f"openapi.json waited {waited:.1f} s behind a slow storage call"  # blocked: 3 s or more
    for thread in blocked:
        thread.join(timeout=60)
    assert slow["status"] == 200


def test_the_local_server_closes_connections_that_never_finish_their_request(served: tuple[str, int]) -> None:
    host, port = served
    idle = socket.create_connection((host, port))
    dripping = socket.create_connection((host, port))
    dripping.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n")  # the head never ends
    started = time.monotonic()
    for conn in (idle, dripping):
        conn.settimeout(10)
        assert conn.recv(1024) == b""  # closed by the server
        conn.close()
    assert time.monotonic() - started < 5
    answer = httpx.get(f"http://{host}:{port}/api/openapi.json", headers={"x-functions-key": API_KEY}, timeout=10)
    assert answer.status_code == 200  # a complete request is answered as usual


def test_the_local_server_refuses_a_request_head_over_16_kib(served: tuple[str, int]) -> None:
    """An unfinished head is not buffered past 16 KiB (``h11_max_incomplete_event_size``): 400, then closed."""
    host, port = served
    conn = socket.create_connection((host, port))
    conn.settimeout(10)
    conn.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"j" * 40_000)
    answer = b""
    while chunk := conn.recv(4096):
        answer += chunk
    conn.close()
    assert answer.startswith(b"HTTP/1.1 400")
