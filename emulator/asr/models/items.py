"""Replicated protected items: their state, the state tables, reads, allowed operations, disable and purge.

An item's internal phase maps to ASR's ``protectionState``, description and ``allowedOperations``;
where no public source pins a value down the choice is marked "emulator choice" in the tables below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.asr.models.common import A2A, display_location, name_key, norm_location, parse_filter, same_id, segment_after
from emulator.asr.models.jobs import SCENARIOS, Job, JobTarget, TaskSpec
from emulator.asr.models.vaults import Vault, VaultsMixin
from emulator.errors import ArmError

ITEM_TYPE = "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems"

# Internal phases of an item; each maps to ASR's protectionState / description / allowedOperations.
ENABLING = "Enabling"
ENABLE_FAILED = "EnableFailed"
INITIAL_REPLICATION = "InitialReplication"
PROTECTED = "Protected"
FAILING_OVER = "FailingOver"
FAILOVER_PENDING_COMMIT = "FailoverPendingCommit"
COMMITTING = "Committing"
COMMITTED = "Committed"
REPROTECTING = "Reprotecting"
DISABLING = "Disabling"

#: testFailoverState values. WaitingForCompletion "Waiting for user input" (only TestFailoverCleanup allowed)
#: and MarkedForDeletion "Cleaning up test environment" are the REST examples' (ReplicationProtectedItems_
#: TestFailover / _TestFailoverCleanup); None "None" the recorded cluster (A2AClutserTestFailoverJob);
#: InProgress "Test failover in progress" while the job runs is an emulator choice.
TFO_NONE = "None"
TFO_RUNNING = "InProgress"
TFO_WAITING = "WaitingForCompletion"
TFO_CLEANING = "MarkedForDeletion"

#: phase -> (protectionState, protectionStateDescription). Sources: recorded A2A enable
#: (InitialReplicationInProgress), REST examples (Protected, UnplannedFailoverCommitPendingStatesBegin
#: "Failover completed"), Azure/reliability-workbook#130 (UnplannedFailoverCommitted "Failover committed").
#: In-flight names (FailingOver, Committing, Reprotecting, Disabling) are emulator choices.
PROTECTION_STATES: dict[str, tuple[str, str]] = {
    ENABLING: ("UnprotectedStatesBegin", "Enabling protection"),
    ENABLE_FAILED: ("UnprotectedStatesBegin", "Enable protection failed"),
    INITIAL_REPLICATION: ("InitialReplicationInProgress", "Initial replication is in progress"),
    PROTECTED: ("Protected", "Protected"),
    FAILING_OVER: ("UnplannedFailoverStatesBegin", "Failover in progress"),
    FAILOVER_PENDING_COMMIT: ("UnplannedFailoverCommitPendingStatesBegin", "Failover completed"),
    COMMITTING: ("UnplannedFailoverCommitPendingStatesBegin", "Commit in progress"),
    COMMITTED: ("UnplannedFailoverCommitted", "Failover committed"),
    REPROTECTING: ("ReprotectStatesBegin", "Reprotect in progress"),
    DISABLING: ("UnprotectedStatesBegin", "Disabling protection"),
}

TFO_DESCRIPTIONS = {
    TFO_NONE: "None",
    TFO_RUNNING: "Test failover in progress",
    TFO_WAITING: "Waiting for user input",
    TFO_CLEANING: "Cleaning up test environment",
}

#: Allowed operations per provider and phase, in Azure's order. A2A rows are recorded: initial replication
#: (.NET entry 20, PPG entries[-1]), protected (PPG 19:51:56), failed over (PPG 20:06:05), committed
#: (A2AReprotectTest entries 12-14: switch protection, never ReverseReplicate). EnableFailed is an emulator
#: choice. Hyper-V/VMware lists are the REST examples'.
ALLOWED_OPERATIONS: dict[str, dict[str, list[str]]] = {
    A2A: {
        ENABLE_FAILED: ["DisableProtection"],
        INITIAL_REPLICATION: ["DisableProtection"],
        PROTECTED: ["UnplannedFailover", "DisableProtection", "TestFailover"],
        FAILOVER_PENDING_COMMIT: ["CompleteMigration", "Commit", "DisableProtection", "ChangePit", "SwitchProtection"],
        COMMITTED: ["CompleteMigration", "DisableProtection", "SwitchProtection"],
    },
    "onprem": {
        ENABLE_FAILED: ["DisableProtection"],
        INITIAL_REPLICATION: ["DisableProtection"],
        PROTECTED: ["PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover"],
        FAILOVER_PENDING_COMMIT: ["CompleteMigration", "Commit", "DisableProtection", "ChangePit"],
        COMMITTED: ["CompleteMigration", "DisableProtection", "Failback"],
    },
}


@dataclass
class Disk:
    disk_id: str
    name: str
    disk_type: str
    capacity_bytes: int
    recovery_rg_id: str
    replica_account_type: str
    target_account_type: str
    staging_account_id: str | None = None
    #: The disk the failed-over VM uses (set by a failover, cleared by switch protection).
    target_disk_id: str | None = None


@dataclass
class ProtectedItem:
    vault: Vault
    name: str
    provider: str
    fabric: str  # home: where the ARM id lives
    container: str
    recovery_fabric: str
    recovery_container: str
    policy_id: str
    source_vm_id: str
    friendly_name: str
    primary_location: str
    recovery_location: str
    os_type: str = "Windows"
    vm_size: str = "Standard_D2s_v3"
    recovery_rg_id: str = ""
    recovery_ppg_id: str | None = None
    recovery_avset_id: str | None = None
    recovery_zone: str | None = None
    recovery_crg_id: str | None = None
    recovery_vm_name: str = ""
    recovery_vm_size: str | None = None
    recovery_network_id: str | None = None
    tfo_network_id: str | None = None
    tfo_vm_name: str = ""
    primary_zone: str | None = None
    disks: list[Disk] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    nic_names: list[str] = field(default_factory=list)
    multi_vm_group_name: str = ""
    multi_vm_group_id: str = ""
    multi_vm_group_option: str = "AutoCreated"
    phase: str = ENABLING
    tfo: str = TFO_NONE
    active_location: str = "Primary"
    reversed: bool = False
    replication_health: str = "Normal"
    health_errors: list[dict[str, Any]] = field(default_factory=list)
    ir_started: datetime | None = None
    ir_done: datetime | None = None
    protected_since: datetime | None = None
    scenario: tuple[str, str, datetime] | None = None
    last_failover: datetime | None = None
    last_tfo: datetime | None = None
    failover_recovery_point_id: str | None = None
    failover_vm_id: str | None = None
    previous_source_vm_id: str | None = None
    test_vm_ids: list[str] = field(default_factory=list)
    #: The test VM's disks (``-ASRtest``) and NICs (``-test``), deleted by the cleanup with the VM.
    test_disk_ids: list[str] = field(default_factory=list)
    test_nic_ids: list[str] = field(default_factory=list)
    #: After a cleanup the item reads MarkedForDeletion until then (REST cleanup example), then None.
    tfo_marked_until: datetime | None = None
    lifecycle_id: str = ""
    management_id: str = ""
    initial_primary_location: str = ""
    initial_recovery_location: str = ""
    initial_primary_zone: str = ""
    initial_recovery_zone: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    protectable_item_id: str | None = None
    #: ASR's GUID of the protected VM: job targetObjectId, plan virtualMachineId; kept across switch protection.
    entity_id: str = ""

    @property
    def key(self) -> str:
        return name_key(self.fabric, self.container, self.name)

    @property
    def id(self) -> str:
        return (
            f"{self.vault.id}/replicationFabrics/{self.fabric}/replicationProtectionContainers/{self.container}"
            f"/replicationProtectedItems/{self.name}"
        )


@dataclass(frozen=True)
class BulkItemSpec:
    """One item of a bulk seed that protects an existing VM (admin ``items/bulk`` with ``items``)."""

    source_vm_id: str
    name: str | None = None
    recovery_ppg_id: str | None = None
    recovery_rg_id: str | None = None


class ItemsMixin(VaultsMixin):
    """Item reads, the allowed-operations check every action makes, and removal (disable, purge)."""

    def item(self, vault: Vault, fabric: str, container: str, name: str) -> ProtectedItem:
        self.tick()
        found = vault.items.get(name_key(fabric, container, name))
        if found is None:
            raise ArmError(
                404,
                "NotFound",
                f"Replicated item '{name}' was not found in protection container '{container}' of fabric '{fabric}'.",
            )
        return found

    def item_by_id(self, vault: Vault, item_id: str) -> ProtectedItem | None:
        fabric = segment_after(item_id, "replicationFabrics")
        container = segment_after(item_id, "replicationProtectionContainers")
        name = segment_after(item_id, "replicationProtectedItems")
        if not (fabric and container and name):
            return None
        return vault.items.get(name_key(fabric, container, name))

    def items(self, vault: Vault, filter_text: str | None = None) -> list[ProtectedItem]:
        self.tick()
        terms = parse_filter(filter_text)
        items: Iterable[ProtectedItem] = vault.items.values()
        if "recoveryplanname" in terms:
            # A plan's items, looked up by the keys of its item ids (not a scan of the vault: at 10,000 items a
            # scan made the emulator a fifth of a fleet failover's measured time); an id that no longer names
            # an item exactly (moved by switch protection) matches nothing, as before.
            plan = vault.plans.get(terms["recoveryplanname"].lower())
            found = [(ref, self.item_by_id(vault, ref)) for ref in (plan.item_ids() if plan else [])]
            items = [item for ref, item in found if item is not None and item.id.lower() == ref.lower()]
        if "sourcefabricname" in terms:
            items = [i for i in items if name_key(i.fabric) == name_key(terms["sourcefabricname"])]
        if "sourcefabriclocation" in terms:
            items = [i for i in items if i.primary_location == norm_location(terms["sourcefabriclocation"])]
        if "fabricobjectid" in terms:
            items = [i for i in items if same_id(i.source_vm_id, terms["fabricobjectid"])]
        if "instancetype" in terms:
            items = [i for i in items if i.provider.lower() == terms["instancetype"].lower()]
        if "multivmgroupcreateoption" in terms:
            items = [i for i in items if i.multi_vm_group_option.lower() == terms["multivmgroupcreateoption"].lower()]
        return list(items)

    def items_in_container(self, vault: Vault, fabric: str, container: str) -> list[ProtectedItem]:
        self.tick()
        self.container(vault, fabric, container)
        prefix = name_key(fabric, container) + "/"
        return [i for k, i in vault.items.items() if k.startswith(prefix)]

    def allowed_operations(self, item: ProtectedItem) -> list[str]:
        if item.tfo == TFO_WAITING:
            return ["TestFailoverCleanup"]
        if item.tfo in (TFO_RUNNING, TFO_CLEANING):
            return []
        table = ALLOWED_OPERATIONS[A2A] if item.provider == A2A else ALLOWED_OPERATIONS["onprem"]
        return list(table.get(item.phase, []))

    def _require(self, item: ProtectedItem, operation: str) -> None:
        allowed = self.allowed_operations(item)
        if operation not in allowed:
            state, _ = PROTECTION_STATES[item.phase]
            raise ArmError(
                400,
                "OperationNotAllowedInCurrentState",
                f"The operation '{operation}' is not allowed on replicated item '{item.name}' in state '{state}'"
                f"{' (test failover ' + item.tfo + ')' if item.tfo != TFO_NONE else ''}. "
                f"Allowed operations: {', '.join(allowed) or 'none (an operation is in progress)'}. "
                "Wait for the current job to finish or run an allowed operation first.",
            )

    def _item_target(self, item: ProtectedItem) -> JobTarget:
        """Item jobs name the VM by ASR's GUID and friendly name (A2AReprotectTest entry 17; PPG recording)."""
        if not item.entity_id:
            item.entity_id = self._stable_id(item.vault.id, "entity", item.name, item.source_vm_id)
        return JobTarget(item.entity_id, item.friendly_name, "ProtectionEntity", item.id)

    def _affected(self, item: ProtectedItem) -> dict[str, Any]:
        """``AsrJobDetails`` of an item job, keys as recorded (PPG recording EnableDr job at 19:26:44)."""
        vault = item.vault
        return {
            "instanceType": "AsrJobDetails",
            "affectedObjectDetails": {
                "primaryVmId": self._item_target(item).object_id,
                "primaryVmName": item.friendly_name,
                "recoveryVmId": "",
                "recoveryVmName": item.recovery_vm_name or item.friendly_name,
                "protectionProfileId": self._stable_id(
                    vault.id, "policy", segment_after(item.policy_id, "replicationPolicies") or ""
                ),
                "primaryCloudId": self._stable_id(vault.id, "container", item.fabric, item.container),
                "primaryCloudName": item.container,
                "recoveryCloudId": self._stable_id(vault.id, "container", item.recovery_fabric, item.recovery_container),
                "recoveryCloudName": item.recovery_container,
                "primaryVmmId": self._stable_id(vault.id, "fabric", item.fabric),
                "primaryVmmName": display_location(item.primary_location),
                "recoveryVmmId": self._stable_id(vault.id, "fabric", item.recovery_fabric),
                "recoveryVmmName": display_location(item.recovery_location),
                "primaryFabricProviderId": "Azure",
                "recoveryFabricProviderId": "Azure",
            },
        }

    def disable(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any] | None = None) -> Job:
        item = self.item(vault, fabric, container, name)
        self._require(item, "DisableProtection")
        previous = item.phase
        item.phase = DISABLING
        return self._removal_job(vault, item, "DisableDr", self.timings.disable_s, previous)

    def purge(self, vault: Vault, fabric: str, container: str, name: str) -> Job:
        item = self.item(vault, fabric, container, name)
        previous = item.phase
        item.phase = DISABLING
        return self._removal_job(vault, item, "PurgeProtection", self.timings.purge_s, previous)

    def _removal_job(self, vault: Vault, item: ProtectedItem, scenario: str, duration: float, previous: str) -> Job:
        def complete(_: Job) -> None:
            if vault.items.get(item.key) is item:
                del vault.items[item.key]
            for plan in vault.plans.values():
                for group in plan.groups:
                    group["replicationProtectedItems"] = [
                        ref for ref in group.get("replicationProtectedItems") or [] if not same_id(ref.get("id"), item.id)
                    ]

        def failed() -> None:
            if item.phase == DISABLING:
                item.phase = previous
                item.scenario = None

        job = self._start_job(
            vault,
            scenario,
            target=self._item_target(item),
            duration_s=duration,
            tasks=[TaskSpec(f"{scenario}Task", SCENARIOS[scenario], task_id=f"{scenario}Task")],
            on_complete=complete,
            on_failed=failed,
            result=lambda: None,
            custom=self._affected(item),
        )
        item.scenario = (scenario, job.id, self.clock.now())
        return job
