"""A small Azure for the Site Recovery backend tests: a fake compute backend and a ready A2A topology.

The fake keeps only what ASR reads and writes (VMs with their PPG / availability set / zones / disks,
PPGs, availability sets, disks) and a capacity model per PPG, so ``test_asr_models`` exercises the ASR
behaviour without HTTP and without the real compute backend.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from emulator.asr.models import AsrBackend, ProtectedItem, Vault
from emulator.clock import Clock
from emulator.errors import ArmError
from emulator.operations import Operations

SUB = "00000000-0000-0000-0000-000000000001"
PRIMARY = "westeurope"
RECOVERY = "northeurope"
SOURCE_RG = "rg-app"
TARGET_RG = "rg-app-asr"


def rid(rg: str, rtype: str, name: str, provider: str = "Microsoft.Compute") -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/{provider}/{rtype}/{name}"


@dataclass
class FakeCompute:
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: dict[str, set[str]] = field(default_factory=dict)
    put_calls: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    deallocated: list[str] = field(default_factory=list)

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        self.resources[resource["id"].lower()] = resource
        return resource

    def ppg(self, rg: str, name: str, location: str) -> str:
        return self.add({"id": rid(rg, "proximityPlacementGroups", name), "name": name, "location": location, "properties": {}})[
            "id"
        ]

    def avset(self, rg: str, name: str, location: str, ppg_id: str | None = None) -> str:
        props: dict[str, Any] = {"proximityPlacementGroup": {"id": ppg_id}} if ppg_id else {}
        return self.add({"id": rid(rg, "availabilitySets", name), "name": name, "location": location, "properties": props})["id"]

    def source_vm(
        self,
        name: str,
        *,
        size: str = "Standard_D4s_v5",
        ppg_id: str | None = None,
        unmanaged: bool = False,
        tags: dict[str, str] | None = None,
    ) -> str:
        os_disk: dict[str, Any]
        if unmanaged:
            os_disk = {
                "name": f"{name}-os",
                "osType": "Linux",
                "vhd": {"uri": f"https://sa.blob.core.windows.net/vhds/{name}.vhd"},
            }
        else:
            disk_id = self.add(
                {
                    "id": rid(SOURCE_RG, "disks", f"{name}_OsDisk"),
                    "name": f"{name}_OsDisk",
                    "location": PRIMARY,
                    "sku": {"name": "Premium_LRS"},
                    "properties": {"diskSizeGB": 64},
                }
            )["id"]
            os_disk = {"name": f"{name}_OsDisk", "osType": "Linux", "managedDisk": {"id": disk_id}, "diskSizeGB": 64}
        props: dict[str, Any] = {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {"osDisk": os_disk, "dataDisks": []},
            "networkProfile": {
                "networkInterfaces": [{"id": rid(SOURCE_RG, "networkInterfaces", f"{name}-nic", "Microsoft.Network")}]
            },
        }
        if ppg_id:
            props["proximityPlacementGroup"] = {"id": ppg_id}
        vm = {
            "id": rid(SOURCE_RG, "virtualMachines", name),
            "name": name,
            "location": PRIMARY,
            "tags": tags or {},
            "properties": props,
        }
        return self.add(vm)["id"]

    # --- the ComputeApi contract -------------------------------------------------------------------
    def put_vm(
        self, subscription: str, resource_group: str, name: str, body: dict[str, Any], *, allow_placement_fallback: bool = False
    ) -> dict[str, Any]:
        vm = copy.deepcopy(body)
        vm["id"] = rid(resource_group, "virtualMachines", name)
        vm["name"] = name
        props = vm["properties"]
        ppg = (props.get("proximityPlacementGroup") or {}).get("id")
        size = props["hardwareProfile"]["vmSize"]
        if ppg and not self.capacity_allows(ppg, size):
            if not allow_placement_fallback:
                raise ArmError(409, "OverconstrainedAllocationRequest", "Allocation failed.")
            props.pop("proximityPlacementGroup", None)
            props.pop("availabilitySet", None)
        self.put_calls.append(name)
        return copy.deepcopy(self.add(vm))

    def get_vm(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]:
        found = self.find(rid(resource_group, "virtualMachines", name))
        if found is None:
            raise ArmError(404, "ResourceNotFound", name)
        return found

    def delete_vm(self, subscription: str, resource_group: str, name: str) -> bool:
        self.deleted.append(name)
        return self.resources.pop(rid(resource_group, "virtualMachines", name).lower(), None) is not None

    def deallocate_vm(self, vm_id: str) -> bool:
        found = self.resources.get(vm_id.strip().rstrip("/").lower())
        if found is None:
            return False
        found["power"] = "deallocated"
        self.deallocated.append(found["name"])
        return True

    def delete_disk(self, subscription: str, resource_group: str, name: str) -> bool:
        self.deleted.append(name)
        return self.resources.pop(rid(resource_group, "disks", name).lower(), None) is not None

    def find(self, resource_id: str) -> dict[str, Any] | None:
        found = self.resources.get(resource_id.strip().rstrip("/").lower())
        return copy.deepcopy(found) if found is not None else None

    def capacity_allows(self, ppg_id: str, vm_size: str) -> bool:
        return vm_size.lower() not in self.refused.get(ppg_id.lower(), set())

    def vm(self, rg: str, name: str) -> dict[str, Any] | None:
        return self.find(rid(rg, "virtualMachines", name))


@dataclass
class World:
    clock: Clock
    operations: Operations
    compute: FakeCompute
    asr: AsrBackend
    vault: Vault
    topology: dict[str, Any]
    source_ppg: str
    target_ppg: str
    target_avset: str

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.asr.tick()

    @property
    def recovery_rg_id(self) -> str:
        return f"/subscriptions/{SUB}/resourceGroups/{TARGET_RG}"

    def enable_input(self, vm_id: str, **overrides: Any) -> dict[str, Any]:
        specific: dict[str, Any] = {
            "instanceType": "A2A",
            "fabricObjectId": vm_id,
            "recoveryContainerId": self.topology["recoveryContainerId"],
            "recoveryResourceGroupId": self.recovery_rg_id,
            "recoveryProximityPlacementGroupId": self.target_ppg,
        }
        specific.update(overrides)
        return {"properties": {"policyId": self.topology["policyId"], "providerSpecificDetails": specific}}

    def enable(self, name: str, vm_id: str, **overrides: Any) -> ProtectedItem:
        job = self.asr.create_item(
            self.vault,
            self.topology["primaryFabric"],
            self.topology["primaryContainer"],
            name,
            self.enable_input(vm_id, **overrides),
        )
        assert job is not None
        return self.asr.item(self.vault, self.topology["primaryFabric"], self.topology["primaryContainer"], name)

    def protect(self, name: str, vm_id: str, **overrides: Any) -> ProtectedItem:
        item = self.enable(name, vm_id, **overrides)
        self.advance(self.asr.timings.enable_s + self.asr.timings.initial_replication_s)
        assert item.phase == "Protected"
        return item


def make_world() -> World:
    clock = Clock(speed=0, start=datetime(2025, 9, 1, 8, 0, tzinfo=UTC))
    operations = Operations(clock)
    compute = FakeCompute()
    asr = AsrBackend(clock=clock, operations=operations, compute=compute)
    vault = asr.put_vault(SUB, "rg-dr", "vault1", {"location": RECOVERY})
    topology = asr.setup_topology(vault, {"primary": {"location": PRIMARY}, "recovery": {"location": RECOVERY}})
    source_ppg = compute.ppg(SOURCE_RG, "ppg-app", PRIMARY)
    target_ppg = compute.ppg(TARGET_RG, "ppg-app-dr", RECOVERY)
    target_avset = compute.avset(TARGET_RG, "avset-app-dr", RECOVERY, target_ppg)
    return World(clock, operations, compute, asr, vault, topology, source_ppg, target_ppg, target_avset)
