"""The benchmarks' wait accounting: overlapping requests (groups advanced side by side) count once."""

from __future__ import annotations

from bench.common import _covered, _target


def test_overlapping_intervals_count_once_and_gaps_not_at_all() -> None:
    assert _covered([]) == 0
    assert _covered([(0.0, 1.0), (0.5, 1.5)]) == 1.5  # two threads waiting at once
    assert _covered([(0.0, 1.0), (2.0, 3.0)]) == 2.0  # Python ran in between
    assert _covered([(0.0, 3.0), (1.0, 2.0), (2.5, 4.0)]) == 4.0  # one inside another


def test_requests_are_named_by_table_or_resource_kind() -> None:
    assert _target("table", "/devstoreaccount1/ppgdrvms(PartitionKey='vm',RowKey='x')") == "ppgdrvms"
    assert _target("table", "/devstoreaccount1/Tables") == "Tables"
    plan = "/subscriptions/s/resourceGroups/r/providers/Microsoft.RecoveryServices/vaults/v/replicationRecoveryPlans/p"
    assert _target("arm", plan) == "replicationRecoveryPlans"
