"""One outage, one decision; one decision, one workflow (fast profile, the guard over an in-memory Table service).

The real guard (``shared/failover/guard.py``: ``ingest``, ``reevaluate_recent``, ``approve``, ``reject``) and the
real ``start_failover`` run over a ``StateStore`` on ``FakeTableService``, with fake Site Recovery and Compute
gateways, as ``tests/unit/failover/conftest.py`` builds them. Three groups in two regions receive random health
signals from every source (metric alerts, Resource Health alerts and events, Service Health incidents and their
resolutions), several per alert, redelivered and out of order; the clock moves; operators approve (sometimes
as a dry run), reject, and use ids that are stale, unknown or prefixes; tags change a group's failover mode; a
member drops out of ``protected``; a workflow ends (the group failed back and is protected again).

Invariants (``docs/invariants.md``), checked after every step from the store:
- at most one pending decision per group;
- a pending decision keeps its id (and its evidence only grows) until it is approved, rejected or expires;
- a decision starts at most one workflow, and an approval that succeeds starts exactly one (a second is 409);
- no group has two workflows in flight;
- an automatic failover starts only under the hourly cap; a dry-run deployment starts nothing and leaves no
  pending approval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from shared.arm.names import container_name, fabric_name
from shared.context import AppContext
from shared.failover.decisions import DEFAULT_APPROVAL_MAX_AGE
from shared.failover.guard import approve, ingest, pending_decisions, reevaluate_recent, reject
from shared.failover.refusals import NotFound, WorkflowRefused
from shared.failover.workflow_state import DONE, load_workflow, save_workflow
from shared.health.signals import Signal, SignalKind, SignalSource
from shared.platform.clients import AzureClients
from shared.settings import Settings
from shared.state import vm_status as vs
from shared.state.audit import audit_trail
from shared.state.group_records import GroupState, get_group, update_group
from shared.state.store import StateStore
from tests.fakes.azure import VAULT, FakeCompute, FakeSiteRecovery
from tests.fakes.tables import FakeTableService
from tests.property import figures
from tests.property.profiles import TIMEOUT, budget

NAME = "decision-guard"
SUB = VAULT.subscription
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GROUPS = {
    "sap-ppg": ("westeurope", ("sap-app-1", "sap-app-2", "sap-db-1")),
    "trade-ppg": ("westeurope", ("trade-engine-1", "trade-cache-1")),
    "us-web": ("eastus", ("us-web-1",)),
}
VMS = {vm: group for group, (_, members) in GROUPS.items() for vm in members}
REGIONS = ("westeurope", "eastus")
VM_SOURCES = (SignalSource.METRIC_ALERT, SignalSource.RESOURCE_HEALTH_ALERT, SignalSource.RESOURCE_HEALTH_EVENT)
AGES = st.sampled_from((0, 30, 120, 299, 300, 301, 600, 1500, 1799, 2400))
STEPS = st.sampled_from((30, 60, 240, 300, 600, 1800, 3600, 4 * 3600, 4 * 3600 + 60))


def vm_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourcegroups/{VMS[name]}-rg/providers/microsoft.compute/virtualmachines/{name}"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Model:
    shown: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # the pending decision last seen, per group
    workflows: dict[str, str] = field(default_factory=dict)  # the workflow last seen, per group
    active: dict[str, bool] = field(default_factory=dict)  # whether it is still in flight (no ``workflow_ends`` yet)
    decisions_started: dict[str, str] = field(default_factory=dict)  # decision id -> the workflow it started
    starts: list[tuple[datetime, bool]] = field(default_factory=list)  # (when, automatic)
    approved: list[tuple[str, str]] = field(default_factory=list)  # (decision id, workflow id the approval answered)


class DecisionGuardMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()
        self.model = Model()
        self.batches: list[list[Signal]] = []
        self.seen_ids: list[str] = []
        self.serial = 0
        self.acting = "init"
        figures.sequence(NAME)

    @initialize(
        cap=st.sampled_from((0, 1, 2)),
        debounce=st.sampled_from((0, 300)),
        dry_run=st.sampled_from((False, False, False, True)),
        modes=st.fixed_dictionaries({g: st.sampled_from(("approve", "auto", "off")) for g in GROUPS}),
    )
    def build(self, cap: int, debounce: int, dry_run: bool, modes: dict[str, str]) -> None:
        self.clock = Clock()
        self.settings = Settings(
            region_pairs={"westeurope": "northeurope", "eastus": "westus"},
            vault_id=VAULT.id,
            max_failovers_per_hour=cap,
            debounce_seconds=debounce,
            dry_run=dry_run,
        )
        store = StateStore(FakeTableService(), clock=self.clock)
        self.ctx = AppContext(self.settings, store, AzureClients(self.settings), "holder-1", FakeSiteRecovery(), FakeCompute())
        for group, (region, members) in GROUPS.items():
            for name in members:
                vs.save_status(
                    store,
                    vs.VmStatus(
                        vm_id=vm_id(name),
                        vm_name=name,
                        subscription=SUB,
                        resource_group=f"{group}-rg",
                        location=region,
                        size="Standard_E16s_v5",
                        group=group,
                        state=vs.VmState.PROTECTED,
                        item_name=f"{name}-item",
                        fabric=fabric_name(region),
                        container=container_name(region),
                        failover_mode=modes[group],
                    ),
                )

    # ------------------------------------------------------------------------------------------- signals

    def _signal(
        self, kind: SignalKind, source: SignalSource, age: int, *, vm: str | None = None, region: str | None = None
    ) -> Signal:
        self.serial += 1
        return Signal(
            kind=kind,
            source=source,
            resource_id=vm_id(vm) if vm else None,
            region=region,
            observed_at=self.clock.now - timedelta(seconds=age),
            signal_id=f"sig-{self.serial}",
            detail="property test",
        )

    def _ingest(self, batch: list[Signal]) -> None:
        self.acting = "signal"
        ingest(self.ctx, batch)

    @rule(
        vms=st.lists(st.sampled_from(sorted(VMS)), min_size=1, max_size=4, unique=True),
        unavailable=st.booleans(),
        source=st.sampled_from(VM_SOURCES),
        age=AGES,
    )
    def vm_alert(self, vms: list[str], unavailable: bool, source: SignalSource, age: int) -> None:
        """One alert or event: one signal per target VM (a metric alert may name several)."""
        figures.step(NAME)
        kind = SignalKind.VM_UNAVAILABLE if unavailable else SignalKind.VM_AVAILABLE
        batch = [self._signal(kind, source, age, vm=vm) for vm in vms]
        self.batches.append(batch)
        self._ingest(batch)

    @rule(group=st.sampled_from(sorted(GROUPS)), source=st.sampled_from(VM_SOURCES), age=st.sampled_from((300, 600, 1200)))
    def outage(self, group: str, source: SignalSource, age: int) -> None:
        """Every member of a group reported unavailable in one alert, long enough ago to pass the debounce."""
        figures.step(NAME)
        batch = [self._signal(SignalKind.VM_UNAVAILABLE, source, age, vm=vm) for vm in GROUPS[group][1]]
        self.batches.append(batch)
        self._ingest(batch)

    @rule(region=st.sampled_from(REGIONS), incident=st.booleans(), age=AGES)
    def service_health(self, region: str, incident: bool, age: int) -> None:
        figures.step(NAME)
        kind = SignalKind.REGION_INCIDENT if incident else SignalKind.REGION_RESOLVED
        batch = [self._signal(kind, SignalSource.SERVICE_HEALTH_ALERT, age, region=region)]
        self.batches.append(batch)
        self._ingest(batch)

    @precondition(lambda self: bool(self.batches))
    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        """At-least-once delivery: an earlier alert again, its signals in any order, maybe with others."""
        figures.step(NAME)
        picked = data.draw(st.lists(st.sampled_from(self.batches), min_size=1, max_size=3), label="batches")
        signals = data.draw(st.permutations([s for batch in picked for s in batch]), label="order")
        self._ingest(signals)

    @rule(seconds=STEPS)
    def time_passes(self, seconds: int) -> None:
        figures.step(NAME)
        self.clock.now += timedelta(seconds=seconds)

    @rule()
    def pulse(self) -> None:
        figures.step(NAME)
        self.acting = "pulse"
        reevaluate_recent(self.ctx)

    # -------------------------------------------------------------------------------------- operators

    def _known_ids(self) -> list[str]:
        ids = [str(d["decision_id"]) for d in pending_decisions(self.ctx)]
        return [*ids, *self.seen_ids, "dec-0000", "dec-ffffffffffffffff"]

    @precondition(lambda self: hasattr(self, "ctx") and bool(pending_decisions(self.ctx)))
    @rule(data=st.data(), dry_run=st.sampled_from((False, False, True)), prefix=st.booleans())
    def approve_pending(self, data: st.DataObject, dry_run: bool, prefix: bool) -> None:
        pending = sorted(str(d["decision_id"]) for d in pending_decisions(self.ctx))
        self.approve_one(data.draw(st.sampled_from(pending), label="decision"), dry_run, prefix)

    @rule(data=st.data(), dry_run=st.sampled_from((False, False, True)), prefix=st.booleans())
    def approve_any(self, data: st.DataObject, dry_run: bool, prefix: bool) -> None:
        """An id that is pending, was pending once, or was never known."""
        self.approve_one(data.draw(st.sampled_from(self._known_ids()), label="decision"), dry_run, prefix)

    def approve_one(self, wanted: str, dry_run: bool, prefix: bool) -> None:
        figures.step(NAME)
        self.acting = "approval"
        try:
            answer = approve(self.ctx, wanted[:12] if prefix else wanted, by="alice", dry_run=dry_run)
        except WorkflowRefused:
            return
        if dry_run:
            assert "workflow" not in answer, f"a dry-run approval started a workflow: {answer}"
            return
        decision, workflow = str(answer["decision_id"]), str(answer["workflow"])
        self.model.approved.append((decision, workflow))
        figures.saw(NAME, "approval started a workflow")
        wf = load_workflow(self.ctx, str(answer["group"]))
        if not self.settings.dry_run:
            assert wf is not None and wf.id == workflow and wf.decision_id == decision, f"approved {decision}: {answer}, {wf}"
        # the same approval again (a double click, a retried request) starts nothing
        try:
            again = approve(self.ctx, decision, by="bob")
        except WorkflowRefused:
            figures.checked(NAME)
        else:
            raise AssertionError(f"decision {decision} approved twice: {answer} then {again}")

    @rule(data=st.data(), prefix=st.booleans())
    def reject_one(self, data: st.DataObject, prefix: bool) -> None:
        figures.step(NAME)
        wanted = data.draw(st.sampled_from(self._known_ids()), label="decision")
        try:
            reject(self.ctx, wanted[:12] if prefix else wanted, by="alice", comment="planned maintenance")
        except (WorkflowRefused, NotFound):
            return

    @rule(vm=st.sampled_from(sorted(VMS)), mode=st.sampled_from(("approve", "auto", "off", "")))
    def failover_tag(self, vm: str, mode: str) -> None:
        """``ppgdr-failover`` changes on one VM (the strictest mode of a group's members wins)."""
        figures.step(NAME)
        self._change_status(vm, failover_mode=mode)

    @rule(vm=st.sampled_from(sorted(VMS)), protected=st.booleans())
    def member_state(self, vm: str, protected: bool) -> None:
        """A member is re-enabled (initial replication) or protected again: a group fails over only as a whole."""
        figures.step(NAME)
        self._change_status(vm, state=vs.VmState.PROTECTED if protected else vs.VmState.INITIAL_REPLICATION)

    def _change_status(self, vm: str, **changes: str) -> None:
        status = vs.get_status(self.ctx.store, vm_id(vm))
        assert status is not None
        for name, value in changes.items():
            setattr(status, name, value)
        vs.save_status(self.ctx.store, status)

    @precondition(lambda self: any(self.model.active.values()))
    @rule(data=st.data(), hours=st.sampled_from((0.5, 1, 2, 6)))
    def workflow_ends(self, data: st.DataObject, hours: float) -> None:
        """A group's workflow ends: failed over, reprotected and failed back (hours), protected again."""
        figures.step(NAME)
        group = data.draw(st.sampled_from(sorted(g for g, active in self.model.active.items() if active)), label="group")
        wf = load_workflow(self.ctx, group)
        assert wf is not None
        wf.phase = DONE
        save_workflow(self.ctx, wf, "failed back (property test)")
        update_group(self.ctx.store, group, state=GroupState.PROTECTED)
        self.model.active[group] = False
        self.clock.now += timedelta(hours=hours)

    # ------------------------------------------------------------------------------------- invariants

    @invariant()
    def decisions_and_workflows(self) -> None:
        if not hasattr(self, "ctx"):
            return
        store, now = self.ctx.store, self.clock.now
        pending = pending_decisions(self.ctx)
        groups = [str(d["group"]).lower() for d in pending]
        assert len(groups) == len(set(groups)), f"two pending decisions for one group: {pending}"
        checks = 1
        for group in GROUPS:
            record = get_group(store, group)
            current = record.pending_decision
            before = self.model.shown.get(group)
            if current is not None:
                self.seen_ids.append(str(current["decision_id"]))
            if before is not None and (current is None or current["decision_id"] != before["decision_id"]):
                decided = (record.last_decided or {}).get("decision_id") == before["decision_id"]
                expired = now - datetime.fromisoformat(before["decided_at"]) > DEFAULT_APPROVAL_MAX_AGE
                assert decided or expired, (
                    f"{group}: pending decision {before['decision_id']} became {current and current['decision_id']} "
                    f"without being approved, rejected or expiring (last decided: {record.last_decided})"
                )
            if current is not None:
                figures.saw(NAME, "a pending decision")
            if before is not None and current is not None and current["decision_id"] == before["decision_id"]:
                if current.get("evidence_updates"):
                    figures.saw(NAME, "evidence added to a pending decision")
                assert set(before.get("evidence", [])) <= set(current.get("evidence", [])), f"{group}: evidence lost"
            if self.settings.dry_run:
                assert current is None, f"{group}: a dry run left a pending approval: {current}"
            self.model.shown[group] = current
            checks += 3
            wf = load_workflow(self.ctx, group)
            if wf is not None and wf.id != self.model.workflows.get(group):
                assert not self.settings.dry_run, f"{group}: a dry run started workflow {wf.id}"
                assert not self.model.active.get(group), (
                    f"{group}: workflow {wf.id} started while {self.model.workflows[group]} was still in flight"
                )
                if wf.decision_id:
                    assert wf.decision_id not in self.model.decisions_started, (
                        f"decision {wf.decision_id} started a second workflow {wf.id} "
                        f"(first: {self.model.decisions_started[wf.decision_id]})"
                    )
                    self.model.decisions_started[wf.decision_id] = wf.id
                automatic = self.acting != "approval"
                if automatic:
                    hour_ago = now - timedelta(hours=1)
                    recent = sum(1 for at, _ in self.model.starts if hour_ago < at <= now)
                    assert recent < self.settings.max_failovers_per_hour, (
                        f"{group}: automatic failover {wf.id} past the cap ({recent} in the last hour, "
                        f"cap {self.settings.max_failovers_per_hour})"
                    )
                self.model.starts.append((now, automatic))
                figures.saw(NAME, f"workflow started ({'automatic' if automatic else 'approved'})")
                if len(self.model.starts) > 1:
                    figures.saw(NAME, "two or more workflows in one sequence")
                self.model.workflows[group] = wf.id
                self.model.active[group] = True
            checks += 3
            started = [row for row in audit_trail(store, group) if row["event"] == "failover-started"]
            per_decision = [row.get("decision") for row in started if row.get("decision")]
            assert len(per_decision) == len(set(per_decision)), f"{group}: a decision started two workflows: {started}"
            checks += 1
        for decision, workflow in self.model.approved:
            assert self.model.decisions_started.get(decision) == workflow, (
                f"approval of {decision} answered workflow {workflow}, started: {self.model.decisions_started.get(decision)}"
            )
        figures.checked(NAME, checks + 1)
        self.acting = "none"

    def teardown(self) -> None:
        figures.timed(NAME, time.monotonic() - self.started)


@TIMEOUT
def test_decision_invariants_under_random_signals_approvals_and_time() -> None:
    run_state_machine_as_test(DecisionGuardMachine, settings=budget("decision-guard"))
