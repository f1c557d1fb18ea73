"""Placement rules for VMware/Hyper-V items: validation, matching, planning and the failback refusal (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from azure.mgmt.recoveryservicessiterecovery import models as m

from shared.platform.observed import ObservedItem
from shared.protection.placement_rules import (
    DOCUMENTED_HYPERV_FAILBACK_LIMIT,
    HYPERV_AZURE,
    INMAGE_RCM,
    OnPremItem,
    PlacementRule,
    RuleError,
    RuleUpdate,
    Step,
    make_rule,
    matching_rule,
    onprem_item_from_sdk,
    plan_rule_updates,
    refuse_hyperv_failback,
)
from shared.protection.placement_updates import update_input
from tests.data import data_path

SUB = "6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10"
VAULT = f"/subscriptions/{SUB}/resourceGroups/dr-ops/providers/Microsoft.RecoveryServices/vaults/v"
TARGET_RG = f"/subscriptions/{SUB}/resourceGroups/onprem-asr"
PPG = f"{TARGET_RG}/providers/Microsoft.Compute/proximityPlacementGroups/web-ppg"
OTHER_PPG = f"/subscriptions/{SUB}/resourceGroups/elsewhere/providers/Microsoft.Compute/proximityPlacementGroups/web-ppg"
VNET = f"/subscriptions/{SUB}/resourceGroups/network/providers/Microsoft.Network/virtualNetworks/prod-ne-vnet"


def _item(name: str = "web-1", provider: str = INMAGE_RCM, **changes: object) -> OnPremItem:
    fabric = "vmwarefabric" if provider == INMAGE_RCM else "hypervsite"
    item = OnPremItem(
        id=f"{VAULT}/replicationFabrics/{fabric}/replicationProtectionContainers/{fabric}-container/replicationProtectedItems/{name}",
        name=name,
        friendly_name=name,
        provider=provider,
        fabric_name=fabric,
        container_name=f"{fabric}-container",
        protection_state="Protected",
        active_location="Primary",
        target_resource_group_id=TARGET_RG,
        recovery_region="northeurope",
        recovery_ppg_id=None,
        recovery_vm_size="Standard_D2s_v3",
        recovery_network_id=None,
    )
    return replace(item, **changes)  # type: ignore[arg-type]


def _rule(name: str = "web", **options: str) -> PlacementRule:
    values = {"provider": "any", "match_name": "web-*", "target_ppg": "web-ppg", **options}
    return make_rule(name, **values)


# ------------------------------------------------------------------------------------------ validation


def test_a_valid_rule_is_normalised() -> None:
    rule = make_rule(
        " web ",
        provider="inmagercm",
        match_name="web-*",
        match_fabric="vmwarefabric",
        target_ppg=PPG.replace("/subscriptions/", "/SUBSCRIPTIONS/").replace(
            "/providers/Microsoft.Compute/", "/providers/microsoft.compute/"
        ),
        vm_size="Standard_D4s_v5",
        network_id=VNET,
    )
    assert rule.name == "web" and rule.match.provider == INMAGE_RCM and rule.match.fabric == "vmwarefabric"
    assert rule.target_ppg == PPG  # canonical casing of the fixed segments
    assert rule.ppg_is_id and rule.vm_size == "Standard_D4s_v5" and rule.network_id == VNET


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "bad name!"}, "rule name"),
        ({"name": ""}, "rule name"),
        ({"provider": "A2A"}, "provider 'A2A'"),
        ({"match_name": ""}, "--match-name"),
        ({"match_name": "web\n*"}, "--match-name"),
        ({"match_fabric": "fab/ric"}, "--match-fabric"),
        ({"target_ppg": "ppg with spaces"}, "--target-ppg"),
        ({"target_ppg": "-leading-hyphen"}, "--target-ppg"),
        ({"target_ppg": VNET}, "not a PPG id"),
        ({"target_ppg": PPG + "/../x"}, "not a PPG id"),
        ({"target_ppg": PPG, "target_resource_group": "other-rg"}, "contradicts"),
        ({"target_resource_group": "rg."}, "--target-resource-group"),
        ({"vm_size": "D4s_v5"}, "--vm-size"),
        ({"vm_size": "Standard_D4s v5"}, "--vm-size"),
        ({"vm_size": "Standard_" + "A" * 80}, "--vm-size"),
        ({"network_id": PPG}, "not a virtual network id"),
        ({"network_id": "prod-ne-vnet"}, "not a virtual network id"),
    ],
)
def test_invalid_rules_are_refused_with_the_option_named(options: dict[str, str], message: str) -> None:
    values = {"name": "web", "provider": "any", "match_name": "web-*", "target_ppg": "web-ppg", **options}
    name = values.pop("name")
    with pytest.raises(RuleError, match="invalid placement rule") as raised:
        make_rule(name, **values)
    assert message in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(RuleError) as raised:
        make_rule("x y", provider="nope", target_ppg="a b", vm_size="big")
    text = str(raised.value)
    assert all(part in text for part in ("rule name", "provider", "--target-ppg", "--vm-size"))


def test_rules_round_trip_through_their_stored_form() -> None:
    rule = _rule(match_fabric="hypervsite", target_resource_group="onprem-asr", vm_size="Standard_E4s_v5", network_id=VNET)
    assert PlacementRule.from_data(rule.to_data()) == rule


def test_a_damaged_stored_rule_is_refused() -> None:
    data = _rule().to_data()
    data["target"]["vm_size"] = "huge"
    with pytest.raises(RuleError):
        PlacementRule.from_data(data)


# -------------------------------------------------------------------------------------------- matching


def test_matching_by_provider_glob_and_fabric() -> None:
    vmware = _rule("a-vmware", provider=INMAGE_RCM, match_name="WEB-*")
    hyperv_site = _rule("b-hyperv", provider=HYPERV_AZURE, match_name="*", match_fabric="HyperVSite")
    rules = [hyperv_site, vmware]
    assert matching_rule(rules, INMAGE_RCM, "web-1", "vmwarefabric") == vmware  # glob is case-insensitive
    assert matching_rule(rules, INMAGE_RCM, "db-1", "vmwarefabric") is None
    assert matching_rule(rules, HYPERV_AZURE, "db-1", "hypervsite") == hyperv_site
    assert matching_rule(rules, HYPERV_AZURE, "db-1", "othersite") is None
    assert matching_rule([_rule(provider="any", match_name="*")], "A2A", "web-1", "westeurope") is None  # never A2A


def test_the_first_rule_by_name_wins() -> None:
    late = _rule("20-web", match_name="web-*", target_ppg="late-ppg")
    early = _rule("10-all", match_name="*", target_ppg="early-ppg")
    assert matching_rule([late, early], INMAGE_RCM, "web-1", "vmwarefabric") == early


# -------------------------------------------------------------------------------------------- planning


def test_an_item_out_of_line_gets_one_update_with_every_change() -> None:
    rule = _rule(vm_size="Standard_D4s_v5", network_id=VNET)
    [update] = plan_rule_updates([rule], [_item()])
    assert update.step == Step.UPDATE and update.rule == "web"
    assert update.ppg is not None and update.ppg.id == PPG and update.ppg.create_if_missing
    assert update.ppg.resource_group == "onprem-asr" and update.ppg.vm_sizes == ("Standard_D4s_v5",)
    assert update.subscription == SUB and update.vm_size == "Standard_D4s_v5" and update.network_id == VNET
    assert update.changes == (
        "target PPG none -> web-ppg",
        "size Standard_D2s_v3 -> Standard_D4s_v5",
        "network none -> prod-ne-vnet",
    )
    assert update.reason.startswith("rule web: target PPG none -> web-ppg; size")


def test_an_item_in_line_with_its_rule_needs_nothing() -> None:
    rule = _rule(vm_size="Standard_D4s_v5", network_id=VNET)
    in_line = _item(recovery_ppg_id=PPG.upper(), recovery_vm_size="standard_d4s_v5", recovery_network_id=VNET.lower())
    assert plan_rule_updates([rule], [in_line]) == []


def test_only_the_settings_a_rule_names_are_compared() -> None:
    in_line = _item(recovery_ppg_id=PPG, recovery_vm_size="Standard_M64s", recovery_network_id=None)
    assert plan_rule_updates([_rule()], [in_line]) == []
    [update] = plan_rule_updates([_rule(vm_size="Standard_D4s_v5")], [in_line])
    assert update.changes == ("size Standard_M64s -> Standard_D4s_v5",)
    assert update.network_id is None


def test_items_no_rule_selects_and_a2a_items_are_left_alone() -> None:
    assert plan_rule_updates([_rule()], [_item("db-1"), _item("web-1", provider="A2A")]) == []
    assert plan_rule_updates([], [_item()]) == []


def test_a_ppg_by_name_goes_to_each_items_own_target_resource_group() -> None:
    other_rg = f"/subscriptions/{SUB}/resourceGroups/branch-asr"
    updates = plan_rule_updates([_rule()], [_item("web-1"), _item("web-2", target_resource_group_id=other_rg)])
    assert [u.ppg.id if u.ppg else None for u in updates] == [
        PPG,
        f"{other_rg}/providers/Microsoft.Compute/proximityPlacementGroups/web-ppg",
    ]


def test_a_ppg_outside_the_items_target_resource_group_is_refused() -> None:
    for rule in (_rule(target_ppg=OTHER_PPG), _rule(target_resource_group="elsewhere")):
        [update] = plan_rule_updates([rule], [_item()])
        assert update.step == Step.REFUSE and update.ppg is None
        assert "Ensure that the target PPG and the target virtual machine are in the same resource group." in update.reason
        assert "onprem-asr" in update.reason and "elsewhere" in update.reason


def test_a_ppg_id_in_the_items_target_resource_group_is_used_as_given() -> None:
    [update] = plan_rule_updates([_rule(target_ppg=PPG, target_resource_group="ONPREM-ASR")], [_item()])
    assert update.step == Step.UPDATE and update.ppg is not None and update.ppg.id == PPG


def test_items_not_yet_protected_or_failed_over_wait() -> None:
    enabling = _item(protection_state="InitialReplicationInProgress")
    failed_over = _item("web-2", active_location="Recovery", protection_state="UnplannedFailoverCommitted")
    updates = plan_rule_updates([_rule()], [enabling, failed_over])
    assert [u.step for u in updates] == [Step.WAIT, Step.WAIT]
    assert "InitialReplicationInProgress" in updates[0].reason
    assert "failed over" in updates[1].reason


def test_missing_target_resource_group_or_region_is_refused() -> None:
    [no_rg] = plan_rule_updates([_rule()], [_item(target_resource_group_id=None)])
    assert no_rg.step == Step.REFUSE and "target resource group" in no_rg.reason
    [no_region] = plan_rule_updates([_rule()], [_item(recovery_region=None)])
    assert no_region.step == Step.REFUSE and "recovery region" in no_region.reason


def test_the_intent_uses_the_current_size_when_the_rule_names_none() -> None:
    [update] = plan_rule_updates([_rule()], [_item(recovery_vm_size="Standard_E8s_v5")])
    assert update.ppg is not None and update.ppg.vm_sizes == ("Standard_E8s_v5",)
    [no_size] = plan_rule_updates([_rule()], [_item(recovery_vm_size=None)])
    assert no_size.ppg is not None and no_size.ppg.vm_sizes == ()


def test_the_journal_request_names_the_item_and_the_target() -> None:
    [update] = plan_rule_updates([_rule(vm_size="Standard_D4s_v5")], [_item()])
    assert update.request() == {
        "item_name": "web-1",
        "fabric": "vmwarefabric",
        "container": "vmwarefabric-container",
        "provider": INMAGE_RCM,
        "rule": "web",
        "target_ppg": PPG,
        "vm_size": "Standard_D4s_v5",
        "network_id": "",
    }


# -------------------------------------------------------------------------------------- provider inputs


def _update(provider: str) -> RuleUpdate:
    [update] = plan_rule_updates([_rule(vm_size="Standard_D4s_v5", network_id=VNET)], [_item(provider=provider)])
    return update


def test_vmware_update_sets_everything_in_the_inmagercm_input() -> None:
    body = update_input(_update(INMAGE_RCM)).as_dict()
    assert body == {
        "properties": {
            "providerSpecificDetails": {
                "instanceType": "InMageRcm",
                "targetProximityPlacementGroupId": PPG,
                "targetVmSize": "Standard_D4s_v5",
                "targetNetworkId": VNET,
            }
        }
    }


def test_hyperv_update_sets_size_and_network_in_the_common_properties() -> None:
    body = update_input(_update(HYPERV_AZURE)).as_dict()
    assert body == {
        "properties": {
            "recoveryAzureVMSize": "Standard_D4s_v5",
            "selectedRecoveryAzureNetworkId": VNET,
            "providerSpecificDetails": {"instanceType": "HyperVReplicaAzure", "targetProximityPlacementGroupId": PPG},
        }
    }


def test_an_update_without_size_or_network_sends_only_the_ppg() -> None:
    [update] = plan_rule_updates([_rule()], [_item(provider=HYPERV_AZURE)])
    assert update_input(update).as_dict() == {
        "properties": {"providerSpecificDetails": {"instanceType": "HyperVReplicaAzure", "targetProximityPlacementGroupId": PPG}}
    }


# -------------------------------------------------------------------------------------- SDK conversion


def _sdk_item(
    provider: str, details: dict[str, object], recovery_fabric_name: str = "Microsoft Azure"
) -> m.ReplicationProtectedItem:
    fabric = "vmwarefabric" if provider == INMAGE_RCM else "hypervsite"
    return m.ReplicationProtectedItem(
        {
            "id": f"{VAULT}/replicationFabrics/{fabric}/replicationProtectionContainers/c/replicationProtectedItems/i-1",
            "name": "i-1",
            "location": "westeurope",
            "properties": {
                "friendlyName": "web-1",
                "protectionState": "Protected",
                "activeLocation": "Primary",
                "recoveryFabricFriendlyName": recovery_fabric_name,
                "providerSpecificDetails": {"instanceType": provider, **details},
            },
        }
    )


def test_vmware_items_are_read_from_the_target_fields() -> None:
    item = onprem_item_from_sdk(
        _sdk_item(
            INMAGE_RCM,
            {
                "targetResourceGroupId": TARGET_RG,
                "targetLocation": "northeurope",
                "targetProximityPlacementGroupId": PPG,
                "targetVmSize": "Standard_D2s_v3",
                "targetNetworkId": VNET,
            },
        )
    )
    assert (item.provider, item.fabric_name, item.container_name, item.display_name) == (INMAGE_RCM, "vmwarefabric", "c", "web-1")
    assert item.target_resource_group_id == TARGET_RG and item.recovery_region == "northeurope"
    assert item.recovery_ppg_id == PPG and item.recovery_vm_size == "Standard_D2s_v3" and item.recovery_network_id == VNET


def test_hyperv_items_take_the_region_from_the_recovery_fabric_or_the_vault() -> None:
    details = {
        "recoveryAzureResourceGroupId": TARGET_RG,
        "recoveryAzureVMSize": "Standard_D2s_v3",
        "selectedRecoveryAzureNetworkId": VNET,
    }
    item = onprem_item_from_sdk(_sdk_item(HYPERV_AZURE, details, recovery_fabric_name="North Europe"))
    assert item.recovery_region == "northeurope" and item.target_resource_group_id == TARGET_RG
    assert item.recovery_vm_size == "Standard_D2s_v3" and item.recovery_network_id == VNET and item.recovery_ppg_id is None
    # "Microsoft Azure" is no region: on-premises machines fail over to the vault's region
    assert onprem_item_from_sdk(_sdk_item(HYPERV_AZURE, details)).recovery_region == "westeurope"


# ------------------------------------------------------------------------------------ failback refusal


def _observed(provider: str, ppg: str | None) -> ObservedItem:
    return ObservedItem(
        name="i-1",
        id=f"{VAULT}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/i-1",
        provider=provider,
        fabric_name="f",
        container_name="c",
        source_vm_id=None,
        protection_state="UnplannedFailoverCommitted",
        protection_description=None,
        replication_health="Normal",
        recovery_ppg_id=ppg,
        friendly_name="app-1",
    )


def test_hyperv_failback_from_a_ppg_is_refused_with_the_documented_reason() -> None:
    reason = refuse_hyperv_failback(_observed(HYPERV_AZURE, PPG))
    assert reason is not None
    assert "Failback from proximity placement groups in Azure to Hyper-V is not supported." in reason
    assert DOCUMENTED_HYPERV_FAILBACK_LIMIT in reason
    assert reason.startswith("failback of app-1 from Azure to Hyper-V is refused") and "web-ppg" in reason
    assert refuse_hyperv_failback(_item(provider=HYPERV_AZURE, recovery_ppg_id=PPG)) is not None  # OnPremItem too


def test_other_failbacks_are_not_refused_here() -> None:
    assert refuse_hyperv_failback(_observed(HYPERV_AZURE, None)) is None
    assert refuse_hyperv_failback(_observed(INMAGE_RCM, PPG)) is None
    assert refuse_hyperv_failback(_observed("A2A", PPG)) is None


def test_the_documented_wording_is_the_reference_articles() -> None:
    article = data_path("reference", "asr-replicate-vms-in-proximity-placement-groups.md")
    text = " ".join(article.read_text().split())
    assert DOCUMENTED_HYPERV_FAILBACK_LIMIT in text
