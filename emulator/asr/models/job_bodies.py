"""How a Site Recovery job reads: its state, tasks and errors at a given moment, and its poll body.

Everything here is rendering, derived from the job's timeline and the clock, so a job never stores a
state that could disagree with its operation. The shapes follow the recorded sessions
(``tests/data/distilled``): a job read in the instant after the 202 is ``NotStarted`` with nulls and no
tasks (PPG recording 19:52:19); a running job has no ``endTime`` key; tasks that have not started (or
not ended) carry ``0001-01-01T00:00:00`` (A2AReprotectTest entries 17, 18); a successful job with
informational errors is ``CompletedWithInformation`` (A2AUpdateProtectionWithZone entries[-1]).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from emulator.clock import iso
from emulator.operations import FAILED, IN_PROGRESS, SUCCEEDED

if TYPE_CHECKING:
    from emulator.asr.models.jobs import Job, TaskSpec

#: How ASR writes the start or end time of a task that has not started (or not ended).
ZERO_TIME = "0001-01-01T00:00:00"


def whole_seconds(moment: datetime) -> str:
    """Job and poll end times: whole seconds with ``Z`` (recorded ``"2022-10-11T19:55:51Z"``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _informational(errors: list[dict[str, Any]]) -> bool:
    return any(e.get("errorLevel") in ("Info", "Warning") for e in errors)


def job_state(job: Job, now: datetime) -> tuple[str, str]:
    """(state, stateDescription) of the job at ``now``."""
    if not job.op.done:
        return ("NotStarted", "NotStarted") if now < job.work_start else ("InProgress", "InProgress")
    if job.op.status == FAILED:
        return "Failed", "Failed"
    if job.op.status == SUCCEEDED:
        if _informational(job.warnings) or any(_informational(t.errors) for t in job.tasks):
            return "CompletedWithInformation", "CompletedWithInformation"
        return "Succeeded", "Completed"
    return "Cancelled", "Cancelled"


def stable_guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(p.lower() for p in parts)))


def _spans(job: Job) -> list[tuple[datetime, datetime]]:
    total = sum(t.weight for t in job.tasks) or 1.0
    span = (job.work_end - job.work_start).total_seconds()
    out, elapsed = [], 0.0
    for task in job.tasks:
        start = job.work_start + timedelta(seconds=span * elapsed / total)
        elapsed += task.weight
        out.append((start, job.work_start + timedelta(seconds=span * elapsed / total)))
    return out


def task_window(job: Job, task: TaskSpec) -> tuple[datetime, datetime] | None:
    """When ``task`` (a task of ``job`` or a child of one: children share their group's times) runs on the
    job's timeline, or None when it is not part of the job."""
    for top, span in zip(job.tasks, _spans(job), strict=True):
        if top is task or _contains(top.children, task):
            return span
    return None


def _contains(tasks: list[TaskSpec], wanted: TaskSpec) -> bool:
    return any(t is wanted or _contains(t.children, wanted) for t in tasks)


def _failing_index(job: Job, spans: list[tuple[datetime, datetime]]) -> int:
    failed_at = job.op.ended or job.op.due
    for index, (task, (_, end)) in enumerate(zip(job.tasks, spans, strict=True)):
        if not task.skipped and end >= failed_at:
            return index
    return len(job.tasks) - 1


def _task_state(
    job: Job, index: int, spans: list[tuple[datetime, datetime]], now: datetime, failing: int | None
) -> tuple[str, str, str, str]:
    """(state, description, startTime, endTime) of task ``index``."""
    task = job.tasks[index]
    start, end = spans[index]
    done_ok = job.op.done and job.op.status == SUCCEEDED
    if failing is not None:
        if index < failing:
            return _finished(task, start, end)
        if index == failing:
            failed_at = job.op.ended or job.op.due
            return "Failed", "Failed", iso(min(start, failed_at)), iso(failed_at)
        return "NotStarted", "NotStarted", ZERO_TIME, ZERO_TIME
    if done_ok or now >= end:
        return _finished(task, start, end)
    if now >= start and not task.skipped:
        return "InProgress", "InProgress", iso(start), ZERO_TIME
    return "NotStarted", "NotStarted", ZERO_TIME, ZERO_TIME


def _finished(task: TaskSpec, start: datetime, end: datetime) -> tuple[str, str, str, str]:
    if task.skipped:
        return "Other", "Skipped", iso(start) if task.skipped_after_start else ZERO_TIME, ZERO_TIME
    if _informational(task.errors):
        return "CompletedWithInformation", "CompletedWithInformation", iso(start), iso(end)
    return "Succeeded", "Completed", iso(start), iso(end)


def _task_body(
    job: Job, task: TaskSpec, state: tuple[str, str, str, str], running: bool, extra_errors: list[dict[str, Any]]
) -> dict[str, Any]:
    task_state, description, start, end = state
    task_id = task.task_id or stable_guid(job.id, task.name)
    group: dict[str, Any] | None = None
    if task.group is not None:
        children = [_task_body(job, child, state, running, []) for child in task.children] if running else []
        group = {**task.group, "childTasks": children}
    errors = [dict(e, taskId=e.get("taskId") or task_id) for e in [*task.errors, *extra_errors]]
    return {
        "taskId": task_id,
        "name": task.name,
        "startTime": start,
        "endTime": end,
        "allowedActions": [],
        "friendlyName": (task.friendly_running or task.friendly) if running else task.friendly,
        "state": task_state,
        "stateDescription": description,
        "taskType": task.task_type,
        "customDetails": _resolve_custom(task.custom, job, running),
        "groupTaskCustomDetails": group,
        "errors": errors,
    }


def _resolve_custom(custom: dict[str, Any] | None, job: Job, running: bool) -> dict[str, Any] | None:
    """Child VM tasks name their per-VM job only once the group runs (recorded: jobId ``.../replicationJobs/``,
    ``Unknown`` names while waiting, plan recording 21:55:23)."""
    if custom is None or "jobTask" not in custom:
        return custom
    task = dict(custom["jobTask"])
    if not running:
        task.update(jobId=f"{job.vault.id}/replicationJobs/", jobFriendlyName="Unknown", jobScenarioName="Unknown")
    return {**custom, "jobTask": task}


def job_error(
    code: str,
    message: str,
    level: str,
    when: datetime,
    task_id: str | None,
    *,
    activity_id: str = "",
    error_id: str = "",
    possible_causes: str = "",
    recommended_action: str = "",
    provider_code: int = 0,
    provider_message: str | None = None,
) -> dict[str, Any]:
    """An entry of a job's ``errors[]`` (shape of A2AUpdateProtectionWithZone entries[-1])."""
    return {
        "serviceErrorDetails": {
            "code": code,
            "message": message,
            "possibleCauses": possible_causes,
            "recommendedAction": recommended_action,
            "activityId": activity_id,
        },
        "providerErrorDetails": {
            "errorCode": provider_code,
            "errorMessage": provider_message,
            "errorId": error_id,
            "possibleCauses": possible_causes,
            "recommendedAction": recommended_action,
        },
        "errorLevel": level,
        "creationTime": iso(when),
        "taskId": task_id,
    }


def job_failure(job: Job, failed_at: datetime, task_id: str | None) -> dict[str, Any] | None:
    """The job-level error of a failed job (a refusal, an injected fault or a failed step), or None."""
    if job.op.status != FAILED or job.op.error is None:
        return None
    refusal = job.refusal
    code = job.op.error.code
    return job_error(
        code,
        job.op.error.message,
        "Error",
        failed_at,
        task_id,
        activity_id=job.activity_id,
        error_id=stable_guid(job.id, "error"),
        possible_causes=refusal.reason if refusal else "",
        recommended_action=refusal.recommended_action if refusal else "",
        provider_code=refusal.provider_code if refusal else (int(code) if code.isdigit() else 0),
        provider_message=refusal.reason if refusal else None,
    )


def render_job(job: Job, now: datetime, scenarios: Mapping[str, str], *, listed: bool = False) -> dict[str, Any]:
    """The job at ``now``; ``listed``: as a list page shows it (no tasks, customDetails or activityId)."""
    state, description = job_state(job, now)
    head = {"id": job.arm_id, "name": job.id, "type": "Microsoft.RecoveryServices/vaults/replicationJobs"}
    if state == "NotStarted":
        props: dict[str, Any] = {
            "activityId": None if listed else job.activity_id,
            "scenarioName": None,
            "friendlyName": None,
            "state": state,
            "stateDescription": description,
            "tasks": [],
            "errors": [],
            "allowedActions": [],
            "targetObjectId": None,
            "targetObjectName": None,
            "targetInstanceType": "ProtectionEntity",
            "customDetails": None if listed else {"instanceType": "AsrJobDetails", "affectedObjectDetails": {}},
        }
        return {**head, "properties": props}
    spans = _spans(job)
    failing = _failing_index(job, spans) if job.op.done and job.op.status == FAILED else None
    failed_at = job.op.ended or job.op.due
    failure = job_failure(job, failed_at, None)
    tasks: list[dict[str, Any]] = []
    if not listed:
        for index, task in enumerate(job.tasks):
            task_state = _task_state(job, index, spans, now, failing)
            running = task_state[0] not in ("NotStarted",)
            extra = [failure] if failure is not None and index == failing and not task.errors else []
            tasks.append(_task_body(job, task, task_state, running, extra))
    errors = list(job.warnings)
    if failure is not None:
        failing_id = tasks[failing]["taskId"] if failing is not None and tasks else None
        errors.append(dict(failure, taskId=failing_id))
    props = {
        "activityId": None if listed else job.activity_id,
        "scenarioName": job.scenario,
        "friendlyName": scenarios.get(job.scenario, job.scenario),
        "state": state,
        "stateDescription": description,
        "tasks": tasks,
        "errors": errors,
        "startTime": iso(job.work_start),
    }
    if job.op.done:
        props["endTime"] = whole_seconds(job.op.ended or job.op.due)
    props.update(
        {
            "allowedActions": [] if job.op.done else ["Cancel"],
            "targetObjectId": job.target.object_id,
            "targetObjectName": job.target.name,
            "targetInstanceType": job.target.kind,
            "customDetails": None if listed else job.custom,
        }
    )
    return {**head, "properties": props}


def operation_status(job: Job) -> dict[str, Any]:
    """The ``replicationOperationStatus/{job}`` poll body (.NET entries 3-19): the error of a failed job, or
    the first warning of a running or succeeded one (recorded 151207 on an InProgress and a Succeeded poll)."""
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
        "endTime": whole_seconds(job.op.ended) if job.op.ended else None,
        "percentComplete": None,
    }
