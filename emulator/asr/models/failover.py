"""Failover of items (alone or as a plan): unplanned and planned failover, commit (test failover: ``test_failover``).

Direction: an item fails over from its *current* primary (after switch protection that is the old
recovery region, and a failback is again ``PrimaryToRecovery`` for the item: public A2A end-to-end test
script A2AGQLTest.ps1, ``Failback``); a recovery plan keeps the fabrics it was created with, so its
failback is ``RecoveryToPrimary`` (oortizmcp/Automating-DR ``Failback-Reprotect-RP_V2.ps1``). A
direction that does not match where the items are is refused inside the job (a failed job, as Azure
fails invalid failover inputs after accepting them: Azure/azure-powershell#2872; the code is a choice).

``sourceSiteOperations`` Required shuts the source VMs down first (recorded task
ShutdownVmOnPrimaryForUFO / the plan's ShutdownAllActionGroup); NotRequired skips that task.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from emulator.asr.models.common import A2A, HYPERV_AZURE, last_segment, opt_str, props_of
from emulator.asr.models.failover_vms import FailoverVmsMixin
from emulator.asr.models.item_bodies import ItemBodiesMixin
from emulator.asr.models.items import (
    COMMITTED,
    COMMITTING,
    FAILING_OVER,
    FAILOVER_PENDING_COMMIT,
    ProtectedItem,
)
from emulator.asr.models.jobs import Job, Refusal, TaskSpec, job_error
from emulator.asr.models.plans import PlansMixin, RecoveryPlan
from emulator.asr.models.recovery_points import RecoveryPointsMixin
from emulator.asr.models.refusals import FAILOVER, refusal
from emulator.asr.models.task_lists import commit_tasks, failover_tasks, fill_job_ids, plan_failover_tasks
from emulator.asr.models.vaults import Vault
from emulator.errors import ArmError

PRIMARY_TO_RECOVERY = "PrimaryToRecovery"
RECOVERY_TO_PRIMARY = "RecoveryToPrimary"


def wrong_direction(direction: str, where: str, wanted: str) -> Refusal:
    return refusal(
        FAILOVER,
        ArmError(
            400,
            "InvalidFailoverDirection",
            f"Failover direction '{direction}' is not valid: {where}. Use '{wanted}'.",
        ),
    )


class FailoverMixin(PlansMixin, ItemBodiesMixin, RecoveryPointsMixin, FailoverVmsMixin):
    """Each action checks the allowed operations, then runs one job over the items (or the plan's items)."""

    def unplanned_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = props_of(body)
        direction = self._check_direction(opt_str(props.get("failoverDirection")))
        if item.provider == HYPERV_AZURE and direction == RECOVERY_TO_PRIMARY:
            self._refuse_hyperv_failback(item)
        self._require(item, "UnplannedFailover")
        wrong = None
        if item.provider == A2A and direction != PRIMARY_TO_RECOVERY:
            wrong = wrong_direction(
                direction,
                f"replicated item '{item.name}' replicates from its primary region '{item.primary_location}'",
                PRIMARY_TO_RECOVERY,
            )
        shutdown = (opt_str(props.get("sourceSiteOperations")) or "NotRequired").lower() == "required"
        return self._failover_job(
            vault, [item], scenario="UnplannedFailover", target=item, plan=None, shutdown=shutdown, refused=wrong
        )

    def planned_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = props_of(body)
        direction = self._check_direction(opt_str(props.get("failoverDirection")))
        specific = props.get("providerSpecificDetails") or {}
        failback = direction == RECOVERY_TO_PRIMARY or (opt_str(specific.get("instanceType")) or "").endswith("Failback")
        if item.provider == HYPERV_AZURE and failback:
            self._refuse_hyperv_failback(item)
        if item.provider == A2A:
            raise ArmError(
                400,
                "OperationNotAllowedInCurrentState",
                f"Planned failover is not supported for Azure-to-Azure replicated item '{item.name}'. Use unplanned failover.",
            )
        self._require(item, "Failback" if failback and item.phase == COMMITTED else "PlannedFailover")
        return self._failover_job(
            vault, [item], scenario="PlannedFailover", target=item, plan=None, shutdown=True, failback=failback
        )

    def _check_direction(self, direction: str | None) -> str:
        """The request's direction (default PrimaryToRecovery); anything else is a malformed request (choice: 400)."""
        value = direction or PRIMARY_TO_RECOVERY
        if value not in (PRIMARY_TO_RECOVERY, RECOVERY_TO_PRIMARY):
            raise ArmError(
                400, "InvalidParameter", f"failoverDirection must be PrimaryToRecovery or RecoveryToPrimary, not '{value}'."
            )
        return value

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
        shutdown: bool,
        failback: bool = False,
        refused: Refusal | None = None,
    ) -> Job:
        for item in items:
            self._item_target(item)  # the child tasks name the VM by its ASR GUID
        if plan is not None:
            tasks, vm_tasks = plan_failover_tasks(self.plan_boot_groups(plan), scenario, shutdown=shutdown)
        else:
            tasks = failover_tasks(shutdown=shutdown, planned=scenario == "PlannedFailover")
            vm_tasks = {items[0].key: tasks[3]}
        previous = {item.key: item.phase for item in items}
        for item in items:
            item.phase = FAILING_OVER
        duration = self.timings.failover_s + (self.timings.plan_per_item_s * len(items) if plan else 0)
        details: list[dict[str, Any]] = []

        def complete(job: Job) -> None:
            errors: list[ArmError] = []
            live = [i for i in items if vault.items.get(i.key) is i]
            if shutdown:
                for item in live:
                    if item.provider == A2A:
                        self._shut_down_source(item)
            for item in live:
                try:
                    details.append(self._fail_over_item(item, job, vm_tasks[item.key], failback=failback))
                except ArmError as exc:
                    item.phase = previous[item.key]
                    item.scenario = None
                    vm_tasks[item.key].errors.append(job_error(exc.code, exc.message, "Error", job.op.due, None))
                    errors.append(exc)
            job.custom["protectedItemDetails"] = list(details)
            if plan is not None:
                plan.last_unplanned_failover = job.op.due
            if errors:
                raise ArmError(errors[0].status, errors[0].code, errors[0].message)

        def failed() -> None:
            for item in items:
                if item.phase == FAILING_OVER:
                    item.phase = previous[item.key]
                    item.scenario = None

        job = self._start_items_job(
            vault,
            scenario,
            target=target,
            plan=plan,
            items=items,
            duration_s=duration,
            tasks=tasks,
            on_complete=complete,
            on_failed=failed,
            custom={"instanceType": "FailoverJobDetails", "protectedItemDetails": [], "affectedObjectDetails": {}},
            refused=refused,
        )
        fill_job_ids(tasks, job.arm_id)
        return job

    def _start_items_job(
        self,
        vault: Vault,
        scenario: str,
        *,
        target: ProtectedItem | RecoveryPlan,
        plan: RecoveryPlan | None,
        items: list[ProtectedItem],
        duration_s: float,
        tasks: list[TaskSpec],
        on_complete: Callable[[Job], None],
        on_failed: Callable[[], None],
        custom: dict[str, Any] | None = None,
        refused: Refusal | None = None,
        now: datetime | None = None,
    ) -> Job:
        """One job over items (an item's own operation or a recovery plan's): start it, and mark every item
        and the plan as running that scenario, as ASR's ``currentScenario`` shows."""
        job_target = self._plan_target(plan) if plan is not None else self._item_target(items[0])
        job = self._start_job(
            vault,
            scenario,
            target=job_target,
            duration_s=duration_s,
            tasks=tasks,
            on_complete=on_complete,
            on_failed=on_failed,
            result=(lambda: self.plan_body(plan)) if plan else (lambda: self._item_result(items[0])),
            custom=custom if custom is not None else (self._plan_details(plan) if plan else self._affected(items[0])),
            refusal=refused,
        )
        if job.op.done:
            return job
        stamp = now or self.clock.now()
        for item in items:
            item.scenario = (scenario, job.id, stamp)
        if plan is not None:
            plan.scenario = (scenario, job.id, stamp)
        return job

    def _item_result(self, item: ProtectedItem) -> dict[str, Any] | None:
        current = item.vault.items.get(item.key)
        return self.item_body(current) if current is not None else None

    def _fail_over_item(self, item: ProtectedItem, job: Job, task: TaskSpec, *, failback: bool) -> dict[str, Any]:
        """Bring the VM up; returns the item's ``protectedItemDetails`` entry (PPG recording 19:56:04)."""
        when = job.op.due
        if item.provider != A2A and failback:
            # VMware/Hyper-V failback runs on premises: nothing to create in Azure.
            placed_id: str | None = None
        else:
            placed_id, note = self._place_vm(item, test=False, when=when)
            if note is not None:
                task.errors.append(note)
                job.warnings.append(dict(note, taskId=task.task_id))
        item.failover_vm_id = placed_id or item.failover_vm_id
        item.phase = FAILOVER_PENDING_COMMIT
        # activeLocation is relative to the item: a failover always lands on its recovery side (for A2A the
        # reprotected item's recovery side is the original region); on-premises failback returns to Primary.
        item.active_location = "Primary" if (failback and item.provider != A2A) else "Recovery"
        item.last_failover = when
        points = self.recovery_points(item, at=when)
        item.failover_recovery_point_id = points[0]["id"] if points else None
        item.scenario = None
        return {
            "name": item.entity_id,
            "friendlyName": item.friendly_name,
            "testVmName": None,
            "testVmFriendlyName": None,
            "networkConnectionStatus": None,
            "networkFriendlyName": last_segment(item.recovery_network_id or "") or None,
            "subnet": None,
            "recoveryPointId": points[0]["name"] if points else None,
            "recoveryPointTime": points[0]["properties"]["recoveryPointTime"] if points else None,
        }

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
            duration_s=self.timings.commit_s,
            tasks=commit_tasks(items),
            on_complete=complete,
            on_failed=failed,
        )
