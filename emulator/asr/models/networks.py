"""Site Recovery networks and network mappings (which recovery network a failed-over VM joins)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.asr.models.common import last_segment, name_key, opt_str, props_of
from emulator.asr.models.jobs import Job, JobTarget, TaskSpec
from emulator.asr.models.vaults import Vault, VaultsMixin
from emulator.errors import ArmError


@dataclass
class Network:
    fabric: str
    name: str


@dataclass
class NetworkMapping:
    fabric: str
    network: str
    name: str
    recovery_fabric: str
    recovery_network_id: str
    primary_network_id: str


class NetworksMixin(VaultsMixin):
    """Network and network mapping reads and writes (mapping writes are setup jobs)."""

    def create_network_mapping(self, vault: Vault, fabric_name: str, network: str, name: str, body: dict[str, Any]) -> Job:
        fabric = self.fabric(vault, fabric_name)
        props = props_of(body)
        recovery_fabric = self.fabric(vault, opt_str(props.get("recoveryFabricName")) or "")
        recovery_network = opt_str(props.get("recoveryNetworkId"))
        specific = props.get("fabricSpecificDetails") or {}
        primary_network = opt_str(specific.get("primaryNetworkId"))
        if recovery_network is None or primary_network is None:
            raise ArmError(400, "InvalidParameter", "recoveryNetworkId and fabricSpecificDetails.primaryNetworkId are required.")
        mapping = NetworkMapping(fabric.name, network, name, recovery_fabric.name, recovery_network, primary_network)

        def mapped(_: Job) -> None:
            vault.networks.setdefault(name_key(fabric.name, network), Network(fabric.name, network))
            vault.network_mappings[name_key(fabric.name, network, name)] = mapping

        return self._setup_job(
            vault,
            "NetworkPairing",
            self._network_target(vault, mapping),
            tasks=_pairing_tasks(),
            on_complete=mapped,
            result=lambda: self.network_mapping_body(vault, mapping),
        )

    def _network_target(self, vault: Vault, mapping: NetworkMapping) -> JobTarget:
        """NetworkPairing names its target by the lower-cased network name, not a GUID (PPG recording ~0.97M)."""
        network = last_segment(mapping.primary_network_id).lower()
        return JobTarget(network, network, "Network", self.network_mapping_id(vault, mapping))

    def network_mapping(self, vault: Vault, fabric_name: str, network: str, name: str) -> NetworkMapping:
        mapping = vault.network_mappings.get(name_key(fabric_name, network, name))
        if mapping is None:
            raise ArmError(404, "NotFound", f"Network mapping '{name}' was not found.")
        return mapping

    def network_mappings(self, vault: Vault, fabric_name: str | None = None, network: str | None = None) -> list[NetworkMapping]:
        return [
            m
            for m in vault.network_mappings.values()
            if (fabric_name is None or name_key(m.fabric) == name_key(fabric_name))
            and (network is None or name_key(m.network) == name_key(network))
        ]

    def delete_network_mapping(self, vault: Vault, fabric_name: str, network: str, name: str) -> Job:
        mapping = self.network_mapping(vault, fabric_name, network, name)

        def done(_: Job) -> None:
            vault.network_mappings.pop(name_key(fabric_name, network, name), None)

        return self._setup_job(vault, "NetworkUnpairing", self._network_target(vault, mapping), on_complete=done)

    def network_mapping_id(self, vault: Vault, m: NetworkMapping) -> str:
        return f"{vault.id}/replicationFabrics/{m.fabric}/replicationNetworks/{m.network}/replicationNetworkMappings/{m.name}"

    def network_mapping_body(self, vault: Vault, m: NetworkMapping) -> dict[str, Any]:
        primary = vault.fabrics.get(m.fabric.lower())
        recovery = vault.fabrics.get(m.recovery_fabric.lower())
        return {
            "id": self.network_mapping_id(vault, m),
            "name": m.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks/replicationNetworkMappings",
            "location": vault.location,
            "properties": {
                "state": "Paired",
                "primaryNetworkFriendlyName": last_segment(m.primary_network_id),
                "primaryNetworkId": m.primary_network_id,
                "primaryFabricFriendlyName": m.fabric,
                "recoveryNetworkFriendlyName": last_segment(m.recovery_network_id),
                "recoveryNetworkId": m.recovery_network_id,
                "recoveryFabricArmId": f"{vault.id}/replicationFabrics/{m.recovery_fabric}",
                "recoveryFabricFriendlyName": m.recovery_fabric,
                "fabricSpecificSettings": {
                    "instanceType": "AzureToAzure",
                    "primaryFabricLocation": primary.location if primary else "",
                    "recoveryFabricLocation": recovery.location if recovery else "",
                },
            },
        }

    def network(self, vault: Vault, fabric_name: str, name: str) -> Network:
        self.fabric(vault, fabric_name)
        network = vault.networks.get(name_key(fabric_name, name))
        if network is None:
            raise ArmError(404, "NotFound", f"Network '{name}' was not found in fabric '{fabric_name}'.")
        return network

    def networks(self, vault: Vault, fabric_name: str | None = None) -> list[Network]:
        if fabric_name is not None:
            self.fabric(vault, fabric_name)  # a missing fabric is a 404, as for containers
        return [n for n in vault.networks.values() if fabric_name is None or name_key(n.fabric) == name_key(fabric_name)]

    def network_body(self, vault: Vault, n: Network) -> dict[str, Any]:
        return {
            "id": f"{vault.id}/replicationFabrics/{n.fabric}/replicationNetworks/{n.name}",
            "name": n.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks",
            "location": vault.location,
            "properties": {"fabricType": "Azure", "subnets": [], "friendlyName": n.name, "networkType": "AzureNetwork"},
        }

    def _mapped_network(self, vault: Vault, fabric: str) -> str | None:
        for mapping in vault.network_mappings.values():
            if name_key(mapping.fabric) == name_key(fabric):
                return mapping.recovery_network_id
        return None


def _pairing_tasks() -> list[TaskSpec]:
    """The recorded NetworkPairing tasks: map the network, then a skipped NIC update group (PPG recording ~0.97M)."""
    return [
        TaskSpec("ModifyVMNetworksPairingStatusTask", "Map network"),
        TaskSpec(
            "VMNetworksUpdateVMNicsTask",
            "Attach network (0)",
            task_type="GroupTaskDetails",
            custom=None,
            group={"instanceType": "GroupTaskDetails"},
            skipped=True,
        ),
    ]
