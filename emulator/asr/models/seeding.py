"""Seeding through the admin API: an A2A topology, items ARM cannot create here, and items in bulk.

VMware/Hyper-V enablement needs on-premises appliances, so such items are seeded already ``Protected``;
bulk seeding creates up to 200,000 protected A2A items for listing at scale.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from emulator.asr.models.common import A2A, HYPERV_AZURE, INMAGE_RCM, PROVIDERS, norm_location, opt_str, segment_after
from emulator.asr.models.items import PROTECTED, BulkItemSpec, Disk, ItemsMixin, ProtectedItem
from emulator.asr.models.networks import NetworksMixin
from emulator.asr.models.policies import PoliciesMixin, Policy
from emulator.asr.models.vaults import Container, Fabric, Vault
from emulator.errors import ArmError


class SeedingMixin(PoliciesMixin, NetworksMixin, ItemsMixin):
    """Seeding writes state directly (no jobs), except the topology, which runs the setup jobs ARM would."""

    def setup_topology(self, vault: Vault, data: dict[str, Any]) -> dict[str, Any]:
        """Fabrics, containers, an A2A policy and container mappings both ways, as a Site Recovery admin sets up."""
        setup_s, self.timings.setup_s = self.timings.setup_s, 0.0  # the topology exists when this returns
        try:
            return self._setup_topology(vault, data)
        finally:
            self.timings.setup_s = setup_s

    def _setup_topology(self, vault: Vault, data: dict[str, Any]) -> dict[str, Any]:
        primary = data.get("primary") or {}
        recovery = data.get("recovery") or {}
        policy_name = str(data.get("policy") or "a2a-policy")
        sides = []
        for side, default in ((primary, "westeurope"), (recovery, "northeurope")):
            location = norm_location(str(side.get("location") or default))
            fabric_name = str(side.get("fabric") or f"asr-a2a-default-{location}")
            container_name = str(side.get("container") or f"asr-a2a-default-{location}-container")
            self.create_fabric(
                vault, fabric_name, {"properties": {"customDetails": {"instanceType": "Azure", "location": location}}}
            )
            self.create_container(vault, fabric_name, container_name, {})
            sides.append(self.container(vault, fabric_name, container_name))
        self.create_policy(vault, policy_name, {"properties": {"providerSpecificInput": {"instanceType": A2A}}})
        policy_id = self.policy_id(vault, self.policy(vault, policy_name))
        forward, back = sides
        for source, target in ((forward, back), (back, forward)):
            self.create_mapping(
                vault,
                source.fabric.name,
                source.name,
                f"{source.fabric.location}-to-{target.fabric.location}",
                {
                    "properties": {
                        "targetProtectionContainerId": self.container_id(vault, target),
                        "policyId": policy_id,
                        "providerSpecificInput": {"instanceType": A2A},
                    }
                },
            )
        for side, source, target in ((primary, forward, back), (recovery, back, forward)):
            if side.get("networkId") and (primary if side is recovery else recovery).get("networkId"):
                other = recovery if side is primary else primary
                self.create_network_mapping(
                    vault,
                    source.fabric.name,
                    "azureNetwork",
                    f"{source.fabric.location}-network-map",
                    {
                        "properties": {
                            "recoveryFabricName": target.fabric.name,
                            "recoveryNetworkId": other["networkId"],
                            "fabricSpecificDetails": {"instanceType": "AzureToAzure", "primaryNetworkId": side["networkId"]},
                        }
                    },
                )
        return {
            "vaultId": vault.id,
            "policyId": policy_id,
            "primaryFabric": forward.fabric.name,
            "primaryContainer": forward.name,
            "primaryContainerId": self.container_id(vault, forward),
            "recoveryFabric": back.fabric.name,
            "recoveryContainer": back.name,
            "recoveryContainerId": self.container_id(vault, back),
            "forwardMapping": f"{forward.fabric.location}-to-{back.fabric.location}",
            "reverseMapping": f"{back.fabric.location}-to-{forward.fabric.location}",
        }

    def seed_item(self, vault: Vault, body: dict[str, Any]) -> ProtectedItem:
        """Create a protected item of a provider whose enablement needs on-premises appliances (or A2A, protected)."""
        provider = opt_str(body.get("provider")) or opt_str(body.get("instanceType")) or ""
        if provider not in PROVIDERS:
            raise ArmError(400, "InvalidParameter", f"provider must be one of {', '.join(PROVIDERS)}.")
        fabric_name = opt_str(body.get("fabric")) or (
            "vmwarefabric" if provider == INMAGE_RCM else "hypervsite" if provider == HYPERV_AZURE else ""
        )
        container_name = opt_str(body.get("container")) or f"{fabric_name}-container"
        name = opt_str(body.get("name"))
        if not fabric_name or name is None:
            raise ArmError(400, "InvalidParameter", "name (and, for A2A, fabric and container) are required.")
        fabric = vault.fabrics.get(fabric_name.lower())
        if fabric is None:
            location = norm_location(opt_str(body.get("sourceLocation")) or "onpremises")
            fabric = Fabric(
                fabric_name,
                location,
                self._stable_id(vault.id, "fabric", fabric_name),
                kind="Azure" if provider == A2A else ("VMwareV2" if provider == INMAGE_RCM else "HyperVSite"),
            )
            vault.fabrics[fabric_name.lower()] = fabric
        container = fabric.containers.get(container_name.lower())
        if container is None:
            container = Container(fabric, container_name)
            fabric.containers[container_name.lower()] = container
        recovery_location = norm_location(
            opt_str(body.get("targetLocation")) or opt_str(body.get("recoveryLocation")) or vault.location
        )
        recovery_fabric = opt_str(body.get("recoveryFabric")) or "Microsoft Azure"
        recovery_container = opt_str(body.get("recoveryContainer")) or "Microsoft Azure"
        policy_name = opt_str(body.get("policy")) or f"{provider.lower()}-policy"
        if policy_name.lower() not in vault.policies:
            vault.policies[policy_name.lower()] = Policy(policy_name, provider)
        vm_name = opt_str(body.get("vmName")) or name
        item = ProtectedItem(
            vault=vault,
            name=name,
            provider=provider,
            fabric=fabric.name,
            container=container.name,
            recovery_fabric=recovery_fabric,
            recovery_container=recovery_container,
            policy_id=f"{vault.id}/replicationPolicies/{policy_name}",
            source_vm_id=opt_str(body.get("sourceVmId"))
            or (self._stable_id(vault.id, "onprem", name) if provider != A2A else ""),
            friendly_name=vm_name,
            primary_location=fabric.location,
            recovery_location=recovery_location,
            os_type=opt_str(body.get("osType")) or "Windows",
            vm_size=opt_str(body.get("targetVmSize")) or "Standard_D2s_v3",
            recovery_rg_id=opt_str(body.get("targetResourceGroupId"))
            or f"/subscriptions/{vault.subscription}/resourceGroups/{vault.resource_group}",
            recovery_ppg_id=opt_str(body.get("targetProximityPlacementGroupId")),
            recovery_avset_id=opt_str(body.get("targetAvailabilitySetId")),
            recovery_zone=opt_str(body.get("targetAvailabilityZone")),
            recovery_vm_name=opt_str(body.get("targetVmName")) or vm_name,
            recovery_vm_size=opt_str(body.get("targetVmSize")),
            recovery_network_id=opt_str(body.get("targetNetworkId")),
            tfo_vm_name=f"{vm_name}-test",
            nic_names=[f"{vm_name}-nic"],
            phase=PROTECTED,
            lifecycle_id=self.new_id(),
            management_id=self.new_id(),
            initial_primary_location=fabric.location,
            initial_recovery_location=recovery_location,
            protectable_item_id=f"{vault.id}/replicationFabrics/{fabric.name}/replicationProtectionContainers/{container.name}/replicationProtectableItems/{name}",
        )
        now = self.clock.now()
        item.ir_started = item.ir_done = item.protected_since = now
        item.disks = [
            Disk(
                f"{name}-disk0",
                f"{vm_name}_OsDisk",
                "OperatingSystem",
                127 << 30,
                item.recovery_rg_id,
                "Standard_LRS",
                "Standard_LRS",
            )
        ]
        if item.key in vault.items:
            raise ArmError(409, "ReplicatedItemNameConflict", f"Replicated item '{name}' already exists.")
        vault.items[item.key] = item
        return item

    def bulk_seed(
        self,
        vault: Vault,
        *,
        count: int,
        fabric: str,
        container: str,
        recovery_fabric: str,
        recovery_container: str,
        prefix: str = "bulk",
        location: str = "westeurope",
        recovery_location: str = "northeurope",
        resource_group: str = "bulk-rg",
        specs: Sequence[BulkItemSpec] | None = None,
    ) -> int:
        """Protected A2A items (for listing at scale); returns how many were added.

        Without ``specs`` the items have no VMs behind them (``{prefix}-{index}`` in ``resource_group``).
        With ``specs`` (``count`` is then ignored) each item protects the given VM id, under the given
        name, with the given recovery resource group and PPG: a benchmark can seed a vault in which every
        existing VM is already protected the way a client would have asked for.
        """
        if specs is not None:
            count = len(specs)
        if count < 0 or count > 200_000:
            raise ArmError(400, "InvalidParameter", "count must be between 0 and 200000.")
        for fname, loc in ((fabric, location), (recovery_fabric, recovery_location)):
            if fname.lower() not in vault.fabrics:
                vault.fabrics[fname.lower()] = Fabric(fname, norm_location(loc), self._stable_id(vault.id, "fabric", fname))
        for fname, cname in ((fabric, container), (recovery_fabric, recovery_container)):
            f = vault.fabrics[fname.lower()]
            f.containers.setdefault(cname.lower(), Container(f, cname))
        policy = vault.policies.setdefault("bulk-policy", Policy("bulk-policy"))
        primary = vault.fabrics[fabric.lower()]
        recovery = vault.fabrics[recovery_fabric.lower()]
        now = self.clock.now()
        sub = vault.subscription
        default_recovery_rg = f"/subscriptions/{sub}/resourceGroups/{resource_group}-asr"
        added = 0
        for index in range(count):
            spec = specs[index] if specs is not None else None
            if spec is None:
                name = vm_name = f"{prefix}-{index:06d}"
                vm = f"/subscriptions/{sub}/resourceGroups/{resource_group}/providers/Microsoft.Compute/virtualMachines/{name}"
                disk_rg, recovery_rg = resource_group, default_recovery_rg
            else:
                vm = spec.source_vm_id
                vm_name = vm.rstrip("/").rsplit("/", 1)[-1]
                name = spec.name or f"{prefix}-{index:06d}"
                disk_rg = segment_after(vm, "resourceGroups") or resource_group
                recovery_rg = spec.recovery_rg_id or f"/subscriptions/{sub}/resourceGroups/{disk_rg}-asr"
            item = ProtectedItem(
                vault=vault,
                name=name,
                provider=A2A,
                fabric=primary.name,
                container=container,
                recovery_fabric=recovery.name,
                recovery_container=recovery_container,
                policy_id=self.policy_id(vault, policy),
                source_vm_id=vm,
                friendly_name=vm_name,
                primary_location=primary.location,
                recovery_location=recovery.location,
                recovery_rg_id=recovery_rg,
                recovery_ppg_id=spec.recovery_ppg_id if spec is not None else None,
                recovery_vm_name=vm_name,
                tfo_vm_name=f"{vm_name}-test",
                nic_names=[f"{vm_name}-nic"],
                phase=PROTECTED,
                multi_vm_group_id=str(uuid.UUID(int=index + 1)),
                lifecycle_id=str(uuid.UUID(int=(1 << 64) + index)),
                management_id=str(uuid.UUID(int=(2 << 64) + index)),
                initial_primary_location=primary.location,
                initial_recovery_location=recovery.location,
                ir_started=now,
                ir_done=now,
                protected_since=now,
                disks=[
                    Disk(
                        f"/subscriptions/{sub}/resourceGroups/{disk_rg}/providers/Microsoft.Compute/disks/{vm_name}_OsDisk",
                        f"{vm_name}_OsDisk",
                        "OperatingSystem",
                        127 << 30,
                        recovery_rg,
                        "Standard_LRS",
                        "Standard_LRS",
                    )
                ],
            )
            if item.key not in vault.items:
                vault.items[item.key] = item
                added += 1
        return added
