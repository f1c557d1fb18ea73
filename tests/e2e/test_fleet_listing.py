"""Raw fleet listings: the same observations as the typed SDK listings, from the same requests.

The reconcile lists every VM and every protected item as raw JSON through the SDK's pipeline
(``shared.platform.fleet``) and maps it straight into ppg-dr's records. Here both ways read the same estate from
the emulator (A2A items ppg-dr enabled, with PPGs, availability sets, synced tags and a health error; VMware and
Hyper-V items; bulk-seeded items; several pages) and must agree on every field.
"""

from __future__ import annotations

from localdev import estate as est
from shared.platform import fleet
from shared.platform.observed import DETAIL_FIELDS, item_from_json, item_from_sdk, vm_from_json, vm_from_sdk
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"


def _estate(app: Ppgdr) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true", "ppgdr-group": "sap"})
    app.driver.tag(E.vm("trade-engine-1").id, {"ppgdr-protect": "true", "ppgdr-target-zone": "2"})
    app.driver.settle(
        lambda: all(app.driver.states().get(n) == "protected" for n in ("sap-app-1", "sap-app-2", "sap-db-1", "trade-engine-1")),
        label="protect",
    )
    base = {
        "subscriptionId": est.SUBSCRIPTION,
        "resourceGroup": est.VAULT_RG,
        "vault": est.VAULT_NAME,
        "location": est.TARGET_REGION,
    }
    target_rg = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/onprem-asr"
    for provider, name in (("InMageRcm", "vmw-web-1"), ("HyperVReplicaAzure", "hv-app-1")):
        app.emulator.admin(
            "POST",
            "asr/items",
            json={
                **base,
                "provider": provider,
                "name": name,
                "vmName": name,
                "targetLocation": est.TARGET_REGION,
                "targetResourceGroupId": target_rg,
                "targetVmSize": "Standard_D2s_v3",
            },
        )
    vault = app.ctx.clients.vault()
    asr = app.ctx.clients.site_recovery(vault.subscription)
    sap_item = next(i for i in asr.replication_protected_items.list(*vault.args) if i.properties.friendly_name == "sap-db-1")
    app.emulator.admin(
        "POST",
        "asr/items/health",
        json={
            "subscriptionId": est.SUBSCRIPTION,
            "resourceGroup": est.VAULT_RG,
            "vault": est.VAULT_NAME,
            "itemId": sap_item.id,
            "replicationHealth": "Critical",
            "healthErrors": [{"errorCode": "150039", "errorMessage": "Replication is not progressing (RPO breached)"}],
        },
    )
    app.emulator.admin(
        "POST",
        "asr/items/bulk",
        json={
            **base,
            "fabric": "asr-bulk-src",
            "container": "asr-bulk-src-container",
            "recoveryFabric": "asr-bulk-dst",
            "recoveryContainer": "asr-bulk-dst-container",
            "count": 7,
        },
    )
    app.emulator.admin("POST", "asr/settings", json={"pageSize": 4})  # several pages, followed through nextLink


def test_raw_and_typed_listings_give_identical_observations(seeded: Ppgdr) -> None:
    app = seeded
    _estate(app)
    vault = app.ctx.clients.vault()
    asr = app.ctx.clients.site_recovery(vault.subscription)
    compute = app.ctx.clients.compute(est.SUBSCRIPTION)

    app.emulator.clear_requests()
    typed_items = [item_from_sdk(i) for i in asr.replication_protected_items.list(*vault.args)]
    typed_vms = [vm_from_sdk(v) for v in compute.virtual_machines.list_all()]
    typed_rg_vms = [vm_from_sdk(v) for v in compute.virtual_machines.list("sap-prod")]
    typed_requests = [(r["method"], r["path"], r["query"]) for r in app.emulator.requests()]

    app.emulator.clear_requests()
    raw_items = [item_from_json(b) for b in fleet.item_bodies(app.ctx.clients)]
    raw_vms = [vm_from_json(b) for b in fleet.vm_bodies(app.ctx.clients, est.SUBSCRIPTION)]
    raw_rg_vms = [vm_from_json(b) for b in fleet.vm_bodies(app.ctx.clients, est.SUBSCRIPTION, "sap-prod")]
    raw_requests = [(r["method"], r["path"], r["query"]) for r in app.emulator.requests()]

    assert raw_items == typed_items
    assert raw_vms == typed_vms
    assert raw_rg_vms == typed_rg_vms
    assert raw_requests == typed_requests  # the same GETs, api-versions and pages
    providers = {i.provider for i in raw_items}
    assert {"A2A", "InMageRcm", "HyperVReplicaAzure"} <= providers and len(raw_items) > 4  # more than one page
    sap_db = next(i for i in raw_items if i.friendly_name == "sap-db-1")
    assert sap_db.health_errors and sap_db.recovery_ppg_id
    assert any(i.synced_tags for i in raw_items)  # trade-engine-1 was tagged itself
    assert any(i.recovery_zone == "2" for i in raw_items) and any(i.recovery_availability_set_id for i in raw_items)
    assert any(v.availability_set_id for v in raw_vms) and any(v.ppg_id for v in raw_vms)


def test_the_raw_item_mapping_reads_what_each_providers_model_defines() -> None:
    """DETAIL_FIELDS mirrors the SDK's provider models: an SDK upgrade that renames a field fails here."""
    from azure.mgmt.recoveryservicessiterecovery import models as m

    by_type = {cls().instance_type: cls for cls in m.ReplicationProviderSpecificSettings.__subclasses__()}
    wanted = set().union(*(set(fields) for fields in DETAIL_FIELDS.values()))
    for provider, cls in by_type.items():
        rest = {name: field._rest_name for name, field in cls()._attr_to_rest_field.items() if name in wanted}
        assert DETAIL_FIELDS.get(provider, {}) == rest, provider


def test_recovery_plans_listed_raw_have_the_boot_groups_of_the_typed_plans(seeded: Ppgdr) -> None:
    from shared.failover.recovery_plans import _current_boot_groups

    app = seeded
    _estate(app)
    app.runner.fire_timer("reconcile")  # the groups' recovery plans
    vault = app.ctx.clients.vault()
    typed = {
        (p.name or "").lower(): _current_boot_groups(p)
        for p in app.ctx.clients.site_recovery(vault.subscription).replication_recovery_plans.list(*vault.args)
    }
    raw = {name.lower(): boot for name, boot in fleet.recovery_plan_boot_groups(app.ctx.clients)}
    assert raw == typed and typed and any(len(boot) > 1 for boot in typed.values())
