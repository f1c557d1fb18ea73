"""Azure Site Recovery state and behaviour, without HTTP.

What it models (Azure-to-Azure first, the way ppg-dr uses it):

- A vault holds fabrics (one per Azure region), protection containers, replication policies,
  container mappings (primary container -> recovery container + policy), network mappings,
  replication protected items ("items"), jobs and recovery plans.
- Every write ASR does asynchronously is a **job** backed by an :class:`~emulator.operations.Operation`
  on the emulator clock: the SDK polls ``replicationOperationStatus/{job}`` until the operation is done,
  fault injection can fail it by kind (``asr.<ScenarioName>``), and the job's tasks progress with time.
- Item life cycle (A2A): enable job -> initial replication (progress on the clock) -> ``Protected`` ->
  unplanned failover (VMs created through the compute backend, in the recovery PPG when its datacenter
  can host them, outside it otherwise, noted on the job) -> commit -> switch protection (before or after
  commit; the item moves to the recovery container and replicates back; the original VM is deleted) ->
  initial replication -> ``Protected`` -> failback (the VMs are created again) -> commit -> switch
  protection -> ... ; test failover creates ``<vm>-test`` VMs on the test network, cleanup removes them
  with their disks and NICs; disable removes the item and never touches the VM.
- Refusals are :class:`~emulator.errors.ArmError` with the ARM error envelope when Azure refuses the
  request, or a failed job (``refusals``) when Azure accepts it and fails the job.

State names (protectionState, allowedOperations, job scenario names and tasks) follow the recorded
sessions (``tests/data/distilled``), the REST API examples and the Site Recovery docs; the evidence table
in ``docs/emulator.md`` cites each, or says "no evidence: choice".

The backend is split by resource the way moto splits its EC2 backend: each module holds its dataclasses
and a mixin with the behaviour, and :class:`AsrBackend` combines the mixins. A mixin's bases are the
mixins it calls, so the import graph reads bottom-up:

- ``common``: provider names, id helpers, ``$filter`` parsing, region display names
- ``core``: :class:`AsrCore` (state, deterministic ids, timer heap, ``tick``), timings, the compute contract
- ``job_bodies``: how a job reads at a moment (state, tasks, errors) and its operation-status body
- ``jobs``: jobs and their tasks, starting them (with a refusal when Azure would fail the job)
- ``vaults``: vaults, fabrics, protection containers
- ``policies``: replication policies and container mappings
- ``networks``: networks and network mappings
- ``items``: protected items, the state tables, reads, allowed operations, disable and purge
- ``item_bodies``: the item body and its provider-specific details
- ``refusals``: validations Azure makes inside the job (202, then a failed job with a numeric code)
- ``enable``: enable and update replication, placement and disk checks
- ``recovery_points``: recovery points
- ``plans``: recovery plan definitions and bodies
- ``task_lists``: the recorded task lists of item and plan jobs
- ``failover_vms``: the Compute writes of failovers and switch protection (create, shut down, retire VMs)
- ``failover``: unplanned / planned failover, commit
- ``drills``: test failover and its cleanup (the test VMs, their NICs and disks, the recovery point used)
- ``reprotect``: switch protection / reprotect
- ``plan_actions``: the same actions over a recovery plan
- ``seeding``: admin seeding (topology, on-premises items, bulk items)
"""

from __future__ import annotations

from emulator.asr.models.common import A2A, HYPERV_AZURE, INMAGE_RCM, PROVIDERS, parse_filter
from emulator.asr.models.core import AsrCore, ComputeApi, Timings
from emulator.asr.models.enable import MULTI_VM_GROUP_LIMIT
from emulator.asr.models.items import BulkItemSpec, Disk, ProtectedItem
from emulator.asr.models.jobs import SCENARIOS, Job, TaskSpec, job_state
from emulator.asr.models.networks import Network, NetworkMapping
from emulator.asr.models.plan_actions import PlanActionsMixin
from emulator.asr.models.plans import RecoveryPlan
from emulator.asr.models.policies import ContainerMapping, Policy
from emulator.asr.models.seeding import SeedingMixin
from emulator.asr.models.vaults import Container, Fabric, Vault

__all__ = [
    "A2A",
    "HYPERV_AZURE",
    "INMAGE_RCM",
    "MULTI_VM_GROUP_LIMIT",
    "PROVIDERS",
    "SCENARIOS",
    "AsrBackend",
    "AsrCore",
    "BulkItemSpec",
    "ComputeApi",
    "Container",
    "ContainerMapping",
    "Disk",
    "Fabric",
    "Job",
    "Network",
    "NetworkMapping",
    "Policy",
    "ProtectedItem",
    "RecoveryPlan",
    "TaskSpec",
    "Timings",
    "Vault",
    "job_state",
    "parse_filter",
]


class AsrBackend(SeedingMixin, PlanActionsMixin):
    """All Site Recovery state and behaviour of one emulator (the mixins' union; see the module docstring)."""
