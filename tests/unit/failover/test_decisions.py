"""The failover decision engine, table-driven: quorum, debounce, flapping, region incidents, modes, cap, dry run."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.failover.decisions import (
    Decision,
    DecisionKind,
    GroupView,
    Policy,
    approval_allowed,
    decide,
    decision_id,
    quorum_needed,
)
from shared.health.signals import Signal, SignalKind, SignalSource
from shared.protection.tags import FailoverMode

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SUB = "6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10"
REGION = "westeurope"


def vm(i: int, group: str = "sap") -> str:
    return f"/subscriptions/{SUB}/resourcegroups/{group}-prod/providers/microsoft.compute/virtualmachines/{group}-vm-{i}"


def members(n: int) -> tuple[str, ...]:
    return tuple(vm(i) for i in range(n))


def group(n: int = 5, mode: FailoverMode = FailoverMode.APPROVE, state: str = "protected", region: str = REGION) -> GroupView:
    return GroupView(name="sap", source_region=region, members=members(n), mode=mode, state=state)


_counter = iter(range(10**9))


def down(i: int, ago: float, sid: str | None = None) -> Signal:
    """VM ``i`` reported unavailable ``ago`` seconds before NOW."""
    return _vm_signal(SignalKind.VM_UNAVAILABLE, vm(i), ago, sid)


def up(i: int, ago: float, sid: str | None = None) -> Signal:
    return _vm_signal(SignalKind.VM_AVAILABLE, vm(i), ago, sid)


def _vm_signal(kind: SignalKind, resource: str, ago: float, sid: str | None) -> Signal:
    return Signal(
        kind=kind,
        source=SignalSource.RESOURCE_HEALTH_EVENT,
        resource_id=resource,
        region=None,
        observed_at=NOW - timedelta(seconds=ago),
        signal_id=sid or f"sig-{next(_counter)}",
        detail="test",
    )


def incident(region: str, ago: float, resolved: bool = False, sid: str | None = None) -> Signal:
    return Signal(
        kind=SignalKind.REGION_RESOLVED if resolved else SignalKind.REGION_INCIDENT,
        source=SignalSource.SERVICE_HEALTH_ALERT,
        resource_id=None,
        region=region,
        observed_at=NOW - timedelta(seconds=ago),
        signal_id=sid or f"sig-{next(_counter)}",
        detail="test",
    )


def flaps(i: int, recoveries: int, start: float = 1700) -> list[Signal]:
    """``recoveries`` down->up cycles of VM ``i``, then down again (so its latest state is unavailable)."""
    signals: list[Signal] = []
    t = start
    for _ in range(recoveries):
        signals += [down(i, t), up(i, t - 60)]
        t -= 120
    signals.append(down(i, t))
    return signals


@dataclass
class Case:
    name: str
    signals: list[Signal]
    expected: DecisionKind
    reason: str
    group: GroupView = field(default_factory=group)
    policy: Policy = field(default_factory=Policy)
    recent: list[datetime] = field(default_factory=list)
    unavailable: int | None = None
    region_incident: bool = False
    flapping: int = 0


CASES = [
    Case("no signals", [], DecisionKind.NONE, "0 of 5 VMs unavailable, quorum needs 3"),
    Case(
        "below quorum", [down(0, 600), down(1, 600)], DecisionKind.NONE, "2 of 5 VMs unavailable, quorum needs 3", unavailable=2
    ),
    Case(
        "at quorum",
        [down(0, 600), down(1, 600), down(2, 600)],
        DecisionKind.PENDING_APPROVAL,
        "3 of 5 VMs unavailable",
        unavailable=3,
    ),
    Case("all down", [down(i, 600) for i in range(5)], DecisionKind.PENDING_APPROVAL, "quorum reached", unavailable=5),
    Case(
        "half of an even group is not more than half",
        [down(0, 600), down(1, 600)],
        DecisionKind.NONE,
        "2 of 4 VMs unavailable, quorum needs 3",
        group=group(4),
    ),
    Case("more than half of an even group", [down(i, 600) for i in range(3)], DecisionKind.PENDING_APPROVAL, "", group=group(4)),
    Case(
        "min_unavailable when the fraction allows fewer",
        [down(0, 600), down(1, 600)],
        DecisionKind.PENDING_APPROVAL,
        "2 of 10 VMs unavailable, quorum needs 2",
        group=group(10),
        policy=Policy(quorum_fraction=0.1),
    ),
    Case(
        "min_unavailable blocks one of ten",
        [down(0, 600)],
        DecisionKind.NONE,
        "1 of 10 VMs unavailable, quorum needs 2",
        group=group(10),
        policy=Policy(quorum_fraction=0.0),
    ),
    Case(
        "debounce not yet elapsed",
        [down(0, 600), down(1, 600), down(2, 299)],
        DecisionKind.NONE,
        "unavailable for 299s, debounce needs 300s",
        unavailable=2,
    ),
    Case(
        "debounce exactly elapsed", [down(0, 600), down(1, 600), down(2, 300)], DecisionKind.PENDING_APPROVAL, "", unavailable=3
    ),
    Case(
        "debounce zero",
        [down(0, 1), down(1, 1), down(2, 0)],
        DecisionKind.PENDING_APPROVAL,
        "",
        policy=Policy(debounce_seconds=0),
    ),
    Case(
        "recovered VM",
        [down(0, 600), down(1, 600), down(2, 600), up(2, 100)],
        DecisionKind.NONE,
        "2 of 5 VMs unavailable, quorum needs 3",
        unavailable=2,
    ),
    Case(
        "down again after recovering restarts the debounce",
        [down(0, 600), down(1, 600), down(2, 900), up(2, 800), down(2, 100)],
        DecisionKind.NONE,
        "unavailable for 100s",
        unavailable=2,
    ),
    Case(
        "repeated unavailable signals keep the first time",
        [down(0, 600), down(1, 600), down(2, 900), down(2, 10)],
        DecisionKind.PENDING_APPROVAL,
        "",
        unavailable=3,
    ),
    Case(
        "flapping VM excluded",
        [down(0, 600), down(1, 600), *flaps(2, 4)],
        DecisionKind.NONE,
        "is flapping (4 recoveries in 1800s, more than 3): not counted",
        unavailable=2,
        flapping=1,
    ),
    Case(
        "max_flaps recoveries is not flapping",
        [down(0, 600), down(1, 600), *flaps(2, 3)],
        DecisionKind.PENDING_APPROVAL,
        "",
        unavailable=3,
    ),
    Case(
        "flapping VM listed even when up",
        [*flaps(2, 4), up(2, 1)],
        DecisionKind.NONE,
        "is flapping",
        unavailable=0,
        flapping=1,
    ),
    Case("single-VM group needs its one VM", [down(0, 600)], DecisionKind.PENDING_APPROVAL, "1 of 1 VMs", group=group(1)),
    Case("two-VM group needs both", [down(0, 600)], DecisionKind.NONE, "1 of 2 VMs unavailable, quorum needs 2", group=group(2)),
    Case(
        "region incident is quorum by itself",
        [incident(REGION, 10)],
        DecisionKind.PENDING_APPROVAL,
        "Service Health incident for source region westeurope",
        unavailable=0,
        region_incident=True,
    ),
    Case(
        "region incident matched on display name",
        [incident(REGION, 10)],
        DecisionKind.PENDING_APPROVAL,
        "",
        group=group(region="West Europe"),
        region_incident=True,
    ),
    Case("incident for another region ignored", [incident("northeurope", 10)], DecisionKind.NONE, "0 of 5"),
    Case("resolved incident", [incident(REGION, 600), incident(REGION, 60, resolved=True)], DecisionKind.NONE, "0 of 5"),
    Case(
        "incident again after a resolution",
        [incident(REGION, 900), incident(REGION, 600, resolved=True), incident(REGION, 60)],
        DecisionKind.PENDING_APPROVAL,
        "",
        region_incident=True,
    ),
    Case(
        "resolution for another region does not clear",
        [incident(REGION, 600), incident("northeurope", 60, resolved=True)],
        DecisionKind.PENDING_APPROVAL,
        "",
        region_incident=True,
    ),
    Case("old incident ignored", [incident(REGION, 1801)], DecisionKind.NONE, "0 of 5"),
    Case(
        "mode off refuses",
        [down(i, 600) for i in range(3)],
        DecisionKind.REFUSED,
        "failover mode off",
        group=group(mode=FailoverMode.OFF),
    ),
    Case(
        "mode off refuses a region incident",
        [incident(REGION, 10)],
        DecisionKind.REFUSED,
        "failover mode off",
        group=group(mode=FailoverMode.OFF),
        region_incident=True,
    ),
    Case("mode off below quorum is simply none", [down(0, 600)], DecisionKind.NONE, "1 of 5", group=group(mode=FailoverMode.OFF)),
    Case("mode approve waits", [down(i, 600) for i in range(3)], DecisionKind.PENDING_APPROVAL, "waiting for approval"),
    Case(
        "mode auto fails over",
        [down(i, 600) for i in range(3)],
        DecisionKind.FAILOVER,
        "failover mode auto",
        group=group(mode=FailoverMode.AUTO),
    ),
    Case(
        "cap reached",
        [down(i, 600) for i in range(3)],
        DecisionKind.PENDING_APPROVAL,
        "automatic failover cap reached (1 in the last hour): waiting for approval",
        group=group(mode=FailoverMode.AUTO),
        recent=[NOW - timedelta(minutes=30)],
    ),
    Case(
        "cap counts only the last hour",
        [down(i, 600) for i in range(3)],
        DecisionKind.FAILOVER,
        "",
        group=group(mode=FailoverMode.AUTO),
        recent=[NOW - timedelta(minutes=61), NOW - timedelta(hours=5)],
    ),
    Case(
        "cap of two with one recent",
        [down(i, 600) for i in range(3)],
        DecisionKind.FAILOVER,
        "",
        group=group(mode=FailoverMode.AUTO),
        policy=Policy(max_failovers_per_hour=2),
        recent=[NOW - timedelta(minutes=5)],
    ),
    Case(
        "cap of zero always asks",
        [down(i, 600) for i in range(3)],
        DecisionKind.PENDING_APPROVAL,
        "automatic failover cap reached (0 in the last hour)",
        group=group(mode=FailoverMode.AUTO),
        policy=Policy(max_failovers_per_hour=0),
    ),
    Case(
        "cap does not apply to approve mode",
        [down(i, 600) for i in range(3)],
        DecisionKind.PENDING_APPROVAL,
        "failover mode approve",
        recent=[NOW - timedelta(minutes=5)] * 3,
    ),
    Case(
        "already failing over",
        [down(i, 600) for i in range(3)],
        DecisionKind.NONE,
        "already failing-over",
        group=group(mode=FailoverMode.AUTO, state="failing-over"),
    ),
    Case(
        "already failed over",
        [incident(REGION, 10)],
        DecisionKind.NONE,
        "already failed-over",
        group=group(state="failed-over"),
        region_incident=True,
    ),
    Case(
        "dry run auto",
        [down(i, 600) for i in range(3)],
        DecisionKind.FAILOVER,
        "dry run: decision recorded, not acted on",
        group=group(mode=FailoverMode.AUTO),
        policy=Policy(dry_run=True),
    ),
    Case(
        "non-member signals ignored",
        [
            *(down(i, 600) for i in range(3)),
            _vm_signal(SignalKind.VM_UNAVAILABLE, vm(0, "other"), 600, None),
            _vm_signal(SignalKind.VM_UNAVAILABLE, vm(1, "other"), 600, None),
        ],
        DecisionKind.PENDING_APPROVAL,
        "3 of 5",
        unavailable=3,
    ),
    Case(
        "only non-member signals",
        [_vm_signal(SignalKind.VM_UNAVAILABLE, vm(i, "other"), 600, None) for i in range(5)],
        DecisionKind.NONE,
        "0 of 5",
    ),
    Case("old signals ignored", [down(i, 1801) for i in range(5)], DecisionKind.NONE, "0 of 5 VMs unavailable"),
    Case(
        "old recovery ignored, so the VM counts from its first signal in the window",
        [up(0, 3000), down(0, 1000), down(1, 600), down(2, 600)],
        DecisionKind.PENDING_APPROVAL,
        "",
        unavailable=3,
    ),
    Case(
        "resource ids compared case-insensitively",
        [
            _vm_signal(SignalKind.VM_UNAVAILABLE, vm(i).upper().replace("/SUBSCRIPTIONS/", "/Subscriptions/"), 600, None)
            for i in range(3)
        ],
        DecisionKind.PENDING_APPROVAL,
        "3 of 5",
    ),
    Case(
        "a duplicate delivery counts once",
        [down(0, 600, "dup"), down(0, 600, "dup"), down(1, 600)],
        DecisionKind.NONE,
        "2 of 5",
    ),
    Case(
        "unavailable and available at the same instant: available wins",
        [down(0, 600), down(1, 600), down(2, 600), up(2, 600)],
        DecisionKind.NONE,
        "2 of 5",
    ),
    Case("empty group", [incident(REGION, 10)], DecisionKind.NONE, "group has no members", group=group(0), region_incident=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    decision = decide(case.group, case.signals, case.recent, case.policy, NOW)
    assert decision.kind == case.expected, decision.reasons
    assert any(case.reason in r for r in decision.reasons), decision.reasons
    if case.unavailable is not None:
        assert len(decision.unavailable) == case.unavailable
    assert decision.region_incident == case.region_incident
    assert len(decision.flapping) == case.flapping
    assert decision.dry_run == case.policy.dry_run
    assert decision.group == case.group.name and decision.decided_at == NOW


def test_case_names_are_unique() -> None:
    assert len({c.name for c in CASES}) == len(CASES)


def test_unavailable_and_flapping_name_the_vms() -> None:
    decision = decide(group(), [down(0, 600), down(1, 600), *flaps(2, 5)], [], Policy(), NOW)
    assert decision.unavailable == (vm(0), vm(1))
    assert decision.flapping == (vm(2),)


def test_reasons_explain_every_vm_not_counted() -> None:
    decision = decide(group(), [down(0, 600), down(1, 100), *flaps(2, 5)], [], Policy(), NOW)
    text = " | ".join(decision.reasons)
    assert "sap-vm-1 unavailable for 100s" in text and "sap-vm-2 is flapping" in text
    assert decision.reasons[-1] == "1 of 5 VMs unavailable, quorum needs 3"


def test_dry_run_is_carried_whatever_the_outcome() -> None:
    for signals in ([], [down(i, 600) for i in range(3)]):
        decision = decide(group(mode=FailoverMode.AUTO), signals, [], Policy(dry_run=True), NOW)
        assert decision.dry_run and decision.reasons[-1].startswith("dry run")


def test_naive_failover_times_are_taken_as_utc() -> None:
    naive = (NOW - timedelta(minutes=10)).replace(tzinfo=None)
    decision = decide(group(mode=FailoverMode.AUTO), [down(i, 600) for i in range(3)], [naive], Policy(), NOW)
    assert decision.kind == DecisionKind.PENDING_APPROVAL


def test_future_failovers_do_not_count() -> None:
    decision = decide(group(mode=FailoverMode.AUTO), [down(i, 600) for i in range(3)], [NOW + timedelta(hours=1)], Policy(), NOW)
    assert decision.kind == DecisionKind.FAILOVER


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(group(), [], [], Policy(), NOW.replace(tzinfo=None))


def test_signal_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Signal(SignalKind.VM_UNAVAILABLE, SignalSource.METRIC_ALERT, vm(0), None, datetime(2025, 1, 1), "x")


# --------------------------------------------------------------------------------------------------
# Quorum arithmetic and policy validation


@pytest.mark.parametrize(
    ("size", "fraction", "minimum", "needed"),
    [
        (0, 0.5, 2, 0),
        (1, 0.5, 2, 1),
        (2, 0.5, 2, 2),
        (3, 0.5, 2, 2),
        (4, 0.5, 2, 3),
        (5, 0.5, 2, 3),
        (6, 0.5, 2, 4),
        (10, 0.0, 2, 2),
        (10, 0.0, 4, 4),
        (3, 0.0, 5, 3),
        (10, 0.29, 2, 3),
        (100, 0.29, 2, 30),
        (100, 0.7, 2, 71),
        (30, 0.1, 2, 4),
        (16, 0.99, 2, 16),
    ],
)
def test_quorum_needed(size: int, fraction: float, minimum: int, needed: int) -> None:
    assert quorum_needed(size, Policy(quorum_fraction=fraction, min_unavailable=minimum)) == needed


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quorum_fraction": 1.0},
        {"quorum_fraction": -0.1},
        {"quorum_fraction": float("nan")},
        {"min_unavailable": 1},
        {"min_unavailable": 0},
        {"debounce_seconds": -1},
        {"debounce_seconds": 1800},
        {"flap_window_seconds": 100},
        {"max_flaps": -1},
        {"max_failovers_per_hour": -1},
    ],
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Policy(**kwargs)


# --------------------------------------------------------------------------------------------------
# Decision ids


def _evidence() -> list[Signal]:
    return [down(0, 600, "a"), down(1, 600, "b"), down(2, 600, "c"), up(3, 600, "d"), incident("northeurope", 10, sid="e")]


def test_same_evidence_same_id_in_any_order() -> None:
    signals = _evidence()
    first = decide(group(), signals, [], Policy(), NOW)
    rng = random.Random(3)
    for _ in range(20):
        shuffled = signals[:]
        rng.shuffle(shuffled)
        again = decide(group(), shuffled + shuffled[:2], [], Policy(), NOW + timedelta(seconds=rng.randint(0, 60)))
        assert again.decision_id == first.decision_id
    assert first.decision_id == decision_id("sap", ["a", "b", "c"])
    assert first.decision_id.startswith("dec-") and len(first.decision_id) == 36


def test_irrelevant_signals_do_not_change_the_id() -> None:
    base = decide(group(), _evidence(), [], Policy(), NOW)
    noisy = [*_evidence(), _vm_signal(SignalKind.VM_UNAVAILABLE, vm(0, "other"), 600, "z"), incident("eastus", 5, sid="y")]
    assert decide(group(), noisy, [], Policy(), NOW).decision_id == base.decision_id


def test_new_evidence_changes_the_id() -> None:
    base = decide(group(), _evidence(), [], Policy(), NOW)
    more = decide(group(), [*_evidence(), down(4, 600, "f")], [], Policy(), NOW)
    assert more.decision_id != base.decision_id
    other_group = decide(replace(group(), name="hana"), _evidence(), [], Policy(), NOW)
    assert other_group.decision_id != base.decision_id
    assert decision_id("SAP ", ["b", "a"]) == decision_id("sap", ["a", "b", "a"])


def test_region_incident_evidence_is_in_the_id() -> None:
    first = decide(group(), [incident(REGION, 60, sid="inc-1")], [], Policy(), NOW)
    assert first.decision_id == decision_id("sap", ["inc-1"])


# --------------------------------------------------------------------------------------------------
# Approvals


def _pending(**policy: bool) -> Decision:
    decision = decide(group(), [down(i, 600) for i in range(3)], [], Policy(**policy), NOW)
    assert decision.kind == DecisionKind.PENDING_APPROVAL
    return decision


def test_approval_allowed() -> None:
    assert approval_allowed(_pending(), group(), NOW + timedelta(minutes=10)) is None
    # An approval is a person's decision: the automatic cap does not apply to it.
    assert approval_allowed(_pending(), group(mode=FailoverMode.AUTO), NOW) is None


@pytest.mark.parametrize(
    ("decision", "view", "at", "reason"),
    [
        (_pending(), group(state="failing-over"), NOW, "is failing-over, no longer protected"),
        (_pending(), group(state="failed-over"), NOW, "no longer protected"),
        (_pending(), group(mode=FailoverMode.OFF), NOW, "failover mode off"),
        (_pending(dry_run=True), group(), NOW, "dry-run"),
        (_pending(), group(), NOW + timedelta(hours=5), "older than 240 minutes"),
        (_pending(), replace(group(), name="hana"), NOW, "is for group 'sap'"),
        (decide(group(), [], [], Policy(), NOW), group(), NOW, "is none, not waiting for approval"),
    ],
)
def test_approval_refused(decision: Decision, view: GroupView, at: datetime, reason: str) -> None:
    refused = approval_allowed(decision, view, at)
    assert refused is not None and reason in refused


# --------------------------------------------------------------------------------------------------
# Property: one VM alone never fails a group over


def test_one_vms_signals_never_fail_over_a_group_of_three_or_more() -> None:
    rng = random.Random(1905)
    for trial in range(1500):
        size = rng.randint(3, 16)
        debounce = rng.randint(0, 900)
        policy = Policy(
            quorum_fraction=rng.choice([0.0, 0.1, 0.25, 0.5, 0.75, 0.99]),
            min_unavailable=rng.randint(2, 6),
            debounce_seconds=debounce,
            flap_window_seconds=debounce + rng.randint(1, 3600),
            max_flaps=rng.randint(0, 10),
            max_failovers_per_hour=rng.randint(0, 3),
        )
        view = group(size, mode=rng.choice(list(FailoverMode)))
        target = rng.randrange(size)
        signals = []
        for _ in range(rng.randint(0, 40)):
            kind = rng.choice([SignalKind.VM_UNAVAILABLE, SignalKind.VM_UNAVAILABLE, SignalKind.VM_AVAILABLE])
            ago = rng.uniform(-120, 5000)
            sid = rng.choice([f"s{rng.randint(0, 10)}", f"t{trial}-{len(signals)}"])
            signals.append(_vm_signal(kind, vm(target), ago, sid))
        decision = decide(view, signals, [], policy, NOW)
        assert decision.kind == DecisionKind.NONE, (trial, decision.reasons)
        assert len(decision.unavailable) <= 1


def test_healthy_since_needs_every_member_and_the_region_recovered() -> None:
    from datetime import UTC, datetime, timedelta

    from shared.failover.guard import healthy_since
    from shared.health.signals import Signal, SignalKind, SignalSource

    start = datetime(2026, 1, 1, tzinfo=UTC)

    def sig(kind: SignalKind, vm: str | None, minutes: int, region: str | None = None) -> Signal:
        when = start + timedelta(minutes=minutes)
        return Signal(kind, SignalSource.RESOURCE_HEALTH_EVENT, vm, region, when, f"{vm}{kind}{minutes}")

    assert healthy_since([], start) == start
    down = [sig(SignalKind.VM_UNAVAILABLE, "/vm/a", 5)]
    assert healthy_since(down, start) is None
    back = [*down, sig(SignalKind.VM_AVAILABLE, "/vm/a", 20)]
    assert healthy_since(back, start) == start + timedelta(minutes=20)
    incident = [*back, sig(SignalKind.REGION_INCIDENT, None, 25, "westeurope")]
    assert healthy_since(incident, start) is None
    resolved = [*incident, sig(SignalKind.REGION_RESOLVED, None, 40, "westeurope")]
    assert healthy_since(resolved, start) == start + timedelta(minutes=40)
