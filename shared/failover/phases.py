"""The steps of a group workflow that talk to Site Recovery: plan, failover, commit, reprotect, replicating.

Each phase reads what it needs, starts at most one kind of ASR job (kept in the workflow and polled by
the engine) and moves the workflow on; none waits. Steps look before they send: what ASR allows on each
item now says whether a step already ran (sent before a crash, or done in the portal), so it is adopted
rather than sent twice. Placement verification and repair are in :mod:`shared.failover.placement`.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.arm.names import POLICY_NAME, container_name, fabric_name, recovery_plan_name
from shared.context import AppContext
from shared.failover.lookup import current_group
from shared.failover.recovery_plans import sync_plan
from shared.failover.refusals import WorkflowRefused
from shared.failover.report import write_workflow_report
from shared.failover.workflow_state import DONE, FAILOVER, Workflow, claim_send, members
from shared.platform.site_recovery import ItemView, SwitchProtection
from shared.state import vm_status as st
from shared.state.audit import audit
from shared.state.drill_records import active_drill
from shared.state.group_records import GroupState, update_group


def item_places(ctx: AppContext, member: st.VmStatus) -> list[tuple[str, str]]:
    """Where a member's item may be: where it was last seen, then each region's container (switch protection moves it)."""
    regions = {member.location, *ctx.settings.region_pairs.values(), *ctx.settings.region_pairs.keys()}
    return [(member.fabric, member.container), *((fabric_name(r), container_name(r)) for r in sorted(r for r in regions if r))]


def find_item(ctx: AppContext, member: st.VmStatus) -> ItemView | None:
    """The member's replicated item wherever it lives now."""
    return ctx.site_recovery.find_item(member.item_name, item_places(ctx, member))


def phase_plan(ctx: AppContext, wf: Workflow) -> None:
    group = current_group(ctx, wf.group)
    sync = sync_plan(ctx, group, wf.target_region, lease_held=True)
    if sync.problem:
        raise WorkflowRefused(sync.problem)
    if sync.left_out:
        raise WorkflowRefused(f"not in the recovery plan yet: {', '.join(sync.left_out)}")
    update_group(ctx.store, wf.group, plan=sync.plan_name, boot_groups=[list(b) for b in sync.boot_groups])
    wf.next_phase = "failover"
    if sync.job:
        wf.job = sync.job
    else:
        wf.phase = "failover"


def source_answers(ctx: AppContext, group_members: list[st.VmStatus], kind: str) -> bool:
    """Whether the region we leave still answers: then ASR shuts its VMs down before failing over."""
    if not group_members:
        return False
    if kind != FAILOVER:
        return True
    return ctx.compute.answers(group_members[0].vm_id)


def member_items(ctx: AppContext, wf: Workflow, group_members: list[st.VmStatus] | None = None) -> dict[str, ItemView | None]:
    """Each member's item, read now, by VM name: one list of the group's recovery plan (however many members), then
    a lookup of any member that list does not hold (not in the plan, or moved where the list does not show it)."""
    group_members = members(ctx, wf.group) if group_members is None else group_members
    if not group_members:
        return {}
    listed = {item.name.lower(): item for item in ctx.site_recovery.plan_items(recovery_plan_name(wf.group))}
    return {member.vm_name: listed.get(member.item_name.lower()) or find_item(ctx, member) for member in group_members}


def item_operations(ctx: AppContext, wf: Workflow, items: dict[str, ItemView | None] | None = None) -> dict[str, tuple[str, ...]]:
    """What ASR allows on each member's item now: the world's answer to "did this step already run?"."""
    items = member_items(ctx, wf) if items is None else items
    return {name: item.allowed_operations if item is not None else () for name, item in items.items()}


def check_direction(ctx: AppContext, wf: Workflow, items: dict[str, ItemView | None] | None = None) -> None:
    """Refuse a failover whose direction does not match where the items replicate from.

    A recovery plan keeps its fabrics: ``PrimaryToRecovery`` fails over items that replicate from the
    plan's primary region, ``RecoveryToPrimary`` (failback) items that replicate from its recovery region
    after reprotect. Azure fails a wrong direction in the job; saying so before sending is clearer.
    """
    leaving = fabric_name(wf.source_region)
    items = member_items(ctx, wf) if items is None else items
    wrong = {name: item.fabric for name, item in items.items() if item is not None and item.fabric != leaving}
    if wrong:
        raise WorkflowRefused(
            f"{wf.direction} fails over items that replicate from {wf.source_region}, but "
            + ", ".join(f"{vm} replicates from fabric {fabric}" for vm, fabric in sorted(wrong.items())),
            suggestion="check the group in the vault (`ppgdr groups`); a failback needs the group reprotected first",
        )


def already(
    ctx: AppContext,
    wf: Workflow,
    *,
    done: Callable[[tuple[str, ...]], bool],
    send: Callable[[tuple[str, ...]], bool],
    items: dict[str, ItemView | None] | None = None,
) -> bool | None:
    """True when every item shows the step done, None while ASR is busy with it, False when it must be sent.

    Looking before sending makes a step idempotent: after a crash between sending a step and saving
    its job, or a step someone ran in the portal, the pulse adopts the result instead of sending twice.
    ``done`` and ``send`` read an item's allowed operations, the only place ASR says where an item is.
    ``items``: the members' items as the step read them just now (:func:`member_items`), else read here.
    """
    ops = item_operations(ctx, wf, items)
    if ops and all(done(allowed) for allowed in ops.values()):
        return True
    if any(not allowed for allowed in ops.values()):
        return None
    if ops and all(send(allowed) for allowed in ops.values()):
        return False
    raise WorkflowRefused(
        "the group's items are in different states: "
        + "; ".join(f"{vm}: {', '.join(allowed) or 'busy'}" for vm, allowed in sorted(ops.items())),
        suggestion="bring the items to one state in the vault (or wait for their jobs), then `ppgdr resume GROUP`",
    )


# What an A2A item allows says where it is (recorded sessions: docs/emulator.md, "Allowed operations"):
# protected -> UnplannedFailover; failed over, not committed -> Commit (and SwitchProtection);
# committed -> SwitchProtection without Commit. ASR never lists ReverseReplicate for A2A.


def failed_over(ops: tuple[str, ...]) -> bool:
    return "Commit" in ops or "SwitchProtection" in ops


def committed(ops: tuple[str, ...]) -> bool:
    return "SwitchProtection" in ops and "Commit" not in ops


def phase_failover(ctx: AppContext, wf: Workflow) -> None:
    drill = active_drill(ctx.store, wf.group)
    if drill is not None:
        return  # a drill's test VMs are being cleaned up (requested when the failover started): then fail over
    items = member_items(ctx, wf)  # one read of the group's items for the whole step
    state = already(ctx, wf, done=failed_over, send=lambda ops: "UnplannedFailover" in ops, items=items)
    if state is None:
        return  # ASR is already failing the items over (a step sent before a crash): wait
    if state:
        wf.phase = "verify"
        scenario = ctx.site_recovery.plan_scenario(recovery_plan_name(wf.group))
        job = scenario[1] if scenario is not None and scenario[0] in ("UnplannedFailover", "Failover") else ""
        if job and job not in {entry["job"] for entry in wf.job_history}:
            wf.job_history.append({"phase": "failover", "job": job})  # the report measures it like a saved one
        audit(
            ctx.store,
            wf.group,
            f"{wf.kind}-adopted",
            "the items had already failed over: verifying without a second failover"
            + (f" (job {job}, from the recovery plan)" if job else ""),
            job=job,
        )
        return
    check_direction(ctx, wf, items)
    shutdown = "Required" if source_answers(ctx, members(ctx, wf.group), wf.kind) else "NotRequired"
    wf.source_shutdown = shutdown
    claim_send(ctx, wf)
    started = ctx.site_recovery.plan_failover(
        recovery_plan_name(wf.group), direction=wf.direction, source_shutdown=shutdown, recovery_point=wf.recovery_point
    )
    wf.job = started.job_id or ""
    wf.job_history.append({"phase": "failover", "job": wf.job})
    wf.next_phase = "verify"
    audit(
        ctx.store,
        wf.group,
        f"{wf.kind}-job",
        f"recovery plan unplanned failover {wf.direction} started (source shutdown {shutdown})",
        job=wf.job,
    )


def phase_commit(ctx: AppContext, wf: Workflow) -> None:
    state = already(ctx, wf, done=committed, send=lambda ops: "Commit" in ops)
    next_phase = "repair" if wf.repair and wf.kind == FAILOVER else "reprotect"
    if state is None:
        return
    if state:
        wf.phase = next_phase
        return
    claim_send(ctx, wf)
    started = ctx.site_recovery.plan_commit(recovery_plan_name(wf.group))
    wf.job = started.job_id or ""
    wf.job_history.append({"phase": "commit", "job": wf.job})
    wf.next_phase = next_phase
    audit(ctx.store, wf.group, "commit", f"{wf.kind} committed", job=wf.job)


def phase_reprotect(ctx: AppContext, wf: Workflow) -> None:
    """Switch protection so the copies replicate back, into the original PPG (or the DR PPG on failback)."""
    cache = ctx.settings.cache_storage_accounts.get(wf.target_region.lower())
    if cache is None:
        raise WorkflowRefused(
            f"no cache storage account for {wf.target_region}: add it to PPGDR_CACHE_STORAGE_ACCOUNTS to reprotect"
        )
    vault = ctx.site_recovery.vault
    jobs: dict[str, str] = {}
    claimed = False
    group_members = members(ctx, wf.group)
    items = member_items(ctx, wf, group_members)
    for member in group_members:
        item = items.get(member.vm_name)
        if item is None:
            raise WorkflowRefused(f"{member.vm_name}: replicated item {member.item_name} not found")
        if item.fabric == fabric_name(wf.target_region):
            continue  # switched already (sent before a crash, or by hand): it replicates from where it runs now
        if not item.allowed_operations:
            continue  # ASR is busy with it (a switch sent just before a crash): the replicating phase follows it
        if "SwitchProtection" not in item.allowed_operations:
            raise WorkflowRefused(
                f"{member.vm_name}: ASR does not allow switch protection now ({', '.join(item.allowed_operations) or 'busy'})",
                suggestion="wait for the item's job in the vault, then `ppgdr resume GROUP`",
                resume_at="reprotect",
            )
        back_region = wf.source_region  # the region the workflow left replicates to again
        if wf.kind == FAILOVER:
            back_rg = f"/subscriptions/{member.subscription}/resourceGroups/{member.resource_group}"
            ppg, avset, zone = member.source_ppg_id, member.source_availability_set_id, member.source_zone
        else:
            back_rg = f"/subscriptions/{member.subscription}/resourceGroups/{member.target_resource_group}"
            ppg, avset, zone = member.target_ppg_id, member.target_availability_set_id, member.target_zone
        running = ctx.compute.placement(item.recovery_vm_id) if item.recovery_vm_id else None
        if not claimed:
            claim_send(ctx, wf)
            claimed = True
        started = ctx.site_recovery.switch_protection(
            SwitchProtection(
                item=item,
                recovery_container_id=f"{vault.id}/replicationFabrics/{fabric_name(back_region)}"
                f"/replicationProtectionContainers/{container_name(back_region)}",
                policy_id=f"{vault.id}/replicationPolicies/{POLICY_NAME}",
                recovery_resource_group_id=back_rg,
                recovery_ppg_id=ppg or None,
                recovery_availability_set_id=avset or None,
                recovery_zone=zone or None,
                disks=running.managed_disks if running is not None else (),
                cache_storage_account_id=cache,
            )
        )
        jobs[member.vm_name] = started.job_id or ""
    wf.jobs = jobs
    wf.job_history.extend({"phase": "reprotect", "job": job} for job in jobs.values())
    wf.next_phase = "replicating"
    if not jobs:
        wf.phase = "replicating"  # every item was switched already: follow their replication
        return
    audit(
        ctx.store,
        wf.group,
        "reprotect",
        f"switch protection started for {len(jobs)} VMs "
        f"({'into the original PPG' if wf.kind == FAILOVER else 'back into the DR PPG'})",
        jobs=jobs,
    )


def phase_replicating(ctx: AppContext, wf: Workflow) -> None:
    """Wait until every item replicates (protected) in the new direction, then settle the group state."""
    group_members = members(ctx, wf.group)
    items = member_items(ctx, wf, group_members)
    if any(item is None or item.protection_state != "Protected" for item in items.values()):
        return
    wf.phase = DONE
    wf.finished = ctx.store.now().isoformat()
    write_workflow_report(ctx, wf)
    if wf.kind == FAILOVER:
        update_group(
            ctx.store, wf.group, state=GroupState.REPROTECTED, active_region=wf.target_region, reprotected_at=wf.finished
        )
        audit(
            ctx.store,
            wf.group,
            "reprotected",
            f"running in {wf.target_region}, replicating back to {wf.source_region} into the original PPG; ready for failback",
            workflow=wf.id,
        )
        for member in group_members:
            mark(
                ctx,
                member,
                items[member.vm_name],
                st.VmState.FAILED_OVER,
                f"running in {wf.target_region}; replicating back to {wf.source_region}",
            )
    else:
        # Members first, the group last: a plan sync acts on a group only once it reads "protected", and must then
        # find every member protected (else it would shrink the plan to the members marked so far, then grow it).
        for member in group_members:
            mark(ctx, member, items[member.vm_name], st.VmState.PROTECTED, "failed back; protected as desired")
        update_group(ctx.store, wf.group, state=GroupState.PROTECTED, active_region=wf.target_region, placement=wf.placement)
        audit(
            ctx.store,
            wf.group,
            "failed-back",
            f"back in {wf.target_region} with the original placement; protected to {wf.source_region} again",
            workflow=wf.id,
        )


def mark(ctx: AppContext, member: st.VmStatus, item: ItemView | None, state: str, reason: str) -> None:
    """Record a member's new state, and where its item lives now."""
    updated = st.VmStatus.from_data(member.to_data())
    updated.state, updated.reason = state, reason
    if item is not None:
        updated.fabric, updated.container = item.fabric, item.container
    st.save_status(ctx.store, updated, note=f"{member.state} -> {state}")
