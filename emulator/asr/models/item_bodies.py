"""The ``replicationProtectedItems`` body: common properties plus the provider-specific details.

Shaped like the recorded A2A item (``shared/fixtures/recordings``) and the REST examples for
VMware (``InMageRcm``) and Hyper-V (``HyperVReplicaAzure``) items.
"""

from __future__ import annotations

from typing import Any

from emulator.asr.models.common import A2A, HYPERV_AZURE, INMAGE_RCM, display_location, last_segment, rg_of, segment_after, sub_of
from emulator.asr.models.items import (
    COMMITTED,
    COMMITTING,
    ENABLE_FAILED,
    ENABLING,
    FAILING_OVER,
    FAILOVER_PENDING_COMMIT,
    INITIAL_REPLICATION,
    ITEM_TYPE,
    PROTECTED,
    PROTECTION_STATES,
    TFO_CLEANING,
    TFO_DESCRIPTIONS,
    TFO_NONE,
    TFO_RUNNING,
    TFO_WAITING,
    Disk,
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
        tfo_state, tfo_description = self.test_failover_state(item)
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
            "testFailoverState": tfo_state,
            "testFailoverStateDescription": tfo_description,
            "switchProviderState": "None",
            "switchProviderStateDescription": None,
            "allowedOperations": self.allowed_operations(item),
            "replicationHealth": item.replication_health,
            "failoverHealth": "Normal",
            "healthErrors": list(item.health_errors),
            "policyId": item.policy_id,
            "policyFriendlyName": segment_after(item.policy_id, "replicationPolicies") or "",
            "lastSuccessfulTestFailoverTime": iso(item.last_tfo) if item.last_tfo else None,
            "currentScenario": scenario,
            "failoverRecoveryPointId": item.failover_recovery_point_id,
            "providerSpecificDetails": self._provider_details(item),
            "recoveryContainerId": f"{recovery_fabric_id}/replicationProtectionContainers/{item.recovery_container}",
            "eventCorrelationId": item.lifecycle_id,
        }
        if item.last_failover is not None:
            # Absent until a failover (PPG recording 19:51:56; gone again after switch protection, entries[-1]).
            props = _insert_after(props, "policyFriendlyName", "lastSuccessfulFailoverTime", iso(item.last_failover))
        return {"id": item.id, "name": item.name, "type": ITEM_TYPE, "location": vault.location, "properties": props}

    def test_failover_state(self, item: ProtectedItem) -> tuple[str, str]:
        """(testFailoverState, description): MarkedForDeletion "Cleaning up test environment" while the cleanup
        runs and for ``test_failover_marked_s`` after it (REST cleanup example: the item read back after the
        cleanup job), then None "None" (recorded cluster, A2AClutserTestFailoverJob entries[-1])."""
        if item.tfo == TFO_NONE and item.tfo_marked_until is not None and self.clock.now() < item.tfo_marked_until:
            return TFO_CLEANING, TFO_DESCRIPTIONS[TFO_CLEANING]
        return item.tfo, TFO_DESCRIPTIONS[item.tfo]

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
        return self._a2a_details(item)

    def _a2a_details(self, item: ProtectedItem) -> dict[str, Any]:
        """A2A details in the recorded key order (A2AReprotectTest entry 13). Ids Azure lower-cases are
        lower-cased (fabricObjectId, recoveryFabricObjectId, disk ids, network ids: entry 12, .NET 2 -> 20)."""
        progress = self._progress(item)
        irp = item.phase == INITIAL_REPLICATION
        failed_over = item.phase in (FAILOVER_PENDING_COMMIT, COMMITTING, COMMITTED)
        # RPO is reported once protected and while failed over (PPG 19:51:56: 99; A2AReprotectTest 13: 46), not
        # during initial replication (PPG entries[-1]: null).
        replicating = failed_over or item.phase in (PROTECTED, FAILING_OVER)
        now = self.clock.now()
        vm_state, vm_description = _vm_protection_state(item.phase)
        return {
            "instanceType": A2A,
            "fabricObjectId": item.source_vm_id.lower(),
            "initialPrimaryZone": item.initial_primary_zone,
            "initialPrimaryFabricLocation": item.initial_primary_location,
            "initialRecoveryZone": item.initial_recovery_zone,
            "initialPrimaryExtendedLocation": None,
            "initialRecoveryExtendedLocation": None,
            "initialRecoveryFabricLocation": item.initial_recovery_location,
            "multiVmGroupId": item.multi_vm_group_id,
            "multiVmGroupName": item.multi_vm_group_name,
            "multiVmGroupCreateOption": item.multi_vm_group_option,
            "managementId": item.management_id,
            "protectedDisks": None,
            "unprotectedDisks": None,
            "protectedManagedDisks": [self._disk_details(item, d, progress, failed_over) for d in item.disks],
            "recoveryBootDiagStorageAccountId": None,
            "primaryFabricLocation": item.primary_location,
            "recoveryFabricLocation": item.recovery_location,
            "osType": item.os_type,
            "recoveryAzureVMSize": item.recovery_vm_size or item.vm_size,
            "recoveryAzureVMName": item.recovery_vm_name,
            "recoveryAzureResourceGroupId": item.recovery_rg_id,
            "recoveryCloudService": None,
            "recoveryAvailabilitySet": item.recovery_avset_id,
            "selectedRecoveryAzureNetworkId": item.recovery_network_id.lower() if item.recovery_network_id else None,
            "selectedTfoAzureNetworkId": item.tfo_network_id,
            "vmNics": [],
            "vmSyncedConfigDetails": {"tags": self.synced_tags(item), "inputEndpoints": []},
            "monitoringPercentageCompletion": progress,
            "monitoringJobType": "InitialReplication" if irp else None,
            "lastHeartbeat": iso(now),
            "agentVersion": "9.62.7172.1",
            "agentExpiryDate": "9999-12-31T23:59:59.9999999",
            "isReplicationAgentUpdateRequired": False,
            "isReplicationAgentCertificateUpdateRequired": False,
            "recoveryFabricObjectId": item.failover_vm_id.lower() if failed_over and item.failover_vm_id else None,
            "vmProtectionState": vm_state,
            "vmProtectionStateDescription": vm_description,
            "lifecycleId": item.lifecycle_id,
            "testFailoverRecoveryFabricObjectId": item.test_vm_ids[-1] if item.test_vm_ids else None,
            "rpoInSeconds": 30 if replicating else None,
            "lastRpoCalculatedTime": iso(now) if replicating else None,
            "rtoInSeconds": None,
            "primaryAvailabilityZone": item.primary_zone,
            "recoveryAvailabilityZone": item.recovery_zone,
            "primaryExtendedLocation": None,
            "recoveryExtendedLocation": None,
            "vmEncryptionType": "NotEncrypted",
            "tfoAzureVMName": item.tfo_vm_name,
            "recoveryAzureGeneration": "V1",
            "recoveryProximityPlacementGroupId": item.recovery_ppg_id,
            "autoProtectionOfDataDisk": "Disabled",
            "recoveryVirtualMachineScaleSetId": None,
            "recoveryCapacityReservationGroupId": item.recovery_crg_id,
            "churnOptionSelected": "Normal",
        }

    def _disk_details(self, item: ProtectedItem, disk: Disk, progress: int | None, failed_over: bool) -> dict[str, Any]:
        rg = rg_of(disk.recovery_rg_id) or last_segment(disk.recovery_rg_id)
        sub = sub_of(disk.recovery_rg_id) or item.vault.subscription
        disk_prefix = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks"
        # After a failover ASR names the disk the failed-over VM uses (as given, and once lower-cased) and the
        # replica is gone once committed (A2AReprotectTest entry 13; PPG 20:06:05 still shows the replica).
        target = disk.target_disk_id if failed_over else None
        replica = "" if item.phase == COMMITTED else f"{disk_prefix}/{disk.name}-ASRReplica"
        return {
            "diskId": disk.disk_id.lower(),
            "recoveryResourceGroupId": disk.recovery_rg_id,
            "recoveryTargetDiskId": target,
            "recoveryReplicaDiskId": replica,
            "recoveryOrignalTargetDiskId": target.lower() if target else None,
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
            "monitoringJobType": "InitialReplication" if item.phase == INITIAL_REPLICATION else None,
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


def _vm_protection_state(phase: str) -> tuple[str, str]:
    """A2A ``vmProtectionState``: ``UnprotectedStatesBegin`` "Enabling protection" until protected (.NET entry 20,
    PPG entries[-1]); afterwards the item's own protection state (PPG 19:51:56, 20:06:05; A2AReprotectTest 12)."""
    if phase in (ENABLING, INITIAL_REPLICATION):
        return "UnprotectedStatesBegin", "Enabling protection"
    if phase == ENABLE_FAILED:
        return "UnprotectedStatesBegin", PROTECTION_STATES[phase][1]
    return PROTECTION_STATES[phase]


def _insert_after(props: dict[str, Any], after: str, key: str, value: Any) -> dict[str, Any]:
    """``props`` with ``key`` placed after ``after`` (Azure's key order, kept for readers who diff bodies)."""
    out: dict[str, Any] = {}
    for name, current in props.items():
        out[name] = current
        if name == after:
            out[key] = value
    return out
