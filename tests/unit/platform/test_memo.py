"""The per-process memo: facts confirmed in Azure, for a bounded time, one memo per state store."""

from __future__ import annotations

from shared.platform.memo import ProcessMemo, memo_for


def test_a_fact_is_known_until_its_time_runs_out() -> None:
    now = [100.0]
    memo = ProcessMemo(clock=lambda: now[0])
    assert not memo.known("rg")
    memo.remember("rg")
    assert memo.known("rg", 60) and memo.known("rg")
    now[0] += 61
    assert not memo.known("rg", 60)
    assert not memo.known("rg")  # forgotten once expired


def test_each_owner_has_its_own_memo() -> None:
    class Owner:
        pass

    a, b = Owner(), Owner()
    memo_for(a).remember("vault")
    assert memo_for(a).known("vault") and not memo_for(b).known("vault")
