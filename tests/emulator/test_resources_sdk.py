"""Resource groups and the tags API through the unmodified ResourceManagementClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.emulator.conftest import LOCATION, vm_body
from tests.fixtures.emulator import EmulatorHandle


def test_resource_group_crud_and_existence(fresh_emulator: EmulatorHandle) -> None:
    client = fresh_emulator.resource_client()
    created = client.resource_groups.create_or_update("rg-dr", {"location": "West Europe", "tags": {"owner": "ops"}})
    assert (created.name, created.location, created.tags) == ("rg-dr", "westeurope", {"owner": "ops"})
    assert created.properties.provisioning_state == "Succeeded"
    assert client.resource_groups.check_existence("RG-DR") is True
    assert client.resource_groups.check_existence("rg-missing") is False
    assert client.resource_groups.get("rg-dr").tags == {"owner": "ops"}
    assert client.resource_groups.update("rg-dr", {"tags": {"owner": "dr"}}).tags == {"owner": "dr"}
    assert [g.name for g in client.resource_groups.list()] == ["rg-dr"]

    with pytest.raises(HttpResponseError) as moved:
        client.resource_groups.create_or_update("rg-dr", {"location": "northeurope"})
    assert moved.value.error.code == "InvalidResourceGroupLocation"
    with pytest.raises(ResourceNotFoundError) as missing:
        client.resource_groups.get("rg-missing")
    assert missing.value.error.code == "ResourceGroupNotFound"


def test_deleting_a_group_deletes_its_resources(fresh_emulator: EmulatorHandle) -> None:
    resources = fresh_emulator.resource_client()
    compute = fresh_emulator.compute_client()
    resources.resource_groups.create_or_update("rg-gone", {"location": LOCATION})
    compute.virtual_machines.begin_create_or_update("rg-gone", "vm-1", vm_body()).result()

    resources.resource_groups.begin_delete("rg-gone").result()

    assert resources.resource_groups.check_existence("rg-gone") is False
    assert list(compute.virtual_machines.list_all()) == []
    assert list(compute.disks.list()) == []


def test_tags_at_scope_on_a_vm_merge_replace_delete(fresh_emulator: EmulatorHandle, group: str) -> None:
    resources = fresh_emulator.resource_client()
    compute = fresh_emulator.compute_client()
    vm = compute.virtual_machines.begin_create_or_update(group, "vm-app", vm_body(tags={"tier": "app"})).result()

    assert resources.tags.get_at_scope(vm.id).properties.tags == {"tier": "app"}
    merged = resources.tags.begin_update_at_scope(
        vm.id, {"operation": "Merge", "properties": {"tags": {"ppgdr-enabled": "true"}}}
    ).result()
    assert merged.properties.tags == {"tier": "app", "ppgdr-enabled": "true"}
    assert merged.id == vm.id + "/providers/Microsoft.Resources/tags/default"
    assert compute.virtual_machines.get(group, "vm-app").tags == {"tier": "app", "ppgdr-enabled": "true"}

    resources.tags.begin_update_at_scope(vm.id, {"operation": "Delete", "properties": {"tags": {"tier": "app"}}}).result()
    assert compute.virtual_machines.get(group, "vm-app").tags == {"ppgdr-enabled": "true"}
    resources.tags.begin_update_at_scope(vm.id, {"operation": "Replace", "properties": {"tags": {"a": "1"}}}).result()
    assert compute.virtual_machines.get(group, "vm-app").tags == {"a": "1"}
    resources.tags.begin_create_or_update_at_scope(vm.id, {"properties": {"tags": {"b": "2"}}}).result()
    assert compute.virtual_machines.get(group, "vm-app").tags == {"b": "2"}
    resources.tags.begin_delete_at_scope(vm.id).result()
    assert compute.virtual_machines.get(group, "vm-app").tags == {}


def test_tags_at_group_scope_and_missing_scope(fresh_emulator: EmulatorHandle, group: str) -> None:
    resources = fresh_emulator.resource_client()
    scope = f"/subscriptions/{fresh_emulator.subscription_id}/resourceGroups/{group}"
    resources.tags.begin_create_or_update_at_scope(scope, {"properties": {"tags": {"env": "prod"}}}).result()
    assert resources.resource_groups.get(group).tags == {"env": "prod"}

    with pytest.raises(ResourceNotFoundError):
        resources.tags.get_at_scope(scope + "/providers/Microsoft.Compute/virtualMachines/vm-none")
    with pytest.raises(HttpResponseError) as bad:
        resources.tags.begin_update_at_scope(scope, {"operation": "Explode", "properties": {"tags": {}}}).result()
    assert bad.value.status_code == 400


def test_tag_writes_emit_resource_write_success(fresh_emulator: EmulatorHandle, group: str) -> None:
    compute = fresh_emulator.compute_client()
    vm = compute.virtual_machines.begin_create_or_update(group, "vm-ev", vm_body()).result()
    fresh_emulator.clear_events()

    fresh_emulator.resource_client().tags.begin_update_at_scope(
        vm.id, {"operation": "Merge", "properties": {"tags": {"ppgdr-group": "sap"}}}
    ).result()

    [event] = fresh_emulator.events()
    assert event["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert event["subject"] == vm.id
    assert event["data"]["operationName"] == "Microsoft.Resources/tags/write"
    assert event["data"]["resourceUri"] == vm.id
    assert event["data"]["httpRequest"]["method"] == "PATCH"
    assert event["data"]["httpRequest"]["url"].endswith("/providers/Microsoft.Resources/tags/default?api-version=2025-04-01")
    assert event["topic"] == f"/subscriptions/{fresh_emulator.subscription_id}"
