"""A VM's first status as its lease, against a real Azurite: one insert wins, one ETag write settles it (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.data.tables import TableServiceClient

from localdev.processes import Azurite
from shared.state import vm_status as st
from shared.state.store import StateStore
from tests.fixtures.together import at_once

VM = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/app/providers/Microsoft.Compute/virtualMachines/db-1"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def leased(holder: str = "me", until: datetime = NOW + timedelta(minutes=2)) -> st.VmStatus:
    status = st.VmStatus(vm_id=VM, vm_name="db-1", group="erp", state=st.VmState.ENABLING, reason="tagged")
    status.in_flight = st.sending_lease("enable-protection", holder, until)
    return status


def outcome(job: str = "job-1") -> st.VmStatus:
    status = st.VmStatus(vm_id=VM, vm_name="db-1", group="erp", state=st.VmState.ENABLING, reason="tagged")
    status.in_flight = {"operation": "enable-protection", "job": job}
    return status


def test_the_lease_is_live_until_it_expires() -> None:
    assert st.leased_operation(leased(), NOW) == "enable-protection"
    assert st.leased_operation(leased(until=NOW), NOW) is None  # expired: its holder died; the VM is planned again
    assert st.leased_operation(outcome(), NOW) is None  # a job in flight is the journal's business, not a lease
    assert st.leased_operation(None, NOW) is None


def test_of_two_instances_inserting_the_first_status_one_wins(azurite: Azurite, table_prefix: str) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    stores = [StateStore(service, prefix=table_prefix) for _ in range(4)]
    stores[0].table("vms")
    claims = at_once(
        *(
            (lambda i=i: st.claim_first_status(stores[i], leased(f"holder-{i}"), note="enable: tagged"))
            for i in range(len(stores))
        )
    )
    won = [i for i, claim in enumerate(claims) if claim is not None]
    assert len(won) == 1
    stored = st.get_status(stores[0], VM)
    assert stored is not None and stored.in_flight["holder"] == f"holder-{won[0]}"


def test_settling_is_one_write_that_drops_the_lease(store: StateStore) -> None:
    claim = st.claim_first_status(store, leased(), note="enable: tagged")
    assert claim is not None
    written = st.settle_claimed_status(store, claim, outcome(), note="enable: tagged")
    assert written is not None and written.etag != claim.etag
    stored = st.get_status(store, VM)
    assert stored is not None and stored.in_flight == {"operation": "enable-protection", "job": "job-1"}
    assert stored.history == ["enable: tagged"]


def test_settling_after_another_write_that_kept_the_lease_merges(store: StateStore) -> None:
    claim = st.claim_first_status(store, leased(), note="enable: tagged")
    assert claim is not None
    other = leased()
    other.reason = "looked at by another instance"
    st.save_status(store, other, note="seen")  # changes the ETag, keeps the lease
    refused = st.VmStatus.from_data({**outcome().to_data(), "state": st.VmState.REFUSED, "reason": "no target group"})
    st.settle_claimed_status(store, claim, refused, note="enable: no target group")
    stored = st.get_status(store, VM)
    assert stored is not None and stored.state == st.VmState.REFUSED and "holder" not in stored.in_flight
    assert stored.history == ["seen", "enable: no target group"]  # the claim's provisional line is replaced


def test_a_status_whose_lease_is_gone_is_left_as_it_is(store: StateStore) -> None:
    claim = st.claim_first_status(store, leased(), note="enable: tagged")
    assert claim is not None
    finished = outcome()
    finished.in_flight = {}
    finished.state = st.VmState.INITIAL_REPLICATION
    st.save_status(store, finished, note="enable-protection succeeded")  # the pulse saw the job end first
    st.settle_claimed_status(store, claim, outcome(), note="enable: tagged")
    stored = st.get_status(store, VM)
    assert stored is not None and stored.state == st.VmState.INITIAL_REPLICATION and stored.in_flight == {}


def test_a_status_lost_with_its_table_is_written_again(store: StateStore) -> None:
    claim = st.claim_first_status(store, leased(), note="enable: tagged")
    assert claim is not None
    st.delete_status(store, VM)
    st.settle_claimed_status(store, claim, outcome(), note="enable: tagged")
    stored = st.get_status(store, VM)
    assert stored is not None and stored.in_flight["job"] == "job-1" and stored.history == ["enable: tagged"]


def test_releasing_keeps_the_status_without_its_lease(store: StateStore) -> None:
    claim = st.claim_first_status(store, leased(), note="enable: tagged")
    assert claim is not None
    released = outcome()
    released.in_flight, released.state = {}, st.VmState.WAITING
    st.release_claimed_status(store, claim, released)
    stored = st.get_status(store, VM)
    assert stored is not None and stored.state == st.VmState.WAITING and st.leased_operation(stored, NOW) is None
