"""A large estate: 10,000 VMs seeded in bulk and listed through ``list_all`` paging (nextLink)."""

from __future__ import annotations

import time

import pytest

from emulator.routing import DEFAULT_PAGE_SIZE
from tests.fixtures.emulator import EmulatorHandle


@pytest.mark.slow
def test_ten_thousand_vms_listed_through_next_links(fresh_emulator: EmulatorHandle) -> None:
    started = time.monotonic()
    seeded = fresh_emulator.seed_vms("rg-estate", 10_000, namePrefix="vm", tags={"ppgdr-enabled": "true"})
    assert seeded["created"] == 10_000
    fresh_emulator.clear_requests()

    names = [vm.name for vm in fresh_emulator.compute_client().virtual_machines.list_all()]

    assert len(names) == 10_000
    assert len(set(names)) == 10_000
    assert names[0] == "vm00000" and names[-1] == "vm09999"
    pages = fresh_emulator.requests(path="/providers/Microsoft.Compute/virtualMachines$")
    assert len(pages) == 10_000 // DEFAULT_PAGE_SIZE  # full pages, each found through the previous nextLink
    assert all("$skiptoken" in p["query"] for p in pages[1:])
    assert time.monotonic() - started < 20
