"""What an operator sees of each DR group: its state in words, where it runs, its plan and workflow.

The stored group state says what the workflows did (``protected``, ``failing-over``, ...). A person also
needs to know whether every member is protected yet (a group still enabling is not ready to fail over,
so it must not read "protected"), in which region the group runs right now and in which PPG. That view
is derived here, once, for the API, the CLI and the dashboard.
"""

from __future__ import annotations

from typing import Any

from shared.context import AppContext
from shared.failover.groups import Group, groups_from_statuses
from shared.failover.workflow_state import BLOCKED, FAILOVER, Workflow, load_workflow
from shared.state import vm_status as st
from shared.state.group_records import GroupRecord, GroupState, all_groups

# The group is protected in name, but members are still enabling or replicating for the first time.
PROTECTING = "protecting"


def _names(ids: list[str]) -> list[str]:
    return sorted({i.rsplit("/", 1)[-1] for i in ids if i})


def _moved(wf: Workflow | None) -> bool:
    """Whether the workflow's VMs already run on its target side (its failover job finished)."""
    if wf is None:
        return False
    return wf.phase not in ("plan", "failover") and not (wf.phase == BLOCKED and wf.next_phase in ("plan", "failover"))


def where_it_runs(group: Group, statuses: list[st.VmStatus], record: GroupRecord, wf: Workflow | None) -> tuple[str, list[str]]:
    """(region, PPG names) the group's VMs run in now."""
    members = [s for s in statuses if s.group.lower() == group.name.lower() and s.item_name]
    state = record.state
    if wf is not None and (wf.active or state == BLOCKED) and _moved(wf):
        region = wf.target_region
        placed = [str(row.get("ppg") or "") for row in wf.placement or []]
        if wf.kind == FAILOVER:
            return region, _names(placed) or _names([m.target_ppg_id for m in members])
        return region, _names(placed) or _names([m.source_ppg_id for m in members])
    if wf is not None and (wf.active or state == BLOCKED):
        region = wf.source_region
        side = [m.source_ppg_id for m in members] if wf.kind == FAILOVER else [m.target_ppg_id for m in members]
        return region, _names(side)
    if state == "reprotected":
        placed = [str(row.get("ppg") or "") for row in record.placement or []]
        return record.target_region, _names(placed) or _names([m.target_ppg_id for m in members])
    return group.source_region, _names([m.source_ppg_id for m in members])


def display_state(group: Group, record: GroupRecord) -> str:
    state = str(record.state)
    if state == GroupState.PROTECTED and not group.protected:
        return PROTECTING
    return state


def group_rows(ctx: AppContext) -> list[dict[str, Any]]:
    """Every group, as the API returns it (``GET /api/groups``) and the CLI and dashboard show it."""
    statuses = st.all_statuses(ctx.store)
    records = all_groups(ctx.store)
    rows = []
    for group in groups_from_statuses(statuses).values():
        record = records.get(group.name.lower()) or GroupRecord(name=group.name)
        wf = load_workflow(ctx, group.name)
        region, ppgs = where_it_runs(group, statuses, record, wf)
        # Replicating in the group's current direction: protected, or failed over and replicating back.
        protected = sum(1 for m in group.members if m.state in (st.VmState.PROTECTED, st.VmState.FAILED_OVER))
        state = display_state(group, record)
        rows.append(
            {
                "name": group.name,
                "state": state,
                "failover_mode": group.failover_mode,
                "source_region": group.source_region,
                "running_in": region,
                "running_ppgs": ppgs,
                "members_protected": f"{protected} of {len(group.members)}",
                "members": [{"vm": m.vm_name, "size": m.size, "state": m.state} for m in group.members],
                "plan": record.plan,
                "boot_groups": record.boot_groups or None,
                "plan_left_out": record.plan_left_out,
                "plan_problem": record.plan_problem,
                "pending_decision": record.pending_decision,
                "last_decision": record.last_decision_reasons or None,
                "blocked_reason": record.blocked_reason if state == BLOCKED else None,
                "placement": record.placement,
                "workflow": None
                if wf is None
                else {
                    "id": wf.id,
                    "kind": wf.kind,
                    "phase": wf.phase,
                    "error": wf.error,
                    "suggestion": wf.suggestion,
                },
            }
        )
    return sorted(rows, key=lambda r: r["name"])
