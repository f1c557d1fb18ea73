"""The state store against a real Azurite: keys, ETag concurrency, leases, de-duplication, journal."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from azure.data.tables import TableServiceClient

from localdev.processes import Azurite
from shared.arm.keys import arm_key
from shared.state.store import (
    FAILED,
    INTENT,
    STARTED,
    SUCCEEDED,
    VMS,
    WORKFLOWS,
    ConcurrencyError,
    RecordTooLarge,
    StateStore,
)
from tests.fixtures.azurite import ManualClock
from tests.fixtures.together import at_once

VM = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/app/providers/Microsoft.Compute/virtualMachines/db-1"


def test_ids_spelled_differently_address_one_record(store: StateStore) -> None:
    store.put(VMS, "vm", arm_key(VM), {"state": "protected"})
    other_spelling = VM.replace("/subscriptions/", "/Subscriptions/").replace("db-1", "DB-1")
    record = store.get(VMS, "vm", arm_key(other_spelling))
    assert record is not None and record.data == {"state": "protected"}
    assert len(list(store.query(VMS))) == 1


def test_a_record_over_64_kib_is_stored_in_parts_and_shrinks_cleanly(store: StateStore) -> None:
    """Found by the full chaos profile: a 13-VM group's workflow JSON passed Table storage's 64 KiB per property."""
    rows = [{"vm": f"vm-{i:03}", "note": "x" * 2_000} for i in range(100)]  # ~210 KB of JSON
    store.put(WORKFLOWS, "group", "big", {"placement": rows})
    record = store.get(WORKFLOWS, "group", "big")
    assert record is not None and record.data == {"placement": rows} and record.columns == {}
    raw = store.table(WORKFLOWS).get_entity("group", "big")
    assert {"data", "data1", "data6"} <= set(raw) and all(len(raw[k]) <= 32_000 for k in raw if k.startswith("data"))
    assert [row for row, _, _ in store.scan(WORKFLOWS, "group")] == ["big"]

    written = store.replace_if_unchanged(WORKFLOWS, record, {"placement": rows[:1]}, phase="done")
    assert written is not None
    small = store.table(WORKFLOWS).get_entity("group", "big")
    assert "data1" not in small and store.get(WORKFLOWS, "group", "big").data == {"placement": rows[:1]}  # type: ignore[union-attr]

    with pytest.raises(RecordTooLarge):
        store.put(WORKFLOWS, "group", "huge", {"blob": "y" * 1_000_000})


def test_stale_write_is_refused_and_update_retries_from_fresh_read(store: StateStore) -> None:
    first = store.put(VMS, "vm", "x", {"n": 0})
    store.put(VMS, "vm", "x", {"n": 1})  # someone else writes after our read
    assert store.replace_if_unchanged(VMS, first, {"n": 99}) is None
    seen: list[dict[str, object] | None] = []

    def increment(data: dict[str, object] | None) -> dict[str, object]:
        seen.append(data)
        assert data is not None
        return {"n": int(str(data["n"])) + 1}

    record = store.update(VMS, "vm", "x", increment)
    assert record is not None and record.data == {"n": 2}
    assert seen == [{"n": 1}]


def test_update_returning_none_writes_nothing(store: StateStore) -> None:
    before = store.put(VMS, "vm", "x", {"n": 1})
    after = store.update(VMS, "vm", "x", lambda data: None)
    assert after is not None and after.etag == before.etag


def test_racing_threads_exactly_one_wins_each_round(azurite: Azurite, table_prefix: str) -> None:
    """Eight writers race a compare-and-swap on one entity; each round exactly one swap succeeds."""
    stores = [
        StateStore(TableServiceClient.from_connection_string(azurite.connection_string), prefix=table_prefix) for _ in range(8)
    ]
    stores[0].put(VMS, "race", "one", {"round": 0, "winner": None})
    for round_no in range(1, 6):
        snapshot = stores[0].get(VMS, "race", "one")
        assert snapshot is not None
        barrier = threading.Barrier(len(stores))
        wins: list[int] = []
        lock = threading.Lock()

        def contend(index: int, snapshot=snapshot, barrier=barrier, wins=wins, lock=lock, round_no=round_no) -> None:
            barrier.wait()
            written = stores[index].replace_if_unchanged(VMS, snapshot, {"round": round_no, "winner": index})
            if written is not None:
                with lock:
                    wins.append(index)

        threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(stores))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1, f"round {round_no}: winners {wins}"
        final = stores[0].get(VMS, "race", "one")
        assert final is not None and final.data == {"round": round_no, "winner": wins[0]}


def test_concurrent_updates_lose_no_increment(azurite: Azurite, table_prefix: str) -> None:
    stores = [
        StateStore(TableServiceClient.from_connection_string(azurite.connection_string), prefix=table_prefix) for _ in range(4)
    ]
    stores[0].put(VMS, "count", "c", {"n": 0})

    def bump(s: StateStore) -> None:
        for _ in range(5):
            s.update(VMS, "count", "c", lambda d: {"n": int(d["n"]) + 1} if d else {"n": 1}, attempts=100)

    threads = [threading.Thread(target=bump, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = stores[0].get(VMS, "count", "c")
    assert final is not None and final.data == {"n": 20}


def test_update_gives_up_with_a_clear_error_when_it_keeps_losing(store: StateStore) -> None:
    store.put(VMS, "vm", "busy", {"n": 0})

    def meddle(data: dict[str, object] | None) -> dict[str, object]:
        store.put(VMS, "vm", "busy", {"n": -1})  # another writer always gets in between
        return {"n": 1}

    with pytest.raises(ConcurrencyError, match="still changing"):
        store.update(VMS, "vm", "busy", meddle, attempts=3)


def _store_with_clock(azurite: Azurite, prefix: str, clock: ManualClock) -> StateStore:
    return StateStore(TableServiceClient.from_connection_string(azurite.connection_string), prefix=prefix, clock=clock)


def test_lease_is_exclusive_until_it_expires(azurite: Azurite, table_prefix: str) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    store = _store_with_clock(azurite, table_prefix, clock)
    first = store.acquire_lease("Web-Tier", "instance-a", ttl_seconds=60)
    assert first is not None
    assert store.acquire_lease("web-tier", "instance-b", ttl_seconds=60) is None
    assert store.lease_holder("WEB-TIER") == "instance-a"
    clock.advance(seconds=30)
    renewed = store.acquire_lease("web-tier", "instance-a", ttl_seconds=60)
    assert renewed is not None and renewed.expires > first.expires
    clock.advance(seconds=91)  # instance-a crashed and never released
    taken = store.acquire_lease("web-tier", "instance-b", ttl_seconds=60)
    assert taken is not None and taken.holder == "instance-b"
    # the crashed holder's stale lease can no longer be released or renewed over the new holder's
    assert store.release_lease(renewed) is False
    assert store.acquire_lease("web-tier", "instance-a", ttl_seconds=60) is None
    assert store.release_lease(taken) is True
    assert store.lease_holder("web-tier") is None


def test_lease_race_has_one_winner(azurite: Azurite, table_prefix: str) -> None:
    stores = [
        StateStore(TableServiceClient.from_connection_string(azurite.connection_string), prefix=table_prefix) for _ in range(6)
    ]
    stores[0].table("leases")
    grabs = ((lambda i=i: stores[i].acquire_lease("db-tier", f"holder-{i}", ttl_seconds=60)) for i in range(len(stores)))
    leases = at_once(*grabs)
    winners = [i for i, lease in enumerate(leases) if lease is not None]
    assert len(winners) == 1


def test_event_ids_are_deduplicated_once_done_until_expiry(azurite: Azurite, table_prefix: str) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    store = _store_with_clock(azurite, table_prefix, clock)
    event_id = "831e1650-001e-001b-66ab-eeb76e069631"
    claim = store.claim_event(event_id, 60)
    assert claim is not None
    assert store.claim_event(event_id.upper(), 60) is None  # being handled (ids compare case-insensitively)
    store.finish_event(claim, ttl_hours=1)
    assert store.claim_event(event_id, 60) is None  # done: a duplicate
    other = store.claim_event("another/id#with?odd chars", 60)
    assert other is not None
    store.finish_event(other, ttl_hours=1)
    clock.advance(hours=2)
    assert store.purge_expired_events() == 2
    assert store.claim_event(event_id, 60) is not None


def test_a_failed_or_abandoned_claim_lets_the_redelivery_through(azurite: Azurite, table_prefix: str) -> None:
    """Finding 7 of issue 13: an event whose work failed is handled again when Event Grid redelivers it."""
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    store = _store_with_clock(azurite, table_prefix, clock)
    failed = store.claim_event("evt-1", 60)
    assert failed is not None
    store.release_event(failed)  # the handler raised
    abandoned = store.claim_event("evt-1", 60)
    assert abandoned is not None  # the redelivery is handled ...
    assert store.claim_event("evt-1", 60) is None  # ... once at a time
    clock.advance(seconds=61)  # the instance handling it died
    retried = store.claim_event("evt-1", 60)
    assert retried is not None
    assert store.claim_event("evt-1", 60) is None
    store.finish_event(abandoned)  # the dead claim cannot finish over the new one ...
    store.finish_event(retried)
    clock.advance(seconds=120)
    assert store.claim_event("evt-1", 60) is None  # ... the new one did: done for 24 hours


def test_journal_records_intent_before_and_outcome_after(store: StateStore) -> None:
    entry = store.journal_intent("group:web", "enable:vm-1", "enable-protection", {"vm": "vm-1"})
    assert entry.status == INTENT
    again = store.journal_intent("group:web", "enable:vm-1", "enable-protection", {"vm": "CHANGED"})
    assert again.status == INTENT and again.request == {"vm": "vm-1"}  # a retry sees the first intent
    assert [e.key for e in store.journal_open()] == ["enable:vm-1"]
    started = store.journal_set("group:web", "enable:vm-1", STARTED, {"job": "job-1"})
    assert started.status == STARTED and started.result == {"job": "job-1"}
    assert [e.status for e in store.journal_open()] == [STARTED]
    done = store.journal_set("group:web", "enable:vm-1", SUCCEEDED, {"state": "Protected"})
    assert done.result == {"job": "job-1", "state": "Protected"}
    assert store.journal_open() == []
    store.journal_intent("group:web", "disable:vm-2", "disable-protection", {})
    store.journal_set("group:web", "disable:vm-2", FAILED, {"error": "boom"})
    assert {e.key: e.status for e in store.journal_for("group:web")} == {
        "enable:vm-1": SUCCEEDED,
        "disable:vm-2": FAILED,
    }
    with pytest.raises(KeyError):
        store.journal_set("group:web", "never-written", SUCCEEDED)


def test_a_wiped_table_is_created_again_by_the_next_write(azurite: Azurite, table_prefix: str) -> None:
    """State lost under a running instance (a wiped table, a new account): writes work again, reads see nothing."""
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = StateStore(service, prefix=table_prefix)
    store.put(VMS, "vm", "a", {"n": 1})
    written = store.update(VMS, "vm", "b", lambda _: {"n": 2})
    assert written is not None
    service.delete_table(f"{table_prefix}{VMS}")  # the cached client now points at nothing

    assert store.get(VMS, "vm", "a") is None
    assert list(store.query(VMS)) == []
    assert store.replace_if_unchanged(VMS, written, {"n": 3}) is None  # the record went with its table
    assert store.update(VMS, "vm", "b", lambda data: {"n": 4} if data is None else None) is not None
    store.put(VMS, "vm", "c", {"n": 5})
    assert store.insert(VMS, "vm", "d", {"n": 6}) is not None
    assert {r.row: r.data["n"] for r in store.query(VMS)} == {"b": 4, "c": 5, "d": 6}
    assert store.tables_recreated == 1
    lease = store.acquire_lease("sap", "me", 30)
    service.delete_table(f"{table_prefix}leases")
    assert store.acquire_lease("sap", "other", 30) is not None  # the lease went with the table: anyone may take it
    assert lease is not None


def test_renewing_a_lease_costs_nothing_while_half_its_time_is_left_then_one_swap(
    azurite: Azurite, table_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    store = _store_with_clock(azurite, table_prefix, clock)
    first = store.acquire_lease("erp", "me", ttl_seconds=60)
    assert first is not None
    calls: list[str] = []
    for name in ("get", "insert", "replace_if_unchanged"):
        real = getattr(store, name)
        monkeypatch.setattr(store, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    clock.advance(seconds=10)
    again = store.acquire_lease("erp", "me", ttl_seconds=60)
    assert calls == [] and again is not None and again.etag == first.etag  # 50 s of 60 left: nothing written
    clock.advance(seconds=25)
    renewed = store.acquire_lease("erp", "me", ttl_seconds=60)
    assert calls == ["replace_if_unchanged"]  # 25 s left: one swap on the ETag this store wrote
    assert renewed is not None and renewed.etag != first.etag and renewed.expires > first.expires
    monkeypatch.undo()
    assert store.release_lease(first)  # the lease object of the first take still gives it back
    assert store.lease_holder("erp") is None
    assert store.acquire_lease("erp", "other", ttl_seconds=60) is not None
