"""Shared helpers for emulator tests: a resource group and a VM body as the SDK would send them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.emulator import EmulatorHandle

LOCATION = "westeurope"


def vm_body(
    *,
    size: str = "Standard_D2s_v5",
    location: str = LOCATION,
    ppg_id: str | None = None,
    avset_id: str | None = None,
    zones: list[str] | None = None,
    tags: dict[str, str] | None = None,
    unmanaged: bool = False,
) -> dict[str, Any]:
    """An ARM VM body (the dict form the SDK accepts), with a managed OS disk unless ``unmanaged``."""
    os_disk: dict[str, Any] = {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Premium_LRS"}}
    if unmanaged:
        os_disk = {"createOption": "FromImage", "name": "osdisk", "vhd": {"uri": "https://sa.blob.core.windows.net/vhds/os.vhd"}}
    body: dict[str, Any] = {
        "location": location,
        "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
                "osDisk": os_disk,
                "dataDisks": [
                    {"lun": 0, "createOption": "Empty", "diskSizeGB": 64, "managedDisk": {"storageAccountType": "Premium_LRS"}}
                ],
            },
            "osProfile": {"computerName": "host", "adminUsername": "azureuser", "adminPassword": "not-returned-1!"},
            "networkProfile": {
                "networkInterfaces": [
                    {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic"}
                ]
            },
        },
    }
    if ppg_id:
        body["properties"]["proximityPlacementGroup"] = {"id": ppg_id}
    if avset_id:
        body["properties"]["availabilitySet"] = {"id": avset_id}
    if zones:
        body["zones"] = zones
    if tags:
        body["tags"] = tags
    return body


@pytest.fixture
def group(fresh_emulator: EmulatorHandle) -> str:
    """An empty resource group ``rg-app`` in a freshly reset emulator."""
    fresh_emulator.resource_client().resource_groups.create_or_update("rg-app", {"location": LOCATION})
    return "rg-app"
