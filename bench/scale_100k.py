"""A reconcile tick over 100,000 VMs: its peak memory and time, measured in a fresh worker process.

Why: the reconcile timer lists the whole estate every 15 minutes inside one Functions invocation, which has a
memory budget (a Consumption instance has 1.5 GB for everything it runs) and a timeout (``functionTimeout`` in
host.json: 5 minutes). The goal is a steady-state tick over 100,000 VMs under 512 MiB peak RSS and well inside the
timeout.

Setup (not measured): 1,000 resource groups, each with a PPG, its recovery resource group and 100 VMs tagged
``ppgdr-protect=true``; the vault gets one A2A item per VM protecting it as ppg-dr plans (as in
``bench.reconcile_at_scale``, ten times larger). One first ``reconcile`` in this process fills the status table
(100,000 statuses) and creates each group's recovery plan; it is timed but it is not a steady state.

Measured: the registered ``reconcile`` function run once in a **fresh child interpreter**, as a Functions worker
runs it: it imports ``function_app``, builds its context from the environment and calls the timer function. The
child reports its own peak RSS (``VmHWM`` in ``/proc/self/status``), its RSS after importing and building the
context (the floor of any invocation), the tick's wall time and the tick's own report. The child runs twice: the
first pays the cold imports of the SDKs, the second is reported as well. Side by side: the same tick over the
10,000-VM estate of ``bench.reconcile_at_scale`` is not repeated here; see the README table.

    .venv/bin/python -m bench.scale_100k [--small] [--json PATH]   # --small: 5,000 VMs
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from bench.common import (
    ReportCapture,
    fire_timer,
    local_services,
    machine,
    own_peak_rss_mib,
    parse_args,
    print_table,
    say,
    seed_protected_estate,
    status_states,
    write_json,
)
from localdev import estate as est
from localdev.processes import REPO_ROOT

TABLE_PREFIX = "ppgdr"
RSS_GOAL_MIB = 512
TIMEOUT_SECONDS = 300  # host.json functionTimeout "00:05:00"

CHILD = """
import json, logging, time
from bench.common import ReportCapture, fire_timer, own_peak_rss_mib

with ReportCapture() as capture:
    import function_app  # noqa: F401  (what the worker imports first)
    from shared.context import get_context

    get_context()
    ready_mib = own_peak_rss_mib()
    started = time.perf_counter()
    fire_timer("reconcile")
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_rss_mib": own_peak_rss_mib(), "ready_rss_mib": ready_mib, "report": capture.last}))
"""


def worker_tick() -> dict[str, Any]:
    """One reconcile in a fresh interpreter (this process's environment points it at the local Azure)."""
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"the worker tick failed ({done.returncode}): {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run(small: bool = False, *, ppgs: int | None = None) -> dict[str, Any]:
    ppgs = ppgs or (50 if small else 1_000)
    total = ppgs * 100
    settings = {**est.app_settings(), "PPGDR_STATE_TABLE_PREFIX": TABLE_PREFIX}
    with ReportCapture() as capture, local_services(settings) as (runner, _env):
        from shared.context import get_context

        ctx = get_context()
        started = time.perf_counter()
        seed_protected_estate(runner, ctx.clients, ppgs, 100, progress=True)
        say(f"seeded {total:,} VMs in {ppgs:,} PPGs and their protected items in {time.perf_counter() - started:.0f}s")
        started = time.perf_counter()
        fire_timer("reconcile")
        first_seconds = time.perf_counter() - started
        first = dict(capture.last)
        states = status_states(ctx.store)
        say(f"first reconcile (fills {sum(states.values()):,} statuses) in {first_seconds:.0f}s: {first}; states {states}")
        say("steady-state tick in a fresh worker process (cold imports)")
        cold = worker_tick()
        say(f"  {cold}")
        say("steady-state tick in a fresh worker process, again")
        warm = worker_tick()
        say(f"  {warm}")
        bench_rss = own_peak_rss_mib()
    figures: dict[str, Any] = {
        "machine": machine(),
        "vms": total,
        "ppgs": ppgs,
        "states": states,
        "first_reconcile_seconds": round(first_seconds, 1),
        "first_reconcile": first,
        "ticks": [cold, warm],
        "tick_seconds": round(max(cold["seconds"], warm["seconds"]), 2),
        "tick_peak_rss_mib": round(max(cold["peak_rss_mib"], warm["peak_rss_mib"]), 1),
        "ready_rss_mib": round(min(cold["ready_rss_mib"], warm["ready_rss_mib"]), 1),
        "bench_process_rss_mib": round(bench_rss, 1),
        "steady": all(t["report"].get("actions") == 0 and t["report"].get("status_writes") == 0 for t in (cold, warm)),
    }
    figures["goal_rss_met"] = figures["tick_peak_rss_mib"] < RSS_GOAL_MIB
    figures["goal_timeout_met"] = figures["tick_seconds"] < TIMEOUT_SECONDS
    report(figures)
    return figures


def report(f: dict[str, Any]) -> None:
    print(f"\nscale_100k: one steady-state reconcile tick over {f['vms']:,} protected VMs in {f['ppgs']:,} PPGs")
    if not f["steady"]:
        print(f"  WARNING: a measured tick was not a steady state: {[t['report'] for t in f['ticks']]}")
    print_table(
        "fresh worker process per tick (imports function_app, builds its context, fires `reconcile`)",
        ("", "tick (s)", "peak RSS (MiB)", "RSS before the tick (MiB)", "VMs seen", "actions", "status writes"),
        [
            (
                label,
                f"{t['seconds']:.1f}",
                f"{t['peak_rss_mib']:.0f}",
                f"{t['ready_rss_mib']:.0f}",
                f"{t['report'].get('vms_seen', '?'):,}",
                t["report"].get("actions", "?"),
                t["report"].get("status_writes", "?"),
            )
            for label, t in zip(("first worker", "second worker"), f["ticks"], strict=True)
        ],
    )
    met = {True: "MET", False: "NOT MET"}
    print(f"\n  goal: peak RSS under {RSS_GOAL_MIB} MiB ... {met[f['goal_rss_met']]} ({f['tick_peak_rss_mib']:.0f} MiB)")
    print(
        f"  goal: inside the Functions timeout ({TIMEOUT_SECONDS} s, host.json) ... {met[f['goal_timeout_met']]} "
        f"({f['tick_seconds']:.0f} s)"
    )
    print(
        f"  the first reconcile (writes every status and creates {f['ppgs']:,} recovery plans; a one-off, here in the "
        f"benchmark process) took {f['first_reconcile_seconds']:.0f} s: {f['first_reconcile']}"
    )


def main() -> None:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "scale 100k")
    write_json(args.json, run(small=args.small))


if __name__ == "__main__":
    main()
