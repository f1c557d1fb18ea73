"""Replay helper: set up an A2A estate in the emulator and drive it over raw HTTP, as the recordings did.

The distilled files in ``tests/data/distilled`` say what real Azure answered; this module builds the
equivalent state (resource groups, PPGs, a VM with a managed disk, a vault with the A2A topology) and
sends the same requests with httpx, so a test sees exactly the status, headers and body a client would.
The emulator clock is frozen and moved with ``advance`` instead of waiting, because every recorded
duration (enable 13 minutes, failover 3.5, reprotect 9) is Azure's clock, not ours.

Only HTTP and the admin API are used: nothing here imports the emulator's internals, which other
engineers are reorganising.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.data import data_path
from tests.fixtures.emulator import EmulatorHandle

API = "2025-08-01"
COMPUTE_API = "2024-11-01"
STORAGE = "providers/Microsoft.Storage/storageAccounts"
PRIMARY, RECOVERY = "westeurope", "northeurope"
SOURCE_RG, TARGET_RG, VAULT_RG, VAULT = "rg-app", "rg-app-asr", "rg-dr", "vault1"
ITEM = "app1"

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: How ASR writes the start or end time of a task that has not started or not ended.
NOT_A_TIME = "0001-01-01T00:00:00"
#: Seconds after a 202 by which a job has left NotStarted (Azure: about 2 s, PPG recording 19:52:19 -> 19:52:2x).
STARTED_AFTER = 5


def load(name: str) -> dict[str, Any]:
    """A distilled recording (``tests/data/distilled/<name>``)."""
    return dict(json.loads(data_path("distilled", name).read_text()))


def step(recording: dict[str, Any], **match: Any) -> dict[str, Any]:
    """The one step of a distilled file whose fields equal ``match`` (e.g. ``entry=16``)."""
    found = [s for s in recording["steps"] if all(s.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"distilled file has {len(found)} steps matching {match}"
    return found[0]


def json_type(value: Any) -> Any:
    """The type map of a JSON value, in the distilled files' notation (see their README)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return [json_type(value[0])] if value else []
    return {k: json_type(v) for k, v in value.items()}


def shape_gaps(recorded: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` lacks a recorded key or holds a value of another type.

    A recorded ``null`` only demands the key: it says Azure had nothing there, not which type a value
    would have. Recorded numbers accept integers (JSON does not tell 0.0 from 0 once parsed).
    """
    if isinstance(recorded, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: object expected, got {json_type(actual)!r}"]
        gaps: list[str] = []
        for key, kind in recorded.items():
            if key not in actual:
                gaps.append(f"{path}.{key}: missing")
            else:
                gaps += shape_gaps(kind, actual[key], f"{path}.{key}")
        return gaps
    if isinstance(recorded, list):
        if not isinstance(actual, list):
            return [f"{path}: array expected, got {json_type(actual)!r}"]
        if recorded and actual:
            return shape_gaps(recorded[0], actual[0], f"{path}[0]")
        return []
    if recorded == "null":
        return []
    got = json_type(actual)
    if recorded == got or (recorded == "number" and got == "integer"):
        return []
    return [f"{path}: {recorded} expected, got {got}"]


def path_of(url: str) -> str:
    """The path of an absolute or relative URL, without query."""
    return httpx.URL(url).path


def vm_body(location: str, ppg_id: str | None) -> dict[str, Any]:
    """A VM with a managed OS disk, in a PPG when given (the recordings' VMs have managed disks)."""
    props: dict[str, Any] = {
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "storageProfile": {
            "imageReference": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
            "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Premium_LRS"}},
            "dataDisks": [],
        },
        "osProfile": {"computerName": "app1", "adminUsername": "azureuser", "adminPassword": "not-returned-1!"},
        "networkProfile": {
            "networkInterfaces": [
                {"id": f"/subscriptions/s/resourceGroups/{SOURCE_RG}/providers/Microsoft.Network/networkInterfaces/app1-nic"}
            ]
        },
    }
    if ppg_id:
        props["proximityPlacementGroup"] = {"id": ppg_id}
    return {"location": location, "properties": props}


@dataclass
class World:
    """One emulated estate: a protected-item-to-be in westeurope replicating to northeurope.

    Names follow the emulator topology (``asr-a2a-default-<region>`` fabrics and containers); the
    recordings' own names differ, which is why the distilled files use path templates.
    """

    emulator: EmulatorHandle
    http: httpx.Client
    topology: dict[str, Any] = field(default_factory=dict)
    source_ppg: str = ""
    target_ppg: str = ""
    vm_id: str = ""
    disk_id: str = ""

    # ------------------------------------------------------------------ addresses
    @property
    def sub(self) -> str:
        return self.emulator.subscription_id

    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}"

    @property
    def vault(self) -> str:
        return f"{self.rg_id(VAULT_RG)}/providers/Microsoft.RecoveryServices/vaults/{VAULT}"

    def container_path(self, side: str = "primary") -> str:
        t = self.topology
        return f"{self.vault}/replicationFabrics/{t[side + 'Fabric']}/replicationProtectionContainers/{t[side + 'Container']}"

    def item_path(self, side: str = "primary", name: str = ITEM) -> str:
        return f"{self.container_path(side)}/replicationProtectedItems/{name}"

    # ------------------------------------------------------------------ raw HTTP
    def send(self, method: str, path: str, body: Any = None, api: str = API) -> httpx.Response:
        return self.http.request(method, path, params={"api-version": api}, json=body)

    def get(self, path: str, api: str = API) -> dict[str, Any]:
        response = self.send("GET", path, api=api)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return dict(response.json())

    def job_id(self, accepted: httpx.Response) -> str:
        """The job a 202 started (the last segment of its Azure-AsyncOperation URL)."""
        assert accepted.status_code == 202, f"expected 202, got {accepted.status_code} {accepted.text}"
        return path_of(accepted.headers["Azure-AsyncOperation"]).rstrip("/").rsplit("/", 1)[-1]

    def job(self, job: str) -> dict[str, Any]:
        return self.get(f"{self.vault}/replicationJobs/{job}")

    def running_job(self, accepted: httpx.Response) -> dict[str, Any]:
        """The job of a 202 read once it has started (STARTED_AFTER seconds later on the emulator clock).

        Read in the instant after the 202 Azure's job is still NotStarted with no tasks (PPG recording 19:52:19);
        the recorded reads these tests compare with were all taken after that instant."""
        job = self.job_id(accepted)
        self.advance(STARTED_AFTER)
        return self.job(job)

    def advance(self, seconds: float) -> None:
        self.emulator.advance(seconds)

    def finish(self, accepted: httpx.Response, seconds: float) -> dict[str, Any]:
        """Let the job of a 202 run to its end on the emulator clock; return the finished job."""
        job = self.job_id(accepted)
        self.advance(seconds)
        body = self.job(job)
        assert body["properties"]["state"] not in ("InProgress", "NotStarted"), body["properties"]
        return body

    def item(self, side: str = "primary") -> dict[str, Any]:
        return self.get(self.item_path(side))

    # ------------------------------------------------------------------ the life cycle, as the recordings drive it
    def enable_body(self) -> dict[str, Any]:
        t = self.topology
        return {
            "properties": {
                "policyId": t["policyId"],
                "providerSpecificDetails": {
                    "instanceType": "A2A",
                    "fabricObjectId": self.vm_id,
                    "recoveryContainerId": t["recoveryContainerId"],
                    "recoveryResourceGroupId": self.rg_id(TARGET_RG),
                    "recoveryProximityPlacementGroupId": self.target_ppg,
                    "vmDisks": [],
                    "vmManagedDisks": [
                        {
                            "diskId": self.disk_id,
                            "primaryStagingAzureStorageAccountId": f"{self.rg_id(SOURCE_RG)}/{STORAGE}/cache",
                            "recoveryResourceGroupId": self.rg_id(TARGET_RG),
                            "recoveryReplicaDiskAccountType": "Premium_LRS",
                            "recoveryTargetDiskAccountType": "Premium_LRS",
                        }
                    ],
                },
            }
        }

    def enable(self) -> httpx.Response:
        return self.send("PUT", self.item_path(), self.enable_body())

    def protect(self) -> None:
        """Enable and let initial replication finish (enable job, then initial replication)."""
        self.finish(self.enable(), 60)
        self.advance(300)
        assert self.item()["properties"]["protectionState"] == "Protected"

    def unplanned_failover(self, source_site_operations: str = "Required") -> httpx.Response:
        body = {
            "properties": {
                "failoverDirection": "PrimaryToRecovery",
                "sourceSiteOperations": source_site_operations,
                "providerSpecificDetails": {"instanceType": "A2A"},
            }
        }
        return self.send("POST", f"{self.item_path()}/unplannedFailover", body)

    def failed_over(self, source_site_operations: str = "Required") -> None:
        """Protected, then failed over (not committed)."""
        self.protect()
        self.finish(self.unplanned_failover(source_site_operations), 120)

    def committed(self) -> None:
        """Failed over and committed: the state A2AReprotectTest starts from."""
        self.failed_over()
        self.finish(self.send("POST", f"{self.item_path()}/failoverCommit"), 30)

    def switch_protection_body(self, ppg: str | None) -> dict[str, Any]:
        """The A2A switch protection input PowerShell sent (A2AReprotectTest entry 16, PPG recording 20:06:06)."""
        t = self.topology
        item = self.item()["properties"]["providerSpecificDetails"]
        failed_over_vm = item["recoveryFabricObjectId"]
        vm = self.get(failed_over_vm, api=COMPUTE_API)
        disk = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
        specific: dict[str, Any] = {
            "instanceType": "A2A",
            "recoveryContainerId": t["primaryContainerId"],
            "vmDisks": [],
            "vmManagedDisks": [
                {
                    "diskId": disk,
                    "primaryStagingAzureStorageAccountId": f"{self.rg_id(TARGET_RG)}/{STORAGE}/cache2",
                    "recoveryResourceGroupId": self.rg_id(SOURCE_RG),
                    "recoveryReplicaDiskAccountType": "Premium_LRS",
                    "recoveryTargetDiskAccountType": "Premium_LRS",
                }
            ],
            "recoveryResourceGroupId": self.rg_id(SOURCE_RG),
            "policyId": t["policyId"],
        }
        if ppg:
            specific["recoveryProximityPlacementGroupId"] = ppg
        return {"properties": {"replicationProtectedItemName": ITEM, "providerSpecificDetails": specific}}

    def switch_protection(self, ppg: str | None = None) -> httpx.Response:
        body = self.switch_protection_body(ppg)
        return self.send("POST", f"{self.container_path()}/switchprotection", body)

    # ------------------------------------------------------------------ drills (test failover), as recorded
    def test_network(self, subnets: tuple[str, ...] = ("zeta", "Alpha")) -> str:
        """An isolated test network in the recovery region (the recorded drill used adVNET-asr, subnet adSubnet)."""
        vnet = f"{self.rg_id(TARGET_RG)}/providers/Microsoft.Network/virtualNetworks/vnet-drill"
        body = {
            "location": RECOVERY,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.9.0.0/16"]},
                "subnets": [{"name": n, "properties": {"addressPrefix": f"10.9.{i}.0/24"}} for i, n in enumerate(subnets)],
            },
        }
        assert self.send("PUT", vnet, body, api="2024-05-01").status_code in (200, 201)
        return vnet

    def test_failover(self, network: str, recovery_point_id: str | None = None) -> httpx.Response:
        """The A2A test failover input (REST example shape; the recorded drill also passed networkType)."""
        specific: dict[str, Any] = {"instanceType": "A2A"}
        if recovery_point_id is not None:
            specific["recoveryPointId"] = recovery_point_id
        body = {
            "properties": {
                "failoverDirection": "PrimaryToRecovery",
                "networkType": "VmNetworkAsInput",
                "networkId": network,
                "providerSpecificDetails": specific,
            }
        }
        return self.send("POST", f"{self.item_path()}/testFailover", body)

    def test_failover_cleanup(self, comments: str | None = "Test Failover Cleanup") -> httpx.Response:
        body = {"properties": {"comments": comments}} if comments is not None else {"properties": {}}
        return self.send("POST", f"{self.item_path()}/testFailoverCleanup", body)


def build_world(emulator: EmulatorHandle) -> World:
    """A fresh estate: groups, PPGs, the source VM, the vault and its A2A topology; the clock frozen."""
    emulator.set_speed(0)
    emulator.admin("POST", "asr/settings", json={"retryAfterSeconds": 0})
    http = emulator.http()
    world = World(emulator, http)
    for rg, location in ((SOURCE_RG, PRIMARY), (TARGET_RG, RECOVERY), (VAULT_RG, RECOVERY)):
        assert world.send("PUT", world.rg_id(rg), {"location": location}, api="2021-04-01").status_code in (200, 201)
    ppgs = "providers/Microsoft.Compute/proximityPlacementGroups"
    world.source_ppg = f"{world.rg_id(SOURCE_RG)}/{ppgs}/ppg-app"
    world.target_ppg = f"{world.rg_id(TARGET_RG)}/{ppgs}/ppg-app-asr"
    for ppg, location in ((world.source_ppg, PRIMARY), (world.target_ppg, RECOVERY)):
        assert world.send("PUT", ppg, {"location": location}, api=COMPUTE_API).status_code in (200, 201)
    vm_path = f"{world.rg_id(SOURCE_RG)}/providers/Microsoft.Compute/virtualMachines/app1"
    assert world.send("PUT", vm_path, vm_body(PRIMARY, world.source_ppg), api=COMPUTE_API).status_code in (200, 201)
    emulator.advance(1)
    vm = world.get(vm_path, api=COMPUTE_API)
    world.vm_id = vm["id"]
    world.disk_id = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
    assert world.send("PUT", world.vault, {"location": RECOVERY, "sku": {"name": "RS0", "tier": "Standard"}}).status_code in (
        200,
        201,
    )
    vnets = "providers/Microsoft.Network/virtualNetworks"
    world.topology = emulator.admin(
        "POST",
        "asr/topology",
        json={
            "subscriptionId": world.sub,
            "resourceGroup": VAULT_RG,
            "vault": VAULT,
            "primary": {"location": PRIMARY, "networkId": f"{world.rg_id(SOURCE_RG)}/{vnets}/vnet-app"},
            "recovery": {"location": RECOVERY, "networkId": f"{world.rg_id(TARGET_RG)}/{vnets}/vnet-app-asr"},
        },
    )
    return world
