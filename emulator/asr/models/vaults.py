"""Vaults, fabrics (one per Azure region) and protection containers.

A vault holds fabrics, replication policies, network mappings, replicated items, jobs and recovery
plans; a fabric holds protection containers; a container holds its container mappings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.asr.models.common import display_location, name_key, norm_location, opt_str, props_of, same_id, segment_after
from emulator.asr.models.jobs import Job, JobsMixin, JobTarget, TaskSpec
from emulator.errors import ArmError

if TYPE_CHECKING:
    from emulator.asr.models.items import ProtectedItem
    from emulator.asr.models.networks import Network, NetworkMapping
    from emulator.asr.models.plans import RecoveryPlan
    from emulator.asr.models.policies import ContainerMapping, Policy

#: ASR ids start with ``/Subscriptions/`` (capital S) in real payloads; keep it so callers must compare
#: ids case-insensitively.
_SUBS = "/Subscriptions"


@dataclass
class Vault:
    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    fabrics: dict[str, Fabric] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    networks: dict[str, Network] = field(default_factory=dict)
    network_mappings: dict[str, NetworkMapping] = field(default_factory=dict)
    items: dict[str, ProtectedItem] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    plans: dict[str, RecoveryPlan] = field(default_factory=dict)

    @property
    def id(self) -> str:
        group = f"{_SUBS}/{self.subscription}/resourceGroups/{self.resource_group}"
        return f"{group}/providers/Microsoft.RecoveryServices/vaults/{self.name}"


@dataclass
class Fabric:
    name: str
    location: str
    internal_id: str
    kind: str = "Azure"
    containers: dict[str, Container] = field(default_factory=dict)


@dataclass
class Container:
    fabric: Fabric
    name: str
    mappings: dict[str, ContainerMapping] = field(default_factory=dict)


class VaultsMixin(JobsMixin):
    """Vault, fabric and protection container reads and writes (fabric and container writes are jobs)."""

    def put_vault(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> Vault:
        location = opt_str(body.get("location"))
        existing = self._vaults.get(name_key(subscription, resource_group, name))
        if existing is not None:
            if isinstance(body.get("tags"), dict):
                existing.tags = dict(body["tags"])
            return existing
        if location is None:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        vault = Vault(subscription, resource_group, name, norm_location(location), dict(body.get("tags") or {}))
        self._vaults[name_key(subscription, resource_group, name)] = vault
        return vault

    def vault(self, subscription: str, resource_group: str, name: str) -> Vault:
        self.tick()
        vault = self._vaults.get(name_key(subscription, resource_group, name))
        if vault is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.RecoveryServices/vaults/{name}' under resource group '{resource_group}' was not found.",
            )
        return vault

    def vaults(self) -> list[Vault]:
        return list(self._vaults.values())

    def vault_body(self, vault: Vault) -> dict[str, Any]:
        """The vault as Microsoft.RecoveryServices returns it (minimal: ids in lower-case ``/subscriptions/``)."""
        return {
            "id": vault.id.replace("/Subscriptions/", "/subscriptions/", 1),
            "name": vault.name,
            "type": "Microsoft.RecoveryServices/vaults",
            "location": vault.location,
            "tags": dict(vault.tags),
            "sku": {"name": "RS0", "tier": "Standard"},
            "properties": {"provisioningState": "Succeeded", "publicNetworkAccess": "Enabled"},
        }

    def delete_vault(self, subscription: str, resource_group: str, name: str) -> None:
        vault = self.vault(subscription, resource_group, name)
        if vault.items:
            raise ArmError(
                400,
                "ServiceResourceNotEmpty",
                f"Vault '{name}' cannot be deleted as there are existing resources within the vault "
                f"({len(vault.items)} replicated items). Disable replication for them first.",
            )
        del self._vaults[name_key(subscription, resource_group, name)]

    def create_fabric(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        custom = props_of(body).get("customDetails") or {}
        kind = opt_str(custom.get("instanceType")) or "Azure"
        location = opt_str(custom.get("location"))
        if kind.lower() != "azure":
            raise ArmError(
                400,
                "FabricTypeNotSupported",
                f"Fabric type '{kind}' needs an on-premises configuration server or Hyper-V site registration; "
                "the emulator creates Azure fabrics only. Seed on-premises items through /_emulator/asr/items.",
            )
        if location is None:
            raise ArmError(400, "InvalidParameter", "customDetails.location is required for an Azure fabric.")
        existing = vault.fabrics.get(name.lower())
        if existing is not None and norm_location(location) != existing.location:
            raise ArmError(409, "FabricAlreadyExists", f"Fabric '{name}' already exists for location '{existing.location}'.")
        fabric = existing or Fabric(name, norm_location(location), self._stable_id(vault.id, "fabric", name))

        def created(_: Job) -> None:
            vault.fabrics.setdefault(name.lower(), fabric)

        return self._setup_job(
            vault,
            "CreateSite",
            JobTarget(fabric.internal_id, name, "Server", f"{vault.id}/replicationFabrics/{fabric.name}"),
            tasks=[TaskSpec("RegisterVmmTask", "Registering the server", task_id="RegisterVMMTask")],
            on_complete=created,
            result=lambda: self.fabric_body(vault, fabric),
        )

    def fabrics(self, vault: Vault) -> list[Fabric]:
        return list(vault.fabrics.values())

    def fabric(self, vault: Vault, name: str) -> Fabric:
        fabric = vault.fabrics.get(name.lower())
        if fabric is None:
            raise ArmError(404, "NotFound", f"Fabric '{name}' was not found in vault '{vault.name}'.")
        return fabric

    def delete_fabric(self, vault: Vault, name: str) -> Job:
        fabric = self.fabric(vault, name)
        busy = [
            i
            for i in vault.items.values()
            if name_key(i.fabric) == name_key(fabric.name) or name_key(i.recovery_fabric) == name_key(fabric.name)
        ]
        if busy:
            raise ArmError(
                400,
                "FabricHasProtectedItems",
                f"Fabric '{fabric.name}' has {len(busy)} replicated items. Disable replication for them first.",
            )

        def done(_: Job) -> None:
            vault.fabrics.pop(name.lower(), None)

        return self._setup_job(
            vault,
            "DeleteSite",
            JobTarget(fabric.internal_id, name, "Server", f"{vault.id}/replicationFabrics/{fabric.name}"),
            on_complete=done,
        )

    def fabric_body(self, vault: Vault, fabric: Fabric) -> dict[str, Any]:
        return {
            "id": f"{vault.id}/replicationFabrics/{fabric.name}",
            "name": fabric.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics",
            "location": vault.location,
            "properties": {
                "friendlyName": display_location(fabric.location),
                "encryptionDetails": {"kekState": "None"},
                "rolloverEncryptionDetails": {"kekState": "None"},
                "internalIdentifier": fabric.internal_id,
                "bcdrState": "Valid",
                "customDetails": {
                    "instanceType": "Azure",
                    "location": fabric.location,
                    "containerIds": [
                        f"{vault.id}/replicationFabrics/{fabric.name}/replicationProtectionContainers/{c.name}"
                        for c in fabric.containers.values()
                    ],
                    "zones": [],
                    "extendedLocations": [],
                    "locationDetails": [],
                },
                "healthErrorDetails": [],
                "health": "Normal",
            },
        }

    def create_container(self, vault: Vault, fabric_name: str, name: str, body: dict[str, Any]) -> Job:
        fabric = self.fabric(vault, fabric_name)
        container = fabric.containers.get(name.lower()) or Container(fabric, name)

        def created(_: Job) -> None:
            fabric.containers.setdefault(name.lower(), container)

        return self._setup_job(
            vault,
            "CreateCloud",
            self._container_target(vault, container),
            on_complete=created,
            result=lambda: self.container_body(vault, container),
        )

    def _container_target(self, vault: Vault, container: Container) -> JobTarget:
        """Container jobs name the container by its internal GUID (PPG recording job list, CreateCloud)."""
        guid = self._stable_id(vault.id, "container", container.fabric.name, container.name)
        return JobTarget(guid, container.name, "ProtectionContainer", self.container_id(vault, container))

    def container(self, vault: Vault, fabric_name: str, name: str) -> Container:
        fabric = self.fabric(vault, fabric_name)
        container = fabric.containers.get(name.lower())
        if container is None:
            raise ArmError(404, "NotFound", f"Protection container '{name}' was not found in fabric '{fabric.name}'.")
        return container

    def container_by_id(self, vault: Vault, container_id: str) -> Container:
        fabric_name = segment_after(container_id, "replicationFabrics")
        name = segment_after(container_id, "replicationProtectionContainers")
        if fabric_name is None or name is None or fabric_name.lower() not in vault.fabrics:
            raise ArmError(
                400, "InvalidParameter", f"Protection container '{container_id}' was not found in vault '{vault.name}'."
            )
        fabric = vault.fabrics[fabric_name.lower()]
        container = fabric.containers.get(name.lower())
        if container is None:
            raise ArmError(
                400, "InvalidParameter", f"Protection container '{container_id}' was not found in vault '{vault.name}'."
            )
        return container

    def containers(self, vault: Vault, fabric_name: str | None = None) -> list[Container]:
        fabrics = [self.fabric(vault, fabric_name)] if fabric_name else list(vault.fabrics.values())
        return [c for f in fabrics for c in f.containers.values()]

    def delete_container(self, vault: Vault, fabric_name: str, name: str) -> Job:
        container = self.container(vault, fabric_name, name)
        prefix = name_key(container.fabric.name, container.name) + "/"
        if any(k.startswith(prefix) for k in vault.items) or container.mappings:
            raise ArmError(
                400,
                "ProtectionContainerNotEmpty",
                f"Protection container '{container.name}' has replicated items or container mappings. Remove them first.",
            )

        def done(_: Job) -> None:
            container.fabric.containers.pop(name.lower(), None)

        return self._setup_job(vault, "RemoveCloud", self._container_target(vault, container), on_complete=done)

    def container_id(self, vault: Vault, container: Container) -> str:
        return f"{vault.id}/replicationFabrics/{container.fabric.name}/replicationProtectionContainers/{container.name}"

    def container_body(self, vault: Vault, container: Container) -> dict[str, Any]:
        count = sum(
            1 for i in vault.items.values() if name_key(i.fabric, i.container) == name_key(container.fabric.name, container.name)
        )
        paired = bool(container.mappings) or any(
            same_id(m.target_container_id, self.container_id(vault, container))
            for c in self.containers(vault)
            for m in c.mappings.values()
        )
        return {
            "id": self.container_id(vault, container),
            "name": container.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers",
            "location": vault.location,
            "properties": {
                "fabricFriendlyName": display_location(container.fabric.location),
                "friendlyName": container.name,
                "fabricType": "Azure",
                "protectedItemCount": count,
                "pairingStatus": "Paired" if paired else "NotPaired",
                "role": "Primary" if container.mappings else ("Recovery" if paired else ""),
                "fabricSpecificDetails": None,
            },
        }

    def _recovery_container(self, item: ProtectedItem) -> Container:
        fabric = item.vault.fabrics[item.recovery_fabric.lower()]
        return fabric.containers[item.recovery_container.lower()]
