"""Bulk seeding of protected items for given VMs (``POST /_emulator/asr/items/bulk`` with ``items``).

Benchmarks seed a vault in which every VM is already protected into the recovery PPG a client would
ask for, so a steady-state reconcile has nothing to do. The plain ``count`` form must keep working.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.emulator import EmulatorHandle

VAULT_RG = "dr-ops"
VAULT = "bench-vault"


def _vm(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def _bulk(emulator: EmulatorHandle, **body: Any) -> Any:
    return emulator.admin(
        "POST",
        "asr/items/bulk",
        json={"subscriptionId": emulator.subscription_id, "resourceGroup": VAULT_RG, "vault": VAULT, **body},
    )


def test_items_protect_the_given_vms_into_the_given_recovery_ppgs(fresh_emulator: EmulatorHandle) -> None:
    sub = fresh_emulator.subscription_id
    ppg = f"/subscriptions/{sub}/resourceGroups/app-asr/providers/Microsoft.Compute/proximityPlacementGroups/app-ppg-asr"
    items = [
        {"sourceVmId": _vm(sub, "app", "web-1"), "name": "web-1-item", "recoveryProximityPlacementGroupId": ppg},
        {
            "sourceVmId": _vm(sub, "app", "db-1"),
            "recoveryResourceGroupId": f"/subscriptions/{sub}/resourceGroups/elsewhere",
        },
    ]
    seeded = _bulk(
        fresh_emulator,
        items=items,
        count=999,  # ignored when items are given
        fabric="ppgdr-westeurope",
        container="ppgdr-westeurope-container",
        recoveryFabric="ppgdr-northeurope",
        recoveryContainer="ppgdr-northeurope-container",
        prefix="seeded",
    )
    assert seeded == {"added": 2, "total": 2}

    client = fresh_emulator.site_recovery_client()
    listed = {i.name: i for i in client.replication_protected_items.list(VAULT_RG, VAULT)}
    assert set(listed) == {"web-1-item", "seeded-000001"}

    web = client.replication_protected_items.get(VAULT_RG, VAULT, "ppgdr-westeurope", "ppgdr-westeurope-container", "web-1-item")
    details = web.properties.provider_specific_details
    assert web.properties.protection_state == "Protected"
    assert web.properties.friendly_name == "web-1"
    assert details.instance_type == "A2A"
    assert details.fabric_object_id.lower() == _vm(sub, "app", "web-1").lower()
    assert details.recovery_proximity_placement_group_id == ppg
    assert details.recovery_azure_resource_group_id.lower().endswith("/resourcegroups/app-asr")
    os_disk = details.protected_managed_disks[0].disk_id.lower()
    assert os_disk.endswith("/resourcegroups/app/providers/microsoft.compute/disks/web-1_osdisk")

    db = listed["seeded-000001"].properties.provider_specific_details
    assert db.fabric_object_id.lower() == _vm(sub, "app", "db-1").lower()
    assert not db.recovery_proximity_placement_group_id
    assert db.recovery_azure_resource_group_id.lower().endswith("/resourcegroups/elsewhere")


def test_count_form_is_unchanged(fresh_emulator: EmulatorHandle) -> None:
    assert _bulk(fresh_emulator, count=3) == {"added": 3, "total": 3}
    client = fresh_emulator.site_recovery_client()
    items = sorted(client.replication_protected_items.list(VAULT_RG, VAULT), key=lambda i: i.name)
    assert [i.name for i in items] == ["bulk-000000", "bulk-000001", "bulk-000002"]
    details = items[0].properties.provider_specific_details
    assert details.fabric_object_id == (  # Azure lower-cases the VM id in items (A2AReprotectTest entry 12)
        f"/subscriptions/{fresh_emulator.subscription_id}/resourcegroups/bulk-rg/providers/microsoft.compute/virtualmachines/bulk-000000"
    )
    assert not details.recovery_proximity_placement_group_id
    assert details.recovery_azure_resource_group_id.endswith("/resourceGroups/bulk-rg-asr")
    assert items[0].properties.friendly_name == "bulk-000000"


@pytest.mark.parametrize(
    "items",
    [
        "not-a-list",
        [{"name": "no-vm"}],
        [{"sourceVmId": ""}],
        [{"sourceVmId": "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/v", "name": 7}],
    ],
)
def test_invalid_items_are_refused(fresh_emulator: EmulatorHandle, items: Any) -> None:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        _bulk(fresh_emulator, items=items)
    assert refused.value.response.status_code == 400
    assert refused.value.response.json()["error"]["code"] == "InvalidParameter"
