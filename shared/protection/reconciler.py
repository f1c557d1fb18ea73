"""Reconcile: read the world, plan, act, record. Safe to call any number of times for any VM.

Three entry points, one per trigger:
- :func:`handle_resource_hint` (Event Grid): an event names a VM or resource group; reconcile it now.
- :func:`reconcile_all` (timer): list every VM and protected item in pages, plan each VM, act only
  where something differs, write status only where it changed. Lost or out-of-order events are
  repaired here.
- :func:`pulse` (timer, every minute): advance operations in flight from the journal (poll the ASR
  job, then reconcile the VM so the next step is taken).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError, ServiceResponseError

from shared.arm.ids import VIRTUAL_MACHINES, ResourceId, parse_typed_id, same_id, vm_ref
from shared.arm.keys import normalize_arm_id
from shared.arm.names import replicated_item_name
from shared.context import AppContext
from shared.platform import fleet
from shared.platform.errors import azure_error_text
from shared.platform.observed import (
    ObservedItem,
    ObservedVm,
    home_vm_id,
    item_from_json,
    item_from_sdk,
    text,
    vm_from_json,
    vm_from_sdk,
)
from shared.platform.retries import is_transient
from shared.platform.telemetry import annotate
from shared.protection.placement_updates import apply_placement_rules
from shared.protection.planner import A2A, Action, ActionKind, LastFailure, PlanInput, align_availability_set, plan_vm
from shared.protection.resource_events import HintKind, ResourceHint
from shared.protection.steps import (
    StepRefused,
    journal_scope,
    start_disable,
    start_enable,
    start_update_target_ppg,
    topology,
)
from shared.protection.tags import TAG_PREFIX, default_group, parse_tags
from shared.protection.vault import RegionPair, prepare_vault
from shared.state import vm_status as st
from shared.state.group_records import locked_vm_ids
from shared.state.store import OPEN_STATUSES, JournalEntry

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What one reconcile did; printed by the CLI and the demo, logged by the timers."""

    vms_seen: int = 0
    actions: list[tuple[str, str, str]] = field(default_factory=list)  # (vm name, action, reason)
    status_writes: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the operator should know (nothing configured, ...)
    # the stored statuses as the full reconcile left them: the same tick's recovery-plan sync reads these, not the table
    statuses: st.StatusSnapshot | None = field(default=None, repr=False)

    def add(self, vm_name: str, action: Action) -> None:
        if action.kind not in (ActionKind.NONE, ActionKind.OBSERVE, ActionKind.HOLD):
            self.actions.append((vm_name, action.kind.value, action.reason))


def _has_ppgdr_tags(tags: dict[str, str] | None) -> bool:
    return any(key.lower().startswith(TAG_PREFIX) for key in (tags or {}))


# ------------------------------------------------------------------------------------------- observing


def _get_vm(ctx: AppContext, ref: ResourceId) -> ObservedVm | None:
    assert ref.resource_group is not None
    try:
        vm = ctx.clients.compute(ref.subscription).virtual_machines.get(ref.resource_group, ref.name)
    except ResourceNotFoundError:
        return None
    return vm_from_sdk(vm)


def _rg_tags(ctx: AppContext, subscription: str, resource_group: str) -> dict[str, str]:
    try:
        group = ctx.clients.resources(subscription).resource_groups.get(resource_group)
    except ResourceNotFoundError:
        return {}
    return dict(group.tags or {})


def _get_item(ctx: AppContext, fabric: str, container: str, item_name: str) -> ObservedItem | None:
    vault = ctx.clients.vault()
    try:
        item = ctx.clients.site_recovery(vault.subscription).replication_protected_items.get(
            *vault.args, fabric, container, item_name
        )
    except ResourceNotFoundError:
        return None
    return item_from_sdk(item)


def _find_item_for(ctx: AppContext, vm: ObservedVm | None, stored: st.VmStatus | None) -> ObservedItem | None:
    """The VM's protected item: where we put it (stored status) or under its deterministic name."""
    if stored is not None and stored.item_name and stored.fabric:
        found = _get_item(ctx, stored.fabric, stored.container, stored.item_name)
        if found is not None or vm is None:
            return found
    if vm is None:
        return None
    target = ctx.settings.target_region(vm.location)
    if target is None or not ctx.settings.vault_id:
        return None
    topo = topology(ctx, vm.location, target)
    return _get_item(ctx, topo.source_fabric, topo.source_container, replicated_item_name(vm.id, vm.name))


def _open_operations(ctx: AppContext, ref: ResourceId) -> list[JournalEntry]:
    return [e for e in ctx.store.journal_for(journal_scope(ref)) if e.status in OPEN_STATUSES]


# --------------------------------------------------------------------------------------------- planning


@dataclass
class EstateIndex:
    """The stored statuses indexed once per reconcile: group members and sizes, sizes per source PPG.

    Planning needs, for each VM, its group's size (the multi-VM limit) and the VM sizes of its group and
    PPG (the target PPG's intent). Scanning every status for every VM is quadratic; this is built once.
    """

    members: dict[str, set[str]] = field(default_factory=dict)
    group_sizes: dict[str, set[str]] = field(default_factory=dict)
    ppg_sizes: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, statuses: Iterable[st.VmStatus]) -> EstateIndex:
        index = cls()
        for status in statuses:
            if status.source_ppg_id and status.size:
                index.ppg_sizes.setdefault(normalize_arm_id(status.source_ppg_id), set()).add(status.size)
            if status.group and status.state != st.VmState.NOT_PROTECTED:
                key = status.group.lower()
                index.members.setdefault(key, set()).add(normalize_arm_id(status.vm_id))
                if status.size:
                    index.group_sizes.setdefault(key, set()).add(status.size)
        return index

    def context(self, group: str, vm: ObservedVm) -> tuple[int, tuple[str, ...]]:
        key = group.lower()
        members = self.members.get(key, set()) | {normalize_arm_id(vm.id)}
        sizes = self.group_sizes.get(key, set()) | {vm.size}
        if vm.ppg_id:
            sizes |= self.ppg_sizes.get(normalize_arm_id(vm.ppg_id), set())
        return len(members), tuple(sorted(s for s in sizes if s))


def plan_for(
    ctx: AppContext,
    vm_id: str,
    vm: ObservedVm | None,
    rg_tags: dict[str, str] | None,
    item: ObservedItem | None,
    in_flight: str | None,
    index: EstateIndex,
    ppg_types: dict[str, str] | None = None,
    stored: st.VmStatus | None = None,
) -> Action:
    tags = parse_tags(vm.tags, rg_tags) if vm is not None else None
    # a step another instance is sending now (the VM's status is its lease) is in flight as much as a journaled one
    in_flight = in_flight or st.leased_operation(stored, ctx.store.now())
    members: int = 1
    sizes: tuple[str, ...] = ()
    ppg_type = None
    if vm is not None and tags is not None and tags.intent is not None:
        members, sizes = index.context(default_group(tags.intent, vm.ppg_name, vm.name), vm)
        if vm.ppg_id and ppg_types:
            ppg_type = ppg_types.get(normalize_arm_id(vm.ppg_id))
    return plan_vm(
        PlanInput(
            vm_id=vm_id,
            vm=vm,
            tags=tags,
            item=item,
            settings=ctx.settings,
            in_flight=in_flight,
            group_members=members,
            group_vm_sizes=sizes,
            source_ppg_type=ppg_type,
            last_failure=LastFailure.from_data(stored.last_failure) if stored is not None else None,
            now=ctx.store.now(),
        )
    )


# --------------------------------------------------------------------------------------------- acting


def _status_from(vm: ObservedVm | None, vm_id: str, stored: st.VmStatus | None) -> st.VmStatus:
    status = st.VmStatus.from_data(stored.to_data()) if stored else st.VmStatus(vm_id=vm_id)
    if vm is not None:
        status.vm_id = vm.id
        status.vm_name = vm.name
        status.subscription = vm.subscription
        status.resource_group = vm.resource_group
        status.location = vm.location
        status.size = vm.size
        status.source_ppg_id = vm.ppg_id or ""
        status.source_availability_set_id = vm.availability_set_id or ""
        status.source_zone = vm.zones[0] if vm.zones else ""
    return status


def _observe_item(status: st.VmStatus, item: ObservedItem | None) -> None:
    if item is None:
        for name in (
            "item_name",
            "fabric",
            "container",
            "protection_state",
            "protection_description",
            "replication_health",
            "target_ppg_id",
            "target_availability_set_id",
            "target_zone",
        ):
            setattr(status, name, "")
        status.health_errors = []
        status.percent_complete = None
        return
    status.item_name = item.name
    status.fabric = item.fabric_name
    status.container = item.container_name
    status.protection_state = item.protection_state or ""
    status.protection_description = item.protection_description or ""
    status.replication_health = item.replication_health or ""
    status.health_errors = list(item.health_errors)
    status.percent_complete = item.percent_complete
    status.target_ppg_id = item.recovery_ppg_id or ""
    status.target_availability_set_id = item.recovery_availability_set_id or ""
    status.target_zone = item.recovery_zone or ""


def _state_of(item: ObservedItem, vm_id: str | None = None) -> str:
    """The VM's state from its item; ``vm_id`` given: an item replicating from another VM (the DR copy) is failed over."""
    if (item.active_location or "").lower() == "recovery":
        return st.VmState.FAILED_OVER
    if vm_id and item.source_vm_id and not same_id(item.source_vm_id, vm_id):
        return st.VmState.FAILED_OVER
    if item.protected:
        return st.VmState.PROTECTED
    return st.VmState.INITIAL_REPLICATION


def _planned_status(action: Action, vm: ObservedVm | None, stored: st.VmStatus | None) -> st.VmStatus:
    """The VM's status as the planned action describes it, before anything is carried out."""
    status = _status_from(vm, action.vm_id, stored)
    status.reason = action.reason
    status.problems = list(action.problems)
    if action.spec is not None:
        status.group = action.spec.group
        status.target_resource_group = action.spec.target_resource_group
        status.failover_mode = action.spec.failover_mode
        status.boot_order = action.spec.boot_order
        status.drill_schedule = action.spec.drill_schedule
        status.rto_minutes, status.rpo_minutes = action.spec.rto_minutes, action.spec.rpo_minutes
        status.drill_probes = list(action.spec.drill_probes)
    if vm is not None:
        tags = parse_tags(vm.tags)
        status.warnings = list(tags.warnings)
    return status


def execute(
    ctx: AppContext, action: Action, vm: ObservedVm | None, stored: st.VmStatus | None, *, dry_run: bool = False
) -> st.VmStatus:
    """Carry out one planned action and return the VM's new status (not yet saved)."""
    status = _planned_status(action, vm, stored)
    kind = action.kind
    if kind in (ActionKind.NONE, ActionKind.OBSERVE, ActionKind.DRIFT, ActionKind.WAIT, ActionKind.REFUSE, ActionKind.HOLD):
        if action.item is not None or kind not in (ActionKind.WAIT, ActionKind.HOLD):
            _observe_item(status, action.item)
        if kind == ActionKind.HOLD:
            # The step failed a moment ago; the VM is what its item says (a failed update keeps it protected).
            status.state = _state_of(action.item, action.vm_id) if action.item is not None else st.VmState.FAILED
        elif kind == ActionKind.NONE:
            status.state = st.VmState.NOT_PROTECTED if action.item is None else status.state
        elif kind == ActionKind.OBSERVE and action.item is not None:
            status.state = _state_of(action.item, action.vm_id)
        elif kind == ActionKind.DRIFT:
            status.state = st.VmState.DRIFT
        elif kind == ActionKind.WAIT and status.state in (st.VmState.NOT_PROTECTED, st.VmState.REFUSED, st.VmState.FAILED):
            status.state = st.VmState.WAITING
        elif kind == ActionKind.REFUSE:
            status.state = st.VmState.REFUSED if action.item is None else status.state or st.VmState.REFUSED
            if action.item is not None:
                status.reason = f"{action.reason}: protection kept as it is, nothing changed"
        return status
    if dry_run or ctx.settings.dry_run:
        status.reason = f"dry run: would {kind.value}: {action.reason}"
        return status

    try:
        if kind == ActionKind.ENABLE:
            assert action.spec is not None
            pair = RegionPair(action.spec.source_region, action.spec.target_region)
            ready = prepare_vault(ctx.clients, ctx.store, ctx.settings, pair, holder=ctx.holder)
            if not ready.ready:
                status.state = st.VmState.WAITING
                status.reason = f"preparing the vault: {ready.waiting_for}"
                return status
            step = start_enable(ctx, action.spec, vm.availability_set_id if vm else None)
            status.state = st.VmState.ENABLING
            status.item_name = action.spec.item_name
            topo = topology(ctx, action.spec.source_region, action.spec.target_region)
            status.fabric, status.container = topo.source_fabric, topo.source_container
            status.target_ppg_id = action.spec.target_ppg.id if action.spec.target_ppg else ""
            status.target_ppg_created = bool(action.spec.target_ppg and action.spec.target_ppg.create_if_missing)
            status.in_flight = {"operation": step.operation, "job": step.job_id or ""}
        elif kind == ActionKind.UPDATE_TARGET_PPG:
            assert action.spec is not None and action.item is not None
            step = start_update_target_ppg(ctx, action.spec, action.item, vm.availability_set_id if vm else None)
            status.state = st.VmState.UPDATING
            status.in_flight = {"operation": step.operation, "job": step.job_id or ""}
        elif kind in (ActionKind.DISABLE, ActionKind.REENABLE_WITHOUT_PPG):
            assert action.item is not None
            step = start_disable(ctx, action.vm_id, action.item, action.reason)
            status.state = st.VmState.REENABLING if kind == ActionKind.REENABLE_WITHOUT_PPG else st.VmState.DISABLING
            status.in_flight = {
                "operation": step.operation,
                "job": step.job_id or "",
                "then": "enable" if kind == ActionKind.REENABLE_WITHOUT_PPG else "",
            }
    except StepRefused as exc:
        status.state = st.VmState.REFUSED
        status.reason = str(exc)
    except (HttpResponseError, ServiceRequestError, ServiceResponseError) as exc:
        if is_transient(exc):
            # Throttled, a 5xx or a lost connection: not a refusal. Whether Azure applied it is unknown; the next
            # pass reads the item and adopts what was applied or sends again.
            status.state = st.VmState.WAITING
            status.reason = f"Azure did not answer {kind.value} ({azure_error_text(exc)}): looked at again on the next pass"
            log.warning("%s for %s: %s", kind.value, action.vm_id, status.reason, extra={"vm": action.vm_id})
            return status
        status.state = st.VmState.FAILED
        status.reason = f"Azure refused {kind.value}: {azure_error_text(exc)}"
        log.warning("Azure refused %s for %s: %s", kind.value, action.vm_id, status.reason, extra={"vm": action.vm_id})
    return status


def reconcile_vm(ctx: AppContext, ref: ResourceId, *, dry_run: bool = False) -> tuple[Action, st.VmStatus]:
    """Reconcile one VM now (event path): read it, its resource group's tags and its item; act.

    ``ref`` is the VM's id as parsed where it entered ppg-dr (an event, a stored record, an operator's
    argument); it is not parsed or normalised again on the way. Table reads are scoped to the VM: its own status
    and its neighbours' (same group, PPG or availability set) in one query, never every stored status.
    """
    vm_id = str(ref)
    vm = _get_vm(ctx, ref)
    rg_tags = _rg_tags(ctx, vm.subscription, vm.resource_group) if vm else {}
    tagged = vm is not None and (_has_ppgdr_tags(vm.tags) or _has_ppgdr_tags(rg_tags))
    if vm is None or not tagged:
        stored = st.get_status(ctx.store, ref)  # not tagged: only a VM ppg-dr managed needs more than this read
        if stored is None:
            if vm is None:
                action = Action(ActionKind.NONE, "the VM does not exist and ppg-dr never managed it", vm_id)
                return action, st.VmStatus(vm_id=vm_id, reason=action.reason)
            action = Action(ActionKind.NONE, "not tagged for protection", vm.id)
            return action, st.VmStatus(vm_id=vm.id, vm_name=vm.name, reason=action.reason)
        neighbours = [stored]
        if vm is not None and vm.availability_set_id:
            neighbours = st.statuses_near(ctx.store, ref, availability_set_id=vm.availability_set_id)[1]
    else:
        group = _group_of(vm, rg_tags)
        stored, neighbours = st.statuses_near(
            ctx.store, ref, group=group, ppg_id=vm.ppg_id, availability_set_id=vm.availability_set_id
        )
    return _reconcile_read(ctx, ref, vm, rg_tags, stored, neighbours, dry_run=dry_run)


def _reconcile_read(
    ctx: AppContext,
    ref: ResourceId,
    vm: ObservedVm | None,
    rg_tags: dict[str, str],
    stored: st.VmStatus | None,
    neighbours: list[st.VmStatus],
    *,
    dry_run: bool,
) -> tuple[Action, st.VmStatus]:
    """:func:`reconcile_vm` once the VM, its tags and the stored statuses around it are read: plan and act."""
    vm_id = str(ref)
    sending = st.leased_operation(stored, ctx.store.now())
    if sending is not None:  # another instance holds the VM's lease (its status) and is sending a step: nothing to do
        action = Action(ActionKind.WAIT, f"another instance is sending {sending}", vm_id, in_flight=sending)
        return action, stored or st.VmStatus(vm_id=vm_id, reason=action.reason)
    locked_ids = locked_vm_ids(ctx.store)
    locked = locked_ids.get(ref.normalized)
    if locked:
        action = Action(ActionKind.WAIT, f"managed by the group workflow: {locked}", vm_id)
        return action, stored or st.VmStatus(vm_id=vm_id, reason=action.reason)
    index = EstateIndex.build(neighbours)
    action = _plan_one(ctx, ref, vm, stored, rg_tags, index)
    if vm is not None and vm.availability_set_id:
        siblings = _set_siblings(ctx, vm, neighbours, rg_tags, index, locked_ids)
        aligned = align_availability_set([(vm, action), *((s_vm, s_action) for s_vm, _, s_action in siblings)])
        action = aligned[0]
        for (s_vm, s_stored, _), s_action in zip(siblings, aligned[1:], strict=True):
            _apply(ctx, s_action, s_vm, s_stored, dry_run=dry_run)  # the set moves together (writes only on change)
    status, wrote = _apply(ctx, action, vm, stored, dry_run=dry_run)
    if not wrote and status.reason == ANOTHER_INSTANCE:
        action = Action(ActionKind.WAIT, ANOTHER_INSTANCE, vm_id)
    return action, status


def _group_of(vm: ObservedVm, rg_tags: dict[str, str]) -> str | None:
    """The DR group the VM's tags put it in (None when the tags ask for no protection or do not parse)."""
    intent = parse_tags(vm.tags, rg_tags).intent
    if intent is None:
        return None
    try:
        return default_group(intent, vm.ppg_name, vm.name)
    except ValueError:
        return None


def _plan_one(
    ctx: AppContext,
    ref: ResourceId,
    vm: ObservedVm | None,
    stored: st.VmStatus | None,
    rg_tags: dict[str, str],
    index: EstateIndex,
) -> Action:
    item = _find_item_for(ctx, vm, stored)
    # A VM with no status has no journal entry: every step is journaled while the VM's status exists (a first status
    # is inserted, as the VM's lease, before the intent is written), so its journal is not read.
    open_ops = _open_operations(ctx, ref) if stored is not None else []
    return plan_for(ctx, str(ref), vm, rg_tags, item, open_ops[0].operation if open_ops else None, index, stored=stored)


def _set_siblings(
    ctx: AppContext,
    vm: ObservedVm,
    statuses: list[st.VmStatus],
    rg_tags: dict[str, str],
    index: EstateIndex,
    locked: dict[str, str],
) -> list[tuple[ObservedVm, st.VmStatus, Action]]:
    """The other managed members of the VM's availability set, each read and planned (same resource group)."""
    siblings = []
    for status in statuses:
        if not same_id(status.source_availability_set_id, vm.availability_set_id) or same_id(status.vm_id, vm.id):
            continue
        ref = vm_ref(status.vm_id)
        if ref.normalized in locked:
            continue
        sibling = _get_vm(ctx, ref)
        if sibling is not None:
            siblings.append((sibling, status, _plan_one(ctx, ref, sibling, status, rg_tags, index)))
    return siblings


# Actions that write to Azure: each runs under the VM's lease, against what is stored now.
_WRITES = frozenset({ActionKind.ENABLE, ActionKind.UPDATE_TARGET_PPG, ActionKind.DISABLE, ActionKind.REENABLE_WITHOUT_PPG})
# A write's step as the journal names it, and the state a VM's first status holds while the step is sent.
_SENDING = {
    ActionKind.ENABLE: ("enable-protection", st.VmState.ENABLING),
    ActionKind.UPDATE_TARGET_PPG: ("update-target-ppg", st.VmState.UPDATING),
    ActionKind.DISABLE: ("disable-protection", st.VmState.DISABLING),
    ActionKind.REENABLE_WITHOUT_PPG: ("disable-protection", st.VmState.REENABLING),
}
ANOTHER_INSTANCE = "another instance is acting on this VM"


def _apply(
    ctx: AppContext,
    action: Action,
    vm: ObservedVm | None,
    stored: st.VmStatus | None,
    *,
    dry_run: bool,
    rewrite: bool = False,
) -> tuple[st.VmStatus, bool]:
    """Execute the action and record the VM's status; returns the status and whether it was written.

    A write to Azure is sent under the VM's lease, looking again: for a VM with no stored status its first status,
    inserted only if none exists, is the lease (:func:`_send_first`); otherwise the VM's lease is taken and the status
    and journal read again: when another instance holds it, or acted on the VM since this one read its status (the
    status changed, or a step is in flight), this one sends nothing and leaves the VM to the next pass, which sees the
    other's result. Two workers reconciling the same wave of tagged VMs then send each enable once. A status another
    instance holds as its lease (a step being sent) is not written at all.
    """
    if stored is not None and st.leased_operation(stored, ctx.store.now()) is not None:
        return stored, False
    if action.kind not in _WRITES or dry_run or ctx.settings.dry_run:
        return _record(ctx, action, vm, stored, dry_run=dry_run, rewrite=rewrite)
    if stored is None:
        return _send_first(ctx, action, vm)
    ref = vm_ref(action.vm_id)
    with ctx.store.holding(f"vm:{ref.normalized}", ctx.holder, ctx.settings.lease_seconds) as lease:
        if lease is None or _acted_on_since(ctx, ref, stored):
            log.info("%s: another instance is acting on this VM; not sending %s", action.vm_id, action.kind.value)
            return stored, False
        return _record(ctx, action, vm, stored, dry_run=dry_run)  # the status is written before the lease goes


def _send_first(ctx: AppContext, action: Action, vm: ObservedVm | None) -> tuple[st.VmStatus, bool]:
    """A write for a VM with no stored status: its first status, inserted create-only before the journal intent, is the
    VM's lease; after the send one write on the insert's ETag records the outcome and drops the lease.

    Of two instances only one inserts it; the other sends nothing (a 409: :data:`ANOTHER_INSTANCE`). No status
    existed, so no step of the VM was journaled and in flight (steps are journaled only while a status exists): what
    the caller planned from the VM, its item and its neighbours is what is sent. An instance that dies holding the
    lease leaves a status with an expired lease: the next pass plans the VM again and looks at its item before sending.
    """
    operation, sending_state = _SENDING[action.kind]
    leased = _planned_status(action, vm, None)
    leased.state = sending_state
    until = ctx.store.now() + timedelta(seconds=ctx.settings.lease_seconds)
    leased.in_flight = st.sending_lease(operation, ctx.holder, until)
    claim = st.claim_first_status(ctx.store, leased, note=f"{action.kind.value}: {action.reason}")
    if claim is None:
        log.info("%s: another instance is acting on this VM; not sending %s", action.vm_id, action.kind.value)
        return st.VmStatus(vm_id=action.vm_id, vm_name=vm.name if vm else "", reason=ANOTHER_INSTANCE), False
    try:
        new = execute(ctx, action, vm, None)
    except BaseException:
        released = _planned_status(action, vm, None)
        released.state = st.VmState.WAITING
        released.reason = f"{action.kind.value} was interrupted: looked at again on the next pass"
        st.release_claimed_status(ctx.store, claim, released)
        raise
    st.settle_claimed_status(ctx.store, claim, new, note=f"{action.kind.value}: {new.reason}")
    return new, True


def _acted_on_since(ctx: AppContext, ref: ResourceId, stored: st.VmStatus | None) -> bool:
    """Whether the VM's status or its journal changed since ``stored`` was read (read under the VM's lease)."""
    if _open_operations(ctx, ref):
        return True
    current = st.get_status(ctx.store, ref)
    if current is None or stored is None:
        return (current is None) != (stored is None)
    return current.to_data() != stored.to_data()


def _keeps_no_record(action: Action, vm: ObservedVm | None, stored: st.VmStatus | None) -> bool:
    """Nothing for ppg-dr to manage: no status is kept (a stored one is deleted)."""
    return action.kind == ActionKind.NONE and action.item is None and (vm is None or stored is None)


def _record(
    ctx: AppContext,
    action: Action,
    vm: ObservedVm | None,
    stored: st.VmStatus | None,
    *,
    dry_run: bool,
    rewrite: bool = False,
) -> tuple[st.VmStatus, bool]:
    """Execute and record; ``rewrite``: write the status even when unchanged (its record lacks the current columns)."""
    new = execute(ctx, action, vm, stored, dry_run=dry_run)
    if dry_run:
        return new, False
    if _keeps_no_record(action, vm, stored):
        if stored is not None:
            st.delete_status(ctx.store, action.vm_id)
        return new, stored is not None  # nothing ppg-dr manages: keep no record
    note = None
    if action.kind not in (ActionKind.NONE, ActionKind.OBSERVE) and (
        stored is None or stored.state != new.state or stored.reason != new.reason
    ):
        note = f"{action.kind.value}: {new.reason}"
    elif stored is not None and stored.state != new.state:
        note = f"{stored.state} -> {new.state}"
    unchanged = note is None and stored is not None and {**new.to_data(), "history": stored.history} == stored.to_data()
    if unchanged and not rewrite:
        return new, False  # nothing changed: no read-modify-write at all (steady state costs no table request)
    # a first status is inserted without a read; an unchanged one is rewritten only for its columns
    st.save_status(ctx.store, new, note=note, new=stored is None, rewrite=unchanged)
    return new, True


def handle_resource_hint(ctx: AppContext, hint: ResourceHint) -> str:
    """The Event Grid path: reject, ignore, de-duplicate, then reconcile what the event names.

    A VM's event is reconciled without a de-duplication record: it is a hint, and the VM's reconcile decides from
    Azure's state, under the VM's lease and against its journal, so a repeated or late event costs reads, never a second
    write. A resource group's tag write, which reconciles every VM of the group, is de-duplicated by its id.
    """
    if hint.kind == HintKind.REJECTED:
        log.warning("rejected resource event %s: %s", hint.event_id or "(no id)", hint.reason, extra={"step": "event"})
        return f"rejected: {hint.reason}"
    if hint.kind == HintKind.IGNORED:
        log.debug("ignored resource event %s: %s", hint.event_id, hint.reason)
        return f"ignored: {hint.reason}"
    if hint.kind in (HintKind.VM_CHANGED, HintKind.VM_DELETED):
        return _reconcile_hint(ctx, hint)
    claim = ctx.store.claim_event(hint.event_id, ctx.settings.lease_seconds)
    if claim is None:
        log.info("duplicate event %s: handled already, or being handled", hint.event_id, extra={"step": "event"})
        return "duplicate"
    try:
        outcome = _reconcile_hint(ctx, hint)
    except BaseException:
        ctx.store.release_event(claim)  # not done: Event Grid's redelivery is handled again, not a "duplicate"
        raise
    ctx.store.finish_event(claim, ctx.settings.event_dedup_hours)
    return outcome


def _reconcile_hint(ctx: AppContext, hint: ResourceHint) -> str:
    assert hint.resource is not None
    if hint.kind == HintKind.RESOURCE_GROUP_CHANGED:
        rg = hint.resource
        assert rg.resource_group is not None
        vms = ctx.clients.compute(rg.subscription).virtual_machines.list(rg.resource_group)
        results = [reconcile_vm(ctx, vm_ref(vm.id))[0].kind.value for vm in vms if vm.id]
        return f"resource group {rg.resource_group}: reconciled {len(results)} VMs"
    action, status = reconcile_vm(ctx, hint.resource)
    annotate(group=status.group, action=action.kind.value)  # the event's span learns the VM's group here
    return f"{action.kind.value}: {status.state}"


# ---------------------------------------------------------------------------------------- full reconcile


def list_items(ctx: AppContext) -> list[ObservedItem]:
    """Every replicated item of the vault (paged, raw JSON mapped straight into records): the full reconcile's view
    of Azure's replication."""
    if not ctx.settings.vault_id:
        return []
    return [item_from_json(body) for body in fleet.item_bodies(ctx.clients)]


def items_by_vm(items: Iterable[ObservedItem]) -> dict[str, ObservedItem]:
    """A2A items by the VM they replicate from and, for items ppg-dr named, by their home VM too.

    After a failover and reprotect an item replicates from the DR copy; its home VM (named in the item's
    name) must still find it, or the reconcile would see an unprotected VM and enable it a second time.
    """
    found: dict[str, ObservedItem] = {}
    for listed in items:
        if listed.provider != A2A:
            continue
        home = home_vm_id(listed)
        if home is not None:
            found.setdefault(normalize_arm_id(home), listed)
        if listed.source_vm_id:
            found[normalize_arm_id(listed.source_vm_id)] = listed
    return found


def reconcile_all(ctx: AppContext, *, dry_run: bool = False, items: list[ObservedItem] | None = None) -> ReconcileReport:
    """Reconcile every VM of every configured subscription with O(pages) reads and no idle writes.

    ``items``: the vault's items when the caller listed them already (the reconcile tick adopts from them first).
    """
    report = ReconcileReport()
    report.notes.extend(configuration_gaps(ctx))
    if not dry_run:
        ctx.store.purge_expired_events()
    if items is None:
        items = list_items(ctx)

    report.actions.extend(apply_placement_rules(ctx, items, dry_run=dry_run))
    by_vm = items_by_vm(items)
    # The one read of the status table this tick, kept compact; it follows what this reconcile writes, and the
    # recovery-plan sync of the same tick reads it as the reconcile left it.
    snapshot = st.StatusSnapshot.read(ctx.store)
    index = EstateIndex.build(snapshot)
    # Records written before the current query columns existed are written once more (the first tick after an upgrade).
    rewrite = set() if dry_run else set(snapshot.stale)
    unseen = set(snapshot.keys())  # stored VMs not listed (yet): what is left at the end no longer exists
    open_by_vm: dict[str, str] = {}
    for entry in ctx.store.journal_open():
        vm_id = entry.request.get("vm_id")
        if isinstance(vm_id, str):
            open_by_vm[normalize_arm_id(vm_id)] = entry.operation
    locked = locked_vm_ids(ctx.store)
    in_sets: dict[str, list[tuple[ObservedVm, Action, st.VmStatus | None]]] = {}
    for scope in _scopes(ctx):
        rg_tags, ppg_types = scope.rg_tags, scope.ppg_types
        for body in scope.vms:
            report.vms_seen += 1
            try:
                vm = vm_from_json(body)
            except ValueError as exc:
                report.errors.append(str(exc))
                continue
            key = normalize_arm_id(vm.id)
            unseen.discard(key)
            if key in locked:
                continue  # a group workflow owns this VM (failed over, or a recovery copy)
            tags_rg = rg_tags.get(vm.resource_group.lower(), {})
            item = by_vm.get(key)
            stored = snapshot.get(key)
            if item is None and stored is None and not _has_ppgdr_tags(vm.tags) and not _has_ppgdr_tags(tags_rg):
                continue  # the common case: a VM ppg-dr has nothing to do with
            action = plan_for(ctx, vm.id, vm, tags_rg, item, open_by_vm.get(key), index, ppg_types, stored)
            if vm.availability_set_id:  # decided with the other members of its set, once all are listed
                in_sets.setdefault(normalize_arm_id(vm.availability_set_id), []).append((vm, action, stored))
                continue
            report.add(vm.name, action)
            _apply_counted(ctx, report, action, vm, stored, dry_run, snapshot, rewrite)
    for members in in_sets.values():
        aligned = align_availability_set([(vm, action) for vm, action, _ in members])
        for (vm, _, stored), action in zip(members, aligned, strict=True):
            report.add(vm.name, action)
            _apply_counted(ctx, report, action, vm, stored, dry_run, snapshot, rewrite)
    # VMs ppg-dr managed that no longer exist: disable their replication.
    for key in sorted(unseen):
        if key in locked:
            continue
        gone = snapshot.get(key)
        if gone is None or not _in_scope(ctx, gone):
            continue
        item = by_vm.get(key)
        action = plan_for(ctx, gone.vm_id, None, None, item, open_by_vm.get(key), index, stored=gone)
        report.add(gone.vm_name or gone.vm_id, action)
        _apply_counted(ctx, report, action, None, gone, dry_run, snapshot, rewrite)
    report.statuses = snapshot
    return report


def configuration_gaps(ctx: AppContext) -> list[str]:
    """What is missing for the reconcile to do anything, in the settings' own names."""
    gaps = []
    if not ctx.settings.subscriptions and not ctx.settings.resource_groups:
        gaps.append("no PPGDR_SUBSCRIPTIONS or PPGDR_RESOURCE_GROUPS: there are no VMs to watch")
    if not ctx.settings.vault_id:
        gaps.append("PPGDR_VAULT_ID is not set: VMs tagged for protection cannot be protected")
    if not ctx.settings.region_pairs:
        gaps.append("PPGDR_REGION_PAIRS is not set: no VM has a DR region")
    return gaps


@dataclass
class _Scope:
    """One listing unit of the estate: a subscription, or one configured resource group."""

    rg_tags: dict[str, dict[str, str]]
    ppg_types: dict[str, str]
    vms: Iterable[dict[str, Any]]  # the VMs' JSON, page by page (shared.platform.fleet)


def _ppg_types(ppgs: Iterable[Any]) -> dict[str, str]:
    return {
        normalize_arm_id(p.id or ""): text(p.properties.proximity_placement_group_type if p.properties else None) or "Standard"
        for p in ppgs
    }


def _scopes(ctx: AppContext) -> Iterable[_Scope]:
    """What the reconcile lists: per configured resource group (``PPGDR_RESOURCE_GROUPS``: least privilege,
    one page each) or per subscription (``PPGDR_SUBSCRIPTIONS``: fewest requests, needs subscription read)."""
    if ctx.settings.resource_groups:
        for group_id in ctx.settings.resource_groups:
            parts = group_id.strip("/").split("/")
            subscription, name = parts[1], parts[3]
            try:
                group = ctx.clients.resources(subscription).resource_groups.get(name)
            except ResourceNotFoundError:
                continue
            compute = ctx.clients.compute(subscription)
            yield _Scope(
                {name.lower(): dict(group.tags or {})},
                _ppg_types(compute.proximity_placement_groups.list_by_resource_group(name)),
                fleet.vm_bodies(ctx.clients, subscription, name),
            )
        return
    for subscription in ctx.settings.subscriptions:
        compute = ctx.clients.compute(subscription)
        yield _Scope(
            {(g.name or "").lower(): dict(g.tags or {}) for g in ctx.clients.resources(subscription).resource_groups.list()},
            _ppg_types(compute.proximity_placement_groups.list_by_subscription()),
            fleet.vm_bodies(ctx.clients, subscription),
        )


def watched_vms(ctx: AppContext) -> list[tuple[str, str, str]]:
    """(id, resource group, name) of every VM the reconcile lists: for looking a VM up by name."""
    found = []
    for scope in _scopes(ctx):
        for vm in scope.vms:
            vm_id = str(vm.get("id") or "")
            parsed = parse_typed_id(vm_id, VIRTUAL_MACHINES)
            if parsed is not None and parsed.resource_group is not None:
                found.append((vm_id, parsed.resource_group, parsed.name))
    return found


def _in_scope(ctx: AppContext, stored: st.VmStatus) -> bool:
    """Whether the reconcile lists the place a stored VM lived in (so its absence means it was deleted)."""
    if ctx.settings.resource_groups:
        wanted = {g.strip("/").lower() for g in ctx.settings.resource_groups}
        return f"subscriptions/{stored.subscription}/resourcegroups/{stored.resource_group}".lower() in wanted
    return stored.subscription.lower() in {s.lower() for s in ctx.settings.subscriptions}


def _apply_counted(
    ctx: AppContext,
    report: ReconcileReport,
    action: Action,
    vm: ObservedVm | None,
    stored: st.VmStatus | None,
    dry_run: bool,
    after: st.StatusSnapshot,
    rewrite: set[str],
) -> None:
    """Apply one VM's action in the full reconcile; ``after`` follows what is stored, ``rewrite``: records to write anyway."""
    key = normalize_arm_id(action.vm_id)
    try:
        status, wrote = _apply(ctx, action, vm, stored, dry_run=dry_run, rewrite=key in rewrite)
    except HttpResponseError as exc:
        report.errors.append(f"{action.vm_id}: {azure_error_text(exc)}")
        return
    report.status_writes += wrote
    if dry_run or not wrote:
        return
    if _keeps_no_record(action, vm, stored):
        after.discard(key)
    else:
        after.put(status)


def describe(action: Action) -> dict[str, Any]:
    """A JSON-friendly view of a planned action (CLI ``plan``, status API)."""
    spec = action.spec
    return {
        "vm": action.vm_id,
        "action": action.kind.value,
        "reason": action.reason,
        "problems": list(action.problems),
        "target_ppg": spec.target_ppg.id if spec and spec.target_ppg else None,
        "target_availability_set": spec.target_availability_set.id if spec and spec.target_availability_set else None,
        "target_zone": spec.target_zone if spec else None,
        "group": spec.group if spec else None,
    }
