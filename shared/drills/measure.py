"""What a drill measured, from the times Azure reports: RTO, achieved RPO, each VM's steps, the verdict. Pure.

RTO is the test failover job's start to the moment the last VM's steps in that job ended (its test VM
created and started), not a guess from our own clock. The achieved RPO is the age of the recovery point the
job used at the moment the job started. Both are compared with the group's targets.
"""

from __future__ import annotations

from typing import Any

from shared.failover.report import job_steps, vm_tasks
from shared.platform.site_recovery import JobView
from shared.state.drill_records import FAILED, PASSED, DrillRecord


def rto_seconds(job: JobView, vms: dict[str, tuple[str, ...]]) -> float | None:
    """Test failover start -> the end of the last VM's steps (the job's end when tasks do not name VMs)."""
    if job.start is None:
        return None
    ends = [t.end for names in vms.values() for t in vm_tasks(job, names) if t.end is not None]
    last = max(ends) if ends else job.end
    return (last - job.start).total_seconds() if last is not None else None


def rpo_seconds(job: JobView) -> float | None:
    """The oldest recovery point the job used, aged at the job's start."""
    points = [i.recovery_point_time for i in job.items if i.recovery_point_time is not None]
    if job.start is None or not points:
        return None
    return max(0.0, (job.start - min(points)).total_seconds())


def timeline(
    test_failover: JobView | None, cleanup: JobView | None, vms: dict[str, tuple[str, ...]], validated_at: str | None
) -> list[dict[str, Any]]:
    """Each VM's steps with their times, for the report's timeline chart."""
    jobs = [(phase, job) for phase, job in (("test failover", test_failover), ("cleanup", cleanup)) if job is not None]
    validated = {"name": "validated", "phase": "validate", "state": "Succeeded", "start": validated_at, "end": validated_at}
    return [
        {"vm": vm, "steps": [*job_steps(jobs, names), *([validated] if validated_at else [])]}
        for vm, names in sorted(vms.items())
    ]


def verdict(drill: DrillRecord) -> tuple[str, list[str]]:
    """Passed only when the group came up as planned, within its targets, and was cleaned up."""
    problems = list(drill.problems)
    if drill.rto_seconds is not None and drill.rto_seconds > drill.rto_target_seconds:
        problems.append(f"RTO {drill.rto_seconds / 60:.1f} min is over the {drill.rto_target_seconds // 60} min target")
    if drill.rpo_seconds is not None and drill.rpo_seconds > drill.rpo_target_seconds:
        problems.append(f"RPO {drill.rpo_seconds / 60:.1f} min is over the {drill.rpo_target_seconds // 60} min target")
    if drill.rto_seconds is None:
        problems.append("RTO not measured: no test failover job time was recorded")
    if not drill.cleaned_up:
        problems.append("the test VMs were not cleaned up")
    return (PASSED if not problems else FAILED), problems
