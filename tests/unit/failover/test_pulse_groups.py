"""The pulse advances groups side by side: each under its own lease, one failing never stalls the others, notes
in listing order. Pure orchestration: the lease store and the steps are fakes (the e2e failover tests run it for
real against Azurite and the emulator)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from shared.failover import engine
from shared.failover.workflow_state import Workflow, WorkflowConflict


@dataclass
class FakeLeases:
    """Leases by group: ``taken`` are held by another instance; ``released`` records what was given back."""

    taken: set[str] = field(default_factory=set)
    released: list[str] = field(default_factory=list)
    holders: dict[str, str] = field(default_factory=dict)

    def acquire_lease(self, group: str, holder: str, ttl: int) -> Any:
        if group in self.taken:
            return None
        self.holders[group] = threading.current_thread().name
        return SimpleNamespace(group=group)

    def release_lease(self, lease: Any) -> bool:
        self.released.append(lease.group)
        return True


def _ctx(leases: FakeLeases) -> Any:
    return SimpleNamespace(store=leases, holder="me", settings=SimpleNamespace(lease_seconds=120))


def _workflows(*groups: str) -> list[Workflow]:
    return [Workflow(group=g, id=f"wf-{g}", kind="failover", phase="failover") for g in groups]


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[Workflow]:
    workflows = _workflows("g1", "g2", "g3", "g4")
    monkeypatch.setattr(engine, "all_workflows", lambda ctx: list(workflows))
    monkeypatch.setattr(engine, "load_workflow", lambda ctx, group: next(w for w in workflows if w.group == group))
    return workflows


def test_groups_advance_at_the_same_time(listed: list[Workflow], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every group's step is in flight at once: a barrier all four must reach together would time out otherwise."""
    barrier = threading.Barrier(len(listed), timeout=5)

    def advance(ctx: Any, wf: Workflow) -> list[str]:
        barrier.wait()
        return [f"{wf.group}: failover -> verify"]

    monkeypatch.setattr(engine, "advance", advance)
    leases = FakeLeases()
    notes = engine.advance_all(_ctx(leases))
    assert notes == [f"g{i}: failover -> verify" for i in range(1, 5)]  # listing order, not finishing order
    assert sorted(leases.released) == ["g1", "g2", "g3", "g4"]
    assert len(set(leases.holders.values())) == 4


def test_one_group_failing_or_leased_elsewhere_never_stalls_the_others(
    listed: list[Workflow], monkeypatch: pytest.MonkeyPatch
) -> None:
    def advance(ctx: Any, wf: Workflow) -> list[str]:
        if wf.group == "g1":
            raise RuntimeError("boom")
        if wf.group == "g2":
            raise WorkflowConflict("g2: changed by another instance")
        return [f"{wf.group}: advanced"]

    monkeypatch.setattr(engine, "advance", advance)
    leases = FakeLeases(taken={"g3"})
    notes = engine.advance_all(_ctx(leases))
    assert notes == [
        "g1: failover failed (retried on the next pulse)",
        "g2: changed by another instance",
        "g3: another instance holds the lease",
        "g4: advanced",
    ]
    assert sorted(leases.released) == ["g1", "g2", "g4"]  # every lease taken is given back, the failed one too


def test_a_lease_store_error_is_a_note_not_a_lost_pulse(listed: list[Workflow], monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(FakeLeases):
        def acquire_lease(self, group: str, holder: str, ttl: int) -> Any:
            if group == "g2":
                raise ConnectionError("table unreachable")
            return super().acquire_lease(group, holder, ttl)

    monkeypatch.setattr(engine, "advance", lambda ctx, wf: [f"{wf.group}: advanced"])
    notes = engine.advance_all(_ctx(Broken()))
    assert notes == ["g1: advanced", "g2: failover failed (retried on the next pulse)", "g3: advanced", "g4: advanced"]
