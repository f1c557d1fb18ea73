"""Replication policies and the protection container mappings that apply them (primary -> recovery container)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from emulator.asr.models.common import A2A, display_location, name_key, opt_str, props_of, same_id, segment_after
from emulator.asr.models.jobs import Job, JobTarget
from emulator.asr.models.vaults import Container, Vault, VaultsMixin
from emulator.errors import ArmError

MAPPING_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectionContainerMappings"
)


@dataclass
class Policy:
    name: str
    provider: str = A2A
    recovery_point_history_min: int = 1440
    crash_consistent_min: int = 5
    app_consistent_min: int = 60
    multi_vm_sync: str = "Enable"


@dataclass
class ContainerMapping:
    container: Container
    name: str
    target_container_id: str
    policy_id: str
    agent_auto_update: str = "Disabled"
    automation_account_id: str | None = None


class PoliciesMixin(VaultsMixin):
    """Policy and container mapping reads and writes (every write is a setup job)."""

    def create_policy(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        specific = props_of(body).get("providerSpecificInput") or {}
        provider = opt_str(specific.get("instanceType")) or A2A
        existing = vault.policies.get(name.lower())
        policy = Policy(name, provider) if existing is None else replace(existing, provider=provider)
        _apply_policy_settings(policy, specific)

        def saved(_: Job) -> None:
            vault.policies[name.lower()] = policy

        return self._setup_job(
            vault,
            "AddProtectionProfile",
            self._policy_target(vault, policy),
            on_complete=saved,
            result=lambda: self.policy_body(vault, policy),
        )

    def _policy_target(self, vault: Vault, policy: Policy) -> JobTarget:
        """Policy and mapping jobs name the policy by its GUID and name (PPG recording job list)."""
        guid = self._stable_id(vault.id, "policy", policy.name)
        return JobTarget(guid, policy.name, "ProtectionProfile", self.policy_id(vault, policy))

    def update_policy(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        current = self.policy(vault, name)
        specific = props_of(body).get("replicationProviderSettings") or {}
        policy = replace(current)
        _apply_policy_settings(policy, specific)

        def saved(_: Job) -> None:
            vault.policies[name.lower()] = policy

        return self._setup_job(
            vault,
            "UpdateProtectionProfile",
            self._policy_target(vault, policy),
            on_complete=saved,
            result=lambda: self.policy_body(vault, policy),
        )

    def delete_policy(self, vault: Vault, name: str) -> Job:
        policy = self.policy(vault, name)
        users = [
            m for c in self.containers(vault) for m in c.mappings.values() if same_id(m.policy_id, self.policy_id(vault, policy))
        ]
        if users:
            raise ArmError(
                400,
                "PolicyInUse",
                f"Replication policy '{policy.name}' is associated with {len(users)} protection container mappings. "
                "Remove the mappings before deleting the policy.",
            )

        def done(_: Job) -> None:
            vault.policies.pop(name.lower(), None)

        return self._setup_job(vault, "RemoveProtectionProfile", self._policy_target(vault, policy), on_complete=done)

    def policies(self, vault: Vault) -> list[Policy]:
        return list(vault.policies.values())

    def policy(self, vault: Vault, name: str) -> Policy:
        policy = vault.policies.get(name.lower())
        if policy is None:
            raise ArmError(404, "NotFound", f"Replication policy '{name}' was not found in vault '{vault.name}'.")
        return policy

    def policy_by_id(self, vault: Vault, policy_id: str) -> Policy:
        name = segment_after(policy_id, "replicationPolicies")
        policy = vault.policies.get((name or "").lower())
        if policy is None:
            raise ArmError(400, "InvalidParameter", f"Replication policy '{policy_id}' was not found in vault '{vault.name}'.")
        return policy

    def policy_id(self, vault: Vault, policy: Policy) -> str:
        return f"{vault.id}/replicationPolicies/{policy.name}"

    def policy_body(self, vault: Vault, policy: Policy) -> dict[str, Any]:
        details: dict[str, Any] = {"instanceType": policy.provider}
        if policy.provider == A2A:
            details.update(
                {
                    "recoveryPointThresholdInMinutes": 0,
                    "recoveryPointHistory": policy.recovery_point_history_min,
                    "appConsistentFrequencyInMinutes": policy.app_consistent_min,
                    "multiVmSyncStatus": "Enabled" if policy.multi_vm_sync.lower().startswith("enable") else "Disabled",
                    "crashConsistentFrequencyInMinutes": policy.crash_consistent_min,
                }
            )
        return {
            "id": self.policy_id(vault, policy),
            "name": policy.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationPolicies",
            "location": vault.location,
            "properties": {"friendlyName": policy.name, "providerSpecificDetails": details},
        }

    def create_mapping(self, vault: Vault, fabric_name: str, container_name: str, name: str, body: dict[str, Any]) -> Job:
        container = self.container(vault, fabric_name, container_name)
        props = props_of(body)
        target_id = opt_str(props.get("targetProtectionContainerId"))
        policy_id = opt_str(props.get("policyId"))
        if target_id is None or policy_id is None:
            raise ArmError(400, "InvalidParameter", "targetProtectionContainerId and policyId are required.")
        target = self.container_by_id(vault, target_id)
        policy = self.policy_by_id(vault, policy_id)
        if target.fabric is container.fabric:
            raise ArmError(
                400, "InvalidParameter", "The source and target protection containers must be in different fabrics (regions)."
            )
        specific = props.get("providerSpecificInput") or {}
        mapping = ContainerMapping(
            container,
            name,
            self.container_id(vault, target),
            self.policy_id(vault, policy),
            opt_str(specific.get("agentAutoUpdateStatus")) or "Disabled",
            opt_str(specific.get("automationAccountArmId")),
        )

        def created(_: Job) -> None:
            container.mappings[name.lower()] = mapping

        return self._setup_job(
            vault,
            "AssociateProtectionProfile",
            replace(self._policy_target(vault, policy), arm_id=self.mapping_id(vault, mapping)),
            on_complete=created,
            result=lambda: self.mapping_body(vault, mapping),
        )

    def mapping(self, vault: Vault, fabric_name: str, container_name: str, name: str) -> ContainerMapping:
        container = self.container(vault, fabric_name, container_name)
        mapping = container.mappings.get(name.lower())
        if mapping is None:
            raise ArmError(404, "NotFound", f"Protection container mapping '{name}' was not found.")
        return mapping

    def mappings(self, vault: Vault, fabric_name: str | None = None, container_name: str | None = None) -> list[ContainerMapping]:
        """All mappings, or those of one container: its own and those targeting it (A2AReprotectTest entries 5
        and 10 list both directions from either container)."""
        if fabric_name and container_name:
            container = self.container(vault, fabric_name, container_name)
            container_id = self.container_id(vault, container)
            targeting = [
                m
                for c in self.containers(vault)
                if c is not container
                for m in c.mappings.values()
                if same_id(m.target_container_id, container_id)
            ]
            return [*container.mappings.values(), *targeting]
        return [m for c in self.containers(vault) for m in c.mappings.values()]

    def delete_mapping(self, vault: Vault, fabric_name: str, container_name: str, name: str) -> Job:
        mapping = self.mapping(vault, fabric_name, container_name, name)
        source_key = name_key(mapping.container.fabric.name, mapping.container.name)
        users = [
            i
            for i in vault.items.values()
            if name_key(i.fabric, i.container) == source_key
            and same_id(self.container_id(vault, self._recovery_container(i)), mapping.target_container_id)
        ]
        if users:
            raise ArmError(
                400,
                "ContainerMappingInUse",
                f"Protection container mapping '{mapping.name}' is used by {len(users)} replicated items. "
                "Disable replication for them first.",
            )

        def done(_: Job) -> None:
            mapping.container.mappings.pop(name.lower(), None)

        policy = vault.policies.get((segment_after(mapping.policy_id, "replicationPolicies") or "").lower()) or Policy(
            segment_after(mapping.policy_id, "replicationPolicies") or mapping.name
        )
        target = replace(self._policy_target(vault, policy), arm_id=self.mapping_id(vault, mapping))
        return self._setup_job(vault, "DissociateProtectionProfile", target, on_complete=done)

    def mapping_id(self, vault: Vault, mapping: ContainerMapping) -> str:
        return f"{self.container_id(vault, mapping.container)}/replicationProtectionContainerMappings/{mapping.name}"

    def mapping_body(self, vault: Vault, mapping: ContainerMapping) -> dict[str, Any]:
        target = self.container_by_id(vault, mapping.target_container_id)
        policy = vault.policies.get((segment_after(mapping.policy_id, "replicationPolicies") or "").lower())
        return {
            "id": self.mapping_id(vault, mapping),
            "name": mapping.name,
            "type": MAPPING_TYPE,
            "location": vault.location,
            "properties": {
                "targetProtectionContainerId": mapping.target_container_id,
                "targetProtectionContainerFriendlyName": target.name,
                "providerSpecificDetails": {
                    "instanceType": A2A,
                    "agentAutoUpdateStatus": mapping.agent_auto_update,
                    "automationAccountArmId": mapping.automation_account_id,
                    "scheduleName": None,
                    "jobScheduleName": None,
                },
                "health": "Normal",
                "healthErrorDetails": [],
                "policyId": mapping.policy_id,
                "state": "Paired",
                "sourceProtectionContainerFriendlyName": mapping.container.name,
                "sourceFabricFriendlyName": display_location(mapping.container.fabric.location),
                "targetFabricFriendlyName": display_location(target.fabric.location),
                "policyFriendlyName": policy.name if policy else "",
            },
        }

    def _mapping_between(self, vault: Vault, source: Container, target: Container) -> ContainerMapping | None:
        target_id = self.container_id(vault, target)
        for mapping in source.mappings.values():
            if same_id(mapping.target_container_id, target_id):
                return mapping
        return None


def _apply_policy_settings(policy: Policy, specific: dict[str, Any]) -> None:
    if "recoveryPointHistory" in specific:
        policy.recovery_point_history_min = int(specific["recoveryPointHistory"])
    if "crashConsistentFrequencyInMinutes" in specific:
        policy.crash_consistent_min = int(specific["crashConsistentFrequencyInMinutes"])
    if "appConsistentFrequencyInMinutes" in specific:
        policy.app_consistent_min = int(specific["appConsistentFrequencyInMinutes"])
    if opt_str(specific.get("multiVmSyncStatus")):
        policy.multi_vm_sync = str(specific["multiVmSyncStatus"])
