"""Scoped status reads: one VM and its neighbours, one group, one state; never the whole table for them."""

from __future__ import annotations

from shared.arm.keys import arm_key
from shared.state import vm_status as st
from shared.state.store import VMS, StateStore
from tests.fakes.tables import FakeTableService

RG = "/subscriptions/s/resourceGroups/app/providers/Microsoft.Compute"


def _status(name: str, *, group: str = "", ppg: str = "", avset: str = "", state: str = st.VmState.PROTECTED) -> st.VmStatus:
    return st.VmStatus(
        vm_id=f"{RG}/virtualMachines/{name}",
        vm_name=name,
        group=group,
        state=state,
        item_name=f"{name}-item",
        source_ppg_id=f"{RG}/proximityPlacementGroups/{ppg}" if ppg else "",
        source_availability_set_id=f"{RG}/availabilitySets/{avset}" if avset else "",
    )


def _store(*statuses: st.VmStatus) -> StateStore:
    store = StateStore(FakeTableService())
    for status in statuses:
        st.save_status(store, status, new=True)
    return store


def test_a_vm_and_its_neighbours_come_in_one_query_whatever_the_spelling_of_ids_and_group() -> None:
    store = _store(
        _status("db-1", group="SAP", ppg="sap-ppg"),
        _status("app-1", group="sap", ppg="other-ppg", avset="app-set"),
        _status("app-2", group="web", avset="app-set"),
        _status("cache-1", group="web", ppg="SAP-PPG"),
        _status("far-1", group="far", ppg="far-ppg"),
    )
    own, found = st.statuses_near(
        store,
        f"{RG.upper()}/virtualMachines/DB-1",
        group="Sap",
        ppg_id=f"{RG}/proximityPlacementGroups/sap-ppg",
        availability_set_id=f"{RG}/availabilitySets/APP-SET",
    )
    assert own is not None and own.vm_name == "db-1"
    assert sorted(s.vm_name for s in found) == ["app-1", "app-2", "cache-1", "db-1"]


def test_a_new_vm_has_no_own_status_but_sees_its_group() -> None:
    store = _store(_status("db-1", group="sap"))
    own, found = st.statuses_near(store, f"{RG}/virtualMachines/db-2", group="sap")
    assert own is None and [s.vm_name for s in found] == ["db-1"]


def test_group_and_state_slices() -> None:
    store = _store(
        _status("db-1", group="sap"),
        _status("app-1", group="SAP", state=st.VmState.WAITING),
        _status("web-1", group="web", state=st.VmState.WAITING),
    )
    assert sorted(s.vm_name for s in st.group_statuses(store, "sap")) == ["app-1", "db-1"]
    assert sorted(s.vm_name for s in st.statuses_in_states(store, (st.VmState.WAITING,))) == ["app-1", "web-1"]


def test_records_without_the_current_columns_are_found_by_their_group_and_flagged_for_a_rewrite() -> None:
    store = StateStore(FakeTableService())
    old = _status("db-1", group="sap")
    store.put(VMS, "vm", arm_key(old.vm_id), old.to_data(), state=old.state, group=old.group)  # before the columns
    assert [s.vm_name for s in st.group_statuses(store, "sap")] == ["db-1"]
    assert st.StatusSnapshot.read(store).stale == {old.vm_id.lower()}
    st.save_status(store, old)  # unchanged: nothing written
    assert st.StatusSnapshot.read(store).stale == {old.vm_id.lower()}
    st.save_status(store, old, rewrite=True)
    assert st.StatusSnapshot.read(store).stale == set()


def test_a_first_status_is_inserted_without_a_read_and_a_racing_insert_falls_back_to_an_update() -> None:
    store = _store()
    status = _status("db-1", group="sap")
    first = st.save_status(store, status, new=True, note="enable: tagged")
    assert first is not None and first.data["history"] == ["enable: tagged"]
    again = st.save_status(store, status, new=True, note="enabling -> protected")  # someone inserted it meanwhile
    assert again is not None and again.data["history"] == ["enable: tagged", "enabling -> protected"]


def test_a_snapshot_holds_every_status_compactly_and_follows_writes() -> None:
    store = _store(_status("db-1", group="sap"), _status("app-1", group="sap"))
    snapshot = st.StatusSnapshot.read(store)
    assert len(snapshot) == 2 and sorted(s.vm_name for s in snapshot) == ["app-1", "db-1"]
    db = snapshot.get(f"{RG}/virtualMachines/db-1".lower())
    assert db is not None and db.group == "sap"
    db.state = st.VmState.FAILED
    snapshot.put(db)
    snapshot.discard(f"{RG}/virtualMachines/app-1".lower())
    assert [(s.vm_name, s.state) for s in snapshot] == [("db-1", "failed")]


def test_a_member_entering_or_leaving_its_plan_marks_the_group_and_nothing_else_does() -> None:
    from shared.state.group_records import clear_plan_dirty, plan_dirty_groups

    store = _store()
    enabling = _status("db-1", group="sap", state=st.VmState.ENABLING)
    st.save_status(store, enabling, new=True)
    assert plan_dirty_groups(store) == []  # enabling: not in a plan yet
    protected = st.VmStatus.from_data({**enabling.to_data(), "state": st.VmState.PROTECTED})
    st.save_status(store, protected)
    markers = plan_dirty_groups(store)
    assert [m.data["group"] for m in markers] == ["sap"]
    clear_plan_dirty(store, markers[0])
    st.save_status(store, st.VmStatus.from_data({**protected.to_data(), "reason": "protected as desired"}))
    assert plan_dirty_groups(store) == []  # nothing the plan is made of changed
    st.save_status(store, st.VmStatus.from_data({**protected.to_data(), "group": "erp"}))
    assert sorted(m.data["group"] for m in plan_dirty_groups(store)) == ["erp", "sap"]  # left one plan, joined another
    with st.plans_synced_after():
        st.save_status(store, st.VmStatus.from_data({**protected.to_data(), "group": "crm"}))
    assert sorted(m.data["group"] for m in plan_dirty_groups(store)) == ["erp", "sap"]
