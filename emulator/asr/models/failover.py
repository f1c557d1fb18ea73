"""Failover of items (alone or as a plan): unplanned and planned failover, commit, test failover and cleanup.

Failed-over VMs are created through the compute backend, in the recovery PPG when capacity allows,
outside it (and its availability set) otherwise, recorded as a job warning, as ASR documents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from emulator.asr.models.common import A2A, HYPERV_AZURE, last_segment, opt_str, props_of, ref_id, rg_of, same_id, sub_of
from emulator.asr.models.item_bodies import ItemBodiesMixin
from emulator.asr.models.items import (
    COMMITTED,
    COMMITTING,
    FAILING_OVER,
    FAILOVER_PENDING_COMMIT,
    TFO_CLEANING,
    TFO_NONE,
    TFO_RUNNING,
    TFO_WAITING,
    Disk,
    ProtectedItem,
)
from emulator.asr.models.jobs import Job, TaskSpec, job_error
from emulator.asr.models.plans import PlansMixin, RecoveryPlan
from emulator.asr.models.recovery_points import RecoveryPointsMixin
from emulator.asr.models.vaults import Vault
from emulator.errors import ArmError


class FailoverMixin(PlansMixin, ItemBodiesMixin, RecoveryPointsMixin):
    """Each action checks the allowed operations, then runs one job over the items (or the plan's items)."""

    def unplanned_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = props_of(body)
        direction = opt_str(props.get("failoverDirection")) or "PrimaryToRecovery"
        self._check_direction(direction)
        if item.provider == HYPERV_AZURE and direction == "RecoveryToPrimary":
            self._refuse_hyperv_failback(item)
        self._require(item, "UnplannedFailover")
        return self._failover_job(vault, [item], scenario="UnplannedFailover", target=item, plan=None)

    def planned_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = props_of(body)
        direction = opt_str(props.get("failoverDirection")) or "PrimaryToRecovery"
        self._check_direction(direction)
        specific = props.get("providerSpecificDetails") or {}
        failback = direction == "RecoveryToPrimary" or (opt_str(specific.get("instanceType")) or "").endswith("Failback")
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
                        job_error(exc.code, exc.message, "Error", job.op.due, vm_tasks[item.key].name)
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
                    k: v for k, v in props_of(existing).items() if k not in ("provisioningState", "instanceView", "vmId")
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
        created_props = props_of(created)
        created_id = opt_str(created.get("id")) or vm_id
        warning: dict[str, Any] | None = None
        if item.recovery_ppg_id and not same_id(ref_id(created_props.get("proximityPlacementGroup")), item.recovery_ppg_id):
            outside = "the proximity placement group"
            if item.recovery_avset_id:
                outside += " and the availability set"
            warning = job_error(
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

    def test_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = props_of(body)
        self._check_direction(opt_str(props.get("failoverDirection")) or "PrimaryToRecovery")
        self._require(item, "TestFailover")
        network = opt_str(props.get("networkId")) or item.tfo_network_id
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
