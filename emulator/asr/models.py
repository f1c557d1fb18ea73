"""Azure Site Recovery state and behaviour, without HTTP.

What it models (Azure-to-Azure first, the way ppg-dr uses it):

- A vault holds fabrics (one per Azure region), protection containers, replication policies,
  container mappings (primary container -> recovery container + policy), network mappings,
  replication protected items ("items"), jobs and recovery plans.
- Every write ASR does asynchronously is a **job** backed by an :class:`~emulator.operations.Operation`
  on the emulator clock: the SDK polls ``replicationOperationStatus/{job}`` until the operation is done,
  fault injection can fail it by kind (``asr.<ScenarioName>``), and the job's tasks progress with time.
- Item life cycle (A2A): enable job -> initial replication (progress on the clock) -> ``Protected`` ->
  unplanned failover (VMs created through the compute backend, in the recovery PPG when capacity allows,
  outside it otherwise, recorded as a job warning) -> commit -> switch protection / reprotect (the item
  moves to the recovery container and replicates back) -> initial replication -> ``Protected`` ->
  failback (the original VMs are used again) -> commit -> switch protection -> ... ; test failover
  creates ``<vm>-test`` VMs, cleanup removes them; disable removes the item and never touches the VM.
- Refusals are :class:`~emulator.errors.ArmError` with the ARM error envelope.

State names (protectionState, allowedOperations, job scenario names) follow the REST API examples, the
recorded A2A session and the Site Recovery docs; where no public source pins a value down the choice is
marked "emulator choice" in the constant tables below.

Time-driven transitions that no request polls (initial replication finishing) run from a small timer
heap processed in order of due time on every call (:meth:`AsrBackend.tick`), so a clock jump of an hour
plays every step in between in order.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from emulator.clock import Clock, iso
from emulator.errors import ArmError
from emulator.operations import FAILED, IN_PROGRESS, SUCCEEDED, Operation, Operations
from emulator.routing import DEFAULT_PAGE_SIZE

A2A = "A2A"
INMAGE_RCM = "InMageRcm"
HYPERV_AZURE = "HyperVReplicaAzure"
PROVIDERS = (A2A, INMAGE_RCM, HYPERV_AZURE)

#: ASR's "never" timestamp (currentScenario of an idle item, as in the REST examples).
NEVER = "1753-01-01T01:01:01Z"
#: Multi-VM consistency groups hold at most 16 VMs (Site Recovery support matrix).
MULTI_VM_GROUP_LIMIT = 16
#: ASR ids start with ``/Subscriptions/`` (capital S) in real payloads; keep it so callers must compare
#: ids case-insensitively.
_SUBS = "/Subscriptions"

MAPPING_TYPE = (
    "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectionContainerMappings"
)
ITEM_TYPE = "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationProtectionContainers/replicationProtectedItems"


class ComputeApi(Protocol):
    """What ASR needs from the compute backend (``emulator.compute``)."""

    def put_vm(
        self, subscription: str, resource_group: str, name: str, body: dict[str, Any], *, allow_placement_fallback: bool = False
    ) -> dict[str, Any]: ...

    def get_vm(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]: ...

    def delete_vm(self, subscription: str, resource_group: str, name: str) -> object: ...

    def find(self, resource_id: str) -> dict[str, Any] | None: ...

    def capacity_allows(self, ppg_id: str, vm_size: str) -> bool: ...


@dataclass
class Timings:
    """Durations on the emulator clock, in seconds (adjustable through the admin API)."""

    enable_s: float = 60
    initial_replication_s: float = 300
    failover_s: float = 120
    commit_s: float = 30
    switch_protection_s: float = 90
    test_failover_s: float = 120
    test_failover_cleanup_s: float = 60
    disable_s: float = 30
    purge_s: float = 10
    update_s: float = 10
    setup_s: float = 0
    plan_per_item_s: float = 15

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if not hasattr(self, name):
                raise ArmError(400, "InvalidParameter", f"Unknown ASR timing '{name}'.")
            if not isinstance(value, int | float) or value < 0:
                raise ArmError(400, "InvalidParameter", f"ASR timing '{name}' must be a number >= 0.")
            setattr(self, name, float(value))

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


# --- ids -------------------------------------------------------------------------------------------


def _k(*parts: str) -> str:
    return "/".join(p.lower() for p in parts)


def _segments(resource_id: str) -> list[str]:
    return [p for p in resource_id.strip().split("/") if p]


def segment_after(resource_id: str, name: str) -> str | None:
    """The path segment following ``name`` (case-insensitive), e.g. the resource group of an id."""
    parts = _segments(resource_id)
    for index, part in enumerate(parts[:-1]):
        if part.lower() == name.lower():
            return parts[index + 1]
    return None


def rg_of(resource_id: str) -> str | None:
    return segment_after(resource_id, "resourceGroups")


def sub_of(resource_id: str) -> str | None:
    return segment_after(resource_id, "subscriptions")


def last_segment(resource_id: str) -> str:
    parts = _segments(resource_id)
    return parts[-1] if parts else ""


def same_id(a: str | None, b: str | None) -> bool:
    return (a or "").strip().rstrip("/").lower() == (b or "").strip().rstrip("/").lower()


def _norm_location(location: str) -> str:
    return location.replace(" ", "").lower()


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    props = resource.get("properties")
    return props if isinstance(props, dict) else resource


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict):
        ref = value.get("id")
        return ref if isinstance(ref, str) and ref else None
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# --- state ---------------------------------------------------------------------------------------


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

TFO_NONE = "None"
TFO_RUNNING = "InProgress"
TFO_WAITING = "WaitingForCompletion"
TFO_CLEANING = "MarkedForDeletion"

#: phase -> (protectionState, protectionStateDescription). Sources: recorded A2A enable
#: (InitialReplicationInProgress), REST examples (Protected, UnplannedFailoverCommitPendingStatesBegin
#: "Failover completed"), Azure/reliability-workbook#130 (UnplannedFailoverCommitted "Failover committed").
#: In-flight names (FailingOver, Committing, Reprotecting, Disabling) are emulator choices.
_PROTECTION_STATES: dict[str, tuple[str, str]] = {
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

_TFO_DESCRIPTIONS = {
    TFO_NONE: "None",
    TFO_RUNNING: "Test failover in progress",
    TFO_WAITING: "Waiting for user input",
    TFO_CLEANING: "Cleaning up test environment",
}

#: Allowed operations per provider and phase. A2A has no planned failover (DESIGN 7); a protected A2A
#: item lists UnplannedFailover/TestFailover/DisableProtection, a committed one ReverseReplicate
#: (reprotect = switch protection). Hyper-V/VMware lists are the REST examples'.
_ALLOWED: dict[str, dict[str, list[str]]] = {
    A2A: {
        ENABLE_FAILED: ["DisableProtection"],
        INITIAL_REPLICATION: ["DisableProtection"],
        PROTECTED: ["UnplannedFailover", "DisableProtection", "TestFailover"],
        FAILOVER_PENDING_COMMIT: ["Commit", "ChangePit", "DisableProtection"],
        COMMITTED: ["ReverseReplicate", "DisableProtection"],
    },
    "onprem": {
        ENABLE_FAILED: ["DisableProtection"],
        INITIAL_REPLICATION: ["DisableProtection"],
        PROTECTED: ["PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover"],
        FAILOVER_PENDING_COMMIT: ["CompleteMigration", "Commit", "DisableProtection", "ChangePit"],
        COMMITTED: ["CompleteMigration", "DisableProtection", "Failback"],
    },
}

#: (scenarioName, friendlyName) of jobs. ReplicationJobs REST examples give AddProtectionProfile,
#: DeleteRecoveryPlan, CreateSite; the others are emulator choices in the same style.
SCENARIOS: dict[str, str] = {
    "EnableDr": "Enable replication",
    "DisableDr": "Disable replication",
    "PurgeProtection": "Purge replication",
    "UpdateVmProperties": "Update the virtual machine",
    "UnplannedFailover": "Failover",
    "PlannedFailover": "Planned failover",
    "CommitFailover": "Commit",
    "SwitchProtection": "Reprotect",
    "TestFailover": "Test failover",
    "TestFailoverCleanup": "Cleanup test failover",
    "CreateFabric": "Create fabric",
    "DeleteFabric": "Delete fabric",
    "CreateProtectionContainer": "Create protection container",
    "AddProtectionProfile": "Create replication policy",
    "UpdateProtectionProfile": "Update replication policy",
    "RemoveProtectionProfile": "Delete replication policy",
    "ConfigureProtection": "Associate replication policy",
    "RemoveProtectionContainer": "Remove protection container",
    "RemoveProtectionContainerMapping": "Dissociate replication policy",
    "MapNetwork": "Map networks",
    "UnmapNetwork": "Unmap networks",
    "CreateRecoveryPlan": "Create a recovery plan",
    "UpdateRecoveryPlan": "Update a recovery plan",
    "DeleteRecoveryPlan": "Delete a recovery plan",
}


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
    lifecycle_id: str = ""
    management_id: str = ""
    initial_primary_location: str = ""
    initial_recovery_location: str = ""
    initial_primary_zone: str = ""
    initial_recovery_zone: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    protectable_item_id: str | None = None

    @property
    def key(self) -> str:
        return _k(self.fabric, self.container, self.name)

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


@dataclass
class TaskSpec:
    name: str
    friendly: str
    weight: float = 1.0
    custom: dict[str, Any] = field(default_factory=lambda: {"instanceType": "JobTaskDetails"})
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Job:
    vault: Vault
    id: str
    scenario: str
    target_id: str
    target_name: str
    target_type: str
    op: Operation
    tasks: list[TaskSpec]
    activity_id: str
    custom: dict[str, Any] = field(default_factory=lambda: {"instanceType": "AsrJobDetails", "affectedObjectDetails": {}})
    warnings: list[dict[str, Any]] = field(default_factory=list)
    result: Callable[[], dict[str, Any] | None] | None = None
    on_failed: Callable[[], None] | None = None
    settled: bool = False

    @property
    def arm_id(self) -> str:
        return f"{self.vault.id}/replicationJobs/{self.id}"


@dataclass
class RecoveryPlan:
    vault: Vault
    name: str
    primary_fabric_id: str
    recovery_fabric_id: str
    deployment_model: str
    groups: list[dict[str, Any]]
    provider_input: list[dict[str, Any]] = field(default_factory=list)
    scenario: tuple[str, str, datetime] | None = None
    scenario_status: str | None = None
    scenario_status_description: str | None = None
    last_planned_failover: datetime | None = None
    last_unplanned_failover: datetime | None = None
    last_test_failover: datetime | None = None

    @property
    def id(self) -> str:
        return f"{self.vault.id}/replicationRecoveryPlans/{self.name}"


# --- the backend -----------------------------------------------------------------------------------


class AsrBackend:
    """All Site Recovery state of one emulator."""

    def __init__(self, *, clock: Clock, operations: Operations, compute: ComputeApi, seed: int = 20250801) -> None:
        self.clock = clock
        self.operations = operations
        self.compute = compute
        self.timings = Timings()
        self.retry_after_s: int | None = None
        #: Items per page of list responses (ASR pages its lists; nextLink carries a skip token).
        self.page_size = DEFAULT_PAGE_SIZE
        self._seed = seed
        self._rng = random.Random(seed)
        self._vaults: dict[str, Vault] = {}
        self._timers: list[tuple[datetime, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._active_jobs: list[Job] = []

    # ----- housekeeping ----------------------------------------------------------------------------

    def reset(self) -> None:
        self._rng = random.Random(self._seed)
        self._vaults.clear()
        self._timers.clear()
        self._active_jobs.clear()
        self.timings = Timings()
        self.retry_after_s = None
        self.page_size = DEFAULT_PAGE_SIZE

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _stable_id(self, *parts: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, _k(*parts)))

    def _schedule(self, due: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (due, next(self._timer_seq), action))

    def tick(self) -> None:
        """Complete due operations, settle finished jobs and run due timers, in time order."""
        self.operations.advance()
        now = self.clock.now()
        while True:
            self._settle_jobs()
            if not self._timers or self._timers[0][0] > now:
                break
            _, _, action = heapq.heappop(self._timers)
            action()
        self._settle_jobs()

    def _settle_jobs(self) -> None:
        still: list[Job] = []
        for job in self._active_jobs:
            if not job.op.done:
                still.append(job)
                continue
            job.settled = True
            if job.op.status == FAILED and job.on_failed is not None:
                job.on_failed()
        self._active_jobs = still

    # ----- jobs ------------------------------------------------------------------------------------

    def _start_job(
        self,
        vault: Vault,
        scenario: str,
        *,
        target_id: str,
        target_name: str,
        target_type: str,
        duration_s: float,
        tasks: list[TaskSpec],
        on_complete: Callable[[Job], None] | None = None,
        on_failed: Callable[[], None] | None = None,
        result: Callable[[], dict[str, Any] | None] | None = None,
        custom: dict[str, Any] | None = None,
    ) -> Job:
        job_id = self.new_id()
        holder: list[Job] = []

        def complete() -> Any:
            if on_complete is not None:
                on_complete(holder[0])
            return None

        op = self._start_op(scenario, duration_s, complete, job_id, vault, target_id)
        job = Job(
            vault=vault,
            id=job_id,
            scenario=scenario,
            target_id=target_id,
            target_name=target_name,
            target_type=target_type,
            op=op,
            tasks=tasks,
            activity_id=f"{self.new_id()} ActivityId: {self.new_id()}",
            result=result,
            on_failed=on_failed,
        )
        if custom is not None:
            job.custom = custom
        holder.append(job)
        vault.jobs[job_id.lower()] = job
        if op.done:
            job.settled = True
            if op.status == FAILED and on_failed is not None:
                on_failed()
        else:
            self._active_jobs.append(job)
        return job

    def _start_op(
        self, scenario: str, duration_s: float, complete: Callable[[], Any], job_id: str, vault: Vault, target_id: str
    ) -> Operation:
        # Operations.start completes zero-length operations at once (before the Job object exists), so a
        # zero-length job is started with a tiny positive duration and advanced explicitly.
        op = self.operations.start(
            f"asr.{scenario}",
            max(duration_s, 1e-6),
            complete,
            op_id=job_id,
            context={"vault": vault.id, "scenario": scenario, "target": target_id},
        )
        if duration_s <= 0:
            op.due = op.started
        return op

    def _finish_instant(self, job: Job) -> None:
        if job.op.due <= self.clock.now():
            self.tick()

    def get_job(self, vault: Vault, name: str) -> Job:
        self.tick()
        job = vault.jobs.get(name.lower())
        if job is None:
            raise ArmError(404, "NotFound", f"The job '{name}' was not found in vault '{vault.name}'.")
        return job

    def find_job(self, name: str) -> Job | None:
        for vault in self._vaults.values():
            job = vault.jobs.get(name.lower())
            if job is not None:
                return job
        return None

    def list_jobs(self, vault: Vault, filter_text: str | None = None) -> list[Job]:
        self.tick()
        terms = parse_filter(filter_text)
        jobs = sorted(vault.jobs.values(), key=lambda j: j.op.started, reverse=True)
        out: list[Job] = []
        for job in jobs:
            if "starttime" in terms and job.op.started < _parse_time(terms["starttime"]):
                continue
            if "endtime" in terms and job.op.started > _parse_time(terms["endtime"]):
                continue
            if "jobstatus" in terms and job_state(job)[0].lower() not in {
                s.strip().lower() for s in terms["jobstatus"].split(",")
            }:
                continue
            if "affectedobjecttypes" in terms and job.target_type.lower() not in {
                s.strip().lower() for s in terms["affectedobjecttypes"].split(",")
            }:
                continue
            if "jobname" in terms and job.scenario.lower() != terms["jobname"].lower():
                continue
            out.append(job)
        return out

    # ----- vaults ----------------------------------------------------------------------------------

    def put_vault(self, subscription: str, resource_group: str, name: str, body: dict[str, Any]) -> Vault:
        location = _str(body.get("location"))
        existing = self._vaults.get(_k(subscription, resource_group, name))
        if existing is not None:
            if isinstance(body.get("tags"), dict):
                existing.tags = dict(body["tags"])
            return existing
        if location is None:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        vault = Vault(subscription, resource_group, name, _norm_location(location), dict(body.get("tags") or {}))
        self._vaults[_k(subscription, resource_group, name)] = vault
        return vault

    def vault(self, subscription: str, resource_group: str, name: str) -> Vault:
        self.tick()
        vault = self._vaults.get(_k(subscription, resource_group, name))
        if vault is None:
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.RecoveryServices/vaults/{name}' under resource group '{resource_group}' was not found.",
            )
        return vault

    def vaults(self) -> list[Vault]:
        return list(self._vaults.values())

    def delete_vault(self, subscription: str, resource_group: str, name: str) -> None:
        vault = self.vault(subscription, resource_group, name)
        if vault.items:
            raise ArmError(
                400,
                "ServiceResourceNotEmpty",
                f"Vault '{name}' cannot be deleted as there are existing resources within the vault "
                f"({len(vault.items)} replicated items). Disable replication for them first.",
            )
        del self._vaults[_k(subscription, resource_group, name)]

    # ----- fabrics ---------------------------------------------------------------------------------

    def create_fabric(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        custom = _props(body).get("customDetails") or {}
        kind = _str(custom.get("instanceType")) or "Azure"
        location = _str(custom.get("location"))
        if kind.lower() != "azure":
            raise ArmError(
                400,
                "FabricTypeNotSupported",
                f"Fabric type '{kind}' needs an on-premises configuration server or Hyper-V site registration; "
                "the emulator creates Azure fabrics only. Seed on-premises items through /_emulator/asr/items.",
            )
        if location is None:
            raise ArmError(400, "InvalidParameter", "customDetails.location is required for an Azure fabric.")
        fabric = vault.fabrics.get(name.lower())
        if fabric is None:
            fabric = Fabric(name, _norm_location(location), self._stable_id(vault.id, "fabric", name))
            vault.fabrics[name.lower()] = fabric
        elif _norm_location(location) != fabric.location:
            raise ArmError(409, "FabricAlreadyExists", f"Fabric '{name}' already exists for location '{fabric.location}'.")
        return self._setup_job(
            vault,
            "CreateFabric",
            f"{vault.id}/replicationFabrics/{fabric.name}",
            name,
            "Fabric",
            result=lambda: self.fabric_body(vault, fabric),
        )

    def fabric(self, vault: Vault, name: str) -> Fabric:
        fabric = vault.fabrics.get(name.lower())
        if fabric is None:
            raise ArmError(404, "NotFound", f"Fabric '{name}' was not found in vault '{vault.name}'.")
        return fabric

    def delete_fabric(self, vault: Vault, name: str) -> Job:
        fabric = self.fabric(vault, name)
        busy = [i for i in vault.items.values() if _k(i.fabric) == _k(fabric.name) or _k(i.recovery_fabric) == _k(fabric.name)]
        if busy:
            raise ArmError(
                400,
                "FabricHasProtectedItems",
                f"Fabric '{fabric.name}' has {len(busy)} replicated items. Disable replication for them first.",
            )

        def done(_: Job) -> None:
            vault.fabrics.pop(name.lower(), None)

        return self._setup_job(
            vault, "DeleteFabric", f"{vault.id}/replicationFabrics/{fabric.name}", name, "Fabric", on_complete=done
        )

    def fabric_body(self, vault: Vault, fabric: Fabric) -> dict[str, Any]:
        return {
            "id": f"{vault.id}/replicationFabrics/{fabric.name}",
            "name": fabric.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics",
            "location": vault.location,
            "properties": {
                "friendlyName": fabric.name,
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

    # ----- containers ------------------------------------------------------------------------------

    def create_container(self, vault: Vault, fabric_name: str, name: str, body: dict[str, Any]) -> Job:
        fabric = self.fabric(vault, fabric_name)
        container = fabric.containers.get(name.lower())
        if container is None:
            container = Container(fabric, name)
            fabric.containers[name.lower()] = container
        return self._setup_job(
            vault,
            "CreateProtectionContainer",
            self.container_id(vault, container),
            name,
            "ProtectionContainer",
            result=lambda: self.container_body(vault, container),
        )

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
        prefix = _k(container.fabric.name, container.name) + "/"
        if any(k.startswith(prefix) for k in vault.items) or container.mappings:
            raise ArmError(
                400,
                "ProtectionContainerNotEmpty",
                f"Protection container '{container.name}' has replicated items or container mappings. Remove them first.",
            )

        def done(_: Job) -> None:
            container.fabric.containers.pop(name.lower(), None)

        return self._setup_job(
            vault, "RemoveProtectionContainer", self.container_id(vault, container), name, "ProtectionContainer", on_complete=done
        )

    def container_id(self, vault: Vault, container: Container) -> str:
        return f"{vault.id}/replicationFabrics/{container.fabric.name}/replicationProtectionContainers/{container.name}"

    def container_body(self, vault: Vault, container: Container) -> dict[str, Any]:
        count = sum(1 for i in vault.items.values() if _k(i.fabric, i.container) == _k(container.fabric.name, container.name))
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
                "fabricFriendlyName": _display_location(container.fabric.location),
                "friendlyName": container.name,
                "fabricType": "Azure",
                "protectedItemCount": count,
                "pairingStatus": "Paired" if paired else "NotPaired",
                "role": "Primary" if container.mappings else ("Recovery" if paired else ""),
                "fabricSpecificDetails": None,
            },
        }

    # ----- policies --------------------------------------------------------------------------------

    def create_policy(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        specific = _props(body).get("providerSpecificInput") or {}
        provider = _str(specific.get("instanceType")) or A2A
        policy = vault.policies.get(name.lower()) or Policy(name, provider)
        policy.provider = provider
        _apply_policy_settings(policy, specific)
        vault.policies[name.lower()] = policy
        return self._setup_job(
            vault,
            "AddProtectionProfile",
            self.policy_id(vault, policy),
            name,
            "ProtectionProfile",
            result=lambda: self.policy_body(vault, policy),
        )

    def update_policy(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        policy = self.policy(vault, name)
        specific = _props(body).get("replicationProviderSettings") or {}
        _apply_policy_settings(policy, specific)
        return self._setup_job(
            vault,
            "UpdateProtectionProfile",
            self.policy_id(vault, policy),
            name,
            "ProtectionProfile",
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

        return self._setup_job(
            vault, "RemoveProtectionProfile", self.policy_id(vault, policy), name, "ProtectionProfile", on_complete=done
        )

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

    # ----- container mappings ----------------------------------------------------------------------

    def create_mapping(self, vault: Vault, fabric_name: str, container_name: str, name: str, body: dict[str, Any]) -> Job:
        container = self.container(vault, fabric_name, container_name)
        props = _props(body)
        target_id = _str(props.get("targetProtectionContainerId"))
        policy_id = _str(props.get("policyId"))
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
            _str(specific.get("agentAutoUpdateStatus")) or "Disabled",
            _str(specific.get("automationAccountArmId")),
        )
        container.mappings[name.lower()] = mapping
        return self._setup_job(
            vault,
            "ConfigureProtection",
            self.mapping_id(vault, mapping),
            name,
            "ProtectionContainerMapping",
            result=lambda: self.mapping_body(vault, mapping),
        )

    def mapping(self, vault: Vault, fabric_name: str, container_name: str, name: str) -> ContainerMapping:
        container = self.container(vault, fabric_name, container_name)
        mapping = container.mappings.get(name.lower())
        if mapping is None:
            raise ArmError(404, "NotFound", f"Protection container mapping '{name}' was not found.")
        return mapping

    def mappings(self, vault: Vault, fabric_name: str | None = None, container_name: str | None = None) -> list[ContainerMapping]:
        if fabric_name and container_name:
            return list(self.container(vault, fabric_name, container_name).mappings.values())
        return [m for c in self.containers(vault) for m in c.mappings.values()]

    def delete_mapping(self, vault: Vault, fabric_name: str, container_name: str, name: str) -> Job:
        mapping = self.mapping(vault, fabric_name, container_name, name)
        source_key = _k(mapping.container.fabric.name, mapping.container.name)
        users = [
            i
            for i in vault.items.values()
            if _k(i.fabric, i.container) == source_key
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

        return self._setup_job(
            vault,
            "RemoveProtectionContainerMapping",
            self.mapping_id(vault, mapping),
            name,
            "ProtectionContainerMapping",
            on_complete=done,
        )

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
                "sourceFabricFriendlyName": _display_location(mapping.container.fabric.location),
                "targetFabricFriendlyName": _display_location(target.fabric.location),
                "policyFriendlyName": policy.name if policy else "",
            },
        }

    def _mapping_between(self, vault: Vault, source: Container, target: Container) -> ContainerMapping | None:
        target_id = self.container_id(vault, target)
        for mapping in source.mappings.values():
            if same_id(mapping.target_container_id, target_id):
                return mapping
        return None

    # ----- networks --------------------------------------------------------------------------------

    def create_network_mapping(self, vault: Vault, fabric_name: str, network: str, name: str, body: dict[str, Any]) -> Job:
        fabric = self.fabric(vault, fabric_name)
        props = _props(body)
        recovery_fabric = self.fabric(vault, _str(props.get("recoveryFabricName")) or "")
        recovery_network = _str(props.get("recoveryNetworkId"))
        specific = props.get("fabricSpecificDetails") or {}
        primary_network = _str(specific.get("primaryNetworkId"))
        if recovery_network is None or primary_network is None:
            raise ArmError(400, "InvalidParameter", "recoveryNetworkId and fabricSpecificDetails.primaryNetworkId are required.")
        vault.networks.setdefault(_k(fabric.name, network), Network(fabric.name, network))
        mapping = NetworkMapping(fabric.name, network, name, recovery_fabric.name, recovery_network, primary_network)
        vault.network_mappings[_k(fabric.name, network, name)] = mapping
        return self._setup_job(
            vault,
            "MapNetwork",
            self.network_mapping_id(vault, mapping),
            name,
            "NetworkMapping",
            result=lambda: self.network_mapping_body(vault, mapping),
        )

    def network_mapping(self, vault: Vault, fabric_name: str, network: str, name: str) -> NetworkMapping:
        mapping = vault.network_mappings.get(_k(fabric_name, network, name))
        if mapping is None:
            raise ArmError(404, "NotFound", f"Network mapping '{name}' was not found.")
        return mapping

    def network_mappings(self, vault: Vault, fabric_name: str | None = None, network: str | None = None) -> list[NetworkMapping]:
        return [
            m
            for m in vault.network_mappings.values()
            if (fabric_name is None or _k(m.fabric) == _k(fabric_name)) and (network is None or _k(m.network) == _k(network))
        ]

    def delete_network_mapping(self, vault: Vault, fabric_name: str, network: str, name: str) -> Job:
        mapping = self.network_mapping(vault, fabric_name, network, name)

        def done(_: Job) -> None:
            vault.network_mappings.pop(_k(fabric_name, network, name), None)

        return self._setup_job(
            vault, "UnmapNetwork", self.network_mapping_id(vault, mapping), name, "NetworkMapping", on_complete=done
        )

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
        network = vault.networks.get(_k(fabric_name, name))
        if network is None:
            raise ArmError(404, "NotFound", f"Network '{name}' was not found in fabric '{fabric_name}'.")
        return network

    def networks(self, vault: Vault, fabric_name: str | None = None) -> list[Network]:
        return [n for n in vault.networks.values() if fabric_name is None or _k(n.fabric) == _k(fabric_name)]

    def network_body(self, vault: Vault, n: Network) -> dict[str, Any]:
        return {
            "id": f"{vault.id}/replicationFabrics/{n.fabric}/replicationNetworks/{n.name}",
            "name": n.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationFabrics/replicationNetworks",
            "location": vault.location,
            "properties": {"fabricType": "Azure", "subnets": [], "friendlyName": n.name, "networkType": "AzureNetwork"},
        }

    # ----- setup jobs ------------------------------------------------------------------------------

    def _setup_job(
        self,
        vault: Vault,
        scenario: str,
        target_id: str,
        target_name: str,
        target_type: str,
        *,
        on_complete: Callable[[Job], None] | None = None,
        result: Callable[[], dict[str, Any] | None] | None = None,
    ) -> Job:
        job = self._start_job(
            vault,
            scenario,
            target_id=target_id,
            target_name=target_name,
            target_type=target_type,
            duration_s=self.timings.setup_s,
            tasks=[TaskSpec(f"{scenario}Task", SCENARIOS.get(scenario, scenario))],
            on_complete=on_complete,
            result=result,
        )
        self._finish_instant(job)
        return job

    # ----- protected items: reads --------------------------------------------------------------------

    def item(self, vault: Vault, fabric: str, container: str, name: str) -> ProtectedItem:
        self.tick()
        found = vault.items.get(_k(fabric, container, name))
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
        return vault.items.get(_k(fabric, container, name))

    def items(self, vault: Vault, filter_text: str | None = None) -> list[ProtectedItem]:
        self.tick()
        terms = parse_filter(filter_text)
        items: Iterable[ProtectedItem] = vault.items.values()
        if "sourcefabricname" in terms:
            items = [i for i in items if _k(i.fabric) == _k(terms["sourcefabricname"])]
        if "sourcefabriclocation" in terms:
            items = [i for i in items if i.primary_location == _norm_location(terms["sourcefabriclocation"])]
        if "fabricobjectid" in terms:
            items = [i for i in items if same_id(i.source_vm_id, terms["fabricobjectid"])]
        if "instancetype" in terms:
            items = [i for i in items if i.provider.lower() == terms["instancetype"].lower()]
        if "multivmgroupcreateoption" in terms:
            items = [i for i in items if i.multi_vm_group_option.lower() == terms["multivmgroupcreateoption"].lower()]
        if "recoveryplanname" in terms:
            plan = vault.plans.get(terms["recoveryplanname"].lower())
            ids = {i.lower() for i in _plan_item_ids(plan)} if plan else set()
            items = [i for i in items if i.id.lower() in ids]
        return list(items)

    def items_in_container(self, vault: Vault, fabric: str, container: str) -> list[ProtectedItem]:
        self.tick()
        self.container(vault, fabric, container)
        prefix = _k(fabric, container) + "/"
        return [i for k, i in vault.items.items() if k.startswith(prefix)]

    def allowed_operations(self, item: ProtectedItem) -> list[str]:
        if item.tfo == TFO_WAITING:
            return ["TestFailoverCleanup"]
        if item.tfo in (TFO_RUNNING, TFO_CLEANING):
            return []
        table = _ALLOWED[A2A] if item.provider == A2A else _ALLOWED["onprem"]
        return list(table.get(item.phase, []))

    def _require(self, item: ProtectedItem, operation: str) -> None:
        allowed = self.allowed_operations(item)
        if operation not in allowed:
            state, _ = _PROTECTION_STATES[item.phase]
            raise ArmError(
                400,
                "OperationNotAllowedInCurrentState",
                f"The operation '{operation}' is not allowed on replicated item '{item.name}' in state '{state}'"
                f"{' (test failover ' + item.tfo + ')' if item.tfo != TFO_NONE else ''}. "
                f"Allowed operations: {', '.join(allowed) or 'none (an operation is in progress)'}. "
                "Wait for the current job to finish or run an allowed operation first.",
            )

    # ----- enable --------------------------------------------------------------------------------------

    def create_item(self, vault: Vault, fabric_name: str, container_name: str, name: str, body: dict[str, Any]) -> Job | None:
        """Enable replication. Returns the job, or None when the same VM is already this item (idempotent PUT)."""
        self.tick()
        container = self.container(vault, fabric_name, container_name)
        props = _props(body)
        specific = props.get("providerSpecificDetails") or {}
        provider = _str(specific.get("instanceType")) or ""
        if provider in (INMAGE_RCM, HYPERV_AZURE, "InMageAzureV2", "HyperVReplica2012R2"):
            raise ArmError(
                400,
                "ProviderNeedsOnPremisesInfrastructure",
                f"Enabling '{provider}' replication needs an on-premises appliance (configuration/process server or "
                "Hyper-V host with the Site Recovery provider) registered with the vault; the emulator has none. "
                "Seed such items through POST /_emulator/asr/items.",
            )
        if provider != A2A:
            raise ArmError(400, "InvalidParameter", f"Unsupported providerSpecificDetails.instanceType '{provider}'.")
        policy_id = _str(props.get("policyId"))
        if policy_id is None:
            raise ArmError(400, "InvalidParameter", "properties.policyId is required.")
        policy = self.policy_by_id(vault, policy_id)
        vm_id = _str(specific.get("fabricObjectId"))
        if vm_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.fabricObjectId (the VM id) is required.")

        existing = vault.items.get(_k(container.fabric.name, container.name, name))
        if existing is not None:
            if same_id(existing.source_vm_id, vm_id):
                return None
            raise ArmError(
                409,
                "ReplicatedItemNameConflict",
                f"A replicated item named '{name}' already exists in container '{container.name}' for VM "
                f"'{existing.source_vm_id}'. Use another item name.",
            )
        for other in vault.items.values():
            if same_id(other.source_vm_id, vm_id) or (other.reversed and same_id(other.failover_vm_id, vm_id)):
                raise ArmError(
                    409,
                    "ProtectionAlreadyEnabled",
                    f"Replication is already enabled for virtual machine '{vm_id}' as replicated item '{other.name}' "
                    f"(container '{other.container}'). Use that item, or disable its replication first.",
                )

        vm = self.compute.find(vm_id)
        if vm is None:
            raise ArmError(400, "SourceVirtualMachineNotFound", f"The virtual machine '{vm_id}' was not found.")
        vm_props = _props(vm)
        location = _norm_location(_str(vm.get("location")) or "")
        if location != container.fabric.location:
            raise ArmError(
                400,
                "InvalidParameter",
                f"Virtual machine '{vm_id}' is in '{location}' but protection container '{container.name}' belongs to the "
                f"fabric of '{container.fabric.location}'. Use the container of the VM's region.",
            )
        recovery_container_id = _str(specific.get("recoveryContainerId"))
        if recovery_container_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.recoveryContainerId is required.")
        recovery_container = self.container_by_id(vault, recovery_container_id)
        if self._mapping_between(vault, container, recovery_container) is None:
            raise ArmError(
                400,
                "ContainerMappingNotFound",
                f"No protection container mapping from '{container.name}' to '{recovery_container.name}' exists. "
                "Create the container mapping (with a replication policy) first.",
            )
        recovery_rg_id = _str(specific.get("recoveryResourceGroupId"))
        if recovery_rg_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.recoveryResourceGroupId is required.")

        source_ppg = _ref_id(vm_props.get("proximityPlacementGroup"))
        recovery_ppg = _str(specific.get("recoveryProximityPlacementGroupId"))
        recovery_avset = _str(specific.get("recoveryAvailabilitySetId"))
        unmanaged = _has_unmanaged_disks(vm_props) or bool(specific.get("vmDisks"))
        if unmanaged and (source_ppg or recovery_ppg):
            raise ArmError(
                400,
                "UnmanagedDisksNotSupported",
                f"Virtual machine '{vm_id}' uses unmanaged disks. Site Recovery for VMs in proximity placement groups "
                "is not supported for unmanaged disks. Convert the VM to managed disks, then enable replication.",
            )
        self._validate_placement(
            recovery_rg_id, recovery_ppg, recovery_avset, recovery_container.fabric.location, what="enable replication"
        )

        group_name = _str(specific.get("multiVmGroupName")) or ""
        group_id = _str(specific.get("multiVmGroupId")) or ""
        if group_name or group_id:
            if not group_id:
                group_id = self._stable_id(vault.id, "multivmgroup", group_name)
            members = [i for i in vault.items.values() if i.multi_vm_group_id.lower() == group_id.lower()]
            if len(members) >= MULTI_VM_GROUP_LIMIT:
                raise ArmError(
                    400,
                    "MultiVmGroupLimitExceeded",
                    f"Multi-VM consistency group '{group_name or group_id}' already has {len(members)} VMs; a group can "
                    f"hold at most {MULTI_VM_GROUP_LIMIT}. Put this VM in another group.",
                )
            option = "UserSpecified"
        else:
            group_id = self.new_id()
            option = "AutoCreated"

        disks = self._disks_for(vm_props, specific, recovery_rg_id)
        vm_name = _str(vm.get("name")) or last_segment(vm_id)
        zones = vm.get("zones") or []
        item = ProtectedItem(
            vault=vault,
            name=name,
            provider=A2A,
            fabric=container.fabric.name,
            container=container.name,
            recovery_fabric=recovery_container.fabric.name,
            recovery_container=recovery_container.name,
            policy_id=self.policy_id(vault, policy),
            source_vm_id=vm_id,
            friendly_name=vm_name,
            primary_location=container.fabric.location,
            recovery_location=recovery_container.fabric.location,
            os_type=_os_type(vm_props),
            vm_size=_str((vm_props.get("hardwareProfile") or {}).get("vmSize")) or "Standard_D2s_v3",
            recovery_rg_id=recovery_rg_id,
            recovery_ppg_id=recovery_ppg,
            recovery_avset_id=recovery_avset,
            recovery_zone=_str(specific.get("recoveryAvailabilityZone")),
            recovery_crg_id=_str(specific.get("recoveryCapacityReservationGroupId")),
            recovery_vm_name=vm_name,
            recovery_network_id=_str(specific.get("recoveryAzureNetworkId"))
            or self._mapped_network(vault, container.fabric.name),
            tfo_vm_name=f"{vm_name}-test",
            primary_zone=str(zones[0]) if zones else None,
            disks=disks,
            tags=dict(vm.get("tags") or {}),
            nic_names=_nic_names(vm_props, vm_name),
            multi_vm_group_name=group_name,
            multi_vm_group_id=group_id,
            multi_vm_group_option=option,
            lifecycle_id=self.new_id(),
            management_id=self.new_id(),
            initial_primary_location=container.fabric.location,
            initial_recovery_location=recovery_container.fabric.location,
            initial_primary_zone=str(zones[0]) if zones else "",
            initial_recovery_zone=_str(specific.get("recoveryAvailabilityZone")) or "",
            extra={"sourcePpgId": source_ppg, "sourceAvsetId": _ref_id(vm_props.get("availabilitySet"))},
        )
        vault.items[item.key] = item

        def completed(job: Job) -> None:
            self._begin_initial_replication(item, job.op.due)

        def failed() -> None:
            if vault.items.get(item.key) is item and item.phase == ENABLING:
                item.phase = ENABLE_FAILED
                item.replication_health = "Critical"
                item.scenario = None

        job = self._start_job(
            vault,
            "EnableDr",
            target_id=item.id,
            target_name=item.friendly_name,
            target_type="ProtectionEntity",
            duration_s=self.timings.enable_s,
            tasks=[
                TaskSpec("EnableProtectionPrerequisitesCheck", "Prerequisites check for enabling protection"),
                TaskSpec("CreateProtectionTargetTask", "Identifying the replication target"),
                TaskSpec("EnableProtectionTask", "Enable replication", 2),
                TaskSpec("StartInitialReplicationTask", "Starting initial replication"),
                TaskSpec("UpdateDraStateTask", "Updating the provider states"),
            ],
            on_complete=completed,
            on_failed=failed,
            result=lambda: self.item_body(item) if vault.items.get(item.key) is item else None,
            custom=self._affected(item),
        )
        item.scenario = ("EnableDr", job.id, job.op.started)
        return job

    def _begin_initial_replication(self, item: ProtectedItem, start: datetime) -> None:
        item.phase = INITIAL_REPLICATION
        item.scenario = None
        item.ir_started = start
        due = start + timedelta(seconds=self.timings.initial_replication_s)
        item.ir_done = due

        def protected() -> None:
            if item.phase == INITIAL_REPLICATION and item.ir_done == due:
                item.phase = PROTECTED
                item.protected_since = due

        self._schedule(due, protected)

    def _validate_placement(
        self, recovery_rg_id: str, ppg_id: str | None, avset_id: str | None, recovery_location: str, *, what: str
    ) -> None:
        target_rg = (rg_of(recovery_rg_id) or last_segment(recovery_rg_id)).lower()
        ppg: dict[str, Any] | None = None
        if ppg_id:
            if (rg_of(ppg_id) or "").lower() != target_rg:
                raise ArmError(
                    400,
                    "ProximityPlacementGroupResourceGroupMismatch",
                    f"The target proximity placement group '{ppg_id}' is in resource group '{rg_of(ppg_id)}' but the target "
                    f"virtual machine will be created in resource group '{last_segment(recovery_rg_id)}'. The target PPG and "
                    f"the target VM must be in the same resource group. Choose a PPG in that resource group (or change the "
                    f"target resource group), then {what} again.",
                )
            ppg = self.compute.find(ppg_id)
            if ppg is None:
                raise ArmError(400, "InvalidParameter", f"The target proximity placement group '{ppg_id}' was not found.")
            ppg_location = _norm_location(_str(ppg.get("location")) or recovery_location)
            if ppg_location != recovery_location:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"The target proximity placement group '{ppg_id}' is in '{ppg_location}', not in the recovery region "
                    f"'{recovery_location}'.",
                )
        if avset_id:
            if (rg_of(avset_id) or "").lower() != target_rg:
                raise ArmError(
                    400,
                    "AvailabilitySetResourceGroupMismatch",
                    f"The target availability set '{avset_id}' is in resource group '{rg_of(avset_id)}' but the target "
                    f"virtual machine (and its PPG) are in resource group '{last_segment(recovery_rg_id)}'. The availability "
                    "set, the VM and the PPG must all reside in the same resource group.",
                )
            avset = self.compute.find(avset_id)
            if avset is None:
                raise ArmError(400, "InvalidParameter", f"The target availability set '{avset_id}' was not found.")
            pinned = _ref_id(_props(avset).get("proximityPlacementGroup"))
            if pinned and ppg_id and not same_id(pinned, ppg_id):
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"The target availability set '{avset_id}' is pinned to proximity placement group '{pinned}', not to "
                    f"the target PPG '{ppg_id}'.",
                )

    def _disks_for(self, vm_props: dict[str, Any], specific: dict[str, Any], recovery_rg_id: str) -> list[Disk]:
        storage = vm_props.get("storageProfile") or {}
        by_id: dict[str, tuple[str, str, int]] = {}
        os_disk = storage.get("osDisk") or {}
        os_id = _ref_id(os_disk.get("managedDisk"))
        if os_id:
            by_id[os_id.lower()] = (
                _str(os_disk.get("name")) or last_segment(os_id),
                "OperatingSystem",
                int(os_disk.get("diskSizeGB") or 127),
            )
        for data in storage.get("dataDisks") or []:
            data_id = _ref_id(data.get("managedDisk"))
            if data_id:
                by_id[data_id.lower()] = (
                    _str(data.get("name")) or last_segment(data_id),
                    "Data",
                    int(data.get("diskSizeGB") or 128),
                )
        inputs = specific.get("vmManagedDisks") or []
        disks: list[Disk] = []
        if inputs:
            for entry in inputs:
                disk_id = _str(entry.get("diskId"))
                if disk_id is None:
                    raise ArmError(400, "InvalidParameter", "Every vmManagedDisks entry needs a diskId.")
                known = by_id.get(disk_id.lower())
                if known is None:
                    raise ArmError(400, "InvalidParameter", f"Disk '{disk_id}' is not attached to the virtual machine.")
                disks.append(_disk(disk_id, known, entry, recovery_rg_id, self.compute.find(disk_id)))
        else:
            for disk_id, known in by_id.items():
                disks.append(_disk(disk_id, known, {}, recovery_rg_id, self.compute.find(disk_id)))
        return disks

    def _mapped_network(self, vault: Vault, fabric: str) -> str | None:
        for mapping in vault.network_mappings.values():
            if _k(mapping.fabric) == _k(fabric):
                return mapping.recovery_network_id
        return None

    def _affected(self, item: ProtectedItem) -> dict[str, Any]:
        return {
            "instanceType": "AsrJobDetails",
            "affectedObjectDetails": {
                "PrimaryFabricId": item.fabric,
                "PrimaryFabricName": _display_location(item.primary_location),
                "RecoveryFabricName": _display_location(item.recovery_location),
                "PrimaryFabricProviderId": "Azure",
                "RecoveryFabricProviderId": "Azure",
            },
        }

    # ----- update --------------------------------------------------------------------------------------

    def update_item(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        if item.phase in (ENABLING, FAILING_OVER, COMMITTING, REPROTECTING, DISABLING) or item.tfo in (TFO_RUNNING, TFO_CLEANING):
            raise ArmError(
                409,
                "OperationInProgress",
                f"Replicated item '{item.name}' has an operation in progress ({_PROTECTION_STATES[item.phase][1]}). "
                "Wait for the job to finish, then update it.",
            )
        props = _props(body)
        specific = props.get("providerSpecificDetails") or {}
        kind = _str(specific.get("instanceType")) or item.provider
        if kind != item.provider:
            raise ArmError(
                400, "InvalidParameter", f"Replicated item '{item.name}' uses provider '{item.provider}', not '{kind}'."
            )
        changes: dict[str, Any] = {}
        ppg_key = {A2A: "recoveryProximityPlacementGroupId"}.get(item.provider, "targetProximityPlacementGroupId")
        if ppg_key in specific:
            new_ppg = specific.get(ppg_key)
            if item.recovery_ppg_id and not new_ppg:
                raise ArmError(
                    400,
                    "ProximityPlacementGroupRemovalNotSupported",
                    f"Removing the proximity placement group from the replication settings of replicated item '{item.name}' "
                    "is not supported. Disable replication and enable it again without a target PPG.",
                )
            if new_ppg:
                changes["recovery_ppg_id"] = str(new_ppg)
        for top, attr in (
            ("recoveryAzureVMName", "recovery_vm_name"),
            ("recoveryAzureVMSize", "recovery_vm_size"),
            ("selectedRecoveryAzureNetworkId", "recovery_network_id"),
            ("selectedTfoAzureNetworkId", "tfo_network_id"),
            ("recoveryAvailabilitySetId", "recovery_avset_id"),
        ):
            if _str(props.get(top)):
                changes[attr] = props[top]
        specific_map = {
            A2A: {
                "recoveryResourceGroupId": "recovery_rg_id",
                "recoveryAvailabilityZone": "recovery_zone",
                "recoveryCapacityReservationGroupId": "recovery_crg_id",
                "tfoAzureVMName": "tfo_vm_name",
            },
            INMAGE_RCM: {
                "targetVmName": "recovery_vm_name",
                "targetVmSize": "recovery_vm_size",
                "targetResourceGroupId": "recovery_rg_id",
                "targetAvailabilitySetId": "recovery_avset_id",
                "targetAvailabilityZone": "recovery_zone",
                "targetNetworkId": "recovery_network_id",
                "testNetworkId": "tfo_network_id",
                "targetCapacityReservationGroupId": "recovery_crg_id",
            },
            HYPERV_AZURE: {
                "recoveryAzureV2ResourceGroupId": "recovery_rg_id",
                "targetAvailabilityZone": "recovery_zone",
                "targetCapacityReservationGroupId": "recovery_crg_id",
            },
        }[item.provider]
        for source, attr in specific_map.items():
            if _str(specific.get(source)):
                changes[attr] = specific[source]
        disk_updates = specific.get("managedDiskUpdateDetails") or []
        rg = changes.get("recovery_rg_id", item.recovery_rg_id)
        self._validate_placement(
            rg,
            changes.get("recovery_ppg_id", item.recovery_ppg_id),
            changes.get("recovery_avset_id", item.recovery_avset_id),
            item.recovery_location,
            what="update the replicated item",
        )

        def done(_: Job) -> None:
            for attr, value in changes.items():
                setattr(item, attr, value)
            for upd in disk_updates:
                for disk in item.disks:
                    if same_id(disk.disk_id, _str(upd.get("diskId"))):
                        disk.target_account_type = _str(upd.get("recoveryTargetDiskAccountType")) or disk.target_account_type
                        disk.replica_account_type = _str(upd.get("recoveryReplicaDiskAccountType")) or disk.replica_account_type

        return self._start_job(
            vault,
            "UpdateVmProperties",
            target_id=item.id,
            target_name=item.friendly_name,
            target_type="ProtectionEntity",
            duration_s=self.timings.update_s,
            tasks=[TaskSpec("UpdateVmPropertiesTask", "Update the virtual machine properties")],
            on_complete=done,
            result=lambda: self.item_body(item),
            custom=self._affected(item),
        )

    # ----- failover ----------------------------------------------------------------------------------

    def unplanned_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = _props(body)
        direction = _str(props.get("failoverDirection")) or "PrimaryToRecovery"
        self._check_direction(direction)
        if item.provider == HYPERV_AZURE and direction == "RecoveryToPrimary":
            self._refuse_hyperv_failback(item)
        self._require(item, "UnplannedFailover")
        return self._failover_job(vault, [item], scenario="UnplannedFailover", target=item, plan=None)

    def planned_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = _props(body)
        direction = _str(props.get("failoverDirection")) or "PrimaryToRecovery"
        self._check_direction(direction)
        specific = props.get("providerSpecificDetails") or {}
        failback = direction == "RecoveryToPrimary" or (_str(specific.get("instanceType")) or "").endswith("Failback")
        if item.provider == HYPERV_AZURE and failback:
            self._refuse_hyperv_failback(item)
        if item.provider == A2A:
            raise ArmError(
                400,
                "OperationNotAllowedInCurrentState",
                f"Planned failover is not supported for Azure-to-Azure replicated item '{item.name}'. Use unplanned failover.",
            )
        self._require(item, "Failback" if failback and item.phase == COMMITTED else "PlannedFailover")
        return self._failover_job(vault, [item], scenario="PlannedFailover", target=item, plan=None, failback=failback)

    def _check_direction(self, direction: str) -> None:
        if direction not in ("PrimaryToRecovery", "RecoveryToPrimary"):
            raise ArmError(
                400, "InvalidParameter", f"failoverDirection must be PrimaryToRecovery or RecoveryToPrimary, not '{direction}'."
            )

    def _refuse_hyperv_failback(self, item: ProtectedItem) -> None:
        if item.recovery_ppg_id:
            raise ArmError(
                400,
                "FailbackToHyperVNotSupported",
                f"Failback of replicated item '{item.name}' to Hyper-V is not supported: failback from proximity placement "
                "groups in Azure to Hyper-V is not supported (and Site Recovery does not fail back from managed disks "
                "for Hyper-V to Azure). Keep the VM in Azure, or recreate it on-premises.",
            )

    def _failover_job(
        self,
        vault: Vault,
        items: list[ProtectedItem],
        *,
        scenario: str,
        target: ProtectedItem | RecoveryPlan,
        plan: RecoveryPlan | None,
        failback: bool = False,
    ) -> Job:
        now = self.clock.now()
        tasks = [TaskSpec("FailoverPrerequisitesCheck", "Pre-requisites check for the failover")]
        vm_tasks: dict[str, TaskSpec] = {}
        for item in items:
            spec = TaskSpec(
                f"StartFailoverTask-{item.name}",
                f"Start the replica virtual machine {item.recovery_vm_name}",
                2,
                {"instanceType": "VirtualMachineTaskDetails", "skippedReason": None, "skippedReasonString": None},
            )
            vm_tasks[item.key] = spec
            tasks.append(spec)
        tasks.append(TaskSpec("UpdateReplicationStateTask", "Update the replicated item states"))
        previous = {item.key: item.phase for item in items}
        for item in items:
            item.phase = FAILING_OVER
        duration = self.timings.failover_s + (self.timings.plan_per_item_s * len(items) if plan else 0)

        def complete(job: Job) -> None:
            errors: list[ArmError] = []
            for item in items:
                if vault.items.get(item.key) is not item:
                    continue
                try:
                    self._fail_over_item(item, job, vm_tasks[item.key], failback=failback)
                except ArmError as exc:
                    item.phase = previous[item.key]
                    item.scenario = None
                    vm_tasks[item.key].errors.append(
                        _job_error(exc.code, exc.message, "Error", job.op.due, vm_tasks[item.key].name)
                    )
                    errors.append(exc)
            if plan is not None:
                plan.last_unplanned_failover = job.op.due
            if errors:
                raise ArmError(errors[0].status, errors[0].code, errors[0].message)

        def failed() -> None:
            for item in items:
                if item.phase == FAILING_OVER:
                    item.phase = previous[item.key]
                    item.scenario = None

        custom = {
            "instanceType": "FailoverJobDetails",
            "affectedObjectDetails": {},
            "protectedItemDetails": [
                {
                    "name": i.name,
                    "friendlyName": i.friendly_name,
                    "testVmName": None,
                    "testVmFriendlyName": None,
                    "networkConnectionStatus": None,
                    "networkFriendlyName": None,
                    "subnet": None,
                    "recoveryPointId": None,
                    "recoveryPointTime": None,
                }
                for i in items
            ],
        }
        return self._start_items_job(
            vault,
            scenario,
            target=target,
            plan=plan,
            items=items,
            target_name=target.name if plan else items[0].friendly_name,
            duration_s=duration,
            tasks=tasks,
            on_complete=complete,
            on_failed=failed,
            custom=custom,
            now=now,
        )

    def _start_items_job(
        self,
        vault: Vault,
        scenario: str,
        *,
        target: ProtectedItem | RecoveryPlan,
        plan: RecoveryPlan | None,
        items: list[ProtectedItem],
        target_name: str,
        duration_s: float,
        tasks: list[TaskSpec],
        on_complete: Callable[[Job], None],
        on_failed: Callable[[], None],
        custom: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> Job:
        """One job over items (an item's own operation or a recovery plan's): start it, and mark every item
        and the plan as running that scenario, as ASR's ``currentScenario`` shows."""
        job = self._start_job(
            vault,
            scenario,
            target_id=target.id,
            target_name=target_name,
            target_type="RecoveryPlan" if plan else "ProtectionEntity",
            duration_s=duration_s,
            tasks=tasks,
            on_complete=on_complete,
            on_failed=on_failed,
            result=(lambda: self.plan_body(plan)) if plan else (lambda: self._item_result(items[0])),
            custom=custom,
        )
        stamp = now or self.clock.now()
        for item in items:
            item.scenario = (scenario, job.id, stamp)
        if plan is not None:
            plan.scenario = (scenario, job.id, stamp)
        return job

    def _item_result(self, item: ProtectedItem) -> dict[str, Any] | None:
        current = item.vault.items.get(item.key)
        return self.item_body(current) if current is not None else None

    def _fail_over_item(self, item: ProtectedItem, job: Job, task: TaskSpec, *, failback: bool) -> None:
        when = job.op.due
        if item.provider != A2A and failback:
            # VMware/Hyper-V failback runs on premises: nothing to create in Azure.
            placed_id: str | None = None
        else:
            placed_id, warning = self._place_vm(item, test=False, when=when)
            if warning is not None:
                task.errors.append(warning)
                job.warnings.append(warning)
        item.failover_vm_id = placed_id or item.failover_vm_id
        item.phase = FAILOVER_PENDING_COMMIT
        item.active_location = "Primary" if (item.reversed or failback) else "Recovery"
        item.last_failover = when
        points = self.recovery_points(item, at=when)
        item.failover_recovery_point_id = points[0]["id"] if points else None
        item.scenario = None

    def _place_vm(self, item: ProtectedItem, *, test: bool, when: datetime) -> tuple[str, dict[str, Any] | None]:
        """Create (or reuse, on failback) the VM for a failover; returns its id and a placement warning."""
        sub = sub_of(item.recovery_rg_id) or item.vault.subscription
        rg = rg_of(item.recovery_rg_id) or last_segment(item.recovery_rg_id)
        name = item.tfo_vm_name if test else item.recovery_vm_name
        size = item.recovery_vm_size or item.vm_size
        vm_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"
        existing = None if test else self.compute.find(vm_id)
        if existing is not None:
            body: dict[str, Any] = {
                "location": existing.get("location") or item.recovery_location,
                "tags": dict(existing.get("tags") or {}),
                "properties": {
                    k: v for k, v in _props(existing).items() if k not in ("provisioningState", "instanceView", "vmId")
                },
            }
            if existing.get("zones"):
                body["zones"] = existing["zones"]
        else:
            suffix = "-ASRtest" if test else ""
            disks = item.disks or [
                Disk(
                    "",
                    f"{item.recovery_vm_name}_OsDisk",
                    "OperatingSystem",
                    127 << 30,
                    item.recovery_rg_id,
                    "Standard_LRS",
                    "Standard_LRS",
                )
            ]
            storage: dict[str, Any] = {"dataDisks": []}
            for disk in disks:
                disk_name = f"{disk.name}{suffix}"
                disk_id = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{disk_name}"
                entry = {
                    "name": disk_name,
                    # ASR attaches the disk it seeded from the replica; the emulator lets Compute create it.
                    "createOption": "Attach" if self.compute.find(disk_id) is not None else "Empty",
                    "diskSizeGB": max(1, disk.capacity_bytes >> 30),
                    "managedDisk": {
                        "id": disk_id,
                        "storageAccountType": disk.target_account_type,
                    },
                }
                if disk.disk_type == "OperatingSystem":
                    storage["osDisk"] = {"osType": item.os_type, **entry}
                else:
                    storage["dataDisks"].append({"lun": len(storage["dataDisks"]), **entry})
            nic_prefix = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces"
            nics = [
                {
                    "id": f"{nic_prefix}/{nic}{'-test' if test else ''}",
                    "properties": {"primary": index == 0},
                }
                for index, nic in enumerate(item.nic_names or [f"{item.recovery_vm_name}-nic"])
            ]
            body = {
                "location": item.recovery_location,
                "tags": dict(item.tags),
                "properties": {
                    "hardwareProfile": {"vmSize": size},
                    "storageProfile": storage,
                    "networkProfile": {"networkInterfaces": nics},
                },
            }
        props = body["properties"]
        props["hardwareProfile"] = {"vmSize": size}
        if existing is None or item.recovery_ppg_id:
            props.pop("proximityPlacementGroup", None)
        if existing is None or item.recovery_avset_id:
            props.pop("availabilitySet", None)
        if item.recovery_ppg_id:
            props["proximityPlacementGroup"] = {"id": item.recovery_ppg_id}
        if item.recovery_avset_id:
            props["availabilitySet"] = {"id": item.recovery_avset_id}
        if item.recovery_zone and existing is None:
            body["zones"] = [item.recovery_zone]
        if item.recovery_crg_id:
            props["capacityReservation"] = {"capacityReservationGroup": {"id": item.recovery_crg_id}}
        created = self.compute.put_vm(sub, rg, name, body, allow_placement_fallback=True)
        created_props = _props(created)
        created_id = _str(created.get("id")) or vm_id
        warning: dict[str, Any] | None = None
        if item.recovery_ppg_id and not same_id(_ref_id(created_props.get("proximityPlacementGroup")), item.recovery_ppg_id):
            outside = "the proximity placement group"
            if item.recovery_avset_id:
                outside += " and the availability set"
            warning = _job_error(
                "OverconstrainedAllocationRequest",
                f"Virtual machine '{name}' ({size}) was created outside {outside} '{item.recovery_ppg_id}' because the "
                "allocation could not be satisfied inside it (OverconstrainedAllocationRequest). Site Recovery places VMs "
                "in a proximity placement group on a best-effort basis. Move the VM into the PPG when capacity is "
                "available (deallocate, set the PPG, start), or fail over again.",
                "Warning",
                when,
                None,
            )
        return created_id, warning

    # ----- commit / reprotect / switch protection ------------------------------------------------------

    def failover_commit(self, vault: Vault, fabric: str, container: str, name: str) -> Job:
        item = self.item(vault, fabric, container, name)
        self._require(item, "Commit")
        return self._commit_job(vault, [item], target=item, plan=None)

    def _commit_job(
        self, vault: Vault, items: list[ProtectedItem], *, target: ProtectedItem | RecoveryPlan, plan: RecoveryPlan | None
    ) -> Job:
        for item in items:
            item.phase = COMMITTING

        def complete(_: Job) -> None:
            for item in items:
                if item.phase == COMMITTING:
                    item.phase = COMMITTED
                    item.scenario = None

        def failed() -> None:
            for item in items:
                if item.phase == COMMITTING:
                    item.phase = FAILOVER_PENDING_COMMIT
                    item.scenario = None

        return self._start_items_job(
            vault,
            "CommitFailover",
            target=target,
            plan=plan,
            items=items,
            target_name=target.name,
            duration_s=self.timings.commit_s,
            tasks=[TaskSpec(f"CommitFailoverTask-{i.name}", f"Commit the failover of {i.friendly_name}") for i in items],
            on_complete=complete,
            on_failed=failed,
        )

    def switch_protection(self, vault: Vault, fabric: str, container: str, body: dict[str, Any]) -> Job:
        self.tick()
        home = self.container(vault, fabric, container)
        props = _props(body)
        name = _str(props.get("replicationProtectedItemName"))
        if name is None:
            raise ArmError(400, "InvalidParameter", "properties.replicationProtectedItemName is required.")
        item = self.item(vault, home.fabric.name, home.name, name)
        specific = props.get("providerSpecificDetails") or {}
        if (_str(specific.get("instanceType")) or A2A) != A2A or item.provider != A2A:
            raise ArmError(
                400, "InvalidParameter", "Switch protection is supported for A2A replicated items with A2ASwitchProtectionInput."
            )
        return self._reverse_replication(vault, item, specific, with_placement=True)

    def reprotect(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = _props(body)
        specific = props.get("providerSpecificDetails") or {}
        if item.provider != A2A:
            self._require(item, "Failback" if item.phase == COMMITTED else "ReverseReplicate")
            raise ArmError(
                400, "InvalidParameter", "Reprotect of on-premises items needs the on-premises appliance; not emulated."
            )
        return self._reverse_replication(vault, item, specific, with_placement=False)

    def _reverse_replication(self, vault: Vault, item: ProtectedItem, specific: dict[str, Any], *, with_placement: bool) -> Job:
        self._require(item, "ReverseReplicate")
        current_recovery = self._recovery_container(item)
        new_home = current_recovery
        target_id = _str(specific.get("recoveryContainerId"))
        if target_id is None:
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails.recoveryContainerId is required.")
        target = self.container_by_id(vault, target_id)
        if target.fabric.location != item.primary_location:
            raise ArmError(
                400,
                "InvalidParameter",
                f"Reprotect must replicate back to the region the VM failed over from ('{item.primary_location}'); container "
                f"'{target.name}' is in '{target.fabric.location}'.",
            )
        if self._mapping_between(vault, new_home, target) is None:
            raise ArmError(
                400,
                "ContainerMappingNotFound",
                f"No protection container mapping from '{new_home.name}' to '{target.name}' exists for the reverse direction. "
                "Create the failback container mapping first.",
            )
        policy_id = _str(specific.get("policyId")) or item.policy_id
        self.policy_by_id(vault, policy_id)
        previous_vm = item.source_vm_id
        previous_vm_rg = f"/subscriptions/{sub_of(previous_vm)}/resourceGroups/{rg_of(previous_vm)}"
        recovery_rg = _str(specific.get("recoveryResourceGroupId")) or previous_vm_rg
        avset = _str(specific.get("recoveryAvailabilitySetId"))
        ppg = _str(specific.get("recoveryProximityPlacementGroupId")) if with_placement else None
        zone = _str(specific.get("recoveryAvailabilityZone")) if with_placement else None
        crg = _str(specific.get("recoveryCapacityReservationGroupId")) if with_placement else None
        self._validate_placement(recovery_rg, ppg, avset, target.fabric.location, what="reprotect")
        failed_over_vm = item.failover_vm_id
        if failed_over_vm is None:
            raise ArmError(
                400, "InvalidParameter", f"Replicated item '{item.name}' has no failed-over virtual machine to protect."
            )
        vm = self.compute.find(failed_over_vm)
        vm_props = _props(vm) if vm else {}
        new_disks = self._disks_for(vm_props, specific if with_placement else {}, recovery_rg) if vm_props else []
        new_nics = _nic_names(vm_props, last_segment(failed_over_vm)) if vm_props else item.nic_names
        new_key = _k(new_home.fabric.name, new_home.name, item.name)
        if new_key in vault.items and vault.items[new_key] is not item:
            raise ArmError(
                409, "ReplicatedItemNameConflict", f"Container '{new_home.name}' already has an item named '{item.name}'."
            )
        new_id = (
            f"{vault.id}/replicationFabrics/{new_home.fabric.name}/replicationProtectionContainers/{new_home.name}"
            f"/replicationProtectedItems/{item.name}"
        )
        item.phase = REPROTECTING
        old_key = item.key

        def complete(job: Job) -> None:
            if vault.items.get(old_key) is not item:
                return
            del vault.items[old_key]
            item.fabric, item.container = new_home.fabric.name, new_home.name
            item.recovery_fabric, item.recovery_container = target.fabric.name, target.name
            item.primary_location, item.recovery_location = item.recovery_location, item.primary_location
            item.policy_id = policy_id
            item.previous_source_vm_id = previous_vm
            item.source_vm_id = failed_over_vm
            item.recovery_vm_name = last_segment(previous_vm)
            item.tfo_vm_name = f"{last_segment(previous_vm)}-test"
            item.primary_zone = item.recovery_zone
            item.recovery_rg_id = recovery_rg
            item.recovery_ppg_id = ppg
            item.recovery_avset_id = avset
            item.recovery_zone = zone
            item.recovery_crg_id = crg
            item.recovery_vm_size = None
            item.failover_vm_id = previous_vm
            item.reversed = not item.reversed
            item.recovery_network_id = self._mapped_network(vault, new_home.fabric.name)
            item.nic_names = new_nics
            if new_disks:
                item.disks = new_disks
            else:
                for disk in item.disks:
                    disk.recovery_rg_id = recovery_rg
            vault.items[item.key] = item
            self._begin_initial_replication(item, job.op.due)

        def failed() -> None:
            if item.phase == REPROTECTING:
                item.phase = COMMITTED
                item.scenario = None

        job = self._start_job(
            vault,
            "SwitchProtection",
            target_id=item.id,
            target_name=item.friendly_name,
            target_type="ProtectionEntity",
            duration_s=self.timings.switch_protection_s,
            tasks=[
                TaskSpec("SwitchProtectionPrerequisitesCheck", "Prerequisites check"),
                TaskSpec("CreateReverseReplicationTask", "Create the reverse replication", 2),
                TaskSpec("StartInitialReplicationTask", "Start initial replication"),
            ],
            on_complete=complete,
            on_failed=failed,
            result=lambda: self.container_body(vault, new_home),
            custom={
                "instanceType": "SwitchProtectionJobDetails",
                "affectedObjectDetails": {},
                "newReplicationProtectedItemId": new_id,
            },
        )
        item.scenario = ("SwitchProtection", job.id, self.clock.now())
        return job

    def _recovery_container(self, item: ProtectedItem) -> Container:
        fabric = item.vault.fabrics[item.recovery_fabric.lower()]
        return fabric.containers[item.recovery_container.lower()]

    # ----- test failover --------------------------------------------------------------------------------

    def test_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = _props(body)
        self._check_direction(_str(props.get("failoverDirection")) or "PrimaryToRecovery")
        self._require(item, "TestFailover")
        network = _str(props.get("networkId")) or item.tfo_network_id
        if network is None:
            raise ArmError(400, "InvalidParameter", "networkId (the isolated test network) is required for a test failover.")
        return self._test_failover_job(vault, [item], network, target=item, plan=None)

    def _test_failover_job(
        self,
        vault: Vault,
        items: list[ProtectedItem],
        network: str,
        *,
        target: ProtectedItem | RecoveryPlan,
        plan: RecoveryPlan | None,
    ) -> Job:
        tasks = [TaskSpec("TestFailoverPrerequisitesCheck", "Prerequisites check for test failover")]
        vm_tasks: dict[str, TaskSpec] = {}
        for item in items:
            item.tfo = TFO_RUNNING
            spec = TaskSpec(
                f"StartTestFailoverTask-{item.name}",
                f"Create test virtual machine {item.tfo_vm_name}",
                2,
                {"instanceType": "VirtualMachineTaskDetails", "skippedReason": None, "skippedReasonString": None},
            )
            vm_tasks[item.key] = spec
            tasks.append(spec)

        def complete(job: Job) -> None:
            for item in items:
                item.tfo_network_id = network
                vm_id, warning = self._place_vm(item, test=True, when=job.op.due)
                item.test_vm_ids.append(vm_id)
                if warning is not None:
                    vm_tasks[item.key].errors.append(warning)
                    job.warnings.append(warning)
                item.tfo = TFO_WAITING
                item.last_tfo = job.op.due
            if plan is not None:
                plan.last_test_failover = job.op.due

        def failed() -> None:
            for item in items:
                if item.tfo == TFO_RUNNING:
                    item.tfo = TFO_NONE
                    item.scenario = None

        custom: dict[str, Any] = {
            "instanceType": "TestFailoverJobDetails",
            "affectedObjectDetails": {},
            "testFailoverStatus": None,
            "comments": None,
            "networkName": last_segment(network),
            "networkFriendlyName": last_segment(network),
            "networkType": "VmNetworkAsInput",
            "protectedItemDetails": [
                {
                    "name": i.name,
                    "friendlyName": i.friendly_name,
                    "testVmName": i.tfo_vm_name,
                    "testVmFriendlyName": i.tfo_vm_name,
                    "networkConnectionStatus": "Connected",
                    "networkFriendlyName": last_segment(network),
                    "subnet": None,
                    "recoveryPointId": None,
                    "recoveryPointTime": None,
                }
                for i in items
            ],
        }
        return self._start_items_job(
            vault,
            "TestFailover",
            target=target,
            plan=plan,
            items=items,
            target_name=target.name,
            duration_s=self.timings.test_failover_s + (self.timings.plan_per_item_s * len(items) if plan else 0),
            tasks=tasks,
            on_complete=complete,
            on_failed=failed,
            custom=custom,
        )

    def test_failover_cleanup(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        self._require(item, "TestFailoverCleanup")
        return self._cleanup_job(vault, [item], target=item, plan=None)

    def _cleanup_job(
        self, vault: Vault, items: list[ProtectedItem], *, target: ProtectedItem | RecoveryPlan, plan: RecoveryPlan | None
    ) -> Job:
        for item in items:
            item.tfo = TFO_CLEANING

        def complete(_: Job) -> None:
            for item in items:
                for vm_id in item.test_vm_ids:
                    sub, rg = sub_of(vm_id), rg_of(vm_id)
                    if sub and rg and self.compute.find(vm_id) is not None:
                        self.compute.delete_vm(sub, rg, last_segment(vm_id))
                item.test_vm_ids = []
                item.tfo = TFO_NONE
                item.scenario = None

        def failed() -> None:
            for item in items:
                if item.tfo == TFO_CLEANING:
                    item.tfo = TFO_WAITING

        return self._start_items_job(
            vault,
            "TestFailoverCleanup",
            target=target,
            plan=plan,
            items=items,
            target_name=target.name,
            duration_s=self.timings.test_failover_cleanup_s,
            tasks=[TaskSpec(f"TestFailoverCleanupTask-{i.name}", f"Delete test virtual machine {i.tfo_vm_name}") for i in items],
            on_complete=complete,
            on_failed=failed,
        )

    # ----- disable / purge ------------------------------------------------------------------------------

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
            target_id=item.id,
            target_name=item.friendly_name,
            target_type="ProtectionEntity",
            duration_s=duration,
            tasks=[TaskSpec(f"{scenario}Task", SCENARIOS[scenario])],
            on_complete=complete,
            on_failed=failed,
            result=lambda: None,
            custom=self._affected(item),
        )
        item.scenario = (scenario, job.id, self.clock.now())
        return job

    # ----- recovery points ------------------------------------------------------------------------------

    def recovery_points(self, item: ProtectedItem, *, at: datetime | None = None) -> list[dict[str, Any]]:
        """A few crash-consistent and app-consistent points since protection began, newest first."""
        now = at or self.clock.now()
        start = item.ir_done if item.ir_done is not None and item.ir_done <= now else None
        if start is None:
            return []
        policy = item.vault.policies.get((segment_after(item.policy_id, "replicationPolicies") or "").lower()) or Policy(
            "default"
        )
        horizon = max(start, now - timedelta(minutes=policy.recovery_point_history_min))
        points: list[tuple[datetime, str]] = []
        for minutes, kind, keep in (
            (policy.crash_consistent_min, "CrashConsistent", 12),
            (policy.app_consistent_min, "ApplicationConsistent", 4),
        ):
            if minutes <= 0:
                continue
            step = timedelta(minutes=minutes)
            moment = start + ((now - start) // step) * step
            count = 0
            while moment >= horizon and count < keep:
                points.append((moment, kind))
                moment -= step
                count += 1
        points.sort(key=lambda p: (p[0], p[1]), reverse=True)
        out = []
        for moment, kind in points:
            name = self._stable_id(item.id, item.lifecycle_id, iso(moment), kind)
            out.append(
                {
                    "id": f"{item.id}/recoveryPoints/{name}",
                    "name": name,
                    "type": f"{ITEM_TYPE}/recoveryPoints",
                    "properties": {
                        "recoveryPointTime": iso(moment),
                        "recoveryPointType": kind,
                        "providerSpecificDetails": {
                            "instanceType": "A2A",
                            "recoveryPointSyncType": "MultiVmSyncRecoveryPoint"
                            if item.multi_vm_group_option == "UserSpecified"
                            else "PerVmRecoveryPoint",
                            "disks": [d.disk_id for d in item.disks],
                        },
                    },
                }
            )
        return out

    def recovery_point(self, item: ProtectedItem, name: str) -> dict[str, Any]:
        for point in self.recovery_points(item):
            if point["name"].lower() == name.lower():
                return point
        raise ArmError(404, "NotFound", f"Recovery point '{name}' was not found for replicated item '{item.name}'.")

    # ----- recovery plans -------------------------------------------------------------------------------

    def create_plan(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        self.tick()
        props = _props(body)
        primary = _str(props.get("primaryFabricId"))
        recovery = _str(props.get("recoveryFabricId"))
        if primary is None or recovery is None:
            raise ArmError(400, "InvalidParameter", "primaryFabricId and recoveryFabricId are required.")
        groups = self._validate_groups(vault, props.get("groups") or [], primary)
        plan = RecoveryPlan(
            vault,
            name,
            primary,
            recovery,
            _str(props.get("failoverDeploymentModel")) or "ResourceManager",
            groups,
            list(props.get("providerSpecificInput") or []),
        )
        existing = vault.plans.get(name.lower())
        if existing is not None:
            existing.groups = groups
            existing.primary_fabric_id, existing.recovery_fabric_id = primary, recovery
            plan = existing
        vault.plans[name.lower()] = plan
        return self._setup_job(vault, "CreateRecoveryPlan", plan.id, name, "RecoveryPlan", result=lambda: self.plan_body(plan))

    def update_plan(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = _props(body)
        if "groups" in props:
            plan.groups = self._validate_groups(vault, props.get("groups") or [], plan.primary_fabric_id)
        return self._setup_job(vault, "UpdateRecoveryPlan", plan.id, name, "RecoveryPlan", result=lambda: self.plan_body(plan))

    def delete_plan(self, vault: Vault, name: str) -> Job:
        plan = self.plan(vault, name)

        def done(_: Job) -> None:
            vault.plans.pop(name.lower(), None)

        return self._setup_job(vault, "DeleteRecoveryPlan", plan.id, name, "RecoveryPlan", on_complete=done)

    def plan(self, vault: Vault, name: str) -> RecoveryPlan:
        self.tick()
        plan = vault.plans.get(name.lower())
        if plan is None:
            raise ArmError(404, "NotFound", f"Recovery plan '{name}' was not found in vault '{vault.name}'.")
        return plan

    def plans(self, vault: Vault) -> list[RecoveryPlan]:
        self.tick()
        return list(vault.plans.values())

    def _validate_groups(self, vault: Vault, groups: list[dict[str, Any]], primary_fabric_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for group in groups:
            kind = _str(group.get("groupType")) or "Boot"
            if kind not in ("Boot", "Failover", "Shutdown"):
                raise ArmError(400, "InvalidParameter", f"Unknown recovery plan groupType '{kind}'.")
            refs = []
            for ref in group.get("replicationProtectedItems") or []:
                item_id = _str(ref.get("id"))
                item = self.item_by_id(vault, item_id or "")
                if item is None:
                    raise ArmError(400, "InvalidParameter", f"Replicated item '{item_id}' was not found in vault '{vault.name}'.")
                if item.id.lower() in seen:
                    raise ArmError(400, "InvalidParameter", f"Replicated item '{item.name}' appears twice in the recovery plan.")
                fabric_name = segment_after(primary_fabric_id, "replicationFabrics")
                if fabric_name and _k(fabric_name) not in (_k(item.fabric), _k(item.recovery_fabric)):
                    raise ArmError(
                        400,
                        "InvalidParameter",
                        f"Replicated item '{item.name}' replicates from fabric '{item.fabric}', not from the plan's primary "
                        f"fabric '{fabric_name}'. A recovery plan holds items of one source and target region.",
                    )
                seen.add(item.id.lower())
                refs.append({"id": item.id, "virtualMachineId": ref.get("virtualMachineId") or item.name})
            out.append(
                {
                    "groupType": kind,
                    "replicationProtectedItems": refs,
                    "startGroupActions": list(group.get("startGroupActions") or []),
                    "endGroupActions": list(group.get("endGroupActions") or []),
                }
            )
        kinds = [g["groupType"] for g in out]
        if "Shutdown" not in kinds:
            out.insert(
                0, {"groupType": "Shutdown", "replicationProtectedItems": [], "startGroupActions": [], "endGroupActions": []}
            )
        if "Failover" not in kinds:
            out.insert(
                1, {"groupType": "Failover", "replicationProtectedItems": [], "startGroupActions": [], "endGroupActions": []}
            )
        return out

    def plan_items(self, plan: RecoveryPlan) -> list[ProtectedItem]:
        """The plan's items in boot order (Failover group first, then Boot groups in order)."""
        ordered: list[ProtectedItem] = []
        for kind in ("Shutdown", "Failover", "Boot"):
            for group in plan.groups:
                if group["groupType"] != kind:
                    continue
                for ref in group.get("replicationProtectedItems") or []:
                    item = self._resolve_plan_item(plan.vault, ref)
                    if item is not None and item not in ordered:
                        ordered.append(item)
        return ordered

    def _resolve_plan_item(self, vault: Vault, ref: dict[str, Any]) -> ProtectedItem | None:
        item = self.item_by_id(vault, _str(ref.get("id")) or "")
        if item is not None:
            return item
        # Switch protection moves an item to the other container; the plan follows it by name.
        name = segment_after(_str(ref.get("id")) or "", "replicationProtectedItems") or ""
        matches = [i for i in vault.items.values() if i.name.lower() == name.lower()]
        if len(matches) == 1:
            ref["id"] = matches[0].id
            return matches[0]
        return None

    def _plan_require(self, plan: RecoveryPlan, operation: str) -> list[ProtectedItem]:
        items = self.plan_items(plan)
        if not items:
            raise ArmError(400, "InvalidParameter", f"Recovery plan '{plan.name}' has no replicated items.")
        blocked = [i for i in items if operation not in self.allowed_operations(i)]
        if blocked:
            details = "; ".join(f"{i.name} ({_PROTECTION_STATES[i.phase][0]})" for i in blocked)
            raise ArmError(
                400,
                "OperationNotAllowedInCurrentState",
                f"The operation '{operation}' is not allowed on recovery plan '{plan.name}': these replicated items do not "
                f"allow it: {details}. Wait for their jobs to finish or act on them first.",
            )
        return items

    def plan_unplanned_failover(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = _props(body)
        direction = _str(props.get("failoverDirection")) or "PrimaryToRecovery"
        self._check_direction(direction)
        inputs = props.get("providerSpecificDetails")
        if inputs is not None and not isinstance(inputs, list):
            raise ArmError(
                400, "InvalidParameter", "providerSpecificDetails must be a list of provider-specific failover inputs."
            )
        items = self._plan_require(plan, "UnplannedFailover")
        if direction == "RecoveryToPrimary":
            for item in items:
                if item.provider == HYPERV_AZURE:
                    self._refuse_hyperv_failback(item)
        return self._failover_job(vault, items, scenario="UnplannedFailover", target=plan, plan=plan)

    def plan_planned_failover(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = _props(body)
        direction = _str(props.get("failoverDirection")) or "PrimaryToRecovery"
        self._check_direction(direction)
        items = self.plan_items(plan)
        for item in items:
            if item.provider == HYPERV_AZURE and direction == "RecoveryToPrimary":
                self._refuse_hyperv_failback(item)
        items = self._plan_require(plan, "PlannedFailover" if direction == "PrimaryToRecovery" else "Failback")
        plan.last_planned_failover = self.clock.now()
        return self._failover_job(
            vault, items, scenario="PlannedFailover", target=plan, plan=plan, failback=direction == "RecoveryToPrimary"
        )

    def plan_commit(self, vault: Vault, name: str) -> Job:
        plan = self.plan(vault, name)
        return self._commit_job(vault, self._plan_require(plan, "Commit"), target=plan, plan=plan)

    def plan_reprotect(self, vault: Vault, name: str) -> Job:
        """Reprotect every item with default placement (the original VM's RG and availability set, no PPG)."""
        plan = self.plan(vault, name)
        items = self._plan_require(plan, "ReverseReplicate")
        jobs = []
        for item in items:
            recovery = self._recovery_container(item)
            back = next(
                (
                    self.container_by_id(vault, m.target_container_id)
                    for m in recovery.mappings.values()
                    if self.container_by_id(vault, m.target_container_id).fabric.location == item.primary_location
                ),
                None,
            )
            if back is None:
                raise ArmError(400, "ContainerMappingNotFound", f"No reverse container mapping from '{recovery.name}' exists.")
            specific = {
                "instanceType": A2A,
                "recoveryContainerId": self.container_id(vault, back),
                "recoveryAvailabilitySetId": item.extra.get("sourceAvsetId") if not item.reversed else None,
            }
            jobs.append(self._reverse_replication(vault, item, specific, with_placement=False))
        # One plan-level job that finishes with the last item job.
        last = jobs[-1]
        job = self._start_job(
            vault,
            "SwitchProtection",
            target_id=plan.id,
            target_name=plan.name,
            target_type="RecoveryPlan",
            duration_s=self.timings.switch_protection_s,
            tasks=[TaskSpec(f"ReprotectTask-{i.name}", f"Reprotect {i.friendly_name}") for i in items],
            result=lambda: self.plan_body(plan),
        )
        job.op.due = last.op.due
        plan.scenario = ("SwitchProtection", job.id, self.clock.now())
        return job

    def plan_test_failover(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = _props(body)
        network = _str(props.get("networkId"))
        if network is None:
            raise ArmError(400, "InvalidParameter", "networkId (the isolated test network) is required for a test failover.")
        items = self._plan_require(plan, "TestFailover")
        return self._test_failover_job(vault, items, network, target=plan, plan=plan)

    def plan_test_failover_cleanup(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        items = self._plan_require(plan, "TestFailoverCleanup")
        return self._cleanup_job(vault, items, target=plan, plan=plan)

    def plan_allowed_operations(self, plan: RecoveryPlan) -> list[str]:
        items = self.plan_items(plan)
        if not items:
            return []
        ops = [
            "PlannedFailover",
            "UnplannedFailover",
            "TestFailover",
            "TestFailoverCleanup",
            "Commit",
            "ReverseReplicate",
            "Failback",
        ]
        return [op for op in ops if all(op in self.allowed_operations(i) for i in items)]

    def plan_body(self, plan: RecoveryPlan | None) -> dict[str, Any] | None:
        if plan is None or plan.vault.plans.get(plan.name.lower()) is not plan:
            return None
        items = self.plan_items(plan)
        providers = sorted({i.provider for i in items}) or [A2A]
        props: dict[str, Any] = {
            "friendlyName": plan.name,
            "primaryFabricId": plan.primary_fabric_id,
            "primaryFabricFriendlyName": last_segment(plan.primary_fabric_id),
            "recoveryFabricId": plan.recovery_fabric_id,
            "recoveryFabricFriendlyName": last_segment(plan.recovery_fabric_id),
            "failoverDeploymentModel": plan.deployment_model,
            "replicationProviders": providers,
            "allowedOperations": self.plan_allowed_operations(plan),
            "groups": plan.groups,
            "providerSpecificDetails": [{"instanceType": A2A, "primaryZone": None, "recoveryZone": None}]
            if A2A in providers
            else [],
        }
        if plan.last_planned_failover:
            props["lastPlannedFailoverTime"] = iso(plan.last_planned_failover)
        if plan.last_unplanned_failover:
            props["lastUnplannedFailoverTime"] = iso(plan.last_unplanned_failover)
        if plan.last_test_failover:
            props["lastTestFailoverTime"] = iso(plan.last_test_failover)
        if plan.scenario is not None:
            scenario, job_id, start = plan.scenario
            job = plan.vault.jobs.get(job_id.lower())
            props["currentScenario"] = {
                "scenarioName": scenario,
                "jobId": f"{plan.vault.id}/replicationJobs/{job_id}",
                "startTime": iso(start),
            }
            if job is not None:
                waiting = scenario == "TestFailover" and job.op.status == SUCCEEDED and any(i.tfo == TFO_WAITING for i in items)
                if waiting:
                    props["currentScenarioStatus"] = "Suspended"
                    props["currentScenarioStatusDescription"] = "WaitingForStopTestFailover"
                else:
                    state, description = job_state(job)
                    props["currentScenarioStatus"] = state
                    props["currentScenarioStatusDescription"] = description
        return {
            "id": plan.id,
            "name": plan.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationRecoveryPlans",
            "location": plan.vault.location,
            "properties": props,
        }

    # ----- seeding (admin) ------------------------------------------------------------------------------

    def setup_topology(self, vault: Vault, data: dict[str, Any]) -> dict[str, Any]:
        """Fabrics, containers, an A2A policy and container mappings both ways, as a Site Recovery admin sets up."""
        primary = data.get("primary") or {}
        recovery = data.get("recovery") or {}
        policy_name = str(data.get("policy") or "a2a-policy")
        sides = []
        for side, default in ((primary, "westeurope"), (recovery, "northeurope")):
            location = _norm_location(str(side.get("location") or default))
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
        provider = _str(body.get("provider")) or _str(body.get("instanceType")) or ""
        if provider not in PROVIDERS:
            raise ArmError(400, "InvalidParameter", f"provider must be one of {', '.join(PROVIDERS)}.")
        fabric_name = _str(body.get("fabric")) or (
            "vmwarefabric" if provider == INMAGE_RCM else "hypervsite" if provider == HYPERV_AZURE else ""
        )
        container_name = _str(body.get("container")) or f"{fabric_name}-container"
        name = _str(body.get("name"))
        if not fabric_name or name is None:
            raise ArmError(400, "InvalidParameter", "name (and, for A2A, fabric and container) are required.")
        fabric = vault.fabrics.get(fabric_name.lower())
        if fabric is None:
            location = _norm_location(_str(body.get("sourceLocation")) or "onpremises")
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
        recovery_location = _norm_location(
            _str(body.get("targetLocation")) or _str(body.get("recoveryLocation")) or vault.location
        )
        recovery_fabric = _str(body.get("recoveryFabric")) or "Microsoft Azure"
        recovery_container = _str(body.get("recoveryContainer")) or "Microsoft Azure"
        policy_name = _str(body.get("policy")) or f"{provider.lower()}-policy"
        if policy_name.lower() not in vault.policies:
            vault.policies[policy_name.lower()] = Policy(policy_name, provider)
        vm_name = _str(body.get("vmName")) or name
        item = ProtectedItem(
            vault=vault,
            name=name,
            provider=provider,
            fabric=fabric.name,
            container=container.name,
            recovery_fabric=recovery_fabric,
            recovery_container=recovery_container,
            policy_id=f"{vault.id}/replicationPolicies/{policy_name}",
            source_vm_id=_str(body.get("sourceVmId")) or (self._stable_id(vault.id, "onprem", name) if provider != A2A else ""),
            friendly_name=vm_name,
            primary_location=fabric.location,
            recovery_location=recovery_location,
            os_type=_str(body.get("osType")) or "Windows",
            vm_size=_str(body.get("targetVmSize")) or "Standard_D2s_v3",
            recovery_rg_id=_str(body.get("targetResourceGroupId"))
            or f"/subscriptions/{vault.subscription}/resourceGroups/{vault.resource_group}",
            recovery_ppg_id=_str(body.get("targetProximityPlacementGroupId")),
            recovery_avset_id=_str(body.get("targetAvailabilitySetId")),
            recovery_zone=_str(body.get("targetAvailabilityZone")),
            recovery_vm_name=_str(body.get("targetVmName")) or vm_name,
            recovery_vm_size=_str(body.get("targetVmSize")),
            recovery_network_id=_str(body.get("targetNetworkId")),
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
                vault.fabrics[fname.lower()] = Fabric(fname, _norm_location(loc), self._stable_id(vault.id, "fabric", fname))
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

    # ----- bodies --------------------------------------------------------------------------------------

    def item_body(self, item: ProtectedItem) -> dict[str, Any]:
        vault = item.vault
        state, description = _PROTECTION_STATES[item.phase]
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
            "primaryFabricFriendlyName": _display_location(item.primary_location),
            "primaryFabricProvider": "AzureFabric"
            if item.provider == A2A
            else ("HyperVSite" if item.provider == HYPERV_AZURE else "VMware"),
            "recoveryFabricFriendlyName": _display_location(item.recovery_location),
            "recoveryFabricId": recovery_fabric_id,
            "primaryProtectionContainerFriendlyName": item.container,
            "recoveryProtectionContainerFriendlyName": item.recovery_container,
            "protectionState": state,
            "protectionStateDescription": description,
            "activeLocation": item.active_location,
            "testFailoverState": item.tfo,
            "testFailoverStateDescription": _TFO_DESCRIPTIONS[item.tfo],
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
            else ("UnprotectedStatesBegin" if item.phase in (ENABLING, ENABLE_FAILED) else _PROTECTION_STATES[item.phase][0])
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
            "vmProtectionStateDescription": _PROTECTION_STATES[item.phase][1],
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

    def job_body(self, job: Job) -> dict[str, Any]:
        state, description = job_state(job)
        now = self.clock.now()
        total = sum(t.weight for t in job.tasks) or 1.0
        span = (job.op.due - job.op.started).total_seconds()
        tasks = []
        elapsed = 0.0
        failed_task_marked = False
        for spec in job.tasks:
            start = job.op.started + timedelta(seconds=span * elapsed / total)
            elapsed += spec.weight
            end = job.op.started + timedelta(seconds=span * elapsed / total)
            errors = list(spec.errors)
            if job.op.done and job.op.status == SUCCEEDED:
                t_state, t_desc, t_end = "Succeeded", "CompletedWithInformation" if errors else "Completed", end
            elif job.op.done:
                if not failed_task_marked and (errors or end >= (job.op.ended or job.op.due)):
                    failed_task_marked = True
                    t_state, t_desc, t_end = "Failed", "Failed", end
                    if not errors and job.op.error is not None:
                        errors.append(_job_error(job.op.error.code, job.op.error.message, "Error", job.op.due, None))
                elif failed_task_marked:
                    t_state, t_desc, t_end = "Cancelled", "Cancelled", None
                else:
                    t_state, t_desc, t_end = "Succeeded", "Completed", end
            elif now >= end:
                t_state, t_desc, t_end = "Succeeded", "Completed", end
            elif now >= start:
                t_state, t_desc, t_end = "InProgress", "InProgress", None
            else:
                t_state, t_desc, t_end = "NotStarted", "NotStarted", None
            task_id = self._stable_id(job.id, spec.name)
            tasks.append(
                {
                    "taskId": task_id,
                    "name": spec.name,
                    "startTime": iso(start) if t_state != "NotStarted" else None,
                    "endTime": iso(t_end) if t_end else None,
                    "allowedActions": [],
                    "friendlyName": spec.friendly,
                    "state": t_state,
                    "stateDescription": t_desc,
                    "taskType": "TaskDetails",
                    "customDetails": spec.custom,
                    "errors": [dict(e, taskId=task_id) for e in errors],
                }
            )
        errors = list(job.warnings)
        if job.op.status == FAILED and job.op.error is not None:
            errors.append(_job_error(job.op.error.code, job.op.error.message, "Error", job.op.due, None))
        return {
            "id": job.arm_id,
            "name": job.id,
            "type": "Microsoft.RecoveryServices/vaults/replicationJobs",
            "location": job.vault.location,
            "properties": {
                "activityId": job.activity_id,
                "scenarioName": job.scenario,
                "friendlyName": SCENARIOS.get(job.scenario, job.scenario),
                "state": state,
                "stateDescription": description,
                "tasks": tasks,
                "errors": errors,
                "startTime": iso(job.op.started),
                "endTime": iso(job.op.ended) if job.op.ended else None,
                "allowedActions": ["Cancel"] if not job.op.done else [],
                "targetObjectId": job.target_id,
                "targetObjectName": job.target_name,
                "targetInstanceType": job.target_type,
                "customDetails": job.custom,
            },
        }

    def operation_status_body(self, job: Job) -> dict[str, Any]:
        """The ``replicationOperationStatus/{job}`` poll body, shaped like the recorded one."""
        error: dict[str, Any] | None = None
        if job.op.status == FAILED and job.op.error is not None:
            error = {"code": job.op.error.code, "message": job.op.error.message, "details": None}
        elif job.warnings:
            first = job.warnings[0]["serviceErrorDetails"]
            error = {"code": first["code"], "message": first["message"], "details": None}
        status = {IN_PROGRESS: "InProgress", SUCCEEDED: "Succeeded", FAILED: "Failed"}.get(job.op.status, "Canceled")
        return {
            "error": error,
            "id": None,
            "name": job.id,
            "properties": None,
            "status": status,
            "startTime": iso(job.op.started),
            "endTime": iso(job.op.ended) if job.op.ended else None,
            "percentComplete": None,
        }


# --- helpers -------------------------------------------------------------------------------------


def job_state(job: Job) -> tuple[str, str]:
    if not job.op.done:
        return "InProgress", "InProgress"
    if job.op.status == FAILED:
        return "Failed", "Failed"
    if job.op.status == SUCCEEDED:
        return "Succeeded", "CompletedWithInformation" if job.warnings else "Completed"
    return "Cancelled", "Cancelled"


def _job_error(code: str, message: str, level: str, when: datetime, task_id: str | None) -> dict[str, Any]:
    return {
        "serviceErrorDetails": {
            "code": code,
            "message": message,
            "possibleCauses": "",
            "recommendedAction": "",
            "activityId": None,
        },
        "providerErrorDetails": None,
        "errorLevel": level,
        "creationTime": iso(when),
        "taskId": task_id,
    }


def _apply_policy_settings(policy: Policy, specific: dict[str, Any]) -> None:
    if "recoveryPointHistory" in specific:
        policy.recovery_point_history_min = int(specific["recoveryPointHistory"])
    if "crashConsistentFrequencyInMinutes" in specific:
        policy.crash_consistent_min = int(specific["crashConsistentFrequencyInMinutes"])
    if "appConsistentFrequencyInMinutes" in specific:
        policy.app_consistent_min = int(specific["appConsistentFrequencyInMinutes"])
    if _str(specific.get("multiVmSyncStatus")):
        policy.multi_vm_sync = str(specific["multiVmSyncStatus"])


def _display_location(location: str) -> str:
    names = {
        "westeurope": "West Europe",
        "northeurope": "North Europe",
        "eastus": "East US",
        "eastus2": "East US 2",
        "westus": "West US",
        "westus2": "West US 2",
        "centralus": "Central US",
        "southcentralus": "South Central US",
        "uksouth": "UK South",
        "ukwest": "UK West",
        "francecentral": "France Central",
        "germanywestcentral": "Germany West Central",
        "swedencentral": "Sweden Central",
        "japaneast": "Japan East",
        "japanwest": "Japan West",
    }
    return names.get(location, location)


def _has_unmanaged_disks(vm_props: dict[str, Any]) -> bool:
    storage = vm_props.get("storageProfile") or {}
    disks = [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]
    return any(isinstance(d, dict) and d.get("vhd") for d in disks)


def _os_type(vm_props: dict[str, Any]) -> str:
    os_disk = (vm_props.get("storageProfile") or {}).get("osDisk") or {}
    return _str(os_disk.get("osType")) or "Windows"


def _nic_names(vm_props: dict[str, Any], vm_name: str) -> list[str]:
    nics = (vm_props.get("networkProfile") or {}).get("networkInterfaces") or []
    names = [last_segment(n["id"]) for n in nics if isinstance(n, dict) and _str(n.get("id"))]
    return names or [f"{vm_name}-nic"]


def _disk(
    disk_id: str, known: tuple[str, str, int], entry: dict[str, Any], recovery_rg_id: str, resource: dict[str, Any] | None
) -> Disk:
    name, kind, size_gb = known
    sku = _str(((resource or {}).get("sku") or {}).get("name")) or "Standard_LRS"
    size = int(_props(resource).get("diskSizeGB") or size_gb) if resource else size_gb
    return Disk(
        disk_id=disk_id,
        name=_str((resource or {}).get("name")) or name,
        disk_type=kind,
        capacity_bytes=size << 30,
        recovery_rg_id=_str(entry.get("recoveryResourceGroupId")) or recovery_rg_id,
        replica_account_type=_str(entry.get("recoveryReplicaDiskAccountType")) or sku,
        target_account_type=_str(entry.get("recoveryTargetDiskAccountType")) or sku,
        staging_account_id=_str(entry.get("primaryStagingAzureStorageAccountId")),
    )


def _plan_item_ids(plan: RecoveryPlan) -> list[str]:
    return [ref["id"] for g in plan.groups for ref in g.get("replicationProtectedItems") or [] if ref.get("id")]


def parse_filter(text: str | None) -> dict[str, str]:
    """``a eq 'x' and b eq 'y'`` -> ``{"a": "x", "b": "y"}`` (keys lower-cased); ASR's filters are this simple."""
    terms: dict[str, str] = {}
    if not text:
        return terms
    for part in _split_and(text):
        pieces = part.strip().split(None, 2)
        if len(pieces) != 3:
            raise ArmError(400, "InvalidFilter", f"The filter term '{part.strip()}' is not of the form \"name eq 'value'\".")
        name, _op, value = pieces
        terms[name.lower()] = value.strip().strip("'\"")
    return terms


def _split_and(text: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    for word in text.split(" "):
        if word.lower() == "and":
            out.append(" ".join(current))
            current = []
        else:
            current.append(word)
    out.append(" ".join(current))
    return [p for p in out if p.strip()]


def _parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ArmError(400, "InvalidFilter", f"'{value}' is not an ISO 8601 time.") from exc


