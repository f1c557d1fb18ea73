"""Timer triggers: the full reconcile (repairs lost events) and the pulse (advances operations)."""

import logging

import azure.functions as func

from shared.context import get_context
from shared.platform.telemetry import span
from shared.ticks import drills, pulse
from shared.ticks import reconcile as reconcile_tick

bp = func.Blueprint()
log = logging.getLogger(__name__)

# The last reconcile summary this worker logged: an unchanged steady state is logged at debug level, so
# an idle estate (or an empty one) does not repeat the same line every tick.
_last_summary: list[str] = [""]


@bp.function_name("reconcile")
@bp.timer_trigger(arg_name="timer", schedule="0 */15 * * * *", run_on_startup=False, use_monitor=True)
def reconcile(timer: func.TimerRequest) -> None:
    """Every 15 minutes: list all VMs and protected items (paged), plan and act where needed; the first run of a
    process also runs the preflight checks and logs what is missing (never blocking the reconcile)."""
    with span("ppgdr reconcile", kind="server", function="reconcile", step="reconcile", past_due=timer.past_due) as traced:
        ctx = get_context()
        report = reconcile_tick(ctx)
        summary = (
            f"reconcile: {report.vms_seen} VMs seen, {len(report.actions)} actions, {report.status_writes} status writes, "
            f"{len(report.errors)} errors"
        )
        traced.set(vms_seen=report.vms_seen, actions=len(report.actions), errors=len(report.errors))
        if report.errors:
            traced.fail(f"{len(report.errors)} errors: {report.errors[0]}")
        changed = summary != _last_summary[0] or bool(report.actions or report.errors)
        _last_summary[0] = summary
        log.log(logging.INFO if changed else logging.DEBUG, "%s%s", summary, " (timer was past due)" if timer.past_due else "")
        if changed:
            for note in report.notes:
                log.warning("reconcile: %s", note, extra={"step": "reconcile"})
        for vm, action, reason in report.actions:
            log.info("reconcile: %s: %s (%s)", vm, action, reason, extra={"vm": vm, "step": action})
        from shared.operator.preflight import check_once  # lazy: a cold start that is not a reconcile never loads it

        check_once(ctx)  # after the tick: its reads never delay (or take the faults meant for) the reconcile itself


@bp.function_name("pulse")
@bp.timer_trigger(arg_name="timer", schedule="0 * * * * *", run_on_startup=False, use_monitor=False)
def pulse_timer(timer: func.TimerRequest) -> None:
    """Every minute: poll ASR jobs of operations in flight and take each VM's next step."""
    with span("ppgdr pulse", kind="server", function="pulse", step="pulse") as traced:
        report = pulse(get_context())
        traced.set(polled=report.polled, finished=len(report.finished), workflow_notes=len(report.workflow_notes))
        for vm, operation, outcome in report.finished:
            traced.set(vm=vm.rstrip("/").rsplit("/", 1)[-1] if vm else None)
            log.info("pulse: %s %s%s", operation, outcome, f" for {vm}" if vm else "", extra={"vm": vm, "step": operation})


@bp.function_name("drills")
@bp.timer_trigger(arg_name="timer", schedule="0 */5 * * * *", run_on_startup=False, use_monitor=True)
def drills_timer(timer: func.TimerRequest) -> None:
    """Every 5 minutes: start the test-failover drills that are due (the pulse carries them out)."""
    with span("ppgdr drills", kind="server", function="drills", step="drill") as traced:
        notes = drills(get_context())
        traced.set(notes=len(notes))
        for note in notes:
            log.info("drills: %s", note, extra={"step": "drill"})
