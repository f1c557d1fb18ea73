"""The emulator faults of a chaos run: which, where, how many, and how many actually hit.

Each rule is a ``POST /_emulator/faults`` body (see ``emulator/admin.py``) with a label for the figures.
Counts are small and finite so the run converges: a rule is consumed by the first matching requests,
whoever sends them, so *which* VM or group a fault hits depends on timing; *that* it hits is what counts,
and the figures say how often each kind did. Request rules aim at what ppg-dr sends (single-item GETs,
job polls, Site Recovery writes), never at the harness's own list reads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

ENABLE = r"/replicationProtectedItems/[^/]+$"
ITEM = r"/replicationProtectedItems/[^/]+$"
JOB = r"/replicationJobs/[^/]+$"
PLAN = r"/replicationRecoveryPlans/[^/]+$"
PLAN_FAILOVER = r"/replicationRecoveryPlans/[^/]+/unplannedFailover$"
PLAN_COMMIT = r"/replicationRecoveryPlans/[^/]+/failoverCommit$"
SWITCH = r"/switchprotection$"
NETWORK_MAPPING = r"/replicationNetworkMappings/[^/]+$"
VM = r"/virtualMachines/[^/]+$"


@dataclass(frozen=True)
class FaultRule:
    label: str  # the figure it counts towards: throttle-429, 5xx-before-apply, 5xx-after-apply, latency, failing-job
    body: dict[str, Any]


def request_rules(rng: random.Random, scale: int) -> list[FaultRule]:
    """Throttling, 5xx before and after the write is applied, and latency, ``scale`` times the base counts."""
    five = (500, 502, 503, 504)

    def status() -> int:
        return rng.choice(five)

    rules = [
        FaultRule("throttle-429", {"method": "GET", "path": JOB, "status": 429, "retryAfter": 1, "count": scale}),
        FaultRule("throttle-429", {"method": "GET", "path": ITEM, "status": 429, "retryAfter": 1, "count": scale}),
        FaultRule("throttle-429", {"method": "PUT", "path": ENABLE, "status": 429, "retryAfter": 1, "count": scale}),
        FaultRule("5xx-before-apply", {"method": "PUT", "path": ENABLE, "status": status(), "count": 2 * scale}),
        FaultRule("5xx-before-apply", {"method": "PUT", "path": PLAN, "status": status(), "count": scale}),
        FaultRule("5xx-before-apply", {"method": "POST", "path": PLAN_FAILOVER, "status": 503, "count": scale}),
        FaultRule("5xx-before-apply", {"method": "POST", "path": PLAN_COMMIT, "status": 502, "count": scale}),
        FaultRule("5xx-before-apply", {"method": "POST", "path": SWITCH, "status": 503, "count": scale}),
        FaultRule("5xx-before-apply", {"method": "GET", "path": JOB, "status": status(), "count": scale}),
        FaultRule("5xx-before-apply", {"method": "GET", "path": VM, "status": 503, "count": scale}),
        FaultRule("5xx-after-apply", {"method": "PUT", "path": ENABLE, "status": 504, "afterApply": True, "count": 2 * scale}),
        FaultRule("5xx-after-apply", {"method": "PUT", "path": PLAN, "status": 504, "afterApply": True, "count": scale}),
        FaultRule("5xx-after-apply", {"method": "PUT", "path": NETWORK_MAPPING, "status": 502, "afterApply": True, "count": 1}),
        FaultRule(
            "5xx-after-apply", {"method": "POST", "path": PLAN_FAILOVER, "status": 504, "afterApply": True, "count": scale}
        ),
        FaultRule("5xx-after-apply", {"method": "POST", "path": PLAN_COMMIT, "status": 504, "afterApply": True, "count": scale}),
        FaultRule("5xx-after-apply", {"method": "POST", "path": SWITCH, "status": 504, "afterApply": True, "count": scale}),
        FaultRule("latency", {"method": "GET", "path": ITEM, "latencyMs": 300, "count": 3 * scale}),
        FaultRule("latency", {"method": "POST", "path": PLAN_FAILOVER, "latencyMs": 1500, "count": 1}),
        FaultRule("latency", {"method": "GET", "path": VM, "latencyMs": 200, "count": 2 * scale}),
    ]
    rng.shuffle(rules)  # rules are matched in order: shuffled, a different rule takes the first match per seed
    return rules


def job_rules(scale: int) -> list[FaultRule]:
    """Jobs Azure accepts and then fails: a commit and a switch protection (the workflow blocks; the operator resumes)."""
    return [
        FaultRule("failing-job", {"operationKind": r"^asr\.CommitFailover$", "code": "InternalError", "count": 1}),
        FaultRule(
            "failing-job", {"operationKind": r"^asr\.SwitchReplicationGroupProtection$", "code": "InternalError", "count": scale}
        ),
    ]


def refused_enable(item: str) -> FaultRule:
    """The enable job of one named item fails inside Azure (45005, after a 202): ppg-dr removes it, retries in an hour."""
    return FaultRule(
        "failing-job",
        {
            "kind": "asyncRefusal",
            "method": "PUT",
            "path": f"/replicationProtectedItems/{item}$",
            "code": "45005",
            "message": "Protection couldn't be enabled for the virtual machine.",
            "count": 1,
        },
    )


class FaultBook:
    """Installs rules and keeps the id -> label map, so hits read back from the emulator count per kind."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.labels: dict[str, str] = {}
        self.hits: dict[str, int] = {}
        self.allocation_refusals: list[dict[str, Any]] = []

    def install(self, rules: list[FaultRule]) -> None:
        for rule in rules:
            described = self.admin("POST", "/_emulator/faults", rule.body)
            self.labels[str(described["id"])] = rule.label

    def refuse_capacity(self, ppg_id: str, sizes: list[str]) -> None:
        """An allocation failure: the DR PPG's datacenter cannot place these sizes (VMs land outside it)."""
        self.admin("POST", "/_emulator/capacity", {"proximityPlacementGroupId": ppg_id, "refusedSizes": sizes})
        self.allocation_refusals.append({"ppg": ppg_id, "sizes": sizes})

    def collect(self) -> None:
        """Add up the hits of every installed rule (before the rules are cleared)."""
        for rule in self.admin("GET", "/_emulator/faults")["value"]:
            label = self.labels.get(str(rule["id"]))
            if label is not None:
                self.hits[label] = self.hits.get(label, 0) + int(rule.get("hits", 0))

    def clear(self) -> None:
        self.collect()
        self.admin("DELETE", "/_emulator/faults")
        self.labels.clear()

    def allocation_fallbacks(self) -> int:
        """VMs a failover placed outside their PPG because of a refused size (the emulator counts them)."""
        return len(self.admin("GET", "/_emulator/capacity").get("fallbacks") or [])
