"""The app the fuzzers attack: the demo estate seeded, the SAP group protected (so an alert could reach a decision),
and the emulator's request log cleared, so any ARM write a fuzzer causes shows."""

from __future__ import annotations

import pytest

from tests.e2e.test_failover_lifecycle import protect_sap
from tests.fixtures.app import Ppgdr


@pytest.fixture
def protected(seeded: Ppgdr) -> Ppgdr:
    protect_sap(seeded)
    seeded.runner.drain()
    seeded.emulator.clear_requests()
    return seeded
