"""What the event path, the reconcile tick, the pulse and a workflow step cost in requests, with many statuses stored.

Counts come from where the requests land: ARM requests from the emulator's request log, Table requests from the
SDK's HTTP transport (every Table call of this process goes through it). Thousands of unrelated statuses are
stored first (more than one page of a Table query), so a read of the whole table shows up as extra requests.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from azure.data.tables import TableServiceClient

from localdev import estate as est
from shared.arm.keys import arm_key
from shared.state import vm_status as st
from shared.state.store import VMS
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
OTHER_SUBSCRIPTION = "0f0f0f0f-0000-4000-8000-00000000beef"  # not in PPGDR_SUBSCRIPTIONS: the reconcile leaves these alone
OTHER_REGION = "eastus"  # no region pair: no recovery plan is synced for their groups
STORED = 1_200  # more than one page (1,000 entities) of a Table query


class TableRequests:
    """Table requests of this process, as (method, table, query) tuples, counted at the SDK's transport."""

    def __init__(self, netloc: str) -> None:
        self.netloc = netloc
        self.seen: list[tuple[str, str, str]] = []

    def full_status_reads(self) -> int:
        """Pages of the whole status table (a query on the partition and nothing else)."""
        return sum(1 for method, table, query in self.seen if method == "GET" and table.endswith("vms()") and _whole(query))

    def by_method(self) -> Counter[str]:
        return Counter(method for method, _, _ in self.seen)


def _whole(query: str) -> bool:
    return query.replace("$filter=", "").strip() in ("PartitionKey eq 'vm'", "") or "NextRowKey" in query


@contextmanager
def table_requests(app: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> Iterator[TableRequests]:
    from azure.core.pipeline.transport import RequestsTransport

    netloc = urlsplit(app.ctx.settings.state_connection.split("TableEndpoint=")[1].rstrip(";")).netloc  # type: ignore[union-attr]
    counter = TableRequests(netloc)
    original = RequestsTransport.send

    def send(transport: Any, request: Any, **kwargs: Any) -> Any:
        url = urlsplit(request.url)
        if url.netloc == netloc:
            counter.seen.append((request.method.upper(), unquote(url.path).rsplit("/", 1)[-1], unquote(url.query)))
        return original(transport, request, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(RequestsTransport, "send", send)
        yield counter


def store_unrelated_statuses(app: Ppgdr, count: int) -> None:
    """``count`` statuses of protected VMs in another subscription, in batches (what a large estate leaves)."""
    connection = app.ctx.settings.state_connection
    assert connection is not None
    table = TableServiceClient.from_connection_string(connection).get_table_client(f"{app.ctx.settings.state_table_prefix}{VMS}")
    batch: list[tuple[str, dict[str, Any]]] = []
    for n in range(count):
        group = f"far-{n // 100:03d}"
        vm_id = (
            f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/far{n:05d}"
        )
        status = st.VmStatus(
            vm_id=vm_id,
            vm_name=f"far{n:05d}",
            subscription=OTHER_SUBSCRIPTION,
            resource_group=group,
            location=OTHER_REGION,
            size="Standard_D4s_v5",
            group=group,
            state=st.VmState.PROTECTED,
            item_name=f"far{n:05d}-item",
            source_ppg_id=f"/subscriptions/{OTHER_SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.Compute/proximityPlacementGroups/{group}",
        )
        data = status.to_data()
        entity = {"PartitionKey": "vm", "RowKey": arm_key(vm_id), "data": json.dumps(data, sort_keys=True), **st._columns(data)}
        batch.append(("create", entity))
        if len(batch) == 100:
            table.submit_transaction(batch)
            batch = []
    if batch:
        table.submit_transaction(batch)


def fresh_group(app: Ppgdr, name: str, count: int) -> list[str]:
    """A resource group with a PPG and ``count`` untagged VMs (seeded silently), and its recovery resource group."""
    from azure.mgmt.compute import models as cm

    resources = app.ctx.clients.resources(est.SUBSCRIPTION)
    compute = app.ctx.clients.compute(est.SUBSCRIPTION)
    resources.resource_groups.create_or_update(name, {"location": est.SOURCE_REGION})
    resources.resource_groups.create_or_update(f"{name}-asr", {"location": est.TARGET_REGION})  # what infra/ creates
    compute.proximity_placement_groups.create_or_update(
        name,
        f"{name}-ppg",
        cm.ProximityPlacementGroup(
            location=est.SOURCE_REGION, properties=cm.ProximityPlacementGroupProperties(proximity_placement_group_type="Standard")
        ),
    )
    app.runner.admin(
        "POST",
        "/_emulator/seed/vms",
        json={
            "subscriptionId": est.SUBSCRIPTION,
            "resourceGroup": name,
            "count": count,
            "location": est.SOURCE_REGION,
            "namePrefix": f"{name}-vm",
            "proximityPlacementGroupId": est.rid(name, "Microsoft.Compute/proximityPlacementGroups", f"{name}-ppg"),
        },
    )
    return [str(vm.id) for vm in compute.virtual_machines.list(name)]


def tag_event(app: Ppgdr, vm_id: str) -> dict[str, Any]:
    """Tag the VM for protection through the Tags API and return the event the emulator emitted for it."""
    app.driver.tag(vm_id, {"ppgdr-protect": "true"})
    found = app.runner.admin("GET", "/_emulator/events", params={"subject": vm_id}).json()["value"]
    writes = [e for e in found if str(e["data"].get("operationName", "")).lower() == "microsoft.resources/tags/write"]
    return dict(writes[-1])


@pytest.fixture
def quiet(seeded: Ppgdr) -> Ppgdr:
    """The seeded app with the demo VM trade-cache-1 protected (the vault prepared) and event delivery off."""
    app = seeded
    app.driver.tag(E.vm("trade-cache-1").id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: app.driver.states().get("trade-cache-1") == "protected", label="vault prepared")
    app.runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})  # this test hands events over itself
    return app


def test_a_tag_event_reads_only_its_own_slice_of_the_status_table(quiet: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    """Enable from a tag event: at most 6 Table and 4 ARM requests, none of them a read of every stored status.

    The 6: the VM's statuses and the group locks (reads), the VM's first status (its lease), the journal intent and
    outcome, the status settled (writes). No event record: a VM's event is a hint (issue 15)."""
    app = quiet
    store_unrelated_statuses(app, STORED)
    first, second, third = fresh_group(app, "lat", 3)
    app.runner.deliver(tag_event(app, first))  # the group's first VM ensures its recovery PPG (a GET and a PUT more)
    counts = []
    for vm_id in (second, third):
        event = tag_event(app, vm_id)
        app.emulator.clear_requests()
        with table_requests(app, monkeypatch) as table:
            outcome = app.runner.deliver(event)
        arm = app.emulator.requests()
        assert outcome.startswith("enable"), outcome
        assert [r["method"] for r in arm if "replicationProtectedItems" in r["path"]] == ["GET", "PUT"], arm
        counts.append((len(arm), len(table.seen), table.full_status_reads()))
        assert len(arm) <= 4, [f"{r['method']} {r['path']}" for r in arm]
        assert len(table.seen) <= 6, table.seen
        assert [m for m, _, _ in table.seen].count("GET") == 2, table.seen
        assert table.full_status_reads() == 0, table.seen
    assert counts[0] == counts[1], counts  # the same cost for every VM of the group


def test_the_reconcile_tick_reads_the_status_table_once(quiet: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    app = quiet
    store_unrelated_statuses(app, STORED)
    app.runner.fire_timer("reconcile")  # the first tick after the statuses appeared (writes their columns if stale)
    with table_requests(app, monkeypatch) as table:
        app.runner.fire_timer("reconcile")
    whole_reads = table.full_status_reads()
    assert whole_reads == 2, table.seen  # one read of 1,200+ statuses: two pages
    assert table.by_method()["GET"] - whole_reads <= 12, table.seen  # the other tables, once each
    assert {m for m in table.by_method() if m != "GET"} == set(), table.seen  # nothing written


def test_the_pulse_never_reads_the_whole_status_table(quiet: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pulse step reads only what it concerns: its cost does not grow with the estate."""
    app = quiet
    store_unrelated_statuses(app, STORED)
    with table_requests(app, monkeypatch) as table:
        app.runner.fire_timer("pulse")
    assert table.full_status_reads() == 0, table.seen
    assert len(table.seen) <= 12, table.seen


def test_a_group_failover_looks_at_its_items_with_one_list_per_plan(quiet: Ppgdr) -> None:
    """Look before send in bulk: from the decision to the failover POST, no per-item GET, one filtered list a step."""
    from shared.failover import engine as wfl

    app = quiet
    app.driver.tag(f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod", {"ppgdr-protect": "true"})
    app.runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})
    for vm in ("sap-app-1", "sap-app-2", "sap-db-1"):
        app.runner.deliver(tag_event(app, E.vm(vm).id))
    app.driver.settle(
        lambda: all(app.driver.states().get(n) == "protected" for n in ("sap-app-1", "sap-app-2", "sap-db-1")), label="protect"
    )
    app.runner.fire_timer("reconcile")  # the group's recovery plan
    app.emulator.clear_requests()
    wfl.start_failover(app.ctx, "sap-ppg", reason="test: region outage")
    for _ in range(5):
        app.runner.fire_timer("pulse")
        if any(r["path"].endswith("/unplannedFailover") for r in app.emulator.requests(method="POST")):
            break
    reads = [r for r in app.emulator.requests(method="GET") if "/replicationProtectedItems" in r["path"]]
    assert reads, "the failover looked at no item"
    assert all(r["path"].endswith("/replicationProtectedItems") for r in reads), [r["path"] for r in reads]  # lists only
    assert all("recoveryPlanName" in r["query"].get("$filter", "") for r in reads), [r["query"] for r in reads]
    assert len(reads) == 1, [r["query"] for r in reads]  # the failover step: one list for three members
