"""Adopting Azure's state after ppg-dr's own was lost: group records, member statuses and workflows rebuilt.

Called by the full reconcile with the items it listed anyway (no extra listing), before any VM is planned,
so a VM whose group failed over is locked to its workflow before the per-VM reconcile could send it a
wrong write (an enable of a VM that replicates from its DR copy, a disable of a VM the reprotect deleted).
A group is adopted when its items are somewhere only a workflow leads (failed over, replicating back,
running in the DR region, failing back) and ppg-dr has neither an active workflow nor a record that
says so. What is rebuilt, from the items (:mod:`shared.failover.adoption_rules`) and the VMs they name:

- each member's status (home VM, item, where it runs, the placement each direction restores);
- the group record (state, regions, members, the DR copies it locks);
- the workflow, at the phase whose look-before-send finds what Azure did, so nothing is sent twice;
- an ``adopted`` audit entry that says what was found and what continues.

Nothing is written to Azure here. Steady groups (items replicating from home) need no adoption: the per-VM
reconcile rebuilds their statuses from the items it observes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field

from shared.arm.ids import parse_resource_id
from shared.arm.keys import normalize_arm_id
from shared.arm.names import recovery_plan_name
from shared.context import AppContext
from shared.failover.adoption_rules import Adoption, GroupAdoption, ItemFacts, Stage, adoption_for, item_facts
from shared.failover.workflow_state import FAILBACK, FAILOVER, Workflow, all_workflows, members, save_workflow
from shared.platform.compute import VmPlacement
from shared.platform.errors import azure_error_text
from shared.platform.observed import ObservedItem
from shared.protection.tags import default_group, parse_tags
from shared.state import vm_status as st
from shared.state.audit import audit
from shared.state.drill_records import CLEANUP, DrillRecord, active_drill, save_drill
from shared.state.group_records import GroupState, all_groups, locked_vm_ids, update_group

log = logging.getLogger(__name__)


@dataclass
class AdoptionReport:
    adopted: list[tuple[str, str, str]] = field(default_factory=list)  # (group, what, why)
    waiting: list[str] = field(default_factory=list)  # groups looked at again on the next reconcile


def adopt(ctx: AppContext, items: list[ObservedItem]) -> AdoptionReport:
    """Rebuild what ppg-dr lost about groups Azure shows mid-workflow or running in their DR region."""
    report = AdoptionReport()
    homes = set(ctx.settings.region_pairs)
    every = [f for item in items if (f := item_facts(item, homes)) is not None]
    _adopt_drills(ctx, [f for f in every if "TestFailoverCleanup" in f.item.allowed_operations], report)
    facts = [f for f in every if f.stage != Stage.STEADY]
    if not facts:
        return report  # the common case: every item replicates from home (costs nothing)
    locked = locked_vm_ids(ctx.store)
    workflows = {wf.group.lower(): wf for wf in all_workflows(ctx) if wf.active}
    statuses = {normalize_arm_id(s.vm_id): s for s in st.all_statuses(ctx.store)}
    by_group: dict[str, tuple[str, list[ItemFacts]]] = {}
    for fact in facts:
        if fact.home_key in locked:
            continue  # ppg-dr's record knows where this VM is
        group = _group_name(ctx, fact, statuses.get(fact.home_key))
        by_group.setdefault(group.lower(), (group, []))[1].append(fact)
    records = all_groups(ctx.store)
    for key, (group, found) in by_group.items():
        running = workflows.get(key)
        if running is not None:
            if key not in records:  # the workflow survived, its group record did not
                _record_for_workflow(ctx, running)
            continue
        decision = adoption_for([m.stage for m in found])
        if decision.kind == Adoption.WAIT:
            report.waiting.append(group)
        elif decision.kind != Adoption.NOTHING:
            _adopt_group(ctx, group, found, decision, statuses)
            report.adopted.append((group, decision.kind.value, decision.why))
    return report


ON_DEMAND_SECONDS = 60.0


_ON_DEMAND_LOCK = threading.Lock()
_ON_DEMAND_LAST: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()  # per state store (process)


def adopt_on_demand(ctx: AppContext, name: str) -> bool:
    """An operator names a group ppg-dr has no record of: adopt from Azure now instead of answering "unknown".

    After state loss the full reconcile adopts what Azure shows, but that may be up to a timer period away, and a
    failback asked in between would be refused as an unknown group. One listing of the vault's items (what the
    reconcile reads anyway) is affordable for an operator's command; it runs only for a name not on record.
    True when the group is on record afterwards.
    """
    from azure.core.exceptions import AzureError

    from shared.protection.reconciler import list_items  # one vault listing, only on this rare path

    with _ON_DEMAND_LOCK:  # at most one listing a minute per worker: an unknown name must not make ppg-dr list
        now = time.monotonic()  # the vault on every request (a key holder could ask for any name)
        if now - _ON_DEMAND_LAST.get(ctx.store, float("-inf")) < ON_DEMAND_SECONDS:
            return False
        _ON_DEMAND_LAST[ctx.store] = now
    try:
        report = adopt(ctx, list_items(ctx))
    except AzureError as exc:  # Azure unreachable or the vault missing: the name stays unknown, said in the log
        log.warning("could not look for group %s in Azure: %s", name[:100], azure_error_text(exc), extra={"group": name[:100]})
        return False
    except ValueError as exc:  # a setting it needs is missing (no vault): the same
        log.warning("could not look for group %s in Azure: %s", name[:100], exc, extra={"group": name[:100]})
        return False
    found = any(group.lower() == name.strip().lower() for group, _, _ in report.adopted)
    if found:
        log.warning("group %s was not on record: adopted from Azure on an operator's command", name, extra={"group": name})
    return found


def _group_name(ctx: AppContext, fact: ItemFacts, stored: st.VmStatus | None) -> str:
    """The group the VM belongs to, as the per-VM reconcile names it: its tags, else its home PPG's name."""
    if stored is not None and stored.group:
        return stored.group
    vm_name = fact.home_vm_id.rstrip("/").rsplit("/", 1)[-1]
    intent = parse_tags(fact.item.synced_tags).intent  # the VM's tags as ASR synced them
    home_ppg = _home_placement(ctx, fact)[0]
    if intent is not None:
        return default_group(intent, _last(home_ppg), vm_name)
    return _last(home_ppg) or vm_name


def _last(resource_id: str | None) -> str | None:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None


def _home_placement(ctx: AppContext, fact: ItemFacts) -> tuple[str | None, str | None, str | None, str]:
    """(PPG, availability set, zone, size) of the VM at home: the VM itself, or what the reprotect restores there."""
    if fact.away:  # switched: the item's recovery side is home, with the original placement (reprotect sent it)
        item = fact.item
        return item.recovery_ppg_id, item.recovery_availability_set_id, item.recovery_zone, item.recovery_vm_size or ""
    found = _placement(ctx, fact.home_vm_id)
    if found is None:
        return None, None, None, ""
    return found.ppg_id, found.availability_set_id, found.zone, found.size


def _dr_placement(ctx: AppContext, fact: ItemFacts) -> tuple[str | None, str | None, str | None, str]:
    """(PPG, availability set, zone, resource group) in the DR region: where the copy runs, else the item's targets."""
    running = fact.running_vm_id
    found = _placement(ctx, running) if running else None
    if found is not None and running:
        parsed = parse_resource_id(running)
        return found.ppg_id, found.availability_set_id, found.zone, parsed.resource_group or "" if parsed else ""
    item = fact.item
    rg = _last(item.recovery_resource_group_id) or ""
    return item.recovery_ppg_id, item.recovery_availability_set_id, item.recovery_zone, rg


def _placement(ctx: AppContext, vm_id: str) -> VmPlacement | None:
    return ctx.compute.placement(vm_id)


def _member_status(ctx: AppContext, group: str, fact: ItemFacts, stored: st.VmStatus | None) -> st.VmStatus:
    """The member's status rebuilt from its item and VMs (kept as it is where it survived)."""
    if stored is not None and stored.group and stored.item_name:
        status = st.VmStatus.from_data(stored.to_data())
    else:
        parsed = parse_resource_id(fact.home_vm_id)
        status = st.VmStatus(
            vm_id=fact.home_vm_id,
            vm_name=parsed.name if parsed else fact.home_vm_id.rsplit("/", 1)[-1],
            subscription=parsed.subscription if parsed else "",
            resource_group=parsed.resource_group or "" if parsed else "",
            location=fact.home_region,
            group=group,
        )
        ppg, avset, zone, size = _home_placement(ctx, fact)
        status.source_ppg_id, status.source_availability_set_id, status.source_zone = ppg or "", avset or "", zone or ""
        status.size = size
        dr_ppg, dr_avset, dr_zone, dr_rg = _dr_placement(ctx, fact)
        status.target_ppg_id, status.target_availability_set_id, status.target_zone = dr_ppg or "", dr_avset or "", dr_zone or ""
        status.target_resource_group = dr_rg
        intent = parse_tags(fact.item.synced_tags).intent
        if intent is not None:
            status.failover_mode = intent.failover.value if "ppgdr-failover" in intent.sources else ctx.settings.failover_mode
            status.boot_order = intent.boot_order
    item = fact.item
    status.item_name, status.fabric, status.container = item.name, item.fabric_name, item.container_name
    status.protection_state = item.protection_state or ""
    status.target_ppg_id = status.target_ppg_id if fact.away else item.recovery_ppg_id or status.target_ppg_id
    status.state = st.VmState.PROTECTED if fact.stage == Stage.STEADY else st.VmState.FAILED_OVER
    status.reason = f"adopted from Azure after ppg-dr's state was lost ({fact.stage.value})"
    status.in_flight = {}
    return status


def _share_dr_ppg(statuses: list[st.VmStatus]) -> None:
    """A member whose DR copy runs outside the group's DR PPG (capacity fallback) keeps that PPG as its target.

    Its own placement says "no PPG"; taken as the target, the failback's reprotect would send no recovery PPG and
    the item would lose it. The group's DR PPG is the one its other members run in (the most common).
    """
    counts: dict[str, int] = {}
    for status in statuses:
        if status.target_ppg_id:
            counts[status.target_ppg_id] = counts.get(status.target_ppg_id, 0) + 1
    if not counts:
        return
    shared = max(counts, key=lambda ppg: counts[ppg])
    for status in statuses:
        if not status.target_ppg_id:
            status.target_ppg_id = shared


def _adopt_group(
    ctx: AppContext, group: str, members: list[ItemFacts], decision: GroupAdoption, statuses: dict[str, st.VmStatus]
) -> None:
    home = members[0].home_region
    dr = ctx.settings.target_region(home) or ""
    rebuilt = [_member_status(ctx, group, fact, statuses.get(fact.home_key)) for fact in members]
    _share_dr_ppg(rebuilt)
    for status in rebuilt:
        st.save_status(ctx.store, status, note="adopted from Azure")
    running = sorted({normalize_arm_id(r) for f in members if (r := f.running_vm_id)})
    member_ids = [f.home_vm_id for f in members]
    names = ", ".join(sorted(f.home_vm_id.rsplit("/", 1)[-1] for f in members))
    if decision.kind == Adoption.REPROTECTED:
        update_group(
            ctx.store,
            group,
            state=GroupState.REPROTECTED,
            workflow="",
            source_region=home,
            target_region=dr,
            active_region=dr,
            member_vm_ids=member_ids,
            recovery_vm_ids=running,
            reprotected_at=ctx.store.now().isoformat(),
            blocked_reason=None,
        )
        audit(ctx.store, group, "adopted", f"state rebuilt from Azure: {decision.why} ({names}); ready for failback")
        return
    failback = decision.kind == Adoption.FAILBACK
    wf = Workflow(
        group=group,
        id=uuid.uuid4().hex[:12],
        kind=FAILBACK if failback else FAILOVER,
        direction="RecoveryToPrimary" if failback else "PrimaryToRecovery",
        source_region=dr if failback else home,
        target_region=home if failback else dr,
        reason="adopted from Azure after ppg-dr's state was lost",
        started=ctx.store.now().isoformat(),
        phase=decision.phase,
    )
    save_workflow(ctx, wf, f"adopted at {decision.phase}: {decision.why}")
    update_group(
        ctx.store,
        group,
        state=GroupState.FAILING_BACK if failback else GroupState.FAILING_OVER,
        workflow=wf.id,
        source_region=home,
        target_region=dr,
        member_vm_ids=member_ids,
        recovery_vm_ids=running,
        blocked_reason=None,
    )
    audit(
        ctx.store,
        group,
        "adopted",
        f"state rebuilt from Azure: {decision.why} ({names}); the {wf.kind} continues at {decision.phase}",
        workflow=wf.id,
    )
    log.warning("group %s adopted from Azure: %s", group, decision.why, extra={"group": group, "step": "adopted"})


def _record_for_workflow(ctx: AppContext, wf: Workflow) -> None:
    """A workflow whose group record was lost: the record is rebuilt from it (the workflow says where it is)."""
    home, dr = (wf.target_region, wf.source_region) if wf.kind == FAILBACK else (wf.source_region, wf.target_region)
    state = GroupState.FAILING_BACK if wf.kind == FAILBACK else GroupState.FAILING_OVER
    member_ids = [m.vm_id for m in members(ctx, wf.group)]
    update_group(
        ctx.store, wf.group, state=state, workflow=wf.id, source_region=home, target_region=dr, member_vm_ids=member_ids
    )
    audit(ctx.store, wf.group, "adopted", f"group record rebuilt from its {wf.kind} workflow (phase {wf.phase})", workflow=wf.id)


def _adopt_drills(ctx: AppContext, waiting: list[ItemFacts], report: AdoptionReport) -> None:
    """Test VMs waiting for a cleanup no drill record knows of (lost with the state): a drill that cleans them up.

    Test VMs cost money and hold the test network; the drill record starts at its cleanup, so the pulse
    deletes them (test failover cleanup), and the report says why.
    """
    if not waiting:
        return
    statuses = {normalize_arm_id(s.vm_id): s for s in st.all_statuses(ctx.store)}
    groups: dict[str, tuple[str, ItemFacts]] = {}
    for fact in waiting:
        group = _group_name(ctx, fact, statuses.get(fact.home_key))
        groups.setdefault(group.lower(), (group, fact))
    for group, fact in groups.values():
        if active_drill(ctx.store, group) is not None:
            continue
        now = ctx.store.now()
        reason = "test VMs found waiting for their cleanup after ppg-dr's state was lost"
        drill = DrillRecord(
            id=f"drill-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}",
            group=group,
            trigger="adopted",
            requested_by="ppg-dr",
            phase=CLEANUP,
            started=now.isoformat(),
            deadline=now.isoformat(),
            source_region=fact.home_region,
            target_region=ctx.settings.target_region(fact.home_region) or "",
            recovery_plan=recovery_plan_name(group),
            cleanup_reason=reason,
            problems=[reason],
        )
        save_drill(ctx.store, drill, "adopted: cleanup")
        audit(ctx.store, group, "adopted", f"{reason}: drill {drill.id} cleans them up", drill=drill.id)
        report.adopted.append((group, "drill-cleanup", reason))
