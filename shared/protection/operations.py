"""Following Azure writes in flight: poll each journaled ASR job, record its outcome, take the next step.

Functions never wait on a long-running operation; they journal it and return. The pulse calls
:func:`follow_operations` every minute: a finished job's outcome goes to the journal and the VM's
status, and the VM is reconciled again so its next step (the enable after a disable, the cleanup after
an unprotect) starts now. An intent that never got a job (its send got no answer, or its instance died) is
looked up in the vault's jobs first: Azure may have accepted it (``shared.protection.unanswered``). One with no
job after two minutes was lost: the VM is planned again, and deterministic names make a re-sent enable the same
PUT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from azure.core.exceptions import AzureError, HttpResponseError

from shared.arm.ids import VIRTUAL_MACHINES, parse_typed_id, same_id, vm_ref
from shared.arm.keys import normalize_arm_id
from shared.context import AppContext
from shared.platform.errors import azure_error_text
from shared.protection.reconciler import _get_item, _observe_item, _state_of, reconcile_vm
from shared.protection.steps import cleanup_unused
from shared.protection.unanswered import is_unanswered
from shared.protection.unanswered import job_of as unanswered_job
from shared.state import vm_status as st
from shared.state.store import FAILED, STARTED, SUCCEEDED, JournalEntry

log = logging.getLogger(__name__)

# An intent without a job older than this was lost between journal and Azure (the instance died).
LOST_INTENT_AFTER = timedelta(minutes=2)
# A job just accepted names neither scenario nor target for a moment; a busy vault always has one. Past this age an
# intent stops waiting for such jobs to describe themselves.
UNDESCRIBED_WAIT_LIMIT = timedelta(minutes=6)


@dataclass
class OperationsReport:
    polled: int = 0
    finished: list[tuple[str, str, str]] = field(default_factory=list)  # (vm, operation, outcome)
    refreshed: int = 0


def follow_operations(ctx: AppContext) -> OperationsReport:
    """Poll every journaled job in flight; finish what ended; follow initial replication to ``protected``.

    Only the statuses that can change here are read (the journal's VMs, those replicating): never the whole table.
    """
    report = OperationsReport()
    now = ctx.store.now()
    for entry in ctx.store.journal_open():
        vm_id = str(entry.request.get("vm_id", ""))
        job_id = str(entry.result.get("job", ""))
        report.polled += 1
        if not job_id:
            young = entry.created is not None and now - entry.created < LOST_INTENT_AFTER
            if young and not is_unanswered(entry):
                continue  # another instance may be sending it right now
            try:
                search = unanswered_job(ctx, entry)
            except AzureError as exc:  # the vault's jobs cannot be read now (refused, unreachable): looked at again next pulse
                log.warning("could not look for the job of %s for %s: %s", entry.operation, vm_id, azure_error_text(exc))
                continue
            waited_long = entry.created is not None and now - entry.created >= UNDESCRIBED_WAIT_LIMIT
            if search.undescribed and not waited_long:
                continue  # a job too new to say what it is may be this write's: looked at again on the next pulse
            if search.job is None:
                if young:
                    continue  # no answer and no job listed yet: looked at again on the next pulse
                ctx.store.journal_set(entry.scope, entry.key, FAILED, {"error": "lost before Azure accepted it; re-planned"})
                report.finished.append((vm_id, entry.operation, "lost"))
                ref = parse_typed_id(vm_id, VIRTUAL_MACHINES)
                if ref is not None:
                    # Unknown whether it reached Azure: read the world and plan again. Names are
                    # deterministic, so if it did, the plan sees the item; if not, the same PUT is sent.
                    reconcile_vm(ctx, ref)
                continue
            job_id = search.job
            entry = ctx.store.journal_set(entry.scope, entry.key, STARTED, {"job": job_id, "found": "in the vault's jobs"})
            log.info(
                "%s for %s got no answer, but Azure runs it: job %s adopted",
                entry.operation,
                vm_id,
                job_id,
                extra={"vm": vm_id, "step": entry.operation, "job": job_id},
            )
        job = ctx.site_recovery.job(job_id)
        if job.pending:
            continue
        outcome = SUCCEEDED if job.succeeded else FAILED
        entry = ctx.store.journal_set(
            entry.scope, entry.key, outcome, {"state": job.state, "errors": list(job.errors), "notes": list(job.notes)}
        )
        report.finished.append((vm_id, entry.operation, outcome))
        try:
            _finish(ctx, entry, vm_id, outcome)
        except HttpResponseError as exc:  # the outcome is recorded; the next reconcile takes the next step
            log.warning("after %s for %s: %s", entry.operation, vm_id, azure_error_text(exc), extra={"vm": vm_id})
    report.refreshed = _refresh_replicating(ctx)
    return report


def _finish(ctx: AppContext, entry: JournalEntry, vm_id: str, outcome: str) -> None:
    if entry.scope == "vault":
        # A vault prerequisite ended: VMs waiting for the vault take their next step now.
        for waiting in st.statuses_in_states(ctx.store, (st.VmState.WAITING,)):
            reconcile_vm(ctx, vm_ref(waiting.vm_id))
        return
    stored = st.get_status(ctx.store, vm_id)
    ref = parse_typed_id(vm_id, VIRTUAL_MACHINES)
    if stored is not None:
        stored.in_flight = {}
        if outcome == FAILED:
            errors = entry.result.get("errors") or [entry.result.get("error", "")]
            error = "; ".join(str(e) for e in errors if e) or "no reason given"
            stored.state = st.VmState.FAILED
            stored.reason = f"{entry.operation} failed: {error}"
            stored.last_failure = {
                "operation": entry.operation,
                "error": error,
                "at": ctx.store.now().isoformat(),
                "fingerprint": str(entry.request.get("fingerprint", "")),
            }
            st.save_status(ctx.store, stored, note=stored.reason)
            if ref is not None:
                reconcile_vm(ctx, ref)  # clean up what the failed step left (a refused enable's item), or hold
            return
        if entry.operation in ("enable-protection", "update-target-ppg"):
            stored.last_failure = {}
        st.save_status(ctx.store, stored, note=f"{entry.operation} succeeded")
    if entry.operation == "disable-protection" and outcome == SUCCEEDED:
        still_used = _targets_in_use(ctx, exclude_vm=vm_id)
        targets = [str(entry.request.get(k, "")) for k in ("target_availability_set", "target_ppg")]
        cleanup_unused(ctx, [t for t in targets if t], still_used)
    if ref is not None:  # on-premises items (placement rules) have no Azure VM to reconcile
        reconcile_vm(ctx, ref)


def _targets_in_use(ctx: AppContext, *, exclude_vm: str) -> set[str]:
    used: set[str] = set()
    for s in st.all_statuses(ctx.store):
        if same_id(s.vm_id, exclude_vm):
            continue
        for rid in (s.target_ppg_id, s.target_availability_set_id):
            if rid:
                used.add(normalize_arm_id(rid))
    return used


_REPLICATING = (st.VmState.ENABLING, st.VmState.INITIAL_REPLICATION, st.VmState.UPDATING)


def _refresh_replicating(ctx: AppContext) -> int:
    """Follow initial replication to ``protected`` between full reconciles (one query on the state column, then one
    GET per such VM)."""
    refreshed = 0
    for status in st.statuses_in_states(ctx.store, _REPLICATING):
        if status.state not in (st.VmState.ENABLING, st.VmState.INITIAL_REPLICATION, st.VmState.UPDATING) or status.in_flight:
            continue
        if not status.item_name:
            continue
        try:
            item = _get_item(ctx, status.fabric, status.container, status.item_name)
        except HttpResponseError as exc:
            log.warning("could not refresh %s: %s", status.vm_name, azure_error_text(exc))
            continue
        if item is None:
            continue
        new = st.VmStatus.from_data(status.to_data())
        _observe_item(new, item)
        new.state = _state_of(item)
        if new.to_data() != status.to_data():
            st.save_status(ctx.store, new, note=f"{status.state} -> {new.state}" if new.state != status.state else None)
            refreshed += 1
    return refreshed
