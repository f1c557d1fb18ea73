"""The group DR lifecycle: starting, commanding and advancing a group's failover or failback workflow.

Failover:  plan -> failover -> verify -> commit -> [repair] -> reprotect -> replicating -> done
Failback:  failover (RecoveryToPrimary; the plan follows its items) -> verify -> commit -> reprotect -> replicating -> done

A workflow starts from a decision or an operator (:func:`start_failover`, :func:`start_failback`), takes
operator commands (:func:`request`: commit, repair, reprotect, resume) and is advanced by the pulse
(:func:`advance_all`) under the group's lease, phase by phase (:mod:`shared.failover.phases`,
:mod:`shared.failover.placement`). A phase that starts an ASR job leaves it in the workflow; the next
pulse polls it. A failed job or a refusal blocks the workflow with the reason and the next step.
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from shared.arm.keys import normalize_arm_id
from shared.arm.names import recovery_plan_name
from shared.context import AppContext
from shared.failover.adoption import adopt_on_demand
from shared.failover.groups import Group, placement_order
from shared.failover.lookup import current_group, require_group
from shared.failover.phases import phase_commit, phase_failover, phase_plan, phase_replicating, phase_reprotect, source_answers
from shared.failover.placement import phase_repair, phase_verify
from shared.failover.refusals import NotFound, WorkflowRefused
from shared.failover.workflow_state import (
    BLOCKED,
    DONE,
    FAILBACK,
    FAILOVER,
    RECOVERY_POINT_TYPES,
    SendInFlight,
    Workflow,
    WorkflowConflict,
    all_workflows,
    clear_send_claim,
    group_lease,
    load_workflow,
    members,
    save_workflow,
    step_statuses,
)
from shared.platform.errors import azure_error_text
from shared.platform.retries import is_transient
from shared.state import vm_status as st
from shared.state.audit import audit
from shared.state.drill_records import request_cleanup
from shared.state.group_records import GroupRecord, GroupState, get_group, update_group

log = logging.getLogger(__name__)

PHASES: dict[str, Callable[[AppContext, Workflow], None]] = {
    "plan": phase_plan,
    "failover": phase_failover,
    "verify": phase_verify,
    "commit": phase_commit,
    "repair": phase_repair,
    "reprotect": phase_reprotect,
    "replicating": phase_replicating,
}


# ------------------------------------------------------------------------------------------- starting


def _failover_refusal(ctx: AppContext, group: Group, decision_id: str, record: GroupRecord | None = None) -> Workflow | None:
    """Refuse a failover the group cannot take now; the running workflow when it is this decision's.
    ``record``: the group's record when the caller read it already (one Table read fewer per decision)."""
    existing = load_workflow(ctx, group.name)
    if existing is not None and existing.active:
        if decision_id and existing.decision_id == decision_id:
            return existing  # the same decision delivered twice: one failover
        raise WorkflowRefused(f"group {group.name} already has a {existing.kind} in phase {existing.phase}")
    record = record if record is not None else get_group(ctx.store, group.name)
    if record.state != GroupState.PROTECTED:
        raise WorkflowRefused(f"group {group.name} is {record.state}, not protected: it cannot fail over now")
    not_ready = [m.vm_name for m in group.members if m.state != st.VmState.PROTECTED]
    if not_ready:
        raise WorkflowRefused(
            f"group {group.name}: {', '.join(not_ready)} not protected yet (initial replication or refused); "
            "a group fails over only as a whole"
        )
    if ctx.settings.target_region(group.source_region) is None:
        raise WorkflowRefused(f"no DR region is paired with {group.source_region}")
    return None


def _check_recovery_point(recovery_point: str) -> None:
    if recovery_point not in RECOVERY_POINT_TYPES:
        raise WorkflowRefused(f"recovery point {recovery_point!r}: use one of {', '.join(RECOVERY_POINT_TYPES)}")


def preview_failover(
    ctx: AppContext, name: str, *, recovery_point: str = "LatestProcessed", repair: bool = False
) -> dict[str, Any]:
    """What a failover of the group would do now, refused exactly when the real one would be. Reads only.

    The operator's dry run: the recovery plan and its boot order (anchor first), the recovery point, and
    whether the source VMs would be shut down first (they are when the source region still answers).
    """
    _check_recovery_point(recovery_point)
    group = current_group(ctx, name)
    running = _failover_refusal(ctx, group, "")
    assert running is None
    answers = source_answers(ctx, members(ctx, group.name), FAILOVER)
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
    _check_recovery_point(recovery_point)
    with step_statuses(ctx, name):  # the group's statuses, read once for the checks and the record
        return _start_failover(ctx, name, reason, decision_id, repair, recovery_point, dry_run)


def _start_failover(
    ctx: AppContext, name: str, reason: str, decision_id: str, repair: bool, recovery_point: str, dry_run: bool
) -> Workflow:
    group = current_group(ctx, name)
    with group_lease(ctx, group.name):
        record = get_group(ctx.store, group.name)  # read once under the lease: the checks and the locked VMs use it
        running = _failover_refusal(ctx, group, decision_id, record)
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
            audit(ctx.store, group.name, "dry-run", f"would fail over {len(group.members)} VMs to {target}: {reason}")
            wf.phase = DONE
            wf.reason = f"dry run: {reason}"
            return wf
        drill = request_cleanup(ctx.store, group.name, "a real failover of the group was decided")
        if drill is not None:
            audit(
                ctx.store,
                group.name,
                "drill-cleanup-for-failover",
                f"drill {drill.id} is cleaned up first, then the group fails over",
            )
        save_workflow(ctx, wf, f"failover started: {reason}")
        update_group(
            ctx.store,
            group.name,
            state=GroupState.FAILING_OVER,
            workflow=wf.id,
            member_vm_ids=[m.vm_id for m in group.members],
            recovery_vm_ids=_expected_recovery_vms(ctx, group, record),
            source_region=group.source_region,
            target_region=target,
        )
        audit(ctx.store, group.name, "failover-started", reason, workflow=wf.id, decision=decision_id)
        return wf


def _expected_recovery_vms(ctx: AppContext, group: Group, record: GroupRecord) -> list[str]:
    """The VMs the failover job will create (ASR names each after its source VM, in the member's recovery resource
    group), locked from the start: they carry the source's tags, and a reconcile or an event about one before the
    workflow saw it must not take it for a new VM to protect. Placement verification adds the ids Azure reports."""
    known = {normalize_arm_id(v) for v in record.recovery_vm_ids}
    for member in members(ctx, group.name):
        if member.subscription and member.target_resource_group and member.vm_name:
            known.add(
                normalize_arm_id(
                    f"/subscriptions/{member.subscription}/resourceGroups/{member.target_resource_group}"
                    f"/providers/Microsoft.Compute/virtualMachines/{member.vm_name}"
                )
            )
    return sorted(known)


def _known_or_adopted(ctx: AppContext, name: str) -> str:
    """:func:`require_group`, adopting from Azure first when ppg-dr lost the group's record (state loss)."""
    try:
        return require_group(ctx, name)
    except NotFound:
        if not adopt_on_demand(ctx, name):
            raise
        return require_group(ctx, name)


def start_failback(ctx: AppContext, name: str, *, reason: str, dry_run: bool = False) -> Workflow:
    """Fail a reprotected group back to its original region, restoring the original PPG placement."""
    name = _known_or_adopted(ctx, name)
    group_name = get_group(ctx.store, name).name or name
    with group_lease(ctx, group_name):
        record = get_group(ctx.store, group_name)
        if record.state != GroupState.REPROTECTED:
            raise WorkflowRefused(
                f"group {group_name} is {record.state}: failback needs a group that failed over and "
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
            source_region=record.target_region,
            target_region=record.source_region,
            reason=reason,
            started=ctx.store.now().isoformat(),
            phase="failover",
        )
        if dry_run or ctx.settings.dry_run:
            audit(ctx.store, group_name, "dry-run", f"would fail back to {wf.target_region}: {reason}")
            wf.phase = DONE
            return wf
        save_workflow(ctx, wf, f"failback started: {reason}")
        update_group(ctx.store, group_name, state=GroupState.FAILING_BACK, workflow=wf.id)
        audit(ctx.store, group_name, "failback-started", reason, workflow=wf.id)
        return wf


def _command_change(wf: Workflow, action: str, group_state: str) -> dict[str, Any]:
    """What an operator command changes in the workflow, or :class:`WorkflowRefused` saying why not."""
    if action == "commit":
        if not (wf.phase == BLOCKED and wf.next_phase == "commit"):
            raise WorkflowRefused(f"nothing to commit: workflow {wf.id} is in phase {wf.phase}")
        return {"force_commit": True, "phase": "commit"}
    if action == "repair":
        if wf.kind != FAILOVER or (wf.active and wf.phase in ("plan", "failover")):
            raise WorkflowRefused("placement can be repaired once the group's VMs have failed over")
        if wf.active and wf.phase in ("reprotect", "replicating"):
            raise WorkflowRefused(
                f"group {wf.group} is being reprotected (phase {wf.phase}): repair it once it is reprotected "
                "(`ppgdr repair GROUP` then repairs it on its own)"
            )
        if wf.active:
            return {"repair": True}  # runs after commit (also one in flight now), before reprotect
        if group_state == GroupState.REPROTECTED:
            return {"phase": "repair", "repair_stage": "", "next_phase": "repair-done"}
        raise WorkflowRefused(f"group {wf.group} is not running in its DR region: nothing to repair")
    if action in ("reprotect", "resume"):
        if wf.phase != BLOCKED:
            raise WorkflowRefused(f"workflow {wf.id} is not blocked (phase {wf.phase})")
        if action == "reprotect" and wf.kind == FAILOVER and wf.next_phase in ("plan", "failover", "verify"):
            raise WorkflowRefused("reprotect needs a committed failover; `ppgdr resume GROUP` retries the failed step")
        return {"phase": "reprotect" if action == "reprotect" else (wf.next_phase or "plan")}
    raise WorkflowRefused(f"unknown action {action!r}")


def request(ctx: AppContext, name: str, action: str, *, dry_run: bool = False, by: str = "the operator") -> Workflow:
    """Operator commands on a workflow: ``commit``, ``repair``, ``reprotect``, ``resume``.

    ``by`` names who asked in the audit trail (a person when the HTTP API knows one: a token or a session).

    The command is validated first (a dry run is refused exactly when the real one would be) and
    applied under the group's lease, so it cannot race a pulse that is advancing the same workflow.
    """
    name = _known_or_adopted(ctx, name)
    wf = load_workflow(ctx, name)
    if wf is None:
        raise WorkflowRefused(f"group {name} has no failover workflow: nothing to {action}")
    with group_lease(ctx, wf.group):
        wf = load_workflow(ctx, name) or wf  # fresh, now that we hold the lease
        group_state = get_group(ctx.store, wf.group).state
        change = _command_change(wf, action, group_state)
        if dry_run:
            audit(ctx.store, wf.group, "dry-run", f"would {action} (workflow {wf.id}, phase {wf.phase})")
            return wf
        for key, value in change.items():
            setattr(wf, key, value)
        wf.error, wf.suggestion = "", ""
        if wf.phase != BLOCKED and group_state in (GroupState.BLOCKED, GroupState.REPROTECTED):
            update_group(ctx.store, wf.group, state=GroupState.FAILING_OVER if wf.kind == FAILOVER else GroupState.FAILING_BACK)
        save_workflow(ctx, wf, f"operator asked to {action}")
        audit(ctx.store, wf.group, f"operator-{action}", f"{action} requested by {by}", workflow=wf.id)
        return wf


# ------------------------------------------------------------------------------------------- advancing


# Groups advanced side by side in one pulse. Why: a regional failure starts every group's failover at once, and
# each step is mostly waiting on ARM; one group after another, 10 groups take 10 times one group's round trips.
# Each group still runs under its own lease, so the parallelism is only within this process. 8 keeps the
# requests in flight well under ARM's per-client throttling and the SDK's connection pool (10 per host).
PULSE_PARALLEL_GROUPS = 8


def advance_all(ctx: AppContext) -> list[str]:
    """Advance every active workflow (pulse), up to ``PULSE_PARALLEL_GROUPS`` groups at once: each read again under
    its group's lease, one failing never stalls the others. Notes come back in listing order (not finishing order),
    so the pulse report reads the same run after run."""
    listed = [wf for wf in all_workflows(ctx) if wf.active]
    if len(listed) <= 1:
        return [note for wf in listed for note in _advance_listed(ctx, wf)]
    workers = min(PULSE_PARALLEL_GROUPS, len(listed))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ppgdr-pulse") as pool:
        # each group in a copy of this context: the step's status read (a ContextVar) and telemetry spans stay its own
        futures = [pool.submit(contextvars.copy_context().run, _advance_listed, ctx, wf) for wf in listed]
        return [note for future in futures for note in future.result()]


def _advance_listed(ctx: AppContext, listed: Workflow) -> list[str]:
    """One group's turn in the pulse: take its lease, read the workflow again, advance it; never raises."""
    notes: list[str] = []
    lease = None
    try:
        lease = ctx.store.acquire_lease(listed.group, ctx.holder, ctx.settings.lease_seconds)
        if lease is None:
            return [f"{listed.group}: another instance holds the lease"]
        wf = load_workflow(ctx, listed.group)  # the listing may be stale: only what is read under the lease counts
        if wf is not None and wf.active:
            notes.extend(advance(ctx, wf))
    except WorkflowConflict as exc:
        notes.append(str(exc))
    except Exception:  # one group's failure must not stall the others; the next pulse retries it
        log.exception(
            "group %s: %s step %s failed; retrying on the next pulse",
            listed.group,
            listed.kind,
            listed.phase,
            extra={"group": listed.group, "step": listed.phase},
        )
        notes.append(f"{listed.group}: {listed.phase} failed (retried on the next pulse)")
    finally:
        if lease is not None:
            try:
                ctx.store.release_lease(lease)
            except Exception:  # not given back: it expires after PPGDR_LEASE_SECONDS, as after a crash
                log.warning("group %s: lease not released; it expires by itself", listed.group, exc_info=True)
    return notes


# A step that failed on a transient error (throttling, 5xx, connection) is retried by itself with this backoff;
# after this many attempts it blocks for an operator.
TRANSIENT_ATTEMPTS = 8
TRANSIENT_BACKOFF_SECONDS = 30
TRANSIENT_BACKOFF_MAX_SECONDS = 1800


def advance(ctx: AppContext, wf: Workflow, *, max_steps: int = 8) -> list[str]:
    """Run steps until one has to wait for Azure (a job in flight) or the workflow stops.

    The caller holds the group's lease; it is renewed before each step, and the steps stop when it was lost
    (another instance took over after it expired). A transient error does not block: the step is tried again
    after a growing pause, and only after ``TRANSIENT_ATTEMPTS`` does the workflow block for an operator.
    """
    notes: list[str] = []
    now = ctx.store.now()
    if wf.retry_at and now < datetime.fromisoformat(wf.retry_at):
        return [f"{wf.group}: {wf.phase} retried after {wf.retry_at[:19]}"]
    with step_statuses(ctx, wf.group):  # the group's statuses, read once per pulse (the steps here write none before the last)
        _advance_steps(ctx, wf, max_steps, notes)
    return notes


def _advance_steps(ctx: AppContext, wf: Workflow, max_steps: int, notes: list[str]) -> None:
    for _ in range(max_steps):
        if not wf.active:
            break
        if ctx.store.acquire_lease(wf.group, ctx.holder, ctx.settings.lease_seconds) is None:
            notes.append(f"{wf.group}: lease lost; another instance continues")
            break
        if wf.job or wf.jobs:
            if not _jobs_done(ctx, wf):
                break
            continue
        phase = wf.phase
        try:
            PHASES[phase](ctx, wf)
            wf.retries, wf.retry_at = 0, ""
        except SendInFlight as exc:
            notes.append(str(exc))
            break
        except WorkflowRefused as exc:
            if wf.sending_by == ctx.holder:
                clear_send_claim(wf)
            _block(ctx, wf, str(exc), exc.suggestion or "fix the cause, then `ppgdr resume GROUP`", resume_at=exc.resume_at)
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as exc:
            if wf.sending_by == ctx.holder:
                clear_send_claim(wf)  # the send ended (refused, or unknown after a 5xx: the retry looks first)
            if is_transient(exc) and wf.retries < TRANSIENT_ATTEMPTS:
                _retry_later(ctx, wf, phase, exc)
                save_workflow(ctx, wf, f"{phase}: {azure_error_text(exc)}; retried after {wf.retry_at[:19]}")
                notes.append(f"{wf.group}: {phase} retried later ({azure_error_text(exc)})")
                break
            _block(
                ctx,
                wf,
                f"Azure refused {phase}: {azure_error_text(exc)}",
                "check the ASR job in the vault, then `ppgdr resume GROUP`",
            )
        finally:
            if wf.sending_by == ctx.holder:
                clear_send_claim(wf)  # sent, refused or failed: saved below (a crash before leaves it to expire)
        notes.append(f"{wf.group}: {phase} -> {wf.phase}")
        save_workflow(ctx, wf, f"{phase} -> {wf.phase}" if phase != wf.phase else None)
        if wf.phase == phase and not (wf.job or wf.jobs):
            break  # nothing changed: waiting on the world (VM power state, replication)


def _retry_later(ctx: AppContext, wf: Workflow, phase: str, exc: BaseException) -> None:
    """Try the step again after a pause that doubles each time (a 5xx after a POST: the step looks before resending)."""
    wf.retries += 1
    pause = min(TRANSIENT_BACKOFF_SECONDS * 2 ** (wf.retries - 1), TRANSIENT_BACKOFF_MAX_SECONDS)
    wf.retry_at = (ctx.store.now() + timedelta(seconds=pause)).isoformat()
    log.warning(
        "group %s: %s step %s hit a transient error (%s); attempt %d of %d, retried after %ss",
        wf.group,
        wf.kind,
        phase,
        azure_error_text(exc),
        wf.retries,
        TRANSIENT_ATTEMPTS,
        pause,
        extra={"group": wf.group, "step": phase},
    )


def _jobs_done(ctx: AppContext, wf: Workflow) -> bool:
    """Poll the workflow's ASR jobs; move on when all succeeded, block when one failed."""
    pending = {**({"plan": wf.job} if wf.job else {}), **wf.jobs}
    failed: list[str] = []
    for key, job_id in pending.items():
        job = ctx.site_recovery.job(job_id)
        if job.pending:
            return False
        if not job.succeeded:
            failed.append(f"{key}: {job.state} {'; '.join(job.errors)}".strip())
    wf.job, wf.jobs = "", {}
    if failed:
        _block(
            ctx, wf, "ASR job failed: " + " | ".join(failed), "see the job in the vault; `ppgdr resume GROUP` retries the step"
        )
        save_workflow(ctx, wf, "job failed")
        return False
    wf.phase = wf.next_phase or wf.phase
    if wf.phase == "reprotect" and wf.repair and wf.kind == FAILOVER and not wf.repaired:
        wf.phase = "repair"  # asked for while the commit job ran: it runs now, before reprotect
        wf.next_phase = "reprotect"
    save_workflow(ctx, wf, f"jobs succeeded -> {wf.phase}")
    return True


def _block(ctx: AppContext, wf: Workflow, error: str, suggestion: str, *, resume_at: str | None = None) -> None:
    """Stop the workflow in a clear state with a suggested action; ``resume`` continues at ``resume_at``."""
    wf.next_phase = resume_at or (wf.phase if wf.phase != BLOCKED else wf.next_phase)
    wf.phase, wf.error, wf.suggestion = BLOCKED, error, suggestion
    update_group(ctx.store, wf.group, state=GroupState.BLOCKED, blocked_reason=error)
    audit(ctx.store, wf.group, "blocked", error, suggestion=suggestion, workflow=wf.id)
    log.error("group %s %s blocked: %s (%s)", wf.group, wf.kind, error, suggestion, extra={"group": wf.group, "step": wf.kind})
