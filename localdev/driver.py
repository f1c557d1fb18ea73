"""Drive ppg-dr locally the way Azure would: tag writes, event delivery, clock and timers.

Shared by the demo and the end-to-end tests, so both tell the same story through the same calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localdev import estate as est
from localdev.runner import LocalRunner
from shared.context import AppContext
from shared.state.vm_status import VmStatus, all_statuses


class Driver:
    """Tags resources, lets events reach the functions, moves emulated time and fires the pulse."""

    def __init__(self, runner: LocalRunner, ctx: AppContext, *, progress: Callable[[str], None] | None = None) -> None:
        self.runner = runner
        self.ctx = ctx
        self.progress = progress

    def tag(self, resource_id: str, tags: dict[str, str], operation: str = "Merge") -> None:
        est.tag(self.ctx.clients, resource_id, tags, operation=operation)

    def statuses(self) -> dict[str, VmStatus]:
        return {s.vm_name: s for s in all_statuses(self.ctx.store)}

    def states(self) -> dict[str, str]:
        return {name: s.state for name, s in self.statuses().items()}

    def settle(self, done: Callable[[], bool], *, label: str, step_seconds: float = 60, max_rounds: int = 60) -> int:
        """Deliver events, advance the emulator clock and fire the pulse until ``done()``; returns rounds."""
        for round_no in range(1, max_rounds + 1):
            self.runner.drain()
            if done():
                return round_no
            self.runner.advance(step_seconds)
            self.runner.fire_timer("pulse")
            if self.progress is not None and round_no % 5 == 0:
                self.progress(f"... {label}: {round_no * step_seconds / 60:.0f} emulated minutes")
        raise AssertionError(f"{label}: not done after {max_rounds} rounds; states: {self.states()}")

    def arm_requests(self) -> list[dict[str, Any]]:
        value: list[dict[str, Any]] = self.runner.admin("GET", "/_emulator/requests").json()["value"]
        return value
