"""Protection steps against Azure: enable, change the target PPG, disable, and what they need.

Each step that writes to Azure is journaled (intent before, job after) and only *started* here: the
pulse timer polls the ASR job and reconciles the VM again when it ends. Target resources (resource
group, PPG, availability set) are ensured with GET-then-PUT on deterministic names, so a retried step
never creates a second one.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shared.arm.ids import ResourceId, parse_resource_id, same_id
from shared.arm.keys import normalize_arm_id
from shared.context import AppContext
from shared.platform.clients import StartedOperation, start_operation
from shared.platform.errors import azure_error_text
from shared.platform.memo import memo_for
from shared.platform.observed import ObservedItem
from shared.platform.retries import is_transient
from shared.protection.planner import AvailabilitySetPlan, EnableSpec, TargetPpgPlan, spec_fingerprint
from shared.protection.unanswered import UNANSWERED
from shared.protection.vault import RegionPair, VaultTopology
from shared.state.store import INTENT, STARTED

log = logging.getLogger(__name__)

CREATED_BY_TAG = "managed-by"  # not a ppgdr-* key: those are the operator's tag contract
CREATED_BY_VALUE = "ppg-dr"


class StepRefused(Exception):
    """A step cannot go ahead; the message says why and what the operator can do."""


@dataclass(frozen=True)
class StartedStep:
    operation: str
    journal_key: str
    job_id: str | None


def topology(ctx: AppContext, source_region: str, target_region: str) -> VaultTopology:
    return VaultTopology(ctx.clients.vault(), RegionPair(source_region.lower(), target_region.lower()))


def journal_scope(vm: ResourceId | str) -> str:
    """The journal partition of a VM's writes (one per VM, whatever the id's spelling)."""
    return "vm:" + (vm.normalized if isinstance(vm, ResourceId) else normalize_arm_id(vm))


def current_job(body: object) -> str | None:
    """The job an item answer names as running (``properties.currentScenario.jobId``), for a write answered 200.

    An enable PUT sent again (the SDK's retry after a gateway 5xx, when the first was applied) is answered 200
    with the item and no operation URL: the job Azure runs is the first request's, named in currentScenario.
    Recording it keeps the journal true to what Azure ran. ``None`` for an idle item (scenario "None").
    """
    scenario = getattr(getattr(body, "properties", None), "current_scenario", None)  # the SDK's model of the answer
    if scenario is None or str(getattr(scenario, "scenario_name", None) or "None") == "None":
        return None
    job = str(getattr(scenario, "job_id", None) or "").rstrip("/").rsplit("/", 1)[-1]
    return job if job and job.lower() != "none" else None


def _run_journaled(ctx: AppContext, vm_id: str, operation: str, request: dict[str, Any], send: Any) -> StartedStep:
    """Intent first, then the write, then the job id: a crash at any point leaves a visible trace."""
    key = f"{operation}:{uuid.uuid4().hex[:12]}"
    scope = journal_scope(vm_id)
    intent = ctx.store.journal_intent(scope, key, operation, {**request, "vm_id": vm_id})
    try:
        started: StartedOperation = send()
    except Exception as exc:
        if is_transient(exc):
            # No answer (a 5xx after the SDK's retries, a lost connection): Azure may have applied it. The entry stays
            # open; the pulse looks for its job in the vault before anything is sent again (shared.protection.unanswered).
            ctx.store.journal_set(scope, key, INTENT, {"error": azure_error_text(exc), UNANSWERED: True}, after=intent)
        else:
            ctx.store.journal_set(scope, key, "failed", {"error": azure_error_text(exc)}, after=intent)
        raise
    job = started.job_id or current_job(started.body)
    ctx.store.journal_set(scope, key, STARTED, {"job": job or "", "status_code": started.status_code}, after=intent)
    log.info(
        "%s started for %s (job %s)",
        operation,
        vm_id,
        job,
        extra={"vm": vm_id, "step": operation, "job": job},
    )
    return StartedStep(operation, key, job)


# ------------------------------------------------------------------------------------- target resources


def ensure_resource_group(ctx: AppContext, subscription: str, name: str, location: str) -> None:
    """The recovery resource group exists and ppg-dr may use it; refused with what to deploy otherwise.

    ppg-dr never creates a resource group: that needs ``resourceGroups/write`` at subscription scope, which infra
    deliberately does not grant. infra/ creates the recovery resource group of every source resource group (named
    as ``PPGDR_TARGET_RESOURCE_GROUP`` names it) and grants the roles on it. Without those roles Azure answers 403
    whether the group exists or not, so a 403 is refused like a 404.
    """

    def refused(why: str) -> StepRefused:
        return StepRefused(
            f"the recovery resource group {name} (subscription {subscription}) cannot be used: {why}. ppg-dr does not "
            f"create resource groups; its deployment does. Add the VM's resource group to the infra parameter "
            f"sourceResourceGroupIds (infra creates {name} from targetResourceGroup = PPGDR_TARGET_RESOURCE_GROUP and "
            f"grants ppg-dr's roles on it), or create {name} in {location} yourself and add its id to "
            f"additionalTargetResourceGroupIds; then deploy infra again (docs/deploy.md)"
        )

    try:
        ctx.clients.resources(subscription).resource_groups.get(name)
    except ResourceNotFoundError:
        raise refused("it does not exist") from None
    except HttpResponseError as exc:
        if exc.status_code != 403:
            raise
        raise refused(f"ppg-dr may not read it ({azure_error_text(exc)})") from None


def ensure_target_ppg(ctx: AppContext, subscription: str, plan: TargetPpgPlan, location: str) -> None:
    """The recovery PPG exists, in the DR region, with the group's VM sizes in its intent."""
    from azure.mgmt.compute import models as cm  # lazy: the SDK loads on first use, not at cold start

    compute = ctx.clients.compute(subscription)
    try:
        ppg = compute.proximity_placement_groups.get(plan.resource_group, plan.name)
    except ResourceNotFoundError:
        if not plan.create_if_missing:
            raise StepRefused(
                f"the target PPG {plan.id} does not exist; create it in {location} or tag ppgdr-target-ppg=auto"
            ) from None
        body = cm.ProximityPlacementGroup(
            location=location,
            zones=[plan.zone] if plan.zone else None,
            tags={CREATED_BY_TAG: CREATED_BY_VALUE},
            properties=cm.ProximityPlacementGroupProperties(
                proximity_placement_group_type=plan.ppg_type,
                intent=cm.ProximityPlacementGroupPropertiesIntent(vm_sizes=list(plan.vm_sizes)) if plan.vm_sizes else None,
            ),
        )
        compute.proximity_placement_groups.create_or_update(plan.resource_group, plan.name, body)
        log.info("created target PPG %s in %s (intent %s)", plan.id, location, ",".join(plan.vm_sizes))
        return
    if (ppg.location or "").lower().replace(" ", "") != location.lower():
        raise StepRefused(f"the target PPG {plan.id} is in {ppg.location}, not in the DR region {location}")
    props = ppg.properties or cm.ProximityPlacementGroupProperties()
    known = set((props.intent.vm_sizes or []) if props.intent else [])
    missing = set(plan.vm_sizes) - known
    owned = (ppg.tags or {}).get(CREATED_BY_TAG) == CREATED_BY_VALUE
    if missing and owned and not props.virtual_machines:
        props.intent = cm.ProximityPlacementGroupPropertiesIntent(vm_sizes=sorted(known | set(plan.vm_sizes)))
        ppg.properties = props
        compute.proximity_placement_groups.create_or_update(plan.resource_group, plan.name, ppg)
        log.info("added sizes %s to the intent of target PPG %s", ",".join(sorted(missing)), plan.id)


def ensure_availability_set(
    ctx: AppContext, subscription: str, plan: AvailabilitySetPlan, source_avset_id: str, location: str
) -> None:
    """The recovery availability set exists and is pinned to the recovery PPG (same resource group)."""
    from azure.mgmt.compute import models as cm  # lazy: the SDK loads on first use, not at cold start

    compute = ctx.clients.compute(subscription)
    try:
        existing = compute.availability_sets.get(plan.resource_group, plan.name)
    except ResourceNotFoundError:
        existing = None
    if existing is not None:
        props = existing.properties or cm.AvailabilitySetProperties()
        current = props.proximity_placement_group.id if props.proximity_placement_group else None
        if same_id(current, plan.ppg_id) or props.virtual_machines:
            return
        props.proximity_placement_group = cm.SubResource(id=plan.ppg_id) if plan.ppg_id else None
        existing.properties = props
        compute.availability_sets.create_or_update(plan.resource_group, plan.name, existing)
        return
    source = parse_resource_id(source_avset_id)
    fault_domains, update_domains = 2, 5
    if source is not None and source.resource_group:
        src = ctx.clients.compute(source.subscription).availability_sets.get(source.resource_group, source.name)
        if src.properties is not None:
            fault_domains = src.properties.platform_fault_domain_count or fault_domains
            update_domains = src.properties.platform_update_domain_count or update_domains
    body = cm.AvailabilitySet(
        location=location,
        sku=cm.Sku(name="Aligned"),
        tags={CREATED_BY_TAG: CREATED_BY_VALUE},
        properties=cm.AvailabilitySetProperties(
            platform_fault_domain_count=fault_domains,
            platform_update_domain_count=update_domains,
            proximity_placement_group=cm.SubResource(id=plan.ppg_id) if plan.ppg_id else None,
        ),
    )
    compute.availability_sets.create_or_update(plan.resource_group, plan.name, body)
    log.info("created recovery availability set %s pinned to %s", plan.id, plan.ppg_id)


# How long this process trusts a recovery resource group or target PPG it found as wanted: the next VM of the same
# group sends no GET for it. Bounded, so a target deleted since is found again (the enable would fail in ASR's job).
ENSURED_SECONDS = 600


def ensure_targets(ctx: AppContext, spec: EnableSpec, source_avset_id: str | None) -> None:
    subscription = spec.target_resource_group_id.split("/")[2]
    memo = memo_for(ctx.store)
    group_fact = ("resource-group", subscription.lower(), spec.target_resource_group.lower(), spec.target_region.lower())
    if not memo.known(group_fact, ENSURED_SECONDS):
        ensure_resource_group(ctx, subscription, spec.target_resource_group, spec.target_region)
        memo.remember(group_fact)
    if spec.target_ppg is not None:
        ppg_fact = ("ppg", spec.target_ppg, spec.target_region.lower())  # the whole plan: its intent's sizes, zone, type
        if not memo.known(ppg_fact, ENSURED_SECONDS):
            ensure_target_ppg(ctx, subscription, spec.target_ppg, spec.target_region)
            memo.remember(ppg_fact)
    if spec.target_availability_set is not None and source_avset_id:
        ensure_availability_set(ctx, subscription, spec.target_availability_set, source_avset_id, spec.target_region)


# ---------------------------------------------------------------------------------------------- steps


def start_enable(ctx: AppContext, spec: EnableSpec, source_avset_id: str | None) -> StartedStep:
    """Enable A2A replication with every managed disk, the recovery PPG, availability set and zone."""
    from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

    ensure_targets(ctx, spec, source_avset_id)
    topo = topology(ctx, spec.source_region, spec.target_region)
    details = m.A2AEnableProtectionInput(
        fabric_object_id=spec.vm_id,
        recovery_container_id=topo.target_container_id,
        recovery_resource_group_id=spec.target_resource_group_id,
        recovery_proximity_placement_group_id=spec.target_ppg.id if spec.target_ppg else None,
        recovery_availability_set_id=spec.target_availability_set.id if spec.target_availability_set else None,
        recovery_availability_zone=spec.target_zone,
        recovery_capacity_reservation_group_id=spec.capacity_reservation_group_id,
        multi_vm_group_name=spec.multi_vm_group,
        vm_managed_disks=[
            m.A2AVmManagedDiskInputDetails(
                disk_id=disk.disk_id,
                primary_staging_azure_storage_account_id=disk.staging_account_id,
                recovery_resource_group_id=spec.target_resource_group_id,
                recovery_replica_disk_account_type=disk.replica_disk_type,
                recovery_target_disk_account_type=disk.target_disk_type,
            )
            for disk in spec.disks
        ],
    )
    body = m.EnableProtectionInput(
        properties=m.EnableProtectionInputProperties(policy_id=topo.policy_id, provider_specific_details=details)
    )
    asr = ctx.clients.site_recovery(topo.vault.subscription)
    request = {
        "item_name": spec.item_name,
        "fabric": topo.source_fabric,
        "container": topo.source_container,
        "target_ppg": spec.target_ppg.id if spec.target_ppg else "",
        "fingerprint": spec_fingerprint(spec),
    }
    return _run_journaled(
        ctx,
        spec.vm_id,
        "enable-protection",
        request,
        lambda: start_operation(
            asr.replication_protected_items.begin_create,
            *topo.vault.args,
            topo.source_fabric,
            topo.source_container,
            spec.item_name,
            body,
        ),
    )


def start_update_target_ppg(ctx: AppContext, spec: EnableSpec, item: ObservedItem, source_avset_id: str | None) -> StartedStep:
    """Point a protected item at another recovery PPG (``A2AUpdateReplicationProtectedItemInput``)."""
    from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

    if spec.target_ppg is None:
        raise StepRefused("ASR cannot remove a target PPG in place; it is done as disable + re-enable")
    ensure_targets(ctx, spec, source_avset_id)
    vault = ctx.clients.vault()
    asr = ctx.clients.site_recovery(vault.subscription)
    body = m.UpdateReplicationProtectedItemInput(
        properties=m.UpdateReplicationProtectedItemInputProperties(
            recovery_availability_set_id=spec.target_availability_set.id if spec.target_availability_set else None,
            provider_specific_details=m.A2AUpdateReplicationProtectedItemInput(
                recovery_proximity_placement_group_id=spec.target_ppg.id,
            ),
        )
    )
    request = {
        "item_name": item.name,
        "fabric": item.fabric_name,
        "container": item.container_name,
        "target_ppg": spec.target_ppg.id,
        "fingerprint": spec_fingerprint(spec),
    }
    return _run_journaled(
        ctx,
        spec.vm_id,
        "update-target-ppg",
        request,
        lambda: start_operation(
            asr.replication_protected_items.begin_update,
            *vault.args,
            item.fabric_name,
            item.container_name,
            item.name,
            body,
        ),
    )


def start_disable(ctx: AppContext, vm_id: str, item: ObservedItem, reason: str) -> StartedStep:
    """Disable replication (POST ``/remove``); the source VM is untouched."""
    from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

    vault = ctx.clients.vault()
    asr = ctx.clients.site_recovery(vault.subscription)
    body = m.DisableProtectionInput(properties=m.DisableProtectionInputProperties(disable_protection_reason="NotSpecified"))
    request = {
        "item_name": item.name,
        "fabric": item.fabric_name,
        "container": item.container_name,
        "reason": reason,
        "target_ppg": item.recovery_ppg_id or "",
        "target_availability_set": item.recovery_availability_set_id or "",
    }
    return _run_journaled(
        ctx,
        vm_id,
        "disable-protection",
        request,
        lambda: start_operation(
            asr.replication_protected_items.begin_delete,
            *vault.args,
            item.fabric_name,
            item.container_name,
            item.name,
            body,
        ),
    )


def cleanup_unused(ctx: AppContext, resource_ids: list[str], still_used: set[str]) -> list[str]:
    """Delete target PPGs / availability sets ppg-dr created that nothing uses any more.

    Only resources tagged as created by ppg-dr, with no VMs (and, for a PPG, no availability sets
    other than ones being removed here) and referenced by no other protected VM, are deleted.
    """
    removed: list[str] = []
    # availability sets first: a PPG cannot be deleted while a set still points at it
    ordered = sorted(resource_ids, key=lambda rid: "proximityplacementgroups" in rid.lower())
    for rid in ordered:
        parsed = parse_resource_id(rid)
        if parsed is None or parsed.resource_group is None or normalize_arm_id(rid) in still_used:
            continue
        compute = ctx.clients.compute(parsed.subscription)
        try:
            if parsed.is_type("Microsoft.Compute/availabilitySets"):
                avset = compute.availability_sets.get(parsed.resource_group, parsed.name)
                if (avset.tags or {}).get(CREATED_BY_TAG) != CREATED_BY_VALUE or (
                    avset.properties is not None and avset.properties.virtual_machines
                ):
                    continue
                compute.availability_sets.delete(parsed.resource_group, parsed.name)
            elif parsed.is_type("Microsoft.Compute/proximityPlacementGroups"):
                ppg = compute.proximity_placement_groups.get(parsed.resource_group, parsed.name)
                props = ppg.properties
                if (ppg.tags or {}).get(CREATED_BY_TAG) != CREATED_BY_VALUE or (
                    props is not None and (props.virtual_machines or props.availability_sets)
                ):
                    continue
                compute.proximity_placement_groups.delete(parsed.resource_group, parsed.name)
            else:
                continue
        except ResourceNotFoundError:
            continue
        removed.append(rid)
        log.info("removed %s: created by ppg-dr and no longer used", rid)
    return removed
