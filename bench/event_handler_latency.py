"""Event handler latency: from an Event Grid event to the enable-protection request reaching ARM.

Why: events are how ppg-dr reacts within seconds instead of at the next reconcile tick, so the time
from "the function is called with a tag-write event" to "Site Recovery receives the enable request" is
the product's reaction time, minus Event Grid's own delivery. And most events on a busy subscription
are not ppg-dr's business (storage, network, ... writes): those must cost next to nothing.

Setup (not measured): the demo estate and a protected fleet of 10,000 VMs in 100 PPGs whose statuses one first
reconcile stores (what a running deployment holds: the event path must not pay for them), one VM protected
through the app so the vault is prepared (fabrics, containers, policy, mappings), then N fresh VMs in PPGs
(with their recovery resource groups, as infra/ creates them). Each fresh VM gets a real tag
write (``ppgdr-protect=true``) through the Tags API; the event the emulator emitted for it is handed to
the registered ``resource_events`` function as an ``azure.functions.EventGridEvent``. Measured per
event: the time from the start of the call to the arrival of the enable request (``PUT
.../replicationProtectedItems/{name}``) in the emulator's request log. For the ignored case, a real
storage account write event is delivered N times (fresh ids) and the whole call is timed.

    .venv/bin/python -m bench.event_handler_latency [--small]   # --small: 500 stored statuses, 20 events
"""

from __future__ import annotations

import copy
import time
import uuid
from datetime import datetime
from typing import Any

from bench.common import (
    HttpTraffic,
    ReportCapture,
    arm_requests,
    call_function,
    clear_arm_requests,
    count_requests,
    fire_timer,
    local_services,
    machine,
    parse_args,
    percentile,
    print_table,
    ratio,
    request_arrival,
    say,
    seed_protected_estate,
    status_states,
    write_json,
)
from localdev import estate as est
from localdev.runner import LocalRunner

SUBSCRIPTION = est.SUBSCRIPTION
SOURCE = est.SOURCE_REGION
WARM_UP_VM = "trade-cache-1"


def grid_event(event: dict[str, Any]) -> Any:
    """The ``azure.functions.EventGridEvent`` the Functions host builds from one event of a delivery."""
    import azure.functions as func

    return func.EventGridEvent(
        id=str(event["id"]),
        data=event["data"],
        topic=str(event.get("topic", "")),
        subject=str(event["subject"]),
        event_type=str(event["eventType"]),
        event_time=datetime.fromisoformat(str(event["eventTime"]).replace("Z", "+00:00")) if event.get("eventTime") else None,
        data_version=str(event.get("dataVersion", "")),
    )


def events_for(runner: LocalRunner, subject: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = runner.admin("GET", "/_emulator/events", params={"subject": subject}).json()["value"]
    return found


def prepare_vault(runner: LocalRunner, ctx: Any) -> int:
    """Protect one demo VM through the app (event, then pulses on an advancing clock); returns the rounds.

    The first enable in a vault prepares it step by step (one long-running operation per pulse); the
    measured events must find it ready, as they would in a running deployment.
    """
    from shared.state import vm_status as st

    vm_id = est.DEMO_ESTATE.vm(WARM_UP_VM).id
    est.tag(ctx.clients, vm_id, {"ppgdr-protect": "true"})
    tag_events = [e for e in events_for(runner, vm_id) if e["data"]["operationName"].lower().endswith("tags/write")]
    call_function("resource_events", grid_event(tag_events[-1]))
    for round_no in range(1, 61):
        found = st.get_status(ctx.store, vm_id)
        if found is not None and found.state == st.VmState.PROTECTED:
            return round_no
        runner.advance(60)
        fire_timer("pulse")
    raise RuntimeError(f"the warm-up VM was not protected: {st.get_status(ctx.store, vm_id)}")


def seed_fresh_vms(runner: LocalRunner, ctx: Any, count: int, ppgs: int) -> list[str]:
    """``count`` untagged VMs spread over ``ppgs`` new PPGs (seeded silently: no events)."""
    from azure.mgmt.compute import models as cm

    resources = ctx.clients.resources(SUBSCRIPTION)
    compute = ctx.clients.compute(SUBSCRIPTION)
    ids: list[str] = []
    per_ppg = count // ppgs
    for index in range(ppgs):
        group, ppg = f"lat-{index:02d}", f"lat-ppg-{index:02d}"
        resources.resource_groups.create_or_update(group, {"location": SOURCE})
        resources.resource_groups.create_or_update(f"{group}-asr", {"location": est.TARGET_REGION})  # as infra/ does
        compute.proximity_placement_groups.create_or_update(
            group,
            ppg,
            cm.ProximityPlacementGroup(
                location=SOURCE, properties=cm.ProximityPlacementGroupProperties(proximity_placement_group_type="Standard")
            ),
        )
        runner.admin(
            "POST",
            "/_emulator/seed/vms",
            json={
                "subscriptionId": SUBSCRIPTION,
                "resourceGroup": group,
                "count": per_ppg if index < ppgs - 1 else count - per_ppg * (ppgs - 1),
                "location": SOURCE,
                "namePrefix": f"lat{index:02d}-vm",
                "proximityPlacementGroupId": est.rid(group, "Microsoft.Compute/proximityPlacementGroups", ppg),
            },
        )
        ids += [vm.id for vm in compute.virtual_machines.list(group)]
    return ids


def tag_events(runner: LocalRunner, ctx: Any, vm_ids: list[str]) -> list[dict[str, Any]]:
    """Tag each VM ``ppgdr-protect=true`` through the Tags API; return the emitted tag-write events in order."""
    for vm_id in vm_ids:
        est.tag(ctx.clients, vm_id, {"ppgdr-protect": "true"})
    emitted = runner.admin("GET", "/_emulator/events").json()["value"]
    by_vm: dict[str, dict[str, Any]] = {}
    for event in emitted:
        if str(event["data"].get("operationName", "")).lower() == "microsoft.resources/tags/write":
            subject = str(event["subject"]).lower()
            by_vm[subject.removesuffix("/providers/microsoft.resources/tags/default")] = event
    return [by_vm[vm_id.lower()] for vm_id in vm_ids]


def storage_write_event(runner: LocalRunner, ctx: Any) -> dict[str, Any]:
    """A real storage account write, as the subscription's system topic reports it."""
    account = est.rid("lat-00", "Microsoft.Storage/storageAccounts", "latbenchstore")
    ctx.clients.resources(SUBSCRIPTION).resources.begin_create_or_update_by_id(
        account,
        {"location": SOURCE, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}},
        api_version="2023-05-01",
        polling_interval=0,
    ).result()
    return events_for(runner, account)[-1]


def run(small: bool = False) -> dict[str, Any]:
    """Prepare, deliver N tag events and N ignored events; print and return the figures."""
    count, ppgs = (20, 4) if small else (200, 20)
    fleet_ppgs = 5 if small else 100  # 100 VMs each: 500 or 10,000 stored statuses
    with ReportCapture() as capture, local_services(est.app_settings()) as (runner, env):
        from shared.context import get_context

        ctx = get_context()
        started = time.perf_counter()
        est.seed(ctx.clients)
        seed_protected_estate(runner, ctx.clients, fleet_ppgs, 100, prefix="fleet")
        fire_timer("reconcile")  # stores the fleet's statuses (and creates its groups' recovery plans)
        stored = status_states(ctx.store)
        say(f"fleet of {fleet_ppgs * 100:,} protected VMs stored by a first reconcile ({capture.last}): {stored}")
        rounds = prepare_vault(runner, ctx)
        say(f"demo estate seeded and vault prepared through the app ({rounds} pulses) in {time.perf_counter() - started:.1f}s")
        vm_ids = seed_fresh_vms(runner, ctx, count, ppgs)
        events = tag_events(runner, ctx, vm_ids)
        ignored_event = storage_write_event(runner, ctx)
        say(f"{len(events)} fresh VMs tagged in {ppgs} PPGs; delivering their events one by one")

        endpoints = {"arm": env["PPGDR_ARM_ENDPOINT"], "table": env["PPGDR_STATE_CONNECTION"].split("TableEndpoint=")[1]}
        latencies: list[float] = []
        calls: list[float] = []
        arm_per_event: list[int] = []
        table_per_event: list[int] = []
        table_writes_per_event: list[int] = []
        all_served: list[dict[str, Any]] = []
        outcomes: dict[str, int] = {}
        with HttpTraffic(endpoints) as traffic:
            for event in events:
                clear_arm_requests(runner)
                grid = grid_event(event)
                table_before, table_writes_before = traffic.total("table"), traffic.writes("table")
                wall_start = time.time()
                started = time.perf_counter()
                outcome = str(call_function("resource_events", grid))
                calls.append(time.perf_counter() - started)
                table_per_event.append(traffic.total("table") - table_before)
                table_writes_per_event.append(traffic.writes("table") - table_writes_before)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                served = arm_requests(runner)
                arm_per_event.append(len(served))
                all_served += served
                enable = [r for r in served if r["method"] == "PUT" and "/replicationProtectedItems/" in r["path"]]
                if enable:
                    latencies.append(request_arrival(enable[0]) - wall_start)
        tagged_table = traffic.total("table")
        tagged_arm_wait = traffic.seconds["arm"]
        tagged_table_wait = traffic.seconds["table"]
        say(f"tag events: {outcomes}")

        clear_arm_requests(runner)
        ignored: list[float] = []
        ignored_outcome = ""
        with HttpTraffic(endpoints) as ignored_traffic:
            for _ in range(count):
                event = copy.deepcopy(ignored_event)
                event["id"] = str(uuid.uuid4())
                grid = grid_event(event)
                started = time.perf_counter()
                ignored_outcome = str(call_function("resource_events", grid))
                ignored.append(time.perf_counter() - started)
        ignored_arm = len(arm_requests(runner))

    figures: dict[str, Any] = {
        "machine": machine(),
        "stored_statuses": sum(stored.values()),
        "events": count,
        "enables_seen": len(latencies),
        "outcomes": outcomes,
        "enable_p50_ms": round(1000 * percentile(latencies, 50), 2),
        "enable_p99_ms": round(1000 * percentile(latencies, 99), 2),
        "enable_max_ms": round(1000 * max(latencies, default=float("nan")), 2),
        "call_p50_ms": round(1000 * percentile(calls, 50), 2),
        "call_p99_ms": round(1000 * percentile(calls, 99), 2),
        "arm_requests_per_event_p50": percentile(arm_per_event, 50),
        "arm_requests_per_event_max": max(arm_per_event, default=0),
        "arm_breakdown": count_requests(all_served).breakdown(),
        "table_requests_per_event": round(tagged_table / count, 1),
        "table_requests_per_event_p50": percentile(table_per_event, 50),
        "table_requests_per_event_max": max(table_per_event, default=0),
        "table_writes_per_event_p50": percentile(table_writes_per_event, 50),
        "arm_wait_share": round(tagged_arm_wait / sum(calls), 3) if calls else None,
        "table_wait_share": round(tagged_table_wait / sum(calls), 3) if calls else None,
        "ignored_outcome": ignored_outcome,
        "ignored_p50_ms": round(1000 * percentile(ignored, 50), 4),
        "ignored_p99_ms": round(1000 * percentile(ignored, 99), 4),
        "ignored_arm_requests": ignored_arm,
        "ignored_table_requests": ignored_traffic.total("table"),
    }
    figures["ratio_p50"] = round(figures["enable_p50_ms"] / figures["ignored_p50_ms"], 1) if figures["ignored_p50_ms"] else None
    report(figures)
    return figures


def report(f: dict[str, Any]) -> None:
    """Print both latencies side by side, with the ratio and what an enable costs."""
    print(
        f"\nevent_handler_latency: {f['events']} tag-write events on fresh tagged VMs, {f['events']} ignored events, "
        f"{f['stored_statuses']:,} statuses stored"
    )
    if f["enables_seen"] != f["events"]:
        print(f"  WARNING: only {f['enables_seen']} of {f['events']} events led to an enable request: {f['outcomes']}")
    print_table(
        "side by side (same run)",
        ("", "p50 (ms)", "p99 (ms)", "ARM requests", "Table requests"),
        (
            (
                "tag write -> enable request reaches ARM",
                f"{f['enable_p50_ms']:.1f}",
                f"{f['enable_p99_ms']:.1f}",
                f"{f['arm_requests_per_event_p50']:.0f} per event",
                f"{f['table_requests_per_event']} per event",
            ),
            ("  whole call (tag write)", f"{f['call_p50_ms']:.1f}", f"{f['call_p99_ms']:.1f}", "", ""),
            (
                "ignored event (storage account write), whole call",
                f"{f['ignored_p50_ms']:.3f}",
                f"{f['ignored_p99_ms']:.3f}",
                f"{f['ignored_arm_requests']} in all",
                f"{f['ignored_table_requests']} in all",
            ),
        ),
    )
    print(f"\n  ratio p50 (enable latency / ignored call): {ratio(f['enable_p50_ms'], f['ignored_p50_ms'])}")
    print(
        f"  of the tag-write calls' time: {100 * (f['arm_wait_share'] or 0):.0f}% waiting on ARM, "
        f"{100 * (f['table_wait_share'] or 0):.0f}% waiting on Table storage, the rest in Python"
    )
    print(
        f"  requests per tag event: ARM p50 {f['arm_requests_per_event_p50']:.0f} (max {f['arm_requests_per_event_max']}), "
        f"Table p50 {f['table_requests_per_event_p50']:.0f} ({f['table_writes_per_event_p50']:.0f} of them writes; max "
        f"{f['table_requests_per_event_max']}); the first VM of a PPG also ensures its recovery resource group and PPG"
    )
    print(f"  ARM requests of all {f['events']} tag events: {f['arm_breakdown']}")
    print(f"  outcomes: {f['outcomes']}; ignored: {f['ignored_outcome']}")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "event handler latency")
    write_json(args.json, run(small=args.small))


if __name__ == "__main__":
    main()
