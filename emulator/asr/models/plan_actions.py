"""Recovery plan actions: the item actions over a plan's items, in plan order, as one plan job."""

from __future__ import annotations

from typing import Any

from emulator.asr.models.common import A2A, HYPERV_AZURE, opt_str, props_of
from emulator.asr.models.failover import FailoverMixin
from emulator.asr.models.items import PROTECTION_STATES, ProtectedItem
from emulator.asr.models.jobs import Job, TaskSpec
from emulator.asr.models.plans import RecoveryPlan
from emulator.asr.models.reprotect import ReprotectMixin
from emulator.asr.models.vaults import Vault
from emulator.errors import ArmError


class PlanActionsMixin(FailoverMixin, ReprotectMixin):
    """Every item of the plan must allow the operation, or the plan action is refused with the blockers."""

    def _plan_require(self, plan: RecoveryPlan, operation: str) -> list[ProtectedItem]:
        items = self.plan_items(plan)
        if not items:
            raise ArmError(400, "InvalidParameter", f"Recovery plan '{plan.name}' has no replicated items.")
        blocked = [i for i in items if operation not in self.allowed_operations(i)]
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
        direction = opt_str(props.get("failoverDirection")) or "PrimaryToRecovery"
        self._check_direction(direction)
        inputs = props.get("providerSpecificDetails")
        if inputs is not None and not isinstance(inputs, list):
            raise ArmError(
                400, "InvalidParameter", "providerSpecificDetails must be a list of provider-specific failover inputs."
            )
        items = self._plan_require(plan, "UnplannedFailover")
        if direction == "RecoveryToPrimary":
            for item in items:
                if item.provider == HYPERV_AZURE:
                    self._refuse_hyperv_failback(item)
        return self._failover_job(vault, items, scenario="UnplannedFailover", target=plan, plan=plan)

    def plan_planned_failover(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = props_of(body)
        direction = opt_str(props.get("failoverDirection")) or "PrimaryToRecovery"
        self._check_direction(direction)
        items = self.plan_items(plan)
        for item in items:
            if item.provider == HYPERV_AZURE and direction == "RecoveryToPrimary":
                self._refuse_hyperv_failback(item)
        items = self._plan_require(plan, "PlannedFailover" if direction == "PrimaryToRecovery" else "Failback")
        plan.last_planned_failover = self.clock.now()
        return self._failover_job(
            vault, items, scenario="PlannedFailover", target=plan, plan=plan, failback=direction == "RecoveryToPrimary"
        )

    def plan_commit(self, vault: Vault, name: str) -> Job:
        plan = self.plan(vault, name)
        return self._commit_job(vault, self._plan_require(plan, "Commit"), target=plan, plan=plan)

    def plan_reprotect(self, vault: Vault, name: str) -> Job:
        """Reprotect every item with default placement (the original VM's RG and availability set, no PPG)."""
        plan = self.plan(vault, name)
        items = self._plan_require(plan, "ReverseReplicate")
        jobs = []
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
            specific = {
                "instanceType": A2A,
                "recoveryContainerId": self.container_id(vault, back),
                "recoveryAvailabilitySetId": item.extra.get("sourceAvsetId") if not item.reversed else None,
            }
            jobs.append(self._reverse_replication(vault, item, specific, with_placement=False))
        # One plan-level job that finishes with the last item job.
        last = jobs[-1]
        job = self._start_job(
            vault,
            "SwitchProtection",
            target_id=plan.id,
            target_name=plan.name,
            target_type="RecoveryPlan",
            duration_s=self.timings.switch_protection_s,
            tasks=[TaskSpec(f"ReprotectTask-{i.name}", f"Reprotect {i.friendly_name}") for i in items],
            result=lambda: self.plan_body(plan),
        )
        job.op.due = last.op.due
        plan.scenario = ("SwitchProtection", job.id, self.clock.now())
        return job

    def plan_test_failover(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = props_of(body)
        network = opt_str(props.get("networkId"))
        if network is None:
            raise ArmError(400, "InvalidParameter", "networkId (the isolated test network) is required for a test failover.")
        items = self._plan_require(plan, "TestFailover")
        return self._test_failover_job(vault, items, network, target=plan, plan=plan)

    def plan_test_failover_cleanup(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        items = self._plan_require(plan, "TestFailoverCleanup")
        return self._cleanup_job(vault, items, target=plan, plan=plan)
