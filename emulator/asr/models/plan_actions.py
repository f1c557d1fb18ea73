"""Recovery plan actions: the item actions over a plan's items, in plan order, as one plan job."""

from __future__ import annotations

from typing import Any

from emulator.asr.models.common import A2A, HYPERV_AZURE, name_key, opt_str, props_of, segment_after
from emulator.asr.models.drills import DrillMixin
from emulator.asr.models.failover import PRIMARY_TO_RECOVERY, RECOVERY_TO_PRIMARY, wrong_direction
from emulator.asr.models.items import PROTECTION_STATES, ProtectedItem
from emulator.asr.models.jobs import Job, Refusal, TaskSpec
from emulator.asr.models.plans import RecoveryPlan, plan_op_allowed
from emulator.asr.models.reprotect import ReprotectMixin
from emulator.asr.models.vaults import Vault
from emulator.errors import ArmError


class PlanActionsMixin(DrillMixin, ReprotectMixin):
    """Every item of the plan must allow the operation, or the plan action is refused with the blockers."""

    def _plan_require(self, plan: RecoveryPlan, operation: str) -> list[ProtectedItem]:
        items = self.plan_items(plan)
        if not items:
            raise ArmError(400, "InvalidParameter", f"Recovery plan '{plan.name}' has no replicated items.")
        blocked = [i for i in items if not plan_op_allowed(operation, i, self.allowed_operations(i))]
        if blocked:
            details = "; ".join(f"{i.name} ({PROTECTION_STATES[i.phase][0]})" for i in blocked)
            raise ArmError(
                400,
                "OperationNotAllowedInCurrentState",
                f"The operation '{operation}' is not allowed on recovery plan '{plan.name}': these replicated items do not "
                f"allow it: {details}. Wait for their jobs to finish or act on them first.",
            )
        return items

    def plan_unplanned_failover(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = props_of(body)
        direction = self._check_direction(opt_str(props.get("failoverDirection")))
        inputs = props.get("providerSpecificDetails")
        if inputs is not None and not isinstance(inputs, list):
            raise ArmError(
                400, "InvalidParameter", "providerSpecificDetails must be a list of provider-specific failover inputs."
            )
        items = self._plan_require(plan, "UnplannedFailover")
        if direction == RECOVERY_TO_PRIMARY:
            for item in items:
                if item.provider == HYPERV_AZURE:
                    self._refuse_hyperv_failback(item)
        shutdown = (opt_str(props.get("sourceSiteOperations")) or "NotRequired").lower() == "required"
        return self._failover_job(
            vault,
            items,
            scenario="UnplannedFailover",
            target=plan,
            plan=plan,
            shutdown=shutdown,
            refused=self._plan_direction_refusal(plan, items, direction),
        )

    def _plan_direction_refusal(self, plan: RecoveryPlan, items: list[ProtectedItem], direction: str) -> Refusal | None:
        """A plan keeps its fabrics: items replicating from the plan's primary fabric fail over PrimaryToRecovery,
        items reprotected back from its recovery fabric RecoveryToPrimary; anything else fails the job."""
        primary = name_key(segment_after(plan.primary_fabric_id, "replicationFabrics") or "")
        for item in items:
            if item.provider != A2A:
                continue
            forward = name_key(item.fabric) == primary
            wanted = PRIMARY_TO_RECOVERY if forward else RECOVERY_TO_PRIMARY
            if direction != wanted:
                side = "primary" if forward else "recovery"
                return wrong_direction(
                    direction,
                    f"replicated item '{item.name}' of recovery plan '{plan.name}' replicates from the plan's {side} fabric",
                    wanted,
                )
        return None

    def plan_planned_failover(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = props_of(body)
        direction = self._check_direction(opt_str(props.get("failoverDirection")))
        items = self.plan_items(plan)
        for item in items:
            if item.provider == HYPERV_AZURE and direction == RECOVERY_TO_PRIMARY:
                self._refuse_hyperv_failback(item)
        items = self._plan_require(plan, "PlannedFailover" if direction == PRIMARY_TO_RECOVERY else "Failback")
        plan.last_planned_failover = self.clock.now()
        return self._failover_job(
            vault,
            items,
            scenario="PlannedFailover",
            target=plan,
            plan=plan,
            shutdown=True,
            failback=direction == RECOVERY_TO_PRIMARY,
        )

    def plan_commit(self, vault: Vault, name: str) -> Job:
        plan = self.plan(vault, name)
        return self._commit_job(vault, self._plan_require(plan, "Commit"), target=plan, plan=plan)

    def plan_reprotect(self, vault: Vault, name: str) -> Job:
        """Reprotect every item with default placement (the original VM's RG and availability set, no PPG).

        The plan job is started first (so an async-refusal fault applies to it) and ends with the last item
        job; A2A plan reprotect through the API has no recording (choice)."""
        plan = self.plan(vault, name)
        items = self._plan_require(plan, "ReverseReplicate")
        specifics = []
        for item in items:
            recovery = self._recovery_container(item)
            back = next(
                (
                    self.container_by_id(vault, m.target_container_id)
                    for m in recovery.mappings.values()
                    if self.container_by_id(vault, m.target_container_id).fabric.location == item.primary_location
                ),
                None,
            )
            if back is None:
                raise ArmError(400, "ContainerMappingNotFound", f"No reverse container mapping from '{recovery.name}' exists.")
            specifics.append(
                {
                    "instanceType": A2A,
                    "recoveryContainerId": self.container_id(vault, back),
                    "recoveryAvailabilitySetId": item.extra.get("sourceAvsetId") if not item.reversed else None,
                }
            )
        job = self._start_job(
            vault,
            "ReverseReplication",
            target=self._plan_target(plan),
            duration_s=self.timings.switch_protection_s,
            tasks=[TaskSpec(f"ReprotectTask-{i.name}", f"Reprotect {i.friendly_name}") for i in items],
            result=lambda: self.plan_body(plan),
            custom=self._plan_details(plan),
        )
        if job.op.done:
            return job
        item_jobs = [self._reverse_replication(vault, i, x, with_placement=False) for i, x in zip(items, specifics, strict=True)]
        job.op.due = max([job.op.due, *(j.op.due for j in item_jobs)])
        job.work_end = job.op.due
        plan.scenario = ("ReverseReplication", job.id, self.clock.now())
        return job

    def plan_test_failover(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        """Test failover of every item of the plan into the test network, in boot order; the direction follows
        the plan's fabrics as for a failover; ``recoveryPointType`` of the A2A input picks each item's point."""
        plan = self.plan(vault, name)
        props = props_of(body or {})
        direction = self._check_direction(opt_str(props.get("failoverDirection")))
        network = self._test_network(props, None)
        inputs = props.get("providerSpecificDetails")
        if inputs is not None and not isinstance(inputs, list):
            raise ArmError(
                400, "InvalidParameter", "providerSpecificDetails must be a list of provider-specific failover inputs."
            )
        point_type = next(
            (
                opt_str(entry.get("recoveryPointType"))
                for entry in inputs or []
                if isinstance(entry, dict) and (opt_str(entry.get("instanceType")) or A2A) == A2A
            ),
            None,
        )
        items = self._plan_require(plan, "TestFailover")
        points = {i.key: self._test_point(i, point_id=None, point_type=point_type) for i in items}
        return self._test_failover_job(
            vault,
            items,
            network,
            network_type=opt_str(props.get("networkType")) or "VmNetworkAsInput",
            points=points,
            target=plan,
            plan=plan,
            refused=self._plan_direction_refusal(plan, items, direction),
        )

    def plan_test_failover_cleanup(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        """Cleans up the items of the plan waiting for it (all of them after a plan test failover; after one that
        failed part-way, those it left test VMs for: choice)."""
        plan = self.plan(vault, name)
        comments = self._comments(body)
        if "TestFailoverCleanup" not in self.plan_allowed_operations(plan):
            self._plan_require(plan, "TestFailoverCleanup")  # raises with the blockers
        items = [i for i in self.plan_items(plan) if "TestFailoverCleanup" in self.allowed_operations(i)]
        return self._cleanup_job(vault, items, target=plan, plan=plan, comments=comments)
