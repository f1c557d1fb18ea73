"""Site Recovery responses keep the shapes of the REST API examples and of the recorded A2A session.

Every key a real response has (recursively, for the same ``instanceType``) is in the emulator's
response; the A2A item, its disks and the operation-status poll are compared with the recording.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.data import DATA
from tests.emulator.conftest import vm_body
from tests.fixtures.emulator import EmulatorHandle

FIXTURES = DATA
EXAMPLES = FIXTURES / "asr-rest-examples"
RECORDING = FIXTURES / "recordings" / "dotnet-CreateA2AReplicationProtectedItem.json"
API = {"api-version": "2025-08-01"}
PRIMARY, RECOVERY = "westeurope", "northeurope"


def example(name: str, code: str = "200") -> Any:
    return json.loads((EXAMPLES / name).read_text())["responses"][code]["body"]


def recorded(index: int) -> Any:
    return json.loads(json.loads(RECORDING.read_text())["Entries"][index]["ResponseBody"])


def missing_keys(mine: Any, real: Any, path: str = "") -> list[str]:
    """Keys of ``real`` absent from ``mine``, recursively (skipping provider blocks of another instanceType)."""
    if not isinstance(real, dict) or not isinstance(mine, dict):
        return []
    if "instanceType" in real and real.get("instanceType") != mine.get("instanceType"):
        return []
    out = []
    for key, value in real.items():
        if key not in mine:
            out.append(f"{path}.{key}")
        elif isinstance(value, dict):
            out += missing_keys(mine[key], value, f"{path}.{key}")
        elif isinstance(value, list) and value and isinstance(value[0], dict) and isinstance(mine[key], list) and mine[key]:
            out += missing_keys(mine[key][0], value[0], f"{path}.{key}[0]")
    return out


class Asr:
    def __init__(self, emulator: EmulatorHandle) -> None:
        self.emulator = emulator
        self.sub = emulator.subscription_id
        self.vault = f"/subscriptions/{self.sub}/resourceGroups/rg-dr/providers/Microsoft.RecoveryServices/vaults/vault1"
        self.http = emulator.http()

    def get(self, path: str, **query: str) -> Any:
        response = self.http.get(path, params={**API, **query})
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, method: str, path: str, body: Any, seconds: float = 0) -> Any:
        response = self.http.request(method, path, params=API, json=body)
        assert response.status_code == 202, response.text
        if seconds:
            self.emulator.advance(seconds)
        status = self.http.get(response.headers["Azure-AsyncOperation"]).json()
        assert status["status"] == "Succeeded", status
        result = self.http.get(response.headers["Location"])
        return status, (result.json() if result.status_code == 200 else None)


@pytest.fixture
def asr(fresh_emulator: EmulatorHandle) -> Any:
    fresh_emulator.admin("POST", "asr/settings", json={"retryAfterSeconds": 0})
    rc = fresh_emulator.resource_client()
    for rg, location in (("rg-app", PRIMARY), ("rg-app-asr", RECOVERY), ("rg-dr", RECOVERY)):
        rc.resource_groups.create_or_update(rg, {"location": location})
    compute = fresh_emulator.compute_client()
    ppg = compute.proximity_placement_groups.create_or_update("rg-app-asr", "ppg-dr", {"location": RECOVERY}).id
    vm = compute.virtual_machines.begin_create_or_update("rg-app", "app1", vm_body(location=PRIMARY)).result()
    a = Asr(fresh_emulator)
    assert a.http.put(a.vault, params=API, json={"location": RECOVERY}).status_code == 201
    topology = fresh_emulator.admin(
        "POST",
        "asr/topology",
        json={
            "subscriptionId": a.sub,
            "resourceGroup": "rg-dr",
            "vault": "vault1",
            "primary": {
                "location": PRIMARY,
                "networkId": f"/subscriptions/{a.sub}/resourceGroups/rg-app/providers/Microsoft.Network/virtualNetworks/v1",
            },
            "recovery": {
                "location": RECOVERY,
                "networkId": f"/subscriptions/{a.sub}/resourceGroups/rg-app-asr/providers/Microsoft.Network/virtualNetworks/v2",
            },
        },
    )
    a.topology = topology
    a.item_path = f"{topology['primaryContainerId'].replace('/Subscriptions/', '/subscriptions/')}/replicationProtectedItems/app1"
    enable = {
        "properties": {
            "policyId": topology["policyId"],
            "providerSpecificDetails": {
                "instanceType": "A2A",
                "fabricObjectId": vm.id,
                "recoveryContainerId": topology["recoveryContainerId"],
                "recoveryResourceGroupId": f"/subscriptions/{a.sub}/resourceGroups/rg-app-asr",
                "recoveryProximityPlacementGroupId": ppg,
                "vmManagedDisks": [
                    {
                        "diskId": vm.storage_profile.os_disk.managed_disk.id,
                        "recoveryResourceGroupId": f"/subscriptions/{a.sub}/resourceGroups/rg-app-asr",
                        "recoveryReplicaDiskAccountType": "Premium_LRS",
                        "recoveryTargetDiskAccountType": "Premium_LRS",
                    }
                ],
            },
        }
    }
    a.enable_status, _ = a.send("PUT", a.item_path, enable, 60)
    yield a
    a.http.close()


def test_a2a_item_matches_the_recording(asr: Any) -> None:
    item = asr.get(asr.item_path)
    real = recorded(20)
    assert missing_keys(item, real) == []
    assert (
        missing_keys(
            item["properties"]["providerSpecificDetails"]["protectedManagedDisks"][0],
            real["properties"]["providerSpecificDetails"]["protectedManagedDisks"][0],
        )
        == []
    )
    assert item["properties"]["protectionState"] == real["properties"]["protectionState"]
    assert item["properties"]["allowedOperations"] == real["properties"]["allowedOperations"]
    assert item["properties"]["currentScenario"] == {
        "scenarioName": "None",
        "jobId": f"{asr.vault.replace('/subscriptions/', '/Subscriptions/')}/replicationJobs/None",
        "startTime": "1753-01-01T01:01:01Z",
    }
    assert item["type"] == real["type"]


def test_operation_status_matches_the_recording(asr: Any) -> None:
    assert set(asr.enable_status) == set(recorded(19))
    assert set(asr.enable_status) == set(recorded(3))


def test_setup_objects_match_the_examples(asr: Any) -> None:
    t = asr.topology
    vault = asr.vault
    fabric = asr.get(f"{vault}/replicationFabrics/{t['primaryFabric']}")
    assert missing_keys(fabric, example("ReplicationFabrics_Create.json")) == []
    container = asr.get(
        f"{vault}/replicationFabrics/{t['primaryFabric']}/replicationProtectionContainers/{t['primaryContainer']}"
    )
    assert missing_keys(container, example("ReplicationProtectionContainers_Create.json")) == []
    assert missing_keys(container, recorded(1)) == []
    mapping = asr.get(
        f"{vault}/replicationFabrics/{t['primaryFabric']}/replicationProtectionContainers/{t['primaryContainer']}"
        f"/replicationProtectionContainerMappings/{t['forwardMapping']}"
    )
    assert missing_keys(mapping, example("ReplicationProtectionContainerMappings_Create.json")) == []
    policy = asr.get(t["policyId"].replace("/Subscriptions/", "/subscriptions/"))
    assert missing_keys(policy, recorded(0)) == []
    assert missing_keys(policy, example("ReplicationPolicies_Create.json")) == []
    networks = asr.get(f"{vault}/replicationNetworkMappings")["value"]
    assert len(networks) == 2
    assert missing_keys(networks[0], example("ReplicationNetworkMappings_Create.json")) == []


def test_jobs_match_the_examples(asr: Any) -> None:
    jobs = asr.get(f"{asr.vault}/replicationJobs")["value"]
    listed_enable = next(j for j in jobs if j["properties"]["scenarioName"] == "EnableDr")
    assert (listed_enable["properties"]["tasks"], listed_enable["properties"]["customDetails"]) == ([], None), (
        "a list page has no tasks and no customDetails (PPG recording job list at 19:34:45)"
    )
    enable = asr.get(listed_enable["id"])
    real = example("ReplicationJobs_Get.json")
    assert missing_keys(enable, {k: v for k, v in real.items() if k != "properties"}) == []
    assert missing_keys(enable["properties"], {k: v for k, v in real["properties"].items() if k != "customDetails"}) == []
    assert enable["properties"]["customDetails"]["instanceType"] == "AsrJobDetails"
    assert set(real["properties"]["customDetails"]) <= set(enable["properties"]["customDetails"])
    listed = example("ReplicationJobs_List.json")["value"][0]
    assert missing_keys(jobs[0], listed) == []


#: Keys of the Hyper-V REST examples an A2A item does not have: lastSuccessfulFailoverTime is absent until a
#: failover (PPG recording 19:51:56, entries[-1]).
NOT_YET = {"lastSuccessfulFailoverTime"}


def without(example_body: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {**example_body, "properties": {k: v for k, v in example_body["properties"].items() if k not in keys}}


def test_item_states_match_the_examples_through_the_life_cycle(asr: Any) -> None:
    asr.emulator.advance(300)
    protected = asr.get(asr.item_path)
    assert missing_keys(protected, without(example("ReplicationProtectedItems_Get.json"), NOT_YET)) == []
    listed = asr.get(f"{asr.vault}/replicationProtectedItems")
    assert (
        missing_keys(listed["value"][0], without(example("2025-01-01/ReplicationProtectedItems_List.json")["value"][0], NOT_YET))
        == []
    )

    points = asr.get(f"{asr.item_path}/recoveryPoints")["value"]
    assert missing_keys(points[0], example("RecoveryPoints_ListByReplicationProtectedItems.json")["value"][0]) == []

    network = f"/subscriptions/{asr.sub}/resourceGroups/rg-app-asr/providers/Microsoft.Network/virtualNetworks/vnet-test"
    _, drilled = asr.send(
        "POST",
        f"{asr.item_path}/testFailover",
        {
            "properties": {
                "failoverDirection": "PrimaryToRecovery",
                "networkType": "VmNetworkAsInput",
                "networkId": network,
                "providerSpecificDetails": {"instanceType": "A2A"},
            }
        },
        120,
    )
    real = example("ReplicationProtectedItems_TestFailover.json")
    assert missing_keys(drilled, without(real, NOT_YET)) == []
    assert (drilled["properties"]["testFailoverState"], drilled["properties"]["allowedOperations"]) == (
        real["properties"]["testFailoverState"],
        real["properties"]["allowedOperations"],
    )
    _, cleaned = asr.send("POST", f"{asr.item_path}/testFailoverCleanup", {"properties": {"comments": "ok"}}, 60)
    assert missing_keys(cleaned, without(example("ReplicationProtectedItems_TestFailoverCleanup.json"), NOT_YET)) == []

    _, failed_over = asr.send(
        "POST",
        f"{asr.item_path}/unplannedFailover",
        {"properties": {"failoverDirection": "PrimaryToRecovery", "providerSpecificDetails": {"instanceType": "A2A"}}},
        120,
    )
    real = example("ReplicationProtectedItems_UnplannedFailover.json")
    assert missing_keys(failed_over, real) == []
    assert (
        failed_over["properties"]["protectionState"],
        failed_over["properties"]["protectionStateDescription"],
        failed_over["properties"]["activeLocation"],
    ) == (
        real["properties"]["protectionState"],
        real["properties"]["protectionStateDescription"],
        real["properties"]["activeLocation"],
    )
    _, committed = asr.send("POST", f"{asr.item_path}/failoverCommit", None, 30)
    assert missing_keys(committed, example("ReplicationProtectedItems_FailoverCommit.json")) == []

    t = asr.topology
    container_path = t["primaryContainerId"].replace("/Subscriptions/", "/subscriptions/")
    _, container = asr.send(
        "POST",
        f"{container_path}/switchprotection",
        {
            "properties": {
                "replicationProtectedItemName": "app1",
                "providerSpecificDetails": {"instanceType": "A2A", "recoveryContainerId": t["primaryContainerId"]},
            }
        },
        90,
    )
    assert missing_keys(container, example("ReplicationProtectionContainers_SwitchProtection.json")) == []


def test_recovery_plans_match_the_examples(asr: Any) -> None:
    asr.emulator.advance(300)
    t = asr.topology
    item_id = asr.get(asr.item_path)["id"]
    plan_path = f"{asr.vault}/replicationRecoveryPlans/rp1"
    _, created = asr.send(
        "PUT",
        plan_path,
        {
            "properties": {
                "primaryFabricId": f"{t['vaultId']}/replicationFabrics/{t['primaryFabric']}",
                "recoveryFabricId": f"{t['vaultId']}/replicationFabrics/{t['recoveryFabric']}",
                "failoverDeploymentModel": "ResourceManager",
                "groups": [{"groupType": "Boot", "replicationProtectedItems": [{"id": item_id, "virtualMachineId": "app1"}]}],
            }
        },
    )
    assert missing_keys(created, example("ReplicationRecoveryPlans_Create.json")) == []
    assert missing_keys(asr.get(plan_path), example("ReplicationRecoveryPlans_Get.json")) == []
    _, failed_over = asr.send(
        "POST",
        f"{plan_path}/unplannedFailover",
        {
            "properties": {
                "failoverDirection": "PrimaryToRecovery",
                "sourceSiteOperations": "NotRequired",
                "providerSpecificDetails": [{"instanceType": "A2A", "recoveryPointType": "Latest"}],
            }
        },
        150,
    )
    real = example("ReplicationRecoveryPlans_UnplannedFailover.json")
    scenario_keys = {k: v for k, v in real["properties"].items() if k not in ("lastPlannedFailoverTime", "lastTestFailoverTime")}
    assert missing_keys(failed_over["properties"], scenario_keys) == []
    assert failed_over["properties"]["currentScenarioStatus"] == real["properties"]["currentScenarioStatus"]
    assert "lastUnplannedFailoverTime" in failed_over["properties"]
