"""The chaos run's world: the fleet it builds, and read-only looks at Azure and at ppg-dr's tables.

Reads here never go through the app (which would create tables and mask what a wipe did) and never
create anything: Table storage is read with azure-data-tables directly (a missing table reads as empty
and is reported as missing), Azure through raw ARM GETs and the emulator's admin API.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from localdev import estate as est

SUBSCRIPTION = est.SUBSCRIPTION
SOURCE = est.SOURCE_REGION
ASR_API = "2025-01-01"
SIZES = ("Standard_E8s_v5", "Standard_D4s_v5", "Standard_D4s_v5", "Standard_F8s_v2")
TABLE_NAMES = ("vms", "groups", "leases", "events", "journal", "workflows", "audit", "rules", "reports", "signals", "drills")


@dataclass(frozen=True)
class FleetVm:
    name: str
    resource_group: str
    group: str  # the DR group (= the PPG name)
    size: str

    @property
    def id(self) -> str:
        return est.rid(self.resource_group, "Microsoft.Compute/virtualMachines", self.name)

    @property
    def item(self) -> str:
        """The replicated item ppg-dr names for this VM (deterministic: ``shared.arm.names``)."""
        from shared.arm.names import replicated_item_name

        return replicated_item_name(self.id, self.name)


@dataclass(frozen=True)
class FleetGroup:
    name: str  # the PPG name, which is the DR group's name
    resource_group: str
    vms: tuple[FleetVm, ...]
    tag_per_vm: bool  # tagged VM by VM (one event each) rather than through the resource group (one event)

    @property
    def plan(self) -> str:
        from shared.arm.names import recovery_plan_name

        return recovery_plan_name(self.name)

    @property
    def ppg_id(self) -> str:
        return est.rid(self.resource_group, "Microsoft.Compute/proximityPlacementGroups", self.name)

    @property
    def target_ppg_id(self) -> str:
        from shared.arm.names import auto_target_ppg_name

        return est.rid(
            f"{self.resource_group}-asr", "Microsoft.Compute/proximityPlacementGroups", auto_target_ppg_name(self.name)
        )


@dataclass
class Fleet:
    groups: list[FleetGroup] = field(default_factory=list)

    @property
    def vms(self) -> list[FleetVm]:
        return [vm for group in self.groups for vm in group.vms]

    def group(self, name: str) -> FleetGroup:
        return next(g for g in self.groups if g.name.lower() == name.lower())

    def group_of_item(self, item: str) -> FleetGroup | None:
        for group in self.groups:
            if any(vm.item == item.lower() for vm in group.vms):
                return group
        return None


# ------------------------------------------------------------------------------------------------ building


class Admin:
    """The emulator's admin API and raw ARM reads (a bearer token the emulator accepts, never checked)."""

    def __init__(self, base_url: str, cert: str) -> None:
        self._client = httpx.Client(base_url=base_url, verify=ssl.create_default_context(cafile=cert), timeout=120)

    def __call__(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        response = self._client.request(method, path, json=body, params=params)
        response.raise_for_status()
        return response.json() if response.content else None

    def arm_list(self, path: str) -> Iterator[dict[str, Any]]:
        """Every element of a paged ARM list (``nextLink`` followed)."""
        url: str | None = path
        params: dict[str, str] | None = {"api-version": ASR_API}
        while url:
            response = self._client.get(url, params=params, headers={"Authorization": "Bearer chaos-harness"})
            response.raise_for_status()
            page = response.json()
            yield from page.get("value", [])
            url, params = page.get("nextLink"), None

    def close(self) -> None:
        self._client.close()


def build_fleet(admin: Admin, clients: Any, *, groups: int, vms: int) -> Fleet:
    """``groups`` resource groups (and their recovery groups), each with a PPG and its share of ``vms`` untagged VMs.

    Seeded without events: the protection wave starts with the tag writes.
    """
    from azure.mgmt.compute import models as cm

    resources = clients.resources(SUBSCRIPTION)
    compute = clients.compute(SUBSCRIPTION)
    fleet = Fleet()
    for index in range(groups):
        rg, ppg = f"chaos-{index:02d}", f"chaos-{index:02d}-ppg"
        count = vms // groups + (1 if index < vms % groups else 0)
        resources.resource_groups.create_or_update(rg, {"location": SOURCE})
        # The recovery resource group, as a platform team prepares it (ppg-dr may refuse to create one).
        resources.resource_groups.create_or_update(f"{rg}-asr", {"location": est.TARGET_REGION})
        compute.proximity_placement_groups.create_or_update(
            rg,
            ppg,
            cm.ProximityPlacementGroup(
                location=SOURCE, properties=cm.ProximityPlacementGroupProperties(proximity_placement_group_type="Standard")
            ),
        )
        members: list[FleetVm] = []
        for n in range(count):
            size = SIZES[(index + n) % len(SIZES)]
            prefix = f"c{index:02d}-vm"
            admin(
                "POST",
                "/_emulator/seed/vms",
                {
                    "subscriptionId": SUBSCRIPTION,
                    "resourceGroup": rg,
                    "count": 1,
                    "startIndex": n,
                    "location": SOURCE,
                    "vmSize": size,
                    "namePrefix": prefix,
                    "proximityPlacementGroupId": est.rid(rg, "Microsoft.Compute/proximityPlacementGroups", ppg),
                },
            )
            members.append(FleetVm(f"{prefix}{n:05d}", rg, ppg, size))
        fleet.groups.append(FleetGroup(ppg, rg, tuple(members), tag_per_vm=index % 2 == 1))
    return fleet


def tag_vm(clients: Any, vm_id: str) -> None:
    """Tag one VM for protection through the Tags API."""
    est.tag(clients, vm_id, {"ppgdr-protect": "true"})


def tag_fleet(clients: Any, fleet: Fleet) -> int:
    """Tag every group for protection through the Tags API (its events are the protection wave); returns writes."""
    writes = 0
    for group in fleet.groups:
        targets = (
            [vm.id for vm in group.vms]
            if group.tag_per_vm
            else [f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group.resource_group}"]
        )
        for target in targets:
            est.tag(clients, target, {"ppgdr-protect": "true"})
            writes += 1
    return writes


# ------------------------------------------------------------------------------------------ Table storage


class TableView:
    """ppg-dr's tables, read without the app: nothing is created, a missing table is an empty one."""

    def __init__(self, connection_string: str, prefix: str) -> None:
        from azure.data.tables import TableServiceClient

        self._service = TableServiceClient.from_connection_string(connection_string)
        self.prefix = prefix

    def present(self) -> list[str]:
        return sorted(t.name for t in self._service.list_tables() if t.name.startswith(self.prefix))

    def rows(self, name: str) -> list[dict[str, Any]]:
        """Each entity's ``data`` payload, with its keys and timestamp beside it."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self._service.get_table_client(f"{self.prefix}{name}")
        try:
            entities = list(client.list_entities())
        except ResourceNotFoundError:
            return []
        rows = []
        for entity in entities:
            try:
                data = json.loads(entity.get("data") or "{}")
            except json.JSONDecodeError:
                data = {}
            rows.append({**data, "_pk": entity["PartitionKey"], "_rk": entity["RowKey"]})
        return rows

    def statuses(self) -> dict[str, dict[str, Any]]:
        return {str(r.get("vm_id", "")).lower(): r for r in self.rows("vms")}

    def groups(self) -> dict[str, dict[str, Any]]:
        return {str(r.get("name", "")).lower(): r for r in self.rows("groups") if r.get("name")}

    def workflows(self) -> dict[str, dict[str, Any]]:
        return {str(r.get("group", "")).lower(): r for r in self.rows("workflows") if r.get("group")}

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {name: self.rows(name) for name in TABLE_NAMES}

    def wipe(self) -> list[str]:
        """Delete every table of ppg-dr's prefix (a lost storage account, a wiped or restored table)."""
        deleted = self.present()
        for name in deleted:
            self._service.delete_table(name)
        return deleted


# -------------------------------------------------------------------------------------------------- Azure


class AzureView:
    """What Azure shows: replicated items, recovery plans and jobs (the emulator's operations)."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.vault = est.VAULT_ID

    def items(self) -> dict[str, dict[str, Any]]:
        """Every replicated item of the vault by (lower-cased) name: state, where it replicates from."""
        found: dict[str, dict[str, Any]] = {}
        for item in self.admin.arm_list(f"{self.vault}/replicationProtectedItems"):
            props = item.get("properties") or {}
            found[str(item["name"]).lower()] = {
                "name": item["name"],
                "id": item.get("id", ""),
                "protectionState": props.get("protectionState", ""),
                "activeLocation": props.get("activeLocation", ""),
                "primaryFabric": props.get("primaryFabricFriendlyName", ""),
                "failoverRecoveryPointId": props.get("failoverRecoveryPointId"),
                "recoveryPpg": str(
                    (props.get("providerSpecificDetails") or {}).get("recoveryProximityPlacementGroupId") or ""
                ).rsplit("/", 1)[-1],
            }
        return found

    def plans(self) -> dict[str, set[str]]:
        """Every recovery plan by (lower-cased) name, with the item names its groups list."""
        found: dict[str, set[str]] = {}
        for plan in self.admin.arm_list(f"{self.vault}/replicationRecoveryPlans"):
            members: set[str] = set()
            for group in (plan.get("properties") or {}).get("groups") or []:
                for item in group.get("replicationProtectedItems") or []:
                    members.add(str(item.get("id", "")).rsplit("/", 1)[-1].lower())
            found[str(plan["name"]).lower()] = members
        return found

    def operations(self) -> list[dict[str, Any]]:
        """Every job Azure started (``asr.<Scenario>``, its target, status and start), oldest first."""
        ops: list[dict[str, Any]] = self.admin("GET", "/_emulator/operations")["value"]
        return sorted((op for op in ops if str(op.get("kind", "")).startswith("asr.")), key=lambda op: str(op.get("startTime")))

    def clock(self) -> str:
        return str(self.admin("GET", "/_emulator/clock")["now"])
