"""Test failover and its cleanup (a DR drill), of an item alone or of a recovery plan's items.

What Azure does, with the evidence ``docs/emulator.md`` cites row by row:

- **Test failover** (``TestFailover`` "Test failover", ``TestFailoverJobDetails``): the item must allow
  ``TestFailover`` (Protected). The job's tasks are the documented four (azure-docs
  ``azure-to-azure-powershell.md``); its custom details read ``testFailoverStatus`` "Active", ``comments``
  null, ``networkName`` / ``networkFriendlyName`` the test network's name, ``networkType`` as requested and
  ``protectedItemDetails`` [] until the job ends, then one entry per VM naming the VM's ASR GUID, the test VM
  (``<vm>-test``), the network, the subnet and the recovery point used: its name and its
  ``recoveryPointTime`` as the item's ``recoveryPoints`` list shows them (recorded cluster test failover,
  A2AClutserTestFailoverAndFailoverCleanupJob). The point is the one the request names
  (``recoveryPointId``; for a plan ``recoveryPointType``), else the latest, chosen when the request is
  accepted.
- **The test VM** is created in the recovery resource group, in the recovery PPG / availability set / zone
  with the same placement rules and best-effort fallback as a real failover (recorded test VM: same
  availability set and PPG as the failed-over VMs), with ``-ASRtest`` disks and ``-test`` NICs on the test
  network (the subnet by the documented rule: the source NIC's subnet name if the test network has it, else
  the first in alphabetical order), and started.
- **States** (REST examples): WaitingForCompletion "Waiting for user input" afterwards, only
  ``TestFailoverCleanup`` allowed (a real failover or a second test failover is refused),
  ``protectionStateDescription`` "Cleanup test failover pending", ``currentScenario`` the test failover job;
  ``lastSuccessfulTestFailoverTime`` is that job's start.
- **Cleanup** (``TestFailoverCleanup`` "Test failover cleanup"): deletes the test VM, its disks and NICs
  (recorded: the test VM's GET answers 404 ResourceNotFound afterwards); its custom details carry the
  request's ``comments`` ("" without), null network fields and no items (recorded cluster cleanup). The
  item then reads MarkedForDeletion "Cleaning up test environment" with its normal operations (REST cleanup
  example) for ``test_failover_marked_s``, then None.
- **Failures** (choices): a job refused in its prerequisite check (async refusal, wrong direction) leaves
  nothing behind; a job failing later (an operation fault) leaves the test VMs its timeline had created
  (stopped unless their start task had ended) and the item waiting for cleanup. A failed cleanup leaves
  the test VMs and allows the cleanup again.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from emulator.asr.models.common import A2A, last_segment, opt_str, props_of, ref_id, rg_of, sub_of
from emulator.asr.models.failover import PRIMARY_TO_RECOVERY, FailoverMixin, wrong_direction
from emulator.asr.models.items import TFO_CLEANING, TFO_NONE, TFO_RUNNING, TFO_WAITING, ProtectedItem
from emulator.asr.models.job_bodies import task_window
from emulator.asr.models.jobs import Job, Refusal, TaskSpec, job_error
from emulator.asr.models.plans import RecoveryPlan
from emulator.asr.models.task_lists import (
    cleanup_tasks,
    fill_job_ids,
    plan_cleanup_tasks,
    plan_test_failover_tasks,
    test_failover_tasks,
)
from emulator.asr.models.vaults import Vault
from emulator.errors import ArmError

#: recoveryPointType of a plan's A2A input -> the recovery point type it picks (None: the newest of any type).
POINT_TYPES: dict[str, str | None] = {
    "latest": None,
    "latestprocessed": None,
    "latestapplicationconsistent": "ApplicationConsistent",
    "latestcrashconsistent": "CrashConsistent",
}


class DrillMixin(FailoverMixin):
    """Test failover and cleanup; each checks the allowed operations, then runs one job over the items."""

    def test_failover(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        props = props_of(body or {})
        direction = self._check_direction(opt_str(props.get("failoverDirection")))
        self._require(item, "TestFailover")
        network = self._test_network(props, item.tfo_network_id)
        specific = props.get("providerSpecificDetails") or {}
        if not isinstance(specific, dict):
            raise ArmError(400, "InvalidParameter", "providerSpecificDetails must be a provider-specific test failover input.")
        point = self._test_point(item, point_id=opt_str(specific.get("recoveryPointId")), point_type=None)
        wrong = None
        if item.provider == A2A and direction != PRIMARY_TO_RECOVERY:
            wrong = wrong_direction(
                direction,
                f"replicated item '{item.name}' replicates from its primary region '{item.primary_location}'",
                PRIMARY_TO_RECOVERY,
            )
        return self._test_failover_job(
            vault,
            [item],
            network,
            network_type=opt_str(props.get("networkType")) or "VmNetworkAsInput",
            points={item.key: point},
            target=item,
            plan=None,
            refused=wrong,
        )

    @staticmethod
    def _test_network(props: dict[str, Any], fallback: str | None) -> str:
        network = opt_str(props.get("networkId")) or fallback
        if network is None:
            raise ArmError(400, "InvalidParameter", "networkId (the isolated test network) is required for a test failover.")
        return network

    def _test_point(self, item: ProtectedItem, *, point_id: str | None, point_type: str | None) -> dict[str, Any] | None:
        """The recovery point a test failover uses, from the item's own recovery points at the request: the
        one named (A2ATestFailoverInput.recoveryPointId, full id or name), else the newest of the requested
        type (RecoveryPlanA2AFailoverInput.recoveryPointType), else the newest."""
        points = self.recovery_points(item)
        if point_id is not None:
            wanted = last_segment(point_id).lower()
            found = next((p for p in points if str(p["name"]).lower() == wanted), None)
            if found is None:
                raise ArmError(
                    400,
                    "InvalidParameter",
                    f"Recovery point '{point_id}' is not a recovery point of replicated item '{item.name}'. Pass the id "
                    "of one of its recoveryPoints, or null for the latest.",
                )
            return found
        if point_type is not None and point_type.lower() not in POINT_TYPES:
            raise ArmError(
                400,
                "InvalidParameter",
                f"recoveryPointType '{point_type}' is not one of Latest, LatestApplicationConsistent, "
                "LatestCrashConsistent, LatestProcessed.",
            )
        kind = POINT_TYPES.get((point_type or "").lower())
        matching = [p for p in points if kind is None or p["properties"]["recoveryPointType"] == kind]
        chosen = matching or points
        return chosen[0] if chosen else None

    def _test_failover_job(
        self,
        vault: Vault,
        items: list[ProtectedItem],
        network: str,
        *,
        network_type: str,
        points: dict[str, dict[str, Any] | None],
        target: ProtectedItem | RecoveryPlan,
        plan: RecoveryPlan | None,
        refused: Refusal | None = None,
    ) -> Job:
        for item in items:
            self._item_target(item)  # protectedItemDetails[].name and the child tasks name the VM's ASR GUID
        create: dict[str, TaskSpec]
        start: dict[str, TaskSpec]
        if plan is not None:
            tasks, create, start = plan_test_failover_tasks(self.plan_boot_groups(plan))
        else:
            tasks = test_failover_tasks()
            create, start = {items[0].key: tasks[1]}, {items[0].key: tasks[3]}
        stamp = self.clock.now()
        subnets = {item.key: self._test_subnet(item, network) for item in items}
        for item in items:
            item.tfo = TFO_RUNNING
            item.tfo_marked_until = None
        attempted: set[str] = set()
        holder: list[Job] = []
        affected = (self._plan_details(plan) if plan is not None else self._affected(items[0]))["affectedObjectDetails"]
        custom: dict[str, Any] = {
            "instanceType": "TestFailoverJobDetails",
            "testFailoverStatus": "Active",
            "comments": None,
            "networkName": last_segment(network),
            "networkFriendlyName": last_segment(network),
            "networkType": network_type,
            "protectedItemDetails": [],
            "affectedObjectDetails": affected,
        }

        def bring_up(item: ProtectedItem, job: Job, when: datetime, *, started: bool) -> None:
            attempted.add(item.key)
            note = self._create_test_vm(item, network, subnets[item.key], when=when, started=started)
            if note is not None:
                task = create[item.key]
                task.errors.append(note)
                job.warnings.append(dict(note, taskId=task.task_id))

        def complete(job: Job) -> None:
            errors: list[ArmError] = []
            details: list[dict[str, Any]] = []
            for item in [i for i in items if vault.items.get(i.key) is i]:
                try:
                    bring_up(item, job, job.op.due, started=True)
                except ArmError as exc:
                    create[item.key].errors.append(job_error(exc.code, exc.message, "Error", job.op.due, None))
                    errors.append(exc)
                    continue
                point = points.get(item.key)
                item.tfo = TFO_WAITING
                item.last_tfo = stamp
                if point is not None:
                    item.failover_recovery_point_id = str(point["id"])
                details.append(self._test_vm_details(item, network, subnets[item.key], point))
            job.custom["protectedItemDetails"] = details
            if plan is not None and details:
                plan.last_test_failover = stamp
            if errors:
                raise ArmError(errors[0].status, errors[0].code, errors[0].message)

        def failed() -> None:
            job = holder[0] if holder else None
            failed_at = (job.op.ended or job.op.due) if job is not None else self.clock.now()
            for item in items:
                if item.tfo != TFO_RUNNING or vault.items.get(item.key) is not item:
                    continue
                if job is not None and job.refusal is None and item.key not in attempted:
                    # Failed after its prerequisite check: what the timeline had created stays (choice).
                    window = task_window(job, start[item.key])
                    with contextlib.suppress(ArmError):
                        bring_up(item, job, failed_at, started=window is not None and window[1] < failed_at)
                if item.test_vm_ids or item.test_nic_ids:
                    item.tfo = TFO_WAITING
                else:
                    item.tfo = TFO_NONE
                    item.scenario = None

        job = self._start_items_job(
            vault,
            "TestFailover",
            target=target,
            plan=plan,
            items=items,
            duration_s=self.timings.test_failover_s + (self.timings.plan_per_item_s * len(items) if plan else 0),
            tasks=tasks,
            on_complete=complete,
            on_failed=failed,
            custom=custom,
            refused=refused,
            now=stamp,
        )
        holder.append(job)
        fill_job_ids(tasks, job.arm_id)
        return job

    @staticmethod
    def _test_vm_details(item: ProtectedItem, network: str, subnet: str | None, point: dict[str, Any] | None) -> dict[str, Any]:
        """One ``protectedItemDetails`` entry, keys and value forms as recorded (cluster test failover job)."""
        return {
            "name": item.entity_id,
            "friendlyName": item.friendly_name,
            "testVmName": item.tfo_vm_name,
            "testVmFriendlyName": item.tfo_vm_name,
            "networkConnectionStatus": "Connected",
            "networkFriendlyName": last_segment(network),
            "subnet": subnet,
            "recoveryPointId": point["name"] if point else None,
            "recoveryPointTime": point["properties"]["recoveryPointTime"] if point else None,
        }

    # ------------------------------------------------------------------ the test VM and what it uses
    def _create_test_vm(
        self, item: ProtectedItem, network: str, subnet: str | None, *, when: datetime, started: bool
    ) -> dict[str, Any] | None:
        """NICs on the test network, then the VM (placement as a failover's); returns the fallback note."""
        item.tfo_network_id = network
        item.test_nic_ids = self._create_test_nics(item, network, subnet)
        vm_id, note = self._place_vm(item, test=True, when=when)
        item.test_vm_ids = [vm_id]
        storage = props_of(self.compute.find(vm_id) or {}).get("storageProfile") or {}
        disks = [ref_id(d.get("managedDisk")) for d in [storage.get("osDisk") or {}, *(storage.get("dataDisks") or [])]]
        item.test_disk_ids = [d for d in disks if d]
        if not started:
            self.compute.deallocate_vm(vm_id)
        return note

    def _create_test_nics(self, item: ProtectedItem, network: str, subnet: str | None) -> list[str]:
        if self.network_store is None:
            return []
        sub = sub_of(item.recovery_rg_id) or item.vault.subscription
        rg = rg_of(item.recovery_rg_id) or last_segment(item.recovery_rg_id)
        config: dict[str, Any] = {"name": "ipconfig1", "properties": {}}
        if subnet is not None:
            config["properties"]["subnet"] = {"id": f"{network}/subnets/{subnet}"}
        ids = []
        for nic in item.nic_names or [f"{item.recovery_vm_name}-nic"]:
            tags = self.synced_tags(item)
            body = {"location": item.recovery_location, "tags": tags, "properties": {"ipConfigurations": [config]}}
            stored, _ = self.network_store.put(sub, rg, "Microsoft.Network", "networkInterfaces", f"{nic}-test", body)
            ids.append(str(stored["id"]))
        return ids

    def _test_subnet(self, item: ProtectedItem, network: str) -> str | None:
        """The test VM's subnet (azure-docs ``azure-to-azure-network-mapping.md``, "Specify a subnet"): the
        source VM's subnet name when the test network has it, else the first in alphabetical order; None when
        the test network is not known to the emulator or has no subnets."""
        vnet = self.network_store.find(network) if self.network_store is not None else None
        if vnet is None:
            return None
        names = [n for s in props_of(vnet).get("subnets") or [] if isinstance(s, dict) and (n := opt_str(s.get("name")))]
        if not names:
            return None
        source = self._source_subnet(item)
        same = [n for n in names if source is not None and n.lower() == source.lower()]
        return same[0] if same else sorted(names, key=str.lower)[0]

    def _source_subnet(self, item: ProtectedItem) -> str | None:
        vm = self.compute.find(item.source_vm_id)
        if vm is None or self.network_store is None:
            return None
        for ref in (props_of(vm).get("networkProfile") or {}).get("networkInterfaces") or []:
            nic = self.network_store.find(ref_id(ref) or "")
            for config in props_of(nic or {}).get("ipConfigurations") or []:
                subnet = ref_id(props_of(config).get("subnet")) if isinstance(config, dict) else None
                if subnet:
                    return last_segment(subnet)
        return None

    def _remove_test_resources(self, item: ProtectedItem) -> None:
        """The cleanup: the test VM, then its disks and NICs (whatever is still there)."""
        for vm_id in item.test_vm_ids:
            sub, rg = sub_of(vm_id), rg_of(vm_id)
            if sub and rg and self.compute.find(vm_id) is not None:
                self.compute.delete_vm(sub, rg, last_segment(vm_id))
        for disk_id in item.test_disk_ids:
            sub, rg = sub_of(disk_id), rg_of(disk_id)
            if sub and rg and self.compute.find(disk_id) is not None:
                with contextlib.suppress(ArmError):  # attached elsewhere since: not the test VM's any more
                    self.compute.delete_disk(sub, rg, last_segment(disk_id))
        for nic_id in item.test_nic_ids:
            sub, rg = sub_of(nic_id), rg_of(nic_id)
            if self.network_store is not None and sub and rg:
                self.network_store.delete(sub, rg, "Microsoft.Network", "networkInterfaces", last_segment(nic_id))
        item.test_vm_ids, item.test_disk_ids, item.test_nic_ids = [], [], []

    # ------------------------------------------------------------------ cleanup
    def test_failover_cleanup(self, vault: Vault, fabric: str, container: str, name: str, body: dict[str, Any]) -> Job:
        item = self.item(vault, fabric, container, name)
        comments = self._comments(body)
        self._require(item, "TestFailoverCleanup")
        return self._cleanup_job(vault, [item], target=item, plan=None, comments=comments)

    @staticmethod
    def _comments(body: dict[str, Any] | None) -> str | None:
        comments = props_of(body or {}).get("comments")
        if comments is not None and not isinstance(comments, str):
            raise ArmError(400, "InvalidParameter", "comments must be a string.")
        return comments

    def _cleanup_job(
        self,
        vault: Vault,
        items: list[ProtectedItem],
        *,
        target: ProtectedItem | RecoveryPlan,
        plan: RecoveryPlan | None,
        comments: str | None,
    ) -> Job:
        for item in items:
            self._item_target(item)
            item.tfo = TFO_CLEANING
        tasks = plan_cleanup_tasks(items) if plan is not None else cleanup_tasks()
        affected = (self._plan_details(plan) if plan is not None else self._affected(items[0]))["affectedObjectDetails"]
        custom: dict[str, Any] = {
            "instanceType": "TestFailoverJobDetails",
            "testFailoverStatus": None,
            "comments": comments or "",
            "networkName": None,
            "networkFriendlyName": None,
            "networkType": None,
            "protectedItemDetails": [],
            "affectedObjectDetails": affected,
        }

        def complete(job: Job) -> None:
            for item in items:
                if vault.items.get(item.key) is not item or item.tfo != TFO_CLEANING:
                    continue
                self._remove_test_resources(item)
                item.tfo = TFO_NONE
                item.tfo_marked_until = job.op.due + timedelta(seconds=self.timings.test_failover_marked_s)
                item.scenario = None

        def failed() -> None:
            for item in items:
                if item.tfo == TFO_CLEANING:
                    item.tfo = TFO_WAITING
                    item.scenario = None

        job = self._start_items_job(
            vault,
            "TestFailoverCleanup",
            target=target,
            plan=plan,
            items=items,
            duration_s=self.timings.test_failover_cleanup_s,
            tasks=tasks,
            on_complete=complete,
            on_failed=failed,
            custom=custom,
        )
        fill_job_ids(tasks, job.arm_id)
        return job
