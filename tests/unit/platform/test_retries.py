"""The retry policy every management client uses (issue 13, findings 2 and 3), through a real azure-core pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core import PipelineClient
from azure.core.exceptions import HttpResponseError, ServiceRequestError
from azure.core.pipeline.transport import HttpTransport
from azure.core.pipeline.transport._base import HttpResponse
from azure.core.rest import HttpRequest

from shared.platform.retries import RETRY_TOTAL, is_transient, retry_policy


class ScriptedTransport(HttpTransport):  # type: ignore[type-arg]
    """Answers each request with the next status of a script; counts what was sent."""

    def __init__(self, script: list[int], headers: dict[str, str] | None = None) -> None:
        self.script, self.headers, self.sent = iter(script), headers or {}, 0

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
        self.sent += 1
        return _wrap(request, next(self.script), self.headers)

    def open(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *args: object) -> None: ...


class _Answer(HttpResponse):  # type: ignore[misc]
    def body(self) -> bytes:
        return b"{}"


def _wrap(request, status, headers):  # type: ignore[no-untyped-def]
    answer = _Answer(request, None)
    answer.status_code, answer.headers, answer.reason = status, dict(headers), "x"
    answer.content_type = "application/json"
    return answer


def _send(method: str, script: list[int], headers: dict[str, str] | None = None) -> tuple[int, int]:
    transport = ScriptedTransport(script, headers)
    client = PipelineClient("https://arm.invalid", transport=transport, policies=[retry_policy(backoff_factor=0)])
    response = client.send_request(HttpRequest(method, "https://arm.invalid/x"))
    return response.status_code, transport.sent


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr("time.sleep", lambda _s: None)  # Retry-After and backoff: not waited for in a unit test
    yield


def test_idempotent_requests_get_every_configured_retry_not_azure_cores_three() -> None:
    assert _send("PUT", [503] * RETRY_TOTAL + [200]) == (200, RETRY_TOTAL + 1)
    assert _send("GET", [500] * (RETRY_TOTAL + 3)) == (500, RETRY_TOTAL + 1)  # then the caller sees the error


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_an_action_answered_5xx_is_never_resent_blindly(status: int) -> None:
    assert _send("POST", [status, 202]) == (status, 1)
    assert _send("POST", [status, 202], {"Retry-After": "0"}) == (status, 1)  # not even when told to retry
    assert _send("PATCH", [status, 200]) == (status, 1)


def test_a_throttled_action_is_retried_it_was_not_processed() -> None:
    assert _send("POST", [429, 429, 202], {"Retry-After": "0"}) == (202, 3)
    assert _send("POST", [429, 202]) == (202, 2)


def test_transient_errors_are_told_from_refusals() -> None:
    def error(status: int) -> HttpResponseError:
        exc = HttpResponseError(message="x")
        exc.status_code = status
        return exc

    assert all(is_transient(error(s)) for s in (408, 429, 500, 503, 504))
    assert not any(is_transient(error(s)) for s in (400, 403, 404, 409))
    assert is_transient(ServiceRequestError("connection refused"))
