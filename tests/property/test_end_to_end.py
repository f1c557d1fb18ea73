"""Group invariants against the real functions, Azurite and the ARM emulator (slow; a few sequences in ``make test``).

Each sequence starts from a fresh app and a fresh emulator with the demo estate (``localdev/estate.py``), the
SAP resource group tagged for protection and settled. Then random steps, all through what Azure would call: tag
writes on VMs and resource groups (Tags API, Event Grid events to ``resource_events``), tag removals, VM deletion
and re-creation, metric alerts and Service Health alerts on ``POST /api/alerts``, Resource Health events to
``health_events``, each of them sometimes delivered again or late, approvals and rejections on the HTTP API,
pulses (the emulator's clock moved) and reconciles. After each step the invariants are read from Azure (SDK
clients against the emulator, its request log) and from the store:

- the members of ``sap-avset`` replicate into one recovery PPG and resource group (where each item is heading),
  and at rest the recovery availability set is pinned to that PPG;
- a VM reported protected "as desired" is in a state a failover of its group accepts;
- one replicated item per VM; nothing ppg-dr did not create is deleted;
- every write to a replicated item (enable, update, disable) is preceded by its journal intent;
- at most one pending decision per group, with a stable id; a decision starts at most one workflow and a successful
  approval exactly one; no group has two workflows in flight.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
from azure.core.exceptions import ResourceNotFoundError
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from localdev import estate as est
from localdev import outages
from localdev.driver import Driver
from localdev.processes import Azurite
from localdev.runner import LocalRunner, app_environment, function_map
from shared.arm.keys import normalize_arm_id
from shared.context import get_context, set_context
from shared.failover.decisions import DEFAULT_APPROVAL_MAX_AGE
from shared.failover.guard import pending_decisions
from shared.failover.workflow_state import load_workflow
from shared.platform.observed import ObservedItem, item_from_sdk
from shared.state import vm_status as vs
from shared.state.audit import audit_trail
from shared.state.group_records import GroupState, all_groups
from shared.state.store import JournalEntry
from tests.fixtures.app import API_KEY, Ppgdr
from tests.fixtures.emulator import EmulatorHandle
from tests.property import figures
from tests.property.profiles import TIMEOUT, budget

NAME = "end-to-end (emulator)"
E = est.DEMO_ESTATE
SUB = est.SUBSCRIPTION
SAP_RG = f"/subscriptions/{SUB}/resourceGroups/sap-prod"
SET_MEMBERS = tuple(vm.name for vm in E.vms if vm.availability_set == "sap-avset")
RECOVERY_SET = ("sap-prod-asr", "sap-avset-asr")
MANAGED = tuple(vm.name for vm in E.vms if not vm.unmanaged)
TAGGABLE = (*MANAGED, "sap-prod")
TAG_VALUES: dict[str, tuple[str, ...]] = {
    "ppgdr-protect": ("true", "false"),
    "ppgdr-target-ppg": (
        "auto",
        "none",
        "sap-ppg-b",
        f"{SAP_RG}-asr/providers/Microsoft.Compute/proximityPlacementGroups/sap-ppg-c",
    ),
    "ppgdr-failover": ("approve", "auto", "off", "aprove"),
}
# Writes to a replicated item, as the SDK sends them: (method, path suffix) -> journal operation.
ITEM_WRITE = re.compile(r"/replicationProtectedItems/(?P<item>[^/]+)(?P<action>/remove)?$", re.IGNORECASE)
OPERATION = {("PUT", ""): "enable-protection", ("PATCH", ""): "update-target-ppg", ("POST", "/remove"): "disable-protection"}


def resource_id(name: str) -> str:
    return SAP_RG if name == "sap-prod" else E.vm(name).id


@dataclass
class Intent:
    at: datetime
    operation: str
    item: str
    used: bool = False


@dataclass
class Seen:
    pending: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    workflows: dict[str, tuple[str, bool]] = field(default_factory=dict)  # group -> (workflow id, active)
    decisions_started: dict[str, str] = field(default_factory=dict)
    approved: list[tuple[str, str]] = field(default_factory=list)
    deleted_by_test: list[str] = field(default_factory=list)  # VM paths the test itself deleted
    created_outside: set[str] = field(default_factory=set)  # paths created by the estate seed and the test


class EndToEndMachine(RuleBasedStateMachine):
    azurite: Azurite
    emulator: EmulatorHandle

    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()
        figures.sequence(NAME)
        self.seen = Seen()
        self.intents: list[Intent] = []
        self.alerts: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.checked_requests = 0
        self._environ = dict(os.environ)
        self.emulator.reset()
        env = app_environment(self.azurite, self.emulator.process, est.app_settings())
        env["PPGDR_STATE_TABLE_PREFIX"] = "t" + uuid.uuid4().hex[:12]
        env["PPGDR_API_KEYS"] = f"sha256:{hashlib.sha256(API_KEY.encode()).hexdigest()}"
        os.environ.update(env)
        set_context(None)
        runner = LocalRunner(function_map(), self.emulator.process)
        runner.start()
        ctx = get_context()
        self.app = Ppgdr(runner, ctx, Driver(runner, ctx), self.emulator)
        est.seed(ctx.clients)
        runner.drain()
        self.seen.created_outside = {normalize_arm_id(r["path"]) for r in self.emulator.requests(method="PUT")}
        self._spy_on_the_journal()

    def _spy_on_the_journal(self) -> None:
        """Record each journal intent once it is written (the store of this process is the functions' store)."""
        store = self.app.ctx.store
        original = store.journal_intent

        def journal_intent(scope: str, key: str, operation: str, request: dict[str, Any]) -> JournalEntry:
            entry = original(scope, key, operation, request)
            self.intents.append(Intent(datetime.now(UTC), operation, str(request.get("item_name", "")).lower()))
            return entry

        store.journal_intent = journal_intent  # type: ignore[method-assign]

    def teardown(self) -> None:
        try:
            self.app.runner.stop()
        finally:
            set_context(None)
            os.environ.clear()
            os.environ.update(self._environ)
            figures.timed(NAME, time.monotonic() - self.started)

    # ------------------------------------------------------------------------------------------ helpers

    def _drain(self) -> None:
        self.app.runner.drain()

    def _http(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        code, answer = self.app.http(method, path, body=body)
        assert code < 500, f"{method} {path} answered {code}: {answer}"
        return code, answer

    def _deliver(self, event: dict[str, Any]) -> None:
        outcome = self.app.runner.deliver(event, "health_events")
        assert not outcome.startswith("error"), f"health_events failed: {outcome}"

    def _settle(self, done: Any, label: str) -> None:
        self.app.driver.settle(done, label=label, max_rounds=40)

    # -------------------------------------------------------------------------------------------- start

    @initialize(trading=st.booleans())
    def protect(self, trading: bool) -> None:
        """The SAP resource group tagged for protection (and, in half the sequences, the trading VMs), settled."""
        driver = self.app.driver
        driver.tag(SAP_RG, {"ppgdr-protect": "true"})
        names = ["sap-app-1", "sap-app-2", "sap-db-1"]
        if trading:
            for name in ("trade-engine-1", "trade-cache-1"):
                driver.tag(E.vm(name).id, {"ppgdr-protect": "true", "ppgdr-target-zone": "2"})
            names += ["trade-engine-1", "trade-cache-1"]
        self._settle(lambda: all(driver.states().get(n) == "protected" for n in names), "protect")

    # -------------------------------------------------------------------------------------------- rules

    @rule(where=st.sampled_from(TAGGABLE), key=st.sampled_from(sorted(TAG_VALUES)), data=st.data())
    def tag(self, where: str, key: str, data: st.DataObject) -> None:
        figures.step(NAME)
        value = data.draw(st.sampled_from(TAG_VALUES[key]), label="value")
        self._tag(where, {key: value})

    @rule(where=st.sampled_from(("sap-prod", *SET_MEMBERS, "sap-db-1")), value=st.sampled_from(TAG_VALUES["ppgdr-target-ppg"]))
    def retarget(self, where: str, value: str) -> None:
        """The target PPG of the SAP group changed: on one VM, one member of the set, or the resource group."""
        figures.step(NAME)
        self._tag(where, {"ppgdr-target-ppg": value})

    @rule(where=st.sampled_from(TAGGABLE), key=st.sampled_from(sorted(TAG_VALUES)))
    def untag(self, where: str, key: str) -> None:
        """A tag removed (ppgdr-protect removed: drift, protection kept)."""
        figures.step(NAME)
        self._tag(where, {key: ""}, operation="Delete")

    def _tag(self, where: str, tags: dict[str, str], operation: str = "Merge") -> None:
        try:
            self.app.driver.tag(resource_id(where), tags, operation=operation)
        except ResourceNotFoundError:  # the VM was deleted: Azure refuses the tag write, as it would for anyone
            figures.saw(NAME, "tag write on a deleted VM refused by Azure")
        self._drain()

    @rule(name=st.sampled_from(MANAGED))
    def delete_or_recreate_vm(self, name: str) -> None:
        """A VM deleted, or created again (untagged) once ppg-dr removed the deleted VM's item."""
        figures.step(NAME)
        compute = self.app.ctx.clients.compute(SUB)
        spec = E.vm(name)
        exists = any(vm.name == name for vm in compute.virtual_machines.list(spec.resource_group))
        if exists:
            compute.virtual_machines.begin_delete(spec.resource_group, name, polling_interval=0).result()
            self.seen.deleted_by_test.append(normalize_arm_id(spec.id))
        elif not any(normalize_arm_id(i.source_vm_id or "") == normalize_arm_id(spec.id) for i in self._items()):
            est.create_vm(compute, spec)
            self.seen.created_outside.add(normalize_arm_id(spec.id))
        self._drain()

    @rule(vms=st.lists(st.sampled_from(MANAGED), min_size=1, max_size=3, unique=True), fired=st.booleans())
    def availability_alert(self, vms: list[str], fired: bool) -> None:
        figures.step(NAME)
        payload = outages.availability_alert([E.vm(n).id for n in vms], fired=fired, minutes_ago=10)
        self.alerts.append(payload)
        self._http("POST", "/api/alerts", payload)

    @rule(resolved=st.booleans())
    def service_health(self, resolved: bool) -> None:
        figures.step(NAME)
        payload = outages.service_health_incident("West Europe", resolved=resolved, minutes_ago=10)
        if resolved:  # Azure's common alert schema carries resolvedDateTime on a resolved alert (outages.py omits it)
            payload["data"]["essentials"]["resolvedDateTime"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        self.alerts.append(payload)
        self._http("POST", "/api/alerts", payload)

    @rule(name=st.sampled_from(MANAGED), state=st.sampled_from(("Unavailable", "Degraded", "Available")))
    def resource_health(self, name: str, state: str) -> None:
        figures.step(NAME)
        event = outages.health_event(E.vm(name).id, state, minutes_ago=10)
        self.events.append(event)
        self._deliver(event)

    @precondition(lambda self: bool(self.alerts or self.events))
    @rule(data=st.data())
    def deliver_again(self, data: st.DataObject) -> None:
        """At-least-once delivery: an earlier alert or event again, late (after what came since)."""
        figures.step(NAME)
        picked = data.draw(st.sampled_from([("alert", a) for a in self.alerts] + [("event", e) for e in self.events]))
        if picked[0] == "alert":
            self._http("POST", "/api/alerts", picked[1])
        else:
            self._deliver(picked[1])

    # What is pending depends on time (the debounce counts from receipt, docs/operations.md), so a replayed sequence
    # may see other decisions: draws never depend on it (an index into whatever is there), or hypothesis reports the
    # data generation as flaky instead of shrinking.
    @rule(pick=st.integers(min_value=0, max_value=7), reject=st.sampled_from((False, False, True)))
    def decide_pending(self, pick: int, reject: bool) -> None:
        """An operator approves (or rejects) a pending decision, by its id (nothing to do when none is pending)."""
        figures.step(NAME)
        pending = sorted(str(d["decision_id"]) for d in pending_decisions(self.app.ctx))
        if pending:
            self._decide(pending[pick % len(pending)], reject)

    @rule(pick=st.integers(min_value=0, max_value=7), reject=st.booleans())
    def decide(self, pick: int, reject: bool) -> None:
        """An operator approves or rejects a pending decision, or one that was pending once."""
        figures.step(NAME)
        _, answer = self._http("GET", "/api/decisions")
        pending = [str(d["decision_id"]) for d in answer["value"]]
        known = pending + [str(p["decision_id"]) for p in self.seen.pending.values() if p] + ["dec-00000000"]
        choices = pending or known
        self._decide(choices[pick % len(choices)], reject)

    def _decide(self, wanted: str, reject: bool) -> None:
        if reject:
            code, _ = self._http("POST", f"/api/decisions/{wanted}/reject", {"by": "alice", "comment": "property test"})
            figures.saw(NAME, f"reject answered {code}")
            return
        code, body = self._http("POST", f"/api/decisions/{wanted}/approve", {"by": "alice"})
        figures.saw(NAME, f"approve answered {code}")
        if code != 200:
            return
        self.seen.approved.append((str(body["decision_id"]), str(body["workflow"])))
        again, _ = self._http("POST", f"/api/decisions/{wanted}/approve", {"by": "bob"})
        assert again == 409, f"decision {wanted} approved twice (second answer {again})"

    @rule(minutes=st.sampled_from((1, 2, 5, 15)))
    def pulse(self, minutes: int) -> None:
        figures.step(NAME)
        self.app.runner.advance(minutes * 60)
        self.app.runner.fire_timer("pulse")
        self._drain()

    @rule()
    def reconcile(self) -> None:
        figures.step(NAME)
        self.app.runner.fire_timer("reconcile")
        self._drain()

    # --------------------------------------------------------------------------------------- invariants

    def _items(self) -> list[ObservedItem]:
        clients = self.app.ctx.clients
        vault = clients.vault()
        return [item_from_sdk(i) for i in clients.site_recovery(vault.subscription).replication_protected_items.list(*vault.args)]

    @invariant()
    def invariants_hold(self) -> None:
        ctx = self.app.ctx
        items = self._items()
        statuses = {s.vm_name: s for s in vs.all_statuses(ctx.store)}
        groups = all_groups(ctx.store)
        open_ops = {normalize_arm_id(str(e.request.get("vm_id", ""))): e for e in ctx.store.journal_open()}
        existing = {normalize_arm_id(vm.id or "") for vm in ctx.clients.compute(SUB).virtual_machines.list_all()}
        checks = 0

        # one replicated item per VM
        by_vm: dict[str, list[str]] = {}
        for item in items:
            by_vm.setdefault(normalize_arm_id(item.source_vm_id or ""), []).append(item.name)
        assert all(len(names) == 1 for names in by_vm.values()), f"a VM protected twice: {by_vm}"
        checks += 1

        # the availability set: one recovery PPG and resource group, the recovery set pinned to it at rest
        sap = groups.get("sap-ppg")
        if sap is None or sap.state == GroupState.PROTECTED:
            heading: dict[str, tuple[str, str]] = {}
            for name in SET_MEMBERS:
                key = normalize_arm_id(E.vm(name).id)
                item = next((i for i in items if normalize_arm_id(i.source_vm_id or "") == key), None)
                op = open_ops.get(key)
                if item is None or key not in existing or (op is not None and op.operation == "disable-protection"):
                    continue
                ppg = str(op.request.get("target_ppg", "")) if op is not None else item.recovery_ppg_id or ""
                heading[name] = (normalize_arm_id(ppg), normalize_arm_id(item.recovery_resource_group_id or ""))
            assert len(set(heading.values())) <= 1, f"sap-avset heads apart: {heading}"
            at_rest = not any(normalize_arm_id(E.vm(n).id) in open_ops for n in SET_MEMBERS)
            if heading and at_rest:
                recovery_set = ctx.clients.compute(SUB).availability_sets.get(*RECOVERY_SET)
                pinned = recovery_set.properties.proximity_placement_group if recovery_set.properties else None
                pin = normalize_arm_id(pinned.id if pinned else "")
                assert {h[0] for h in heading.values()} == {pin}, f"recovery set pinned to {pin}, items heading {heading}"
                for name in SET_MEMBERS:
                    status = statuses.get(name)
                    if status is None or (status.state, status.reason) != ("protected", "protected as desired"):
                        continue
                    item = next(i for i in items if normalize_arm_id(i.source_vm_id or "") == normalize_arm_id(E.vm(name).id))
                    assert item.protected and (item.active_location or "").lower() == "primary", f"{name}: {item}"
                    assert name in heading, f"{name} reported protected as desired: {heading}"
            checks += 3

        self._check_deletions()
        self._check_journal()
        self._check_decisions(groups)
        figures.checked(NAME, checks + 6)

    def _check_deletions(self) -> None:
        """Nothing ppg-dr did not create is deleted (the VMs the test itself deleted aside)."""
        own = list(self.seen.deleted_by_test)
        for request in self.emulator.requests(method="DELETE"):
            path = normalize_arm_id(request["path"])
            if path in own:
                own.remove(path)
                continue
            assert path not in self.seen.created_outside, f"ppg-dr deleted {request['path']}, which it did not create"

    def _check_journal(self) -> None:
        """Every write to a replicated item was preceded by its journal intent (one intent per write)."""
        log = self.emulator.requests()
        for request in log[self.checked_requests :]:
            found = ITEM_WRITE.search(request["path"])
            operation = OPERATION.get((request["method"], (found["action"] or "").lower())) if found else None
            if found is None or operation is None:
                continue
            sent = datetime.fromisoformat(request["timestamp"]) - timedelta(milliseconds=float(request["duration_ms"]))
            item = found["item"].lower()
            intent = next((i for i in self.intents if not i.used and i.operation == operation and i.item == item), None)
            assert intent is not None and intent.at <= sent, (
                f"{request['method']} {request['path']} at {sent} without a journal intent before it "
                f"(intents: {[(i.operation, i.item, i.at.isoformat()) for i in self.intents if i.item == item]})"
            )
            intent.used = True
            figures.saw(NAME, f"journaled {operation}")
        self.checked_requests = len(log)

    def _check_decisions(self, groups: dict[str, Any]) -> None:
        ctx = self.app.ctx
        now = ctx.store.now()
        for key, record in groups.items():
            current, before = record.pending_decision, self.seen.pending.get(key)
            if before is not None and (current is None or current["decision_id"] != before["decision_id"]):
                decided = (record.last_decided or {}).get("decision_id") == before["decision_id"]
                expired = now - datetime.fromisoformat(before["decided_at"]) > DEFAULT_APPROVAL_MAX_AGE
                assert decided or expired, (
                    f"{key}: pending {before['decision_id']} replaced by {current and current['decision_id']}"
                )
            if current is not None:
                figures.saw(NAME, "a pending decision")
            self.seen.pending[key] = current
            wf = load_workflow(ctx, record.name)
            if wf is not None:
                last = self.seen.workflows.get(key)
                if last is None or last[0] != wf.id:
                    assert last is None or not last[1], f"{key}: workflow {wf.id} started while {last[0]} was in flight"
                    if wf.decision_id:
                        assert wf.decision_id not in self.seen.decisions_started, f"{wf.decision_id} started two workflows"
                        self.seen.decisions_started[wf.decision_id] = wf.id
                    figures.saw(NAME, f"{wf.kind} workflow started")
                self.seen.workflows[key] = (wf.id, wf.active)
            started = [r.get("decision") for r in audit_trail(ctx.store, record.name) if r["event"] == "failover-started"]
            started = [d for d in started if d]
            assert len(started) == len(set(started)), f"{key}: a decision started two workflows: {started}"
        for decision, workflow in self.seen.approved:
            assert self.seen.decisions_started.get(decision) == workflow, f"approval of {decision} answered {workflow}"


@pytest.mark.slow
@TIMEOUT
def test_group_invariants_through_the_functions(azurite: Azurite, emulator: EmulatorHandle) -> None:
    EndToEndMachine.azurite = azurite
    EndToEndMachine.emulator = emulator
    run_state_machine_as_test(EndToEndMachine, settings=budget("end-to-end"))
