"""Chaos: ppg-dr under lost events, faults, killed workers and a Table wipe; Azure must agree with it at the end.

A seeded, repeatable run against Azurite and the ARM emulator (issue 13): a fleet tagged for protection
(the real path: tags -> events/reconcile -> enable jobs), several worker processes running the registered
functions at once (pulse, reconcile, Event Grid deliveries, the HTTP API), Event Grid with duplicates,
reordering and drops, emulator faults (429, 5xx before and after the write is applied, latency, failing jobs,
allocation failures), a kill -9 of a worker at every step boundary of every workflow and at random moments
of the protection wave, outages that fail groups over (approved through the API), failbacks, and all of
ppg-dr's tables deleted mid-run. The invariants are then checked from the emulator's request log, its jobs
and items, and the tables (``bench/chaos_invariants.py``); ``docs/chaos.md`` explains them and the figures.

    .venv/bin/python -m bench.chaos [--profile bounded|full] [--seed N] [--json PATH] [--keep DIR]

Exit status 1 when an invariant failed (the output names it, with the evidence); progress on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.chaos_events import Delivery, EventRelay, EventSink, RelayPolicy
from bench.chaos_faults import FaultBook, job_rules, refused_enable, request_rules
from bench.chaos_invariants import GroupFacts, RunRecord, Violation, WipeFacts, WriteFigures, check_all, summarize
from bench.chaos_pool import ItemResult, WorkerPool
from bench.chaos_scenario import Observed, Scenario
from bench.chaos_world import Admin, AzureView, Fleet, TableView, build_fleet, tag_fleet, tag_vm
from bench.common import machine, print_table, say, write_json

API_KEY = "chaos-key-not-a-secret"
WARM_UP_TICKS = 25
TABLE_PREFIX = "ppgdr"


@dataclass(frozen=True)
class Profile:
    """The size and the dose of one run. Ticks advance the emulator's (and the app's) clock by ``step_s``."""

    name: str
    vms: int
    groups: int
    workers: int
    wave1: int  # groups failed over first, together
    wave2: int  # groups failed over once wave 1 runs in DR (the wipe hits during their commit)
    failbacks: int  # wave-1 groups failed back after the wipe
    fault_scale: int
    random_kills: int  # kill -9 at random moments of the protection wave
    step_s: int = 240
    pulses_per_tick: int = 2  # workers firing the pulse at once each tick (the others take events and requests)
    reconcile_every: int = 4
    quiet_ticks: int = 2
    max_ticks: int = 90
    max_protect_ticks: int = 30  # tagging -> every VM protected (the refused enable is retried after an hour)
    max_settle_ticks: int = 30  # last operator action -> everything converged


PROFILES = {
    "bounded": Profile("bounded", vms=16, groups=4, workers=3, wave1=2, wave2=1, failbacks=1, fault_scale=1, random_kills=2),
    "full": Profile(
        "full", vms=520, groups=40, workers=4, wave1=6, wave2=6, failbacks=4, fault_scale=4, random_kills=8, max_ticks=120
    ),
}


def asr_timings(step_s: int) -> dict[str, float]:
    """ASR job durations (emulated seconds): Azure's order of magnitude; the commit outlasts a tick, so the wipe
    can find one in flight."""
    return {
        "enable_s": 60,
        "initial_replication_s": 0.8 * step_s,
        "failover_s": 120,
        "commit_s": 1.5 * step_s,
        "switch_protection_s": 90,
    }


@dataclass
class RunResult:
    figures: dict[str, Any]
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class Progress:
    """Per-VM convergence and per-group plan-membership growth, observed tick by tick."""

    protected_at: dict[str, int] = field(default_factory=dict)  # item -> first tick protected in Azure and ppg-dr
    ever_protected: dict[str, set[str]] = field(default_factory=dict)  # group -> items Azure showed Protected
    plan_growth: dict[str, int] = field(default_factory=dict)
    all_protected_tick: int | None = None
    settled_tick: int | None = None


# ------------------------------------------------------------------------------------------- services


@contextmanager
def local_services(work: Path, extra: dict[str, str]) -> Iterator[tuple[dict[str, str], Admin]]:
    """Azurite and the emulator (clock frozen: only the harness moves it), this process's env pointed at them.

    Everything started here is stopped on exit, also on error, and the environment is restored.
    """
    from localdev.processes import start_azurite, start_emulator
    from localdev.runner import app_environment

    saved = dict(os.environ)
    with ExitStack() as stack:
        azurite = start_azurite(log_dir=work)
        stack.callback(azurite.stop)
        log = stack.enter_context(open(work / "emulator.log", "w"))  # the emulator writes to it until stopped
        emulator = start_emulator(cert_dir=work / "emulator", clock_speed=0, log=log)
        stack.callback(emulator.stop)
        stack.callback(_restore_environment, saved)
        env = app_environment(azurite, emulator, extra)
        os.environ.update(env)
        admin = Admin(emulator.base_url, emulator.cert)
        stack.callback(admin.close)
        yield env, admin


def _restore_environment(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


def app_settings() -> dict[str, str]:
    """The demo estate's settings, short leases, approval mode and the harness's function key."""
    from localdev import estate as est

    return {
        **est.app_settings(),
        "PPGDR_STATE_TABLE_PREFIX": TABLE_PREFIX,
        "PPGDR_LEASE_SECONDS": "15",
        "PPGDR_FAILOVER_MODE": "approve",
        "PPGDR_API_KEYS": "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest(),
    }


# ------------------------------------------------------------------------------------------------ run


class ChaosRun:
    """One run: builds the world, plays the ticks, checks the invariants, returns the figures."""

    def __init__(self, profile: Profile, seed: int, work: Path) -> None:
        self.profile = profile
        self.seed = seed
        self.work = work
        self.rng = random.Random(seed)
        self.progress = Progress()
        self.tick = 0
        self.offset = 0.0
        self.wipe: dict[str, Any] | None = None
        self.steady: list[dict[str, Any]] = []
        self.phases: list[str] = []
        self.first_actions: dict[str, int] = {}
        self.tick_seconds: list[float] = []
        self.tick_starts: list[str] = []
        self.tick_split: list[
            tuple[float, float, float]
        ] = []  # observe / workers / converge  # real time each tick began (buckets the request log per tick)
        self.slowest: list[tuple[float, str]] = []  # the slowest invocations: where a tick's wall time goes
        self.timer_errors: list[str] = []  # failed timer invocations (the host logs them; the next tick fires again)
        self.victim: Any = None
        self.warm_vm: Any = None
        self.wave_tick = 0

    # ------------------------------------------------------------------------------------ top level

    def run(self) -> RunResult:
        started = time.perf_counter()
        say(f"chaos: profile {self.profile.name}, seed {self.seed}, {self.profile.vms} VMs in {self.profile.groups} groups")
        with local_services(self.work, app_settings()) as (env, admin):
            self.admin = admin
            self.env = env
            self._prepare()
            sink = EventSink()
            sink.start()
            admin("POST", "/_emulator/events/subscriber", {"url": sink.url})
            self.relay = EventRelay(sink, self.rng, RelayPolicy())
            self.pool = WorkerPool(self.profile.workers, env, self._dir("ledger"), self._dir("workers"), self.rng)
            try:
                self.pool.start()
                self._phase(f"{self.profile.workers} workers ready; faults installed; tagging the fleet (the protection wave)")
                self._play()
                result = self._finish(time.perf_counter() - started)
            finally:
                self.pool.close()
                sink.stop()
        return result

    def _dir(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _phase(self, text: str) -> None:
        self.phases.append(f"tick {self.tick}: {text}")
        say(f"[tick {self.tick:3d}] {text}")

    def _prepare(self) -> None:
        """Vault, networks and cache accounts (the estate), then the fleet, untagged; the log starts clean."""
        from localdev import estate as est
        from shared.platform.clients import AzureClients
        from shared.settings import Settings

        self.clients = AzureClients(Settings.from_env(self.env))
        self.admin("POST", "/_emulator/asr/settings", {"retryAfterSeconds": 0, "timings": asr_timings(self.profile.step_s)})
        est.seed(self.clients, est.Estate(vms=()))
        self.fleet: Fleet = build_fleet(self.admin, self.clients, groups=self.profile.groups, vms=self.profile.vms)
        self.tables = TableView(self.env["PPGDR_STATE_CONNECTION"], TABLE_PREFIX)
        self.azure = AzureView(self.admin)
        self.scenario = Scenario(
            self.fleet, self.rng, API_KEY, wave1=self.profile.wave1, wave2=self.profile.wave2, failbacks=self.profile.failbacks
        )
        self.faults = FaultBook(self.admin)
        self.admin("DELETE", "/_emulator/requests")
        self.admin("DELETE", "/_emulator/events")
        say(f"estate and fleet seeded: {len(self.fleet.vms)} VMs in {len(self.fleet.groups)} PPGs")

    def _install_faults(self) -> None:
        """Request faults, failing jobs, one refused enable (a VM of a group that only stays protected), capacity."""
        self.faults.install(request_rules(self.rng, self.profile.fault_scale))
        self.faults.install(job_rules(self.profile.fault_scale))
        stay = [s for s in self.scenario.stories.values() if s.role == "stay"]
        victim_group = self.rng.choice(stay).group if stay else self.fleet.groups[-1]
        self.victim = victim_group.vms[0] if stay else None
        self.warm_vm = victim_group.vms[-1]
        if self.victim is not None:
            self.faults.install([refused_enable(self.victim.item)])
        wave = [s for s in self.scenario.stories.values() if s.role != "stay"]
        if wave:
            target = self.rng.choice(wave).group
            self.faults.refuse_capacity(target.target_ppg_id, [target.vms[0].size])

    # ------------------------------------------------------------------------------------------ ticks

    def _play(self) -> None:
        """Warm-up, the protection wave, then ticks until everything converged (or the tick limit), then quiet."""
        self._install_faults()
        self._warm_up()
        tag_fleet(self.clients, self.fleet)
        self.wave_tick = self.tick
        self._phase(f"the protection wave: {len(self.fleet.vms)} VMs tagged")
        kill_ticks = {self.tick + t for t in self.rng.sample(range(1, 9), k=min(self.profile.random_kills, 8))}
        while self.tick < self.profile.max_ticks:
            if self._tick(kill=self.tick + 1 in kill_ticks):
                break
            if self.tick % 10 == 0:
                self._report_progress()
        self._quiesce()

    def _warm_up(self) -> None:
        """Protect one VM first, so ppg-dr prepares the vault (fabrics, containers, policy, mappings), as in a
        running deployment; the wave then finds it prepared. The faults and the workers are already there."""
        assert self.warm_vm is not None
        tag_vm(self.clients, self.warm_vm.id)
        self._phase(f"warm-up: {self.warm_vm.name} tagged, the vault is prepared through ppg-dr")
        for _ in range(WARM_UP_TICKS):
            self._tick(kill=False)
            if self.tables.statuses().get(self.warm_vm.id.lower(), {}).get("state") == "protected":
                return
        raise RuntimeError(f"warm-up: {self.warm_vm.name} not protected after {WARM_UP_TICKS} ticks: {self.tables.statuses()}")

    def _tick(self, *, kill: bool) -> bool:
        """One tick: both clocks on, observe, maybe wipe, maybe a random kill, run the workers; True once converged."""
        self.tick += 1
        started = time.perf_counter()
        self.tick_starts.append(datetime.now(UTC).isoformat())
        view = self._advance_and_observe()
        if self.scenario.wipe_due(self.tick, view):
            self._wipe(view)
        if kill:
            self.pool.kill_later(max(0.2, self.tick_seconds[-1] if self.tick_seconds else 1.0))
        observed = time.perf_counter()
        self._run_tick(view)
        ran = time.perf_counter()
        converged = self._converged()
        self.tick_seconds.append(time.perf_counter() - started)
        self.tick_split.append((observed - started, ran - observed, time.perf_counter() - ran))
        return converged

    def _advance_and_observe(self) -> Observed:
        """Move both clocks one step, then read Azure's items and ppg-dr's tables (without the app)."""
        self.admin("POST", "/_emulator/clock", {"advance": self.profile.step_s})
        self.offset += self.profile.step_s
        self.pool.offset = self.offset
        items = self.azure.items()
        self._track_growth(items)
        return Observed(
            statuses=self.tables.statuses(),
            groups=self.tables.groups(),
            workflows=self.tables.workflows(),
            items=items,
            offset_s=self.offset,
        )

    def _track_growth(self, items: dict[str, dict[str, Any]]) -> None:
        """Each tick the set of members Azure ever showed Protected grows, the group's plan may need one PUT."""
        for group in self.fleet.groups:
            now = {vm.item for vm in group.vms if items.get(vm.item, {}).get("protectionState") == "Protected"}
            seen = self.progress.ever_protected.setdefault(group.name, set())
            if now - seen:
                seen |= now
                self.progress.plan_growth[group.name] = self.progress.plan_growth.get(group.name, 0) + 1

    def _run_tick(self, view: Observed) -> None:
        """Deliver due events, fire the timers on every worker, send the scenario's requests; learn from the answers."""
        http = self.scenario.requests(self.tick, view)
        for item in http:
            self._note_action(item["tag"])
        self.relay.intake(self.tick)
        deliveries = self.relay.due(self.tick)
        batches, by_item = self._batches(deliveries, http)
        for result in self.pool.run(batches):
            self._settle(result, by_item)

    def _note_action(self, tag: str) -> None:
        """A progress line the first time the scenario does something to a group (alert, approve, failback, resume)."""
        verb, _, group = tag.partition(":")
        key = f"{verb}:{group}"
        if key not in self.first_actions:
            self.first_actions[key] = self.tick
            self._phase(f"{verb} {group}")

    def _batches(
        self, deliveries: Sequence[Delivery], http: Sequence[dict[str, Any]]
    ) -> tuple[list[list[dict[str, Any]]], dict[int, Delivery]]:
        """One batch per worker: random events, a pulse each, sometimes a reconcile, the HTTP requests anywhere."""
        size = self.profile.workers
        batches: list[list[dict[str, Any]]] = [[] for _ in range(size)]
        by_item: dict[int, Delivery] = {}
        for delivery in deliveries:
            item = {"kind": "event", "function": "resource_events", "event": delivery.event}
            by_item[id(item)] = delivery
            batches[self.rng.randrange(size)].append(item)
        pulsing = self.rng.sample(range(size), k=min(size, self.profile.pulses_per_tick))
        timers: list[tuple[int, dict[str, Any]]] = [(w, {"kind": "timer", "name": "pulse"}) for w in pulsing]
        if self.tick % self.profile.reconcile_every == 0:
            reconcilers = self.rng.sample(range(size), k=min(size, 1 + (self.tick // self.profile.reconcile_every) % 2))
            timers += [(w, {"kind": "timer", "name": "reconcile"}) for w in reconcilers]
        timers += [(self.rng.randrange(size), item) for item in http]
        for worker, item in timers:
            batch = batches[worker]
            batch.insert(self.rng.randint(0, len(batch)), item)
        return batches, by_item

    def _settle(self, result: ItemResult, by_item: dict[int, Delivery]) -> None:
        item = result.item
        if result.answer is not None:
            what = item.get("name") or item.get("tag") or str(item.get("event", {}).get("subject", ""))[-60:]
            self.slowest = sorted(
                [*self.slowest, (float(result.answer.get("seconds", 0)), f"tick {self.tick} {item['kind']} {what}")]
            )[-15:]
        if item["kind"] == "event":
            self.relay.settle(by_item[id(item)], result.answer, self.tick)
        elif item["kind"] == "http":
            self.scenario.answered(self.tick, item, result.answer)
        elif result.answer is not None and not result.answer.get("ok"):
            self.timer_errors.append(f"tick {self.tick} {item['name']}: {result.answer.get('error')}")

    # ----------------------------------------------------------------------------------------- wipe

    def _wipe(self, view: Observed) -> None:
        """Delete every ``ppgdr*`` table, after noting what stood: the groups, Azure's items, the journal."""
        conditions = self.scenario.wipe_conditions(view)
        journal = self.tables.rows("journal")
        items = {name: str(item.get("protectionState", "")) for name, item in view.items.items()}
        clock = self.azure.clock()
        deleted = self.tables.wipe()
        self.wipe = {
            "tick": self.tick,
            "clock": clock,
            "real_time": datetime.now(UTC).isoformat(),
            "deleted": deleted,
            "conditions": conditions,
            "items": items,
            "journal": journal,
            "workflows": {
                g: {"phase": w.get("phase"), "job": w.get("job"), "kind": w.get("kind")} for g, w in view.workflows.items()
            },
        }
        self.scenario.wipe_tick = self.tick
        self._phase(
            f"Table wipe: {len(deleted)} tables deleted; protected {conditions['protected']}, "
            f"mid-failover {conditions['mid-failover']} ({self.wipe['workflows']}), in DR {conditions['in-dr']}"
        )

    # ---------------------------------------------------------------------------------- convergence

    def _converged(self) -> bool:
        """Every VM protected in Azure and in ppg-dr, every group where the scenario wants it, no event pending."""
        items = self.azure.items()
        statuses = self.tables.statuses()
        view = Observed(statuses, self.tables.groups(), self.tables.workflows(), items, self.offset)
        converged = True
        for story in self.scenario.stories.values():
            expected = "failed-over" if story.ends_in_dr and story.approved_tick is not None else "protected"
            for vm in story.group.vms:
                state = statuses.get(vm.id.lower(), {}).get("state")
                ok = items.get(vm.item, {}).get("protectionState") == "Protected" and state in (
                    "protected",
                    "failed-over",
                )
                if ok and vm.item not in self.progress.protected_at:
                    self.progress.protected_at[vm.item] = self.tick
                converged &= ok and state == expected
        if self.progress.all_protected_tick is None and len(self.progress.protected_at) == len(self.fleet.vms):
            self.progress.all_protected_tick = self.tick - self.wave_tick
            self._phase(f"every VM protected in Azure and in ppg-dr ({self.tick - self.wave_tick} ticks after the wave)")
        done = converged and self.scenario.done(view) and self.relay.idle
        if done and self.progress.settled_tick is None:
            self.progress.settled_tick = self.tick
            self._phase("every group where the scenario wants it, every VM protected, no event pending")
        return done

    def _report_progress(self) -> None:
        """One line every ten ticks: tick time, VM states, group states, kills so far."""
        statuses = self.tables.statuses().values()
        vms = Counter(str(status.get("state")) for status in statuses)
        reasons = Counter(
            f"{status.get('state')}: {str(status.get('reason', ''))[:160]}"
            for status in statuses
            if status.get("state") not in ("protected", "failed-over")
        )
        groups = Counter(str(group.get("state")) for group in self.tables.groups().values())
        recent = self.tick_seconds[-10:]
        say(
            f"[tick {self.tick:3d}] {sum(recent) / max(1, len(recent)):.1f} s a tick; VMs {dict(vms)}; groups {dict(groups)};"
            f" kills {len(self.pool.boundary_kills())} at step boundaries, {self.pool.stats.random_kills} random"
            + (f"; most common reason: {reasons.most_common(1)[0][0]}" if reasons else "")
        )

    def _quiesce(self) -> None:
        """Faults off, a few quiet ticks, then one reconcile and one pulse that must write nothing (steady state)."""
        self.faults.clear()
        self.admin("POST", "/_emulator/capacity", {"proximityPlacementGroupId": "*", "refusedSizes": []})
        self._phase("faults cleared; quiet ticks")
        for _ in range(self.profile.quiet_ticks):
            self.tick += 1
            view = self._advance_and_observe()
            self._run_tick(view)
            self._converged()
        before = len(self.admin("GET", "/_emulator/requests")["value"])
        self.pool.run([[{"kind": "timer", "name": "reconcile"}, {"kind": "timer", "name": "pulse"}]])
        after = self.admin("GET", "/_emulator/requests")["value"][before:]
        self.steady = [e for e in after if e["method"] != "GET"]

    # ----------------------------------------------------------------------------------------- finish

    def _record(self, log: list[dict[str, Any]]) -> RunRecord:
        wipe = None
        if self.wipe is not None:
            index = next((i for i, e in enumerate(log) if str(e["timestamp"]) >= self.wipe["real_time"]), len(log))
            wipe = WipeFacts(
                clock=self.wipe["clock"],
                log_index=index,
                tick=self.wipe["tick"],
                deleted=self.wipe["deleted"],
                conditions=self.wipe["conditions"],
                items={k: v for k, v in self.wipe["items"].items() if not (self.victim and k == self.victim.item)},
                journal=self.wipe["journal"],
            )
        groups = {}
        for story in self.scenario.stories.values():
            group = story.group
            groups[group.name] = GroupFacts(
                name=group.name,
                plan=group.plan,
                items=tuple(vm.item for vm in group.vms),
                vm_ids=tuple(vm.id.lower() for vm in group.vms),
                workflows=story.workflows,
                ends_in_dr=story.ends_in_dr and story.approved_tick is not None,
                plan_growth=self.progress.plan_growth.get(group.name, 0),
            )
        settle = None
        if self.progress.settled_tick is not None:
            settle = self.progress.settled_tick - self.scenario.last_action_tick
        return RunRecord(
            groups=groups,
            log=log,
            operations=self.azure.operations(),
            items_end=self.azure.items(),
            tables_end=self.tables.snapshot(),
            wipe=wipe,
            protect_ticks=self.progress.all_protected_tick,
            settle_ticks=settle,
            max_protect_ticks=self.profile.max_protect_ticks,
            max_settle_ticks=self.profile.max_settle_ticks,
            steady_writes=self.steady,
            refused_enable_items=(self.victim.item,) if self.victim else (),
        )

    def _finish(self, wall_s: float) -> RunResult:
        log = self.admin("GET", "/_emulator/requests")["value"]
        record = self._record(log)
        violations, writes = check_all(record)
        violations += self._scenario_violations()
        figures = self._figures(record, writes, violations, wall_s, len(log))
        return RunResult(figures, violations)

    def _foreign_statuses(self, record: RunRecord) -> dict[str, str]:
        """Status rows for VMs that are not fleet VMs (recovery VMs ppg-dr took for VMs to protect), with their state."""
        fleet = {vm.id.lower() for vm in self.fleet.vms}
        return {
            str(row.get("vm_id")): f"{row.get('state')}: {str(row.get('reason', ''))[:200]}"
            for row in record.tables_end.get("vms", [])
            if str(row.get("vm_id", "")).lower() not in fleet
        }

    def _scenario_violations(self) -> list[Violation]:
        """(h) a workflow blocked on anything but a job Azure failed (injected): the operator had to step in."""
        unexpected = [b for b in self.scenario.blocks if "ASR job failed" not in b]
        if not unexpected:
            return []
        return [Violation("h", f"{len(unexpected)} workflow blocks that were not a failed ASR job", unexpected)]

    def _figures(
        self, record: RunRecord, writes: WriteFigures, violations: list[Violation], wall_s: float, logged: int
    ) -> dict[str, Any]:
        kinds = sorted(set(writes.intended) | set(writes.sent) | set(writes.refused) | set(writes.replays))
        held = summarize(violations)
        return {
            "seed": self.seed,
            "profile": self.profile.name,
            "machine": machine(),
            "wall_seconds": round(wall_s, 1),
            "ticks": self.tick,
            "tick_seconds_emulated": self.profile.step_s,
            "fleet": {"vms": len(self.fleet.vms), "groups": len(self.fleet.groups), "workers": self.profile.workers},
            "events": asdict(self.relay.stats),
            "faults": {**self.faults.hits, "allocation-failure": self.faults.allocation_fallbacks()},
            "kills": {
                "step_boundary": len(self.pool.boundary_kills()),
                "random": self.pool.stats.random_kills,
                "boundaries": self.pool.boundary_kills(),
            },
            "workers": {
                "spawned": self.pool.stats.spawned,
                "deaths": self.pool.stats.deaths,
                "by_exit": self.pool.stats.deaths_by_exit,
            },
            "writes": {
                kind: {
                    "intended": writes.intended.get(kind, 0),
                    "sent": writes.sent.get(kind, 0),
                    "replays": writes.replays.get(kind, 0),
                    "refused": writes.refused.get(kind, 0),
                    "faulted_before_apply": writes.faulted_before_apply.get(kind, 0),
                }
                for kind in kinds
            },
            "ticks_to_converge": {
                "protect": record.protect_ticks,
                "protect_bound": record.max_protect_ticks,
                "settle": record.settle_ticks,
                "settle_bound": record.max_settle_ticks,
            },
            "operator": {
                "approvals_sent": self.scenario.approvals_sent,
                "resumes": self.scenario.resumes,
                "blocks": self.scenario.blocks,
            },
            "wipe": {k: v for k, v in (self.wipe or {}).items() if k not in ("journal", "items")},
            "requests_logged": logged,
            "status_rows_outside_fleet": self._foreign_statuses(record),
            "tick_seconds": [round(t, 2) for t in self.tick_seconds],
            "arm_per_tick": per_tick(record.log, self.tick_starts),
            "tick_split": [" / ".join(f"{part:.2f}" for part in split) for split in self.tick_split],
            "slowest_invocations": [f"{seconds:.2f} s {what}" for seconds, what in reversed(self.slowest)],
            "timer_errors": {"count": len(self.timer_errors), "first": self.timer_errors[:20]},
            "phases": self.phases,
            "groups": {
                s.group.name: {"role": s.role, "fails_back": s.fails_back, "notes": s.notes}
                for s in self.scenario.stories.values()
            },
            "invariants": {letter: ("violated" if letter in held else "held") for letter in "abcdefgh"},
            "violations": [{"invariant": v.invariant, "message": v.message, "evidence": v.evidence} for v in violations],
        }


# ------------------------------------------------------------------------------------------- output


def per_tick(log: Sequence[dict[str, Any]], starts: Sequence[str]) -> list[str]:
    """ARM requests per tick as ``GETs/writes/ms served``: where a slow tick's time went."""
    import bisect

    buckets: list[list[float]] = [[0, 0, 0.0] for _ in starts]
    for entry in log:
        index = bisect.bisect_right(starts, str(entry["timestamp"])) - 1
        if 0 <= index < len(buckets):
            bucket = buckets[index]
            bucket[0 if entry["method"] == "GET" else 1] += 1
            bucket[2] += float(entry["duration_ms"])
    return [f"{int(g)}/{int(w)}/{ms:.0f}" for g, w, ms in buckets]


def report(figures: dict[str, Any], violations: Sequence[Violation]) -> None:
    """The figures as one table, then each invariant, then every violation with its evidence."""
    events, kills, workers = figures["events"], figures["kills"], figures["workers"]
    rows: list[tuple[str, str]] = [
        ("seed / profile", f"{figures['seed']} / {figures['profile']}"),
        ("fleet", f"{figures['fleet']['vms']} VMs in {figures['fleet']['groups']} groups, {figures['fleet']['workers']} workers"),
        ("wall time", f"{figures['wall_seconds']} s ({figures['ticks']} ticks of {figures['tick_seconds_emulated']} emulated s)"),
        (
            "events emitted / delivered / duplicated / dropped / reordered",
            f"{events['emitted']} / {events['delivered']} / {events['duplicated']} / {events['dropped']} / {events['reordered']}",
        ),
        (
            "events delayed / redelivered (failed, lost with worker) / gave up",
            f"{events['delayed']} / {events['redelivered']} ({events['failed_invocations']}, {events['lost_with_worker']})"
            f" / {events['gave_up']}",
        ),
        ("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(figures["faults"].items())) or "none"),
        ("kills (step boundary / random)", f"{kills['step_boundary']} / {kills['random']}"),
        ("workers spawned / deaths", f"{workers['spawned']} / {workers['deaths']} {workers['by_exit']}"),
        (
            "ticks to converge (protect / settle)",
            f"{figures['ticks_to_converge']['protect']} (bound {figures['ticks_to_converge']['protect_bound']}) / "
            f"{figures['ticks_to_converge']['settle']} (bound {figures['ticks_to_converge']['settle_bound']})",
        ),
        ("operator: approvals sent / resumes", f"{figures['operator']['approvals_sent']} / {figures['operator']['resumes']}"),
    ]
    for kind, w in figures["writes"].items():
        if w["intended"] or w["sent"] or w["refused"]:
            rows.append(
                (
                    f"writes {kind}: intended / sent (+replays, refused, faulted before apply)",
                    f"{w['intended']} / {w['sent']} (+{w['replays']}, {w['refused']}, {w['faulted_before_apply']})",
                )
            )
    print_table("chaos: figures", ("figure", "value"), rows)
    print("\ninvariants: " + ", ".join(f"({k}) {v}" for k, v in figures["invariants"].items()))
    if violations:
        print(f"\n{len(violations)} violation(s):")
        for violation in violations:
            print(violation.render())
    sys.stdout.flush()


def run(profile: Profile, seed: int, work: Path | None = None) -> RunResult:
    """Run one profile with one seed (in ``work``, or a temporary directory removed afterwards)."""
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        return ChaosRun(profile, seed, work).run()
    temporary = Path(tempfile.mkdtemp(prefix="ppgdr-chaos-"))
    try:
        return ChaosRun(profile, seed, temporary).run()
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "chaos").splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--seed", type=int, default=None, help="the run's seed (printed; default: a random one)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures (and violations) as JSON")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep logs, worker logs and the kill ledger in DIR")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1_000_000)
    print(f"chaos seed {seed} (reproduce: .venv/bin/python -m bench.chaos --profile {args.profile} --seed {seed})", flush=True)
    result = run(PROFILES[args.profile], seed, args.keep)
    report(result.figures, result.violations)
    write_json(args.json, result.figures)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
