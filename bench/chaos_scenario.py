"""What the people and monitors around ppg-dr do during a chaos run, tick by tick.

Azure Monitor posts availability alerts for the groups of an outage wave; an on-call engineer approves the
pending decisions (sometimes twice, from two browsers), resumes a workflow that blocked, and fails groups
back once they run in the DR region. Everything goes through ppg-dr's HTTP API on a worker, with the
function key, as it would in Azure. Each group's story is kept as notes, the evidence when it ends wrong.

A failover approved before the Table wipe but not yet sent to Azure leaves no trace anywhere once the tables
are gone (Azure shows the group protected at home, and the alert does not fire again): ppg-dr cannot adopt
it, so the on-call engineer, seeing the group back at home with no workflow, requests the failover again
(``POST /api/groups/{group}/failover``), as ``docs/operations.md`` ("After state loss") tells them to.

Roles: ``stay`` groups are only protected (one holds the VM whose enable job Azure fails); ``wave1`` groups
fail over first, together; ``wave2`` groups fail over once wave 1 runs in the DR region, and the Table wipe
hits while their commit job is in flight; some wave-1 groups fail back after the wipe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from bench.chaos_world import Fleet, FleetGroup
from localdev import outages

MAX_ALERTS = 6  # an alert whose decision never shows up is sent again, up to this many times
MAX_FAILBACK_ASKS = 12
MAX_RESUMES = 4
MAX_FAILOVER_ASKS = 6  # a failover lost with the state, requested again by the operator
LOST_AFTER_TICKS = 3  # ticks a group must look untouched at home after the wipe before the operator asks again
DUPLICATE_HTTP = 0.3  # an alert redelivered by the action group, an approval clicked twice


@dataclass
class Observed:
    """What the harness read at the start of a tick (tables without the app, Azure through ARM)."""

    statuses: dict[str, dict[str, Any]]  # by lower-cased VM id
    groups: dict[str, dict[str, Any]]  # by lower-cased group name
    workflows: dict[str, dict[str, Any]]  # by lower-cased group name
    items: dict[str, dict[str, Any]]  # Azure's replicated items by name
    offset_s: float  # emulated seconds advanced (the app's clock is ahead of real time by this)


@dataclass
class GroupStory:
    group: FleetGroup
    role: str  # stay, wave1, wave2
    fails_back: bool = False
    alerts: int = 0
    alert_tick: int | None = None
    decision: str = ""
    approved_tick: int | None = None
    failback_tick: int | None = None
    failback_asks: int = 0
    blocked_since: int | None = None
    resumes: int = 0
    workflows: int = 0
    lost_since: int | None = None  # first tick after the wipe the group looked untouched at home (decision lost)
    failover_asks: int = 0
    failover_tick: int | None = None  # the operator's own failover request was accepted
    notes: list[str] = field(default_factory=list)

    @property
    def ends_in_dr(self) -> bool:
        return self.role != "stay" and not self.fails_back

    def note(self, tick: int, text: str) -> None:
        self.notes.append(f"tick {tick}: {text}")


class Scenario:
    """Decides each tick's HTTP requests from what it observes, and learns from their answers."""

    def __init__(self, fleet: Fleet, rng: random.Random, key: str, *, wave1: int, wave2: int, failbacks: int) -> None:
        self.rng = rng
        self.key = key
        order = list(fleet.groups)
        rng.shuffle(order)
        self.stories: dict[str, GroupStory] = {}
        for index, group in enumerate(order):
            role = "wave1" if index < wave1 else "wave2" if index < wave1 + wave2 else "stay"
            self.stories[group.name.lower()] = GroupStory(group, role, fails_back=role == "wave1" and index < failbacks)
        self.wipe_tick: int | None = None
        self.last_action_tick = 0
        self.resumes = 0
        self.approvals_sent = 0
        self.blocks: list[str] = []
        self.home_fabric: dict[str, str] = {}  # item -> the fabric it replicated from when first seen protected

    # ------------------------------------------------------------------------------------------ views

    def role(self, role: str) -> list[GroupStory]:
        return [s for s in self.stories.values() if s.role == role]

    def state(self, view: Observed, story: GroupStory) -> str:
        return str(view.groups.get(story.group.name.lower(), {}).get("state", "no record"))

    def ready(self, view: Observed, story: GroupStory) -> bool:
        """Every member protected in ppg-dr's view, and the group protected: it can fail over."""
        members = [view.statuses.get(vm.id.lower(), {}).get("state") for vm in story.group.vms]
        return all(state == "protected" for state in members) and self.state(view, story) == "protected"

    # ------------------------------------------------------------------------------------------ ticks

    def requests(self, tick: int, view: Observed) -> list[dict[str, Any]]:
        """The HTTP requests of this tick (each carries a ``tag`` the answer comes back with)."""
        wanted: list[dict[str, Any]] = []
        self._note_home_fabrics(view)
        wave1, wave2 = self.role("wave1"), self.role("wave2")
        if all(self.ready(view, s) or s.alert_tick is not None for s in wave1):
            wanted += self._outage(tick, view, wave1)
        wave1_in_dr = bool(wave1) and all(self.state(view, s) == "reprotected" for s in wave1)
        wave2_started = any(s.alert_tick is not None for s in wave2)
        if (wave1_in_dr or wave2_started) and all(self.ready(view, s) or s.alert_tick is not None for s in wave2):
            wanted += self._outage(tick, view, wave2)
        for story in self.stories.values():
            wanted += self._approve(tick, story)
            wanted += self._failback(tick, view, story)
            wanted += self._resume(tick, view, story)
            wanted += self._failover_again(tick, view, story)
        if wanted:
            self.last_action_tick = tick
        return wanted

    def _http(self, method: str, path: str, tag: str, body: Any = None) -> dict[str, Any]:
        return {"kind": "http", "method": method, "path": path, "body": body, "key": self.key, "tag": tag}

    def _outage(self, tick: int, view: Observed, stories: list[GroupStory]) -> list[dict[str, Any]]:
        """An availability alert per group, every VM down for 10 minutes (in the app's clock), until a decision exists."""
        wanted = []
        for story in stories:
            if story.decision or story.alerts >= MAX_ALERTS or (story.alert_tick is not None and story.alert_tick >= tick - 1):
                continue
            minutes_ago = 10 - view.offset_s / 60
            alert = outages.availability_alert([vm.id for vm in story.group.vms], minutes_ago=minutes_ago)
            story.alerts += 1
            story.alert_tick = tick
            story.note(tick, f"availability alert #{story.alerts} posted")
            request = self._http("POST", "/api/alerts", f"alert:{story.group.name}", alert)
            wanted.append(request)
            if self.rng.random() < DUPLICATE_HTTP:
                wanted.append(dict(request))  # the action group retries: the same alert again
        return wanted

    def _approve(self, tick: int, story: GroupStory) -> list[dict[str, Any]]:
        if not story.decision or story.approved_tick is not None:
            return []
        request = self._http(
            "POST", f"/api/decisions/{story.decision}/approve", f"approve:{story.group.name}", {"by": "chaos-oncall"}
        )
        self.approvals_sent += 1
        story.note(tick, f"approve {story.decision}")
        if self.rng.random() < DUPLICATE_HTTP:
            self.approvals_sent += 1
            return [request, dict(request)]
        return [request]

    def _failback(self, tick: int, view: Observed, story: GroupStory) -> list[dict[str, Any]]:
        if not story.fails_back or story.failback_tick is not None or story.failback_asks >= MAX_FAILBACK_ASKS:
            return []
        if self.wipe_tick is None or story.approved_tick is None:
            return []  # failback comes after the wipe: the group record it needs must have been rebuilt
        if self.state(view, story) != "reprotected" and story.failback_asks == 0 and tick - self.wipe_tick < 3:
            return []
        story.failback_asks += 1
        story.note(tick, f"failback requested (group state {self.state(view, story)!r})")
        return [self._http("POST", f"/api/groups/{story.group.name}/failback", f"failback:{story.group.name}")]

    def _note_home_fabrics(self, view: Observed) -> None:
        """Where each item replicates from before any failover: its home (the protection wave runs first)."""
        for name, item in view.items.items():
            if name not in self.home_fabric and item.get("protectionState") == "Protected" and item.get("primaryFabric"):
                self.home_fabric[name] = str(item["primaryFabric"])

    def at_home_untouched(self, view: Observed, story: GroupStory) -> bool:
        """The group is protected at home with no workflow, in ppg-dr and in Azure (every item replicates from home)."""
        if self.state(view, story) not in ("protected", "no record"):
            return False
        if view.workflows.get(story.group.name.lower(), {}).get("phase") not in (None, "done"):
            return False
        for vm in story.group.vms:
            item = view.items.get(vm.item, {})
            home = self.home_fabric.get(vm.item)
            if item.get("protectionState") != "Protected" or not home or item.get("primaryFabric") != home:
                return False
        return True

    def _failover_again(self, tick: int, view: Observed, story: GroupStory) -> list[dict[str, Any]]:
        """A failover approved before the wipe that never reached Azure was lost with the tables: ask for it again."""
        if (
            self.wipe_tick is None
            or not story.ends_in_dr
            or story.approved_tick is None
            or story.approved_tick > self.wipe_tick
            or story.failover_tick is not None
            or story.failover_asks >= MAX_FAILOVER_ASKS
        ):
            return []
        if not self.at_home_untouched(view, story):
            story.lost_since = None
            return []
        if story.lost_since is None:
            story.lost_since = tick
            story.note(tick, "back at home with no workflow after the wipe: the approved failover never reached Azure")
        if tick - story.lost_since < LOST_AFTER_TICKS:
            return []
        story.failover_asks += 1
        story.note(tick, "operator requests the failover again (the approved one was lost with the state)")
        return [self._http("POST", f"/api/groups/{story.group.name}/failover", f"failover:{story.group.name}")]

    def _resume(self, tick: int, view: Observed, story: GroupStory) -> list[dict[str, Any]]:
        """An operator resumes a workflow blocked for more than a tick (after reading why)."""
        if self.state(view, story) != "blocked":
            story.blocked_since = None
            return []
        reason = str(view.groups.get(story.group.name.lower(), {}).get("blocked_reason") or "")
        if story.blocked_since is None:
            story.blocked_since = tick
            story.note(tick, f"blocked: {reason[:300]}")
            self.blocks.append(f"{story.group.name} at tick {tick}: {reason[:300]}")
            return []
        if tick - story.blocked_since < 1 or story.resumes >= MAX_RESUMES:
            return []
        story.resumes += 1
        self.resumes += 1
        story.blocked_since = None
        story.note(tick, "operator resumes the workflow")
        return [self._http("POST", f"/api/groups/{story.group.name}/resume", f"resume:{story.group.name}")]

    # ---------------------------------------------------------------------------------------- answers

    def answered(self, tick: int, item: dict[str, Any], answer: dict[str, Any] | None) -> None:
        """Learn from an HTTP answer (``None``: the worker died before answering: asked again later)."""
        verb, _, name = str(item.get("tag", "")).partition(":")
        story = self.stories.get(name.lower())
        if story is None:
            return
        if answer is None or not answer.get("ok"):
            story.note(tick, f"{verb}: no answer ({'worker died' if answer is None else answer.get('error')})")
            if verb == "alert" and not story.decision:
                story.alert_tick = None
            return
        status, body = answer.get("status"), answer.get("body")
        message = body.get("error", {}).get("message", "") if isinstance(body, dict) and "error" in body else ""
        story.note(tick, f"{verb}: {status} {message[:240]}")
        if verb == "alert":
            self._alert_answer(story, body)
        elif verb == "approve" and (status == 200 or (status == 409 and "approved" in message)) and story.approved_tick is None:
            story.approved_tick = tick
            story.workflows += 1
        elif verb == "failback" and status == 202 and story.failback_tick is None:
            story.failback_tick = tick
            story.workflows += 1
        elif verb == "failover" and status == 202 and story.failover_tick is None:
            story.failover_tick = tick
            story.workflows += 1

    def _alert_answer(self, story: GroupStory, body: Any) -> None:
        for decision in body.get("decisions", []) if isinstance(body, dict) else []:
            ours = str(decision.get("group", "")).lower() == story.group.name.lower()
            if ours and decision.get("decision_id") and decision.get("kind") == "pending-approval" and not story.decision:
                story.decision = str(decision["decision_id"])

    # ------------------------------------------------------------------------------------------- wipe

    def wipe_due(self, tick: int, view: Observed) -> bool:
        """The wipe comes once wave 1 runs in DR and a wave-2 group is in its commit (job in flight), or just after."""
        if self.wipe_tick is not None:
            return False
        wave1, wave2 = self.role("wave1"), self.role("wave2")
        if not wave2 or not any(self.state(view, s) == "reprotected" for s in wave1):
            return False
        for story in wave2:
            workflow = view.workflows.get(story.group.name.lower(), {})
            phase = workflow.get("phase")
            if phase == "commit" and workflow.get("job"):
                return True
            if phase in ("reprotect", "replicating", "verify") and story.approved_tick is not None:
                return tick - story.approved_tick > 6  # the commit window was missed: wipe mid-failover anyway
        return False

    def wipe_conditions(self, view: Observed) -> dict[str, list[str]]:
        """Which groups were protected, failing over (phase and job) and failed over when the tables went."""
        found: dict[str, list[str]] = {"protected": [], "mid-failover": [], "in-dr": []}
        for story in self.stories.values():
            name = story.group.name.lower()
            workflow = view.workflows.get(name, {})
            state = self.state(view, story)
            if workflow.get("phase") not in (None, "done", "blocked"):
                found["mid-failover"].append(name)
            elif state == "reprotected":
                found["in-dr"].append(name)
            elif state == "protected":
                found["protected"].append(name)
        return found

    def done(self, view: Observed) -> bool:
        """Every group where the scenario wants it (the runner also waits for VMs and events)."""
        for story in self.stories.values():
            state = self.state(view, story)
            if story.role == "stay" and state != "protected":
                return False
            if story.ends_in_dr and state != "reprotected":
                return False
            if story.fails_back and (story.failback_tick is None or state != "protected"):
                return False
        return self.wipe_tick is not None or not self.role("wave2")
