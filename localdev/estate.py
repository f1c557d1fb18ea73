"""A realistic estate for the demo and end-to-end tests, created through the real Azure SDK clients.

Two regions (westeurope -> northeurope): an SAP-like tier in a PPG with an availability set and mixed
sizes with data disks, a zonal trading tier in a second PPG, a legacy VM with unmanaged disks, the
networks, the cache storage account and the Recovery Services vault. Everything a platform team would
already have before adopting ppg-dr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SUBSCRIPTION = "6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10"
SOURCE_REGION = "westeurope"
TARGET_REGION = "northeurope"
VAULT_RG = "dr-ops"
VAULT_NAME = "ppgdr-vault"
NETWORK_RG = "network"


def rid(resource_group: str, provider_type: str, name: str, subscription: str = SUBSCRIPTION) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{provider_type}/{name}"


VAULT_ID = rid(VAULT_RG, "Microsoft.RecoveryServices/vaults", VAULT_NAME)
CACHE_ACCOUNT_ID = rid(VAULT_RG, "Microsoft.Storage/storageAccounts", "ppgdrcachewe")
# The DR region's cache account: reprotect (replicating back after a failover) stages there.
DR_CACHE_ACCOUNT_ID = rid(VAULT_RG, "Microsoft.Storage/storageAccounts", "ppgdrcachene")
SOURCE_VNET_ID = rid(NETWORK_RG, "Microsoft.Network/virtualNetworks", "prod-we-vnet")
TARGET_VNET_ID = rid(NETWORK_RG, "Microsoft.Network/virtualNetworks", "prod-ne-vnet")
TEST_VNET_ID = rid(NETWORK_RG, "Microsoft.Network/virtualNetworks", "drill-ne-vnet")


@dataclass(frozen=True)
class VmSpec:
    name: str
    resource_group: str
    size: str
    data_disks: tuple[str, ...] = ()  # SKUs
    os_disk_sku: str = "Premium_LRS"
    ppg: str | None = None
    availability_set: str | None = None
    zone: str | None = None
    unmanaged: bool = False

    @property
    def id(self) -> str:
        return rid(self.resource_group, "Microsoft.Compute/virtualMachines", self.name)


@dataclass(frozen=True)
class Estate:
    vms: tuple[VmSpec, ...]
    ppgs: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # name -> (resource group, zone)
    availability_sets: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (resource group, ppg)

    def vm(self, name: str) -> VmSpec:
        return next(v for v in self.vms if v.name == name)


DEMO_ESTATE = Estate(
    vms=(
        VmSpec("sap-app-1", "sap-prod", "Standard_E16s_v5", ("Premium_LRS",), ppg="sap-ppg", availability_set="sap-avset"),
        VmSpec("sap-app-2", "sap-prod", "Standard_E16s_v5", ("Premium_LRS",), ppg="sap-ppg", availability_set="sap-avset"),
        VmSpec("sap-db-1", "sap-prod", "Standard_M64s", ("Premium_LRS", "Premium_LRS", "UltraSSD_LRS"), ppg="sap-ppg"),
        VmSpec("trade-engine-1", "trading", "Standard_F16s_v2", ("Premium_LRS",), ppg="trade-ppg", zone="1"),
        VmSpec("trade-cache-1", "trading", "Standard_E8s_v5", ("StandardSSD_LRS",), ppg="trade-ppg", zone="1"),
        VmSpec("legacy-1", "legacy", "Standard_D4s_v3", (), os_disk_sku="Standard_LRS", unmanaged=True),
    ),
    ppgs={"sap-ppg": ("sap-prod", None), "trade-ppg": ("trading", "1")},
    availability_sets={"sap-avset": ("sap-prod", "sap-ppg")},
)


def app_settings() -> dict[str, str]:
    """The ppg-dr settings for this estate (what a Function App's configuration would hold)."""
    return {
        "PPGDR_SUBSCRIPTIONS": SUBSCRIPTION,
        "PPGDR_VAULT_ID": VAULT_ID,
        "PPGDR_REGION_PAIRS": f"{SOURCE_REGION}:{TARGET_REGION}",
        "PPGDR_CACHE_STORAGE_ACCOUNTS": f"{SOURCE_REGION}={CACHE_ACCOUNT_ID},{TARGET_REGION}={DR_CACHE_ACCOUNT_ID}",
        "PPGDR_NETWORK_MAPPINGS": f"{SOURCE_VNET_ID}={TARGET_VNET_ID}",
        "PPGDR_TEST_NETWORK_IDS": f"{TARGET_REGION}={TEST_VNET_ID}",
    }


def seed(clients: Any, estate: Estate = DEMO_ESTATE, progress: Callable[[str], None] = lambda _: None) -> None:
    """Create the estate with the SDK clients of ``shared.platform.clients.AzureClients``."""
    from azure.mgmt.compute import models as cm

    resources = clients.resources(SUBSCRIPTION)
    compute = clients.compute(SUBSCRIPTION)
    groups = {v.resource_group for v in estate.vms} | {VAULT_RG, NETWORK_RG}
    for group in sorted(groups):
        resources.resource_groups.create_or_update(group, {"location": SOURCE_REGION})
    # The recovery resource groups, as infra/ creates them (default PPGDR_TARGET_RESOURCE_GROUP): ppg-dr never creates one.
    recovery = sorted(f"{v.resource_group}-asr" for v in estate.vms)
    for group in dict.fromkeys(recovery):
        resources.resource_groups.create_or_update(group, {"location": TARGET_REGION})
    progress(f"resource groups: {', '.join(sorted(groups))}; recovery: {', '.join(dict.fromkeys(recovery))}")

    generic = [
        (SOURCE_VNET_ID, SOURCE_REGION, {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}),
        (TARGET_VNET_ID, TARGET_REGION, {"addressSpace": {"addressPrefixes": ["10.2.0.0/16"]}}),
        (TEST_VNET_ID, TARGET_REGION, {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}),
    ]
    for resource_id, location, props in generic:
        resources.resources.begin_create_or_update_by_id(
            resource_id, {"location": location, "properties": props}, api_version="2024-05-01", polling_interval=0
        ).result()
    for account, region in ((CACHE_ACCOUNT_ID, SOURCE_REGION), (DR_CACHE_ACCOUNT_ID, TARGET_REGION)):
        resources.resources.begin_create_or_update_by_id(
            account,
            {"location": region, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
            api_version="2023-05-01",
            polling_interval=0,
        ).result()
    resources.resources.begin_create_or_update_by_id(
        VAULT_ID,
        {"location": TARGET_REGION, "sku": {"name": "Standard"}, "properties": {}},
        api_version="2024-04-01",
        polling_interval=0,
    ).result()
    progress(f"networks, cache storage accounts and Recovery Services vault {VAULT_NAME} ({TARGET_REGION})")

    for name, (group, zone) in estate.ppgs.items():
        sizes = sorted({v.size for v in estate.vms if v.ppg == name})
        compute.proximity_placement_groups.create_or_update(
            group,
            name,
            cm.ProximityPlacementGroup(
                location=SOURCE_REGION,
                zones=[zone] if zone else None,
                properties=cm.ProximityPlacementGroupProperties(
                    proximity_placement_group_type="Standard",
                    intent=cm.ProximityPlacementGroupPropertiesIntent(vm_sizes=sizes),
                ),
            ),
        )
        progress(f"PPG {name} in {group}{f' (zone {zone})' if zone else ''}, intent {', '.join(sizes)}")
    for name, (group, ppg) in estate.availability_sets.items():
        compute.availability_sets.create_or_update(
            group,
            name,
            cm.AvailabilitySet(
                location=SOURCE_REGION,
                sku=cm.Sku(name="Aligned"),
                properties=cm.AvailabilitySetProperties(
                    platform_fault_domain_count=2,
                    platform_update_domain_count=5,
                    proximity_placement_group=cm.SubResource(id=rid(group, "Microsoft.Compute/proximityPlacementGroups", ppg)),
                ),
            ),
        )
        progress(f"availability set {name} pinned to {ppg}")
    for vm in estate.vms:
        create_vm(compute, vm)
        disks = ", ".join(vm.data_disks) or "no data disks"
        where = f"PPG {vm.ppg}" if vm.ppg else "no PPG"
        progress(f"VM {vm.name} ({vm.size}, {where}, {disks}{', unmanaged disks' if vm.unmanaged else ''})")


UBUNTU: Any = {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"}


def create_vm(compute: Any, vm: VmSpec) -> None:
    """Create one VM with its OS and data disks (managed, or VHDs in a storage account when unmanaged)."""
    from azure.mgmt.compute import models as cm

    if vm.unmanaged:
        vhd = f"https://legacystore.blob.core.windows.net/vhds/{vm.name}"
        os_disk = cm.OSDisk(name=f"{vm.name}-os", create_option="FromImage", vhd=cm.VirtualHardDisk(uri=f"{vhd}-os.vhd"))
        data: list[Any] = []
    else:
        os_disk = cm.OSDisk(
            name=f"{vm.name}-os",
            create_option="FromImage",
            managed_disk=cm.ManagedDiskParameters(storage_account_type=vm.os_disk_sku),
        )
        data = [
            cm.DataDisk(
                lun=lun,
                name=f"{vm.name}-data-{lun}",
                create_option="Empty",
                disk_size_gb=512,
                managed_disk=cm.ManagedDiskParameters(storage_account_type=sku),
            )
            for lun, sku in enumerate(vm.data_disks)
        ]
    nic = rid(vm.resource_group, "Microsoft.Network/networkInterfaces", f"{vm.name}-nic")
    body = cm.VirtualMachine(
        location=SOURCE_REGION,
        zones=[vm.zone] if vm.zone else None,
        properties=cm.VirtualMachineProperties(
            hardware_profile=cm.HardwareProfile(vm_size=vm.size),
            storage_profile=cm.StorageProfile(
                image_reference=cm.ImageReference(
                    publisher="Canonical", offer="ubuntu-24_04-lts", sku="server", version="latest"
                ),
                os_disk=os_disk,
                data_disks=data,
            ),
            network_profile=cm.NetworkProfile(network_interfaces=[cm.NetworkInterfaceReference(id=nic)]),
            proximity_placement_group=cm.SubResource(
                id=rid(vm.resource_group, "Microsoft.Compute/proximityPlacementGroups", vm.ppg)
            )
            if vm.ppg
            else None,
            availability_set=cm.SubResource(id=rid(vm.resource_group, "Microsoft.Compute/availabilitySets", vm.availability_set))
            if vm.availability_set
            else None,
        ),
    )
    compute.virtual_machines.begin_create_or_update(vm.resource_group, vm.name, body, polling_interval=0).result()


def tag(clients: Any, resource_id: str, tags: dict[str, str], *, operation: str = "Merge") -> None:
    """Tag a resource through the Tags API (``Microsoft.Resources/tags/default``), as ``az tag update`` does."""
    from azure.mgmt.resource.resources import models as rm

    clients.resources(SUBSCRIPTION).tags.begin_update_at_scope(
        resource_id, rm.TagsPatchResource(operation=operation, properties=rm.Tags(tags=tags)), polling_interval=0
    ).result()
