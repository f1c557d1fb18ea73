"""Where a VM in a proximity placement group can be allocated: datacenters, PPG pinning, zones.

Azure's rules (``co-location.md``, MicrosoftDocs/azure-compute-docs; the same text on docs.azure.cn):

- a PPG "is pinned to a specific data center with the deployment of the first resource to use it. Once
  all resources using the proximity placement group have been stopped (deallocated) or deleted, it's no
  longer pinned";
- "a second request for a different VM size may fail if it doesn't exist in that data center. In this
  case, an OverconstrainedAllocationRequest error is returned. To avoid this error, try changing the
  order in which you deploy your VM sizes";
- with ``intent``, the datacenter is chosen to host every size of the intent, and creating or updating
  the PPG fails with OverconstrainedAllocationRequest when no datacenter can;
- "a single proximity placement group cannot span zones".

The model: per region a list of datacenters, each in an optional zone and hosting a set of VM sizes
(admin API ``POST /_emulator/capacity/datacenters``). A region nobody configured has one implicit
datacenter that hosts every size, so estates that do not configure capacity allocate as before (only
the zone rule applies). The first allocated member of a PPG picks the first datacenter that fits its
size (and zone, and the PPG's zones and intent); later members must fit that datacenter. The datacenter
names, the implicit default and the refusal's exact message are emulator choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.arm import normalise_location
from emulator.errors import ArmError

ANY_SIZE = "*"


@dataclass(frozen=True)
class Datacenter:
    """One datacenter of a region; ``sizes`` None hosts every VM size."""

    name: str
    zone: str | None
    sizes: frozenset[str] | None

    def hosts(self, size: str) -> bool:
        return self.sizes is None or size.lower() in self.sizes

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "zone": self.zone, "vmSizes": ANY_SIZE if self.sizes is None else sorted(self.sizes)}


@dataclass
class Pin:
    """The datacenter a PPG is pinned to, and its zone once known."""

    location: str
    datacenter: str
    zone: str | None


def overconstrained(ppg_id: str, size: str, *, zone: str | None = None) -> ArmError:
    """Compute's allocation refusal (the documented code; message as Compute words allocation failures)."""
    code = "OverconstrainedZonalAllocationRequest" if zone else "OverconstrainedAllocationRequest"
    zone_text = "Availability Zone, " if zone else ""
    return ArmError(
        409,
        code,
        "Allocation failed. VM(s) with the following constraints cannot be allocated, because the condition is too "
        f"restrictive. Please remove some constraints and try again. Constraints applied are: {zone_text}"
        f"Proximity Placement Group ({ppg_id}), VM size ({size}).",
    )


class CapacityModel:
    """Datacenters per region and the pins of PPGs; see the module docstring."""

    def __init__(self) -> None:
        self._datacenters: dict[str, list[Datacenter]] = {}
        self.pins: dict[str, Pin] = {}

    def set_datacenters(self, location: str, datacenters: list[dict[str, Any]]) -> None:
        """Replace a region's datacenters (``[]``: back to one implicit datacenter that hosts every size)."""
        region = normalise_location(location)
        parsed: list[Datacenter] = []
        for index, entry in enumerate(datacenters):
            if not isinstance(entry, dict):
                raise ValueError(f"datacenters[{index}] must be an object.")
            name = entry.get("name") or f"{region}-dc{index + 1}"
            zone = entry.get("zone")
            sizes = entry.get("vmSizes", ANY_SIZE)
            if zone is not None and not isinstance(zone, str):
                raise ValueError(f"datacenters[{index}].zone must be a string or null.")
            if sizes != ANY_SIZE and not (isinstance(sizes, list) and all(isinstance(s, str) for s in sizes)):
                raise ValueError(f"datacenters[{index}].vmSizes must be a list of VM sizes or '*'.")
            hosted = None if sizes == ANY_SIZE else frozenset(s.lower() for s in sizes)
            parsed.append(Datacenter(str(name), zone, hosted))
        if parsed:
            self._datacenters[region] = parsed
        else:
            self._datacenters.pop(region, None)
        for ppg, pin in list(self.pins.items()):
            if pin.location == region and not any(d.name == pin.datacenter for d in self.datacenters(region)):
                del self.pins[ppg]

    def datacenters(self, location: str) -> list[Datacenter]:
        region = normalise_location(location)
        return self._datacenters.get(region) or [Datacenter(f"{region}-dc1", None, None)]

    def describe(self) -> dict[str, Any]:
        return {
            "datacenters": {region: [d.describe() for d in dcs] for region, dcs in self._datacenters.items()},
            "pins": {ppg: {"datacenter": p.datacenter, "zone": p.zone} for ppg, p in self.pins.items()},
        }

    def check_intent(self, ppg_id: str, location: str, zones: list[str] | None, intent: list[str]) -> None:
        """A PPG's intent must fit one datacenter (in its zone), or its PUT fails (co-location.md, intent)."""
        if not intent:
            return
        zone = zones[0] if zones else None
        if not any(self._fits(d, zone, intent) for d in self.datacenters(location)):
            raise overconstrained(ppg_id, ", ".join(intent), zone=zone)

    def allocate(
        self,
        ppg_key: str,
        ppg_id: str,
        *,
        location: str,
        size: str,
        zone: str | None,
        ppg_zones: list[str] | None,
        intent: list[str],
    ) -> ArmError | None:
        """Place a VM of ``size`` (in ``zone``) in the PPG: pins it on the first allocation; the refusal, or None."""
        pin = self.pins.get(ppg_key)
        if pin is not None:
            if zone and pin.zone and zone != pin.zone:
                return overconstrained(ppg_id, size, zone=zone)
            pinned = next((d for d in self.datacenters(location) if d.name == pin.datacenter), None)
            if pinned is not None and not pinned.hosts(size):
                return overconstrained(ppg_id, size, zone=zone)
            if zone and not pin.zone:
                pin.zone = zone
            return None
        wanted = zone or (ppg_zones[0] if ppg_zones else None)
        for datacenter in self.datacenters(location):
            if self._fits(datacenter, wanted, [size, *intent]):
                self.pins[ppg_key] = Pin(normalise_location(location), datacenter.name, datacenter.zone or wanted)
                return None
        return overconstrained(ppg_id, size, zone=zone)

    @staticmethod
    def _fits(datacenter: Datacenter, zone: str | None, sizes: list[str]) -> bool:
        if zone and datacenter.zone and datacenter.zone != zone:
            return False
        return all(datacenter.hosts(s) for s in sizes)

    def unpin(self, ppg_key: str) -> None:
        self.pins.pop(ppg_key, None)

    def reset(self) -> None:
        self._datacenters.clear()
        self.pins.clear()
