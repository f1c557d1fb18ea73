"""What the state machines found, kept as plain tests: each seed replayed, and the rule it broke stated directly.

1. A deleted VM whose disable was in flight was planned ``disable`` again (the next event or reconcile sent a
   second disable for an item being disabled).
2. A member of an availability set that could not move (invalid tags, drift, a step in flight) was left out of
   the set's decision, so its siblings moved to another target PPG without it: the set ended split, which a
   failover of the group refuses.
"""

from __future__ import annotations

from dataclasses import replace

from shared.arm.ids import vm_ref
from shared.platform.observed import ObservedItem, ObservedVm
from shared.protection.planner import Action, ActionKind, PlanInput, align_availability_set, plan_vm
from shared.protection.tags import parse_tags
from tests.property.test_availability_sets import BY_NAME, ESTATE, NOW, SETTINGS, World

# --------------------------------------------------------------------------------------------- seeds


def settled() -> World:
    """Both resource groups tagged ppgdr-protect=true, every VM protected and replicating (the machine's start)."""
    world = World()
    world.tags["sap-prod"]["ppgdr-protect"] = "true"
    world.tags["web"]["ppgdr-protect"] = "true"
    world.reconcile([vm.name for vm in ESTATE])
    for name in sorted(world.ops):
        world.finish(name, replicated=True)
    assert world.check() == []
    return world


def test_seed_a_deleted_vm_is_disabled_once_however_many_events_arrive() -> None:
    world = settled()
    world.present.discard("sap-app-1")
    world.event("sap-app-1")
    assert world.ops["sap-app-1"].operation == "disable-protection"
    world.event("sap-app-1")  # the reconcile timer, or another event, before the disable's job ends
    assert world.check() == []
    assert world.statuses["sap-app-1"].reason == "the VM was deleted; waiting for disable-protection to finish"


def test_seed_a_member_with_invalid_tags_keeps_its_set_where_it_is() -> None:
    world = settled()
    world.tags["web-2"]["ppgdr-target-ppg"] = "ppg-b"
    world.tags["web-1"]["ppgdr-failover"] = "aprove"  # invalid: web-1 is left exactly as it is
    world.event("web-1")
    world.event("web-2")
    assert world.check() == []
    assert "web-2" not in world.ops
    assert "web-1 stays in no PPG (refuse)" in world.statuses["web-2"].reason


def test_seed_a_member_being_enabled_holds_the_set_to_its_target() -> None:
    world = World()
    world.tags["web"]["ppgdr-protect"] = "true"
    world.reconcile(["web-1", "web-2"])  # both enabling without a PPG (web-avset has none)
    world.finish("web-2", replicated=True)
    world.tags["web-2"]["ppgdr-target-ppg"] = "ppg-c"
    world.event("web-2")  # web-1 still enabling into no PPG: web-2 must not leave alone
    assert world.check() == []
    assert world.ops["web-1"].operation == "enable-protection" and "web-2" not in world.ops


def test_seed_a_drifting_member_keeps_its_set_where_it_is() -> None:
    world = settled()
    world.tags["sap-prod"].pop("ppgdr-protect")
    for name in ("sap-app-2", "sap-app-3"):
        world.tags[name].update({"ppgdr-protect": "true", "ppgdr-target-ppg": "ppg-b"})
    world.reconcile([vm.name for vm in ESTATE])  # sap-app-1 drifts (protected, no ppgdr-protect): it stays
    assert world.check() == []
    assert not any(name in world.ops for name in ("sap-app-1", "sap-app-2", "sap-app-3"))


# ------------------------------------------------------------------------------------- the rules, directly

ITEM = ObservedItem(
    name="item",
    id="item",
    provider="A2A",
    fabric_name="ppgdr-westeurope",
    container_name="ppgdr-westeurope-container",
    source_vm_id=None,
    protection_state="Protected",
    protection_description="",
    replication_health="Normal",
    recovery_ppg_id="/subscriptions/6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10/resourceGroups/sap-prod-asr/providers/"
    "Microsoft.Compute/proximityPlacementGroups/sap-ppg-asr",
    active_location="Primary",
    allowed_operations=("UnplannedFailover", "DisableProtection", "TestFailover"),
)


def observed(name: str, **tags: str) -> ObservedVm:
    vm = World().observed_vm(name)
    assert vm is not None
    return replace(vm, tags={"ppgdr-protect": "true", **{k.replace("_", "-"): v for k, v in tags.items()}})


def plan(vm: ObservedVm | None, name: str, *, item: ObservedItem | None = ITEM, in_flight: str | None = None) -> Action:
    return plan_vm(
        PlanInput(
            vm_id=BY_NAME[name].id,
            vm=vm,
            tags=parse_tags(vm.tags) if vm else None,
            item=item,
            settings=SETTINGS,
            in_flight=in_flight,
            now=NOW,
        )
    )


def test_a_deleted_vm_with_a_step_in_flight_waits_for_it() -> None:
    action = plan(None, "sap-app-1", in_flight="disable-protection")
    assert action.kind == ActionKind.WAIT and action.vm_id == str(vm_ref(BY_NAME["sap-app-1"].id))
    assert plan(None, "sap-app-1").kind == ActionKind.DISABLE


def test_a_member_that_cannot_move_holds_the_others_back() -> None:
    stuck = observed("sap-app-1", ppgdr_failover="aprove")
    mover = observed("sap-app-2", ppgdr_target_ppg="ppg-b")
    actions = [plan(stuck, "sap-app-1"), plan(mover, "sap-app-2")]
    assert [a.kind for a in actions] == [ActionKind.REFUSE, ActionKind.UPDATE_TARGET_PPG]
    aligned = align_availability_set([(stuck, actions[0]), (mover, actions[1])])
    assert [a.kind for a in aligned] == [ActionKind.REFUSE, ActionKind.REFUSE]
    assert "sap-app-1 stays in sap-ppg-asr (refuse)" in aligned[1].reason


def test_a_target_ppg_update_in_flight_makes_the_others_wait() -> None:
    busy = observed("sap-app-1", ppgdr_target_ppg="ppg-b")
    mover = observed("sap-app-2", ppgdr_target_ppg="ppg-b")
    actions = [plan(busy, "sap-app-1", in_flight="update-target-ppg"), plan(mover, "sap-app-2")]
    aligned = align_availability_set([(busy, actions[0]), (mover, actions[1])])
    assert [a.kind for a in aligned] == [ActionKind.WAIT, ActionKind.WAIT]
    assert "waits for the step in flight of sap-app-1" in aligned[1].reason


def test_members_that_agree_still_move_together() -> None:
    first, second = observed("sap-app-1", ppgdr_target_ppg="ppg-b"), observed("sap-app-2", ppgdr_target_ppg="ppg-b")
    aligned = align_availability_set([(first, plan(first, "sap-app-1")), (second, plan(second, "sap-app-2"))])
    assert [a.kind for a in aligned] == [ActionKind.UPDATE_TARGET_PPG, ActionKind.UPDATE_TARGET_PPG]
    enabling = plan(first, "sap-app-1", in_flight="enable-protection")
    fresh = plan(observed("sap-app-2"), "sap-app-2", item=None)
    aligned = align_availability_set([(first, enabling), (observed("sap-app-2"), fresh)])
    assert [a.kind for a in aligned] == [ActionKind.WAIT, ActionKind.ENABLE]  # both into sap-ppg-asr
