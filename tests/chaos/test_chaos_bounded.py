"""The chaos suite (issue 13): the bounded profile holds every invariant, and the checks themselves can fail.

The bounded run (``bench.chaos``, profile ``bounded``) starts its own Azurite and emulator, forks worker
processes, kills them at every workflow step boundary, injects faults, loses and duplicates events and
wipes ppg-dr's tables mid-failover; it must hold invariants (a)-(h) of ``docs/chaos.md``. The unit tests
below feed the invariant checks hand-made records, so a check that could never fail would show here.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import chaos
from bench.chaos_invariants import (
    GroupFacts,
    RunRecord,
    WipeFacts,
    check_adopted,
    check_journal,
    check_once,
    check_single_failover,
    classify,
    writes,
)

SEED = 20261313  # any seed holds when the app is right; this one is what `make test` runs

VAULT = "/Subscriptions/s/resourceGroups/dr-ops/providers/Microsoft.RecoveryServices/vaults/v"
ITEM = f"{VAULT}/replicationFabrics/f/replicationProtectionContainers/c/replicationProtectedItems/vm1-abc"
PLAN = f"{VAULT}/replicationRecoveryPlans/ppgdr-g1"


def entry(method: str, path: str, status: int, second: int, **extra: Any) -> dict[str, Any]:
    return {"method": method, "path": path, "status": status, "timestamp": f"2026-01-01T00:00:{second:02d}+00:00", **extra}


def op(kind: str, target: str, start: str, status: str = "Succeeded", job: str = "") -> dict[str, Any]:
    return {"id": job or f"{kind}-{target}-{start}", "kind": f"asr.{kind}", "status": status, "startTime": start,
            "context": {"target": f"{VAULT}/x/{target}"}}  # fmt: skip


def record(log: list[dict[str, Any]], operations: list[dict[str, Any]] | None = None, **changes: Any) -> RunRecord:
    """A run record with one group of one VM, changed where a test needs it."""
    base = RunRecord(
        groups={"g1": GroupFacts("g1", "ppgdr-g1", ("vm1-abc",), workflows=1, plan_growth=1)},
        log=log,
        operations=list(operations or []),
        items_end={},
        tables_end={},
        wipe=None,
        protect_ticks=1,
        settle_ticks=1,
        max_protect_ticks=5,
        max_settle_ticks=5,
        steady_writes=[],
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


# ------------------------------------------------------------------------------------ the checks can fail


def test_writes_are_classified_by_kind_and_entity() -> None:
    assert classify("PUT", ITEM) == ("enable", "vm1-abc")
    assert classify("POST", f"{PLAN}/unplannedFailover") == ("plan-unplannedfailover", "ppgdr-g1")
    assert classify("POST", f"{VAULT}/replicationFabrics/f/replicationProtectionContainers/c/switchprotection") == (
        "switchprotection",
        "c",
    )
    assert classify("GET", ITEM) is None
    assert classify("PATCH", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Resources/tags/default") is None


def test_a_second_enable_put_is_a_violation_but_an_sdk_replay_after_a_gateway_5xx_is_not() -> None:
    replayed = [entry("PUT", ITEM, 504, 0, fault="f", applied=True, appliedStatus=202), entry("PUT", ITEM, 200, 2)]
    violations, figures = check_once(record(replayed))
    assert violations == [] and figures.sent["enable"] == 1 and figures.replays["enable"] == 1
    assert [w.replay for w in writes(replayed)] == [False, True]

    twice = [entry("PUT", ITEM, 202, 0), entry("PUT", ITEM, 200, 50)]
    violations, _ = check_once(record(twice))
    assert [v.invariant for v in violations] == ["a"] and "2 applied, 1 intended" in violations[0].message


def test_a_write_refused_before_it_was_applied_was_not_sent() -> None:
    log = [entry("POST", f"{PLAN}/unplannedFailover", 503, 0, fault="f"), entry("POST", f"{PLAN}/unplannedFailover", 202, 9)]
    violations, figures = check_once(record(log))
    assert violations == [] and figures.sent["plan-unplannedfailover"] == 1
    assert figures.faulted_before_apply["plan-unplannedfailover"] == 1


def test_failing_over_twice_in_one_direction_is_a_violation() -> None:
    twice = [op("UnplannedFailover", "ppgdr-g1", "1"), op("UnplannedFailover", "ppgdr-g1", "2")]
    assert [v.invariant for v in check_single_failover(record([], twice))] == ["c", "c"]
    there_and_back = [
        op("UnplannedFailover", "ppgdr-g1", "1"),
        op("SwitchReplicationGroupProtection", "vm1-abc", "2"),
        op("UnplannedFailover", "ppgdr-g1", "3"),
    ]
    facts = {"g1": GroupFacts("g1", "ppgdr-g1", ("vm1-abc",), workflows=2)}
    assert check_single_failover(record([], there_and_back, groups=facts)) == []


def test_a_job_azure_ran_that_the_journal_does_not_know_is_a_violation() -> None:
    jobs = [op("EnableDr", "vm1-abc", "1", job="job-1"), op("EnableDr", "vm1-abc", "2", job="job-2")]
    journal = [{"operation": "enable-protection", "status": "started", "result": {"job": "job-1"}, "request": {}}]
    violations = check_journal(record([], jobs, tables_end={"journal": journal}))
    assert len(violations) == 1 and "job-2" in violations[0].evidence[0]


def test_a_mapping_job_whose_put_was_replayed_need_not_be_journaled_but_an_enable_job_must() -> None:
    mapping = f"{VAULT}/replicationFabrics/f/replicationNetworks/n/replicationNetworkMappings/map-1"
    log = [
        entry("PUT", mapping, 504, 0, fault="f", applied=True, appliedStatus=202),
        entry("PUT", mapping, 200, 2),
        entry("PUT", ITEM, 504, 3, fault="f", applied=True, appliedStatus=202),
        entry("PUT", ITEM, 200, 5),
    ]
    jobs = [op("NetworkPairing", "map-1", "1", job="job-map"), op("EnableDr", "vm1-abc", "2", job="job-enable")]
    journal = [{"operation": "enable-protection", "status": "started", "result": {"job": ""}, "request": {}}]
    violations = check_journal(record(log, jobs, tables_end={"journal": journal}))
    assert len(violations) == 1 and "job-enable" in violations[0].evidence[0] and "job-map" not in str(violations)


def test_a_group_record_not_rebuilt_after_the_wipe_is_a_violation() -> None:
    wipe = WipeFacts("1", 0, 3, ["ppgdrgroups"], {"protected": ["g1"], "mid-failover": ["g2"], "in-dr": ["g3"]}, {}, [])
    violations = check_adopted(record([], wipe=wipe, tables_end={"groups": [], "audit": []}))
    messages = " | ".join(v.message for v in violations)
    assert "group records not rebuilt" in messages and "no adoption in the audit trail" in messages


def test_only_a_failover_azure_accepted_before_the_wipe_must_be_adopted() -> None:
    """A failover approved but not yet sent when the tables went left no trace: asked again, not adopted."""
    plan2 = f"{VAULT}/replicationRecoveryPlans/ppgdr-g2"
    groups = {
        "g1": GroupFacts("g1", "ppgdr-g1", ("vm1-abc",), workflows=1),
        "g2": GroupFacts("g2", "ppgdr-g2", ("vm2-abc",), workflows=1),
    }
    accepted_g1 = entry("POST", f"{PLAN}/unplannedFailover", 202, 1)
    wipe = WipeFacts("1", 1, 3, ["ppgdrgroups"], {"protected": [], "mid-failover": ["g1", "g2"], "in-dr": []}, {}, [])
    after = [entry("POST", f"{plan2}/unplannedFailover", 202, 9)]  # g2's failover, asked again after the wipe
    tables = {"groups": [{"name": "g1", "state": "protected"}, {"name": "g2", "state": "protected"}], "audit": []}
    violations = check_adopted(record([accepted_g1, *after], groups=groups, wipe=wipe, tables_end=tables))
    unaudited = [v for v in violations if "no adoption in the audit trail" in v.message]
    assert len(unaudited) == 1 and unaudited[0].evidence[0].startswith("g1:"), unaudited


# ------------------------------------------------------------------------------------------ the bounded run


@pytest.mark.timeout(900)  # about a minute on 2 idle cores; a machine shared with other suites can take several
def test_the_bounded_chaos_run_holds_every_invariant() -> None:
    result = chaos.run(chaos.PROFILES["bounded"], SEED)
    figures = result.figures

    # the chaos really happened
    events, kills = figures["events"], figures["kills"]
    assert events["duplicated"] > 0 and events["dropped"] > 0 and events["reordered"] > 0, events
    assert kills["step_boundary"] >= 10 and kills["random"] > 0, kills
    for kind in ("throttle-429", "5xx-before-apply", "5xx-after-apply", "latency", "failing-job"):
        assert figures["faults"].get(kind, 0) > 0, figures["faults"]
    assert figures["wipe"].get("deleted"), "the tables were never wiped"
    conditions = figures["wipe"]["conditions"]
    assert conditions["protected"] and conditions["mid-failover"] and conditions["in-dr"], conditions

    # and ppg-dr held every invariant through it
    report = "\n".join(v.render() for v in result.violations)
    assert result.ok, f"seed {SEED}: {len(result.violations)} violations\n{report}"
