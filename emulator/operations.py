"""Long-running operations on the emulator clock.

ARM answers a long write with ``202`` and URLs to poll; the work finishes later. Here an operation is
started with a duration and a completion callback; :meth:`Operations.advance` (called before every
request is served) completes every operation whose time has come, in order. The callback does the
state change (e.g. the failed-over VMs appear) so state is consistent with the operation status the
SDK observes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from emulator.clock import Clock, iso
from emulator.errors import ArmError

IN_PROGRESS = "InProgress"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
CANCELED = "Canceled"

FailureHook = Callable[["Operation"], ArmError | None]


@dataclass
class Operation:
    """One long-running operation; ``kind`` names it for fault injection and the request log."""

    id: str
    kind: str
    started: datetime
    due: datetime
    on_complete: Callable[[], Any] | None = None
    status: str = IN_PROGRESS
    ended: datetime | None = None
    error: ArmError | None = None
    result: Any = None
    context: dict[str, Any] = field(default_factory=dict)
    #: Fail with this error when due, without running ``on_complete`` (a refusal Azure makes inside a job).
    forced_error: ArmError | None = None

    @property
    def done(self) -> bool:
        return self.status != IN_PROGRESS

    def status_body(self) -> dict[str, Any]:
        """The body of an ``Azure-AsyncOperation`` poll, as ARM returns it."""
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.id,
            "status": self.status,
            "startTime": iso(self.started),
        }
        if self.ended is not None:
            body["endTime"] = iso(self.ended)
        if self.error is not None:
            body["error"] = self.error.body()["error"]
        return body


class Operations:
    """All operations of one emulator; completion is driven by the clock, never by a thread."""

    def __init__(self, clock: Clock, failure_hook: FailureHook | None = None) -> None:
        self._clock = clock
        self._ops: dict[str, Operation] = {}
        self.failure_hook = failure_hook

    def start(
        self,
        kind: str,
        duration_s: float,
        on_complete: Callable[[], Any] | None = None,
        *,
        op_id: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> Operation:
        now = self._clock.now()
        op = Operation(
            id=op_id or str(uuid.uuid4()),
            kind=kind,
            started=now,
            due=now + timedelta(seconds=duration_s),
            on_complete=on_complete,
            context=context or {},
        )
        self._ops[op.id.lower()] = op
        if duration_s <= 0:
            self.advance()
        return op

    def get(self, op_id: str) -> Operation | None:
        return self._ops.get(op_id.lower())

    def all(self) -> list[Operation]:
        return list(self._ops.values())

    def advance(self) -> list[Operation]:
        """Complete every operation that is due; returns the ones completed now."""
        now = self._clock.now()
        due = sorted((op for op in self._ops.values() if not op.done and op.due <= now), key=lambda o: o.due)
        for op in due:
            self._complete(op)
        return due

    def _complete(self, op: Operation) -> None:
        op.ended = op.due
        if op.forced_error is not None:
            op.status, op.error = FAILED, op.forced_error
            return
        injected = self.failure_hook(op) if self.failure_hook else None
        if injected is not None:
            op.status, op.error = FAILED, injected
            return
        try:
            op.result = op.on_complete() if op.on_complete else None
            op.status = SUCCEEDED
        except ArmError as exc:
            op.status, op.error = FAILED, exc

    def reset(self) -> None:
        self._ops.clear()
