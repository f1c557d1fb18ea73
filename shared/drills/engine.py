"""Drills: test failover of a group's recovery plan into an isolated network, checked, always cleaned up.

starting -> test-failover -> validate -> cleanup -> done

A drill starts from the ``drills`` timer (schedule) or an operator, takes the group's lease like a real
failover, and is advanced by the pulse one step at a time; nothing waits for Azure. Steps look before they
send (what ASR allows on the items), so a drill whose starter died is adopted, not started twice. Whatever
happens after the test failover was sent (failed validation, a failed or timed-out test failover, a crash, a
real failover decision) the drill goes through cleanup, and a failed cleanup is retried and reported loudly:
a drill never leaves test VMs running.
"""

from __future__ import annotations

import logging
import socket
import uuid
from datetime import datetime, timedelta

from azure.core.exceptions import HttpResponseError

from shared.arm.names import recovery_plan_name
from shared.context import AppContext
from shared.drills import measure
from shared.drills.reports import drill_report
from shared.failover.groups import Group, groups_from_statuses
from shared.failover.lookup import current_group
from shared.failover.phases import find_item
from shared.failover.placement import dr_placement, placement_row
from shared.failover.refusals import WorkflowRefused
from shared.failover.workflow_state import group_lease, load_workflow, members
from shared.platform.errors import azure_error_text
from shared.platform.retries import is_transient
from shared.platform.site_recovery import JobView
from shared.protection.drill_schedule import ScheduleError, due, parse_schedule, strictest
from shared.state import vm_status as st
from shared.state.audit import audit
from shared.state.drill_records import (
    CLEANUP,
    DONE,
    STARTING,
    TEST_FAILOVER,
    VALIDATE,
    DrillRecord,
    active_drill,
    active_drills,
    get_drill,
    list_drills,
    save_drill,
)
from shared.state.drill_records import FAILED as FAILED
from shared.state.group_records import GroupState, get_group
from shared.state.reports import save_report

log = logging.getLogger(__name__)

RECOVERY_POINT = "LatestProcessed"
PROBE_TIMEOUT_SECONDS = 3.0


def _now(ctx: AppContext) -> datetime:
    return ctx.store.now()


def test_network(ctx: AppContext, region: str) -> str | None:
    return ctx.settings.test_network_ids.get(region.lower())


def drill_refusal(ctx: AppContext, group: Group) -> str | None:
    """Why the group cannot be drilled now, or None. A drill never touches a group that is not steady."""
    record = get_group(ctx.store, group.name)
    if record.state != GroupState.PROTECTED:
        return f"group {group.name} is {record.state}: drills run only on protected groups"
    wf = load_workflow(ctx, group.name)
    if wf is not None and wf.active:
        return f"group {group.name} has a {wf.kind} in phase {wf.phase}"
    if active_drill(ctx.store, group.name) is not None:
        return f"group {group.name} is already being drilled"
    not_ready = [m.vm_name for m in group.members if m.state != st.VmState.PROTECTED]
    if not_ready:
        return f"group {group.name}: {', '.join(not_ready)} not protected"
    unhealthy = [s.vm_name for s in members(ctx, group.name) if s.replication_health not in ("", "Normal")]
    if unhealthy:
        return f"group {group.name}: replication of {', '.join(unhealthy)} is not healthy"
    target = ctx.settings.target_region(group.source_region)
    if target is None:
        return f"no DR region is paired with {group.source_region}"
    if test_network(ctx, target) is None:
        return f"no isolated test network for {target}: set PPGDR_TEST_NETWORK_IDS ({target}=<vnet id>)"
    return None


def start_drill(ctx: AppContext, name: str, *, by: str, trigger: str = "operator", dry_run: bool = False) -> DrillRecord:
    """Begin a drill of the group (the pulse carries it out); refused exactly when a real one would be."""
    group = current_group(ctx, name)
    with group_lease(ctx, group.name):
        refusal = drill_refusal(ctx, group)
        if refusal:
            raise WorkflowRefused(refusal)
        now = _now(ctx)
        target = ctx.settings.target_region(group.source_region)
        assert target is not None
        drill = DrillRecord(
            id=f"drill-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
            group=group.name,
            trigger=trigger,
            requested_by=by,
            started=now.isoformat(),
            deadline=(now + timedelta(minutes=ctx.settings.drill_timeout_minutes)).isoformat(),
            source_region=group.source_region,
            target_region=target,
            recovery_plan=recovery_plan_name(group.name),
            test_network_id=str(test_network(ctx, target)),
            rto_target_seconds=60 * (group.rto_minutes or ctx.settings.drill_rto_minutes),
            rpo_target_seconds=60 * (group.rpo_minutes or ctx.settings.drill_rpo_minutes),
        )
        if dry_run:
            audit(ctx.store, group.name, "dry-run", f"would drill {len(group.members)} VMs in {target} ({by})")
            return drill
        save_drill(ctx.store, drill, f"drill started ({trigger}, by {by})")
        audit(ctx.store, group.name, "drill-started", f"test failover drill {drill.id} ({trigger}, by {by})", drill=drill.id)
        return drill


# ------------------------------------------------------------------------------------------- advancing


def advance_drills(ctx: AppContext) -> list[str]:
    """Advance every drill in flight (pulse), each under its group's lease; one failing never stalls the others."""
    notes: list[str] = []
    for drill in active_drills(ctx.store):
        lease = ctx.store.acquire_lease(drill.group, ctx.holder, ctx.settings.lease_seconds)
        if lease is None:
            notes.append(f"{drill.group}: another instance holds the lease")
            continue
        try:
            current = get_drill(ctx.store, drill.id)  # the listing may be stale: only what is read under the lease counts
            if current is not None and current.active:
                notes.extend(advance_drill(ctx, current))
        except Exception:
            log.exception("drill %s of %s: step %s failed; retried on the next pulse", drill.id, drill.group, drill.phase)
            notes.append(f"{drill.group}: drill step {drill.phase} failed (retried on the next pulse)")
        finally:
            ctx.store.release_lease(lease)
    return notes


def advance_drill(ctx: AppContext, drill: DrillRecord, *, max_steps: int = 6) -> list[str]:
    notes: list[str] = []
    for _ in range(max_steps):
        if not drill.active:
            break
        before = (drill.phase, drill.job)
        _step(ctx, drill)
        notes.append(f"{drill.group}: drill {before[0]} -> {drill.phase}")
        save_drill(ctx.store, drill, f"{before[0]} -> {drill.phase}" if before[0] != drill.phase else None)
        if (drill.phase, drill.job) == before:
            break  # waiting on Azure
    return notes


def _step(ctx: AppContext, drill: DrillRecord) -> None:
    if drill.job:
        _follow_job(ctx, drill)
        return
    past_deadline = _now(ctx) > datetime.fromisoformat(drill.deadline)
    if past_deadline and drill.phase in (STARTING, TEST_FAILOVER, VALIDATE):
        _to_cleanup(ctx, drill, f"the drill passed its deadline ({ctx.settings.drill_timeout_minutes} min)")
    {STARTING: _phase_start, TEST_FAILOVER: _phase_start, VALIDATE: _phase_validate, CLEANUP: _phase_cleanup}[drill.phase](
        ctx, drill
    )


def _item_ops(ctx: AppContext, drill: DrillRecord) -> dict[str, tuple[str, ...]]:
    return {m.vm_name: (item.allowed_operations if (item := find_item(ctx, m)) else ()) for m in members(ctx, drill.group)}


def _phase_start(ctx: AppContext, drill: DrillRecord) -> None:
    """Send the test failover, or adopt one already sent (by an instance that died before saving its job)."""
    ops = _item_ops(ctx, drill)
    if ops and all("TestFailoverCleanup" in allowed for allowed in ops.values()):
        drill.phase = CLEANUP if drill.cleanup_reason else VALIDATE
        scenario = ctx.site_recovery.plan_scenario(drill.recovery_plan)
        if scenario is not None and scenario[0] == "TestFailover":
            # The plan names the job it ran: followed (and measured) as if this drill had saved it.
            drill.test_failover_job = scenario[1]
            if not drill.cleanup_reason:
                drill.job, drill.phase = scenario[1], TEST_FAILOVER
            adopted = f"test failover job {scenario[1]} adopted from the recovery plan"
        else:
            drill.problems.append("the test failover was sent by an instance that stopped before recording its job")
            adopted = "test failover found done, its job unknown"
        audit(ctx.store, drill.group, "drill-adopted", f"drill {drill.id}: {adopted}; validating", drill=drill.id)
        return
    if any(not allowed for allowed in ops.values()) or not ops:
        return  # ASR is busy with the items (a test failover sent just before a crash): wait
    if not all("TestFailover" in allowed for allowed in ops.values()):
        _finish(ctx, drill, f"ASR does not allow a test failover now: {ops}")
        return
    if drill.cleanup_reason:  # a real failover was decided (or the deadline passed) before anything was sent
        _finish(ctx, drill, f"not started: {drill.cleanup_reason}")
        return
    try:
        started = ctx.site_recovery.plan_test_failover(
            drill.recovery_plan, network_id=drill.test_network_id, recovery_point=RECOVERY_POINT
        )
    except HttpResponseError as exc:
        if is_transient(exc):
            raise  # throttled or a 5xx (perhaps after Azure applied it): the next pulse looks at the items again
        _finish(ctx, drill, f"Azure refused the test failover: {azure_error_text(exc)}")
        return
    drill.job = drill.test_failover_job = started.job_id or ""
    drill.phase = TEST_FAILOVER
    audit(
        ctx.store,
        drill.group,
        "drill-test-failover",
        f"test failover of {drill.recovery_plan} into {drill.test_network_id}",
        job=drill.job,
    )


def _follow_job(ctx: AppContext, drill: DrillRecord) -> None:
    job = ctx.site_recovery.job(drill.job)
    if job.pending:
        return
    drill.job = ""
    if drill.phase == TEST_FAILOVER:
        names = _vm_names(ctx, drill, job)
        drill.rto_seconds = measure.rto_seconds(job, names)
        drill.rpo_seconds = measure.rpo_seconds(job)
        if not job.succeeded:
            drill.problems.append(f"test failover {job.state}: {'; '.join(job.errors) or 'no reason given'}")
            _to_cleanup(ctx, drill, "the test failover failed")
        else:
            drill.phase = VALIDATE
        drill.problems.extend(f"note: {n}" for n in job.notes if "OverconstrainedAllocation" not in n)
        return
    if drill.phase == CLEANUP:
        drill.cleanup_attempts += 1
        if job.succeeded:
            drill.cleaned_up = True
            if job.start and job.end:
                drill.cleanup_seconds = (job.end - job.start).total_seconds()
            audit(ctx.store, drill.group, "drill-cleanup", f"drill {drill.id}: test VMs removed", drill=drill.id)
            _finish(ctx, drill)
        else:
            reason = "; ".join(job.errors) or job.state
            audit(
                ctx.store,
                drill.group,
                "drill-cleanup-failed",
                f"drill {drill.id}: cleanup failed ({reason}); retried",
                drill=drill.id,
            )
            log.error(
                "drill %s of %s: test failover cleanup failed: %s; retried on the next pulse", drill.id, drill.group, reason
            )


def _vm_names(ctx: AppContext, drill: DrillRecord, job: JobView) -> dict[str, tuple[str, ...]]:
    """Each member's names as a job may mention them: the VM, its item, its test VM."""
    tests = {i.name.lower(): i.test_vm_name for i in job.items}
    return {m.vm_name: (m.vm_name, m.item_name, tests.get(m.item_name.lower()) or "") for m in members(ctx, drill.group)}


def _test_vm_id(member: st.VmStatus, job: JobView | None) -> str:
    """The member's test VM: the name the job reports, in the member's recovery resource group."""
    test_name = next((i.test_vm_name for i in (job.items if job else ()) if i.name.lower() == member.item_name.lower()), None)
    group = f"/subscriptions/{member.subscription}/resourceGroups/{member.target_resource_group}"
    return f"{group}/providers/Microsoft.Compute/virtualMachines/{test_name or member.vm_name + '-test'}"


def _cleanup_failed(ctx: AppContext, drill: DrillRecord, reason: str) -> None:
    """Said loudly (an error log and the audit trail): test VMs may be running; the next pulse retries."""
    audit(ctx.store, drill.group, "drill-cleanup-failed", f"drill {drill.id}: cleanup failed ({reason}); retried", drill=drill.id)
    log.error("drill %s of %s: test failover cleanup failed: %s; retried on the next pulse", drill.id, drill.group, reason)


def _probe(endpoint: str) -> dict[str, object]:
    host, _, port = endpoint.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_SECONDS):
            return {"endpoint": endpoint, "ok": True, "detail": "connected"}
    except OSError as exc:
        return {"endpoint": endpoint, "ok": False, "detail": str(exc)[:200]}


def _phase_validate(ctx: AppContext, drill: DrillRecord) -> None:
    """Every test VM exists and runs, in the DR PPG, availability set and zone as planned; the probes answer."""
    job = ctx.site_recovery.job(drill.test_failover_job) if drill.test_failover_job else None
    colocation: dict[str, str] = {}
    drill.placement = [placement_row(ctx, m, _test_vm_id(m, job), dr_placement(m), colocation) for m in members(ctx, drill.group)]
    for row in drill.placement:
        if not row.get("running"):
            drill.problems.append(f"{row['vm']}: test VM not running ({row.get('problem') or row.get('power') or 'missing'})")
        elif row.get("problem"):
            drill.problems.append(f"{row['vm']}: {row['problem']}")
    group = current_group(ctx, drill.group)
    probes = group.drill_probes or ctx.settings.drill_probes
    drill.probes = [_probe(endpoint) for endpoint in probes]
    drill.problems.extend(f"probe {p['endpoint']} failed: {p['detail']}" for p in drill.probes if not p["ok"])
    placed = sum(1 for row in drill.placement if row.get("running") and not row.get("problem"))
    audit(
        ctx.store,
        drill.group,
        "drill-validated" if not drill.problems else "drill-validation-failed",
        f"drill {drill.id}: {placed} of {len(drill.placement)} test VMs running as planned"
        + (f"; {'; '.join(drill.problems)}" if drill.problems else ""),
        drill=drill.id,
        placement=drill.placement,
    )
    drill.validated = _now(ctx).isoformat()
    drill.timeline = measure.timeline(job, None, _vm_names(ctx, drill, job) if job else {}, drill.validated)
    drill.phase = CLEANUP


def _to_cleanup(ctx: AppContext, drill: DrillRecord, reason: str) -> None:
    if drill.phase != CLEANUP:
        drill.cleanup_reason = drill.cleanup_reason or reason
        drill.problems.append(reason)
        audit(ctx.store, drill.group, "drill-cleanup-forced", f"drill {drill.id}: {reason}; cleaning up", drill=drill.id)
    drill.phase = CLEANUP if drill.phase != STARTING else drill.phase


def _phase_cleanup(ctx: AppContext, drill: DrillRecord) -> None:
    """Delete the test VMs (test failover cleanup) whatever happened before; nothing to clean: done."""
    ops = _item_ops(ctx, drill)
    if any(not allowed for allowed in ops.values()):
        return  # a test failover or cleanup is still running on an item: wait for it
    if ops and all("TestFailoverCleanup" not in allowed for allowed in ops.values()):
        drill.cleaned_up = True  # no test failover left on any item (it failed early, or was cleaned up by hand)
        _finish(ctx, drill)
        return
    comments = f"ppg-dr drill {drill.id}" + (f": {drill.cleanup_reason}" if drill.cleanup_reason else "")
    try:
        started = ctx.site_recovery.plan_test_failover_cleanup(drill.recovery_plan, comments=comments)
    except Exception as exc:
        audit(
            ctx.store, drill.group, "drill-cleanup-failed", f"drill {drill.id}: {azure_error_text(exc)}; retried", drill=drill.id
        )
        log.error("drill %s of %s: cleanup refused: %s; retried on the next pulse", drill.id, drill.group, azure_error_text(exc))
        return
    drill.job = drill.cleanup_job = started.job_id or ""


def _finish(ctx: AppContext, drill: DrillRecord, problem: str | None = None) -> None:
    if problem:
        drill.problems.append(problem)
    now = _now(ctx)
    cleanup = ctx.site_recovery.job(drill.cleanup_job) if drill.cleanup_job else None
    test_failover = ctx.site_recovery.job(drill.test_failover_job) if drill.test_failover_job else None
    if test_failover is not None:
        names = _vm_names(ctx, drill, test_failover)
        drill.timeline = measure.timeline(test_failover, cleanup, names, drill.validated or None) or drill.timeline
    drill.verdict, drill.problems = (
        measure.verdict(drill) if (drill.test_failover_job or drill.placement) else ("failed", drill.problems)
    )
    drill.phase, drill.finished = DONE, now.isoformat()
    summary = f"drill {drill.id} {drill.verdict}" + (f": {'; '.join(drill.problems)}" if drill.problems else "")
    audit(ctx.store, drill.group, f"drill-{drill.verdict}", summary, drill=drill.id, report=drill.id)
    save_report(ctx.store, drill_report(ctx, drill))  # after the verdict's audit entry: the report's events show it
    (log.info if drill.verdict == "passed" else log.warning)("%s", summary, extra={"group": drill.group, "step": "drill"})


_PHASES = {STARTING: _phase_start, TEST_FAILOVER: _phase_start, VALIDATE: _phase_validate, CLEANUP: _phase_cleanup}


# ------------------------------------------------------------------------------------------- schedule


def group_schedule(ctx: AppContext, group: Group) -> str:
    """The group's schedule: the strictest its members' ``ppgdr-drill`` tags ask for, else the setting's."""
    try:
        default = parse_schedule(ctx.settings.drill_schedule)
    except ScheduleError as exc:
        log.error("PPGDR_DRILL_SCHEDULE: %s; no default drills", exc)
        default = "off"
    return strictest(list(group.drill_schedules), default=default)


def schedule_drills(ctx: AppContext) -> list[str]:
    """The ``drills`` timer: start the drills that are due, inside the window, within the concurrency cap."""
    now = _now(ctx)
    notes: list[str] = []
    running = len(active_drills(ctx.store))
    history = {}
    for drill in list_drills(ctx.store):
        history[drill.group.lower()] = drill  # oldest first: the last one wins
    for group in sorted(groups_from_statuses(st.all_statuses(ctx.store)).values(), key=lambda g: g.name):
        schedule = group_schedule(ctx, group)
        last = history.get(group.name.lower())
        if not due(schedule, datetime.fromisoformat(last.started) if last else None, now, ctx.settings.drill_window):
            continue
        if running >= ctx.settings.max_concurrent_drills:
            notes.append(f"{group.name}: drill due, waiting (PPGDR_MAX_CONCURRENT_DRILLS={ctx.settings.max_concurrent_drills})")
            continue
        refusal = drill_refusal(ctx, group)
        if refusal:
            notes.append(f"{group.name}: drill due, not started: {refusal}")
            continue
        try:
            drill = start_drill(ctx, group.name, by=f"schedule {schedule}", trigger="schedule")
        except WorkflowRefused as exc:
            notes.append(f"{group.name}: drill due, not started: {exc}")
            continue
        running += 1
        notes.append(f"{group.name}: drill {drill.id} started ({schedule})")
    return notes
