"""Property tests: the hypothesis profile in use and the figures printed at the end of the session."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.property.figures import FIGURES
from tests.property.profiles import BUDGETS, PROFILE

FIGURES_FILE = Path(__file__).resolve().parents[2] / ".pytest_cache" / "ppgdr-property-figures.json"


def pytest_report_header() -> str:
    budgets = ", ".join(f"{kind}: {BUDGETS[kind][PROFILE][0]} sequences x {BUDGETS[kind][PROFILE][1]} steps" for kind in BUDGETS)
    return f"ppg-dr property tests: hypothesis profile {PROFILE} ({budgets})"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    rows = {name: {k: v for k, v in vars(f).items() if k != "seen"} for name, f in sorted(FIGURES.items())}
    total = {key: sum(r[key] for r in rows.values()) for key in ("sequences", "steps", "checks", "seconds")}
    terminalreporter.section(f"property tests (profile {PROFILE})")
    terminalreporter.write_line(f"{'state machine':<28} {'sequences':>10} {'steps':>10} {'invariant checks':>17} {'seconds':>9}")
    for name, row in [*rows.items(), ("total", total)]:
        terminalreporter.write_line(
            f"{name:<28} {row['sequences']:>10,} {row['steps']:>10,} {row['checks']:>17,} {row['seconds']:>9.1f}"
        )
    for name, found in sorted(FIGURES.items()):
        if found.seen:
            seen = ", ".join(f"{situation}: {count:,}" for situation, count in sorted(found.seen.items()))
            terminalreporter.write_line(f"{name} came across: {seen}")
    record = {
        "profile": PROFILE,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.platform()}, Python {platform.python_version()}",
        "machines": {name: {**row, "seen": dict(FIGURES[name].seen)} for name, row in rows.items()},
        "total": total,
    }
    FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FIGURES_FILE.write_text(json.dumps(record, indent=2) + "\n")
