"""Drills as stored: one record per drill (history) and which drill of a group is in flight.

A drill is a small state machine like a failover workflow: the timer or an operator starts it, the pulse
advances it, and a crash at any point leaves the last saved phase for the next pulse. Records are kept
per group, row keys sortable by start time, so a group's history reads in order and the dashboard can
draw its RTO/RPO trend.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from shared.arm.keys import encode_key, name_key
from shared.state.store import DRILLS, StateStore

# Phases, in order. A drill always passes through "cleanup" once test VMs may exist.
STARTING = "starting"
TEST_FAILOVER = "test-failover"
VALIDATE = "validate"
CLEANUP = "cleanup"
DONE = "done"
ACTIVE_PHASES = (STARTING, TEST_FAILOVER, VALIDATE, CLEANUP)

PASSED = "passed"
FAILED = "failed"


@dataclass
class DrillRecord:
    id: str
    group: str
    trigger: str  # "schedule", "operator"
    requested_by: str
    phase: str = STARTING
    started: str = ""
    deadline: str = ""
    finished: str = ""
    source_region: str = ""
    target_region: str = ""
    recovery_plan: str = ""
    test_network_id: str = ""
    job: str = ""  # the job in flight (test failover, then cleanup)
    test_failover_job: str = ""
    cleanup_job: str = ""
    cleanup_attempts: int = 0
    validated: str = ""  # when the test VMs were checked
    verdict: str = ""  # passed / failed (set when done)
    cleaned_up: bool = False
    rto_seconds: float | None = None
    rpo_seconds: float | None = None
    cleanup_seconds: float | None = None
    rto_target_seconds: int = 0
    rpo_target_seconds: int = 0
    placement: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)  # per VM: {"vm", "steps": [{name, start, end, state}]}
    probes: list[dict[str, Any]] = field(default_factory=list)  # {"endpoint", "ok", "detail"}
    problems: list[str] = field(default_factory=list)
    cleanup_reason: str = ""
    history: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE_PHASES

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> DrillRecord:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def save_drill(store: StateStore, drill: DrillRecord, note: str | None = None) -> None:
    """Write the drill (its group's partition, its id as row key), with a timestamped note in its history."""
    if note:
        drill.history = [*drill.history, f"{store.now().isoformat(timespec='seconds')} {note}"][-60:]
    data = drill.to_data()
    store.update(
        DRILLS,
        name_key(drill.group),
        encode_key(drill.id),
        lambda _: data,
        columns=lambda d: {"phase": d["phase"], "group": d["group"]},
    )


def get_drill(store: StateStore, drill_id: str) -> DrillRecord | None:
    """A drill by id (ids are unique across groups)."""
    for record in store.query(DRILLS, where="RowKey eq @id", parameters={"id": encode_key(drill_id)}):
        return DrillRecord.from_data(record.data)
    return None


def list_drills(store: StateStore, group: str | None = None) -> list[DrillRecord]:
    """Drills, oldest first (one group's, or all)."""
    records = store.query(DRILLS, partition=name_key(group)) if group else store.query(DRILLS)
    return sorted((DrillRecord.from_data(r.data) for r in records), key=lambda d: (d.started, d.id))


def active_drills(store: StateStore) -> list[DrillRecord]:
    where = " or ".join(f"phase eq @p{i}" for i in range(len(ACTIVE_PHASES)))
    params = {f"p{i}": phase for i, phase in enumerate(ACTIVE_PHASES)}
    return [DrillRecord.from_data(r.data) for r in store.query(DRILLS, where=where, parameters=params)]


def active_drill(store: StateStore, group: str) -> DrillRecord | None:
    """The group's drill in flight, if any (at most one: drills take the group lease to start)."""
    where = " or ".join(f"phase eq @p{i}" for i in range(len(ACTIVE_PHASES)))
    params = {f"p{i}": phase for i, phase in enumerate(ACTIVE_PHASES)}
    found = [
        DrillRecord.from_data(r.data) for r in store.query(DRILLS, partition=name_key(group), where=where, parameters=params)
    ]
    return found[0] if found else None


def request_cleanup(store: StateStore, group: str, reason: str) -> DrillRecord | None:
    """Ask the group's drill in flight to clean up now (a real failover was decided); the pulse carries it out."""
    drill = active_drill(store, group)
    if drill is None or drill.cleanup_reason:
        return drill
    drill.cleanup_reason = reason
    drill.problems.append(f"stopped: {reason}")
    if drill.phase in (TEST_FAILOVER, VALIDATE) and not drill.job:
        drill.phase = CLEANUP
    save_drill(store, drill, f"cleanup requested: {reason}")
    return drill
