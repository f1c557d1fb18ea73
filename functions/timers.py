"""Timer triggers: the full reconcile (repairs lost events) and the pulse (advances operations)."""

import logging

import azure.functions as func

from shared.context import get_context
from shared.reconciler import pulse, reconcile_all

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("reconcile")
@bp.timer_trigger(arg_name="timer", schedule="0 */15 * * * *", run_on_startup=False, use_monitor=True)
def reconcile(timer: func.TimerRequest) -> None:
    """Every 15 minutes: list all VMs and protected items (paged), plan and act where needed."""
    report = reconcile_all(get_context())
    log.info(
        "reconcile: %d VMs seen, %d actions, %d status writes, %d errors%s",
        report.vms_seen,
        len(report.actions),
        report.status_writes,
        len(report.errors),
        " (timer was past due)" if timer.past_due else "",
        extra={"step": "reconcile"},
    )
    for vm, action, reason in report.actions:
        log.info("reconcile: %s: %s (%s)", vm, action, reason, extra={"vm": vm, "step": action})


@bp.function_name("pulse")
@bp.timer_trigger(arg_name="timer", schedule="0 * * * * *", run_on_startup=False, use_monitor=False)
def pulse_timer(timer: func.TimerRequest) -> None:
    """Every minute: poll ASR jobs of operations in flight and take each VM's next step."""
    report = pulse(get_context())
    for vm, operation, outcome in report.finished:
        log.info("pulse: %s %s for %s", operation, outcome, vm, extra={"vm": vm, "step": operation})
