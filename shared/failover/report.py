"""The report of a real failover or failback, written when its workflow ends (same keys as a drill's report).

RTO is measured from the jobs Azure ran: the recovery plan failover job's start to its end (every VM
created and started); each VM's steps come from the tasks of the workflow's jobs that name it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.context import AppContext
from shared.failover.workflow_state import Workflow, members
from shared.platform.site_recovery import JobView, TaskView
from shared.state.audit import events_between
from shared.state.reports import save_report


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def vm_tasks(job: JobView, names: tuple[str, ...]) -> list[TaskView]:
    """The job's tasks about one VM: those whose names mention the VM, its item or its test VM."""
    wanted = tuple(n.lower() for n in names if n)
    return [t for t in job.tasks if any(w in f"{t.name} {t.friendly_name}".lower() for w in wanted)]


def job_steps(jobs: list[tuple[str, JobView]], names: tuple[str, ...]) -> list[dict[str, Any]]:
    """One VM's steps in these jobs (``(phase, job)``): its tasks, or the whole job when no task names it."""
    steps = []
    for phase, job in jobs:
        tasks = vm_tasks(job, names) or ([TaskView(phase, phase, job.state, job.start, job.end)] if job.start else [])
        for task in tasks:
            name = task.friendly_name or task.name
            steps.append({"name": name, "phase": phase, "state": task.state, "start": _iso(task.start), "end": _iso(task.end)})
    return steps


def write_workflow_report(ctx: AppContext, wf: Workflow) -> dict[str, Any]:
    """Build and keep the workflow's report (its id is the workflow's id)."""
    jobs = [(entry["phase"], ctx.site_recovery.job(entry["job"])) for entry in wf.job_history if entry.get("job")]
    failover = next((job for phase, job in jobs if phase == "failover"), None)
    rto = (failover.end - failover.start).total_seconds() if failover and failover.start and failover.end else None
    timeline = [
        {"vm": m.vm_name, "steps": job_steps(jobs, (m.vm_name, m.item_name))}
        for m in sorted(members(ctx, wf.group), key=lambda m: m.vm_name)
    ]
    outside = [r for r in wf.placement if r.get("problem")]
    report: dict[str, Any] = {
        "id": wf.id,
        "kind": wf.kind,
        "group": wf.group,
        "trigger": "decision" if wf.decision_id else "operator",
        "requested_by": wf.reason,
        "started": wf.started,
        "finished": wf.finished,
        "verdict": "completed" if not outside else "completed, VMs placed outside",
        "source_region": wf.source_region,
        "target_region": wf.target_region,
        "recovery_plan": f"ppgdr-{wf.group.lower()}",
        "test_network_id": None,
        "rto_seconds": rto,
        "rpo_seconds": None,
        "cleanup_seconds": None,
        "targets": {},
        "cleaned_up": None,
        "placement": wf.placement,
        "timeline": timeline,
        "probes": [],
        "problems": [f"{r['vm']}: {r['problem']}" for r in outside],
        "events": events_between(ctx.store, wf.group, wf.started, wf.finished, key="workflow", value=wf.id),
    }
    save_report(ctx.store, report)
    return report
