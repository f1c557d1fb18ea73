"""Jobs: every write ASR does asynchronously, and the bodies the SDK polls.

Each job is backed by an :class:`~emulator.operations.Operation` on the emulator clock: the SDK polls
``replicationOperationStatus/{job}`` until the operation is done, fault injection can fail it by kind
(``asr.<ScenarioName>``), and the job's tasks progress with time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from emulator.asr.models.common import parse_filter, parse_time
from emulator.asr.models.core import AsrCore
from emulator.clock import iso
from emulator.errors import ArmError
from emulator.operations import FAILED, IN_PROGRESS, SUCCEEDED, Operation

if TYPE_CHECKING:
    from emulator.asr.models.vaults import Vault

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


def job_state(job: Job) -> tuple[str, str]:
    if not job.op.done:
        return "InProgress", "InProgress"
    if job.op.status == FAILED:
        return "Failed", "Failed"
    if job.op.status == SUCCEEDED:
        return "Succeeded", "CompletedWithInformation" if job.warnings else "Completed"
    return "Cancelled", "Cancelled"


def job_error(code: str, message: str, level: str, when: datetime, task_id: str | None) -> dict[str, Any]:
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


class JobsMixin(AsrCore):
    """Starting jobs (setup jobs finish at once by default), reading and rendering them."""

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
            if "starttime" in terms and job.op.started < parse_time(terms["starttime"]):
                continue
            if "endtime" in terms and job.op.started > parse_time(terms["endtime"]):
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
                        errors.append(job_error(job.op.error.code, job.op.error.message, "Error", job.op.due, None))
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
            errors.append(job_error(job.op.error.code, job.op.error.message, "Error", job.op.due, None))
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
