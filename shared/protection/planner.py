"""The protection planner: (desired, observed, stored state) -> one action with its reason. Pure.

This is where Azure's rules for PPG-aware replication live, checked *before* any call to Azure so a
refused request never leaves a half-done state:
- the target PPG and the target VM must be in the same resource group (and so must the availability set);
- VMs with unmanaged disks cannot be protected by ppg-dr;
- ASR cannot remove a target PPG from a protected item: that is done as disable, then re-enable;
- a multi-VM consistency group holds at most 16 VMs;
- a VM that loses its ``ppgdr-protect`` tag keeps its protection (drift is reported, DR is never
  dropped by accident).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from shared.arm.ids import (
    CAPACITY_RESERVATION_GROUPS,
    PROXIMITY_PLACEMENT_GROUPS,
    compute_id,
    parse_typed_id,
    same_id,
)
from shared.arm.keys import normalize_arm_id
from shared.arm.names import auto_target_ppg_name, replicated_item_name
from shared.platform.observed import ObservedItem, ObservedVm
from shared.protection.tags import (
    Consistency,
    ProtectMode,
    TagIntent,
    TagParseResult,
    TargetPpgKind,
    check_multi_vm_group_size,
    default_group,
)
from shared.settings import Settings

A2A = "A2A"


class ActionKind(StrEnum):
    HOLD = "hold"  # the same step failed a moment ago: not sent again until the retry time or a change
    ENABLE = "enable"
    UPDATE_TARGET_PPG = "update-target-ppg"
    REENABLE_WITHOUT_PPG = "reenable-without-ppg"
    DISABLE = "disable"
    REFUSE = "refuse"
    DRIFT = "drift"
    OBSERVE = "observe"
    WAIT = "wait"
    NONE = "none"


@dataclass(frozen=True)
class TargetPpgPlan:
    """The recovery PPG: where it is, and whether ppg-dr should create it when missing."""

    id: str
    name: str
    resource_group: str
    create_if_missing: bool
    ppg_type: str = "Standard"
    zone: str | None = None
    vm_sizes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AvailabilitySetPlan:
    """The recovery availability set (``<source>-asr``), pinned to the recovery PPG."""

    id: str
    name: str
    resource_group: str
    ppg_id: str | None


@dataclass(frozen=True)
class DiskPlan:
    disk_id: str
    replica_disk_type: str
    target_disk_type: str
    staging_account_id: str


@dataclass(frozen=True)
class EnableSpec:
    """Everything an ``EnableProtectionInput`` needs, decided and validated up front."""

    vm_id: str
    vm_name: str
    item_name: str
    group: str
    source_region: str
    target_region: str
    target_resource_group: str
    target_resource_group_id: str
    target_ppg: TargetPpgPlan | None
    target_availability_set: AvailabilitySetPlan | None
    target_zone: str | None
    capacity_reservation_group_id: str | None
    disks: tuple[DiskPlan, ...]
    multi_vm_group: str | None
    failover_mode: str = "approve"
    boot_order: int | None = None
    drill_schedule: str = ""
    rto_minutes: int | None = None
    rpo_minutes: int | None = None
    drill_probes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    reason: str
    vm_id: str
    spec: EnableSpec | None = None
    item: ObservedItem | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)
    in_flight: str | None = None  # WAIT: the operation in flight (where the item is heading depends on it)


# A step that failed (Azure accepted it, then its job failed) is not sent again, unchanged, before this.
RETRY_FAILED_AFTER = timedelta(hours=1)
# The journal operation each planned step sends.
OPERATIONS = {ActionKind.ENABLE: "enable-protection", ActionKind.UPDATE_TARGET_PPG: "update-target-ppg"}


@dataclass(frozen=True)
class LastFailure:
    """The VM's last Azure step that failed: which, why (Azure's code and message), when, and for which spec."""

    operation: str
    error: str
    at: datetime
    fingerprint: str

    @classmethod
    def from_data(cls, data: dict[str, object] | None) -> LastFailure | None:
        if not data or not data.get("at"):
            return None
        return cls(
            str(data.get("operation", "")),
            str(data.get("error", "")),
            datetime.fromisoformat(str(data["at"])),
            str(data.get("fingerprint", "")),
        )


def spec_fingerprint(spec: EnableSpec) -> str:
    """What an enable or update asks Azure for: the same fingerprint means the same request again."""
    material = "|".join(
        [
            spec.item_name,
            normalize_arm_id(spec.target_ppg.id) if spec.target_ppg else "",
            normalize_arm_id(spec.target_availability_set.id) if spec.target_availability_set else "",
            spec.target_zone or "",
            spec.target_resource_group_id.lower(),
            (spec.capacity_reservation_group_id or "").lower(),
            ",".join(sorted(f"{d.disk_id.lower()}:{d.target_disk_type}" for d in spec.disks)),
        ]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PlanInput:
    """One VM's desired and observed state (``vm`` is None when the VM no longer exists)."""

    vm_id: str
    vm: ObservedVm | None
    tags: TagParseResult | None
    item: ObservedItem | None
    settings: Settings
    in_flight: str | None = None
    group_members: int = 1
    group_vm_sizes: tuple[str, ...] = ()
    source_ppg_type: str | None = None
    last_failure: LastFailure | None = None
    now: datetime | None = None


def plan_vm(inp: PlanInput) -> Action:
    """Decide the one next step for a VM."""
    return _unless_busy(_plan_vm(inp))


def _unless_busy(action: Action) -> Action:
    """WAIT instead of a write to an item ASR allows nothing on: a job runs on it (sent by another instance before
    a crash, a failover, someone in the portal). Sending now is refused (``OperationNotAllowedInCurrentState``)."""
    item = action.item
    if action.kind not in _ITEM_WRITES or item is None or item.allowed_operations:
        return action
    return replace(
        action,
        kind=ActionKind.WAIT,
        reason=f"ASR allows no operation on the item now (a job runs on it: {item.protection_state or 'busy'}); "
        f"{action.kind.value} waits for it",
    )


def _plan_vm(inp: PlanInput) -> Action:
    vm, item = inp.vm, inp.item
    if item is not None and item.source_vm_id and not same_id(item.source_vm_id, inp.vm_id) and not inp.in_flight:
        # After a failover and reprotect the item replicates from the DR copy: enabling, updating or disabling
        # it from the original VM (deleted or turned off) would be refused or undo the reprotect.
        return Action(
            ActionKind.OBSERVE,
            f"replicates from its DR copy {item.source_vm_id.rstrip('/').rsplit('/', 1)[-1]} after a failover: "
            "the group's workflow manages it",
            inp.vm_id,
            item=item,
        )
    if vm is None:
        if item is not None and inp.in_flight:
            # One step at a time per item: a second disable of an item being disabled is refused or sent twice.
            return Action(
                ActionKind.WAIT,
                f"the VM was deleted; waiting for {inp.in_flight} to finish",
                inp.vm_id,
                item=item,
                in_flight=inp.in_flight,
            )
        if item is not None:
            return Action(
                ActionKind.DISABLE, "the VM was deleted: its replication is disabled and cleaned up", inp.vm_id, item=item
            )
        return Action(ActionKind.NONE, "the VM no longer exists and is not protected", inp.vm_id)
    if inp.in_flight:
        return Action(ActionKind.WAIT, f"waiting for {inp.in_flight} to finish", vm.id, item=item, in_flight=inp.in_flight)
    if inp.tags is None or inp.tags.intent is None:
        problems = tuple(str(p) for p in (inp.tags.problems if inp.tags else ()))
        return Action(ActionKind.REFUSE, "invalid ppgdr-* tags: nothing was changed", vm.id, item=item, problems=problems)
    intent = inp.tags.intent
    if intent.protect == ProtectMode.UNPROTECT:
        if item is not None:
            return Action(ActionKind.DISABLE, "ppgdr-protect=false: replication is disabled", vm.id, item=item)
        return Action(ActionKind.NONE, "ppgdr-protect=false and not protected", vm.id)
    if intent.protect == ProtectMode.UNSET:
        if item is not None:
            return Action(
                ActionKind.DRIFT,
                "the VM is protected but has no ppgdr-protect tag: protection is kept; "
                "tag it ppgdr-protect=true to manage it or ppgdr-protect=false to disable replication",
                vm.id,
                item=item,
            )
        return Action(ActionKind.NONE, "not tagged for protection", vm.id)

    failure = inp.last_failure
    if failure and failure.operation == OPERATIONS[ActionKind.ENABLE] and item is not None and _enable_failed(item):
        return Action(
            ActionKind.DISABLE,
            f"{failure.operation} failed ({failure.error}): removing the item it left in the vault",
            vm.id,
            item=item,
        )
    spec_or_problems = build_enable_spec(inp, vm, intent)
    if isinstance(spec_or_problems, tuple):
        return Action(ActionKind.REFUSE, "this VM cannot be protected as tagged", vm.id, item=item, problems=spec_or_problems)
    spec = spec_or_problems
    if item is None:
        return _unless_held(inp, Action(ActionKind.ENABLE, "tagged ppgdr-protect=true and not yet protected", vm.id, spec=spec))
    if item.provider != A2A or (item.active_location or "").lower() == "recovery":
        return Action(
            ActionKind.OBSERVE, "protected; failover state is managed by the group workflow", vm.id, spec=spec, item=item
        )
    desired_ppg = spec.target_ppg.id if spec.target_ppg else None
    current_ppg = item.recovery_ppg_id or None
    if same_id(desired_ppg, current_ppg):
        return Action(ActionKind.OBSERVE, "protected as desired", vm.id, spec=spec, item=item)
    if desired_ppg is None:
        return Action(
            ActionKind.REENABLE_WITHOUT_PPG,
            "ASR cannot remove a target PPG from a protected item: disabling, then re-enabling without a PPG",
            vm.id,
            spec=spec,
            item=item,
        )
    return _unless_held(
        inp,
        Action(
            ActionKind.UPDATE_TARGET_PPG,
            f"target PPG changes from {current_ppg or 'none'} to {desired_ppg}",
            vm.id,
            spec=spec,
            item=item,
        ),
    )


_ITEM_WRITES = frozenset({ActionKind.DISABLE, ActionKind.UPDATE_TARGET_PPG, ActionKind.REENABLE_WITHOUT_PPG})


def _enable_failed(item: ObservedItem) -> bool:
    """An item an enable left behind when its job failed: not replicating, only disable allowed."""
    state = item.protection_state or ""
    return state not in ("Protected", "InitialReplicationInProgress") and item.allowed_operations == ("DisableProtection",)


def _unless_held(inp: PlanInput, action: Action) -> Action:
    """The action, or HOLD when the very same step failed less than RETRY_FAILED_AFTER ago.

    Azure accepted it and its job failed (a refusal after acceptance, e.g. 45005): sending the same request
    again at once fails the same way. A change of tags or settings (another fingerprint) goes ahead at once.
    """
    failure = inp.last_failure
    if failure is None or action.spec is None or inp.now is None:
        return action
    if failure.operation != OPERATIONS.get(action.kind) or failure.fingerprint != spec_fingerprint(action.spec):
        return action
    retry_at = failure.at + RETRY_FAILED_AFTER
    if inp.now >= retry_at:
        return action
    return replace(
        action,
        kind=ActionKind.HOLD,
        reason=f"{failure.operation} failed: {failure.error}; retried after {retry_at.strftime('%Y-%m-%d %H:%M')} UTC "
        "or as soon as the tags or settings change",
    )


def build_enable_spec(inp: PlanInput, vm: ObservedVm, intent: TagIntent) -> EnableSpec | tuple[str, ...]:
    """The validated enable input, or every reason it cannot be built."""
    settings = inp.settings
    problems: list[str] = []
    if vm.unmanaged_disks:
        problems.append(
            f"the VM has unmanaged disks ({', '.join(vm.unmanaged_disks)}); ppg-dr protects VMs with managed disks "
            "only: convert them (az vm convert) and the VM is protected on the next reconcile"
        )
    if vm.scale_set_id:
        problems.append("the VM belongs to a scale set; protect scale-set VMs through the scale set, not per VM")
    target_region = settings.target_region(vm.location)
    if target_region is None:
        problems.append(f"no DR region is paired with {vm.location}: add it to PPGDR_REGION_PAIRS")
    staging = settings.cache_storage_accounts.get(vm.location)
    if staging is None:
        problems.append(f"no cache storage account for {vm.location}: add it to PPGDR_CACHE_STORAGE_ACCOUNTS")

    target_rg = settings.target_resource_group_for(vm.resource_group)
    target_rg_id = f"/subscriptions/{vm.subscription}/resourceGroups/{target_rg}"
    group = default_group(intent, vm.ppg_name, vm.name)
    target_ppg = _target_ppg(inp, vm, intent, target_rg, problems)

    avset: AvailabilitySetPlan | None = None
    if vm.availability_set_id and vm.availability_set_name:
        name = f"{vm.availability_set_name}-asr"
        avset = AvailabilitySetPlan(
            id=compute_id(vm.subscription, target_rg, "availabilitySets", name),
            name=name,
            resource_group=target_rg,
            ppg_id=target_ppg.id if target_ppg else None,
        )
        if intent.target_zone:
            problems.append("ppgdr-target-zone cannot be used for a VM in an availability set (a set is not zonal)")

    capacity: str | None = None
    if intent.capacity_reservation:
        if intent.capacity_reservation.startswith("/"):
            parsed = parse_typed_id(intent.capacity_reservation, CAPACITY_RESERVATION_GROUPS)
            if parsed is None:
                problems.append(
                    f"ppgdr-capacity-reservation {intent.capacity_reservation!r} is not a capacity reservation group id"
                )
            else:
                capacity = str(parsed)
        else:
            capacity = compute_id(vm.subscription, target_rg, "capacityReservationGroups", intent.capacity_reservation)

    multi_vm: str | None = None
    if intent.consistency == Consistency.MULTI_VM:
        refusal = check_multi_vm_group_size(group, inp.group_members)
        if refusal:
            problems.append(refusal)
        multi_vm = group

    if problems or target_region is None or staging is None:
        return tuple(problems)
    disks = tuple(DiskPlan(d.id, d.sku or "Standard_LRS", d.sku or "Standard_LRS", staging) for d in vm.disks)
    return EnableSpec(
        vm_id=vm.id,
        vm_name=vm.name,
        item_name=replicated_item_name(vm.id, vm.name),
        group=group,
        source_region=vm.location,
        target_region=target_region,
        target_resource_group=target_rg,
        target_resource_group_id=target_rg_id,
        target_ppg=target_ppg,
        target_availability_set=avset,
        target_zone=intent.target_zone,
        capacity_reservation_group_id=capacity,
        disks=disks,
        multi_vm_group=multi_vm,
        failover_mode=intent.failover.value if "ppgdr-failover" in intent.sources else settings.failover_mode,
        boot_order=intent.boot_order,
        drill_schedule=intent.drill or "",
        rto_minutes=intent.rto_minutes,
        rpo_minutes=intent.rpo_minutes,
        drill_probes=intent.drill_probes,
    )


def _target_ppg(inp: PlanInput, vm: ObservedVm, intent: TagIntent, target_rg: str, problems: list[str]) -> TargetPpgPlan | None:
    choice = intent.target_ppg
    sizes = tuple(sorted(set(inp.group_vm_sizes) | {vm.size}))
    zone = intent.target_zone
    ppg_type = inp.source_ppg_type or "Standard"
    if choice.kind == TargetPpgKind.NONE:
        return None
    if choice.kind == TargetPpgKind.AUTO:
        if vm.ppg_name is None:
            return None  # nothing to mirror: the VM is not in a PPG
        name = auto_target_ppg_name(vm.ppg_name)
        return TargetPpgPlan(
            compute_id(vm.subscription, target_rg, "proximityPlacementGroups", name), name, target_rg, True, ppg_type, zone, sizes
        )
    if choice.kind == TargetPpgKind.NAME and choice.value:
        return TargetPpgPlan(
            compute_id(vm.subscription, target_rg, "proximityPlacementGroups", choice.value),
            choice.value,
            target_rg,
            True,
            ppg_type,
            zone,
            sizes,
        )
    parsed = parse_typed_id(choice.value, PROXIMITY_PLACEMENT_GROUPS)
    if parsed is None:
        problems.append(f"ppgdr-target-ppg {choice.value!r} is not a proximity placement group id")
        return None
    if parsed.subscription.lower() != vm.subscription.lower() or (parsed.resource_group or "").lower() != target_rg.lower():
        problems.append(
            f"the target PPG {parsed.name} is in resource group {parsed.resource_group}, but the VM fails over into "
            f"{target_rg}: Azure requires the target PPG and the target VM (and availability set) in the same "
            "resource group; use a PPG in that group or change PPGDR_TARGET_RESOURCE_GROUP"
        )
        return None
    return TargetPpgPlan(str(parsed), parsed.name, target_rg, False, ppg_type, zone, sizes)


# ------------------------------------------------------------------------------------ availability sets

# Actions that would point a member's item at a (possibly) different recovery PPG.
_MOVES = (ActionKind.ENABLE, ActionKind.UPDATE_TARGET_PPG, ActionKind.REENABLE_WITHOUT_PPG)


def _ppg_of(action: Action) -> str | None:
    return action.spec.target_ppg.id if action.spec and action.spec.target_ppg else None


def _shown(ppg_id: str | None) -> str:
    return ppg_id.rstrip("/").rsplit("/", 1)[-1] if ppg_id else "no PPG"


def _claim(action: Action) -> tuple[str, str] | None:
    """Where a member's item is heading, as (normalised PPG id, words for the reason); None: it claims nothing.

    A member that asks for a PPG (its tags are valid and it is not on hold) claims that PPG. A member that stays
    where it is claims its item's current PPG: invalid tags, drift, a refusal or a held step change nothing, so
    moving the others would leave it behind. An item being enabled is heading where its enable sent it (ASR
    creates the item at once with its recovery PPG). A member being disabled, or without an item, claims nothing.
    """
    item = action.item
    if action.kind == ActionKind.WAIT:
        if action.in_flight == OPERATIONS[ActionKind.ENABLE] and item is not None:
            return normalize_arm_id(item.recovery_ppg_id or ""), f"is being enabled into {_shown(item.recovery_ppg_id)}"
        return None
    if action.kind == ActionKind.DISABLE:
        return None
    if action.spec is not None and action.kind != ActionKind.HOLD:
        return normalize_arm_id(_ppg_of(action) or ""), f"asks for {_shown(_ppg_of(action))}"
    if item is not None:
        return normalize_arm_id(item.recovery_ppg_id or ""), f"stays in {_shown(item.recovery_ppg_id)} ({action.kind.value})"
    return None


def _heading_unknown(action: Action) -> bool:
    """A member with a step in flight whose end is not known yet: a target-PPG update, or an enable with no item yet."""
    if action.kind != ActionKind.WAIT or action.in_flight == "disable-protection":
        return False
    return _claim(action) is None


def align_availability_set(members: list[tuple[ObservedVm, Action]]) -> list[Action]:
    """Azure's rule for one availability set, applied to its members' planned actions. Pure.

    The members of a source availability set share one recovery availability set, and that set sits in
    one PPG; so the members move to another target PPG together or not at all. Every member claims a PPG
    (:func:`_claim`): the one its tags ask for, or the one its item stays in when it cannot move now (invalid
    tags, drift, a held step). When the claims differ, each member whose action would move its item is refused
    with the others named and the tag to set, and nothing changes (a move of one member would re-pin the
    shared recovery set under the others). While a member has a step in flight whose outcome is not known yet
    (a target-PPG update), the others' moves wait for it. When the members' items already target different
    PPGs and the claims do not bring them together, none is reported "as desired": a failover of the group
    would refuse that state.
    """
    if len(members) < 2:
        return [action for _, action in members]
    claims = {vm.key_id: (vm, claim) for vm, action in members if (claim := _claim(action)) is not None}
    desired = {ppg for _, (ppg, _) in claims.values()}
    busy = [vm.name for vm, action in members if _heading_unknown(action)]
    current = {normalize_arm_id(a.item.recovery_ppg_id or "") for _, a in members if a.item is not None}
    set_name = members[0][0].availability_set_name or "the availability set"
    result: list[Action] = []
    for vm, action in members:
        others = [(o, words) for key, (o, (_, words)) in claims.items() if key != vm.key_id]
        if busy and action.kind in _MOVES:
            result.append(
                replace(
                    action,
                    kind=ActionKind.WAIT,
                    reason=f"{vm.name} shares availability set {set_name} with {', '.join(busy)}: the members move "
                    f"together, so {vm.name} waits for the step in flight of {', '.join(busy)} to finish",
                )
            )
        elif len(desired) > 1 and action.kind in _MOVES:
            asked = ", ".join(f"{o.name} {words}" for o, words in others)
            result.append(
                replace(
                    action,
                    kind=ActionKind.REFUSE,
                    reason=f"{vm.name} shares availability set {set_name} with "
                    f"{', '.join(o.name for o, _ in others)}: their recovery availability set sits in one PPG, so "
                    f"they move together; {vm.name} asks for {_shown(_ppg_of(action))}, {asked}. Set the same "
                    f"ppgdr-target-ppg on every VM of the set (or on resource group {vm.resource_group})",
                )
            )
        elif len(current) > 1 and len(desired) > 1 and action.kind == ActionKind.OBSERVE and action.item is not None:
            result.append(
                replace(
                    action,
                    kind=ActionKind.REFUSE,
                    reason=f"the members of availability set {set_name} replicate into different PPGs "
                    f"({', '.join(sorted(_shown(c) for c in current))}): a failover of the group would refuse this; "
                    "set the same ppgdr-target-ppg on every VM of the set",
                )
            )
        else:
            result.append(action)
    return result
