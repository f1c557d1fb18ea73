"""Recovery plans: definition (boot groups validated), boot order and the plan body.

The plan-level actions (failover, commit, reprotect, test failover) are in ``plan_actions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.asr.models.common import A2A, display_location, last_segment, name_key, opt_str, props_of, segment_after
from emulator.asr.models.items import COMMITTED, TFO_CLEANING, TFO_RUNNING, TFO_WAITING, ItemsMixin, ProtectedItem
from emulator.asr.models.jobs import Job, JobTarget, TaskSpec, job_state
from emulator.asr.models.vaults import Vault
from emulator.clock import iso
from emulator.errors import ArmError
from emulator.operations import SUCCEEDED


@dataclass
class RecoveryPlan:
    vault: Vault
    name: str
    primary_fabric_id: str
    recovery_fabric_id: str
    deployment_model: str
    groups: list[dict[str, Any]]
    provider_input: list[dict[str, Any]] = field(default_factory=list)
    scenario: tuple[str, str, datetime] | None = None
    scenario_status: str | None = None
    scenario_status_description: str | None = None
    last_planned_failover: datetime | None = None
    last_unplanned_failover: datetime | None = None
    last_test_failover: datetime | None = None

    @property
    def id(self) -> str:
        return f"{self.vault.id}/replicationRecoveryPlans/{self.name}"

    def item_ids(self) -> list[str]:
        """The ids of the items in the plan's groups, as stored."""
        return [ref["id"] for g in self.groups for ref in g.get("replicationProtectedItems") or [] if ref.get("id")]


class PlansMixin(ItemsMixin):
    """Plan writes are setup jobs; reads follow items moved by switch protection."""

    def create_plan(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        """PUT: a SaveRecoveryPlan job with one task (A2ARecoveryPlanReplication 21:54:19); the plan is saved when
        the job completes (at once by default: Azure took under a second)."""
        self.tick()
        props = props_of(body)
        primary = opt_str(props.get("primaryFabricId"))
        recovery = opt_str(props.get("recoveryFabricId"))
        if primary is None or recovery is None:
            raise ArmError(400, "InvalidParameter", "primaryFabricId and recoveryFabricId are required.")
        groups = self._validate_groups(vault, props.get("groups") or [], primary)
        existing = vault.plans.get(name.lower())
        plan = existing or RecoveryPlan(
            vault,
            name,
            primary,
            recovery,
            opt_str(props.get("failoverDeploymentModel")) or "ResourceManager",
            groups,
            list(props.get("providerSpecificInput") or []),
        )

        def saved(_: Job) -> None:
            plan.groups = groups
            plan.primary_fabric_id, plan.recovery_fabric_id = primary, recovery
            vault.plans[name.lower()] = plan

        return self._setup_job(
            vault,
            "SaveRecoveryPlan",
            self._plan_target(plan),
            tasks=[TaskSpec("SaveRecoveryPlanTask", "Save a recovery plan task")],
            on_complete=saved,
            result=lambda: self.plan_body(plan),
        )

    def update_plan(self, vault: Vault, name: str, body: dict[str, Any]) -> Job:
        plan = self.plan(vault, name)
        props = props_of(body)
        groups = self._validate_groups(vault, props.get("groups") or [], plan.primary_fabric_id) if "groups" in props else None

        def saved(_: Job) -> None:
            if groups is not None:
                plan.groups = groups

        return self._setup_job(
            vault, "UpdateRecoveryPlan", self._plan_target(plan), on_complete=saved, result=lambda: self.plan_body(plan)
        )

    def delete_plan(self, vault: Vault, name: str) -> Job:
        plan = self.plan(vault, name)

        def done(_: Job) -> None:
            vault.plans.pop(name.lower(), None)

        return self._setup_job(vault, "DeleteRecoveryPlan", self._plan_target(plan), on_complete=done)

    def _plan_target(self, plan: RecoveryPlan) -> JobTarget:
        """Plan jobs name the plan by its GUID and name (A2ARecoveryPlanReplication 21:54:19, entries[-1])."""
        return JobTarget(self._stable_id(plan.vault.id, "plan", plan.name), plan.name, "RecoveryPlan", plan.id)

    def _plan_details(self, plan: RecoveryPlan) -> dict[str, Any]:
        """``AsrJobDetails`` of a plan job, keys as recorded (21:54:19)."""
        vault = plan.vault
        primary = vault.fabrics.get((segment_after(plan.primary_fabric_id, "replicationFabrics") or "").lower())
        recovery = vault.fabrics.get((segment_after(plan.recovery_fabric_id, "replicationFabrics") or "").lower())
        return {
            "instanceType": "AsrJobDetails",
            "affectedObjectDetails": {
                "primaryVmmId": primary.internal_id if primary else "",
                "primaryVmmName": display_location(primary.location) if primary else "",
                "recoveryVmmId": recovery.internal_id if recovery else "",
                "recoveryVmmName": display_location(recovery.location) if recovery else "",
                "primaryFabricProviderId": "Azure",
                "recoveryFabricProviderId": "Azure",
            },
        }

    def plan(self, vault: Vault, name: str) -> RecoveryPlan:
        self.tick()
        plan = vault.plans.get(name.lower())
        if plan is None:
            raise ArmError(404, "NotFound", f"Recovery plan '{name}' was not found in vault '{vault.name}'.")
        return plan

    def plans(self, vault: Vault) -> list[RecoveryPlan]:
        self.tick()
        return list(vault.plans.values())

    def _validate_groups(self, vault: Vault, groups: list[dict[str, Any]], primary_fabric_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for group in groups:
            kind = opt_str(group.get("groupType")) or "Boot"
            if kind not in ("Boot", "Failover", "Shutdown"):
                raise ArmError(400, "InvalidParameter", f"Unknown recovery plan groupType '{kind}'.")
            refs = []
            for ref in group.get("replicationProtectedItems") or []:
                item_id = opt_str(ref.get("id"))
                item = self.item_by_id(vault, item_id or "")
                if item is None:
                    raise ArmError(400, "InvalidParameter", f"Replicated item '{item_id}' was not found in vault '{vault.name}'.")
                if item.id.lower() in seen:
                    raise ArmError(400, "InvalidParameter", f"Replicated item '{item.name}' appears twice in the recovery plan.")
                fabric_name = segment_after(primary_fabric_id, "replicationFabrics")
                if fabric_name and name_key(fabric_name) not in (name_key(item.fabric), name_key(item.recovery_fabric)):
                    raise ArmError(
                        400,
                        "InvalidParameter",
                        f"Replicated item '{item.name}' replicates from fabric '{item.fabric}', not from the plan's primary "
                        f"fabric '{fabric_name}'. A recovery plan holds items of one source and target region.",
                    )
                seen.add(item.id.lower())
                # ASR answers with its own GUID of the VM, whatever the request said (21:54:20).
                refs.append({"id": item.id, "virtualMachineId": self._item_target(item).object_id})
            out.append(
                {
                    "groupType": kind,
                    "replicationProtectedItems": refs,
                    "startGroupActions": list(group.get("startGroupActions") or []),
                    "endGroupActions": list(group.get("endGroupActions") or []),
                }
            )
        kinds = [g["groupType"] for g in out]
        if "Shutdown" not in kinds:
            out.insert(
                0, {"groupType": "Shutdown", "replicationProtectedItems": [], "startGroupActions": [], "endGroupActions": []}
            )
        if "Failover" not in kinds:
            out.insert(
                1, {"groupType": "Failover", "replicationProtectedItems": [], "startGroupActions": [], "endGroupActions": []}
            )
        return out

    def plan_items(self, plan: RecoveryPlan) -> list[ProtectedItem]:
        """The plan's items in boot order (Failover group first, then Boot groups in order), each once.

        Linear in the plan's size: a set of the keys seen (a list membership test compared whole items, which made
        listing 100 plans of 100 items take seconds)."""
        ordered: list[ProtectedItem] = []
        seen: set[str] = set()
        for kind in ("Shutdown", "Failover", "Boot"):
            for group in plan.groups:
                if group["groupType"] != kind:
                    continue
                for ref in group.get("replicationProtectedItems") or []:
                    item = self._resolve_plan_item(plan.vault, ref)
                    if item is not None and item.key not in seen:
                        seen.add(item.key)
                        ordered.append(item)
        return ordered

    def plan_boot_groups(self, plan: RecoveryPlan) -> list[list[ProtectedItem]]:
        """The plan's items by boot group, in boot order; items of the Shutdown or Failover group (unusual: ASR adds
        them empty) come first, as one group (choice). Each item appears once."""
        first: list[ProtectedItem] = []
        boots: list[list[ProtectedItem]] = []
        for group in plan.groups:
            found = [i for ref in group.get("replicationProtectedItems") or [] if (i := self._resolve_plan_item(plan.vault, ref))]
            if group["groupType"] == "Boot":
                boots.append(found)
            else:
                first.extend(found)
        seen: set[str] = set()
        out: list[list[ProtectedItem]] = []
        for group_items in [first, *boots]:
            unique = [i for i in group_items if i.key not in seen]
            seen.update(i.key for i in unique)
            if unique:
                out.append(unique)
        return out

    def _resolve_plan_item(self, vault: Vault, ref: dict[str, Any]) -> ProtectedItem | None:
        item = self.item_by_id(vault, opt_str(ref.get("id")) or "")
        if item is not None:
            return item
        # Switch protection moves an item to the other container; the plan follows it by name.
        name = segment_after(opt_str(ref.get("id")) or "", "replicationProtectedItems") or ""
        matches = [i for i in vault.items.values() if i.name.lower() == name.lower()]
        if len(matches) == 1:
            ref["id"] = matches[0].id
            return matches[0]
        return None

    def plan_allowed_operations(self, plan: RecoveryPlan, items: list[ProtectedItem] | None = None) -> list[str]:
        """Operations every item allows. ``ReverseReplicate`` stands for the items' switch protection once all are
        committed (A2A items list SwitchProtection, never ReverseReplicate); no A2A plan recording: choice.
        ``items``: the plan's items when the caller resolved them already."""
        items = self.plan_items(plan) if items is None else items
        if not items:
            return []
        ops = [
            "PlannedFailover",
            "UnplannedFailover",
            "TestFailover",
            "TestFailoverCleanup",
            "Commit",
            "ReverseReplicate",
            "Failback",
        ]
        allowed = {i.key: self.allowed_operations(i) for i in items}
        busy = any(i.tfo in (TFO_RUNNING, TFO_CLEANING) for i in items)
        return [
            op
            for op in ops
            if all(plan_op_allowed(op, i, allowed[i.key]) for i in items)
            # after a plan test failover that failed part-way, the items it left test VMs for (choice)
            or (op == "TestFailoverCleanup" and not busy and any(op in allowed[i.key] for i in items))
        ]

    def plan_body(self, plan: RecoveryPlan | None) -> dict[str, Any] | None:
        """The plan (A2ARecoveryPlanReplication 21:54:20): currentScenario* null until a plan job runs,
        providerSpecificDetails [], fabric friendly names are the regions' names, no last*Time keys yet."""
        if plan is None or plan.vault.plans.get(plan.name.lower()) is not plan:
            return None
        items = self.plan_items(plan)
        providers = sorted({i.provider for i in items}) or [A2A]
        props: dict[str, Any] = {
            "friendlyName": plan.name,
            "primaryFabricId": plan.primary_fabric_id,
            "primaryFabricFriendlyName": self._fabric_friendly_name(plan.vault, plan.primary_fabric_id),
            "recoveryFabricId": plan.recovery_fabric_id,
            "recoveryFabricFriendlyName": self._fabric_friendly_name(plan.vault, plan.recovery_fabric_id),
            "failoverDeploymentModel": plan.deployment_model,
            "replicationProviders": providers,
            "allowedOperations": self.plan_allowed_operations(plan, items),
        }
        if plan.last_planned_failover:
            props["lastPlannedFailoverTime"] = iso(plan.last_planned_failover)
        if plan.last_unplanned_failover:
            props["lastUnplannedFailoverTime"] = iso(plan.last_unplanned_failover)
        if plan.last_test_failover:
            props["lastTestFailoverTime"] = iso(plan.last_test_failover)
        props.update(self._plan_scenario(plan, items))
        props["groups"] = plan.groups
        props["providerSpecificDetails"] = []
        return {
            "id": plan.id,
            "name": plan.name,
            "type": "Microsoft.RecoveryServices/vaults/replicationRecoveryPlans",
            "location": plan.vault.location,
            "properties": props,
        }

    def _plan_scenario(self, plan: RecoveryPlan, items: list[ProtectedItem]) -> dict[str, Any]:
        scenario: dict[str, Any] = {
            "currentScenario": None,
            "currentScenarioStatus": None,
            "currentScenarioStatusDescription": None,
        }
        if plan.scenario is None:
            return scenario
        name, job_id, start = plan.scenario
        scenario["currentScenario"] = {
            "scenarioName": name,
            "jobId": f"{plan.vault.id}/replicationJobs/{job_id}",
            "startTime": iso(start),
        }
        job = plan.vault.jobs.get(job_id.lower())
        if job is None:
            return scenario
        if name == "TestFailover" and job.op.status == SUCCEEDED and any(i.tfo == TFO_WAITING for i in items):
            scenario["currentScenarioStatus"], scenario["currentScenarioStatusDescription"] = (
                "Suspended",
                "WaitingForStopTestFailover",
            )
        else:
            scenario["currentScenarioStatus"], scenario["currentScenarioStatusDescription"] = job_state(job, self.clock.now())
        return scenario

    @staticmethod
    def _fabric_friendly_name(vault: Vault, fabric_id: str) -> str:
        name = segment_after(fabric_id, "replicationFabrics") or last_segment(fabric_id)
        fabric = vault.fabrics.get(name.lower())
        return display_location(fabric.location) if fabric is not None else name


def plan_op_allowed(op: str, item: ProtectedItem, allowed: list[str]) -> bool:
    if op == "ReverseReplicate" and item.provider == A2A:
        return item.phase == COMMITTED and "SwitchProtection" in allowed
    return op in allowed
