"""PPG physics through the SDK: pinning by the first allocated member, datacenters that host some sizes, zones.

The Azure rules are quoted in ``emulator/compute/capacity.py`` (co-location.md). The datacenters of a
region are configured through ``POST /_emulator/capacity/datacenters``; a region nobody configured has one
datacenter that hosts every size, so only the zone rule changes what such estates see.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from tests.emulator.conftest import LOCATION, vm_body
from tests.fixtures.emulator import EmulatorHandle

DC_SMALL = {"name": "we-dc1", "vmSizes": ["Standard_D2s_v5"]}
DC_BOTH = {"name": "we-dc2", "vmSizes": ["Standard_D2s_v5", "Standard_M64s"]}


def datacenters(emulator: EmulatorHandle, *dcs: dict[str, Any], location: str = LOCATION) -> dict[str, Any]:
    return dict(emulator.admin("POST", "capacity/datacenters", json={"location": location, "datacenters": list(dcs)}))


def ppg(emulator: EmulatorHandle, group: str, name: str = "ppg-app", **extra: Any) -> str:
    client = emulator.compute_client()
    return str(client.proximity_placement_groups.create_or_update(group, name, {"location": LOCATION, **extra}).id)


def create(emulator: EmulatorHandle, group: str, name: str, **body: Any) -> Any:
    return emulator.compute_client().virtual_machines.begin_create_or_update(group, name, vm_body(**body)).result()


def refused(emulator: EmulatorHandle, group: str, name: str, **body: Any) -> str:
    with pytest.raises(HttpResponseError) as failed:
        create(emulator, group, name, **body)
    return str(failed.value)


def pin(emulator: EmulatorHandle, ppg_id: str) -> Any:
    return emulator.admin("GET", "capacity")["pins"].get(ppg_id.lower())


def test_first_member_pins_the_ppg_and_a_size_its_datacenter_lacks_is_refused(fresh_emulator: EmulatorHandle, group: str) -> None:
    """The small VM first lands in the first datacenter that hosts it, which has no M-series: the M-series VM
    then fails with OverconstrainedAllocationRequest (as a failed create operation, the VM Failed)."""
    datacenters(fresh_emulator, DC_SMALL, DC_BOTH)
    ppg_id = ppg(fresh_emulator, group)
    create(fresh_emulator, group, "app", ppg_id=ppg_id)
    assert pin(fresh_emulator, ppg_id) == {"datacenter": "we-dc1", "zone": None}
    assert "OverconstrainedAllocationRequest" in refused(fresh_emulator, group, "db", ppg_id=ppg_id, size="Standard_M64s")
    client = fresh_emulator.compute_client()
    assert client.virtual_machines.get(group, "db").provisioning_state == "Failed"


def test_anchor_first_order_fits_both_sizes(fresh_emulator: EmulatorHandle, group: str) -> None:
    """The same two VMs in the other order: the M-series pins the datacenter that hosts both sizes."""
    datacenters(fresh_emulator, DC_SMALL, DC_BOTH)
    ppg_id = ppg(fresh_emulator, group)
    create(fresh_emulator, group, "db", ppg_id=ppg_id, size="Standard_M64s")
    create(fresh_emulator, group, "app", ppg_id=ppg_id)
    assert pin(fresh_emulator, ppg_id)["datacenter"] == "we-dc2"


def test_deallocating_every_member_unpins_the_ppg(fresh_emulator: EmulatorHandle, group: str) -> None:
    """Once all members are deallocated (or deleted) the PPG is no longer pinned, and starting in the right order
    repairs the placement; a stopped (not deallocated) member keeps the pin."""
    datacenters(fresh_emulator, DC_SMALL, DC_BOTH)
    client = fresh_emulator.compute_client()
    ppg_id = ppg(fresh_emulator, group)
    create(fresh_emulator, group, "app", ppg_id=ppg_id)
    refused(fresh_emulator, group, "db", ppg_id=ppg_id, size="Standard_M64s")
    client.virtual_machines.begin_power_off(group, "app").result()
    assert pin(fresh_emulator, ppg_id) is not None, "stopped VMs keep their allocation"
    client.virtual_machines.begin_deallocate(group, "app").result()
    assert pin(fresh_emulator, ppg_id) is None
    client.virtual_machines.begin_start(group, "db").result()
    client.virtual_machines.begin_start(group, "app").result()
    assert pin(fresh_emulator, ppg_id)["datacenter"] == "we-dc2"
    client.virtual_machines.begin_delete(group, "db").result()
    client.virtual_machines.begin_delete(group, "app").result()
    assert pin(fresh_emulator, ppg_id) is None


def test_intent_picks_a_datacenter_for_every_size(fresh_emulator: EmulatorHandle, group: str) -> None:
    """With intent, deployment order does not matter; an intent no datacenter can host fails the PPG PUT."""
    datacenters(fresh_emulator, DC_SMALL, DC_BOTH)
    ppg_id = ppg(fresh_emulator, group, properties={"intent": {"vmSizes": ["Standard_D2s_v5", "Standard_M64s"]}})
    create(fresh_emulator, group, "app", ppg_id=ppg_id)
    create(fresh_emulator, group, "db", ppg_id=ppg_id, size="Standard_M64s")
    assert pin(fresh_emulator, ppg_id)["datacenter"] == "we-dc2"
    with pytest.raises(HttpResponseError) as impossible:
        ppg(fresh_emulator, group, "ppg-hpc", properties={"intent": {"vmSizes": ["Standard_HB120rs_v3"]}})
    assert impossible.value.error is not None and impossible.value.error.code == "OverconstrainedAllocationRequest"


def test_members_in_different_zones_of_a_zoneless_ppg_are_refused(fresh_emulator: EmulatorHandle, group: str) -> None:
    """ "A single proximity placement group cannot span zones": zone 1 pins it, zone 2 is refused, a regional VM
    joins (no datacenter configured: the zone rule holds for every estate)."""
    ppg_id = ppg(fresh_emulator, group)
    create(fresh_emulator, group, "a", ppg_id=ppg_id, zones=["1"])
    assert "OverconstrainedZonalAllocationRequest" in refused(fresh_emulator, group, "b", ppg_id=ppg_id, zones=["2"])
    create(fresh_emulator, group, "c", ppg_id=ppg_id)
    assert pin(fresh_emulator, ppg_id)["zone"] == "1"


def test_unconfigured_regions_host_every_size(fresh_emulator: EmulatorHandle, group: str) -> None:
    """The default keeps today's behaviour: any sizes in one PPG, in any order."""
    ppg_id = ppg(fresh_emulator, group)
    create(fresh_emulator, group, "app", ppg_id=ppg_id)
    create(fresh_emulator, group, "db", ppg_id=ppg_id, size="Standard_M64s")
    assert fresh_emulator.admin("GET", "capacity")["datacenters"] == {}


def test_refused_sizes_still_apply_with_datacenters(fresh_emulator: EmulatorHandle, group: str) -> None:
    """The per-PPG refusedSizes list (documented) refuses before the datacenter model is asked."""
    datacenters(fresh_emulator, DC_BOTH)
    ppg_id = ppg(fresh_emulator, group)
    fresh_emulator.capacity(ppg_id, ["Standard_M64s"])
    assert "OverconstrainedAllocationRequest" in refused(fresh_emulator, group, "db", ppg_id=ppg_id, size="Standard_M64s")
    create(fresh_emulator, group, "app", ppg_id=ppg_id)


@pytest.mark.parametrize(
    "body",
    [
        {"datacenters": []},
        {"location": LOCATION},
        {"location": LOCATION, "datacenters": [{"vmSizes": "D2"}]},
        {"location": LOCATION, "datacenters": ["dc1"]},
    ],
)
def test_datacenters_admin_validates(fresh_emulator: EmulatorHandle, body: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="400"):
        fresh_emulator.admin("POST", "capacity/datacenters", json=body)


def test_datacenters_admin_reports_and_clears(fresh_emulator: EmulatorHandle) -> None:
    answer = datacenters(fresh_emulator, DC_SMALL, {"name": "we-az1", "zone": "1"})
    assert answer["datacenters"] == {
        LOCATION: [
            {"name": "we-dc1", "zone": None, "vmSizes": ["standard_d2s_v5"]},
            {"name": "we-az1", "zone": "1", "vmSizes": "*"},
        ]
    }
    assert datacenters(fresh_emulator)["datacenters"] == {}
    assert set(fresh_emulator.admin("GET", "capacity")) == {"capacity", "fallbacks", "datacenters", "pins"}
