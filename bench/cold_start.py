"""Cold start: ``import function_app`` time and peak RSS, against importing every SDK eagerly.

Why: a Functions worker imports ``function_app`` before it can run the first invocation, and on the
Consumption plan that happens on every cold start. ppg-dr imports the management SDKs where they are
used, not at the top of ``function_app``; this measures what that saves. Each measurement runs in a
fresh interpreter (nothing cached in ``sys.modules``), timing only the import statements (interpreter
start-up is the same for both and is excluded), and reads the child's own peak RSS
(``VmHWM`` in ``/proc/self/status``: ``ru_maxrss`` can carry the parent's). A bare interpreter is measured too,
as the floor, and the import as a Functions worker sees it (``azure.functions`` loaded before the clock starts).
Variants are interleaved, repeated, and the median is reported; one discarded run per variant first
makes sure bytecode caches exist, so no run pays for compiling.

    .venv/bin/python -m bench.cold_start [--small]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

from bench.common import parse_args, print_table, ratio, say, write_json
from localdev.processes import REPO_ROOT

EAGER_SDKS = (
    "azure.mgmt.compute",
    "azure.mgmt.recoveryservicessiterecovery",
    "azure.mgmt.resource.resources",
    "azure.data.tables",
    "azure.identity",
    "azure.eventgrid",
)

# name -> (modules loaded before the clock starts, as the host already has them; modules timed)
VARIANTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bare interpreter": ((), ()),
    "import function_app (as shipped)": ((), ("function_app",)),
    "import function_app, azure.functions already loaded (the worker)": (("azure.functions",), ("function_app",)),
    "every SDK eagerly + function_app": ((), (*EAGER_SDKS, "function_app")),
}

# The child's own peak RSS: VmHWM from /proc/self/status. resource.getrusage(RUSAGE_SELF).ru_maxrss in a child can
# carry its parent's high-water mark (a child of a 200 MiB benchmark reported 211 MiB for a bare interpreter).
CHILD = """
import json, sys, time
for name in {preload!r}:
    __import__(name)
started = time.perf_counter()
for name in {modules!r}:
    __import__(name)
elapsed = time.perf_counter() - started
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({{"seconds": elapsed, "maxrss_kib": hwm, "modules": len(sys.modules)}}))
"""


def measure(variant: tuple[tuple[str, ...], tuple[str, ...]]) -> dict[str, float]:
    """Import the variant's modules in a fresh interpreter; the timed imports' time, its peak RSS and module count."""
    preload, modules = variant
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PPGDR_"))}
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(preload=preload, modules=modules)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run(small: bool = False) -> dict[str, Any]:
    """Measure every variant ``repeats`` times, interleaved; print and return the medians."""
    repeats = 3 if small else 5
    for variant in VARIANTS.values():
        measure(variant)  # discarded: writes any missing bytecode caches
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for round_no in range(repeats):
        for name, variant in VARIANTS.items():
            samples[name].append(measure(variant))
        say(f"cold start round {round_no + 1}/{repeats} done")
    medians = {
        name: {
            "seconds": statistics.median(s["seconds"] for s in runs),
            "maxrss_mib": statistics.median(s["maxrss_kib"] for s in runs) / 1024,
            "modules": statistics.median(s["modules"] for s in runs),
        }
        for name, runs in samples.items()
    }
    lazy = medians["import function_app (as shipped)"]
    eager = medians["every SDK eagerly + function_app"]
    bare = medians["bare interpreter"]
    worker = medians["import function_app, azure.functions already loaded (the worker)"]
    figures: dict[str, Any] = {
        "repeats": repeats,
        "medians": medians,
        "app_import_ms": round(1000 * lazy["seconds"], 1),
        "app_rss_mib": round(lazy["maxrss_mib"], 1),
        "eager_import_ms": round(1000 * eager["seconds"], 1),
        "eager_rss_mib": round(eager["maxrss_mib"], 1),
        "bare_rss_mib": round(bare["maxrss_mib"], 1),
        "worker_import_ms": round(1000 * worker["seconds"], 1),
        "worker_rss_mib": round(worker["maxrss_mib"], 1),
        "time_ratio": round(eager["seconds"] / lazy["seconds"], 2) if lazy["seconds"] else None,
        "rss_ratio": round(eager["maxrss_mib"] / lazy["maxrss_mib"], 2) if lazy["maxrss_mib"] else None,
        "saved_ms": round(1000 * (eager["seconds"] - lazy["seconds"]), 1),
        "saved_mib": round(eager["maxrss_mib"] - lazy["maxrss_mib"], 1),
    }
    report(figures)
    return figures


def report(f: dict[str, Any]) -> None:
    """Print the medians side by side and the ratios."""
    print(f"\ncold_start: median of {f['repeats']} fresh interpreters per variant")
    print_table(
        "side by side (same run, interleaved)",
        ("", "import time (ms)", "peak RSS (MiB)", "modules loaded"),
        [
            (name, f"{1000 * m['seconds']:.1f}", f"{m['maxrss_mib']:.1f}", f"{m['modules']:.0f}")
            for name, m in f["medians"].items()
        ],
    )
    lazy, eager = f["app_import_ms"], f["eager_import_ms"]
    print(f"\n  eager / as shipped: import time {ratio(eager, lazy)}, peak RSS {ratio(f['eager_rss_mib'], f['app_rss_mib'])}")
    print(f"  importing SDKs where they are used saves {f['saved_ms']:.0f} ms and {f['saved_mib']:.1f} MiB per cold start")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "cold start")
    write_json(args.json, run(small=args.small))


if __name__ == "__main__":
    main()
