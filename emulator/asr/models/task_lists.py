"""The task lists of item and recovery plan jobs, as the recorded sessions show them.

Item jobs name their tasks by a fixed ``taskId`` and ``name`` (PPG recording 19:26:44 enable, 19:52:2x
failover; A2AReprotectTest entry 17 switch protection). A plan failover is a tree: a prerequisite check,
the shutdown group, the failover group, one start group per boot group, and a finalizing task, each VM
a ``VirtualMachineTaskDetails`` child naming its per-VM job (A2ARecoveryPlanReplication entries[-1]).
Task lists without a recording (commit, cleanup, plan commit, plan test failover) are emulator choices
in the same style; the item test failover's task friendly names are documented (``docs/emulator.md``).
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


def test_failover_tasks() -> list[TaskSpec]:
    """An item's test failover: the four tasks of the documented A2A test failover job, by friendly name
    (azure-docs ``azure-to-azure-powershell.md`` @ 0187300b, ``Get-ASRJob -Job $TFOJob``: "Prerequisites check
    for test failover, Create test virtual machine, Preparing the virtual machine, Start the virtual
    machine"). Task names, ids and weights are emulator choices in the recorded failover's style. The last
    task ends when the test VM is running: a client measures RTO up to its ``endTime``."""
    return [
        TaskSpec(
            "VmTfoPrerequisitesCheck", "Prerequisites check for test failover", 0.2, task_id="TestFailoverPreflightChecksTask"
        ),
        TaskSpec("VmTestFailover", "Create test virtual machine", 3, task_id="TestFailoverTask"),
        TaskSpec("VmTfoPrepareVm", "Preparing the virtual machine", task_id="PrepareTestFailoverVmTask"),
        TaskSpec("VmTfoStartVm", "Start the virtual machine", task_id="StartTestFailoverVmTask"),
    ]


def cleanup_tasks() -> list[TaskSpec]:
    """An item's test failover cleanup (choice, by analogy with the recorded cluster cleanup: a prerequisite
    check, then the per-VM cleanup; A2AClutserTestFailoverAndFailoverCleanupJob entries[-1])."""
    return [
        TaskSpec(
            "VmTfoCleanupPrerequisitesCheck",
            "Prerequisites check for test failover cleanup",
            task_id="TestFailoverCleanupPreflightChecksTask",
        ),
        TaskSpec("VmTestFailoverCleanup", "Delete the test virtual machine", 3, task_id="TestFailoverCleanupTask"),
    ]


def plan_test_failover_tasks(
    groups: list[list[ProtectedItem]],
) -> tuple[list[TaskSpec], dict[str, TaskSpec], dict[str, TaskSpec]]:
    """A plan's test failover (choice): the recorded plan failover tree without the shutdown group: the
    prerequisite check, the failover group creating every test VM, one start group per boot group (each VM a
    child task: its times are when that VM started) and the finalizing task.

    Returns the tasks and, per item key, the VM task that creates its test VM and the one that starts it."""
    everyone = [item for group in groups for item in group]
    create = {item.key: _vm_task(item, "TestFailover", "testfailover") for item in everyone}
    start: dict[str, TaskSpec] = {}
    tasks = [
        TaskSpec("RpSrsPrerequisitesCheck", "Prerequisites check for the recovery plan"),
        _group(
            "FailoverAllActionGroup",
            "Recovery plan test failover",
            "RpFailoverTask",
            "RecoveryPlanGroupTaskDetails",
            list(create.values()),
            3,
        ),
    ]
    for index, group in enumerate(groups, start=1):
        children = [_vm_task(i, "TestFailover", f"tfo-boot{index}") for i in group]
        start.update({i.key: child for i, child in zip(group, children, strict=True)})
        friendly = f"Group {index}: Start ({len(group)})"
        tasks.append(_group(f"Group{index}", friendly, "BootGroup", "RecoveryPlanGroupTaskDetails", children, 1))
    tasks.append(TaskSpec("EndRecoveryPlanTask", "Finalizing the recovery plan"))
    return tasks, create, start


def plan_cleanup_tasks(items: list[ProtectedItem]) -> list[TaskSpec]:
    """A plan's test failover cleanup (choice, by analogy with the recorded cluster cleanup: a prerequisite
    check, a group of per-VM TestFailoverCleanup tasks, a finishing task)."""
    return [
        TaskSpec("RpSrsPrerequisitesCheck", "Prerequisites check for the recovery plan"),
        _group(
            "TestFailoverCleanupAllActionGroup",
            f"Test failover cleanup ({len(items)})",
            "RpTestFailoverCleanupTask",
            "RecoveryPlanGroupTaskDetails",
            [_vm_task(i, "TestFailoverCleanup", "tfo-cleanup") for i in items],
            3,
        ),
        TaskSpec("EndRecoveryPlanTask", "Finalizing the recovery plan"),
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
