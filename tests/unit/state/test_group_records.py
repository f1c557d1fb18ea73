"""Group records: one typed record, written only through update_group, and never for nothing."""

from __future__ import annotations

import pytest

from shared.arm.keys import name_key
from shared.state.group_records import GroupRecord, GroupState, all_groups, get_group, locked_vm_ids, update_group
from shared.state.store import GROUPS, StateStore
from tests.fakes.tables import FakeTableService

VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/VM-1"


def test_a_group_without_a_record_reads_as_protected_and_unchanged_updates_write_nothing() -> None:
    store = StateStore(FakeTableService())
    assert get_group(store, "sap-ppg") == GroupRecord(name="sap-ppg", state=GroupState.PROTECTED)
    first = update_group(store, "sap-ppg", state=GroupState.FAILING_OVER, member_vm_ids=[VM])
    etag = store.get(GROUPS, "group", name_key("sap-ppg"))
    update_group(store, "SAP-PPG", state=GroupState.FAILING_OVER)  # same value, other spelling of the name
    assert store.get(GROUPS, "group", name_key("sap-ppg")) == etag  # not rewritten
    assert first.state == "failing-over" and set(all_groups(store)) == {"sap-ppg"}


def test_unknown_fields_are_refused_so_writers_cannot_drift_apart() -> None:
    with pytest.raises(TypeError, match="no field plan_memebers"):
        update_group(StateStore(FakeTableService()), "g", plan_memebers=["a"])


def test_vms_a_group_workflow_owns_are_locked_whatever_their_spelling() -> None:
    store = StateStore(FakeTableService())
    update_group(store, "g", state=GroupState.REPROTECTED, member_vm_ids=[VM], recovery_vm_ids=[VM.replace("rg", "rg-asr")])
    locked = locked_vm_ids(store)
    assert locked[VM.lower()] == "group g is reprotected"
    assert locked[VM.replace("rg", "rg-asr").lower()] == "recovery VM of group g"
    update_group(store, "g", state=GroupState.PROTECTED)
    assert VM.lower() not in locked_vm_ids(store)  # members are free again once the group is back home
