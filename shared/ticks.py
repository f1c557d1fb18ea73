"""What each timer does, in one place: the pulse (every minute) and the full reconcile (every 15 minutes).

Events are hints and the reconcile is the truth: an event reconciles one VM now, the reconcile repairs
whatever events were lost. The pulse moves everything in flight one step on; nothing waits for Azure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.context import AppContext
from shared.drills.engine import advance_drills, schedule_drills
from shared.failover.adoption import adopt
from shared.failover.engine import advance_all
from shared.failover.guard import auto_failback, purge_signals, reevaluate_recent
from shared.failover.recovery_plans import sync_all_plans
from shared.protection.operations import follow_operations
from shared.protection.reconciler import ReconcileReport, list_items, reconcile_all
from shared.state.vm_status import plans_synced_after


@dataclass
class PulseReport:
    polled: int = 0
    finished: list[tuple[str, str, str]] = field(default_factory=list)  # (vm, operation, outcome)
    refreshed: int = 0
    plans: list[tuple[str, str, str]] = field(default_factory=list)  # (group, "recovery-plan", what changed)
    decisions: list[str] = field(default_factory=list)
    drill_notes: list[str] = field(default_factory=list)
    workflow_notes: list[str] = field(default_factory=list)


def pulse(ctx: AppContext) -> PulseReport:
    """Every minute, in this order:

    1. follow Azure writes in flight (poll journaled jobs, finish them, follow initial replication);
    2. keep recovery plans in step with groups whose membership just changed (no ARM call otherwise);
    3. decide again for groups with recent signals (a debounce can pass without a new alert);
    4. start automatic failbacks that are due (``PPGDR_AUTO_FAILBACK_MINUTES``);
    5. advance every drill in flight (and clean up those past their deadline or stopped by a failover);
    6. advance every active failover / failback workflow, each under its group's lease.

    The pulse never reads the whole status table: each step reads the statuses it concerns (the VMs of journaled
    jobs, those replicating, groups marked as changed, groups with recent signals or due a failback, a workflow's
    group), so its cost does not grow with the estate.
    """
    operations = follow_operations(ctx)
    report = PulseReport(operations.polled, operations.finished, operations.refreshed)
    report.plans = sync_all_plans(ctx, changed_only=True)
    report.decisions = [f"{o['group']}: {o['kind']}" for o in reevaluate_recent(ctx)]
    report.decisions += [f"{group}: automatic failback started" for group in auto_failback(ctx)]
    report.drill_notes = advance_drills(ctx)
    report.workflow_notes = advance_all(ctx)
    return report


def reconcile(ctx: AppContext) -> ReconcileReport:
    """Every 15 minutes: adopt what Azure shows and ppg-dr lost, reconcile every VM and item (paged lists), then
    every group's recovery plan, then purge signals older than the decision window. Adoption comes first and
    reuses the item listing: a group found failed over is locked to its workflow before any of its VMs is planned.
    The status table is read once: the recovery-plan sync takes the statuses as the reconcile left them."""
    items = list_items(ctx)
    adoption = adopt(ctx, items)
    with plans_synced_after():  # every group's plan is synced below: the status writes need not mark any
        report = reconcile_all(ctx, items=items)
        del items  # 100,000 item records are not kept while the plans are synced
        report.actions[:0] = [(group, f"adopted-{what}", why) for group, what, why in adoption.adopted]
        report.notes.extend(f"group {group}: items busy with a job; adopted once it ends" for group in adoption.waiting)
        report.actions.extend(sync_all_plans(ctx, statuses=report.statuses))  # the statuses as the reconcile left them
    purge_signals(ctx)
    return report


def drills(ctx: AppContext) -> list[str]:
    """Every few minutes: start the drills that are due (schedule, window, concurrency cap, safety)."""
    return schedule_drills(ctx)
