"""Fault injection: what Azure does on a bad day, on demand.

Retries and back-off are only tested if the failures happen. A request rule matches method + path
regex and answers (``count`` times, or always) with a throttle (429 + ``Retry-After``), a server
error (5xx), or added latency before the real answer. An operation rule fails long-running jobs by
kind (e.g. ``failover``) when they complete. Allocation failures live in the compute capacity model
(``ComputeBackend.set_capacity``), because they depend on the PPG and VM size, not on the URL.

An async-refusal rule makes the next matching Site Recovery writes do what Azure does with many of its
validations: answer 202 as usual, then fail the job (with a numeric code, 45005 by default, as
hashicorp/terraform-provider-azurerm#31927 quotes) without applying the write. A write that starts no job
(a synchronous refusal, an idempotent enable) does not consume the rule.

A request rule with ``after_apply`` (admin field ``afterApply``) lets the request through: it is served
normally (the state changes, the job starts), then the client gets the injected 5xx instead of the real
answer. That is a front door or gateway timing out after the backend accepted the write (ARM's 504
``GatewayTimeout`` while the resource provider completes): a fault-injection choice, not a recorded Azure
exchange. The request log keeps what really happened beside the status the client saw (``applied``,
``appliedStatus``); :meth:`FaultRegistry.applied_note` looks it up for the admin API.
"""

from __future__ import annotations

import re
import threading
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

from emulator.errors import ArmError
from emulator.operations import Operation


@dataclass
class RequestFault:
    """One request rule; ``remaining`` None means unlimited."""

    method: str
    path: re.Pattern[str]
    status: int | None = None
    code: str = ""
    message: str = ""
    retry_after: int | None = None
    latency_ms: int = 0
    remaining: int | None = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hits: int = 0
    #: Serve the request first, then answer with the injected status (a gateway 5xx after the backend applied it).
    after_apply: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method not in ("*", method.upper()):
            return False
        return self.path.search(path) is not None

    def error(self) -> ArmError | None:
        if self.status is None:
            return None
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        code = self.code or _default_code(self.status)
        message = self.message or f"Injected fault: {code}."
        return ArmError(self.status, code, message, headers=headers)

    def describe(self) -> dict[str, Any]:
        described = {
            "id": self.id,
            "kind": "request",
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "code": self.code,
            "retryAfter": self.retry_after,
            "latencyMs": self.latency_ms,
            "remaining": self.remaining,
            "hits": self.hits,
        }
        if self.after_apply:  # only then: rules without it describe themselves exactly as before
            described["afterApply"] = True
        return described


@dataclass
class OperationFault:
    """Fail long-running operations whose kind matches ``kind`` (regex) when they complete."""

    kind: re.Pattern[str]
    code: str = "InternalError"
    message: str = "Injected operation failure."
    status: int = 500
    remaining: int | None = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hits: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "operation",
            "operationKind": self.kind.pattern,
            "code": self.code,
            "message": self.message,
            "remaining": self.remaining,
            "hits": self.hits,
        }


@dataclass
class AsyncRefusalFault:
    """Fail the job of the next ``remaining`` Site Recovery writes matching method + path (a 202, then Failed)."""

    method: str
    path: re.Pattern[str]
    code: str = "45005"
    message: str = "Protection couldn't be enabled for the virtual machine."
    remaining: int | None = 1
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method not in ("*", method.upper()):
            return False
        return self.path.search(path) is not None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": "asyncRefusal",
            "method": self.method,
            "path": self.path.pattern,
            "code": self.code,
            "message": self.message,
            "remaining": self.remaining,
            "hits": self.hits,
        }


def _default_code(status: int) -> str:
    return {
        429: "TooManyRequests",
        500: "InternalServerError",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status, "InjectedFault")


class FaultRegistry:
    """All active fault rules; thread-safe because the HTTP layer consults it outside the state lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RequestFault] = []
        self._operations: list[OperationFault] = []
        self._refusals: list[AsyncRefusalFault] = []
        # id(logged request) -> (weak reference to it, the status the emulator really answered). Weak, so the
        # note goes when the request log drops the entry (cleared, reset or rotated) and an id is never reused.
        self._applied: dict[int, tuple[weakref.ref[Any], int]] = {}

    def add_request_fault(
        self,
        *,
        path: str = ".*",
        method: str = "*",
        status: int | None = None,
        code: str = "",
        message: str = "",
        retry_after: int | None = None,
        latency_ms: int = 0,
        count: int | None = 1,
        after_apply: bool = False,
    ) -> RequestFault:
        if status is None and latency_ms <= 0:
            raise ValueError("a request fault needs a status, a latency, or both")
        if status is not None and not 400 <= status <= 599:
            raise ValueError("a fault status must be 4xx or 5xx")
        if after_apply and (status is None or not 500 <= status <= 599):
            raise ValueError("afterApply needs a 5xx status: the answer a gateway gives after the backend applied the request")
        if status == 429 and retry_after is None:
            retry_after = 1
        rule = RequestFault(
            method=method.upper(),
            path=re.compile(path, re.IGNORECASE),
            status=status,
            code=code,
            message=message,
            retry_after=retry_after,
            latency_ms=latency_ms,
            remaining=count,
            after_apply=after_apply,
        )
        with self._lock:
            self._requests.append(rule)
        return rule

    def add_operation_fault(
        self, *, kind: str, code: str = "InternalError", message: str = "Injected operation failure.", count: int | None = 1
    ) -> OperationFault:
        rule = OperationFault(kind=re.compile(kind, re.IGNORECASE), code=code, message=message, remaining=count)
        with self._lock:
            self._operations.append(rule)
        return rule

    def add_async_refusal(
        self, *, path: str = ".*", method: str = "*", code: str, message: str, count: int | None = 1
    ) -> AsyncRefusalFault:
        if not code.isdigit():
            raise ValueError("an async refusal's code is numeric, as Azure's job error codes are (e.g. '45005')")
        if method.upper() not in ("*", "PUT", "PATCH", "POST", "DELETE"):
            raise ValueError("an async refusal matches writes: method '*', PUT, PATCH, POST or DELETE")
        rule = AsyncRefusalFault(
            method=method.upper(), path=re.compile(path, re.IGNORECASE), code=code, message=message, remaining=count
        )
        with self._lock:
            self._refusals.append(rule)
        return rule

    def take_async_refusal(self, method: str, path: str) -> AsyncRefusalFault | None:
        """The first matching async-refusal rule, counted as used (``give_back`` if no job started)."""
        with self._lock:
            for rule in self._refusals:
                if rule.matches(method, path):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def give_back(self, rule: AsyncRefusalFault) -> None:
        """Undo ``take_async_refusal`` for a write that started no job."""
        with self._lock:
            rule.hits -= 1
            if rule.remaining is not None:
                rule.remaining += 1

    def take_request_fault(self, method: str, path: str) -> RequestFault | None:
        """The first matching rule, consumed once (its count decremented)."""
        with self._lock:
            for rule in self._requests:
                if rule.matches(method, path):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def note_applied(self, entry: object, real_status: int) -> None:
        """Remember, for one logged request of an after-apply rule, the status the emulator really answered."""
        key = id(entry)

        def forget(_: object, key: int = key) -> None:
            # Runs while the entry is being freed, perhaps in a thread holding ``_lock``: no lock here
            # (one dict pop is atomic), and the id cannot be reused before this ran.
            self._applied.pop(key, None)

        with self._lock:
            self._applied[key] = (weakref.ref(entry, forget), real_status)

    def applied_note(self, entry: object) -> dict[str, Any]:
        """``{"applied", "appliedStatus"}`` for a logged request an after-apply rule answered, ``{}`` otherwise.

        ``applied`` is whether the real answer was a success (2xx/3xx): the write took effect in the emulator
        although the client saw the injected 5xx.
        """
        with self._lock:
            found = self._applied.get(id(entry))
        if found is None or found[0]() is not entry:
            return {}
        return {"applied": found[1] < 400, "appliedStatus": found[1]}

    def operation_failure(self, op: Operation) -> ArmError | None:
        """The ``Operations.failure_hook``: an error for a completing operation, or None."""
        with self._lock:
            for rule in self._operations:
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if rule.kind.search(op.kind):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return ArmError(rule.status, rule.code, rule.message)
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return (
                [r.describe() for r in self._requests]
                + [r.describe() for r in self._operations]
                + [r.describe() for r in self._refusals]
            )

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._operations.clear()
            self._refusals.clear()
