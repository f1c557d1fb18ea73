"""One ASR recovery plan per DR group, kept in step with the group's protected members.

The plan is what makes a group fail over *together*: one unplanned failover, commit and reprotect for
all its VMs, with boot groups in placement order (:func:`shared.failover.groups.placement_order`). Members that
are not protected yet (initial replication) are left out of the plan and listed as such in the group's
status; a VM is never dropped silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.arm.names import fabric_name, recovery_plan_name
from shared.context import AppContext
from shared.failover.groups import Group, Member, groups_from_statuses, placement_order, plan_limits_problem
from shared.platform import fleet
from shared.platform.clients import start_operation
from shared.state.group_records import GroupState, all_groups, clear_plan_dirty, get_group, plan_dirty_groups, update_group
from shared.state.store import Record
from shared.state.vm_status import VmState, VmStatus, all_statuses, group_statuses

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanSync:
    """What syncing a plan found or did: ``job`` when an update was started."""

    plan_name: str
    in_plan: tuple[str, ...]
    left_out: tuple[str, ...] = ()
    problem: str | None = None
    job: str | None = None
    boot_groups: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    created: bool = False  # a plan was created or updated (whether or not ARM returned a job to follow)
    deferred: bool = False  # a write was due but another instance held the group's lease: the next sync does it

    @property
    def ready(self) -> bool:
        return self.problem is None and self.job is None and bool(self.in_plan)


def item_id(ctx: AppContext, member: Member) -> str:
    vault = ctx.clients.vault()
    return (
        f"{vault.id}/replicationFabrics/{member.fabric}/replicationProtectionContainers/{member.container}"
        f"/replicationProtectedItems/{member.item_name}"
    )


def desired_groups(group: Group) -> tuple[list[list[Member]], list[Member]]:
    protected = [m for m in group.members if m.state == VmState.PROTECTED]
    left_out = [m for m in group.members if m.state != VmState.PROTECTED]
    return placement_order(protected), left_out


def _groups_body(ctx: AppContext, boot_groups: list[list[Member]]) -> list[Any]:
    from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

    return [
        m.RecoveryPlanGroup(group_type="Shutdown", replication_protected_items=[], start_group_actions=[], end_group_actions=[]),
        m.RecoveryPlanGroup(group_type="Failover", replication_protected_items=[], start_group_actions=[], end_group_actions=[]),
        *[
            m.RecoveryPlanGroup(
                group_type="Boot",
                replication_protected_items=[
                    m.RecoveryPlanProtectedItem(id=item_id(ctx, member), virtual_machine_id=member.vm_id) for member in boot
                ],
                start_group_actions=[],
                end_group_actions=[],
            )
            for boot in boot_groups
        ],
    ]


def _current_boot_groups(plan: Any) -> list[list[str]]:
    """The plan's Boot groups as lower-cased item names: from an SDK plan, or as listed already (a list)."""
    if isinstance(plan, list):
        return plan
    groups = []
    for group in plan.properties.groups or []:
        if str(getattr(group.group_type, "value", group.group_type)) != "Boot":
            continue
        groups.append([str(i.id).rsplit("/", 1)[-1].lower() for i in (group.replication_protected_items or [])])
    return [g for g in groups if g]


_UNREAD = object()


def sync_plan(
    ctx: AppContext,
    group: Group,
    target_region: str,
    existing: Any = _UNREAD,
    *,
    lease_held: bool = False,
    reread: Callable[[], Group | None] | None = None,
) -> PlanSync:
    """Create or update the group's plan when its membership or order changed; otherwise touch nothing.

    ``existing`` is the plan as already listed (None: it does not exist); by default it is read here.
    A write is sent only under the group's lease (``lease_held``: the caller, a workflow step, holds it),
    after reading the plan again: two instances syncing the same group send one PUT, not two.
    ``reread`` gives the group as stored now (None: no longer one to sync), read under the lease too: a write
    decided on older statuses (a tick's snapshot, or a read between two writes of a workflow that held the lease)
    would shrink the plan to the members marked so far, then grow it again.
    """
    if lease_held:
        return _sync_plan(ctx, group, target_region, existing)
    found = _sync_plan(ctx, group, target_region, existing, dry=True)
    if found.problem or not found.created:
        return found  # in step (or cannot be synced): nothing to send, no lease needed
    with ctx.store.holding(group.name, ctx.holder, ctx.settings.lease_seconds) as lease:
        if lease is None:
            return replace(found, created=False, deferred=True)
        current = group if reread is None else reread()
        if current is None:
            return replace(found, created=False)
        return _sync_plan(ctx, current, target_region, _UNREAD)  # read again under the lease


def _sync_plan(ctx: AppContext, group: Group, target_region: str, existing: Any, *, dry: bool = False) -> PlanSync:
    """:func:`sync_plan`'s work; ``dry``: say whether a write is due (``created``) without sending it."""
    from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

    name = recovery_plan_name(group.name)
    boot_groups, left_out = desired_groups(group)
    in_plan = tuple(member.vm_name for boot in boot_groups for member in boot)
    left = tuple(f"{member.vm_name} ({member.state})" for member in left_out)
    shape = tuple(tuple(member.vm_name for member in boot) for boot in boot_groups)
    problem = plan_limits_problem(group)
    if problem:
        return PlanSync(name, in_plan, left, problem, boot_groups=shape)
    if not boot_groups:
        return PlanSync(name, (), left, "no member of the group is protected yet", boot_groups=shape)
    vault = ctx.clients.vault()
    asr = ctx.clients.site_recovery(vault.subscription)
    desired = [[member.item_name.lower() for member in boot] for boot in boot_groups]
    if existing is _UNREAD:
        try:
            existing = asr.replication_recovery_plans.get(*vault.args, name)
        except ResourceNotFoundError:
            existing = None
    if existing is not None and _current_boot_groups(existing) == desired:
        return PlanSync(name, in_plan, left, boot_groups=shape)
    if dry:
        return PlanSync(name, in_plan, left, boot_groups=shape, created=True)
    groups = _groups_body(ctx, boot_groups)
    if existing is None:
        body = m.CreateRecoveryPlanInput(
            properties=m.CreateRecoveryPlanInputProperties(
                primary_fabric_id=f"{vault.id}/replicationFabrics/{fabric_name(group.source_region)}",
                recovery_fabric_id=f"{vault.id}/replicationFabrics/{fabric_name(target_region)}",
                failover_deployment_model="ResourceManager",
                groups=groups,
            )
        )
        started = start_operation(asr.replication_recovery_plans.begin_create, *vault.args, name, body)
        log.info("created recovery plan %s for group %s: boot order %s", name, group.name, shape, extra={"group": group.name})
    else:
        update = m.UpdateRecoveryPlanInput(properties=m.UpdateRecoveryPlanInputProperties(groups=groups))
        started = start_operation(asr.replication_recovery_plans.begin_update, *vault.args, name, update)
        log.info("updated recovery plan %s for group %s: boot order %s", name, group.name, shape, extra={"group": group.name})
    return PlanSync(name, in_plan, left, job=None if started.completed else started.job_id, boot_groups=shape, created=True)


def _summary(group: Group) -> dict[str, Any]:
    """What the group record keeps about its plan, from the statuses alone (no Azure read)."""
    boot_groups, left_out = desired_groups(group)
    problem = plan_limits_problem(group)
    if problem is None and not boot_groups:
        problem = "no member of the group is protected yet"
    return {
        "plan": recovery_plan_name(group.name),
        "plan_members": [member.vm_name for boot in boot_groups for member in boot],
        "plan_left_out": [f"{member.vm_name} ({member.state})" for member in left_out],
        "plan_problem": problem,
        "boot_groups": [[member.vm_name for member in boot] for boot in boot_groups],
    }


def sync_all_plans(
    ctx: AppContext, *, changed_only: bool = False, statuses: Iterable[VmStatus] | None = None
) -> list[tuple[str, str, str]]:
    """Keep every protected group's plan in step with its protected members.

    The full reconcile (``changed_only=False``) lists the plans once and repairs any that differ, also
    from edits made in the portal. The pulse (``changed_only=True``) touches Azure only for groups whose
    membership changed since their plan was last synced (a member became protected or left), so a
    failover started between two reconciles includes every protected member; an unchanged estate costs
    no ARM request. Groups that are failing over or failed over are left alone (their plan is the
    workflow's). The summary is kept on the group record for ``ppgdr groups``, written only on change.
    ``statuses``: every stored status as the caller (the tick) already read it; the table is read only without.
    The pulse reads no status table at all: a status change that touches a group's plan marks the group
    (``mark_plan_dirty``), and the pulse reads only the marked groups' statuses, clearing each marker once done.
    """
    markers: dict[str, Record] = {}
    if changed_only:
        for marker in plan_dirty_groups(ctx.store):
            markers[str(marker.data.get("group", "")).lower()] = marker
        if not markers:
            return []  # the common pulse: no membership changed since the last sync (one small query)
        groups: dict[str, Group] = {}
        for key, marker in markers.items():
            found = groups_from_statuses(group_statuses(ctx.store, str(marker.data.get("group", "")))).get(key)
            if found is not None:
                groups[key] = found
    else:
        groups = groups_from_statuses(all_statuses(ctx.store) if statuses is None else statuses)
    if not groups or not ctx.settings.vault_id:
        _clear(ctx, markers, keep=set())
        return []
    records = all_groups(ctx.store)

    def differs(key: str, group: Group) -> bool:
        record = records.get(key)
        return record is None or any(getattr(record, k) != v for k, v in _summary(group).items())

    stale = {
        key: group
        for key, group in groups.items()
        if (records[key].state if key in records else GroupState.PROTECTED) == GroupState.PROTECTED
        and ctx.settings.target_region(group.source_region) is not None
        and (not changed_only or differs(key, group))
    }
    if not stale:
        _clear(ctx, markers, keep=set())
        return []
    # The full sync lists every plan, keeping only each one's boot groups (raw listing: compact at 1,000 plans).
    listed: dict[str, Any] | None = (
        None if changed_only else {name.lower(): boot for name, boot in fleet.recovery_plan_boot_groups(ctx.clients)}
    )
    changes: list[tuple[str, str, str]] = []
    deferred: set[str] = set()
    for key, group in stale.items():
        target = ctx.settings.target_region(group.source_region)
        assert target is not None
        name = recovery_plan_name(group.name)
        existing = _UNREAD if listed is None else listed.get(name.lower())
        reread = _Reread(ctx, group)
        result = sync_plan(ctx, group, target, existing=existing, reread=reread)
        if result.deferred:
            deferred.add(key)
            continue  # the summary is written once the plan holds it, so the next pulse tries again
        if reread.done:
            if reread.group is None:
                continue  # no longer protected (a workflow took it) or no member left: nothing of ours to sync
            group = reread.group  # the summary as the plan now holds it
        if differs(key, group):
            update_group(ctx.store, group.name, **_summary(group))
        if result.job is not None or result.created:
            changes.append((group.name, "recovery-plan", f"plan {name} now holds {', '.join(result.in_plan)}"))
    _clear(ctx, markers, keep=deferred)
    return changes


@dataclass
class _Reread:
    """Reads a group again under its lease (for :func:`sync_plan`) and keeps what it read (for the summary)."""

    ctx: AppContext
    listed: Group
    done: bool = False
    group: Group | None = None

    def __call__(self) -> Group | None:
        """The group as its records say now: None unless it is still a protected group with members."""
        self.done = True
        if get_group(self.ctx.store, self.listed.name).state != GroupState.PROTECTED:
            return None
        self.group = groups_from_statuses(group_statuses(self.ctx.store, self.listed.name)).get(self.listed.name.lower())
        return self.group


def _clear(ctx: AppContext, markers: dict[str, Record], *, keep: set[str]) -> None:
    """Clear the markers the sync dealt with (a marker written meanwhile survives: the delete is conditional)."""
    for key, marker in markers.items():
        if key not in keep:
            clear_plan_dirty(ctx.store, marker)
