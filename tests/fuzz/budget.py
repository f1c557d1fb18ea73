"""Fuzzing budgets: ``fast`` (``make test``, the default: a few seconds per fuzzer) and ``long`` (``make fuzz``).

``HYPOTHESIS_PROFILE=long`` selects the long profile, as it does for ``make test-long`` (tests/property). Failures
are replayed from the example database under ``.pytest_cache`` (ignored by git); keep one as a named test.
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

# Examples per fuzzer and profile. One example is one alert, event or request through the real function.
BUDGETS = {
    "alerts": {"fast": 150, "long": 5000},
    "events": {"fast": 150, "long": 5000},
    "http": {"fast": 120, "long": 4000},
    "openapi": {"fast": 100, "long": 4000},
}

# pytest-timeout's 300 s per test (pyproject) fits the fast profile; the long one runs as long as it needs.
TIMEOUT = pytest.mark.timeout(0 if PROFILE == "long" else 300)

_DATABASE = DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parents[2] / ".pytest_cache" / "hypothesis-fuzz"))


def budget(fuzzer: str) -> settings:
    """Hypothesis settings for one fuzzer: its number of examples, no deadline (Azurite and the emulator are real
    I/O), and the fixture health check off (the app is built once per test, and each example checks its own trace)."""
    return settings(
        max_examples=BUDGETS[fuzzer][PROFILE],
        deadline=None,
        database=_DATABASE,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
