"""The unmodified azure-mgmt-compute client drives every emulated Compute operation, LROs included."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.emulator.conftest import LOCATION, vm_body
from tests.fixtures.emulator import EmulatorHandle


def _ppg(emulator: EmulatorHandle, group: str, name: str = "ppg-app", **props: object) -> str:
    client = emulator.compute_client()
    body = {"location": LOCATION, "zones": ["1"], "properties": {"proximityPlacementGroupType": "Standard", **props}}
    return str(client.proximity_placement_groups.create_or_update(group, name, body).id)


def test_vm_lifecycle_create_get_update_power_delete(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()

    vm = client.virtual_machines.begin_create_or_update(group, "vm-db", vm_body(tags={"tier": "db"})).result()
    assert vm.provisioning_state == "Succeeded"
    assert vm.tags == {"tier": "db"}
    assert vm.storage_profile.os_disk.managed_disk.id.endswith("/disks/" + vm.storage_profile.os_disk.name)
    assert vm.os_profile.admin_password is None  # write-only, never returned

    view = client.virtual_machines.instance_view(group, "vm-db")
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]

    client.virtual_machines.begin_power_off(group, "vm-db").result()
    assert client.virtual_machines.instance_view(group, "vm-db").statuses[1].code == "PowerState/stopped"
    client.virtual_machines.begin_deallocate(group, "vm-db").result()
    expanded = client.virtual_machines.get(group, "vm-db", expand="instanceView")
    assert expanded.instance_view.statuses[1].code == "PowerState/deallocated"
    client.virtual_machines.begin_start(group, "vm-db").result()
    assert client.virtual_machines.instance_view(group, "vm-db").statuses[1].display_status == "VM running"

    updated = client.virtual_machines.begin_update(group, "vm-db", {"tags": {"tier": "db", "dr": "enabled"}}).result()
    assert updated.tags == {"tier": "db", "dr": "enabled"}
    assert updated.hardware_profile.vm_size == "Standard_D2s_v5"  # PATCH merges, it does not replace

    assert [v.name for v in client.virtual_machines.list(group)] == ["vm-db"]
    client.virtual_machines.begin_delete(group, "vm-db").result()
    with pytest.raises(ResourceNotFoundError) as missing:
        client.virtual_machines.get(group, "vm-db")
    assert missing.value.error.code == "ResourceNotFound"
    disks = list(client.disks.list_by_resource_group(group))
    assert disks and all(d.managed_by is None and d.disk_state == "Unattached" for d in disks)  # detached, kept


def test_vm_create_follows_the_async_operation_until_done(fresh_emulator: EmulatorHandle, group: str) -> None:
    fresh_emulator.admin("POST", "compute/durations", json={"vm.create": 120})
    client = fresh_emulator.compute_client()

    poller = client.virtual_machines.begin_create_or_update(group, "vm-slow", vm_body(), polling=False)
    initial = poller.result()
    assert initial.provisioning_state == "Creating"
    with fresh_emulator.http() as http:
        vm = http.get(initial.id, params={"api-version": "2024-11-01"}).json()
        assert vm["properties"]["provisioningState"] == "Creating"
    fresh_emulator.advance(121)
    assert client.virtual_machines.get(group, "vm-slow").provisioning_state == "Succeeded"

    logged = fresh_emulator.requests(path="virtualMachines/vm-slow$", method="PUT")
    assert [e["status"] for e in logged] == [201]


def test_full_lro_polling_with_a_running_clock(fresh_emulator: EmulatorHandle, group: str) -> None:
    fresh_emulator.admin("POST", "compute/durations", json={"vm.create": 30, "vm.deallocate": 30})
    fresh_emulator.set_speed(300)  # 30 virtual seconds = 0.1 s
    client = fresh_emulator.compute_client()
    fresh_emulator.clear_requests()

    vm = client.virtual_machines.begin_create_or_update(group, "vm-poll", vm_body()).result()
    client.virtual_machines.begin_deallocate(group, "vm-poll").result()

    assert vm.provisioning_state == "Succeeded"
    polls = fresh_emulator.requests(path="/locations/westeurope/operations/")
    assert len(polls) >= 2  # the SDK really polled Azure-AsyncOperation until the operation finished
    assert client.virtual_machines.instance_view(group, "vm-poll").statuses[1].code == "PowerState/deallocated"


def test_vm_with_unmanaged_disk_keeps_its_vhd(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    vm = client.virtual_machines.begin_create_or_update(group, "vm-old", vm_body(unmanaged=True)).result()
    assert vm.storage_profile.os_disk.vhd.uri.endswith("os.vhd")
    assert vm.storage_profile.os_disk.managed_disk is None
    assert [d.name for d in client.disks.list_by_resource_group(group)] == ["vm-old_DataDisk_0"]


def test_ppg_crud_back_references_and_colocation(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    ppg_id = _ppg(fresh_emulator, group, intent={"vmSizes": ["Standard_E4s_v5", "Standard_D2s_v5"]})
    avset = client.availability_sets.create_or_update(
        group,
        "as-db",
        {
            "location": LOCATION,
            "sku": {"name": "Aligned"},
            "properties": {"platformFaultDomainCount": 2, "proximityPlacementGroup": {"id": ppg_id}},
        },
    )
    client.virtual_machines.begin_create_or_update(group, "vm-a", vm_body(ppg_id=ppg_id, zones=["1"])).result()
    vm_b = client.virtual_machines.begin_create_or_update(group, "vm-b", vm_body(avset_id=avset.id)).result()
    assert vm_b.proximity_placement_group.id == ppg_id  # inherited from the availability set

    ppg = client.proximity_placement_groups.get(group, "ppg-app", include_colocation_status="true")
    assert ppg.proximity_placement_group_type == "Standard"
    assert ppg.intent.vm_sizes == ["Standard_E4s_v5", "Standard_D2s_v5"]
    assert ppg.zones == ["1"]
    assert sorted(v.id.rsplit("/", 1)[1] for v in ppg.virtual_machines) == ["vm-a", "vm-b"]
    assert [a.id for a in ppg.availability_sets] == [avset.id]
    assert ppg.colocation_status.code == "ColocationStatus/NotAligned"  # vm-a zonal, vm-b regional
    assert client.proximity_placement_groups.get(group, "ppg-app").colocation_status is None
    assert [v.id for v in client.availability_sets.get(group, "as-db").virtual_machines] == [vm_b.id]

    patched = client.proximity_placement_groups.update(group, "ppg-app", {"tags": {"group": "sap"}})
    assert patched.tags == {"group": "sap"}
    assert [p.name for p in client.proximity_placement_groups.list_by_resource_group(group)] == ["ppg-app"]
    assert [p.name for p in client.proximity_placement_groups.list_by_subscription()] == ["ppg-app"]

    with pytest.raises(HttpResponseError) as in_use:
        client.proximity_placement_groups.delete(group, "ppg-app")
    assert in_use.value.status_code == 409
    client.virtual_machines.begin_delete(group, "vm-a").result()
    client.virtual_machines.begin_delete(group, "vm-b").result()
    client.availability_sets.delete(group, "as-db")
    client.proximity_placement_groups.delete(group, "ppg-app")
    assert list(client.proximity_placement_groups.list_by_subscription()) == []


def test_placement_rules_azure_enforces(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    ppg_id = _ppg(fresh_emulator, group)
    other_ppg = _ppg(fresh_emulator, group, "ppg-other")
    client.proximity_placement_groups.create_or_update(group, "ppg-dr", {"location": "northeurope"})
    far_ppg = client.proximity_placement_groups.get(group, "ppg-dr").id
    avset = client.availability_sets.create_or_update(
        group, "as-db", {"location": LOCATION, "properties": {"proximityPlacementGroup": {"id": ppg_id}}}
    )

    cases = [
        (vm_body(ppg_id=far_ppg), 400, "InvalidParameter"),  # PPG in another region
        (vm_body(avset_id=avset.id, ppg_id=other_ppg), 400, "InvalidParameter"),  # set pinned to another PPG
        (vm_body(ppg_id=ppg_id.replace("ppg-app", "ppg-missing")), 404, "NotFound"),
        (vm_body(ppg_id=ppg_id, zones=["2"]), 400, "InvalidParameter"),  # PPG is zone 1
        ({"location": LOCATION, "properties": {"storageProfile": {}}}, 400, "InvalidParameter"),
    ]
    for body, status, code in cases:
        with pytest.raises(HttpResponseError) as refused:
            client.virtual_machines.begin_create_or_update(group, "vm-x", body)
        assert (refused.value.status_code, refused.value.error.code) == (status, code)

    client.virtual_machines.begin_create_or_update(group, "vm-x", vm_body(ppg_id=ppg_id)).result()
    with pytest.raises(HttpResponseError) as running:
        client.virtual_machines.begin_update(group, "vm-x", {"properties": {"proximityPlacementGroup": {"id": other_ppg}}})
    assert running.value.error.code == "OperationNotAllowed"
    client.virtual_machines.begin_deallocate(group, "vm-x").result()
    moved = client.virtual_machines.begin_update(
        group, "vm-x", {"properties": {"proximityPlacementGroup": {"id": other_ppg}}}
    ).result()
    assert moved.proximity_placement_group.id == other_ppg


def test_capacity_refusal_fails_the_create_operation(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    ppg_id = _ppg(fresh_emulator, group)
    fresh_emulator.capacity(ppg_id, ["Standard_M128s"])

    with pytest.raises(HttpResponseError) as refused:
        client.virtual_machines.begin_create_or_update(group, "vm-big", vm_body(size="Standard_M128s", ppg_id=ppg_id)).result()
    assert "OverconstrainedAllocationRequest" in str(refused.value)
    failed = client.virtual_machines.get(group, "vm-big", expand="instanceView")
    assert failed.provisioning_state == "Failed"
    assert failed.instance_view.statuses[0].code == "ProvisioningState/failed/OverconstrainedAllocationRequest"

    small = client.virtual_machines.begin_create_or_update(group, "vm-small", vm_body(ppg_id=ppg_id)).result()
    assert small.proximity_placement_group.id == ppg_id

    client.virtual_machines.begin_deallocate(group, "vm-small").result()
    fresh_emulator.capacity("*", ["Standard_D2s_v5"])
    with pytest.raises(HttpResponseError) as restart:
        client.virtual_machines.begin_start(group, "vm-small").result()
    assert "OverconstrainedAllocationRequest" in str(restart.value)
    fresh_emulator.capacity("*", [])
    client.virtual_machines.begin_start(group, "vm-small").result()
    assert client.virtual_machines.instance_view(group, "vm-small").statuses[1].code == "PowerState/running"


def test_disks_and_capacity_reservation_groups(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    disk = client.disks.begin_create_or_update(
        group,
        "data-1",
        {
            "location": LOCATION,
            "sku": {"name": "Premium_LRS"},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 128},
        },
    ).result()
    assert (disk.disk_size_gb, disk.disk_state, disk.sku.name) == (128, "Unattached", "Premium_LRS")

    body = vm_body()
    body["properties"]["storageProfile"]["dataDisks"] = [{"lun": 1, "createOption": "Attach", "managedDisk": {"id": disk.id}}]
    vm = client.virtual_machines.begin_create_or_update(group, "vm-disk", body).result()
    assert vm.storage_profile.data_disks[0].managed_disk.id == disk.id
    attached = client.disks.get(group, "data-1")
    assert (attached.managed_by, attached.disk_state) == (vm.id, "Attached")
    with pytest.raises(HttpResponseError) as busy:
        client.disks.begin_delete(group, "data-1").result()
    assert busy.value.status_code == 409

    assert {d.name for d in client.disks.list()} >= {"data-1", vm.storage_profile.os_disk.name}
    client.virtual_machines.begin_delete(group, "vm-disk").result()
    client.disks.begin_delete(group, "data-1").result()
    with pytest.raises(ResourceNotFoundError):
        client.disks.get(group, "data-1")

    crg = client.capacity_reservation_groups.create_or_update(group, "crg-1", {"location": LOCATION, "zones": ["1"]})
    assert crg.zones == ["1"]
    assert client.capacity_reservation_groups.get(group, "crg-1").id == crg.id
    assert [c.name for c in client.capacity_reservation_groups.list_by_resource_group(group)] == ["crg-1"]
    assert [c.name for c in client.capacity_reservation_groups.list_by_subscription()] == ["crg-1"]
    client.capacity_reservation_groups.begin_delete(group, "crg-1").result()
    assert list(client.capacity_reservation_groups.list_by_subscription()) == []


def test_availability_sets_list_update_delete(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    client.availability_sets.create_or_update(
        group, "as-1", {"location": LOCATION, "properties": {"platformFaultDomainCount": 2}}
    )
    updated = client.availability_sets.update(group, "as-1", {"tags": {"k": "v"}})
    assert updated.tags == {"k": "v"}
    assert [a.name for a in client.availability_sets.list(group)] == ["as-1"]
    assert [a.name for a in client.availability_sets.list_by_subscription()] == ["as-1"]
    client.availability_sets.delete(group, "as-1")
    assert list(client.availability_sets.list(group)) == []


def test_resource_group_must_exist_and_ids_are_case_insensitive(fresh_emulator: EmulatorHandle, group: str) -> None:
    client = fresh_emulator.compute_client()
    with pytest.raises(ResourceNotFoundError) as no_group:
        client.virtual_machines.begin_create_or_update("rg-nope", "vm-1", vm_body())
    assert no_group.value.error.code == "ResourceGroupNotFound"

    ppg_id = _ppg(fresh_emulator, group)
    shouty = ppg_id.upper().replace("/SUBSCRIPTIONS/", "/Subscriptions/")
    vm = client.virtual_machines.begin_create_or_update(group.upper(), "VM-Case", vm_body(ppg_id=shouty)).result()
    assert vm.proximity_placement_group.id == ppg_id  # stored as the PPG's own id
    assert client.virtual_machines.get(group, "vm-case").id == vm.id
