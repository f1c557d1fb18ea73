"""The ``world`` fixture: a fresh emulated estate for each conformance test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.replay import World, build_world
from tests.fixtures.emulator import EmulatorHandle


@pytest.fixture
def world(fresh_emulator: EmulatorHandle) -> Iterator[World]:
    """Groups, PPGs, the source VM and the vault with its A2A topology, on a frozen clock."""
    built = build_world(fresh_emulator)
    try:
        yield built
    finally:
        built.http.close()
