"""Hypothesis budgets: ``fast`` (``make test``, the default) and ``long`` (``make test-long``).

``HYPOTHESIS_PROFILE=long`` selects the long profile. The state machines over pure code and in-memory fakes are
cheap and run many sequences in both; the end-to-end machine (real functions, Azurite and the ARM emulator) costs
seconds per sequence, so ``make test`` runs only a few of its sequences.

No example database in the work tree: failures are kept as explicit regression tests (``@example`` or named
``test_*`` functions), and the database lives under ``.pytest_cache`` (ignored by git).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILES = ("fast", "long")
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "fast").strip() or "fast"
if PROFILE not in PROFILES:
    raise ValueError(f"HYPOTHESIS_PROFILE={PROFILE!r}: use one of {', '.join(PROFILES)}")

_DATABASE = DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parents[2] / ".pytest_cache" / "hypothesis"))
_COMMON = {
    "deadline": None,
    "database": _DATABASE,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}

# (max_examples, stateful_step_count) per state machine and profile.
BUDGETS = {
    "availability-sets": {"fast": (150, 40), "long": (4000, 60)},
    "decision-guard": {"fast": (60, 30), "long": (1500, 50)},
    "end-to-end": {"fast": (2, 8), "long": (40, 25)},
}


# pytest-timeout's 300 s per test (pyproject) fits the fast profile; the long one runs as long as it needs.
TIMEOUT = pytest.mark.timeout(0 if PROFILE == "long" else 300)


def budget(machine: str) -> settings:
    examples, steps = BUDGETS[machine][PROFILE]
    return settings(max_examples=examples, stateful_step_count=steps, **_COMMON)  # type: ignore[arg-type]


settings.register_profile("fast", max_examples=100, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("long", max_examples=2000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(PROFILE)
