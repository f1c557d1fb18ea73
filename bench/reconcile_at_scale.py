"""Steady-state reconcile at scale: 10,000 protected VMs in 100 PPGs, one ``reconcile`` timer tick.

Why: the reconcile timer is the safety net for lost events, and it runs every 15 minutes over the
whole estate. The product promises it costs O(pages) ARM requests (under 30 for 10,000 VMs) and writes
nothing when nothing changed. This script builds that steady state for real (VMs tagged
``ppgdr-protect=true`` in their PPGs, the vault's items already protecting each VM into the recovery
PPG ppg-dr plans, the status table filled by one first reconcile), then measures one more tick of the
registered ``reconcile`` function: ARM requests (the emulator's request log, reads vs writes), Table
storage requests (the transport) and writes (entity ETags), wall time, and where the time went.

Side by side, in the same run and against the same emulator: the naive way to look at the same
estate, one GET of each VM and one GET of its protected item with the same SDK clients.

    .venv/bin/python -m bench.reconcile_at_scale [--small] [--profile]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import (
    HttpTraffic,
    arm_requests,
    clear_arm_requests,
    count_requests,
    etag_changes,
    fire_timer,
    local_services,
    parse_args,
    print_table,
    ratio,
    say,
    seed_protected_items,
    table_etags,
    write_json,
)
from localdev import estate as est
from localdev.runner import LocalRunner

SUBSCRIPTION = est.SUBSCRIPTION
SOURCE = est.SOURCE_REGION
TARGET = est.TARGET_REGION
TABLE_PREFIX = "ppgdr"
REQUEST_GOAL = 30  # "O(pages)": 10 pages of VMs + 10 of items + a few lists
NAIVE_BUDGET_SECONDS = 45.0  # the naive look stops here and is scaled to the whole estate


@dataclass(frozen=True)
class BenchVm:
    """One seeded VM and the protected item that protects it."""

    resource_group: str
    name: str
    ppg: str
    item_name: str

    @property
    def id(self) -> str:
        return est.rid(self.resource_group, "Microsoft.Compute/virtualMachines", self.name)


class ReportCapture(logging.Handler):
    """Keeps the figures the ``reconcile`` function logs (VMs seen, actions, status writes, errors)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.last: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("reconcile: %d VMs seen") and isinstance(record.args, tuple):
            seen, actions, writes, errors = (int(str(a)) for a in record.args[:4])
            self.last = {"vms_seen": seen, "actions": actions, "status_writes": writes, "errors": errors}


def build_estate(runner: LocalRunner, clients: Any, ppgs: int, per_ppg: int) -> list[BenchVm]:
    """PPGs through the SDK, tagged VMs in bulk, and A2A items protecting each VM as ppg-dr would plan."""
    from azure.mgmt.compute import models as cm

    from shared.arm.ids import compute_id
    from shared.arm.names import auto_target_ppg_name, replicated_item_name

    resources = clients.resources(SUBSCRIPTION)
    compute = clients.compute(SUBSCRIPTION)
    vms: list[BenchVm] = []
    items: list[dict[str, str]] = []
    for index in range(ppgs):
        group, ppg = f"bench-{index:03d}", f"bench-ppg-{index:03d}"
        resources.resource_groups.create_or_update(group, {"location": SOURCE})
        compute.proximity_placement_groups.create_or_update(
            group,
            ppg,
            cm.ProximityPlacementGroup(
                location=SOURCE, properties=cm.ProximityPlacementGroupProperties(proximity_placement_group_type="Standard")
            ),
        )
        prefix = f"b{index:03d}-vm"
        runner.admin(
            "POST",
            "/_emulator/seed/vms",
            json={
                "subscriptionId": SUBSCRIPTION,
                "resourceGroup": group,
                "count": per_ppg,
                "location": SOURCE,
                "namePrefix": prefix,
                "proximityPlacementGroupId": est.rid(group, "Microsoft.Compute/proximityPlacementGroups", ppg),
                "tags": {"ppgdr-protect": "true"},
            },
        )
        target_group = f"{group}-asr"
        target_ppg = compute_id(SUBSCRIPTION, target_group, "proximityPlacementGroups", auto_target_ppg_name(ppg))
        for n in range(per_ppg):
            name = f"{prefix}{n:05d}"
            vm = BenchVm(group, name, ppg, replicated_item_name(est.rid(group, "Microsoft.Compute/virtualMachines", name), name))
            vms.append(vm)
            items.append(
                {
                    "sourceVmId": vm.id,
                    "name": vm.item_name,
                    "recoveryProximityPlacementGroupId": target_ppg,
                    "recoveryResourceGroupId": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{target_group}",
                }
            )
    seed_protected_items(runner, items)
    return vms


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


def profile_tick() -> None:
    """One more tick under cProfile (after the measured one, so it skews nothing): ppg-dr's hot spots."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(fire_timer, "reconcile")
    print("\nprofile of one more tick (cProfile, ppg-dr's own functions by internal time):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(r"(shared|functions)/", 12)


def run(small: bool = False, *, profile: bool = False) -> dict[str, Any]:
    """Build the steady state, measure one reconcile tick and the naive look; print and return the figures."""
    ppgs, per_ppg = (10, 20) if small else (100, 100)
    total_vms = ppgs * per_ppg
    settings = {**est.app_settings(), "PPGDR_STATE_TABLE_PREFIX": TABLE_PREFIX}
    capture = ReportCapture()
    timer_log = logging.getLogger("functions.timers")
    timer_log.addHandler(capture)
    timer_log.setLevel(logging.INFO)
    try:
        with local_services(settings) as (runner, env):
            from shared.context import get_context
            from shared.state import vm_status as st

            ctx = get_context()
            started = time.perf_counter()
            vms = build_estate(runner, ctx.clients, ppgs, per_ppg)
            say(f"seeded {total_vms:,} VMs in {ppgs} PPGs and their protected items in {time.perf_counter() - started:.1f}s")

            started = time.perf_counter()
            fire_timer("reconcile")
            first_seconds = time.perf_counter() - started
            first = dict(capture.last)
            states: dict[str, int] = {}
            for status in st.all_statuses(ctx.store):
                states[status.state] = states.get(status.state, 0) + 1
            say(f"first reconcile (fills the status table) in {first_seconds:.1f}s: {first}; states {states}")
            steady = states.get(st.VmState.PROTECTED, 0) == total_vms and first.get("actions") == 0

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
            arm = count_requests(arm_requests(runner))
            writes = etag_changes(before, table_etags(connection, TABLE_PREFIX))
            say(f"reconcile tick: {tick_seconds:.1f}s")

            clear_arm_requests(runner)
            say(f"naive per-VM look (at most {NAIVE_BUDGET_SECONDS:.0f}s, then scaled to {total_vms:,} VMs)")
            with HttpTraffic(endpoints) as naive_traffic:
                started = time.perf_counter()
                naive_vms = naive_look(ctx.clients, vms, NAIVE_BUDGET_SECONDS)
                naive_seconds = time.perf_counter() - started
            naive = count_requests(arm_requests(runner))
            say(f"naive look: {naive_vms:,} VMs in {naive_seconds:.1f}s")
            if profile:
                profile_tick()
    finally:
        timer_log.removeHandler(capture)

    scale = total_vms / naive_vms if naive_vms else float("nan")
    naive_requests = round(naive.total * scale)
    naive_total_seconds = naive_seconds * scale
    figures: dict[str, Any] = {
        "vms": total_vms,
        "ppgs": ppgs,
        "steady_state": steady,
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
    }
    report(figures)
    return figures


def report(f: dict[str, Any]) -> None:
    """Print the figures side by side, the goals, and what the time went to."""
    print(f"\nreconcile_at_scale: {f['vms']:,} protected VMs in {f['ppgs']} PPGs, one steady-state `reconcile` tick")
    if not f["steady_state"]:
        print(f"  WARNING: not a steady state after the first reconcile: {f['first_reconcile']}")
    naive_note = " (scaled)" if f["naive_scaled"] else ""
    print_table(
        "side by side (same run, same emulator)",
        ("", "reconcile tick", f"naive per-VM GETs{naive_note}", "naive / reconcile"),
        (
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
        extra=[("--profile", "after measuring, profile one more tick and print ppg-dr's hot spots")],
    )
    write_json(args.json, run(small=args.small, profile=args.profile))


if __name__ == "__main__":
    main()
