"""End to end: tag -> Event Grid -> resource_events -> ASR replication into a PPG, through the functions.

Everything runs against Azurite and the ARM emulator with the real SDK clients; the runner delivers
the emulator's events to the registered Event Grid function and fires the registered timers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from localdev import estate as est
from shared.arm.keys import normalize_arm_id
from shared.arm.names import container_name, fabric_name, replicated_item_name
from shared.state import vm_status as st
from shared.state.store import OPEN_STATUSES
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = {"sap-app-1", "sap-app-2", "sap-db-1"}


def _item(app: Ppgdr, vm_name: str) -> Any:
    vm = E.vm(vm_name)
    vault = app.ctx.clients.vault()
    asr = app.ctx.clients.site_recovery(vault.subscription)
    return asr.replication_protected_items.get(
        *vault.args,
        fabric_name(est.SOURCE_REGION),
        container_name(est.SOURCE_REGION),
        replicated_item_name(vm.id, vm.name),
    )


def _protect_sap(app: Ppgdr) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")


def test_tagging_a_resource_group_protects_its_vms_into_a_target_ppg(seeded: Ppgdr) -> None:
    app = seeded
    _protect_sap(app)
    statuses = app.driver.statuses()
    assert {n for n, s in statuses.items() if s.state == "protected"} == SAP
    history = statuses["sap-db-1"].history
    assert any(h.startswith("enable:") for h in history) and "initial-replication -> protected" in history

    target_ppg = est.rid("sap-prod-asr", "Microsoft.Compute/proximityPlacementGroups", "sap-ppg-asr")
    for name in SAP:
        details = _item(app, name).properties.provider_specific_details
        assert normalize_arm_id(details.recovery_proximity_placement_group_id) == normalize_arm_id(target_ppg)
        assert details.recovery_azure_resource_group_id.lower().endswith("/resourcegroups/sap-prod-asr")
        # every managed disk (OS + data) is replicated
        vm = E.vm(name)
        assert len(details.protected_managed_disks) == 1 + len(vm.data_disks)
    avset = _item(app, "sap-app-1").properties.provider_specific_details.recovery_availability_set
    assert avset and avset.lower().endswith("/availabilitysets/sap-avset-asr")

    compute = app.ctx.clients.compute(est.SUBSCRIPTION)
    ppg = compute.proximity_placement_groups.get("sap-prod-asr", "sap-ppg-asr")
    assert ppg.location == est.TARGET_REGION
    assert set(ppg.properties.intent.vm_sizes) == {"Standard_E16s_v5", "Standard_M64s"}
    assert ppg.tags["managed-by"] == "ppg-dr"
    recovery_set = compute.availability_sets.get("sap-prod-asr", "sap-avset-asr")
    assert normalize_arm_id(recovery_set.properties.proximity_placement_group.id) == normalize_arm_id(target_ppg)


def test_zone_to_zone_replication_uses_the_recovery_zone(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(E.vm("trade-engine-1").id, {"ppgdr-protect": "true", "ppgdr-target-zone": "2"})
    app.driver.settle(lambda: app.driver.states().get("trade-engine-1") == "protected", label="zonal")
    details = _item(app, "trade-engine-1").properties.provider_specific_details
    assert details.recovery_availability_zone == "2"
    ppg = app.ctx.clients.compute(est.SUBSCRIPTION).proximity_placement_groups.get("trading-asr", "trade-ppg-asr")
    assert ppg.zones == ["2"]


def test_unmanaged_disks_are_refused_without_any_azure_write(seeded: Ppgdr) -> None:
    app = seeded
    app.emulator.clear_requests()
    app.driver.tag(E.vm("legacy-1").id, {"ppgdr-protect": "true"})
    app.runner.drain()
    status = app.driver.statuses()["legacy-1"]
    assert status.state == "refused"
    assert any("unmanaged disks" in p for p in status.problems)
    writes = [r for r in app.emulator.requests() if r["method"] != "GET" and "tags/default" not in r["path"]]
    assert writes == [], writes


def test_a_missing_recovery_resource_group_is_refused_until_infra_creates_it(seeded: Ppgdr) -> None:
    """ppg-dr never creates a resource group (infra does, with the roles): the VM is refused, naming what to deploy."""
    app = seeded
    resources = app.ctx.clients.resources(est.SUBSCRIPTION)
    resources.resource_groups.begin_delete("trading-asr", polling_interval=0).result()
    app.runner.drain()
    app.emulator.clear_requests()
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "refused", label="refused")
    status = app.driver.statuses()["trade-cache-1"]
    assert "trading-asr" in status.reason and "sourceResourceGroupIds" in status.reason, status.reason
    writes = [r for r in app.emulator.requests() if r["method"] != "GET" and "tags/default" not in r["path"]]
    assert not [w for w in writes if "/resourcegroups/trading-asr" in w["path"].lower()], writes
    assert not any("replicationProtectedItems" in w["path"] for w in writes), writes

    resources.resource_groups.create_or_update("trading-asr", {"location": est.TARGET_REGION})  # what infra/ does
    app.runner.drain()
    app.runner.fire_timer("reconcile")
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="protected")


def test_target_ppg_change_updates_the_protected_item(seeded: Ppgdr) -> None:
    app = seeded
    _protect_sap(app)
    app.driver.tag(E.vm("sap-db-1").id, {"ppgdr-target-ppg": "sap-ppg-b"})
    app.driver.settle(
        lambda: (
            app.driver.statuses()["sap-db-1"].target_ppg_id.endswith("/sap-ppg-b")
            and app.driver.states()["sap-db-1"] == "protected"
        ),
        label="update",
    )
    details = _item(app, "sap-db-1").properties.provider_specific_details
    assert details.recovery_proximity_placement_group_id.endswith("/sap-ppg-b")
    journal = app.ctx.store.journal_for("vm:" + normalize_arm_id(E.vm("sap-db-1").id))
    assert {e.operation for e in journal} == {"enable-protection", "update-target-ppg"}


def test_target_ppg_none_is_disable_then_reenable_and_both_steps_are_recorded(seeded: Ppgdr) -> None:
    app = seeded
    _protect_sap(app)
    app.driver.tag(E.vm("sap-db-1").id, {"ppgdr-target-ppg": "none"})
    app.driver.settle(
        lambda: app.driver.states().get("sap-db-1") == "protected" and not app.driver.statuses()["sap-db-1"].target_ppg_id,
        label="reenable",
    )
    details = _item(app, "sap-db-1").properties.provider_specific_details
    assert not details.recovery_proximity_placement_group_id
    journal = app.ctx.store.journal_for("vm:" + normalize_arm_id(E.vm("sap-db-1").id))
    operations = sorted(e.operation for e in journal)
    assert operations == ["disable-protection", "enable-protection", "enable-protection"]
    assert all(e.status == "succeeded" for e in journal)
    history = app.driver.statuses()["sap-db-1"].history
    assert any(h.startswith("reenable-without-ppg:") for h in history)
    assert "disable-protection succeeded" in history


def test_unprotect_disables_and_removes_targets_nothing_else_uses(seeded: Ppgdr) -> None:
    app = seeded
    for name in ("trade-engine-1", "trade-cache-1"):
        app.driver.tag(E.vm(name).id, {"ppgdr-protect": "true"})
    app.driver.settle(
        lambda: all(app.driver.states().get(n) == "protected" for n in ("trade-engine-1", "trade-cache-1")), label="protect"
    )
    compute = app.ctx.clients.compute(est.SUBSCRIPTION)
    app.driver.tag(E.vm("trade-engine-1").id, {"ppgdr-protect": "false"})
    app.driver.settle(lambda: app.driver.states()["trade-engine-1"] == "not-protected", label="disable one")
    assert compute.proximity_placement_groups.get("trading-asr", "trade-ppg-asr")  # still used by trade-cache-1
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "false"})
    app.driver.settle(lambda: app.driver.states()["trade-cache-1"] == "not-protected", label="disable two")
    names = [p.name for p in compute.proximity_placement_groups.list_by_resource_group("trading-asr")]
    assert "trade-ppg-asr" not in names
    # the source VMs are untouched
    assert compute.virtual_machines.get("trading", "trade-engine-1").properties.proximity_placement_group is not None


def test_deleting_a_protected_vm_disables_its_replication(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="protect")
    compute = app.ctx.clients.compute(est.SUBSCRIPTION)
    compute.virtual_machines.begin_delete("trading", "trade-cache-1", polling_interval=0).result()
    app.driver.settle(lambda: "trade-cache-1" not in app.driver.states(), label="delete")
    vault = app.ctx.clients.vault()
    items = list(app.ctx.clients.site_recovery(vault.subscription).replication_protected_items.list(*vault.args))
    assert items == []


def test_losing_the_protect_tag_is_drift_and_keeps_protection(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="protect")
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"}, operation="Delete")
    app.runner.drain()
    status = app.driver.statuses()["trade-cache-1"]
    assert status.state == "drift" and "protection is kept" in status.reason
    assert _item(app, "trade-cache-1").properties.protection_state == "Protected"


def test_invalid_tags_are_refused_with_reasons_and_nothing_is_done(seeded: Ppgdr) -> None:
    app = seeded
    app.emulator.clear_requests()
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true", "ppgdr-target-zone": "9", "ppgdr-group": "bad group!"})
    app.runner.drain()
    status = app.driver.statuses()["trade-cache-1"]
    assert status.state == "refused" and len(status.problems) == 2
    assert [r for r in app.emulator.requests() if r["method"] != "GET" and "tags/default" not in r["path"]] == []


def test_repeated_and_malformed_events_write_nothing(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.runner.drain()
    tag_event = app.emulator.events(eventType="Microsoft.Resources.ResourceWriteSuccess", subject="trade-cache-1")[-1]
    app.emulator.clear_requests()
    # A VM's event is a hint, not de-duplicated: the repeat looks at the VM again (reads) and sends nothing.
    assert not app.runner.deliver(tag_event).startswith(("duplicate", "error"))
    assert [r for r in app.emulator.requests() if r["method"] != "GET"] == []
    app.emulator.clear_requests()
    bad = dict(tag_event, id="evil-1", data={"resourceUri": tag_event["subject"] + "/../../../x", "operationName": "x"})
    assert app.runner.deliver(bad).startswith("rejected")
    not_json = dict(tag_event, id="evil-2", data="<xml/>")
    assert app.runner.deliver(not_json).startswith("rejected")
    other = dict(
        tag_event,
        id="storage-1",
        eventType="Microsoft.Resources.ResourceWriteSuccess",
        subject="/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z",
        data={"resourceUri": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z"},
    )
    assert app.runner.deliver(other).startswith("ignored")
    assert app.emulator.requests() == []


def test_an_event_whose_work_failed_is_handled_again_when_redelivered(seeded: Ppgdr) -> None:
    """Issue 13, finding 7: the event is marked seen when its work is done, so Event Grid's retry is not a "duplicate"."""
    app = seeded
    app.runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})  # this test delivers by hand
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    tag_event = app.emulator.events(eventType="Microsoft.Resources.ResourceWriteSuccess", subject="trade-cache-1")[-1]
    app.emulator.fault(method="GET", path="virtualMachines/trade-cache-1$", status=403, code="AuthorizationFailed", count=1)
    assert app.runner.deliver(tag_event).startswith("error")  # the host reports the failure; Event Grid retries
    assert "trade-cache-1" not in app.driver.states()
    assert not app.runner.deliver(tag_event).startswith(("duplicate", "error"))  # the redelivery does the work
    assert app.driver.states()["trade-cache-1"] in ("enabling", "waiting")
    app.emulator.clear_requests()
    app.runner.deliver(tag_event)  # now it is done: a repeat looks again and sends nothing
    assert [r for r in app.emulator.requests() if r["method"] != "GET"] == []


def test_full_reconcile_repairs_a_lost_event_and_then_writes_nothing(seeded: Ppgdr) -> None:
    app = seeded
    app.runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})  # events get lost
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    assert "trade-cache-1" not in app.driver.states()
    app.runner.fire_timer("reconcile")
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="repair")
    app.runner.fire_timer("reconcile")  # settle any observed-state change
    app.emulator.clear_requests()
    store_writes_before = _entity_count(app)
    app.runner.fire_timer("reconcile")
    requests = app.emulator.requests()
    assert [r for r in requests if r["method"] != "GET"] == []
    assert len(requests) < 30
    assert _entity_count(app) == store_writes_before


def _entity_count(app: Ppgdr) -> int:
    return len([r.etag for r in app.ctx.store.query("vms")])


def test_throttling_is_retried_honouring_retry_after(seeded: Ppgdr) -> None:
    app = seeded
    app.emulator.fault(path="replicationProtectedItems", method="PUT", status=429, retryAfter=1, count=1)
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="throttled")
    puts = [r for r in app.emulator.requests() if r["method"] == "PUT" and "replicationProtectedItems" in r["path"]]
    assert [r["status"] for r in puts][:2] == [429, 202]


def test_a_lost_intent_is_replanned_and_sends_the_same_put(seeded: Ppgdr) -> None:
    """Crash between journal intent and the Azure call: the pulse marks it lost, the retry is one item."""
    app = seeded
    vm = E.vm("trade-cache-1")
    scope = "vm:" + normalize_arm_id(vm.id)
    # What the crashed instance left: the VM's first status (its lease, expired since) and the journal intent.
    dead = app.ctx.store.now() - timedelta(seconds=1)
    leased = st.VmStatus(vm_id=vm.id, vm_name=vm.name, state=st.VmState.ENABLING)
    leased.in_flight = st.sending_lease("enable-protection", "ppgdr-dead", dead)
    assert st.claim_first_status(app.ctx.store, leased, note="enable: tagged") is not None
    app.ctx.store.journal_intent(scope, "enable-protection:crashed", "enable-protection", {"vm_id": vm.id})
    app.driver.tag(vm.id, {"ppgdr-protect": "true"})
    app.runner.drain()
    status = app.driver.statuses()["trade-cache-1"]
    assert status.reason == "waiting for enable-protection to finish", status  # the journal's intent is in flight
    assert not [r for r in app.emulator.requests(method="PUT") if "replicationProtectedItems" in r["path"]]
    real_clock = app.ctx.store._clock
    app.ctx.store._clock = lambda: real_clock() + __import__("datetime").timedelta(minutes=5)
    try:
        app.runner.fire_timer("pulse")
    finally:
        app.ctx.store._clock = real_clock
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="after crash")
    journal = app.ctx.store.journal_for(scope)
    assert [e.status for e in journal if e.key == "enable-protection:crashed"] == ["failed"]
    assert not [e for e in journal if e.status in OPEN_STATUSES]
    vault = app.ctx.clients.vault()
    items = list(app.ctx.clients.site_recovery(vault.subscription).replication_protected_items.list(*vault.args))
    assert len(items) == 1


def test_status_through_the_http_function(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(E.vm("legacy-1").id, {"ppgdr-protect": "true"})
    app.runner.drain()
    code, body = app.http("GET", "/api/status")
    assert code == 200 and [s["vm_name"] for s in body["value"]] == ["legacy-1"]
    code, one = app.http("GET", "/api/status", params={"vm": E.vm("legacy-1").id.upper()})
    assert code == 200 and one["state"] == "refused"
    code, _ = app.http("GET", "/api/status", params={"vm": "/nope"})
    assert code == 404
    code, _ = app.http("GET", "/api/status", key=None)
    assert code == 401
    code, _ = app.http("GET", "/api/status", key="wrong")
    assert code == 401


def test_replication_health_and_errors_are_stored_and_shown(seeded: Ppgdr) -> None:
    app = seeded
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="protect")
    vault = app.ctx.clients.vault()
    app.runner.admin(
        "POST",
        "/_emulator/asr/items/health",
        json={
            "subscriptionId": vault.subscription,
            "resourceGroup": vault.resource_group,
            "vault": vault.name,
            "itemId": _item(app, "trade-cache-1").id,
            "replicationHealth": "Critical",
            "healthErrors": [{"errorCode": "150039", "errorMessage": "Replication is not progressing (RPO breached)"}],
        },
    )
    app.runner.fire_timer("reconcile")
    status = app.driver.statuses()["trade-cache-1"]
    assert status.replication_health == "Critical"
    assert status.health_errors == ["Replication is not progressing (RPO breached)"]
    code, body = app.http("GET", "/api/status", params={"vm": E.vm("trade-cache-1").id})
    assert code == 200 and body["replication_health"] == "Critical"


def test_reconcile_per_resource_group_needs_no_subscription_wide_list(seeded: Ppgdr, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With PPGDR_RESOURCE_GROUPS (least privilege: roles on resource groups only), nothing lists a subscription."""
    app = seeded
    import dataclasses

    scoped = dataclasses.replace(app.ctx.settings, resource_groups=(f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/trading",))
    monkeypatch.setattr(app.ctx, "settings", scoped)
    app.runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})  # the event is lost
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})  # outside the configured scope: not touched
    app.emulator.clear_requests()
    app.runner.fire_timer("reconcile")
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="repair")
    assert "sap-db-1" not in app.driver.states()
    paths = [r["path"].lower() for r in app.emulator.requests() if r["method"] == "GET"]
    assert not any(p.endswith("/providers/microsoft.compute/virtualmachines") and "/resourcegroups/" not in p for p in paths)
    assert not any(p.endswith("/resourcegroups") for p in paths)
