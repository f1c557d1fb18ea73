"""The failover decision engine: health signals + group + policy -> whether to fail the group over.

Failing a region over is the most expensive thing ppg-dr does, and the hardest to undo (commit,
reprotect, fail back). So the engine is guarded by design (``DESIGN.md`` section 5):

- **Quorum.** More than ``quorum_fraction`` of the group's VMs, and at least ``min_unavailable`` of them
  (never more than the group has), must be unavailable. A Service Health incident for the group's
  source region counts as quorum by itself: Microsoft has already confirmed the outage.
- **Debounce.** A VM counts only when it has been *continuously* unavailable for ``debounce_seconds``:
  a reboot or a short blip is not a disaster.
- **Flapping.** A VM that recovered more than ``max_flaps`` times within ``flap_window_seconds`` is not
  counted at all. One flapping VM must never fail over a region; the policy also insists on at least
  two unavailable VMs for any group of two or more.
- **Mode.** Per group: ``off`` refuses, ``approve`` (the default) asks a person, ``auto`` acts.
- **Blast radius.** At most ``max_failovers_per_hour`` *automatic* failovers across the fleet; beyond
  it an ``auto`` group waits for approval like an ``approve`` group.
- **Audit and dry run.** Every decision carries the reasons behind it and a deterministic id
  (same evidence -> same id, so re-deciding is idempotent); a dry-run decision is recorded, never acted on.

Pure: the caller supplies the signals, the recent failovers and the clock.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from shared.arm.keys import normalize_arm_id
from shared.health.signals import Signal, SignalKind, normalize_region
from shared.protection.tags import FailoverMode

PROTECTED = "protected"
DEFAULT_APPROVAL_MAX_AGE = timedelta(hours=4)


class DecisionKind(StrEnum):
    NONE = "none"
    PENDING_APPROVAL = "pending-approval"
    FAILOVER = "failover"
    REFUSED = "refused"


@dataclass(frozen=True)
class GroupView:
    """What the engine needs to know about a group.

    ``state`` is the group's workflow state; anything but ``protected`` means a failover (or another
    workflow) is already running or done, so no new failover starts.
    """

    name: str
    source_region: str
    members: tuple[str, ...]
    mode: FailoverMode
    state: str = PROTECTED


@dataclass(frozen=True)
class Policy:
    """The guard rails. Invalid combinations are refused at construction: a policy that can never
    reach quorum, or one that lets a single VM fail over a group, is a configuration error."""

    quorum_fraction: float = 0.5
    min_unavailable: int = 2
    debounce_seconds: int = 300
    flap_window_seconds: int = 1800
    max_flaps: int = 3
    max_failovers_per_hour: int = 1
    dry_run: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.quorum_fraction, int | float) and 0 <= self.quorum_fraction < 1):
            raise ValueError(f"quorum_fraction must be at least 0 and below 1, got {self.quorum_fraction!r}")
        if self.min_unavailable < 2:
            raise ValueError(
                f"min_unavailable must be at least 2 (one VM must never fail over a group), got {self.min_unavailable}"
            )
        if self.debounce_seconds < 0:
            raise ValueError(f"debounce_seconds must not be negative, got {self.debounce_seconds}")
        if self.flap_window_seconds <= self.debounce_seconds:
            raise ValueError(
                "flap_window_seconds must be longer than debounce_seconds (signals older than the window are "
                f"ignored, so no VM could stay unavailable long enough), got {self.flap_window_seconds} "
                f"and {self.debounce_seconds}"
            )
        if self.max_flaps < 0:
            raise ValueError(f"max_flaps must not be negative, got {self.max_flaps}")
        if self.max_failovers_per_hour < 0:
            raise ValueError(f"max_failovers_per_hour must not be negative, got {self.max_failovers_per_hour}")


@dataclass(frozen=True)
class Decision:
    """The outcome and everything that led to it, for the audit trail.

    ``unavailable`` lists the VMs counted towards quorum; ``flapping`` the VMs excluded for flapping.
    ``decision_id`` hashes the group and the ids of the signals that are the evidence (the current
    unavailable run of each counted VM and of the region incident), so the same evidence always gives
    the same id whatever order it arrived in.
    """

    kind: DecisionKind
    group: str
    reasons: tuple[str, ...]
    unavailable: tuple[str, ...]
    flapping: tuple[str, ...]
    region_incident: bool
    dry_run: bool
    decision_id: str
    decided_at: datetime
    evidence: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class _VmHealth:
    vm: str
    unavailable_since: datetime | None
    recoveries: int
    run: tuple[str, ...]


def quorum_needed(member_count: int, policy: Policy) -> int:
    """How many VMs must be unavailable: more than the fraction, and at least ``min_unavailable``
    (capped at the group size, so a one-VM group needs its one VM).

    Exact arithmetic on the fraction as written (``0.29`` is 29/100), so ``0.29 * 100`` is not
    28.999... and the boundary is where the operator put it.
    """
    if member_count <= 0:
        return 0
    by_fraction = math.floor(Fraction(str(policy.quorum_fraction)) * member_count) + 1
    return max(by_fraction, min(policy.min_unavailable, member_count))


def decide(
    group: GroupView,
    signals: Sequence[Signal],
    recent_failovers: Sequence[datetime],
    policy: Policy,
    now: datetime,
) -> Decision:
    """Decide whether ``group`` fails over now, and why (see the module docstring for the rules).

    ``signals`` may hold anything: signals for other groups, other regions, duplicates, stale ones;
    only the group's members and its source region within the flap window are considered.
    ``recent_failovers`` are the start times of failovers across the fleet (automatic and approved).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    members = sorted({normalize_arm_id(m) for m in group.members if normalize_arm_id(m)})
    region = normalize_region(group.source_region)
    window_start = now - timedelta(seconds=policy.flap_window_seconds)
    relevant = _relevant(signals, set(members), region, window_start)

    reasons: list[str] = []
    vm_health = [_vm_health(vm, relevant.get(vm, [])) for vm in members]
    flapping = tuple(h.vm for h in vm_health if h.recoveries > policy.max_flaps)
    counted: list[_VmHealth] = []
    for health in vm_health:
        name = _vm_name(health.vm)
        if health.vm in flapping:
            reasons.append(
                f"VM {name} is flapping ({health.recoveries} recoveries in {policy.flap_window_seconds}s, more than "
                f"{policy.max_flaps}): not counted"
            )
        elif health.unavailable_since is not None:
            down_for = (now - health.unavailable_since).total_seconds()
            if down_for >= policy.debounce_seconds:
                counted.append(health)
            else:
                reasons.append(
                    f"VM {name} unavailable for {max(0, int(down_for))}s, debounce needs {policy.debounce_seconds}s: "
                    "not counted yet"
                )

    incident_run = _incident_run(relevant.get(_region_key(region), [])) if region else ()
    region_incident = bool(incident_run)
    evidence = sorted({sid for h in counted for sid in h.run} | set(incident_run))
    unavailable = tuple(h.vm for h in counted)
    needed = quorum_needed(len(members), policy)

    def done(kind: DecisionKind, *more: str) -> Decision:
        all_reasons = [*reasons, *more]
        if policy.dry_run:
            all_reasons.append("dry run: decision recorded, not acted on")
        return Decision(
            kind=kind,
            group=group.name,
            reasons=tuple(all_reasons),
            unavailable=unavailable,
            flapping=flapping,
            region_incident=region_incident,
            dry_run=policy.dry_run,
            decision_id=decision_id(group.name, evidence),
            decided_at=now,
            evidence=tuple(evidence),
        )

    if not members:
        return done(DecisionKind.NONE, "group has no members")
    count_text = f"{len(unavailable)} of {len(members)} VMs unavailable"
    if region_incident:
        reasons.append(f"Service Health incident for source region {region}: counts as quorum ({count_text})")
    elif len(unavailable) >= needed:
        reasons.append(f"{count_text}, quorum needs {needed}: quorum reached")
    else:
        return done(DecisionKind.NONE, f"{count_text}, quorum needs {needed}")

    if group.mode == FailoverMode.OFF:
        return done(DecisionKind.REFUSED, "failover mode off: not failing over (set ppgdr-failover=approve or auto)")
    if group.state != PROTECTED:
        return done(DecisionKind.NONE, f"already {group.state}: no new failover")
    if group.mode == FailoverMode.APPROVE:
        return done(DecisionKind.PENDING_APPROVAL, "failover mode approve: waiting for approval")
    hour_ago = now - timedelta(hours=1)
    in_last_hour = sum(1 for t in recent_failovers if hour_ago < _aware(t) <= now)
    if in_last_hour >= policy.max_failovers_per_hour:
        return done(
            DecisionKind.PENDING_APPROVAL,
            f"automatic failover cap reached ({in_last_hour} in the last hour): waiting for approval",
        )
    return done(DecisionKind.FAILOVER, "failover mode auto: failing over")


def approval_allowed(
    decision: Decision, group: GroupView, now: datetime, *, max_age: timedelta = DEFAULT_APPROVAL_MAX_AGE
) -> str | None:
    """None when a person may approve ``decision`` now; otherwise why not (for the API's answer).

    An approval acts on evidence gathered earlier, so it is refused when the world moved on: the group
    is no longer protected (a failover already ran), its mode became ``off``, the decision is a dry
    run, or it is older than ``max_age`` (re-evaluate instead of acting on stale evidence). Approved
    failovers are not subject to the automatic cap: a person decided.
    """
    if decision.group.lower() != group.name.lower():
        return f"decision {decision.decision_id} is for group {decision.group!r}, not {group.name!r}"
    if decision.kind != DecisionKind.PENDING_APPROVAL:
        return f"decision {decision.decision_id} is {decision.kind}, not waiting for approval"
    if decision.dry_run:
        return "dry-run decisions are recorded, not acted on"
    if group.mode == FailoverMode.OFF:
        return f"group {group.name} now has failover mode off"
    if group.state != PROTECTED:
        return f"group {group.name} is {group.state}, no longer protected: nothing to fail over"
    if now - decision.decided_at > max_age:
        return (
            f"decision {decision.decision_id} is older than {int(max_age.total_seconds() // 60)} minutes: "
            "evidence may be stale, wait for a fresh decision"
        )
    return None


def decision_id(group: str, signal_ids: Iterable[str]) -> str:
    """Deterministic id of a decision: the group (case-insensitive) and the set of evidence ids."""
    canonical = json.dumps([group.strip().lower(), sorted(set(signal_ids))], separators=(",", ":"))
    return "dec-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


# --------------------------------------------------------------------------------------------------
# Helpers


def _region_key(region: str) -> str:
    # Region keys cannot collide with VM ids: those start with "/".
    return "region:" + region


def _relevant(
    signals: Sequence[Signal], members: set[str], region: str | None, window_start: datetime
) -> dict[str, list[Signal]]:
    """Signals of the group's members and source region seen inside the window, de-duplicated by id, per subject."""
    seen: set[str] = set()
    by_subject: dict[str, list[Signal]] = {}
    for signal in signals:
        if signal.seen_at < window_start or signal.signal_id in seen:
            continue
        if signal.kind.is_vm:
            key = normalize_arm_id(signal.resource_id) if signal.resource_id else ""
            if key not in members:
                continue
        else:
            signal_region = normalize_region(signal.region) if signal.region else None
            if region is None or signal_region != region:
                continue
            key = _region_key(region)
        seen.add(signal.signal_id)
        by_subject.setdefault(key, []).append(signal)
    return by_subject


def _ordered(signals: list[Signal], clearing: SignalKind) -> list[Signal]:
    # Time order; on a tie the clearing signal sorts last, so a tie never makes a VM look unavailable.
    return sorted(signals, key=lambda s: (s.observed_at, s.kind == clearing, s.signal_id))


def _unresolved(signals: list[Signal], clearing: SignalKind) -> list[Signal]:
    """The signals without the opening ones a clearing signal of the same origin resolved, whatever their times.

    A Resolved alert clears its own Fired (same alert id), a resolved Service Health incident its incident
    (same tracking id), even when a forged or skewed time put the opening one after the resolution.
    """
    resolved = {s.origin for s in signals if s.kind == clearing and s.origin}
    return [s for s in signals if s.kind == clearing or not s.origin or s.origin not in resolved]


def run_start(run: list[Signal]) -> datetime:
    """When an unavailable run started, as far as ppg-dr can tell.

    A sender's time is a claim: one alert backdated half an hour must not pass the debounce at once. The run
    counts from when ppg-dr first saw it, unless two channels (e.g. a metric alert and Resource Health)
    corroborate an earlier start: then from the latest of their claimed starts (both agree it was down then).
    """
    seen = min(s.seen_at for s in run)
    first_claim: dict[str, datetime] = {}
    for signal in run:
        claimed = min(signal.observed_at, signal.seen_at)
        first_claim[signal.source] = min(first_claim.get(signal.source, claimed), claimed)
    if len(first_claim) < 2:
        return seen
    return min(seen, max(first_claim.values()))


def _vm_health(vm: str, signals: list[Signal]) -> _VmHealth:
    """Latest state, when the current unavailable run started, and how often the VM recovered."""
    run: list[Signal] = []
    recoveries = 0
    for signal in _ordered(_unresolved(signals, SignalKind.VM_AVAILABLE), SignalKind.VM_AVAILABLE):
        if signal.kind == SignalKind.VM_UNAVAILABLE:
            run.append(signal)
        else:
            if run:
                recoveries += 1
            run = []
    since = run_start(run) if run else None
    return _VmHealth(vm, since, recoveries, tuple(s.signal_id for s in run))


def _incident_run(signals: list[Signal]) -> tuple[str, ...]:
    """Ids of the region's open incident signals (since the last resolution); empty when none is open."""
    run: list[str] = []
    for signal in _ordered(_unresolved(signals, SignalKind.REGION_RESOLVED), SignalKind.REGION_RESOLVED):
        if signal.kind == SignalKind.REGION_INCIDENT:
            run.append(signal.signal_id)
        else:
            run = []
    return tuple(run)


def _aware(moment: datetime) -> datetime:
    """A stored time without an offset is UTC (comparing naive with aware times would raise)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _vm_name(vm: str) -> str:
    return vm.rsplit("/", 1)[-1]
