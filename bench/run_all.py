"""Run every benchmark at full size and print a Markdown block ready to paste into the README.

Why a runner: the README's figures must come from one sitting on one machine, with the machine named.
Each benchmark runs in its own interpreter (``python -m bench.<name> --json ...``): it starts and stops
its own Azurite and emulator, and no benchmark's imports or memory leak into the next one (cold start
in particular). Their own output is passed through as they run; the summary comes at the end.

    .venv/bin/python -m bench.run_all [--small]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.common import machine
from localdev.processes import REPO_ROOT

BENCHMARKS = ("reconcile_at_scale", "event_handler_latency", "failover_fanout", "cold_start", "scale_100k")


def run_one(name: str, small: bool, out_dir: Path) -> tuple[dict[str, Any] | None, float]:
    """Run ``bench.<name>`` in a child interpreter; its figures (None if it failed) and wall time."""
    out = out_dir / f"{name}.json"
    args = [sys.executable, "-m", f"bench.{name}", "--json", str(out)] + (["--small"] if small else [])
    started = time.perf_counter()
    done = subprocess.run(args, cwd=REPO_ROOT, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or not out.exists():
        print(f"\n!! bench.{name} failed with exit code {done.returncode}", file=sys.stderr)
        return None, seconds
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures, seconds


def _met(flag: bool) -> str:
    return "met" if flag else "**not met**"


def _x(value: float | None) -> str:
    """A ratio: ``909x``, ``3.7x``, ``0.42x``."""
    if value is None:
        return "n/a"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


def markdown(results: dict[str, dict[str, Any] | None], durations: dict[str, float]) -> str:
    """The README block: date, machine, one table of figures and ratios."""
    m = machine()
    lines = [
        f"Measured {date.today().isoformat()} on {m['platform']}, Python {m['python']}, {m['cpus']} CPUs ({m['cpu_model']}),",
        "against Azurite and the ARM emulator on the same machine (`.venv/bin/python -m bench.run_all`).",
        "",
        "| benchmark | figure | ppg-dr | baseline (same run) | ratio (baseline / ppg-dr) | goal |",
        "|---|---|---:|---:|---:|---|",
    ]
    r = results.get("reconcile_at_scale")
    if r:
        scaled = f", scaled from {r['naive_vms_measured']:,} VMs" if r["naive_scaled"] else ""
        title = f"reconcile_at_scale: one steady-state tick, {r['vms']:,} VMs in {r['ppgs']} PPGs"
        lines += [
            f"| {title} | ARM requests (GET / write) | {r['reconcile_arm_requests']} "
            f"({r['reconcile_arm_gets']} / {r['reconcile_arm_writes']}) | {r['naive_arm_requests']:,} "
            f"(naive: GET each VM and its item) | {_x(r['request_ratio'])} | < 30: {_met(r['goal_requests_met'])} |",
            f"| | Table entities written | {r['reconcile_table_entity_writes']} | 0 | | 0: {_met(r['goal_zero_writes_met'])} |",
            f"| | Table requests (reads / writes) | {r['reconcile_table_reads']:,} / {r['reconcile_table_write_requests']} "
            "| 0 | | |",
            f"| | wall time | {r['reconcile_seconds']:.1f} s | {r['naive_seconds']:.1f} s{scaled} | {_x(r['time_ratio'])} | |",
            f"| | tick time: ARM / Table / Python | {r['reconcile_arm_wait_seconds']:.1f} / "
            f"{r['reconcile_table_wait_seconds']:.1f} / {r['reconcile_python_seconds']:.1f} s | | | |",
            f"| | wall time against the floor (the tick's pages fetched and JSON-decoded + one status table read) | "
            f"{r['reconcile_seconds']:.1f} s | floor {r['floor_seconds']:.1f} s | tick / floor {_x(r['floor_ratio'])} "
            f"| <= 2.5x: {_met(r['goal_floor_met'])} |",
        ]
    e = results.get("event_handler_latency")
    if e:
        lines += [
            f"| event_handler_latency: {e['events']} tag writes on fresh tagged VMs, {e['stored_statuses']:,} statuses stored "
            "| event -> enable request at ARM, "
            f"p50 / p99 | {e['enable_p50_ms']:.1f} / {e['enable_p99_ms']:.1f} ms | ignored event (storage write), whole call: "
            f"{e['ignored_p50_ms']:.3f} / {e['ignored_p99_ms']:.3f} ms | enable / ignored: {_x(e['ratio_p50'])} (p50) | |",
            f"| | requests per tag event (ARM / Table), p50 | {e['arm_requests_per_event_p50']:.0f} / "
            f"{e['table_requests_per_event_p50']:.0f} (mean {e['table_requests_per_event']}) | ignored: "
            f"{e['ignored_arm_requests']} / {e['ignored_table_requests']} | | <= 4 ARM: "
            f"{_met(e['arm_requests_per_event_p50'] <= 4)}; <= 6 Table: {_met(e['table_requests_per_event_p50'] <= 6)} |",
        ]
    fo = results.get("failover_fanout")
    if fo:
        for key in ("group", "fleet"):
            sc = fo["scenarios"].get(key)
            if not sc:
                continue
            p, b = sc["ppgdr"], sc["baseline"]
            goal = f"< 1 s: {_met(p['seconds_to_all_started'] < 1.0)}" if key == "fleet" else ""
            lines += [
                f"| failover_fanout: {sc['label']}, {fo['protected_vms']:,} statuses stored | decision -> every failover "
                f"started | {p['seconds_to_all_started']:.2f} s ({sc['groups']} plan(s)) | per-VM failovers: "
                f"{b['seconds_to_all_started']:.2f} s | {_x(sc['time_ratio'])} (ppg-dr / per-VM) | {goal} |",
                f"| | ARM requests (reads / writes); Table reads | {p['arm_requests']} ({p['arm_reads']} / {p['arm_writes']}); "
                f"{p['drive_table_reads']} | {b['arm_requests']} (0 / {b['arm_writes']}) | | |",
            ]
    c = results.get("cold_start")
    if c:
        lines += [
            f"| cold_start: median of {c['repeats']} fresh interpreters | `import function_app` time | "
            f"{c['app_import_ms']:.0f} ms | every SDK eagerly + function_app: {c['eager_import_ms']:.0f} ms "
            f"| {_x(c['time_ratio'])} | |",
            f"| | peak RSS, the child's own VmHWM (bare interpreter {c['bare_rss_mib']:.0f} MiB) | {c['app_rss_mib']:.1f} MiB | "
            f"{c['eager_rss_mib']:.1f} MiB | {_x(c['rss_ratio'])} | |",
            f"| | as the Functions worker sees it (azure.functions already loaded): import time / peak RSS | "
            f"{c['worker_import_ms']:.0f} ms / {c['worker_rss_mib']:.1f} MiB | | | |",
        ]
    k = results.get("scale_100k")
    if k:
        lines += [
            f"| scale_100k: one steady-state reconcile tick, {k['vms']:,} VMs, in a fresh worker process | peak RSS "
            f"(its own VmHWM) | {k['tick_peak_rss_mib']:.0f} MiB (before the tick: {k['ready_rss_mib']:.0f} MiB) | | | "
            f"< 512 MiB: {_met(k['goal_rss_met'])} |",
            f"| | wall time | {k['tick_seconds']:.0f} s | | | < 300 s (functionTimeout): {_met(k['goal_timeout_met'])} |",
        ]
    failed = [name for name, figures in results.items() if figures is None]
    if failed:
        lines += ["", f"Failed: {', '.join(failed)} (see the output above)."]
    if durations:
        lines += ["", "Run times: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in durations.items()) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark and print a README block.")
    parser.add_argument("--small", action="store_true", help="quick run at reduced size (not for the README)")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, Any] | None] = {}
    durations: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ppgdr-bench-") as tmp:
        for name in BENCHMARKS:
            print(f"\n===== bench.{name}{' --small' if args.small else ''} =====", flush=True)
            results[name], durations[name] = run_one(name, args.small, Path(tmp))
    print("\n===== README block =====\n")
    print(markdown(results, durations))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
