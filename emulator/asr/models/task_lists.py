"""The task lists of item and recovery plan jobs, as the recorded sessions show them.

Item jobs name their tasks by a fixed ``taskId`` and ``name`` (PPG recording 19:26:44 enable, 19:52:2x
failover; A2AReprotectTest entry 17 switch protection). A plan failover is a tree: a prerequisite check,
the shutdown group, the failover group, one start group per boot group, and a finalizing task, each VM
a ``VirtualMachineTaskDetails`` child naming its per-VM job (A2ARecoveryPlanReplication entries[-1]).
Task lists without a recording (commit, test failover, cleanup, plan commit) are emulator choices in
the same style (``docs/emulator.md``).
"""

from __future__ import annotations

import uuid
from typing import Any

from emulator.asr.models.items import ProtectedItem
from emulator.asr.models.jobs import SCENARIOS, TaskSpec


def failover_tasks(*, shutdown: bool, planned: bool = False) -> list[TaskSpec]:
    """An item's unplanned failover (recorded); the shutdown is skipped when sourceSiteOperations is NotRequired
    (as the cluster recording's ShutdownClusterNodesTask); synchronisation is skipped after it starts (recorded)."""
    return [
        TaskSpec(
            "VmPfoPrerequisitesCheck" if planned else "VmUfoPrerequisitesCheck",
            "Prerequisites check for failover",
            task_id="PlannedFailoverPreflightChecksTask" if planned else "UnplannedFailoverPreflightChecksTask",
        ),
        TaskSpec(
            "VmShutdownVmOnPrimary",
            "Shut down the virtual machine",
            2,
            task_id="ShutdownVmOnPrimaryForUFO",
            skipped=not shutdown,
        ),
        TaskSpec(
            "VmPrepareForUnPlannedFailover",
            "Synchronizing the latest changes",
            task_id="PrepareForUnPlannedFailoverTask",
            skipped=True,
            skipped_after_start=True,
        ),
        TaskSpec("VmFailover", "Start failover", 3, task_id="FailoverTask"),
        TaskSpec("VmFoStartVmOnSecondary", "Start the replica virtual machine", task_id="StartVmOnSecondary"),
    ]


def commit_tasks(items: list[ProtectedItem]) -> list[TaskSpec]:
    """Commit (choice): the reprotect job's recorded commit task, one per item."""
    if len(items) == 1:
        return [TaskSpec("VmCommitFailover", "Committing failover", task_id="CommitFailoverTask")]
    return [
        TaskSpec("VmCommitFailover", f"Committing failover: {i.friendly_name}", task_id=f"CommitFailoverTask-{i.name}")
        for i in items
    ]


def test_failover_tasks(items: list[ProtectedItem]) -> list[TaskSpec]:
    """Test failover (choice): a prerequisite check, then one test VM per item."""
    tasks = [
        TaskSpec("VmTfoPrerequisitesCheck", "Prerequisites check for test failover", task_id="TestFailoverPreflightChecksTask")
    ]
    for item in items:
        tasks.append(
            TaskSpec(
                "VmTestFailover", f"Create test virtual machine {item.tfo_vm_name}", 2, task_id=f"TestFailoverTask-{item.name}"
            )
        )
    return tasks


def cleanup_tasks(items: list[ProtectedItem]) -> list[TaskSpec]:
    """Test failover cleanup (choice): one deletion per test VM."""
    return [
        TaskSpec(
            "VmTestFailoverCleanup", f"Delete test virtual machine {i.tfo_vm_name}", task_id=f"TestFailoverCleanupTask-{i.name}"
        )
        for i in items
    ]


def switch_protection_tasks(item: ProtectedItem, *, commit_first: bool) -> tuple[list[TaskSpec], TaskSpec]:
    """SwitchReplicationGroupProtection (A2AReprotectTest entries 17, 18): the commit task runs when the item
    was still pending commit (PPG recording 20:06:28) and is skipped otherwise. Returns the tasks and the
    ProtectReplicaTask group, whose child is the per-VM EnableDr job."""
    protect = TaskSpec(
        "ProtectReplicaTask",
        "Reprotecting virtual machine",
        4,
        task_id="ProtectReplicaTask",
        task_type="GroupTaskDetails",
        custom=None,
        group={"instanceType": "GroupTaskDetails"},
        friendly_running="Reprotecting virtual machine (1)",
        children=[
            TaskSpec(
                item.friendly_name,
                item.friendly_name,
                task_id="EnableDr",
                task_type="JobTaskDetails",
                custom={"jobTask": vm_job_task(item, "EnableDr"), "instanceType": "JobTaskDetails"},
            )
        ],
    )
    tasks = [
        TaskSpec(
            "SwitchReplicationGroupProtectionPreflightTask",
            "Prerequisite check",
            task_id="SwitchReplicationGroupProtectionPreflightTask",
        ),
        TaskSpec("VmCommitFailover", "Committing failover", task_id="CommitFailoverTask", skipped=not commit_first),
        TaskSpec("DiscoverReplicaTask", "Discovering replica virtual machine", task_id="DiscoverReplicaTask"),
        TaskSpec(
            "GetSwitchProtectionRequirementsTask",
            "Getting reprotection requirements",
            task_id="GetSwitchProtectionRequirementsTask",
        ),
        protect,
    ]
    return tasks, protect


def vm_job_task(item: ProtectedItem, scenario: str, job_arm_id: str = "") -> dict[str, Any]:
    """``customDetails.jobTask`` of a child task: the per-VM job it stands for (``jobId`` filled in later)."""
    return {
        "jobId": job_arm_id,
        "jobFriendlyName": SCENARIOS.get(scenario, scenario),
        "targetObjectId": item.entity_id,
        "targetObjectName": item.friendly_name,
        "targetInstanceType": "Vm",
        "jobScenarioName": scenario,
    }


def _vm_task(item: ProtectedItem, scenario: str, slot: str) -> TaskSpec:
    """A VM under a plan group (recorded taskId: a GUID; name "Unknown"; friendlyName: the VM name)."""
    return TaskSpec(
        "Unknown",
        item.friendly_name,
        task_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{item.key}/{scenario}/{slot}")),
        task_type="VirtualMachineTaskDetails",
        custom={
            "skippedReason": "None",
            "skippedReasonString": None,
            "jobTask": vm_job_task(item, scenario),
            "instanceType": "VirtualMachineTaskDetails",
        },
    )


def _group(
    task_id: str, friendly: str, rp_type: str, kind: str, children: list[TaskSpec], weight: float, **extra: Any
) -> TaskSpec:
    return TaskSpec(
        "Unknown",
        friendly,
        weight,
        task_id=task_id,
        task_type=kind,
        custom=None,
        group={"name": task_id, "groupId": task_id, "rpGroupType": rp_type, "instanceType": kind},
        children=children,
        **extra,
    )


def plan_failover_tasks(
    groups: list[list[ProtectedItem]], scenario: str, *, shutdown: bool
) -> tuple[list[TaskSpec], dict[str, TaskSpec]]:
    """The recorded plan failover tree for the plan's boot groups (Failover group first, then Boot groups).

    Returns the tasks and, per item key, the VM task of the failover group (where placement notes go)."""
    everyone = [item for group in groups for item in group]
    shutdown_groups = [
        _group(
            f"Group{index}",
            f"Shutdown: Group {index} ({len(group)})",
            "Shutdown",
            "RecoveryPlanGroupTaskDetails",
            [_vm_task(i, scenario, "shutdown") for i in group],
            1,
        )
        for index, group in enumerate(groups, start=1)
    ]
    failover_vm_tasks = {item.key: _vm_task(item, scenario, "failover") for item in everyone}
    tasks = [
        TaskSpec("RpSrsPrerequisitesCheck", "Prerequisites check for the recovery plan"),
        _group(
            "ShutdownAllActionGroup",
            f"All groups shutdown ({len(everyone)})",
            "Shutdown",
            "RecoveryPlanShutdownGroupTaskDetails",
            shutdown_groups,
            2,
            skipped=not shutdown,
        ),
        _group(
            "FailoverAllActionGroup",
            "Recovery plan failover",
            "RpFailoverTask",
            "RecoveryPlanGroupTaskDetails",
            list(failover_vm_tasks.values()),
            3,
        ),
    ]
    for index, group in enumerate(groups, start=1):
        tasks.append(
            _group(
                f"Group{index}",
                f"Group {index}: Start ({len(group)})",
                "BootGroup",
                "RecoveryPlanGroupTaskDetails",
                [_vm_task(i, scenario, f"boot{index}") for i in group],
                1,
            )
        )
    tasks.append(TaskSpec("EndRecoveryPlanTask", "Finalizing the recovery plan"))
    return tasks, failover_vm_tasks


def fill_job_ids(tasks: list[TaskSpec], job_arm_id: str) -> None:
    """Name the job the child VM tasks belong to, once it exists (the per-VM jobs are not modelled: choice)."""
    for task in tasks:
        if task.custom is not None and "jobTask" in task.custom:
            task.custom["jobTask"]["jobId"] = job_arm_id
        fill_job_ids(task.children, job_arm_id)
