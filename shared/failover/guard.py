"""Signals in, group decisions out: storing health signals, deciding, approvals, the audit trail.

The decision itself is pure (:mod:`shared.failover.decisions`); this module is its I/O: it keeps signals in
Table storage (keyed by signal id, so a redelivered alert is one signal), finds the groups a signal
concerns, decides for each, records every decision, approval and refusal in the group's audit trail,
and starts the failover workflow when a decision (or a person) says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from shared.arm.keys import arm_key, encode_key, normalize_arm_id
from shared.context import AppContext
from shared.failover.decisions import (
    DEFAULT_APPROVAL_MAX_AGE,
    Decision,
    DecisionKind,
    GroupView,
    Policy,
    approval_allowed,
    decide,
)
from shared.failover.engine import preview_failover, start_failback, start_failover
from shared.failover.groups import Group, groups_from_statuses
from shared.failover.refusals import NotFound, WorkflowRefused
from shared.health.signals import Signal, SignalKind, SignalSource
from shared.protection.tags import FailoverMode
from shared.state import vm_status as st
from shared.state.audit import audit
from shared.state.group_records import GroupState, all_groups, get_group, update_group
from shared.state.store import GROUPS, SIGNALS

log = logging.getLogger(__name__)

FLEET = "fleet"


def policy(ctx: AppContext) -> Policy:
    s = ctx.settings
    return Policy(
        quorum_fraction=s.quorum_fraction,
        debounce_seconds=s.debounce_seconds,
        max_failovers_per_hour=s.max_failovers_per_hour,
        dry_run=s.dry_run,
    )


def _vm_partition(vm_id: str) -> str:
    """The signals of one VM: ``vm:`` + its Table key (one partition whatever the id's spelling)."""
    return "vm:" + arm_key(vm_id)


def _signal_partition(signal: Signal) -> str:
    if signal.resource_id:
        return _vm_partition(signal.resource_id)
    return "region:" + (signal.region or "unknown")


# A sender's clock may run a little ahead of ours; beyond this a time in the future is not believed.
FUTURE_SKEW = timedelta(minutes=5)


def bounded(signal: Signal, now: datetime) -> Signal:
    """The signal as received now: a time in the future is not believed (counted from now instead). Pure.

    A forged or skewed time must neither keep an incident open for ever (dated 2099, no resolution could come
    after it) nor age an outage past the debounce at once; the decision counts from ``received_at``.
    """
    received = replace(signal, received_at=signal.received_at or now)
    if signal.observed_at <= now + FUTURE_SKEW:
        return received
    return replace(received, observed_at=now, detail=f"{signal.detail} (dated in the future: counted from receipt)"[:300])


def store_signal(ctx: AppContext, signal: Signal) -> bool:
    """Keep a signal; ``False`` when the same signal id was already stored (a redelivery keeps its first receipt)."""
    data = {
        "kind": signal.kind.value,
        "source": signal.source.value,
        "resource_id": signal.resource_id,
        "region": signal.region,
        "observed_at": signal.observed_at.isoformat(),
        "received_at": signal.seen_at.isoformat(),
        "origin": signal.origin,
        "signal_id": signal.signal_id,
        "detail": signal.detail,
    }
    return ctx.store.insert(SIGNALS, _signal_partition(signal), encode_key(signal.signal_id), data) is not None


def _signal_of(data: dict[str, Any]) -> Signal:
    observed = datetime.fromisoformat(data["observed_at"])
    return Signal(
        kind=SignalKind(data["kind"]),
        source=SignalSource(data["source"]),
        resource_id=data.get("resource_id"),
        region=data.get("region"),
        observed_at=observed,
        signal_id=data["signal_id"],
        detail=data.get("detail", ""),
        origin=data.get("origin", ""),
        received_at=datetime.fromisoformat(data["received_at"]) if data.get("received_at") else observed,
    )


def _load_signals(ctx: AppContext, group: Group, since: datetime) -> list[Signal]:
    partitions = [_vm_partition(vm_id) for vm_id in group.member_ids]
    partitions.append("region:" + group.source_region)
    signals: list[Signal] = []
    for partition in partitions:
        for record in ctx.store.query(SIGNALS, partition=partition):
            signal = _signal_of(record.data)
            if signal.seen_at >= since or signal.observed_at >= since:
                signals.append(signal)
    return signals


def purge_signals(ctx: AppContext) -> int:
    """Delete signals older than the decision window (reconcile timer), keeping the newest of each VM and region.

    Decisions look back one window; the automatic failback only needs each subject's latest state. Without a
    purge the table grows with every alert for ever.
    """
    cutoff = ctx.store.now() - timedelta(seconds=policy(ctx).flap_window_seconds)
    by_partition: dict[str, list[Any]] = {}
    for record in ctx.store.query(SIGNALS):
        by_partition.setdefault(record.partition, []).append(record)
    removed = 0
    for records in by_partition.values():
        newest = max(records, key=lambda r: (_signal_of(r.data).observed_at, r.row))
        for record in records:
            if record is not newest and _signal_of(record.data).seen_at < cutoff:
                removed += ctx.store.delete(SIGNALS, record.partition, record.row, etag=record.etag)
    return removed


def _view(ctx: AppContext, group: Group) -> GroupView:
    record = get_group(ctx.store, group.name)
    return GroupView(
        name=group.name,
        source_region=group.source_region,
        members=group.member_ids,
        mode=FailoverMode(group.failover_mode),
        state=str(record.state),
    )


def _recent_failovers(ctx: AppContext, now: datetime) -> list[datetime]:
    record = ctx.store.get(GROUPS, FLEET, "failovers")
    times = [datetime.fromisoformat(t) for t in (record.data.get("times", []) if record else [])]
    return [t for t in times if now - t < timedelta(hours=1)]


def _count_failover(ctx: AppContext, now: datetime) -> None:
    def mutate(data: dict[str, Any] | None) -> dict[str, Any]:
        times = [t for t in (data or {}).get("times", []) if now - datetime.fromisoformat(t) < timedelta(hours=24)]
        return {"times": [*times, now.isoformat()]}

    ctx.store.update(GROUPS, FLEET, "failovers", mutate)


def _decision_data(decision: Decision) -> dict[str, Any]:
    data = asdict(decision)
    data["kind"] = decision.kind.value
    data["decided_at"] = decision.decided_at.isoformat()
    data["evidence"] = list(decision.evidence)
    data["updated_at"] = data["decided_at"]
    data["evidence_updates"] = 0
    return data


def _still_pending(pending: dict[str, Any] | None, now: datetime) -> bool:
    """A pending decision stays until approved, rejected or too old to approve (then a new one may start)."""
    if not pending:
        return False
    return now - datetime.fromisoformat(pending["decided_at"]) <= DEFAULT_APPROVAL_MAX_AGE


def _with_evidence(pending: dict[str, Any], decision: Decision, now: datetime) -> dict[str, Any]:
    """The pending decision, same id, with the latest reasons and the evidence of a later signal added.

    One outage of one group is one decision: the operator approves the id they were shown, however many
    channels (VM alerts, Resource Health, Service Health) keep reporting the same outage meanwhile.
    """
    return {
        **pending,
        "reasons": list(decision.reasons),
        "unavailable": sorted(set(pending.get("unavailable", [])) | set(decision.unavailable)),
        "flapping": list(decision.flapping),
        "region_incident": bool(pending.get("region_incident")) or decision.region_incident,
        "evidence": sorted(set(pending.get("evidence", [])) | set(decision.evidence)),
        "updated_at": now.isoformat(),
        "evidence_updates": int(pending.get("evidence_updates", 0)) + 1,
    }


def groups_for(ctx: AppContext, signal: Signal) -> list[Group]:
    return _concerned(groups_from_statuses(st.all_statuses(ctx.store)).values(), signal)


def _concerned(groups: Iterable[Group], signal: Signal) -> list[Group]:
    if signal.resource_id:
        vm = normalize_arm_id(signal.resource_id)
        return [g for g in groups if vm in g.member_ids]
    return [g for g in groups if signal.region and g.source_region == signal.region]


def ingest(ctx: AppContext, signals: list[Signal]) -> list[dict[str, Any]]:
    """Store the signals about groups ppg-dr manages and re-decide for each group they concern.

    Signals about other VMs or regions are counted and dropped, never stored: anyone holding the alert key
    could otherwise fill the table with them. Returns one outcome per group.
    """
    now = ctx.store.now()
    groups = groups_from_statuses(st.all_statuses(ctx.store))
    touched: dict[str, Group] = {}
    ignored = 0
    for signal in (bounded(s, now) for s in signals):
        concerned = _concerned(groups.values(), signal)
        if not concerned:
            ignored += 1
            continue
        store_signal(ctx, signal)
        for group in concerned:
            touched[group.name.lower()] = group
    if ignored:
        log.info(
            "%d of %d signals concern no DR group ppg-dr manages: not stored",
            ignored,
            len(signals),
            extra={"step": "signals", "ignored_signals": ignored},
        )
    for group in touched.values():  # the pulse decides again while signals are this recent (ppg-dr's clock)
        update_group(ctx.store, group.name, last_signal_at=now.isoformat())
    return [evaluate(ctx, group) for group in touched.values()]


def reevaluate_recent(ctx: AppContext, statuses: Iterable[st.VmStatus] | None = None) -> list[dict[str, Any]]:
    """Decide again for groups with signals inside the window (pulse timer).

    An outage can reach quorum without any new signal: its VMs pass the debounce time while the
    alerts are quiet. Without this, a failover would wait for the next alert that may never come.
    ``statuses``: every stored status as the pulse read it (the table is read only without); the group records
    are read in one query, not one read per group.
    """
    now = ctx.store.now()
    window = timedelta(seconds=policy(ctx).flap_window_seconds)
    records = all_groups(ctx.store)
    recent = {
        key
        for key, record in records.items()
        if record.last_signal_at and now - datetime.fromisoformat(record.last_signal_at) < window
    }
    if not recent:
        return []  # the common case: no signal in the window, nothing to decide (and no status read)
    groups = _groups(ctx, [records[key].name for key in recent], statuses)
    return [evaluate(ctx, group) for key, group in groups.items() if key in recent]


def _groups(ctx: AppContext, names: list[str], statuses: Iterable[st.VmStatus] | None) -> dict[str, Group]:
    """These groups with their members: from ``statuses`` when given, else one query per group (never the whole table)."""
    if statuses is not None:
        return groups_from_statuses(statuses)
    found: dict[str, Group] = {}
    for name in names:
        found.update(groups_from_statuses(st.group_statuses(ctx.store, name)))
    return found


def evaluate(ctx: AppContext, group: Group) -> dict[str, Any]:
    """Decide for one group now and act on the decision (record, wait for approval, or fail over)."""
    now = ctx.store.now()
    pol = policy(ctx)
    signals = _load_signals(ctx, group, now - timedelta(seconds=pol.flap_window_seconds))
    decision = decide(_view(ctx, group), signals, _recent_failovers(ctx, now), pol, now)
    record = get_group(ctx.store, group.name)
    pending = record.pending_decision if _still_pending(record.pending_decision, now) else None
    outcome: dict[str, Any] = {"group": group.name, **_decision_data(decision)}
    if pending is not None and decision.kind == DecisionKind.NONE and record.state == GroupState.PROTECTED:
        # The outage it was about is over (resolved, recovered, below quorum): nobody should approve it now.
        why = "; ".join(decision.reasons)
        _decided(ctx, group.name, str(pending["decision_id"]), f"withdrawn: {why}", "ppg-dr")
        audit(ctx.store, group.name, "decision-withdrawn", f"pending decision {pending['decision_id']} withdrawn: {why}")
        pending = None
    if pending is not None and decision.kind in (DecisionKind.PENDING_APPROVAL, DecisionKind.FAILOVER):
        outcome = {"group": group.name, **pending, "kind": decision.kind.value}
    if record.last_decision == decision.decision_id:
        if decision.kind != DecisionKind.NONE:
            outcome["duplicate"] = True  # same evidence as before: already recorded and acted on
        elif list(decision.reasons) != record.last_decision_reasons:
            update_group(ctx.store, group.name, last_decision_reasons=list(decision.reasons))  # why, as of now
        return outcome
    update_group(
        ctx.store,
        group.name,
        last_decision=decision.decision_id,
        last_decision_kind=decision.kind.value,
        last_decision_reasons=list(decision.reasons),
    )
    if pending is not None and decision.kind == DecisionKind.PENDING_APPROVAL and not decision.dry_run:
        merged = _with_evidence(pending, decision, now)
        update_group(ctx.store, group.name, pending_decision=merged)
        audit(
            ctx.store,
            group.name,
            "decision-evidence",
            f"more evidence for pending decision {pending['decision_id']}: {'; '.join(decision.reasons)}",
            decision=pending["decision_id"],
            evidence=decision.decision_id,
        )
        return {"group": group.name, **merged}
    if pending is not None and decision.kind == DecisionKind.FAILOVER and not decision.dry_run:
        decision = replace(decision, decision_id=str(pending["decision_id"]))  # the decision the operator saw acts
        outcome["decision_id"] = decision.decision_id
    if decision.kind == DecisionKind.NONE:
        # A pending approval stays until approved, rejected or too old (approval_allowed).
        audit(ctx.store, group.name, "decision", "; ".join(decision.reasons), decision=decision.decision_id, kind="none")
        return outcome
    reasons = "; ".join(decision.reasons)
    if decision.dry_run:
        audit(ctx.store, group.name, "decision-dry-run", f"{decision.kind.value}: {reasons}", decision=decision.decision_id)
        return outcome
    if decision.kind == DecisionKind.REFUSED:
        audit(ctx.store, group.name, "decision-refused", reasons, decision=decision.decision_id)
    elif decision.kind == DecisionKind.PENDING_APPROVAL:
        if record.pending_decision:  # the previous one is too old to approve: it expires, this one replaces it
            _decided(ctx, group.name, str(record.pending_decision["decision_id"]), "expired", "ppg-dr")
        update_group(ctx.store, group.name, pending_decision=_decision_data(decision))
        audit(ctx.store, group.name, "decision-pending", reasons, decision=decision.decision_id)
        log.warning(
            "group %s: failover decision %s waits for approval: %s",
            group.name,
            decision.decision_id,
            reasons,
            extra={"group": group.name, "step": "decision"},
        )
    elif decision.kind == DecisionKind.FAILOVER:
        audit(ctx.store, group.name, "decision-failover", reasons, decision=decision.decision_id)
        try:
            start_failover(ctx, group.name, reason=reasons, decision_id=decision.decision_id)
            _count_failover(ctx, now)
            if pending is not None:
                _decided(ctx, group.name, decision.decision_id, "failed over automatically", "ppg-dr")
            outcome["workflow_started"] = True
        except WorkflowRefused as exc:
            audit(ctx.store, group.name, "failover-refused", str(exc), decision=decision.decision_id)
            outcome["refused"] = str(exc)
    return outcome


def pending_decisions(ctx: AppContext) -> list[dict[str, Any]]:
    return [record.pending_decision for record in all_groups(ctx.store).values() if record.pending_decision]


def _decision_from(data: dict[str, Any]) -> Decision:
    return Decision(
        kind=DecisionKind(data["kind"]),
        group=data["group"],
        reasons=tuple(data["reasons"]),
        unavailable=tuple(data["unavailable"]),
        flapping=tuple(data["flapping"]),
        region_incident=bool(data["region_incident"]),
        dry_run=bool(data["dry_run"]),
        decision_id=data["decision_id"],
        decided_at=datetime.fromisoformat(data["decided_at"]),
    )


# A decision id is 'dec-' + 32 hex; people copy a prefix, as with git commits. Shorter than this is a guess.
MIN_PREFIX = 8


def _find_pending(ctx: AppContext, decision_id: str) -> tuple[Group, Decision]:
    """The pending decision with this id, or the only one whose id starts with it (at least 8 characters).

    An id that is no longer pending (approved or rejected) is refused with what happened to it; an id
    that matches nothing is :class:`NotFound`.
    """
    wanted = decision_id.strip().lower()
    pending = pending_decisions(ctx)
    exact = [d for d in pending if str(d.get("decision_id", "")).lower() == wanted]
    matches = exact or (
        [d for d in pending if str(d.get("decision_id", "")).lower().startswith(wanted)] if len(wanted) >= MIN_PREFIX else []
    )
    if len(matches) > 1:
        raise WorkflowRefused(
            f"{decision_id!r} matches {len(matches)} pending decisions ({', '.join(d['decision_id'] for d in matches)}): "
            "give more of the id"
        )
    if not matches:
        for record in all_groups(ctx.store).values():
            decided = record.last_decided or {}
            if str(decided.get("decision_id", "")).lower() == wanted:
                raise WorkflowRefused(
                    f"decision {decided['decision_id']} is no longer pending: {decided.get('outcome')} by "
                    f"{decided.get('by')} at {str(decided.get('at', ''))[:19]}"
                )
        raise NotFound(f"unknown decision {decision_id!r}: `ppgdr decisions` lists the pending ones")
    data = matches[0]
    group = groups_from_statuses(st.all_statuses(ctx.store)).get(str(data["group"]).lower())
    if group is None:
        raise WorkflowRefused(f"group {data['group']} no longer has protected VMs")
    return group, _decision_from(data)


def _decided(ctx: AppContext, group: str, decision_id: str, outcome: str, by: str) -> None:
    """Clear the pending decision and remember what became of it (a late approve then says so, not 404)."""
    update_group(
        ctx.store,
        group,
        pending_decision=None,
        last_decided={"decision_id": decision_id, "outcome": outcome, "by": by, "at": ctx.store.now().isoformat()},
    )


def approve(ctx: AppContext, decision_id: str, *, by: str, repair: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """A person approves a pending failover decision: the group fails over (idempotent per decision)."""
    group, decision = _find_pending(ctx, decision_id)
    decision_id = decision.decision_id
    reason = approval_allowed(decision, _view(ctx, group), ctx.store.now())
    if reason:
        if not dry_run:
            audit(ctx.store, group.name, "approval-refused", reason, decision=decision_id, by=by)
        raise WorkflowRefused(reason)
    if dry_run:
        # Nothing is recorded as an approval: the decision stays pending, the preview says what would run.
        plan = preview_failover(ctx, group.name, repair=repair)
        audit(ctx.store, group.name, "dry-run", f"{by} tried an approval of {decision_id} as a dry run", decision=decision_id)
        return {"group": group.name, "decision_id": decision_id, "dry_run": True, "plan": plan}
    audit(ctx.store, group.name, "approved", f"approved by {by}", decision=decision_id, by=by)
    wf = start_failover(
        ctx, group.name, reason=f"approved by {by}: {'; '.join(decision.reasons)}", decision_id=decision_id, repair=repair
    )
    _count_failover(ctx, ctx.store.now())
    _decided(ctx, group.name, decision_id, "approved", by)
    return {"group": group.name, "decision_id": decision_id, "workflow": wf.id, "phase": wf.phase, "dry_run": False}


def reject(ctx: AppContext, decision_id: str, *, by: str, comment: str = "") -> dict[str, Any]:
    group, decision = _find_pending(ctx, decision_id)
    decision_id = decision.decision_id
    _decided(ctx, group.name, decision_id, "rejected", by)
    audit(ctx.store, group.name, "rejected", f"rejected by {by}{': ' + comment if comment else ''}", decision=decision_id, by=by)
    return {"group": group.name, "decision_id": decision_id, "rejected": True}


def healthy_since(signals: list[Signal], start: datetime) -> datetime | None:
    """When the source side became healthy, or None while a member or the region is still down. Pure.

    Healthy means: the newest signal of every VM is not "unavailable" and the newest region signal is
    not an open incident. The clock starts at the later of ``start`` (the group was reprotected) and
    the last recovery seen.
    """
    newest: dict[str, Signal] = {}
    for signal in sorted(signals, key=lambda s: s.observed_at):
        newest[signal.resource_id or f"region:{signal.region}"] = signal
    if any(s.kind in (SignalKind.VM_UNAVAILABLE, SignalKind.REGION_INCIDENT) for s in newest.values()):
        return None
    recoveries = [s.observed_at for s in newest.values()]
    return max([start, *recoveries])


def auto_failback(ctx: AppContext, statuses: Iterable[st.VmStatus] | None = None) -> list[str]:
    """Fail reprotected groups back once their source region has been healthy for the configured window.

    Off unless ``PPGDR_AUTO_FAILBACK_MINUTES`` is set: failing back is a second disruption, so by default
    a person decides when (``ppgdr failback GROUP``).
    """
    minutes = ctx.settings.auto_failback_minutes
    if minutes <= 0:
        return []
    now = ctx.store.now()
    started: list[str] = []
    records = all_groups(ctx.store)
    due = [r.name for r in records.values() if r.state == GroupState.REPROTECTED and r.reprotected_at]
    if not due:
        return []
    for key, group in _groups(ctx, due, statuses).items():
        record = records.get(key) or get_group(ctx.store, group.name)
        if record.state != GroupState.REPROTECTED or not record.reprotected_at:
            continue
        since = healthy_since(_load_signals(ctx, group, now - timedelta(days=7)), datetime.fromisoformat(record.reprotected_at))
        if since is None or now - since < timedelta(minutes=minutes):
            continue
        try:
            start_failback(ctx, group.name, reason=f"source region healthy for {minutes} minutes (PPGDR_AUTO_FAILBACK_MINUTES)")
            started.append(group.name)
        except WorkflowRefused as exc:
            audit(ctx.store, group.name, "failback-refused", str(exc))
    return started
