"""Jobs: every write ASR does asynchronously, and the bodies the SDK polls.

Each job is backed by an :class:`~emulator.operations.Operation` on the emulator clock: the SDK polls
``replicationOperationStatus/{job}`` until the operation is done, fault injection can fail it by kind
(``asr.<ScenarioName>``), and the job's tasks progress with time. How a job reads (its key set, the
``0001-01-01T00:00:00`` times of tasks that have not started, the NotStarted instant after the 202)
follows the recorded sessions; see :mod:`emulator.asr.models.job_bodies` and ``docs/emulator.md``.

Refusals that Azure makes *inside* the job (a 202, then a failed job with a numeric code, as
hashicorp/terraform-provider-azurerm#31927 quotes for an enable) are refusals (:class:`Refusal`): the
job starts like any other and fails in its prerequisite check after ``timings.refusal_s``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from emulator.asr.models.common import parse_filter, parse_time
from emulator.asr.models.core import AsrCore
from emulator.asr.models.job_bodies import job_error, job_state, operation_status, render_job
from emulator.errors import ArmError
from emulator.operations import FAILED, Operation

if TYPE_CHECKING:
    from emulator.asr.models.vaults import Vault

__all__ = ["JOB_START_S", "SCENARIOS", "Job", "JobTarget", "JobsMixin", "Refusal", "TaskSpec", "job_error", "job_state"]

#: (scenarioName, friendlyName) of jobs. Recorded (PPG, plan, A2AReprotectTest and cluster sessions):
#: CreateSite, CreateCloud, AddProtectionProfile, AssociateProtectionProfile, NetworkPairing, EnableDr,
#: UpdateVmProperties, UnplannedFailover, CommitFailover, SwitchReplicationGroupProtection,
#: TestFailoverCleanup, SaveRecoveryPlan; DeleteRecoveryPlan from the REST examples. The others are
#: emulator choices in the same style (docs/emulator.md, evidence table).
SCENARIOS: dict[str, str] = {
    "EnableDr": "Enable replication",
    "DisableDr": "Disable replication",
    "PurgeProtection": "Purge replication",
    "UpdateVmProperties": "Update the virtual machine",
    "UnplannedFailover": "Failover",
    "PlannedFailover": "Planned failover",
    "CommitFailover": "Commit",
    "SwitchReplicationGroupProtection": "Reprotect",
    "ReverseReplication": "Reprotect",
    "TestFailover": "Test failover",
    "TestFailoverCleanup": "Test failover cleanup",
    "CreateSite": "Create a site",
    "DeleteSite": "Delete a site",
    "CreateCloud": "Create protection container",
    "RemoveCloud": "Remove protection container",
    "AddProtectionProfile": "Create replication policy",
    "UpdateProtectionProfile": "Update replication policy",
    "RemoveProtectionProfile": "Delete replication policy",
    "AssociateProtectionProfile": "Associate replication policy",
    "DissociateProtectionProfile": "Dissociate replication policy",
    "NetworkPairing": "Map Networks",
    "NetworkUnpairing": "Unmap Networks",
    "SaveRecoveryPlan": "Save a recovery plan",
    "UpdateRecoveryPlan": "Update a recovery plan",
    "DeleteRecoveryPlan": "Delete a recovery plan",
}

#: How long a just-accepted job reads NotStarted at most (Azure: about 2 s in the PPG recording, 19:52:19).
JOB_START_S = 2.0


@dataclass
class TaskSpec:
    """One task of a job. ``task_id`` None renders a GUID (setup and plan tasks); item jobs use names."""

    name: str
    friendly: str
    weight: float = 1.0
    task_id: str | None = None
    task_type: str = "TaskDetails"
    custom: dict[str, Any] | None = field(default_factory=lambda: {"instanceType": "TaskDetails"})
    #: ``groupTaskCustomDetails`` without ``childTasks`` (added from ``children``); None for plain tasks.
    group: dict[str, Any] | None = None
    children: list[TaskSpec] = field(default_factory=list)
    #: Friendly name once the task runs (``"Reprotecting virtual machine (1)"``); None: ``friendly``.
    friendly_running: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: Rendered ``Other`` / ``Skipped`` (e.g. the source shutdown with sourceSiteOperations NotRequired).
    skipped: bool = False
    #: A skipped task that keeps its real start time (recorded: PrepareForUnPlannedFailoverTask).
    skipped_after_start: bool = False


@dataclass(frozen=True)
class JobTarget:
    """What a job names as its target: ``targetObjectId`` (a GUID, or for NetworkPairing a network name),
    ``targetObjectName``, ``targetInstanceType``, and the ARM id the operation context keeps."""

    object_id: str
    name: str
    kind: str
    arm_id: str


@dataclass(frozen=True)
class Refusal:
    """A validation Azure answers with a failed job: ``code`` (numeric string) and ``message`` go to the
    operation status and ``serviceErrorDetails``; ``reason`` (the specific cause) to ``providerErrorDetails``."""

    code: str
    message: str
    reason: str
    recommended_action: str = ""
    provider_code: int = 0
    #: The task (by name) the job fails in; None: its first task, the prerequisite check.
    at_task: str | None = None


@dataclass
class Job:
    vault: Vault
    id: str
    scenario: str
    target: JobTarget
    op: Operation
    tasks: list[TaskSpec]
    activity_id: str
    #: When the tasks begin (after the NotStarted instant) and when they would all be done.
    work_start: datetime
    work_end: datetime
    custom: dict[str, Any] = field(default_factory=lambda: {"instanceType": "AsrJobDetails", "affectedObjectDetails": {}})
    warnings: list[dict[str, Any]] = field(default_factory=list)
    result: Callable[[], dict[str, Any] | None] | None = None
    on_failed: Callable[[], None] | None = None
    refusal: Refusal | None = None
    settled: bool = False

    @property
    def arm_id(self) -> str:
        return f"{self.vault.id}/replicationJobs/{self.id}"

    @property
    def target_id(self) -> str:
        return self.target.arm_id


class JobsMixin(AsrCore):
    """Starting jobs (setup jobs finish at once by default), reading and rendering them."""

    def _start_job(
        self,
        vault: Vault,
        scenario: str,
        *,
        target: JobTarget,
        duration_s: float,
        tasks: list[TaskSpec],
        on_complete: Callable[[Job], None] | None = None,
        on_failed: Callable[[], None] | None = None,
        result: Callable[[], dict[str, Any] | None] | None = None,
        custom: dict[str, Any] | None = None,
        refusal: Refusal | None = None,
    ) -> Job:
        """Start a job. A ``refusal`` (or one the async-refusal fault left pending) fails it in its first task."""
        job_id = self.new_id()
        holder: list[Job] = []
        refusal = refusal or self._take_pending_refusal()

        def complete() -> Any:
            if on_complete is not None:
                on_complete(holder[0])
            return None

        now = self.clock.now()
        delay, planned = min(JOB_START_S, max(duration_s, 0.0) / 10), max(duration_s, 0.0)
        if refusal is not None:
            duration_s, delay, planned = _refused_timeline(refusal, tasks, duration_s, self.timings.refusal_s)
        op = self._start_op(scenario, duration_s, complete, job_id, vault, target.arm_id)
        if refusal is not None:
            op.forced_error = ArmError(400, refusal.code, refusal.message)
        job = Job(
            vault=vault,
            id=job_id,
            scenario=scenario,
            target=target,
            op=op,
            tasks=tasks,
            activity_id=f"{self.new_id()} ActivityId: {self.new_id()}",
            work_start=now + timedelta(seconds=delay),
            work_end=now + timedelta(seconds=planned),
            result=result,
            on_failed=on_failed,
            refusal=refusal,
        )
        if custom is not None:
            job.custom = custom
        holder.append(job)
        vault.jobs[job_id.lower()] = job
        if op.due <= self.clock.now():
            self.operations.advance()
        if op.done:
            job.settled = True
            if op.status == FAILED and on_failed is not None:
                on_failed()
        else:
            self._active_jobs.append(job)
        return job

    def _take_pending_refusal(self) -> Refusal | None:
        """The refusal an async-refusal fault rule left for the next job started by this request, once."""
        pending, self.pending_refusal = self.pending_refusal, None
        if pending is None:
            return None
        code, message = pending
        return Refusal(code, message, reason=message, provider_code=int(code))

    def _start_op(
        self, scenario: str, duration_s: float, complete: Callable[[], Any], job_id: str, vault: Vault, target_id: str
    ) -> Operation:
        # Operations.start completes zero-length operations at once (before the Job object exists), so a
        # zero-length job is started with a tiny positive duration and completed by the caller.
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

    def _setup_job(
        self,
        vault: Vault,
        scenario: str,
        target: JobTarget,
        *,
        tasks: list[TaskSpec] | None = None,
        on_complete: Callable[[Job], None] | None = None,
        on_failed: Callable[[], None] | None = None,
        result: Callable[[], dict[str, Any] | None] | None = None,
    ) -> Job:
        """A setup write (fabric, container, policy, mapping, plan): its change is applied when the job completes."""
        return self._start_job(
            vault,
            scenario,
            target=target,
            duration_s=self.timings.setup_s,
            tasks=tasks or [TaskSpec(f"{scenario}Task", f"{SCENARIOS.get(scenario, scenario)} task")],
            on_complete=on_complete,
            on_failed=on_failed,
            result=result,
        )

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
        now = self.clock.now()
        out: list[Job] = []
        for job in jobs:
            if "starttime" in terms and job.op.started < parse_time(terms["starttime"]):
                continue
            if "endtime" in terms and job.op.started > parse_time(terms["endtime"]):
                continue
            if "jobstatus" in terms and job_state(job, now)[0].lower() not in {
                s.strip().lower() for s in terms["jobstatus"].split(",")
            }:
                continue
            if "affectedobjecttypes" in terms and job.target.kind.lower() not in {
                s.strip().lower() for s in terms["affectedobjecttypes"].split(",")
            }:
                continue
            if "jobname" in terms and job.scenario.lower() != terms["jobname"].lower():
                continue
            out.append(job)
        return out

    def job_body(self, job: Job) -> dict[str, Any]:
        """The job as ``GET replicationJobs/{job}`` returns it."""
        return render_job(job, self.clock.now(), SCENARIOS)

    def job_list_body(self, job: Job) -> dict[str, Any]:
        """The job as a list page shows it: no tasks, no customDetails, no activityId (PPG recording 19:34:45)."""
        return render_job(job, self.clock.now(), SCENARIOS, listed=True)

    def operation_status_body(self, job: Job) -> dict[str, Any]:
        """The ``replicationOperationStatus/{job}`` poll body, shaped like the recorded one (.NET entries 3-19)."""
        return operation_status(job)


def _refused_timeline(refusal: Refusal, tasks: list[TaskSpec], duration_s: float, refusal_s: float) -> tuple[float, float, float]:
    """(failure after, NotStarted delay, planned end) in seconds for a refused job: a prerequisite-check
    refusal fails after ``refusal_s``; one at a later task fails halfway through that task's share of the job."""
    planned = max(duration_s, refusal_s + 1)
    delay = min(JOB_START_S, planned / 10)
    names = [t.name for t in tasks]
    if refusal.at_task is None or refusal.at_task not in names:
        return min(refusal_s, planned), min(delay, refusal_s / 10), planned
    index = names.index(refusal.at_task)
    total = sum(t.weight for t in tasks) or 1.0
    before = sum(t.weight for t in tasks[:index])
    fail_at = delay + (planned - delay) * (before + tasks[index].weight / 2) / total
    return fail_at, delay, planned
