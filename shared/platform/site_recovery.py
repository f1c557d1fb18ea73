"""The Site Recovery gateway: what ppg-dr reads from and asks of ASR, in ppg-dr's own terms.

Workflows and protection steps need a handful of things from the vault: an item (wherever switch
protection moved it), what ASR allows on it now, a job's state and errors, and the recovery-plan and
switch-protection actions. Reading those through one gateway keeps SDK model walking in one place and
lets the workflow phases be tested against a fake (``tests/fakes``) without an emulator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.exceptions import ResourceNotFoundError

from shared.arm.ids import segment_after
from shared.platform.clients import AzureClients, StartedOperation, VaultRef, start_operation
from shared.platform.observed import attr, text

if TYPE_CHECKING:
    from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

# Job states that mean "still running" (``NotStarted`` is what a job reads right after the 202).
PENDING_JOB_STATES = ("NotStarted", "InProgress", "Suspended", "Cancelling")
# Job states that mean it worked: ASR reports a success with informational errors as its own state.
SUCCEEDED_JOB_STATES = ("Succeeded", "CompletedWithInformation")


@dataclass(frozen=True)
class ItemView:
    """A replicated item as a workflow sees it."""

    id: str
    name: str
    fabric: str
    container: str
    allowed_operations: tuple[str, ...]
    protection_state: str
    active_location: str
    recovery_vm_id: str | None = None
    source_vm_id: str | None = None


@dataclass(frozen=True)
class TaskView:
    """One task of a job, with the times Azure reports (None while not started / not ended)."""

    name: str
    friendly_name: str
    state: str
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class FailedOverItem:
    """What a (test) failover job says of one item: its test VM and the recovery point it used."""

    name: str
    friendly_name: str
    test_vm_name: str | None
    recovery_point_time: datetime | None


@dataclass(frozen=True)
class JobView:
    """An ASR job: its state, times and tasks and, when it failed, Azure's codes and messages."""

    name: str
    state: str
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # Info-level errors of a job that CompletedWithInformation
    start: datetime | None = None
    end: datetime | None = None
    tasks: tuple[TaskView, ...] = ()
    items: tuple[FailedOverItem, ...] = ()

    @property
    def pending(self) -> bool:
        return self.state in PENDING_JOB_STATES

    @property
    def succeeded(self) -> bool:
        return self.state in SUCCEEDED_JOB_STATES


@dataclass(frozen=True)
class SwitchProtection:
    """Switch protection of one item into ``recovery_container_id`` (reprotect into a PPG)."""

    item: ItemView
    recovery_container_id: str
    policy_id: str
    recovery_resource_group_id: str
    recovery_ppg_id: str | None
    recovery_availability_set_id: str | None
    recovery_zone: str | None
    disks: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (disk id, storage SKU)
    cache_storage_account_id: str = ""


@dataclass(frozen=True)
class JobSearch:
    """What the vault's job list says of a write that got no answer: its job, or whether a job too new to name its
    scenario and target (``NotStarted``) may still be it."""

    job: str | None
    undescribed: bool = False


class SiteRecoveryApi(Protocol):
    """What the workflows use; :class:`SiteRecovery` against Azure, a fake in unit tests."""

    @property
    def vault(self) -> VaultRef: ...

    def get_item(self, fabric: str, container: str, name: str) -> ItemView | None: ...

    def find_item(self, name: str, places: Iterable[tuple[str, str]]) -> ItemView | None: ...

    def plan_items(self, plan: str) -> list[ItemView]: ...

    def job(self, job_id: str) -> JobView: ...

    def find_job(self, scenario: str, target_name: str, since: datetime) -> JobSearch: ...

    def plan_scenario(self, plan: str) -> tuple[str, str] | None: ...

    def plan_failover(self, plan: str, *, direction: str, source_shutdown: str, recovery_point: str) -> StartedOperation: ...

    def plan_commit(self, plan: str) -> StartedOperation: ...

    def switch_protection(self, request: SwitchProtection) -> StartedOperation: ...

    def plan_test_failover(self, plan: str, *, network_id: str, recovery_point: str) -> StartedOperation: ...

    def plan_test_failover_cleanup(self, plan: str, *, comments: str) -> StartedOperation: ...


def item_view(item: Any) -> ItemView:
    """An SDK ``ReplicationProtectedItem`` as an :class:`ItemView`."""
    props = item.properties
    details = attr(props, "provider_specific_details")
    return ItemView(
        id=str(item.id),
        name=str(item.name),
        fabric=segment_after(str(item.id), "replicationFabrics"),
        container=segment_after(str(item.id), "replicationProtectionContainers"),
        allowed_operations=tuple(str(text(op)) for op in (attr(props, "allowed_operations") or ())),
        protection_state=text(attr(props, "protection_state")) or "",
        active_location=text(attr(props, "active_location")) or "",
        recovery_vm_id=attr(details, "recovery_fabric_object_id"),
        source_vm_id=attr(details, "fabric_object_id"),
    )


def job_error_text(error: Any) -> str:
    """One job error as Azure states it: ``code: message`` of the service, then the provider's reason.

    A refused enable says "45005: Protection couldn't be enabled for the virtual machine."; the why is in
    the provider details and the possible causes, which is what an operator needs to fix it.
    """
    service = attr(error, "service_error_details")
    provider = attr(error, "provider_error_details")
    code, message = attr(service, "code"), attr(service, "message")
    text_ = f"{code}: {message}" if code and message else str(message or code or attr(error, "error_level") or "job error")
    reason = attr(provider, "error_message") or attr(service, "possible_causes")
    if reason and str(reason) not in text_:
        text_ += f" ({reason})"
    return text_


# ASR writes 0001-01-01T00:00:00 for a task that has not started or ended (recorded sessions): not a time.
_NOT_YET = datetime(1900, 1, 1, tzinfo=UTC)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment if moment > _NOT_YET else None


def job_view(job: Any) -> JobView:
    """An SDK ``Job`` as a :class:`JobView`: Info-level errors are notes, not failures."""
    props = job.properties
    errors = [job_error_text(e) for e in attr(props, "errors") or [] if text(attr(e, "error_level")) != "Info"]
    notes = [job_error_text(e) for e in attr(props, "errors") or [] if text(attr(e, "error_level")) == "Info"]
    tasks = tuple(
        TaskView(str(t.name or ""), str(t.friendly_name or ""), text(t.state) or "", _time(t.start_time), _time(t.end_time))
        for t in attr(props, "tasks") or []
    )
    items = tuple(
        FailedOverItem(str(i.name or ""), str(i.friendly_name or ""), i.test_vm_name, _time(i.recovery_point_time))
        for i in attr(props, "custom_details", "protected_item_details") or []
    )
    return JobView(
        name=str(job.name),
        state=text(attr(props, "state")) or "Unknown",
        errors=tuple(errors),
        notes=tuple(notes),
        start=_time(attr(props, "start_time")),
        end=_time(attr(props, "end_time")),
        tasks=tasks,
        items=items,
    )


class SiteRecovery:
    """The gateway over ``azure-mgmt-recoveryservicessiterecovery`` for the configured vault."""

    def __init__(self, clients: AzureClients) -> None:
        self._vault = clients.vault()
        self._asr: SiteRecoveryManagementClient = clients.site_recovery(self._vault.subscription)

    @property
    def vault(self) -> VaultRef:
        return self._vault

    @property
    def client(self) -> SiteRecoveryManagementClient:
        return self._asr

    def get_item(self, fabric: str, container: str, name: str) -> ItemView | None:
        try:
            return item_view(self._asr.replication_protected_items.get(*self._vault.args, fabric, container, name))
        except ResourceNotFoundError:
            return None

    def find_item(self, name: str, places: Iterable[tuple[str, str]]) -> ItemView | None:
        """The item named ``name`` in the first of ``places`` (fabric, container) that holds it.

        Switch protection moves an item between containers under the same name, so a workflow looks where
        it was and where it may have gone.
        """
        seen: set[tuple[str, str]] = set()
        for fabric, container in places:
            if not fabric or (fabric, container) in seen:
                continue
            seen.add((fabric, container))
            found = self.get_item(fabric, container, name)
            if found is not None:
                return found
        return None

    def plan_items(self, plan: str) -> list[ItemView]:
        """The items of a recovery plan, read now in one list (``$filter=recoveryPlanName eq '<plan>'``).

        The look before a group step sends: one request per plan instead of one GET per member, as fresh. The filter is
        the REST spec's ``ProtectedItemsQueryParameter.recoveryPlanName`` (docs/emulator.md, "Filtered item lists");
        callers match the answer to the members by name and look up any member it does not hold one by one.
        """
        quoted = plan.replace("'", "''")
        listed = self._asr.replication_protected_items.list(*self._vault.args, filter=f"recoveryPlanName eq '{quoted}'")
        return [item_view(item) for item in listed]

    def job(self, job_id: str) -> JobView:
        try:
            return job_view(self._asr.replication_jobs.get(*self._vault.args, job_id))
        except ResourceNotFoundError:
            return JobView(job_id, "Failed", (f"job {job_id} not found",))

    def find_job(self, scenario: str, target_name: str, since: datetime) -> JobSearch:
        """The job Azure started for ``scenario`` on ``target_name`` at or after ``since``, if the job list shows it.

        A write that got no answer (a gateway 5xx after Azure applied it, or an instance that died right after the
        send) leaves its job unknown to ppg-dr. The vault's job list says whether Azure accepted it: ``$filter`` with
        the REST spec's ``JobQueryParameter.startTime`` ("Date time to get jobs from") keeps the list to the jobs since
        the write's intent; a job names its scenario and its target (``targetObjectName``: the VM's name for an item's
        jobs). A job just accepted names neither yet (``NotStarted``): it may be the one, so the search says so.
        Two matching jobs (two VMs of one name) are no answer: nothing is adopted on a guess.
        """
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found: set[str] = set()
        undescribed = False
        for job in self._asr.replication_jobs.list(*self._vault.args, filter=f"startTime eq '{stamp}'"):
            props = job.properties
            named = str(attr(props, "scenario_name") or "")
            if not named:
                undescribed = undescribed or text(attr(props, "state")) in PENDING_JOB_STATES
                continue
            if named.lower() == scenario.lower() and str(attr(props, "target_object_name") or "").lower() == target_name.lower():
                found.add(str(job.name))
        return JobSearch(found.pop() if len(found) == 1 else None, undescribed=undescribed and not found)

    def plan_scenario(self, plan: str) -> tuple[str, str] | None:
        """(scenario name, job name) of what the plan does or last did (``currentScenario``); None when nothing.

        A step sent by an instance that died before it saved the job id (or answered 5xx after Azure applied it)
        finds its job here, so the job is adopted, with its times, rather than lost.
        """
        try:
            found = self._asr.replication_recovery_plans.get(*self._vault.args, plan)
        except ResourceNotFoundError:
            return None
        current = attr(found.properties, "current_scenario")
        job_id = str(attr(current, "job_id") or "")
        name = str(attr(current, "scenario_name") or "")
        if not name or not job_id or job_id.rstrip("/").endswith("/None"):
            return None
        return name, job_id.rstrip("/").rsplit("/", 1)[-1]

    def plan_failover(self, plan: str, *, direction: str, source_shutdown: str, recovery_point: str) -> StartedOperation:
        from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

        body = m.RecoveryPlanUnplannedFailoverInput(
            properties=m.RecoveryPlanUnplannedFailoverInputProperties(
                failover_direction=direction,
                source_site_operations=source_shutdown,
                provider_specific_details=[m.RecoveryPlanA2AFailoverInput(recovery_point_type=recovery_point)],
            )
        )
        return start_operation(self._asr.replication_recovery_plans.begin_unplanned_failover, *self._vault.args, plan, body)

    def plan_commit(self, plan: str) -> StartedOperation:
        return start_operation(self._asr.replication_recovery_plans.begin_failover_commit, *self._vault.args, plan)

    def plan_test_failover(self, plan: str, *, network_id: str, recovery_point: str) -> StartedOperation:
        """Test failover of the plan into ``network_id`` (an isolated network): production keeps replicating."""
        from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

        body = m.RecoveryPlanTestFailoverInput(
            properties=m.RecoveryPlanTestFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                network_type="VmNetworkAsInput",
                network_id=network_id,
                provider_specific_details=[m.RecoveryPlanA2AFailoverInput(recovery_point_type=recovery_point)],
            )
        )
        return start_operation(self._asr.replication_recovery_plans.begin_test_failover, *self._vault.args, plan, body)

    def plan_test_failover_cleanup(self, plan: str, *, comments: str) -> StartedOperation:
        """Delete the plan's test VMs; ends the test failover."""
        from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

        body = m.RecoveryPlanTestFailoverCleanupInput(
            properties=m.RecoveryPlanTestFailoverCleanupInputProperties(comments=comments[:1024])
        )
        return start_operation(self._asr.replication_recovery_plans.begin_test_failover_cleanup, *self._vault.args, plan, body)

    def switch_protection(self, request: SwitchProtection) -> StartedOperation:
        from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

        disks = [
            m.A2AVmManagedDiskInputDetails(
                disk_id=disk_id,
                primary_staging_azure_storage_account_id=request.cache_storage_account_id,
                recovery_resource_group_id=request.recovery_resource_group_id,
                recovery_replica_disk_account_type=sku,
                recovery_target_disk_account_type=sku,
            )
            for disk_id, sku in request.disks
        ]
        body = m.SwitchProtectionInput(
            properties=m.SwitchProtectionInputProperties(
                replication_protected_item_name=request.item.name,
                provider_specific_details=m.A2ASwitchProtectionInput(
                    recovery_container_id=request.recovery_container_id,
                    policy_id=request.policy_id,
                    recovery_resource_group_id=request.recovery_resource_group_id,
                    recovery_proximity_placement_group_id=request.recovery_ppg_id or None,
                    recovery_availability_set_id=request.recovery_availability_set_id or None,
                    recovery_availability_zone=request.recovery_zone or None,
                    vm_managed_disks=disks,
                ),
            )
        )
        return start_operation(
            self._asr.replication_protection_containers.begin_switch_protection,
            *self._vault.args,
            request.item.fabric,
            request.item.container,
            body,
        )
