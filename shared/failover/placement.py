"""Where a group's VMs landed after a failover or failback, and the anchor-first repair.

ASR places failed-over VMs in the target PPG only when capacity allows; otherwise it creates them outside
the PPG (and its availability set) and says little. ppg-dr verifies every VM after every failover and
failback, reports each one outside loudly (log, audit trail, group record), and repairs on request the
way Azure's co-location guidance says: deallocate the group, then start it boot group by boot group,
the hardest size first, inside the PPG.
"""

from __future__ import annotations

import logging
from typing import Any

from azure.core.exceptions import HttpResponseError

from shared.arm.ids import same_id
from shared.arm.keys import normalize_arm_id
from shared.context import AppContext
from shared.failover.groups import Member, placement_order
from shared.failover.phases import member_items
from shared.failover.refusals import WorkflowRefused
from shared.failover.workflow_state import DONE, FAILOVER, Workflow, members
from shared.platform.errors import azure_error_text
from shared.state import vm_status as st
from shared.state.audit import audit
from shared.state.group_records import GroupState, get_group, update_group

log = logging.getLogger(__name__)


def placement_row(
    ctx: AppContext,
    member: st.VmStatus,
    vm_id: str | None,
    expected: tuple[str, str, str],
    colocation: dict[str, str],
) -> dict[str, Any]:
    """Where one VM landed against where it should be: ``expected`` is (PPG id, availability set id, zone).

    Used for failed-over VMs, failed-back VMs and the test VMs of a drill alike; ``colocation`` caches the
    PPGs' colocation status across rows.
    """
    expected_ppg, expected_avset, expected_zone = expected
    row: dict[str, Any] = {
        "vm": member.vm_name,
        "source_vm_id": member.vm_id,
        "vm_id": vm_id,
        "expected_ppg": expected_ppg or None,
        "expected_availability_set": expected_avset or None,
        "expected_zone": expected_zone or None,
    }
    vm = ctx.compute.placement(vm_id) if vm_id else None
    if vm is None:
        row.update(running=False, problem="no failed-over VM reported by ASR")
        return row
    in_ppg = same_id(vm.ppg_id, expected_ppg) if expected_ppg else None
    in_avset = same_id(vm.availability_set_id, expected_avset) if expected_avset else None
    in_zone = (str(vm.zone) == str(expected_zone)) if expected_zone else None
    row.update(
        vm_id=vm.id,
        size=vm.size,
        power=vm.power,
        running=vm.running,
        ppg=vm.ppg_id,
        availability_set=vm.availability_set_id,
        zone=vm.zone,
        in_ppg=in_ppg,
        in_availability_set=in_avset,
        in_zone=in_zone,
    )
    outside = [what for what, ok in (("PPG", in_ppg), ("availability set", in_avset), ("zone", in_zone)) if ok is False]
    if outside:
        row["problem"] = f"placed outside the target {', '.join(outside)} (OverconstrainedAllocationRequest fallback)"
    if expected_ppg and expected_ppg.lower() not in colocation:
        colocation[expected_ppg.lower()] = ctx.compute.ppg_colocation(expected_ppg)
    row["ppg_colocation"] = colocation.get((expected_ppg or "").lower())
    return row


def dr_placement(member: st.VmStatus) -> tuple[str, str, str]:
    """Where a member belongs in its DR region: the target PPG, availability set and zone."""
    return member.target_ppg_id, member.target_availability_set_id, member.target_zone


def placement_report(ctx: AppContext, wf: Workflow) -> list[dict[str, Any]]:
    """For each failed-over VM: is it running, and did it land in the expected PPG, availability set and zone?"""
    rows: list[dict[str, Any]] = []
    colocation: dict[str, str] = {}
    known = {normalize_arm_id(r["source_vm_id"]): r["vm_id"] for r in wf.placement if r.get("vm_id") and r.get("source_vm_id")}
    group_members = members(ctx, wf.group)
    items = member_items(ctx, wf, group_members)  # one list of the plan's items, not one GET per member
    for member in group_members:
        item = items.get(member.vm_name)
        if item is None:
            rows.append(
                {"vm": member.vm_name, "source_vm_id": member.vm_id, "running": False, "problem": "replicated item not found"}
            )
            continue
        if wf.kind == FAILOVER:
            # Once reprotected, ASR's recovery VM is the original again: keep the VM verified first.
            vm_id = known.get(normalize_arm_id(member.vm_id)) or item.recovery_vm_id
            expected = dr_placement(member)
        else:
            vm_id = member.vm_id
            expected = (member.source_ppg_id, member.source_availability_set_id, member.source_zone)
        rows.append(placement_row(ctx, member, vm_id, expected, colocation))
    return rows


def phase_verify(ctx: AppContext, wf: Workflow) -> None:
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
    audit(ctx.store, wf.group, "placement", summary, placement=rows, workflow=wf.id)
    if wf.kind == FAILOVER:
        known = {normalize_arm_id(v) for v in get_group(ctx.store, wf.group).recovery_vm_ids}
        recovery = {normalize_arm_id(r["vm_id"]) for r in rows if r.get("vm_id")}
        update_group(ctx.store, wf.group, placement=rows, recovery_vm_ids=sorted(known | recovery))
    else:
        update_group(ctx.store, wf.group, placement=rows)
    if stopped and wf.require_all_running and not wf.force_commit:
        raise WorkflowRefused(
            f"not running after failover: {', '.join(stopped)}; commit is held (PPGDR_REQUIRE_ALL_RUNNING)",
            suggestion="start the VMs, or `ppgdr commit GROUP` to commit as they are",
            resume_at="commit",
        )
    wf.phase = "commit"


def phase_repair(ctx: AppContext, wf: Workflow) -> None:
    """Azure's co-location guidance: deallocate the group, then start it anchor-first inside the PPG.

    Stages (kept in ``wf.repair_stage``): ``deallocate`` -> ``wait-deallocated`` (then VMs outside the PPG
    are moved into it) -> ``start-<n>`` for each boot group, each only once the previous one runs.
    """
    rows = wf.placement or placement_report(ctx, wf)
    vms = [r for r in rows if r.get("vm_id")]
    order = placement_order([Member(r["vm_id"], r["vm"], r.get("size", ""), "", "", "", None, "") for r in vms])
    stage = wf.repair_stage or "deallocate"
    if stage == "deallocate":
        for row in vms:
            ctx.compute.deallocate(row["vm_id"])
        wf.repair_stage = "wait-deallocated"
        audit(ctx.store, wf.group, "repair", f"deallocating {len(vms)} VMs to restart them anchor-first inside the PPG")
        return
    if stage == "wait-deallocated":
        if any(ctx.compute.power(r["vm_id"]) != "deallocated" for r in vms):
            return
        for row in vms:
            if row.get("in_ppg") is False and row.get("expected_ppg"):
                ctx.compute.move_into_ppg(row["vm_id"], row["expected_ppg"])
        wf.repair_stage = "start-0"
        return
    index = int(stage.split("-", 1)[1])
    if index > 0:
        powers = {m.vm_name: ctx.compute.power(m.vm_id) for m in order[index - 1]}
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
        _repair_done(ctx, wf)
        return

    for member in order[index]:
        try:
            ctx.compute.start(member.vm_id)
        except HttpResponseError as exc:
            audit(ctx.store, wf.group, "repair-start-failed", f"{member.vm_name}: {azure_error_text(exc)}")
    wf.repair_stage = f"start-{index + 1}"


def _repair_done(ctx: AppContext, wf: Workflow) -> None:
    wf.placement = placement_report(ctx, wf)
    outside = [r["vm"] for r in wf.placement if r.get("problem")]
    audit(
        ctx.store,
        wf.group,
        "repair-done",
        "placement repaired" if not outside else f"still outside: {', '.join(outside)}",
        placement=wf.placement,
    )
    update_group(ctx.store, wf.group, placement=wf.placement)
    wf.repair_stage, wf.repaired = "", True
    wf.phase = wf.next_phase if wf.next_phase not in ("", "repair") else "reprotect"
    if wf.phase == "repair-done":
        wf.phase = DONE
        update_group(ctx.store, wf.group, state=GroupState.REPROTECTED)
