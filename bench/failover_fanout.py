"""Failover fan-out: a 16-VM group and a 100-VM fleet of groups, recovery plans against per-VM failovers.

Why: when a region goes, ppg-dr fails each DR group over with one ASR recovery plan (one unplanned
failover for all its VMs, boot groups in placement order). The question is what that costs in ARM
requests and in time, from the decision to every failover having been *started* (the unplanned
failover POST accepted by ASR), next to the obvious alternative: one unplanned failover per replicated
item, no recovery plan. Both are measured in one run, against the same emulator, on estates of the
same shape. The per-VM baseline does not fail a group over *together* (no boot order, no single
consistency point, no shutdown of the source first): the comparison is about cost only.

Setup (not measured): two identical sets of groups, one for ppg-dr and one for the baseline: for each
group a resource group with a PPG (created through the SDK) and its VMs tagged ``ppgdr-protect=true``
(``POST /_emulator/seed/vms``: one anchor Standard_E16s_v5, two Standard_E8s_v5, the rest
Standard_D4s_v5, so a plan has three boot groups); the vault gets one A2A item per VM, named as ppg-dr
names items, protecting it into the recovery resource group and PPG ppg-dr plans
(``POST /_emulator/asr/items/bulk`` with ``items``). One ``reconcile`` then fills ppg-dr's status table
and the script checks that every VM is "protected as desired" (no action). This is the state ppg-dr
reaches after protecting the VMs for real through tags and pulses (the end-to-end tests do that for
three VMs), without minutes of emulated initial replication for 236 VMs; recovery plans are *not*
seeded, because ppg-dr creates a group's plan itself in the failover's first phase, and that cost
belongs to the measurement. ASR timings are set explicitly (``POST /_emulator/asr/settings``): recovery
plan create/update jobs finish at once (``setup_s`` 0, the emulator's default). A warm-up group of two
VMs is failed over both ways first (not measured), so neither path pays first-call costs. Beside them, a
protected fleet of 10,000 VMs in 100 PPGs (``--small``: 500) is seeded the same way, so ppg-dr's status table
holds what a running deployment's does and a step that read every status would show it.

Measured, per scenario:
- ppg-dr: ``shared.failover.engine.start_failover`` for each group (the decision, as ``ppgdr failover`` or an
  approval calls it), then the registered ``pulse`` timer, fired back to back, until every group's
  ``POST .../replicationRecoveryPlans/<plan>/unplannedFailover`` was accepted; the emulator clock is
  advanced only when a pulse did not get there (it is not, with instant plan jobs).
- per-VM baseline: ``replication_protected_items.begin_unplanned_failover`` for each item with the same
  SDK clients (``shared.platform.clients.start_operation``, ``polling=False``), one after the other.
ARM requests (the emulator's request log, reads = GET, writes = the rest) from the decision up to the
last accepted failover, and the time from the decision to that acceptance (the log's end time of the
last failover POST minus the wall clock at the decision; same machine clock). For ppg-dr also the
Table storage requests and where the time went (waiting on ARM, on Table storage, in Python).

    .venv/bin/python -m bench.failover_fanout [--small] [--json PATH]
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.common import (
    HttpTraffic,
    arm_requests,
    clear_arm_requests,
    count_requests,
    fire_timer,
    local_services,
    machine,
    parse_args,
    print_table,
    ratio,
    say,
    seed_protected_estate,
    seed_protected_items,
    write_json,
)
from localdev import estate as est
from localdev.runner import LocalRunner

SUBSCRIPTION = est.SUBSCRIPTION
SOURCE = est.SOURCE_REGION
TARGET = est.TARGET_REGION
TABLE_PREFIX = "ppgdr"
# One anchor, two mid-size VMs, the rest small: three boot groups in each plan (placement_order).
SIZES = (("Standard_E16s_v5", 1), ("Standard_E8s_v5", 2), ("Standard_D4s_v5", None))
MAX_PULSES = 20
ADVANCE_SECONDS = 5.0  # emulated time added only when a pulse did not start every failover
PULSE_PERIOD_SECONDS = 60  # the pulse timer's schedule in Azure ("0 * * * * *")
FLEET_GOAL_SECONDS = 1.0  # decision -> 100 VMs' failovers started (issue 15)


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    group_sizes: tuple[int, ...]

    @property
    def vms(self) -> int:
        return sum(self.group_sizes)


@dataclass(frozen=True)
class BenchGroup:
    """One seeded DR group: its PPG (the group's name in ppg-dr) and its items' names."""

    name: str
    resource_group: str
    item_names: tuple[str, ...]


def share(a: float, b: float) -> str:
    """``a / b`` like :func:`bench.common.ratio`, with two decimals below 1 (ppg-dr writes a fraction of per-VM's)."""
    return f"{a / b:.2f}x" if b and a < b else ratio(a, b)


def scenarios(small: bool) -> tuple[Scenario, Scenario]:
    if small:
        return Scenario("group", "8-VM group", (8,)), Scenario("fleet", "20-VM fleet (4 x 5)", (5,) * 4)
    return Scenario("group", "16-VM group", (16,)), Scenario("fleet", "100-VM fleet (10 x 10)", (10,) * 10)


# ------------------------------------------------------------------------------------------------ estate


def build_groups(
    runner: LocalRunner, clients: Any, prefix: str, sizes: Sequence[int]
) -> tuple[list[BenchGroup], list[dict[str, str]]]:
    """Resource groups with a PPG and tagged VMs (mixed sizes); returns the groups and their item specs."""
    from azure.mgmt.compute import models as cm

    from shared.arm.ids import compute_id
    from shared.arm.names import auto_target_ppg_name, replicated_item_name

    resources = clients.resources(SUBSCRIPTION)
    compute = clients.compute(SUBSCRIPTION)
    groups: list[BenchGroup] = []
    items: list[dict[str, str]] = []
    for index, count in enumerate(sizes):
        rg, ppg = f"{prefix}-{index:02d}", f"{prefix}-{index:02d}-ppg"
        resources.resource_groups.create_or_update(rg, {"location": SOURCE})
        resources.resource_groups.create_or_update(f"{rg}-asr", {"location": TARGET})  # the recovery group infra/ creates
        compute.proximity_placement_groups.create_or_update(
            rg,
            ppg,
            cm.ProximityPlacementGroup(
                location=SOURCE, properties=cm.ProximityPlacementGroupProperties(proximity_placement_group_type="Standard")
            ),
        )
        vm_prefix = f"{prefix}{index:02d}-vm"
        start = 0
        for size, wanted in SIZES:
            n = min(wanted if wanted is not None else count, count - start)
            if n <= 0:
                continue
            runner.admin(
                "POST",
                "/_emulator/seed/vms",
                json={
                    "subscriptionId": SUBSCRIPTION,
                    "resourceGroup": rg,
                    "count": n,
                    "startIndex": start,
                    "location": SOURCE,
                    "vmSize": size,
                    "namePrefix": vm_prefix,
                    "proximityPlacementGroupId": est.rid(rg, "Microsoft.Compute/proximityPlacementGroups", ppg),
                    "tags": {"ppgdr-protect": "true"},
                },
            )
            start += n
        target_rg = f"{rg}-asr"
        target_ppg = compute_id(SUBSCRIPTION, target_rg, "proximityPlacementGroups", auto_target_ppg_name(ppg))
        names = []
        for n in range(count):
            vm_name = f"{vm_prefix}{n:05d}"
            item = replicated_item_name(est.rid(rg, "Microsoft.Compute/virtualMachines", vm_name), vm_name)
            names.append(item)
            items.append(
                {
                    "sourceVmId": est.rid(rg, "Microsoft.Compute/virtualMachines", vm_name),
                    "name": item,
                    "recoveryProximityPlacementGroupId": target_ppg,
                    "recoveryResourceGroupId": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{target_rg}",
                }
            )
        groups.append(BenchGroup(ppg, rg, tuple(names)))
    return groups, items


def seed_items(runner: LocalRunner, items: list[dict[str, str]]) -> None:
    seed_protected_items(runner, items)


# --------------------------------------------------------------------------------------------- measuring


def _end(entry: dict[str, Any]) -> float:
    """When the emulator answered a logged request (the log's timestamp is the end of serving)."""
    return datetime.fromisoformat(str(entry["timestamp"])).timestamp()


def _failover_posts(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e for e in entries if e["method"] == "POST" and e["path"].rstrip("/").endswith("/unplannedFailover") and e["status"] < 300
    ]


def _up_to_last_start(entries: list[dict[str, Any]], expected: int) -> tuple[list[dict[str, Any]], float | None]:
    """The requests served up to (and including) the last accepted failover, and that failover's end time."""
    posts = _failover_posts(entries)
    if len(posts) < expected:
        return entries, None
    last = max(_end(e) for e in posts)
    return [e for e in entries if _end(e) <= last], last


def measure_ppgdr(runner: LocalRunner, env: dict[str, str], ctx: Any, groups: Sequence[BenchGroup]) -> dict[str, Any]:
    """Decision (start_failover per group) -> pulses until every plan's unplanned failover is accepted."""
    from shared.failover import engine as wfl
    from shared.failover.workflow_state import load_workflow

    endpoints = {"arm": env["PPGDR_ARM_ENDPOINT"], "table": env["PPGDR_STATE_CONNECTION"].split("TableEndpoint=")[1]}
    clear_arm_requests(runner)
    pulses, advanced = 0, 0.0
    with HttpTraffic(endpoints) as traffic:
        decided = time.time()
        started = time.perf_counter()
        for group in groups:
            wfl.start_failover(ctx, group.name, reason="bench: region outage")
        decision_seconds = time.perf_counter() - started
        decision_targets = Counter(traffic.targets)
        last_end: float | None = None
        while pulses < MAX_PULSES:
            fire_timer("pulse")
            pulses += 1
            entries, last_end = _up_to_last_start(arm_requests(runner), len(groups))
            if last_end is not None:
                break
            runner.advance(ADVANCE_SECONDS)
            advanced += ADVANCE_SECONDS
        drive_seconds = time.perf_counter() - started
    if last_end is None:
        phases = {g.name: getattr(load_workflow(ctx, g.name), "phase", None) for g in groups}
        raise RuntimeError(f"not every recovery plan failover started after {pulses} pulses: {phases}")
    phases = {g.name: load_workflow(ctx, g.name) for g in groups}
    not_started = [name for name, wf in phases.items() if wf is None or wf.phase != "failover" or not wf.job]
    if not_started:
        raise RuntimeError(f"workflows not waiting on their failover job: {not_started}")
    count = count_requests(entries)
    return {
        "emulator_ms_by_kind": {kind: round(ms, 1) for kind, ms in count.served_ms.most_common()},
        "arm_requests": count.total,
        "arm_reads": count.gets,
        "arm_writes": count.writes,
        "arm_breakdown": count.breakdown(),
        "arm_top_kind": count.by_kind.most_common(1)[0],
        "failovers_started": len(_failover_posts(entries)),
        "seconds_to_all_started": round(last_end - decided, 3),
        "decision_seconds": round(decision_seconds, 3),
        "pulses": pulses,
        "emulated_seconds_advanced": advanced,
        "drive_seconds": round(drive_seconds, 3),
        "drive_arm_wait_seconds": round(traffic.seconds["arm"], 3),
        "drive_table_wait_seconds": round(traffic.seconds["table"], 3),
        "drive_python_seconds": round(drive_seconds - traffic.waiting(), 3),
        "drive_table_reads": traffic.reads("table"),
        "drive_table_writes": traffic.writes("table"),
        "decision_table_requests": _table_targets(decision_targets),
        "pulse_table_requests": _table_targets(traffic.targets - decision_targets),
    }


def _table_targets(targets: Counter[str]) -> str:
    """Table requests by method and table, most first: ``GET vmstatus 20, PUT workflows 10``."""
    rows = [(key.split(" ", 1)[1], n) for key, n in targets.most_common() if key.startswith("table ")]
    return ", ".join(f"{what} {n}" for what, n in rows) or "none"


def measure_baseline(runner: LocalRunner, ctx: Any, groups: Sequence[BenchGroup]) -> dict[str, Any]:
    """One unplanned failover per replicated item (no recovery plan), sent one after the other."""
    from azure.mgmt.recoveryservicessiterecovery import models as m

    from shared.arm.names import container_name, fabric_name
    from shared.platform.clients import start_operation

    vault = ctx.clients.vault()
    items = ctx.clients.site_recovery(vault.subscription).replication_protected_items
    body = m.UnplannedFailoverInput(
        properties=m.UnplannedFailoverInputProperties(
            failover_direction="PrimaryToRecovery",
            source_site_operations="Required",  # what ppg-dr sends when the source region still answers
            provider_specific_details=m.A2AUnplannedFailoverInput(),
        )
    )
    names = [name for group in groups for name in group.item_names]
    clear_arm_requests(runner)
    decided = time.time()
    started = time.perf_counter()
    jobs = [
        start_operation(
            items.begin_unplanned_failover, *vault.args, fabric_name(SOURCE), container_name(SOURCE), name, body
        ).job_id
        for name in names
    ]
    drive_seconds = time.perf_counter() - started
    entries, last_end = _up_to_last_start(arm_requests(runner), len(names))
    if last_end is None or not all(jobs):
        raise RuntimeError(f"per-VM failovers: {len(_failover_posts(entries))} of {len(names)} accepted")
    count = count_requests(entries)
    return {
        "arm_requests": count.total,
        "arm_reads": count.gets,
        "arm_writes": count.writes,
        "arm_breakdown": count.breakdown(),
        "failovers_started": len(_failover_posts(entries)),
        "seconds_to_all_started": round(last_end - decided, 3),
        "drive_seconds": round(drive_seconds, 3),
    }


# -------------------------------------------------------------------------------------------------- run


def run(small: bool = False) -> dict[str, Any]:
    """Build both estates, fail each scenario over both ways; print and return the figures."""
    group_scenario, fleet_scenario = scenarios(small)
    warm = Scenario("warmup", "warm-up", (2,))
    settings = {**est.app_settings(), "PPGDR_STATE_TABLE_PREFIX": TABLE_PREFIX}
    figures: dict[str, Any] = {"scenarios": {}}
    with local_services(settings) as (runner, env):
        from shared.context import get_context
        from shared.state import vm_status as st

        ctx = get_context()
        timings = runner.admin("POST", "/_emulator/asr/settings", json={"timings": {"setup_s": 0}}).json()["timings"]
        figures["asr_timings"] = timings
        figures["machine"] = machine()
        started = time.perf_counter()
        estates: dict[tuple[str, str], list[BenchGroup]] = {}
        items: list[dict[str, str]] = []
        for scenario in (warm, group_scenario, fleet_scenario):
            for path, letter in (("ppgdr", "p"), ("baseline", "b")):
                groups, specs = build_groups(runner, ctx.clients, f"fo{letter}-{scenario.key}", scenario.group_sizes)
                estates[(scenario.key, path)] = groups
                items.extend(specs)
        seed_items(runner, items)
        fleet = seed_protected_estate(runner, ctx.clients, 5 if small else 100, 100, prefix="fleet")
        say(
            f"seeded {len(items)} VMs in {sum(len(g) for g in estates.values())} PPGs and their items, and a fleet of "
            f"{len(fleet):,} protected VMs, in {time.perf_counter() - started:.1f}s"
        )

        started = time.perf_counter()
        fire_timer("reconcile")
        statuses = st.all_statuses(ctx.store)
        states: dict[str, int] = {}
        for status in statuses:
            states[status.state] = states.get(status.state, 0) + 1
        say(f"first reconcile (fills the status table) in {time.perf_counter() - started:.1f}s: states {states}")
        if states.get(st.VmState.PROTECTED, 0) != len(items) + len(fleet) or len(statuses) != len(items) + len(fleet):
            raise RuntimeError(f"not every VM is protected as desired after the first reconcile: {states}")
        figures["protected_vms"] = len(statuses)

        say("warm-up (not measured): a 2-VM group both ways")
        measure_ppgdr(runner, env, ctx, estates[("warmup", "ppgdr")])
        measure_baseline(runner, ctx, estates[("warmup", "baseline")])

        for scenario in (group_scenario, fleet_scenario):
            say(f"{scenario.label}: ppg-dr recovery plans ({len(scenario.group_sizes)} groups)")
            ppgdr = measure_ppgdr(runner, env, ctx, estates[(scenario.key, "ppgdr")])
            say(f"  {ppgdr['arm_requests']} ARM requests, all started after {ppgdr['seconds_to_all_started']:.2f}s")
            say(f"{scenario.label}: per-VM baseline ({scenario.vms} items)")
            baseline = measure_baseline(runner, ctx, estates[(scenario.key, "baseline")])
            say(f"  {baseline['arm_requests']} ARM requests, all started after {baseline['seconds_to_all_started']:.2f}s")
            figures["scenarios"][scenario.key] = {
                "label": scenario.label,
                "vms": scenario.vms,
                "groups": len(scenario.group_sizes),
                "ppgdr": ppgdr,
                "baseline": baseline,
                "request_ratio": round(ppgdr["arm_requests"] / baseline["arm_requests"], 2),
                "write_ratio": round(ppgdr["arm_writes"] / baseline["arm_writes"], 3),
                "time_ratio": round(ppgdr["seconds_to_all_started"] / baseline["seconds_to_all_started"], 2),
            }
    report(figures)
    return figures


def report(f: dict[str, Any]) -> None:
    """The side-by-side table, where ppg-dr's requests and time go, and how to read it."""
    print(
        "\nfailover_fanout: from the decision to every unplanned failover accepted by ASR"
        f" ({f['protected_vms']} VMs protected in the vault and ppg-dr's status table)"
    )
    rows = []
    for s in f["scenarios"].values():
        p, b = s["ppgdr"], s["baseline"]
        for label, fig in ((f"ppg-dr, {s['groups']} recovery plan(s)", p), (f"per-VM, {s['vms']} items", b)):
            rows.append(
                (
                    f"{s['label']}: {label}",
                    f"{fig['arm_requests']:,}",
                    f"{fig['arm_reads']:,}",
                    f"{fig['arm_writes']:,}",
                    f"{fig['failovers_started']}",
                    f"{fig['seconds_to_all_started']:.3f}",
                )
            )
        rows.append(
            (
                f"{s['label']}: ppg-dr / per-VM",
                share(p["arm_requests"], b["arm_requests"]),
                share(p["arm_reads"], b["arm_reads"]),
                share(p["arm_writes"], b["arm_writes"]),
                "",
                share(p["seconds_to_all_started"], b["seconds_to_all_started"]),
            )
        )
    print_table(
        "side by side (same run, same emulator, estates of the same shape)",
        ("", "ARM requests", "reads", "writes", "failover POSTs", "s to all started"),
        rows,
    )
    for s in f["scenarios"].values():
        p, b = s["ppgdr"], s["baseline"]
        print(f"\n  {s['label']}")
        print(f"    ppg-dr ARM requests: {p['arm_breakdown']}")
        print(f"    per-VM ARM requests: {b['arm_breakdown']}")
        top_kind, top_n = p["arm_top_kind"]
        parts = {
            "waiting on ARM": p["drive_arm_wait_seconds"],
            "waiting on Table storage": p["drive_table_wait_seconds"],
            "Python in this process": p["drive_python_seconds"],
        }
        top_part = max(parts, key=lambda k: parts[k])
        why = ": each member's item read before sending (look before send)" if top_kind.endswith("ProtectedItems") else ""
        print(
            f"    ppg-dr's requests are dominated by {top_kind} ({top_n} of {p['arm_requests']}{why});"
            f" its time by {top_part} ({parts[top_part]:.3f}s of {p['drive_seconds']:.3f}s)"
        )
        print(
            f"    ppg-dr: {p['pulses']} pulse(s), {p['emulated_seconds_advanced']:.0f} emulated s advanced; decision "
            f"(start_failover x{s['groups']}) {p['decision_seconds']:.3f}s; decision + pulses {p['drive_seconds']:.3f}s = "
            f"ARM {p['drive_arm_wait_seconds']:.3f}s + Table {p['drive_table_wait_seconds']:.3f}s "
            f"({p['drive_table_reads']} reads, {p['drive_table_writes']} writes) + Python {p['drive_python_seconds']:.3f}s"
            " (waits are wall-clock time with a request in flight: overlapping requests count once, and ARM and Table"
            " waits overlap each other when groups advance side by side)"
        )
        served = p.get("emulator_ms_by_kind") or {}
        print(
            f"    the emulator's own time serving them: {sum(served.values()):.0f} ms"
            f" ({', '.join(f'{kind} {ms:.0f}' for kind, ms in served.items())})"
        )
        print(f"    Table requests of the decision: {p.get('decision_table_requests', 'n/a')}")
        print(f"    Table requests of the pulses:   {p.get('pulse_table_requests', 'n/a')}")
    fleet = f["scenarios"].get("fleet")
    if fleet:
        seconds = fleet["ppgdr"]["seconds_to_all_started"]
        print(
            f"\n  goal: under {FLEET_GOAL_SECONDS:.0f} s from the decision to every failover of the {fleet['label']} started, "
            f"with {f['protected_vms']:,} statuses stored ... {'MET' if seconds < FLEET_GOAL_SECONDS else 'NOT MET'} "
            f"({seconds:.3f} s; Table reads {fleet['ppgdr']['drive_table_reads']}, ARM reads {fleet['ppgdr']['arm_reads']})"
        )
    print(
        f"\n  Recovery plan jobs finish at once here (ASR setup_s {f['asr_timings'].get('setup_s')}); pulses are fired back"
        f" to back. In Azure the pulse fires every {PULSE_PERIOD_SECONDS} s, so ppg-dr's first step waits up to that long"
        " after the decision, and a plan create job that is still running when the pulse polls it waits one more pulse."
    )
    print(
        "  The per-VM baseline fails items over one by one, not a group together: no boot order (anchor first), no single"
        " consistency point, no source shutdown decision. It is the floor of what failing N VMs over costs: N writes."
    )


def main() -> None:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "failover fan-out")
    write_json(args.json, run(small=args.small))


if __name__ == "__main__":
    main()
