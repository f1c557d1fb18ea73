"""Steady-state reconcile at scale: 10,000 protected VMs in 100 PPGs, one ``reconcile`` timer tick.

Why: the reconcile timer is the safety net for lost events, and it runs every 15 minutes over the
whole estate. The product promises it costs O(pages) ARM requests (under 30 for 10,000 VMs) and writes
nothing when nothing changed. This script builds that steady state for real (VMs tagged
``ppgdr-protect=true`` in their PPGs, the vault's items already protecting each VM into the recovery
PPG ppg-dr plans, the status table filled by one first reconcile), then measures one more tick of the
registered ``reconcile`` function: ARM requests (the emulator's request log, reads vs writes), Table
storage requests (the transport) and writes (entity ETags), wall time, and where the time went.

Side by side, in the same run and against the same emulator: the **floor** (the same list pages the tick
fetched, fetched again through the same clients and only JSON-decoded, plus one read of the status table, each
record decoded: what any implementation that looks at everything must pay) and the naive way to look at the
same estate, one GET of each VM and one GET of its protected item with the same SDK clients.

    .venv/bin/python -m bench.reconcile_at_scale [--small] [--profile]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bench import profiling
from bench.common import (
    BenchVm,
    HttpTraffic,
    ReportCapture,
    arm_requests,
    clear_arm_requests,
    count_requests,
    etag_changes,
    fire_timer,
    local_services,
    machine,
    parse_args,
    print_table,
    ratio,
    say,
    seed_protected_estate,
    status_states,
    table_etags,
    write_json,
)
from localdev import estate as est

SUBSCRIPTION = est.SUBSCRIPTION
SOURCE = est.SOURCE_REGION
TARGET = est.TARGET_REGION
TABLE_PREFIX = "ppgdr"
REQUEST_GOAL = 30  # "O(pages)": 10 pages of VMs + 10 of items + a few lists
FLOOR_GOAL = 2.5  # the tick within 2.5x the floor (issue 15)
NAIVE_BUDGET_SECONDS = 45.0  # the naive look stops here and is scaled to the whole estate


def floor_look(ctx: Any, entries: Sequence[dict[str, Any]]) -> tuple[float, int]:
    """Fetch every page the tick fetched (its logged GETs), JSON-decode it, then read and decode the status table."""
    import json

    from azure.core.rest import HttpRequest

    from shared.state.store import VMS

    started = time.perf_counter()
    client = ctx.clients.compute(SUBSCRIPTION)  # any management client: the same pipeline and credential
    fetched = 0
    for entry in entries:
        if entry["method"] != "GET":
            continue
        query = "&".join(f"{k}={v}" for k, v in entry["query"].items())
        response = client.send_request(HttpRequest("GET", f"{entry['path']}?{query}"))
        json.loads(response.text())
        fetched += 1
    for _, raw, _ in ctx.store.scan(VMS, "vm"):
        json.loads(raw)
    return time.perf_counter() - started, fetched


def naive_look(clients: Any, vms: Sequence[BenchVm], budget_seconds: float) -> int:
    """What a per-VM implementation reads: the VM, then its protected item, one GET each.

    Stops after ``budget_seconds`` (keeps the run short when each request is slow); returns how many
    VMs it looked at, so the caller can scale the measured figures to the whole estate.
    """
    from shared.arm.names import container_name, fabric_name

    vault = clients.vault()
    compute = clients.compute(SUBSCRIPTION)
    items = clients.site_recovery(vault.subscription).replication_protected_items
    deadline = time.perf_counter() + budget_seconds
    for done, vm in enumerate(vms):
        if time.perf_counter() > deadline:
            return done
        compute.virtual_machines.get(vm.resource_group, vm.name)
        items.get(*vault.args, fabric_name(SOURCE), container_name(SOURCE), vm.item_name)
    return len(vms)


def run(small: bool = False, *, profile: bool = False) -> dict[str, Any]:
    """Build the steady state, measure one reconcile tick, the floor and the naive look; print and return the figures."""
    ppgs, per_ppg = (10, 20) if small else (100, 100)
    total_vms = ppgs * per_ppg
    settings = {**est.app_settings(), "PPGDR_STATE_TABLE_PREFIX": TABLE_PREFIX}
    profile_figures: dict[str, Any] | None = None
    with ReportCapture() as capture, local_services(settings) as (runner, env):
        from shared.context import get_context

        ctx = get_context()
        started = time.perf_counter()
        vms = seed_protected_estate(runner, ctx.clients, ppgs, per_ppg)
        say(f"seeded {total_vms:,} VMs in {ppgs} PPGs and their protected items in {time.perf_counter() - started:.1f}s")

        started = time.perf_counter()
        fire_timer("reconcile")  # fills the status table and creates each group's recovery plan (also runs the preflight)
        first_seconds = time.perf_counter() - started
        first = dict(capture.last)
        states = status_states(ctx.store)
        say(f"first reconcile (fills the status table) in {first_seconds:.1f}s: {first}; states {states}")

        connection = env["PPGDR_STATE_CONNECTION"]
        endpoints = {"arm": env["PPGDR_ARM_ENDPOINT"], "table": connection.split("TableEndpoint=")[1]}
        before = table_etags(connection, TABLE_PREFIX)
        clear_arm_requests(runner)
        say("measuring one steady-state reconcile tick")
        with HttpTraffic(endpoints) as traffic:
            started = time.perf_counter()
            fire_timer("reconcile")
            tick_seconds = time.perf_counter() - started
        tick_report = dict(capture.last)
        served = arm_requests(runner)
        arm = count_requests(served)
        writes = etag_changes(before, table_etags(connection, TABLE_PREFIX))
        say(f"reconcile tick: {tick_seconds:.1f}s")
        # Steady: every VM protected as desired, and the measured tick changed nothing (no action, no write).
        steady = (
            states.get("protected", 0) == total_vms
            and tick_report.get("actions") == 0
            and arm.writes == 0
            and writes["total"] == 0
        )

        clear_arm_requests(runner)
        floor_seconds, floor_pages = floor_look(ctx, served)
        say(f"floor (the tick's {floor_pages} pages fetched and decoded, the status table read): {floor_seconds:.1f}s")

        clear_arm_requests(runner)
        say(f"naive per-VM look (at most {NAIVE_BUDGET_SECONDS:.0f}s, then scaled to {total_vms:,} VMs)")
        with HttpTraffic(endpoints) as naive_traffic:
            started = time.perf_counter()
            naive_vms = naive_look(ctx.clients, vms, NAIVE_BUDGET_SECONDS)
            naive_seconds = time.perf_counter() - started
        naive = count_requests(arm_requests(runner))
        say(f"naive look: {naive_vms:,} VMs in {naive_seconds:.1f}s")
        if profile:
            say("profiling one more tick (py-spy, after the measurement, so it skews nothing)")
            with profiling.sampled() as sampled:
                fire_timer("reconcile")
            profile_figures = profiling.report(sampled, "where one more tick's time went")

    scale = total_vms / naive_vms if naive_vms else float("nan")
    naive_requests = round(naive.total * scale)
    naive_total_seconds = naive_seconds * scale
    figures: dict[str, Any] = {
        "machine": machine(),
        "vms": total_vms,
        "ppgs": ppgs,
        "steady_state": steady,
        "states": states,
        "first_reconcile_seconds": round(first_seconds, 2),
        "first_reconcile": first,
        "tick": tick_report,
        "reconcile_arm_requests": arm.total,
        "reconcile_arm_gets": arm.gets,
        "reconcile_arm_writes": arm.writes,
        "reconcile_arm_breakdown": arm.breakdown(),
        "reconcile_table_reads": traffic.reads("table"),
        "reconcile_table_write_requests": traffic.writes("table"),
        "reconcile_table_entity_writes": writes["total"],
        "reconcile_seconds": round(tick_seconds, 3),
        "reconcile_arm_wait_seconds": round(traffic.seconds["arm"], 3),
        "reconcile_table_wait_seconds": round(traffic.seconds["table"], 3),
        "reconcile_python_seconds": round(tick_seconds - traffic.seconds["arm"] - traffic.seconds["table"], 3),
        "floor_seconds": round(floor_seconds, 3),
        "floor_pages": floor_pages,
        "floor_ratio": round(tick_seconds / floor_seconds, 2) if floor_seconds else None,
        "naive_vms_measured": naive_vms,
        "naive_arm_requests_measured": naive.total,
        "naive_arm_writes_measured": naive.writes,
        "naive_seconds_measured": round(naive_seconds, 3),
        "naive_arm_requests": naive_requests,
        "naive_seconds": round(naive_total_seconds, 2),
        "naive_scaled": naive_vms < total_vms,
        "arm_ms_per_request": round(1000 * naive_traffic.seconds["arm"] / naive.total, 2) if naive.total else None,
        "request_ratio": round(naive_requests / arm.total, 1) if arm.total else None,
        "time_ratio": round(naive_total_seconds / tick_seconds, 2) if tick_seconds else None,
        "goal_requests_met": arm.total < REQUEST_GOAL,
        "goal_zero_writes_met": arm.writes == 0 and writes["total"] == 0,
        "goal_floor_met": bool(floor_seconds) and tick_seconds <= FLOOR_GOAL * floor_seconds,
        "profile": profile_figures,
    }
    report(figures)
    return figures


def report(f: dict[str, Any]) -> None:
    """Print the figures side by side, the goals, and what the time went to."""
    print(f"\nreconcile_at_scale: {f['vms']:,} protected VMs in {f['ppgs']} PPGs, one steady-state `reconcile` tick")
    if not f["steady_state"]:
        print(f"  WARNING: the measured tick was not a steady state: statuses {f['states']}, its report {f['tick']}")
    naive_note = " (scaled)" if f["naive_scaled"] else ""
    print_table(
        "side by side (same run, same emulator)",
        ("", "reconcile tick", f"naive per-VM GETs{naive_note}", "naive / reconcile"),
        (
            (
                "floor: the tick's pages fetched + decoded, status table read (s)",
                f"{f['floor_seconds']:.2f}",
                "",
                f"tick / floor {ratio(f['reconcile_seconds'], f['floor_seconds'])}",
            ),
            (
                "ARM requests (GET / write)",
                f"{f['reconcile_arm_requests']:,} ({f['reconcile_arm_gets']:,} / {f['reconcile_arm_writes']:,})",
                f"{f['naive_arm_requests']:,}",
                ratio(f["naive_arm_requests"], f["reconcile_arm_requests"]),
            ),
            (
                "wall time (s)",
                f"{f['reconcile_seconds']:.2f}",
                f"{f['naive_seconds']:.2f}",
                ratio(f["naive_seconds"], f["reconcile_seconds"]),
            ),
            ("  waiting on ARM (s)", f"{f['reconcile_arm_wait_seconds']:.2f}", "", ""),
            ("  waiting on Table storage (s)", f"{f['reconcile_table_wait_seconds']:.2f}", "", ""),
            ("  in Python (s)", f"{f['reconcile_python_seconds']:.2f}", "", ""),
            (
                "Table requests (reads / writes)",
                f"{f['reconcile_table_reads']:,} / {f['reconcile_table_write_requests']:,}",
                "0",
                "",
            ),
            ("Table entities written", f"{f['reconcile_table_entity_writes']:,}", "0", ""),
        ),
    )
    if f["naive_scaled"]:
        print(
            f"\n  naive: measured {f['naive_vms_measured']:,} of {f['vms']:,} VMs ({f['naive_arm_requests_measured']:,} GETs in "
            f"{f['naive_seconds_measured']:.1f}s), scaled linearly (2 GETs per VM, every VM costs the same)"
        )
    print(f"  ARM round trip seen by the SDK: {f['arm_ms_per_request']} ms per GET (naive look)")
    print(f"  reconcile ARM requests: {f['reconcile_arm_breakdown']}")
    print(f"  reconcile's own report: {f['tick']}")
    print(f"  first reconcile (fills the status table, not measured above): {f['first_reconcile_seconds']:.1f}s")
    met = {True: "MET", False: "NOT MET"}
    print(
        f"\n  goal: under {REQUEST_GOAL} ARM requests (O(pages)) ... "
        f"{met[f['goal_requests_met']]} ({f['reconcile_arm_requests']})"
    )
    print(
        f"  goal: zero writes when nothing changed ... {met[f['goal_zero_writes_met']]} "
        f"(ARM writes {f['reconcile_arm_writes']}, Table entities written {f['reconcile_table_entity_writes']})"
    )
    print(
        f"  goal: within {FLOOR_GOAL}x the floor ... {met[f['goal_floor_met']]} "
        f"({f['reconcile_seconds']:.2f}s against {f['floor_seconds']:.2f}s: {ratio(f['reconcile_seconds'], f['floor_seconds'])})"
    )
    parts = {
        "waiting on ARM": f["reconcile_arm_wait_seconds"],
        "waiting on Table storage": f["reconcile_table_wait_seconds"],
        "Python in this process": f["reconcile_python_seconds"],
    }
    top = max(parts, key=lambda k: parts[k])
    print(f"  the tick's time is dominated by: {top} ({parts[top]:.2f}s of {f['reconcile_seconds']:.2f}s)")


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0] if __doc__ else "reconcile at scale",
        extra=[("--profile", "after measuring, sample one more tick with py-spy (whole process) and say where the time went")],
    )
    write_json(args.json, run(small=args.small, profile=args.profile))


if __name__ == "__main__":
    main()
