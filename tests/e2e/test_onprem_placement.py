"""End to end: placement rules put VMware and Hyper-V protected items into a target PPG.

The items are seeded through the emulator's admin API (their enablement needs on-premises
appliances); the rules are set through the ``ppgdr rules`` commands; the registered ``reconcile`` timer
applies them and the ``pulse`` timer follows the ASR jobs. Everything is checked through the SDK.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from click.testing import CliRunner, Result

from localdev import estate as est
from shared.arm.keys import normalize_arm_id
from shared.operator.cli_rules import rules
from shared.platform.observed import item_from_sdk
from shared.protection.placement_rules import OPERATION, refuse_hyperv_failback
from shared.protection.placement_updates import apply_placement_rules
from shared.protection.steps import CREATED_BY_TAG, CREATED_BY_VALUE, journal_scope
from shared.state.store import OPEN_STATUSES, SUCCEEDED
from tests.fixtures.app import Ppgdr

SUB = est.SUBSCRIPTION
TARGET_RG = "onprem-asr"
TARGET_RG_ID = f"/subscriptions/{SUB}/resourceGroups/{TARGET_RG}"
WEB_PPG = est.rid(TARGET_RG, "Microsoft.Compute/proximityPlacementGroups", "web-ppg")
APP_PPG = est.rid(TARGET_RG, "Microsoft.Compute/proximityPlacementGroups", "app-ppg")
VMWARE = ("vmwarefabric", "vmwarefabric-container", "vmw-web-1")
HYPERV = ("hypervsite", "hypervsite-container", "hv-app-1")


def _cli(*args: str) -> Result:
    result = CliRunner().invoke(rules, list(args), catch_exceptions=False)
    return result


def _seed_items(app: Ppgdr) -> None:
    base = {"subscriptionId": SUB, "resourceGroup": est.VAULT_RG, "vault": est.VAULT_NAME, "location": est.TARGET_REGION}
    app.emulator.admin(
        "POST",
        "asr/items",
        json={
            **base,
            "provider": "InMageRcm",
            "name": VMWARE[2],
            "vmName": "web-1",
            "targetLocation": est.TARGET_REGION,
            "targetResourceGroupId": TARGET_RG_ID,
            "targetVmSize": "Standard_D2s_v3",
        },
    )
    app.emulator.admin(
        "POST",
        "asr/items",
        json={
            **base,
            "provider": "HyperVReplicaAzure",
            "name": HYPERV[2],
            "vmName": "app-1",
            "targetResourceGroupId": TARGET_RG_ID,
            "targetVmSize": "Standard_D2s_v3",
        },
    )
    app.ctx.clients.resources(SUB).resource_groups.create_or_update(TARGET_RG, {"location": est.TARGET_REGION})


def _get(app: Ppgdr, ref: tuple[str, str, str]) -> Any:
    vault = app.ctx.clients.vault()
    return app.ctx.clients.site_recovery(vault.subscription).replication_protected_items.get(*vault.args, *ref)


def _list(app: Ppgdr) -> list[Any]:
    vault = app.ctx.clients.vault()
    return list(app.ctx.clients.site_recovery(vault.subscription).replication_protected_items.list(*vault.args))


def _writes(app: Ppgdr) -> list[dict[str, Any]]:
    return [r for r in app.emulator.requests() if r["method"] != "GET"]


def _set_rules() -> None:
    web = _cli(
        "set",
        "vmware-web",
        "--provider",
        "InMageRcm",
        "--match-name",
        "web-*",
        "--target-ppg",
        "web-ppg",
        "--vm-size",
        "Standard_D4s_v5",
        "--network",
        est.TARGET_VNET_ID,
    )
    assert web.exit_code == 0, web.output
    assert web.output.startswith("created rule vmware-web: provider=InMageRcm name=web-*")
    app = _cli(
        "set",
        "hyperv-app",
        "--provider",
        "hypervreplicaazure",
        "--match-name",
        "APP-*",
        "--match-fabric",
        "hypervsite",
        "--target-ppg",
        APP_PPG,
        "--vm-size",
        "Standard_E4s_v5",
        "--network",
        est.TARGET_VNET_ID,
    )
    assert app.exit_code == 0, app.output


def _in_line(app: Ppgdr) -> bool:
    web = _get(app, VMWARE).properties.provider_specific_details
    hv = _get(app, HYPERV).properties.provider_specific_details
    return bool(
        web.target_proximity_placement_group_id
        and hv.target_proximity_placement_group_id
        and web.target_vm_size == "Standard_D4s_v5"
        and hv.recovery_azure_vm_size == "Standard_E4s_v5"
    )


def test_rules_put_vmware_and_hyperv_items_into_target_ppgs_then_change_nothing(seeded: Ppgdr) -> None:
    app = seeded
    _seed_items(app)
    _set_rules()
    listed = json.loads(_cli("list", "--json").output)
    assert [r["name"] for r in listed] == ["hyperv-app", "vmware-web"]
    assert listed[0]["target"]["ppg"] == APP_PPG and listed[0]["match"]["provider"] == "HyperVReplicaAzure"

    app.runner.fire_timer("reconcile")
    app.driver.settle(lambda: _in_line(app), label="placement rules")

    web = _get(app, VMWARE).properties.provider_specific_details
    assert normalize_arm_id(web.target_proximity_placement_group_id) == normalize_arm_id(WEB_PPG)
    assert web.target_vm_size == "Standard_D4s_v5"
    assert normalize_arm_id(web.target_network_id) == normalize_arm_id(est.TARGET_VNET_ID)
    hv = _get(app, HYPERV).properties.provider_specific_details
    assert normalize_arm_id(hv.target_proximity_placement_group_id) == normalize_arm_id(APP_PPG)
    assert hv.recovery_azure_vm_size == "Standard_E4s_v5"
    assert normalize_arm_id(hv.selected_recovery_azure_network_id) == normalize_arm_id(est.TARGET_VNET_ID)

    compute = app.ctx.clients.compute(SUB)
    for name, size in (("web-ppg", "Standard_D4s_v5"), ("app-ppg", "Standard_E4s_v5")):
        ppg = compute.proximity_placement_groups.get(TARGET_RG, name)
        assert ppg.location == est.TARGET_REGION
        assert ppg.tags[CREATED_BY_TAG] == CREATED_BY_VALUE  # the mark of every target resource ppg-dr creates
        assert ppg.properties.intent.vm_sizes == [size]

    # each update was journaled and followed to its end by the pulse (the item id stands in for a VM id)
    for ref in (VMWARE, HYPERV):
        item_id = _get(app, ref).id
        journal = app.ctx.store.journal_for(journal_scope(item_id))
        assert [(e.operation, e.status) for e in journal] == [(OPERATION, SUCCEEDED)]
        assert journal[0].request["vm_id"] == item_id and journal[0].result["job"]
    assert not [e for e in app.ctx.store.journal_open()]
    assert "vmw-web-1" not in app.driver.states() and "web-1" not in app.driver.states()  # no VM status rows

    # the next reconcile sees everything in line: no Azure write, no journal entry
    app.emulator.clear_requests()
    app.runner.fire_timer("reconcile")
    assert _writes(app) == []
    assert len(app.ctx.store.journal_for(journal_scope(_get(app, VMWARE).id))) == 1
    applied = _cli("apply", "--dry-run")
    assert "0 not in line with their rule" in applied.output


def test_rule_changes_follow_and_deleting_a_rule_changes_nothing(seeded: Ppgdr) -> None:
    app = seeded
    _seed_items(app)
    _set_rules()
    app.runner.fire_timer("reconcile")
    app.driver.settle(lambda: _in_line(app), label="first placement")

    changed = _cli("set", "vmware-web", "--provider", "InMageRcm", "--match-name", "web-*", "--target-ppg", "web-ppg-2")
    assert changed.output.startswith("replaced rule vmware-web")
    app.emulator.clear_requests()
    listed = [item_from_sdk(i) for i in _list(app)]
    assert apply_placement_rules(app.ctx, listed, dry_run=True) == [
        ("web-1", "placement-rule", "dry run: would update: rule vmware-web: target PPG web-ppg -> web-ppg-2")
    ]
    dry = _cli("apply", "--dry-run")
    assert "web-1: would-start - dry run: would update: rule vmware-web: target PPG web-ppg -> web-ppg-2" in dry.output
    assert _writes(app) == []

    done = _cli("apply")
    assert "web-1: started - rule vmware-web: target PPG web-ppg -> web-ppg-2" in done.output
    in_flight = _cli("apply")  # the job is still running: not sent twice
    assert "web-1: in-flight" in in_flight.output
    app.driver.settle(
        lambda: _get(app, VMWARE).properties.provider_specific_details.target_proximity_placement_group_id.endswith("/web-ppg-2"),
        label="second placement",
    )
    details = _get(app, VMWARE).properties.provider_specific_details
    assert details.target_vm_size == "Standard_D4s_v5"  # the new rule names no size: the size is kept

    assert _cli("delete", "vmware-web").output.strip() == "deleted rule vmware-web"
    assert [r["name"] for r in json.loads(_cli("list", "--json").output)] == ["hyperv-app"]
    missing = CliRunner().invoke(rules, ["delete", "vmware-web"])
    assert missing.exit_code == 1 and "no placement rule named 'vmware-web'" in missing.output
    app.emulator.clear_requests()
    app.runner.fire_timer("reconcile")
    assert _writes(app) == []
    assert _get(app, VMWARE).properties.provider_specific_details.target_proximity_placement_group_id.endswith("/web-ppg-2")


def test_a_ppg_outside_the_target_resource_group_is_refused_without_writes(seeded: Ppgdr) -> None:
    app = seeded
    _seed_items(app)
    other = est.rid("elsewhere", "Microsoft.Compute/proximityPlacementGroups", "web-ppg")
    assert _cli("set", "misplaced", "--provider", "any", "--match-name", "*", "--target-ppg", other).exit_code == 0
    app.emulator.clear_requests()
    result = _cli("apply")
    assert result.output.count(": refused - rule misplaced: the target PPG would be in resource group elsewhere") == 2
    assert "Ensure that the target PPG and the target virtual machine are in the same resource group." in result.output
    assert _writes(app) == []
    from shared.ticks import reconcile as reconcile_all

    report = reconcile_all(app.ctx)
    assert sorted((name, action) for name, action, _ in report.actions) == [
        ("app-1", "placement-rule-refused"),
        ("web-1", "placement-rule-refused"),
    ]
    assert _writes(app) == []


def test_invalid_rules_are_refused_by_the_cli_and_nothing_is_stored(ppgdr: Ppgdr) -> None:
    result = CliRunner().invoke(
        rules, ["set", "bad rule", "--provider", "InMageRcm", "--target-ppg", "p", "--vm-size", "D4", "--network", "vnet"]
    )
    assert result.exit_code == 2
    assert "rule name 'bad rule'" in result.output and "--vm-size 'D4'" in result.output
    assert "--network 'vnet': not a virtual network id" in result.output
    wrong_provider = CliRunner().invoke(rules, ["set", "r", "--provider", "A2A", "--target-ppg", "p"])
    assert wrong_provider.exit_code == 2 and "A2A" in wrong_provider.output
    assert "no placement rules" in _cli("list").output


def test_hyperv_failback_from_a_ppg_is_refused_with_the_documented_reason(seeded: Ppgdr) -> None:
    app = seeded
    _seed_items(app)
    _set_rules()
    app.runner.fire_timer("reconcile")
    app.driver.settle(lambda: _in_line(app), label="placement rules")

    hyperv = item_from_sdk(_get(app, HYPERV))
    reason = refuse_hyperv_failback(hyperv)
    assert reason is not None
    assert "Failback from proximity placement groups in Azure to Hyper-V is not supported." in reason
    assert refuse_hyperv_failback(item_from_sdk(_get(app, VMWARE))) is None

    # ASR (here: the emulator) refuses the same failback for the same reason
    from azure.mgmt.recoveryservicessiterecovery import models as m

    vault = app.ctx.clients.vault()
    asr = app.ctx.clients.site_recovery(vault.subscription)
    body = m.PlannedFailoverInput(properties=m.PlannedFailoverInputProperties(failover_direction="RecoveryToPrimary"))
    with pytest.raises(HttpResponseError) as refused:
        asr.replication_protected_items.begin_planned_failover(*vault.args, *HYPERV, body, polling=False).result()
    assert refused.value.error is not None and refused.value.error.code == "FailbackToHyperVNotSupported"
    assert not [e for e in app.ctx.store.journal_open() if e.status in OPEN_STATUSES]
