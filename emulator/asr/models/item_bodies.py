"""The ``replicationProtectedItems`` body: common properties plus the provider-specific details.

Shaped like the recorded A2A item (``shared/fixtures/recordings``) and the REST examples for
VMware (``InMageRcm``) and Hyper-V (``HyperVReplicaAzure``) items.
"""

from __future__ import annotations

from typing import Any

from emulator.asr.models.common import A2A, HYPERV_AZURE, INMAGE_RCM, display_location, last_segment, rg_of, segment_after, sub_of
from emulator.asr.models.items import (
    ENABLE_FAILED,
    ENABLING,
    INITIAL_REPLICATION,
    ITEM_TYPE,
    PROTECTED,
    PROTECTION_STATES,
    TFO_DESCRIPTIONS,
    TFO_RUNNING,
    TFO_WAITING,
    ItemsMixin,
    ProtectedItem,
)
from emulator.clock import iso

#: ASR's "never" timestamp (currentScenario of an idle item, as in the REST examples).
NEVER = "1753-01-01T01:01:01Z"


class ItemBodiesMixin(ItemsMixin):
    """Renders items; the initial replication progress is read off the clock."""

    def item_body(self, item: ProtectedItem) -> dict[str, Any]:
        vault = item.vault
        state, description = PROTECTION_STATES[item.phase]
        if item.phase == PROTECTED and item.tfo == TFO_WAITING:
            description = "Cleanup test failover pending"
        elif item.phase == PROTECTED and item.tfo == TFO_RUNNING:
            description = "Test failover in progress"
        if item.scenario is not None:
            scenario_name, job_id, start = item.scenario
            scenario = {"scenarioName": scenario_name, "jobId": f"{vault.id}/replicationJobs/{job_id}", "startTime": iso(start)}
        else:
            scenario = {"scenarioName": "None", "jobId": f"{vault.id}/replicationJobs/None", "startTime": NEVER}
        recovery_fabric_id = f"{vault.id}/replicationFabrics/{item.recovery_fabric}"
        props: dict[str, Any] = {
            "friendlyName": item.friendly_name,
            "protectedItemType": ""
            if item.provider == A2A
            else ("HyperVVirtualMachine" if item.provider == HYPERV_AZURE else "VMwareVirtualMachine"),
            "protectableItemId": item.protectable_item_id,
            "recoveryServicesProviderId": (
                f"{vault.id}/replicationFabrics/{item.fabric}/replicationRecoveryServicesProviders/"
                f"{self._stable_id(vault.id, 'provider', item.fabric)}"
            ),
            "primaryFabricFriendlyName": display_location(item.primary_location),
            "primaryFabricProvider": "AzureFabric"
            if item.provider == A2A
            else ("HyperVSite" if item.provider == HYPERV_AZURE else "VMware"),
            "recoveryFabricFriendlyName": display_location(item.recovery_location),
            "recoveryFabricId": recovery_fabric_id,
            "primaryProtectionContainerFriendlyName": item.container,
            "recoveryProtectionContainerFriendlyName": item.recovery_container,
            "protectionState": state,
            "protectionStateDescription": description,
            "activeLocation": item.active_location,
            "testFailoverState": item.tfo,
            "testFailoverStateDescription": TFO_DESCRIPTIONS[item.tfo],
            "switchProviderState": None,
            "switchProviderStateDescription": None,
            "allowedOperations": self.allowed_operations(item),
            "replicationHealth": item.replication_health,
            "failoverHealth": "Normal",
            "healthErrors": list(item.health_errors),
            "policyId": item.policy_id,
            "policyFriendlyName": segment_after(item.policy_id, "replicationPolicies") or "",
            "lastSuccessfulFailoverTime": iso(item.last_failover) if item.last_failover else None,
            "lastSuccessfulTestFailoverTime": iso(item.last_tfo) if item.last_tfo else None,
            "currentScenario": scenario,
            "failoverRecoveryPointId": item.failover_recovery_point_id,
            "providerSpecificDetails": self._provider_details(item),
            "recoveryContainerId": f"{recovery_fabric_id}/replicationProtectionContainers/{item.recovery_container}",
            "eventCorrelationId": item.lifecycle_id,
        }
        return {"id": item.id, "name": item.name, "type": ITEM_TYPE, "location": vault.location, "properties": props}

    def _progress(self, item: ProtectedItem) -> int | None:
        if item.phase != INITIAL_REPLICATION or item.ir_started is None or item.ir_done is None:
            return None
        total = (item.ir_done - item.ir_started).total_seconds()
        if total <= 0:
            return 100
        done = (self.clock.now() - item.ir_started).total_seconds()
        return max(0, min(99, int(done * 100 // total)))

    def _provider_details(self, item: ProtectedItem) -> dict[str, Any]:
        if item.provider == INMAGE_RCM:
            return {
                "instanceType": INMAGE_RCM,
                "targetVmName": item.recovery_vm_name,
                "targetVmSize": item.recovery_vm_size,
                "targetResourceGroupId": item.recovery_rg_id,
                "targetLocation": item.recovery_location,
                "targetAvailabilitySetId": item.recovery_avset_id,
                "targetAvailabilityZone": item.recovery_zone,
                "targetProximityPlacementGroupId": item.recovery_ppg_id,
                "targetNetworkId": item.recovery_network_id,
                "testNetworkId": item.tfo_network_id,
                "targetCapacityReservationGroupId": item.recovery_crg_id,
                "osType": item.os_type,
            }
        if item.provider == HYPERV_AZURE:
            return {
                "instanceType": HYPERV_AZURE,
                "recoveryAzureVmName": item.recovery_vm_name,
                "recoveryAzureVMSize": item.recovery_vm_size,
                "recoveryAzureResourceGroupId": item.recovery_rg_id,
                "recoveryAvailabilitySetId": item.recovery_avset_id,
                "targetAvailabilityZone": item.recovery_zone,
                "targetProximityPlacementGroupId": item.recovery_ppg_id,
                "selectedRecoveryAzureNetworkId": item.recovery_network_id,
                "targetCapacityReservationGroupId": item.recovery_crg_id,
                "useManagedDisks": "true",
                "vmProtectionState": "Protected",
                "vmProtectionStateDescription": "Protected",
            }
        progress = self._progress(item)
        irp = item.phase == INITIAL_REPLICATION
        now = self.clock.now()
        disks: list[dict[str, Any]] = []
        for disk in item.disks:
            rg = rg_of(disk.recovery_rg_id) or last_segment(disk.recovery_rg_id)
            sub = sub_of(disk.recovery_rg_id) or item.vault.subscription
            disk_prefix = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks"
            disks.append(
                {
                    "diskId": disk.disk_id,
                    "recoveryResourceGroupId": disk.recovery_rg_id,
                    "recoveryTargetDiskId": None,
                    "recoveryReplicaDiskId": f"{disk_prefix}/{disk.name}-ASRReplica",
                    "recoveryOrignalTargetDiskId": None,
                    "recoveryReplicaDiskAccountType": disk.replica_account_type,
                    "recoveryTargetDiskAccountType": disk.target_account_type,
                    "recoveryDiskEncryptionSetId": None,
                    "primaryDiskEncryptionSetId": None,
                    "diskName": disk.name,
                    "diskCapacityInBytes": disk.capacity_bytes,
                    "primaryStagingAzureStorageAccountId": disk.staging_account_id,
                    "diskType": disk.disk_type,
                    "resyncRequired": False,
                    "monitoringPercentageCompletion": progress,
                    "monitoringJobType": "InitialReplication" if irp else None,
                    "dataPendingInStagingStorageAccountInMB": 0.0,
                    "dataPendingAtSourceAgentInMB": 0.0,
                    "diskState": "InitialReplicationPending" if item.phase in (ENABLING, INITIAL_REPLICATION) else "Protected",
                    "allowedDiskLevelOperation": [],
                    "isDiskEncrypted": False,
                    "secretIdentifier": None,
                    "dekKeyVaultArmId": None,
                    "isDiskKeyEncrypted": False,
                    "keyIdentifier": None,
                    "kekKeyVaultArmId": None,
                    "failoverDiskName": disk.name,
                    "tfoDiskName": f"{disk.name}-ASRtest",
                }
            )
        protected = item.phase in (PROTECTED,)
        vm_state = (
            "Protected"
            if protected
            else ("UnprotectedStatesBegin" if item.phase in (ENABLING, ENABLE_FAILED) else PROTECTION_STATES[item.phase][0])
        )
        return {
            "instanceType": A2A,
            "fabricObjectId": item.source_vm_id,
            "initialPrimaryZone": item.initial_primary_zone,
            "initialPrimaryFabricLocation": item.initial_primary_location,
            "initialRecoveryZone": item.initial_recovery_zone,
            "initialRecoveryFabricLocation": item.initial_recovery_location,
            "multiVmGroupId": item.multi_vm_group_id,
            "multiVmGroupName": item.multi_vm_group_name,
            "multiVmGroupCreateOption": item.multi_vm_group_option,
            "managementId": item.management_id,
            "protectedDisks": None,
            "unprotectedDisks": None,
            "protectedManagedDisks": disks,
            "recoveryBootDiagStorageAccountId": None,
            "primaryFabricLocation": item.primary_location,
            "recoveryFabricLocation": item.recovery_location,
            "osType": item.os_type,
            "recoveryAzureVMSize": item.recovery_vm_size or item.vm_size,
            "recoveryAzureVMName": item.recovery_vm_name,
            "recoveryAzureResourceGroupId": item.recovery_rg_id,
            "recoveryCloudService": None,
            "recoveryAvailabilitySet": item.recovery_avset_id,
            "selectedRecoveryAzureNetworkId": item.recovery_network_id,
            "selectedTfoAzureNetworkId": item.tfo_network_id,
            "vmNics": [],
            "vmSyncedConfigDetails": {"tags": dict(item.tags), "inputEndpoints": []},
            "monitoringPercentageCompletion": progress,
            "monitoringJobType": "InitialReplication" if irp else None,
            "lastHeartbeat": iso(now),
            "agentVersion": "9.62.7172.1",
            "agentExpiryDate": "9999-12-31T23:59:59.9999999",
            "isReplicationAgentUpdateRequired": False,
            "isReplicationAgentCertificateUpdateRequired": False,
            "recoveryFabricObjectId": item.failover_vm_id,
            "vmProtectionState": vm_state,
            "vmProtectionStateDescription": PROTECTION_STATES[item.phase][1],
            "lifecycleId": item.lifecycle_id,
            "testFailoverRecoveryFabricObjectId": item.test_vm_ids[-1] if item.test_vm_ids else None,
            "rpoInSeconds": 30 if protected else None,
            "lastRpoCalculatedTime": iso(now) if protected else None,
            "primaryAvailabilityZone": item.primary_zone,
            "recoveryAvailabilityZone": item.recovery_zone,
            "vmEncryptionType": "NotEncrypted",
            "tfoAzureVMName": item.tfo_vm_name,
            "recoveryAzureGeneration": "V1",
            "recoveryProximityPlacementGroupId": item.recovery_ppg_id,
            "autoProtectionOfDataDisk": "Disabled",
            "recoveryVirtualMachineScaleSetId": None,
            "recoveryCapacityReservationGroupId": item.recovery_crg_id,
        }
