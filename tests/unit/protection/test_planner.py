"""The protection planner: Azure's rules enforced before any call, one action per VM state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.arm.ids import vm_ref
from shared.arm.names import replicated_item_name
from shared.platform.observed import ManagedDisk, ObservedItem, ObservedVm
from shared.protection.planner import ActionKind, PlanInput, plan_vm
from shared.protection.tags import parse_tags
from shared.settings import Settings

SUB = "6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10"
RG = f"/subscriptions/{SUB}/resourceGroups"
PPG = f"{RG}/sap-prod/providers/Microsoft.Compute/proximityPlacementGroups/sap-ppg"
AVSET = f"{RG}/sap-prod/providers/Microsoft.Compute/availabilitySets/sap-avset"
VM_ID = f"{RG}/sap-prod/providers/Microsoft.Compute/virtualMachines/sap-app-1"
SETTINGS = Settings(
    region_pairs={"westeurope": "northeurope"},
    cache_storage_accounts={"westeurope": f"{RG}/dr-ops/providers/Microsoft.Storage/storageAccounts/cachewe"},
    vault_id=f"{RG}/dr-ops/providers/Microsoft.RecoveryServices/vaults/ppgdr-vault",
)
VM = ObservedVm(
    ref=vm_ref(VM_ID),
    name="sap-app-1",
    location="westeurope",
    size="Standard_E16s_v5",
    ppg_id=PPG,
    availability_set_id=AVSET,
    disks=(ManagedDisk("os-disk", "Premium_LRS", True), ManagedDisk("data-1", "StandardSSD_LRS", False)),
    tags={"ppgdr-protect": "true"},
)
TARGET_PPG = f"{RG}/sap-prod-asr/providers/Microsoft.Compute/proximityPlacementGroups/sap-ppg-asr"


def item(**overrides) -> ObservedItem:
    base = ObservedItem(
        name=replicated_item_name(VM_ID, "sap-app-1"),
        id="item-id",
        provider="A2A",
        fabric_name="ppgdr-westeurope",
        container_name="ppgdr-westeurope-container",
        source_vm_id=VM_ID,
        protection_state="Protected",
        protection_description="Protected",
        replication_health="Normal",
        recovery_ppg_id=TARGET_PPG,
        active_location="Primary",
        allowed_operations=("UnplannedFailover", "DisableProtection", "TestFailover"),  # a protected A2A item
    )
    return replace(base, **overrides)


def plan(vm: ObservedVm | None = VM, *, tags: dict[str, str] | None = None, rg_tags=None, it=None, **kw):
    if vm is not None and tags is not None:
        vm = replace(vm, tags=tags)
    return plan_vm(
        PlanInput(
            vm_id=VM_ID,
            vm=vm,
            tags=parse_tags(vm.tags, rg_tags) if vm else None,
            item=it,
            settings=kw.pop("settings", SETTINGS),
            **kw,
        )
    )


def test_tagged_vm_is_enabled_with_every_disk_ppg_and_availability_set() -> None:
    action = plan()
    assert action.kind == ActionKind.ENABLE
    spec = action.spec
    assert spec is not None
    assert spec.target_region == "northeurope"
    assert spec.target_resource_group == "sap-prod-asr"
    assert spec.target_ppg is not None and spec.target_ppg.id == TARGET_PPG and spec.target_ppg.create_if_missing
    assert spec.target_availability_set is not None
    assert spec.target_availability_set.name == "sap-avset-asr"
    assert spec.target_availability_set.ppg_id == TARGET_PPG
    assert spec.target_availability_set.resource_group == spec.target_ppg.resource_group == spec.target_resource_group
    assert [(d.disk_id, d.replica_disk_type, d.target_disk_type) for d in spec.disks] == [
        ("os-disk", "Premium_LRS", "Premium_LRS"),
        ("data-1", "StandardSSD_LRS", "StandardSSD_LRS"),
    ]
    assert all(d.staging_account_id.endswith("/cachewe") for d in spec.disks)
    assert spec.item_name == replicated_item_name(VM_ID.upper(), "SAP-APP-1")  # stable across spellings
    assert spec.group == "sap-ppg"


def test_untagged_vm_is_left_alone_and_protected_untagged_vm_is_drift() -> None:
    assert plan(tags={}).kind == ActionKind.NONE
    drift = plan(tags={}, it=item())
    assert drift.kind == ActionKind.DRIFT and "protection is kept" in drift.reason


def test_resource_group_tag_protects_and_vm_tag_overrides() -> None:
    assert plan(tags={}, rg_tags={"ppgdr-protect": "true"}).kind == ActionKind.ENABLE
    assert plan(tags={"ppgdr-protect": "false"}, rg_tags={"ppgdr-protect": "true"}).kind == ActionKind.NONE


def test_unprotect_disables_an_existing_item() -> None:
    action = plan(tags={"ppgdr-protect": "false"}, it=item())
    assert action.kind == ActionKind.DISABLE and action.item is not None


def test_deleted_vm_disables_replication() -> None:
    assert plan(None, it=item()).kind == ActionKind.DISABLE
    assert plan(None).kind == ActionKind.NONE


def test_unmanaged_disks_are_refused_with_the_reason() -> None:
    action = plan(replace(VM, unmanaged_disks=("osdisk.vhd",)))
    assert action.kind == ActionKind.REFUSE
    assert any("unmanaged disks" in p for p in action.problems)


def test_invalid_tags_refuse_and_change_nothing() -> None:
    action = plan(tags={"ppgdr-protect": "yes please", "ppgdr-target-zone": "7"}, it=item())
    assert action.kind == ActionKind.REFUSE
    assert len(action.problems) == 2


def test_target_ppg_in_another_resource_group_is_refused_before_azure() -> None:
    other = f"{RG}/elsewhere/providers/Microsoft.Compute/proximityPlacementGroups/other-ppg"
    action = plan(tags={"ppgdr-protect": "true", "ppgdr-target-ppg": other})
    assert action.kind == ActionKind.REFUSE
    assert any("same resource group" in p for p in action.problems)


def test_target_ppg_by_name_and_by_id_in_the_target_group() -> None:
    by_name = plan(tags={"ppgdr-protect": "true", "ppgdr-target-ppg": "dr-ppg-2"})
    assert by_name.spec is not None and by_name.spec.target_ppg is not None
    assert by_name.spec.target_ppg.id.endswith("/sap-prod-asr/providers/Microsoft.Compute/proximityPlacementGroups/dr-ppg-2")
    same_rg = f"{RG}/sap-prod-asr/providers/Microsoft.Compute/proximityPlacementGroups/existing"
    by_id = plan(tags={"ppgdr-protect": "true", "ppgdr-target-ppg": same_rg})
    assert by_id.kind == ActionKind.ENABLE and by_id.spec is not None and by_id.spec.target_ppg is not None
    assert by_id.spec.target_ppg.create_if_missing is False


def test_changing_the_target_ppg_updates_and_none_reenables() -> None:
    update = plan(tags={"ppgdr-protect": "true", "ppgdr-target-ppg": "dr-ppg-2"}, it=item())
    assert update.kind == ActionKind.UPDATE_TARGET_PPG
    none = plan(tags={"ppgdr-protect": "true", "ppgdr-target-ppg": "none"}, it=item())
    assert none.kind == ActionKind.REENABLE_WITHOUT_PPG and "disabling, then re-enabling" in none.reason
    same = plan(it=item(recovery_ppg_id=TARGET_PPG.upper()))
    assert same.kind == ActionKind.OBSERVE


def test_operation_in_flight_waits() -> None:
    assert plan(it=item(), in_flight="enable-protection").kind == ActionKind.WAIT


def test_missing_region_pair_or_cache_account_is_refused() -> None:
    no_pair = plan(settings=replace(SETTINGS, region_pairs={}))
    assert no_pair.kind == ActionKind.REFUSE and any("PPGDR_REGION_PAIRS" in p for p in no_pair.problems)
    no_cache = plan(settings=replace(SETTINGS, cache_storage_accounts={}))
    assert any("PPGDR_CACHE_STORAGE_ACCOUNTS" in p for p in no_cache.problems)


def test_zone_to_zone_and_zone_with_availability_set() -> None:
    zonal = replace(VM, availability_set_id=None, zones=("1",))
    action = plan(zonal, tags={"ppgdr-protect": "true", "ppgdr-target-zone": "2"})
    assert action.spec is not None and action.spec.target_zone == "2"
    assert action.spec.target_ppg is not None and action.spec.target_ppg.zone == "2"
    refused = plan(tags={"ppgdr-protect": "true", "ppgdr-target-zone": "2"})
    assert refused.kind == ActionKind.REFUSE


def test_vm_without_ppg_gets_no_target_ppg_and_its_own_group() -> None:
    action = plan(replace(VM, ppg_id=None, availability_set_id=None))
    assert action.kind == ActionKind.ENABLE and action.spec is not None
    assert action.spec.target_ppg is None and action.spec.group == "sap-app-1"


@pytest.mark.parametrize(("members", "kind"), [(16, ActionKind.ENABLE), (17, ActionKind.REFUSE)])
def test_multi_vm_consistency_limit(members: int, kind: ActionKind) -> None:
    action = plan(tags={"ppgdr-protect": "true", "ppgdr-consistency": "multi-vm"}, group_members=members)
    assert action.kind == kind
    if kind == ActionKind.ENABLE:
        assert action.spec is not None and action.spec.multi_vm_group == "sap-ppg"


def test_capacity_reservation_by_name_lands_in_target_group() -> None:
    action = plan(tags={"ppgdr-protect": "true", "ppgdr-capacity-reservation": "sap-crg"})
    assert action.spec is not None
    assert action.spec.capacity_reservation_group_id == (
        f"/subscriptions/{SUB}/resourceGroups/sap-prod-asr/providers/Microsoft.Compute/capacityReservationGroups/sap-crg"
    )


def test_failed_over_item_is_left_to_the_group_workflow() -> None:
    assert plan(it=item(active_location="Recovery")).kind == ActionKind.OBSERVE


def test_group_sizes_feed_the_target_ppg_intent() -> None:
    action = plan(group_vm_sizes=("Standard_M64s",))
    assert action.spec is not None and action.spec.target_ppg is not None
    assert action.spec.target_ppg.vm_sizes == ("Standard_E16s_v5", "Standard_M64s")


@pytest.mark.parametrize(
    ("tags", "vm_present"),
    [({"ppgdr-protect": "false"}, True), ({"ppgdr-protect": "true", "ppgdr-target-ppg": "none"}, True), (None, False)],
)
def test_no_write_is_planned_on_an_item_asr_is_busy_with(tags, vm_present) -> None:  # type: ignore[no-untyped-def]
    """A job runs on the item (allowed operations empty): disable, update or re-enable would be refused; it waits."""
    busy = item(allowed_operations=(), protection_state="UnplannedFailoverInProgress")
    action = plan(VM if vm_present else None, tags=tags, it=busy)
    assert action.kind == ActionKind.WAIT and "allows no operation" in action.reason
    assert plan(VM if vm_present else None, tags=tags, it=item()).kind != ActionKind.WAIT
