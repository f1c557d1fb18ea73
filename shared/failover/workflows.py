"""The group DR lifecycle: failover, verify placement, commit, repair, reprotect, failback.

A workflow is a small state machine persisted in Table storage (one current workflow per group) and
advanced by the pulse timer, one step at a time, under the group's lease. A step either starts an
ASR job (kept in the workflow; polled on the next pulse) or does a quick read; nothing waits for a
long-running operation, so a crash at any point leaves a workflow the next pulse continues from its
last saved phase. Every decision and outcome goes to the group's audit trail.

Failover:  plan -> failover -> verify -> commit -> [repair] -> reprotect -> replicating-back -> done
Failback:  failover (RecoveryToPrimary; the plan follows its items) -> verify -> commit -> reprotect -> replicating -> done
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shared.arm.ids import parse_resource_id
from shared.arm.keys import name_key, normalize_arm_id
from shared.context import AppContext
from shared.failover.groups import Group, groups_from_statuses, placement_order, recovery_plan_name
from shared.failover.recovery_plans import sync_plan
from shared.failover.refusals import NotFound, WorkflowRefused
from shared.platform.clients import start_operation
from shared.platform.observed import text
from shared.protection.vault import container_name, fabric_name
from shared.state import vm_status as st
from shared.state.store import AUDIT, GROUPS, WORKFLOWS

log = logging.getLogger(__name__)

# Group states (what the operator sees).
PROTECTED = "protected"
FAILING_OVER = "failing-over"
REPROTECTED = "reprotected"
FAILING_BACK = "failing-back"
BLOCKED = "blocked"

FAILOVER = "failover"
FAILBACK = "failback"
# Recovery points a recovery plan failover can target (RecoveryPlanA2AFailoverInput.recovery_point_type).
RECOVERY_POINT_TYPES = ("LatestProcessed", "Latest", "LatestApplicationConsistent", "LatestCrashConsistent")
DONE = "done"


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

    @property
    def active(self) -> bool:
        return self.phase not in (DONE, BLOCKED)

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Workflow:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# --------------------------------------------------------------------------------------------- storage


def audit(ctx: AppContext, group: str, event: str, message: str, **details: Any) -> None:
    """Append to the group's audit trail (decisions, approvals, refusals, steps, placement)."""
    now = ctx.store.now()
    row = f"{now.strftime('%Y%m%dT%H%M%S.%f')}-{uuid.uuid4().hex[:6]}"
    ctx.store.put(AUDIT, name_key(group), row, {"time": now.isoformat(), "event": event, "message": message, **details})
    log.info("audit %s %s: %s", group, event, message, extra={"group": group, "step": event})


def audit_trail(ctx: AppContext, group: str) -> list[dict[str, Any]]:
    return [r.data for r in ctx.store.query(AUDIT, partition=name_key(group))]


def load_workflow(ctx: AppContext, group: str) -> Workflow | None:
    record = ctx.store.get(WORKFLOWS, "group", name_key(group))
    return Workflow.from_data(record.data) if record else None


def save_workflow(ctx: AppContext, wf: Workflow, note: str | None = None) -> None:
    if note:
        wf.history = [*wf.history, f"{ctx.store.now().isoformat(timespec='seconds')} {note}"][-40:]
    data = wf.to_data()
    ctx.store.update(WORKFLOWS, "group", name_key(wf.group), lambda _: data, columns=lambda d: {"phase": d["phase"]})


def group_record(ctx: AppContext, group: str) -> dict[str, Any]:
    record = ctx.store.get(GROUPS, "group", name_key(group))
    return dict(record.data) if record else {"name": group, "state": PROTECTED, "recovery_vm_ids": []}


def set_group(ctx: AppContext, group: str, **changes: Any) -> dict[str, Any]:
    def mutate(data: dict[str, Any] | None) -> dict[str, Any] | None:
        current = dict(data or {"name": group, "state": PROTECTED, "recovery_vm_ids": []})
        updated = {**current, **changes}
        return None if updated == current else updated

    record = ctx.store.update(GROUPS, "group", name_key(group), mutate, columns=lambda d: {"state": d.get("state", "")})
    return dict(record.data) if record else group_record(ctx, group)


def all_group_records(ctx: AppContext) -> dict[str, dict[str, Any]]:
    return {r.row: r.data for r in ctx.store.query(GROUPS, partition="group")}


def locked_vm_ids(ctx: AppContext) -> dict[str, str]:
    """VM ids (source and recovery) the group workflows own: the per-VM reconcile leaves them alone."""
    locked: dict[str, str] = {}
    for data in all_group_records(ctx).values():
        state = data.get("state", PROTECTED)
        for vm_id in data.get("recovery_vm_ids", []):
            locked[normalize_arm_id(vm_id)] = f"recovery VM of group {data.get('name')}"
        if state != PROTECTED:
            for vm_id in data.get("member_vm_ids", []):
                locked[normalize_arm_id(vm_id)] = f"group {data.get('name')} is {state}"
    return locked


# The VM statuses read once per workflow step: a step consults them several times (members, group,
# placement), and reading the whole table each time grows with the estate. Outside a step: read fresh.
_step_statuses: ContextVar[list[st.VmStatus] | None] = ContextVar("ppgdr_step_statuses", default=None)


def _statuses(ctx: AppContext) -> list[st.VmStatus]:
    cached = _step_statuses.get()
    return cached if cached is not None else st.all_statuses(ctx.store)


# ------------------------------------------------------------------------------------------- starting


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


def current_group(ctx: AppContext, name: str) -> Group:
    groups = groups_from_statuses(_statuses(ctx))
    found = groups.get(name.lower())
    if found is None:
        raise NotFound(f"unknown group {name!r}: `ppgdr groups` lists the DR groups")
    return found


def known_group(ctx: AppContext, name: str) -> str | None:
    """The group's name as stored, when ppg-dr knows it: it has members now, a record, or an audit trail."""
    group = groups_from_statuses(_statuses(ctx)).get(name.strip().lower())
    if group is not None:
        return group.name
    record = ctx.store.get(GROUPS, "group", name_key(name)) if name.strip() else None
    if record is not None:
        return str(record.data.get("name") or name)
    if name.strip() and next(iter(ctx.store.query(AUDIT, partition=name_key(name))), None) is not None:
        return name
    return None


def require_group(ctx: AppContext, name: str) -> str:
    """:func:`known_group`, or :class:`NotFound` naming the group."""
    found = known_group(ctx, name)
    if found is None:
        raise NotFound(f"unknown group {name!r}: `ppgdr groups` lists the DR groups")
    return found


def _failover_refusal(ctx: AppContext, group: Group, decision_id: str) -> Workflow | None:
    """Refuse a failover the group cannot take now; the running workflow when it is this decision's."""
    existing = load_workflow(ctx, group.name)
    if existing is not None and existing.active:
        if decision_id and existing.decision_id == decision_id:
            return existing  # the same decision delivered twice: one failover
        raise WorkflowRefused(f"group {group.name} already has a {existing.kind} in phase {existing.phase}")
    record = group_record(ctx, group.name)
    if record.get("state", PROTECTED) != PROTECTED:
        raise WorkflowRefused(f"group {group.name} is {record.get('state')}, not protected: it cannot fail over now")
    not_ready = [m.vm_name for m in group.members if m.state != st.PROTECTED]
    if not_ready:
        raise WorkflowRefused(
            f"group {group.name}: {', '.join(not_ready)} not protected yet (initial replication or refused); "
            "a group fails over only as a whole"
        )
    if ctx.settings.target_region(group.source_region) is None:
        raise WorkflowRefused(f"no DR region is paired with {group.source_region}")
    return None


def preview_failover(
    ctx: AppContext, name: str, *, recovery_point: str = "LatestProcessed", repair: bool = False
) -> dict[str, Any]:
    """What a failover of the group would do now, refused exactly when the real one would be. Reads only.

    The operator's dry run: the recovery plan and its boot order (anchor first), the recovery point, and
    whether the source VMs would be shut down first (they are when the source region still answers).
    """
    if recovery_point not in RECOVERY_POINT_TYPES:
        raise WorkflowRefused(f"recovery point {recovery_point!r}: use one of {', '.join(RECOVERY_POINT_TYPES)}")
    group = current_group(ctx, name)
    running = _failover_refusal(ctx, group, "")
    assert running is None
    members = [s for s in _statuses(ctx) if s.group.lower() == group.name.lower() and s.item_name]
    answers = _source_answers(ctx, members, FAILOVER)
    return {
        "group": group.name,
        "source_region": group.source_region,
        "target_region": ctx.settings.target_region(group.source_region),
        "recovery_plan": recovery_plan_name(group.name),
        "failover_direction": "PrimaryToRecovery",
        "members": [{"vm": m.vm_name, "size": m.size} for m in group.members],
        "boot_groups": [[m.vm_name for m in boot] for boot in placement_order(list(group.members))],
        "recovery_point": recovery_point,
        "source_shutdown": "Required" if answers else "NotRequired",
        "source_shutdown_reason": "the source region answers: ASR shuts the source VMs down first"
        if answers
        else "the source region does not answer: fail over without shutting it down",
        "repair": repair,
    }


def start_failover(
    ctx: AppContext,
    name: str,
    *,
    reason: str,
    decision_id: str = "",
    repair: bool = False,
    recovery_point: str = "LatestProcessed",
    dry_run: bool = False,
) -> Workflow:
    """Begin failing a protected group over to its DR region (idempotent for one decision id)."""
    if recovery_point not in RECOVERY_POINT_TYPES:
        raise WorkflowRefused(f"recovery point {recovery_point!r}: use one of {', '.join(RECOVERY_POINT_TYPES)}")
    group = current_group(ctx, name)
    with group_lease(ctx, group.name):
        return _start_failover(ctx, group, reason, decision_id, repair, recovery_point, dry_run)


def _start_failover(
    ctx: AppContext, group: Group, reason: str, decision_id: str, repair: bool, recovery_point: str, dry_run: bool
) -> Workflow:
    running = _failover_refusal(ctx, group, decision_id)
    if running is not None:
        return running
    target = ctx.settings.target_region(group.source_region)
    assert target is not None
    wf = Workflow(
        group=group.name,
        id=uuid.uuid4().hex[:12],
        kind=FAILOVER,
        direction="PrimaryToRecovery",
        source_region=group.source_region,
        target_region=target,
        decision_id=decision_id,
        reason=reason,
        repair=repair,
        recovery_point=recovery_point,
        require_all_running=ctx.settings.require_all_running,
        started=ctx.store.now().isoformat(),
    )
    if dry_run or ctx.settings.dry_run:
        audit(ctx, group.name, "dry-run", f"would fail over {len(group.members)} VMs to {target}: {reason}")
        wf.phase = DONE
        wf.reason = f"dry run: {reason}"
        return wf
    save_workflow(ctx, wf, f"failover started: {reason}")
    set_group(
        ctx,
        group.name,
        state=FAILING_OVER,
        workflow=wf.id,
        member_vm_ids=[m.vm_id for m in group.members],
        source_region=group.source_region,
        target_region=target,
    )
    audit(ctx, group.name, "failover-started", reason, workflow=wf.id, decision=decision_id)
    return wf


def start_failback(ctx: AppContext, name: str, *, reason: str, dry_run: bool = False) -> Workflow:
    """Fail a reprotected group back to its original region, restoring the original PPG placement."""
    name = require_group(ctx, name)
    with group_lease(ctx, str(group_record(ctx, name).get("name", name))):
        return _start_failback(ctx, name, reason, dry_run)


def _start_failback(ctx: AppContext, name: str, reason: str, dry_run: bool) -> Workflow:
    record = group_record(ctx, name)
    group_name = str(record.get("name", name))
    if record.get("state") != REPROTECTED:
        raise WorkflowRefused(
            f"group {group_name} is {record.get('state', PROTECTED)}: failback needs a group that failed over and "
            "finished replicating back (state reprotected)"
        )
    existing = load_workflow(ctx, group_name)
    if existing is not None and existing.active:
        raise WorkflowRefused(f"group {group_name} already has a {existing.kind} in phase {existing.phase}")
    wf = Workflow(
        group=group_name,
        id=uuid.uuid4().hex[:12],
        kind=FAILBACK,
        direction="RecoveryToPrimary",
        source_region=str(record.get("target_region")),
        target_region=str(record.get("source_region")),
        reason=reason,
        started=ctx.store.now().isoformat(),
        phase="failover",
    )
    if dry_run or ctx.settings.dry_run:
        audit(ctx, group_name, "dry-run", f"would fail back to {wf.target_region}: {reason}")
        wf.phase = DONE
        return wf
    save_workflow(ctx, wf, f"failback started: {reason}")
    set_group(ctx, group_name, state=FAILING_BACK, workflow=wf.id)
    audit(ctx, group_name, "failback-started", reason, workflow=wf.id)
    return wf


def request(ctx: AppContext, name: str, action: str, *, dry_run: bool = False) -> Workflow:
    """Operator commands on a workflow: ``commit``, ``repair``, ``reprotect``, ``resume``.

    The command is validated first (a dry run is refused exactly when the real one would be) and
    applied under the group's lease, so it cannot race a pulse that is advancing the same workflow.
    """
    name = require_group(ctx, name)
    wf = load_workflow(ctx, name)
    if wf is None:
        raise WorkflowRefused(f"group {name} has no failover workflow: nothing to {action}")
    lease = ctx.store.acquire_lease(wf.group, ctx.holder, ctx.settings.lease_seconds)
    if lease is None:
        raise WorkflowRefused(f"group {wf.group} is being advanced right now; try again in a minute")
    try:
        wf = load_workflow(ctx, name) or wf  # fresh, now that we hold the lease
        record = group_record(ctx, wf.group)
        if action == "commit":
            if not (wf.phase == BLOCKED and wf.next_phase == "commit"):
                raise WorkflowRefused(f"nothing to commit: workflow {wf.id} is in phase {wf.phase}")
            change: dict[str, Any] = {"force_commit": True, "phase": "commit"}
        elif action == "repair":
            if wf.kind != FAILOVER or (wf.active and wf.phase in ("plan", "failover")):
                raise WorkflowRefused("placement can be repaired once the group's VMs have failed over")
            if wf.active:
                change = {"repair": True}  # runs after commit, before reprotect
            elif record.get("state") == REPROTECTED:
                change = {"phase": "repair", "repair_stage": "", "next_phase": "repair-done"}
            else:
                raise WorkflowRefused(f"group {wf.group} is not running in its DR region: nothing to repair")
        elif action in ("reprotect", "resume"):
            if wf.phase != BLOCKED:
                raise WorkflowRefused(f"workflow {wf.id} is not blocked (phase {wf.phase})")
            resume_at = "reprotect" if action == "reprotect" else (wf.next_phase or "plan")
            if action == "reprotect" and wf.kind == FAILOVER and wf.next_phase in ("plan", "failover", "verify"):
                raise WorkflowRefused("reprotect needs a committed failover; `ppgdr resume GROUP` retries the failed step")
            change = {"phase": resume_at}
        else:
            raise WorkflowRefused(f"unknown action {action!r}")
        if dry_run:
            audit(ctx, wf.group, "dry-run", f"would {action} (workflow {wf.id}, phase {wf.phase})")
            return wf
        for key, value in change.items():
            setattr(wf, key, value)
        wf.error, wf.suggestion = "", ""
        if wf.phase != BLOCKED and record.get("state") in (BLOCKED, REPROTECTED):
            set_group(ctx, wf.group, state=FAILING_OVER if wf.kind == FAILOVER else FAILING_BACK)
        save_workflow(ctx, wf, f"operator asked to {action}")
        audit(ctx, wf.group, f"operator-{action}", f"{action} requested by the operator", workflow=wf.id)
        return wf
    finally:
        ctx.store.release_lease(lease)


# ------------------------------------------------------------------------------------------- advancing


def advance_all(ctx: AppContext) -> list[str]:
    """Advance every active workflow by at most one step each (called by the pulse timer)."""
    notes: list[str] = []
    for record in ctx.store.query(WORKFLOWS, partition="group"):
        wf = Workflow.from_data(record.data)
        if not wf.active:
            continue
        lease = ctx.store.acquire_lease(wf.group, ctx.holder, ctx.settings.lease_seconds)
        if lease is None:
            notes.append(f"{wf.group}: another instance holds the lease")
            continue
        try:
            notes.extend(advance(ctx, wf))
        except Exception:  # one group's failure must not stall the others; the next pulse retries it
            log.exception(
                "group %s: %s step %s failed; retrying on the next pulse",
                wf.group,
                wf.kind,
                wf.phase,
                extra={"group": wf.group, "step": wf.phase},
            )
            notes.append(f"{wf.group}: {wf.phase} failed (retried on the next pulse)")
        finally:
            ctx.store.release_lease(lease)
    return notes


def advance(ctx: AppContext, wf: Workflow, *, max_steps: int = 8) -> list[str]:
    """Run steps until one has to wait for Azure (a job in flight) or the workflow stops."""
    notes: list[str] = []
    for _ in range(max_steps):
        if not wf.active:
            break
        if wf.job or wf.jobs:
            if not _jobs_done(ctx, wf):
                break
            continue
        phase = wf.phase
        token = _step_statuses.set(st.all_statuses(ctx.store))
        try:
            _PHASES[phase](ctx, wf)
        except WorkflowRefused as exc:
            _block(ctx, wf, str(exc), exc.suggestion or "fix the cause, then `ppgdr resume GROUP`", resume_at=exc.resume_at)
        except HttpResponseError as exc:
            code = exc.error.code if exc.error is not None else str(exc.status_code)
            message = exc.error.message if exc.error is not None else str(exc)
            _block(
                ctx, wf, f"Azure refused {phase}: {code}: {message}", "check the ASR job in the vault, then `ppgdr resume GROUP`"
            )
        finally:
            _step_statuses.reset(token)
        notes.append(f"{wf.group}: {phase} -> {wf.phase}")
        save_workflow(ctx, wf, f"{phase} -> {wf.phase}" if phase != wf.phase else None)
        if wf.phase == phase and not (wf.job or wf.jobs):
            break  # nothing changed: waiting on the world (VM power state, replication)
    return notes


def _jobs_done(ctx: AppContext, wf: Workflow) -> bool:
    """Poll the workflow's ASR jobs; move on when all succeeded, block when one failed."""
    from shared.protection.steps import job_state

    pending = {**({"plan": wf.job} if wf.job else {}), **wf.jobs}
    failed: list[str] = []
    for key, job in pending.items():
        try:
            state, errors = job_state(ctx, job)
        except ResourceNotFoundError:
            state, errors = "Failed", [f"job {job} not found"]
        if state in ("InProgress", "NotStarted", "Suspended"):
            return False
        if state != "Succeeded":
            failed.append(f"{key}: {state} {'; '.join(errors)}".strip())
    wf.job, wf.jobs = "", {}
    if failed:
        _block(
            ctx, wf, "ASR job failed: " + " | ".join(failed), "see the job in the vault; `ppgdr resume GROUP` retries the step"
        )
        save_workflow(ctx, wf, "job failed")
        return False
    wf.phase = wf.next_phase or wf.phase
    save_workflow(ctx, wf, f"jobs succeeded -> {wf.phase}")
    return True


def _block(ctx: AppContext, wf: Workflow, error: str, suggestion: str, *, resume_at: str | None = None) -> None:
    """Stop the workflow in a clear state with a suggested action; ``resume`` continues at ``resume_at``."""
    wf.next_phase = resume_at or (wf.phase if wf.phase != BLOCKED else wf.next_phase)
    wf.phase, wf.error, wf.suggestion = BLOCKED, error, suggestion
    set_group(ctx, wf.group, state=BLOCKED, blocked_reason=error)
    audit(ctx, wf.group, "blocked", error, suggestion=suggestion, workflow=wf.id)
    log.error("group %s %s blocked: %s (%s)", wf.group, wf.kind, error, suggestion, extra={"group": wf.group, "step": wf.kind})


def _members(ctx: AppContext, wf: Workflow) -> list[st.VmStatus]:
    return [s for s in _statuses(ctx) if s.group.lower() == wf.group.lower() and s.item_name]


def _asr(ctx: AppContext) -> tuple[Any, Any]:
    vault = ctx.clients.vault()
    return vault, ctx.clients.site_recovery(vault.subscription)


# ----------------------------------------------------------------------------------------------- phases


def _phase_plan(ctx: AppContext, wf: Workflow) -> None:
    group = current_group(ctx, wf.group)
    sync = sync_plan(ctx, group, wf.target_region)
    if sync.problem:
        raise WorkflowRefused(sync.problem)
    if sync.left_out:
        raise WorkflowRefused(f"not in the recovery plan yet: {', '.join(sync.left_out)}")
    set_group(ctx, wf.group, plan=sync.plan_name, boot_groups=[list(b) for b in sync.boot_groups])
    wf.next_phase = "failover"
    if sync.job:
        wf.job = sync.job
    else:
        wf.phase = "failover"


def _source_answers(ctx: AppContext, members: list[st.VmStatus], kind: str) -> bool:
    """Whether the region we leave still answers: then ASR shuts its VMs down before failing over."""
    if not members:
        return False
    probe = members[0]
    vm_id = probe.vm_id
    if kind == FAILBACK:
        return True
    parsed = parse_resource_id(vm_id)
    if parsed is None or parsed.resource_group is None:
        return False
    try:
        ctx.clients.compute(parsed.subscription).virtual_machines.get(parsed.resource_group, parsed.name, retry_total=0)
    except HttpResponseError:
        return False
    return True


def _item_operations(ctx: AppContext, wf: Workflow) -> dict[str, tuple[str, ...]]:
    """What ASR allows on each member's item now: the world's answer to "did this step already run?"."""
    ops: dict[str, tuple[str, ...]] = {}
    for member in _members(ctx, wf):
        item = _find_item(ctx, member)
        allowed = item.properties.allowed_operations if item is not None and item.properties else None
        ops[member.vm_name] = tuple(str(text(op)) for op in (allowed or ()))
    return ops


def _already(ctx: AppContext, wf: Workflow, done_when: str, send_when: str) -> bool | None:
    """True when every item shows the step done, None while ASR is busy with it, False when it must be sent.

    Looking before sending makes a step idempotent: after a crash between sending a step and saving
    its job, or a step someone ran in the portal, the pulse adopts the result instead of sending twice.
    """
    ops = _item_operations(ctx, wf)
    if ops and all(done_when in allowed for allowed in ops.values()):
        return True
    if any(not allowed for allowed in ops.values()):
        return None
    if ops and all(send_when in allowed for allowed in ops.values()):
        return False
    raise WorkflowRefused(
        "the group's items are in different states: "
        + "; ".join(f"{vm}: {', '.join(allowed) or 'busy'}" for vm, allowed in sorted(ops.items())),
        suggestion="bring the items to one state in the vault (or wait for their jobs), then `ppgdr resume GROUP`",
    )


def _phase_failover(ctx: AppContext, wf: Workflow) -> None:
    from azure.mgmt.recoveryservicessiterecovery import models as m

    state = _already(ctx, wf, done_when="Commit", send_when="UnplannedFailover")
    if state is None:
        return  # ASR is already failing the items over (a step sent before a crash): wait
    if state:
        wf.phase = "verify"
        audit(ctx, wf.group, f"{wf.kind}-adopted", "the items had already failed over: verifying without a second failover")
        return
    vault, asr = _asr(ctx)
    members = _members(ctx, wf)
    shutdown = "Required" if _source_answers(ctx, members, wf.kind) else "NotRequired"
    wf.source_shutdown = shutdown
    body = m.RecoveryPlanUnplannedFailoverInput(
        properties=m.RecoveryPlanUnplannedFailoverInputProperties(
            failover_direction=wf.direction,
            source_site_operations=shutdown,
            provider_specific_details=[m.RecoveryPlanA2AFailoverInput(recovery_point_type=wf.recovery_point)],
        )
    )
    started = start_operation(
        asr.replication_recovery_plans.begin_unplanned_failover, *vault.args, recovery_plan_name(wf.group), body
    )
    wf.job = started.job_id or ""
    wf.next_phase = "verify"
    audit(
        ctx,
        wf.group,
        f"{wf.kind}-job",
        f"recovery plan unplanned failover {wf.direction} started (source shutdown {shutdown})",
        job=wf.job,
    )


def placement_report(ctx: AppContext, wf: Workflow) -> list[dict[str, Any]]:
    """For each failed-over VM: is it running, and did it land in the expected PPG, availability set and zone?"""
    rows: list[dict[str, Any]] = []
    ppg_status: dict[str, str] = {}
    known = {normalize_arm_id(r["source_vm_id"]): r["vm_id"] for r in wf.placement if r.get("vm_id") and r.get("source_vm_id")}
    for member in _members(ctx, wf):
        row: dict[str, Any] = {"vm": member.vm_name, "source_vm_id": member.vm_id}
        item = _find_item(ctx, member)
        if item is None:
            row.update(running=False, problem="replicated item not found")
            rows.append(row)
            continue
        details = item.properties.provider_specific_details
        if wf.kind == FAILOVER:
            # Once reprotected, ASR's recovery VM is the original again: keep the VM verified first.
            vm_id = known.get(normalize_arm_id(member.vm_id)) or getattr(details, "recovery_fabric_object_id", None)
            expected_ppg, expected_avset, expected_zone = (
                member.target_ppg_id,
                member.target_availability_set_id,
                member.target_zone,
            )
        else:
            vm_id = member.vm_id
            expected_ppg = member.source_ppg_id
            expected_avset, expected_zone = member.source_availability_set_id, member.source_zone
        row.update(
            vm_id=vm_id,
            expected_ppg=expected_ppg or None,
            expected_availability_set=expected_avset or None,
            expected_zone=expected_zone or None,
        )
        parsed = parse_resource_id(vm_id)
        if parsed is None or parsed.resource_group is None:
            row.update(running=False, problem="no failed-over VM reported by ASR")
            rows.append(row)
            continue
        compute = ctx.clients.compute(parsed.subscription)
        vm = compute.virtual_machines.get(parsed.resource_group, parsed.name, expand="instanceView")
        props = vm.properties
        power = ""
        if props is not None and props.instance_view is not None:
            for status in props.instance_view.statuses or []:
                code = status.code or ""
                if code.startswith("PowerState/"):
                    power = code.split("/", 1)[1]
        actual_ppg = props.proximity_placement_group.id if props and props.proximity_placement_group else None
        actual_avset = props.availability_set.id if props and props.availability_set else None
        actual_zone = vm.zones[0] if vm.zones else None
        in_ppg = _same(actual_ppg, expected_ppg) if expected_ppg else None
        in_avset = _same(actual_avset, expected_avset) if expected_avset else None
        in_zone = (str(actual_zone) == str(expected_zone)) if expected_zone else None
        row.update(
            vm_id=vm.id,
            size=text(props.hardware_profile.vm_size) if props and props.hardware_profile else "",
            power=power,
            running=power == "running",
            ppg=actual_ppg,
            availability_set=actual_avset,
            zone=actual_zone,
            in_ppg=in_ppg,
            in_availability_set=in_avset,
            in_zone=in_zone,
        )
        if in_ppg is False or in_avset is False or in_zone is False:
            row["problem"] = (
                "placed outside the target "
                + ", ".join(
                    what for what, ok in (("PPG", in_ppg), ("availability set", in_avset), ("zone", in_zone)) if ok is False
                )
                + " (OverconstrainedAllocationRequest fallback)"
            )
        if expected_ppg and expected_ppg.lower() not in ppg_status:
            ppg_ref = parse_resource_id(expected_ppg)
            if ppg_ref is not None and ppg_ref.resource_group:
                try:
                    ppg = ctx.clients.compute(ppg_ref.subscription).proximity_placement_groups.get(
                        ppg_ref.resource_group, ppg_ref.name, include_colocation_status="true"
                    )
                    colo = ppg.properties.colocation_status if ppg.properties else None
                    ppg_status[expected_ppg.lower()] = str(getattr(colo, "code", "") or "unknown")
                except ResourceNotFoundError:
                    ppg_status[expected_ppg.lower()] = "missing"
            row["ppg_colocation"] = ppg_status.get((expected_ppg or "").lower())
        rows.append(row)
    return rows


def _same(a: str | None, b: str | None) -> bool:
    return normalize_arm_id(a or "") == normalize_arm_id(b or "")


def _find_item(ctx: AppContext, member: st.VmStatus) -> Any:
    """The member's replicated item wherever it lives now (switch protection moves it between containers)."""
    vault, asr = _asr(ctx)
    seen: set[tuple[str, str]] = set()
    for fabric, container in (
        (member.fabric, member.container),
        *(
            (fabric_name(r), container_name(r))
            for r in {member.location, *ctx.settings.region_pairs.values(), *ctx.settings.region_pairs.keys()}
            if r
        ),
    ):
        if (fabric, container) in seen or not fabric:
            continue
        seen.add((fabric, container))
        try:
            return asr.replication_protected_items.get(*vault.args, fabric, container, member.item_name)
        except ResourceNotFoundError:
            continue
    return None


def _phase_verify(ctx: AppContext, wf: Workflow) -> None:
    rows = placement_report(ctx, wf)
    wf.placement = rows
    outside = [r for r in rows if r.get("problem")]
    stopped = [r["vm"] for r in rows if not r.get("running")]
    for row in outside:
        log.warning(
            "group %s: %s %s", wf.group, row["vm"], row["problem"], extra={"group": wf.group, "vm": row["vm"], "step": "verify"}
        )
    summary = f"{len(rows) - len(outside)} of {len(rows)} VMs placed as planned"
    if outside:
        summary += "; OUTSIDE: " + ", ".join(f"{r['vm']} ({r['problem']})" for r in outside)
    audit(ctx, wf.group, "placement", summary, placement=rows, workflow=wf.id)
    recovery_ids = [r["vm_id"] for r in rows if r.get("vm_id")]
    if wf.kind == FAILOVER:
        record = group_record(ctx, wf.group)
        known = {normalize_arm_id(v) for v in record.get("recovery_vm_ids", [])}
        set_group(ctx, wf.group, placement=rows, recovery_vm_ids=sorted(known | {normalize_arm_id(v) for v in recovery_ids}))
    else:
        set_group(ctx, wf.group, placement=rows)
    if stopped and wf.require_all_running and not wf.force_commit:
        raise WorkflowRefused(
            f"not running after failover: {', '.join(stopped)}; commit is held (PPGDR_REQUIRE_ALL_RUNNING)",
            suggestion="start the VMs, or `ppgdr commit GROUP` to commit as they are",
            resume_at="commit",
        )
    wf.phase = "commit"


def _phase_commit(ctx: AppContext, wf: Workflow) -> None:
    state = _already(ctx, wf, done_when="ReverseReplicate", send_when="Commit")
    next_phase = "repair" if wf.repair and wf.kind == FAILOVER else "reprotect"
    if state is None:
        return
    if state:
        wf.phase = next_phase
        return
    vault, asr = _asr(ctx)
    started = start_operation(asr.replication_recovery_plans.begin_failover_commit, *vault.args, recovery_plan_name(wf.group))
    wf.job = started.job_id or ""
    wf.next_phase = "repair" if wf.repair and wf.kind == FAILOVER else "reprotect"
    audit(ctx, wf.group, "commit", f"{wf.kind} committed", job=wf.job)


def _power(ctx: AppContext, vm_id: str) -> str:
    parsed = parse_resource_id(vm_id)
    if parsed is None or parsed.resource_group is None:
        return "unknown"
    view = ctx.clients.compute(parsed.subscription).virtual_machines.instance_view(parsed.resource_group, parsed.name)
    for status in view.statuses or []:
        if (status.code or "").startswith("PowerState/"):
            return str(status.code).split("/", 1)[1]
    return "unknown"


def _phase_repair(ctx: AppContext, wf: Workflow) -> None:
    """Azure's co-location guidance: deallocate the group, then start it anchor-first inside the PPG."""
    from azure.mgmt.compute import models as cm

    rows = wf.placement or placement_report(ctx, wf)
    vms = [r for r in rows if r.get("vm_id")]
    sizes = {r["vm_id"]: r.get("size", "") for r in vms}
    from shared.failover.groups import Member

    order = placement_order([Member(r["vm_id"], r["vm"], sizes[r["vm_id"]], "", "", "", None, "") for r in vms])
    stage = wf.repair_stage or "deallocate"
    if stage == "deallocate":
        for row in vms:
            parsed = parse_resource_id(row["vm_id"])
            assert parsed is not None and parsed.resource_group is not None
            start_operation(
                ctx.clients.compute(parsed.subscription).virtual_machines.begin_deallocate, parsed.resource_group, parsed.name
            )
        wf.repair_stage = "wait-deallocated"
        audit(ctx, wf.group, "repair", f"deallocating {len(vms)} VMs to restart them anchor-first inside the PPG")
        return
    if stage == "wait-deallocated":
        if any(_power(ctx, r["vm_id"]) != "deallocated" for r in vms):
            return
        for row in vms:
            if row.get("in_ppg") is False and row.get("expected_ppg"):
                parsed = parse_resource_id(row["vm_id"])
                assert parsed is not None and parsed.resource_group is not None
                compute = ctx.clients.compute(parsed.subscription)
                vm = compute.virtual_machines.get(parsed.resource_group, parsed.name)
                if vm.properties is not None:
                    vm.properties.proximity_placement_group = cm.SubResource(id=row["expected_ppg"])
                    compute.virtual_machines.begin_create_or_update(parsed.resource_group, parsed.name, vm, polling=False)
        wf.repair_stage = "start-0"
        return
    if stage.startswith("start-"):
        index = int(stage.split("-", 1)[1])
        if index > 0:
            powers = {m.vm_name: _power(ctx, m.vm_id) for m in order[index - 1]}
            stuck = [name for name, power in powers.items() if power == "deallocated"]
            if stuck:
                raise WorkflowRefused(
                    f"{', '.join(stuck)} could not start inside the PPG (no capacity for the size yet)",
                    suggestion="wait for capacity and `ppgdr resume GROUP`, or start the VM outside the PPG by hand",
                    resume_at="repair",
                )
            if any(power != "running" for power in powers.values()):
                return  # the previous boot group (the anchor first) must run before the next starts
        if index >= len(order):
            wf.placement = placement_report(ctx, wf)
            outside = [r["vm"] for r in wf.placement if r.get("problem")]
            audit(
                ctx,
                wf.group,
                "repair-done",
                "placement repaired" if not outside else f"still outside: {', '.join(outside)}",
                placement=wf.placement,
            )
            set_group(ctx, wf.group, placement=wf.placement)
            wf.repair_stage = ""
            wf.phase = wf.next_phase if wf.next_phase not in ("", "repair") else "reprotect"
            if wf.phase == "repair-done":
                wf.phase = DONE
                set_group(ctx, wf.group, state=REPROTECTED)
            return
        for member in order[index]:
            parsed = parse_resource_id(member.vm_id)
            assert parsed is not None and parsed.resource_group is not None
            try:
                start_operation(
                    ctx.clients.compute(parsed.subscription).virtual_machines.begin_start, parsed.resource_group, parsed.name
                )
            except HttpResponseError as exc:
                audit(ctx, wf.group, "repair-start-failed", f"{member.vm_name}: {exc.message}")
        wf.repair_stage = f"start-{index + 1}"


def _phase_reprotect(ctx: AppContext, wf: Workflow) -> None:
    """Switch protection so the copies replicate back, into the original PPG (or the DR PPG on failback)."""
    from azure.mgmt.recoveryservicessiterecovery import models as m

    vault, asr = _asr(ctx)
    cache = ctx.settings.cache_storage_accounts.get(wf.target_region.lower())
    if cache is None:
        raise WorkflowRefused(
            f"no cache storage account for {wf.target_region}: add it to PPGDR_CACHE_STORAGE_ACCOUNTS to reprotect"
        )
    jobs: dict[str, str] = {}
    for member in _members(ctx, wf):
        item = _find_item(ctx, member)
        if item is None:
            raise WorkflowRefused(f"{member.vm_name}: replicated item {member.item_name} not found")
        allowed = {str(text(op)) for op in (item.properties.allowed_operations or [])}
        if "ReverseReplicate" not in allowed:
            continue  # already switched (sent before a crash, or by hand): replicating phase follows it
        details = item.properties.provider_specific_details
        running_vm = getattr(details, "recovery_fabric_object_id", None)
        if wf.kind == FAILOVER:
            back_region = wf.source_region
            back_rg = f"/subscriptions/{member.subscription}/resourceGroups/{member.resource_group}"
            ppg, avset, zone = member.source_ppg_id, member.source_availability_set_id, member.source_zone
        else:
            back_region = wf.source_region  # the DR region we fail back *from* replicates to again
            back_rg = f"/subscriptions/{member.subscription}/resourceGroups/{member.target_resource_group}"
            ppg, avset, zone = member.target_ppg_id, member.target_availability_set_id, member.target_zone
        disks = _disks_of(ctx, running_vm, cache, back_rg)
        body = m.SwitchProtectionInput(
            properties=m.SwitchProtectionInputProperties(
                replication_protected_item_name=item.name,
                provider_specific_details=m.A2ASwitchProtectionInput(
                    recovery_container_id=f"{vault.id}/replicationFabrics/{fabric_name(back_region)}"
                    f"/replicationProtectionContainers/{container_name(back_region)}",
                    policy_id=f"{vault.id}/replicationPolicies/ppgdr-a2a-policy",
                    recovery_resource_group_id=back_rg,
                    recovery_proximity_placement_group_id=ppg or None,
                    recovery_availability_set_id=avset or None,
                    recovery_availability_zone=zone or None,
                    vm_managed_disks=disks,
                ),
            )
        )
        fabric, container = _segment(item.id, "replicationFabrics"), _segment(item.id, "replicationProtectionContainers")
        started = start_operation(
            asr.replication_protection_containers.begin_switch_protection, *vault.args, fabric, container, body
        )
        jobs[member.vm_name] = started.job_id or ""
    wf.jobs = jobs
    wf.next_phase = "replicating"
    if not jobs:
        wf.phase = "replicating"  # every item was switched already: follow their replication
        return
    audit(
        ctx,
        wf.group,
        "reprotect",
        f"switch protection started for {len(jobs)} VMs "
        f"({'into the original PPG' if wf.kind == FAILOVER else 'back into the DR PPG'})",
        jobs=jobs,
    )


def _segment(resource_id: str, name: str) -> str:
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    return parts[lowered.index(name.lower()) + 1]


def _disks_of(ctx: AppContext, vm_id: str | None, cache: str, recovery_rg: str) -> list[Any]:
    from azure.mgmt.recoveryservicessiterecovery import models as m

    parsed = parse_resource_id(vm_id)
    if parsed is None or parsed.resource_group is None:
        return []
    vm = ctx.clients.compute(parsed.subscription).virtual_machines.get(parsed.resource_group, parsed.name)
    storage = vm.properties.storage_profile if vm.properties else None
    disks = []
    for disk in ([storage.os_disk] if storage and storage.os_disk else []) + list(storage.data_disks or [] if storage else []):
        managed = disk.managed_disk
        if managed is None or not managed.id:
            continue
        sku = text(managed.storage_account_type) or "Standard_LRS"
        disks.append(
            m.A2AVmManagedDiskInputDetails(
                disk_id=managed.id,
                primary_staging_azure_storage_account_id=cache,
                recovery_resource_group_id=recovery_rg,
                recovery_replica_disk_account_type=sku,
                recovery_target_disk_account_type=sku,
            )
        )
    return disks


def _phase_replicating(ctx: AppContext, wf: Workflow) -> None:
    """Wait until every item replicates (protected) in the new direction, then settle the group state."""
    members = _members(ctx, wf)
    states = {}
    for member in members:
        item = _find_item(ctx, member)
        states[member.vm_name] = str(item.properties.protection_state) if item is not None else "missing"
    if any(state != "Protected" for state in states.values()):
        return
    wf.phase = DONE
    wf.finished = ctx.store.now().isoformat()
    if wf.kind == FAILOVER:
        set_group(ctx, wf.group, state=REPROTECTED, active_region=wf.target_region, reprotected_at=wf.finished)
        audit(
            ctx,
            wf.group,
            "reprotected",
            f"running in {wf.target_region}, replicating back to {wf.source_region} into the original PPG; ready for failback",
            workflow=wf.id,
        )
        for member in members:
            _mark(ctx, member, st.FAILED_OVER, f"running in {wf.target_region}; replicating back to {wf.source_region}")
    else:
        set_group(ctx, wf.group, state=PROTECTED, active_region=wf.target_region, placement=wf.placement)
        audit(
            ctx,
            wf.group,
            "failed-back",
            f"back in {wf.target_region} with the original placement; protected to {wf.source_region} again",
            workflow=wf.id,
        )
        for member in members:
            _mark(ctx, member, st.PROTECTED, "failed back; protected as desired")


def _mark(ctx: AppContext, member: st.VmStatus, state: str, reason: str) -> None:
    updated = st.VmStatus.from_data(member.to_data())
    updated.state, updated.reason = state, reason
    item = _find_item(ctx, member)
    if item is not None:
        updated.fabric = _segment(item.id, "replicationFabrics")
        updated.container = _segment(item.id, "replicationProtectionContainers")
    st.save_status(ctx.store, updated, note=f"{member.state} -> {state}")


_PHASES = {
    "plan": _phase_plan,
    "failover": _phase_failover,
    "verify": _phase_verify,
    "commit": _phase_commit,
    "repair": _phase_repair,
    "reprotect": _phase_reprotect,
    "replicating": _phase_replicating,
}
