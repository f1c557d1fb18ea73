"""A group's DR workflow as stored: the state machine's data, its persistence and the group lease.

One current workflow per group, in Table storage. The pulse advances it one step at a time under the
group's lease; a crash at any point leaves the last saved phase for the next pulse to continue from.
The phases themselves are in :mod:`shared.failover.phases` and :mod:`shared.failover.placement`, the
engine that runs them in :mod:`shared.failover.engine`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from shared.arm.keys import name_key
from shared.context import AppContext
from shared.failover.refusals import WorkflowRefused
from shared.state import vm_status as st
from shared.state.group_records import GroupState
from shared.state.store import WORKFLOWS, Record

FAILOVER = "failover"
FAILBACK = "failback"
# Recovery points a recovery plan failover can target (RecoveryPlanA2AFailoverInput.recovery_point_type).
RECOVERY_POINT_TYPES = ("LatestProcessed", "Latest", "LatestApplicationConsistent", "LatestCrashConsistent")
DONE = "done"
BLOCKED = GroupState.BLOCKED.value  # a workflow phase and a group state: the workflow stopped on an error


@dataclass
class Workflow:
    group: str
    id: str
    kind: str
    phase: str = "plan"
    direction: str = "PrimaryToRecovery"
    source_region: str = ""
    target_region: str = ""
    job: str = ""
    next_phase: str = ""
    jobs: dict[str, str] = field(default_factory=dict)
    decision_id: str = ""
    reason: str = ""
    repair: bool = False
    repair_stage: str = ""
    repaired: bool = False
    require_all_running: bool = False
    force_commit: bool = False
    recovery_point: str = "LatestProcessed"
    placement: list[dict[str, Any]] = field(default_factory=list)
    source_shutdown: str = ""
    error: str = ""
    suggestion: str = ""
    started: str = ""
    finished: str = ""
    history: list[str] = field(default_factory=list)
    job_history: list[dict[str, str]] = field(default_factory=list)  # {"phase", "job"}: for the report
    retries: int = 0  # transient errors of the current step so far
    retry_at: str = ""  # the current step is tried again after this time
    sending: str = ""  # the phase whose ASR action an instance is sending right now (see claim_send)
    sending_by: str = ""
    sending_at: str = ""
    etag: str = field(default="", compare=False)  # of the stored record it was read from (not stored)

    @property
    def active(self) -> bool:
        return self.phase not in (DONE, BLOCKED)

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("etag")
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Workflow:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class WorkflowConflict(RuntimeError):
    """The stored workflow changed since it was read: another instance advanced it; this one stops."""


class SendInFlight(RuntimeError):
    """Another instance claimed this step's ASR action and may be sending it now: this one waits."""


def claim_window_seconds(lease_seconds: int) -> int:
    """How long a claim to send stands: longer than a lease, so an instance whose clock runs ahead (or that took
    an expired lease from a slow step) still waits; then the step looks at Azure again and sends only if Azure
    shows nothing happened (the claimer died before sending)."""
    return max(3 * lease_seconds, 300)


def claim_send(ctx: AppContext, wf: Workflow) -> None:
    """Claim the step's non-idempotent ASR action (failover, commit, switch protection) before sending it.

    Two instances can read the same workflow (a lease that expired during slow reads, a clock that runs ahead):
    the lease alone cannot keep them from both sending. The claim is a compare-and-swap on the workflow
    (its ETag): of two instances that read one version only one claim succeeds, the other gets
    :class:`WorkflowConflict`; an instance that reads the claimed version waits (:class:`SendInFlight`) until the
    claimer saved the job, or the claim window passed. Every send is preceded by it; the engine clears it once
    the step returned (sent, refused or failed).
    """
    now = ctx.store.now()
    if wf.sending == wf.phase and wf.sending_by and wf.sending_by != ctx.holder and wf.sending_at:
        age = (now - datetime.fromisoformat(wf.sending_at)).total_seconds()
        if age < claim_window_seconds(ctx.settings.lease_seconds):
            raise SendInFlight(f"group {wf.group}: another instance is sending {wf.phase} (claimed {int(age)} s ago)")
    wf.sending, wf.sending_by, wf.sending_at = wf.phase, ctx.holder, now.isoformat()
    save_workflow(ctx, wf)


def clear_send_claim(wf: Workflow) -> None:
    wf.sending = wf.sending_by = wf.sending_at = ""


def _from_record(record: Record) -> Workflow:
    wf = Workflow.from_data(record.data)
    wf.etag = record.etag or ""
    return wf


def load_workflow(ctx: AppContext, group: str) -> Workflow | None:
    record = ctx.store.get(WORKFLOWS, "group", name_key(group))
    return _from_record(record) if record else None


def all_workflows(ctx: AppContext) -> list[Workflow]:
    return [_from_record(r) for r in ctx.store.query(WORKFLOWS, partition="group")]


def save_workflow(ctx: AppContext, wf: Workflow, note: str | None = None) -> None:
    """Write the workflow; a workflow read from the store is written only if nobody changed it since (ETag).

    :class:`WorkflowConflict` when someone did: two instances never both think they own a step.
    """
    if note:
        wf.history = [*wf.history, f"{ctx.store.now().isoformat(timespec='seconds')} {note}"][-40:]
    data = wf.to_data()
    columns = {"phase": wf.phase}
    if wf.etag:
        written = ctx.store.replace_if_unchanged(WORKFLOWS, Record("group", name_key(wf.group), {}, wf.etag), data, **columns)
        if written is None:
            raise WorkflowConflict(f"group {wf.group}: the workflow changed since it was read; another instance advances it")
    else:
        # A new workflow: most groups have none stored yet, so create it (one request) before a read-modify-write.
        written = ctx.store.insert(WORKFLOWS, "group", name_key(wf.group), data, **columns)
        if written is None:
            written = ctx.store.update(WORKFLOWS, "group", name_key(wf.group), lambda _: data, columns=lambda _: columns)
    wf.etag = (written.etag if written else "") or ""


@contextmanager
def group_lease(ctx: AppContext, group: str) -> Iterator[None]:
    """Hold the group's lease while changing its workflow (pulse and operators never interleave)."""
    lease = ctx.store.acquire_lease(group, ctx.holder, ctx.settings.lease_seconds)
    if lease is None:
        raise WorkflowRefused(f"group {group} is being advanced right now; try again in a minute")
    try:
        yield
    finally:
        ctx.store.release_lease(lease)


# A workflow step reads its group's statuses once: a step consults them several times (members, group,
# placement), and each read is one query on the group column, whatever the size of the estate. Outside a step
# (an operator's command, a decision): read the group's slice fresh.
_step_statuses: ContextVar[tuple[str, list[st.VmStatus]] | None] = ContextVar("ppgdr_step_statuses", default=None)


@contextmanager
def step_statuses(ctx: AppContext, group: str) -> Iterator[None]:
    """Read ``group``'s statuses once for the duration of one workflow step."""
    token = _step_statuses.set((group.lower(), st.group_statuses(ctx.store, group)))
    try:
        yield
    finally:
        _step_statuses.reset(token)


def group_statuses(ctx: AppContext, group: str) -> list[st.VmStatus]:
    """The statuses of ``group``'s VMs: the step's read when inside a step of that group, else one query."""
    cached = _step_statuses.get()
    if cached is not None and cached[0] == group.lower():
        return cached[1]
    return st.group_statuses(ctx.store, group)


def members(ctx: AppContext, group: str) -> list[st.VmStatus]:
    """The group's members that have a replicated item (what its workflow acts on)."""
    return [s for s in group_statuses(ctx, group) if s.group.lower() == group.lower() and s.item_name]
