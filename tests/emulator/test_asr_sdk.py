"""The unmodified SiteRecoveryManagementClient drives the emulated Site Recovery, LROs polled to the end.

Every ``begin_*`` call is followed to completion by the SDK's own ARMPolling (``polling_interval=0``):
the 202 + ``Azure-AsyncOperation`` + ``Location`` answer, polls of ``replicationOperationStatus`` until
the job is done on the emulator clock (moved by the admin API), then the final GET.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.recoveryservicessiterecovery import models as m

from emulator.routing import DEFAULT_PAGE_SIZE
from tests.emulator.conftest import vm_body
from tests.fixtures.emulator import EmulatorHandle

PRIMARY, RECOVERY = "westeurope", "northeurope"
VAULT_RG, VAULT = "rg-dr", "vault-dr"


@dataclass
class Env:
    emulator: EmulatorHandle
    client: Any
    compute: Any
    sub: str
    primary_fabric: str = "asr-a2a-default-westeurope"
    recovery_fabric: str = "asr-a2a-default-northeurope"
    primary_container: str = "asr-a2a-default-westeurope-container"
    recovery_container: str = "asr-a2a-default-northeurope-container"
    policy: str = "a2a-policy"

    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}"

    @property
    def vault_id(self) -> str:
        return f"{self.rg_id(VAULT_RG)}/providers/Microsoft.RecoveryServices/vaults/{VAULT}"

    def container_id(self, fabric: str, container: str) -> str:
        return f"{self.vault_id}/replicationFabrics/{fabric}/replicationProtectionContainers/{container}"

    @property
    def policy_id(self) -> str:
        return f"{self.vault_id}/replicationPolicies/{self.policy}"

    def run(self, poller: Any, seconds: float = 0) -> Any:
        """Let the SDK poll while the emulator clock moves on; return the LRO result."""
        if seconds:
            self.emulator.advance(seconds)
        return poller.result(timeout=60)

    def ppg(self, rg: str, name: str, location: str) -> str:
        return str(self.compute.proximity_placement_groups.create_or_update(rg, name, {"location": location}).id)

    def vm(self, name: str, *, ppg: str | None = None, size: str = "Standard_D2s_v5", unmanaged: bool = False) -> Any:
        body = vm_body(size=size, location=PRIMARY, ppg_id=ppg, tags={"ppg-dr": "on"}, unmanaged=unmanaged)
        return self.compute.virtual_machines.begin_create_or_update("rg-app", name, body).result()

    def enable_input(self, vm: Any, *, ppg: str | None, **extra: Any) -> m.EnableProtectionInput:
        disks = [
            m.A2AVmManagedDiskInputDetails(
                disk_id=vm.storage_profile.os_disk.managed_disk.id,
                primary_staging_azure_storage_account_id=f"{self.rg_id('rg-app')}/providers/Microsoft.Storage/storageAccounts/cache",
                recovery_resource_group_id=self.rg_id("rg-app-asr"),
                recovery_replica_disk_account_type="Premium_LRS",
                recovery_target_disk_account_type="Premium_LRS",
            )
        ]
        specific = m.A2AEnableProtectionInput(
            fabric_object_id=vm.id,
            recovery_container_id=self.container_id(self.recovery_fabric, self.recovery_container),
            recovery_resource_group_id=self.rg_id("rg-app-asr"),
            recovery_proximity_placement_group_id=ppg,
            vm_managed_disks=disks,
            **extra,
        )
        return m.EnableProtectionInput(
            properties=m.EnableProtectionInputProperties(policy_id=self.policy_id, provider_specific_details=specific)
        )

    def protect(self, name: str, vm: Any, *, ppg: str | None, **extra: Any) -> Any:
        poller = self.client.replication_protected_items.begin_create(
            VAULT_RG, VAULT, self.primary_fabric, self.primary_container, name, self.enable_input(vm, ppg=ppg, **extra)
        )
        item = self.run(poller, 60)
        assert item.properties.protection_state == "InitialReplicationInProgress"
        self.emulator.advance(300)
        return self.item(name)

    def item(self, name: str, fabric: str | None = None, container: str | None = None) -> Any:
        return self.client.replication_protected_items.get(
            VAULT_RG, VAULT, fabric or self.primary_fabric, container or self.primary_container, name
        )


@pytest.fixture
def env(fresh_emulator: EmulatorHandle) -> Iterator[Env]:
    fresh_emulator.admin("POST", "asr/settings", json={"retryAfterSeconds": 0})
    resources = fresh_emulator.resource_client()
    for rg, location in (("rg-app", PRIMARY), ("rg-app-asr", RECOVERY), (VAULT_RG, RECOVERY)):
        resources.resource_groups.create_or_update(rg, {"location": location})
    with fresh_emulator.http() as http:
        group = f"/subscriptions/{fresh_emulator.subscription_id}/resourceGroups/{VAULT_RG}"
        path = f"{group}/providers/Microsoft.RecoveryServices/vaults/{VAULT}"
        created = http.put(
            path, params={"api-version": "2025-08-01"}, json={"location": RECOVERY, "sku": {"name": "RS0", "tier": "Standard"}}
        )
        assert created.status_code == 201
    e = Env(
        fresh_emulator, fresh_emulator.site_recovery_client(), fresh_emulator.compute_client(), fresh_emulator.subscription_id
    )
    c = e.client
    for fabric, location in ((e.primary_fabric, PRIMARY), (e.recovery_fabric, RECOVERY)):
        fab = e.run(
            c.replication_fabrics.begin_create(
                VAULT_RG,
                VAULT,
                fabric,
                m.FabricCreationInput(
                    properties=m.FabricCreationInputProperties(custom_details=m.AzureFabricCreationInput(location=location))
                ),
            )
        )
        assert fab.properties.custom_details.location == location
    for fabric, container in ((e.primary_fabric, e.primary_container), (e.recovery_fabric, e.recovery_container)):
        e.run(
            c.replication_protection_containers.begin_create(
                VAULT_RG,
                VAULT,
                fabric,
                container,
                m.CreateProtectionContainerInput(
                    properties=m.CreateProtectionContainerInputProperties(provider_specific_input=[m.A2AContainerCreationInput()])
                ),
            )
        )
    policy = e.run(
        c.replication_policies.begin_create(
            VAULT_RG,
            VAULT,
            e.policy,
            m.CreatePolicyInput(
                properties=m.CreatePolicyInputProperties(
                    provider_specific_input=m.A2APolicyCreationInput(
                        recovery_point_history=1440,
                        app_consistent_frequency_in_minutes=60,
                        crash_consistent_frequency_in_minutes=5,
                        multi_vm_sync_status="Enable",
                    )
                )
            ),
        )
    )
    assert policy.properties.provider_specific_details.recovery_point_history == 1440
    for fabric, container, target_fabric, target_container, name in (
        (e.primary_fabric, e.primary_container, e.recovery_fabric, e.recovery_container, "we-to-ne"),
        (e.recovery_fabric, e.recovery_container, e.primary_fabric, e.primary_container, "ne-to-we"),
    ):
        e.run(
            c.replication_protection_container_mappings.begin_create(
                VAULT_RG,
                VAULT,
                fabric,
                container,
                name,
                m.CreateProtectionContainerMappingInput(
                    properties=m.CreateProtectionContainerMappingInputProperties(
                        target_protection_container_id=e.container_id(target_fabric, target_container),
                        policy_id=e.policy_id,
                        provider_specific_input=m.A2AContainerMappingInput(agent_auto_update_status="Disabled"),
                    )
                ),
            )
        )
    yield e


def test_setup_objects_read_back_and_list(env: Env) -> None:
    c = env.client
    assert sorted(f.name for f in c.replication_fabrics.list(VAULT_RG, VAULT)) == sorted(
        [env.primary_fabric, env.recovery_fabric]
    )
    fabric = c.replication_fabrics.get(VAULT_RG, VAULT, env.primary_fabric.upper())
    assert fabric.properties.custom_details.container_ids[0].endswith(env.primary_container)
    container = c.replication_protection_containers.get(VAULT_RG, VAULT, env.primary_fabric, env.primary_container)
    assert (container.properties.pairing_status, container.properties.role) == ("Paired", "Primary")
    assert len(list(c.replication_protection_containers.list(VAULT_RG, VAULT))) == 2
    assert [
        x.name for x in c.replication_protection_containers.list_by_replication_fabrics(VAULT_RG, VAULT, env.recovery_fabric)
    ] == [env.recovery_container]
    mapping = c.replication_protection_container_mappings.get(
        VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "we-to-ne"
    )
    assert mapping.properties.state == "Paired" and mapping.properties.policy_friendly_name == env.policy
    assert len(list(c.replication_protection_container_mappings.list(VAULT_RG, VAULT))) == 2
    assert (
        len(
            list(
                c.replication_protection_container_mappings.list_by_replication_protection_containers(
                    VAULT_RG, VAULT, env.primary_fabric, env.primary_container
                )
            )
        )
        == 2
    ), "a container's mapping list has both directions (A2AReprotectTest entries 5 and 10)"
    updated = env.run(
        c.replication_policies.begin_update(
            VAULT_RG,
            VAULT,
            env.policy,
            m.UpdatePolicyInput(
                properties=m.UpdatePolicyInputProperties(
                    replication_provider_settings=m.A2APolicyCreationInput(
                        recovery_point_history=720, multi_vm_sync_status="Enable"
                    )
                )
            ),
        )
    )
    assert updated.properties.provider_specific_details.recovery_point_history == 720
    assert [p.name for p in c.replication_policies.list(VAULT_RG, VAULT)] == [env.policy]
    with pytest.raises(HttpResponseError) as busy:
        c.replication_policies.begin_delete(VAULT_RG, VAULT, env.policy)
    assert busy.value.error.code == "PolicyInUse"
    spare = env.run(
        c.replication_policies.begin_create(
            VAULT_RG,
            VAULT,
            "spare",
            m.CreatePolicyInput(
                properties=m.CreatePolicyInputProperties(
                    provider_specific_input=m.A2APolicyCreationInput(multi_vm_sync_status="Disable")
                )
            ),
        )
    )
    assert spare.name == "spare"
    env.run(c.replication_policies.begin_delete(VAULT_RG, VAULT, "spare"))
    with pytest.raises(ResourceNotFoundError):
        c.replication_policies.get(VAULT_RG, VAULT, "spare")


def test_network_mappings_create_get_list_delete(env: Env) -> None:
    c = env.client
    primary_vnet = f"{env.rg_id('rg-app')}/providers/Microsoft.Network/virtualNetworks/vnet-app"
    recovery_vnet = f"{env.rg_id('rg-app-asr')}/providers/Microsoft.Network/virtualNetworks/vnet-app-dr"
    created = env.run(
        c.replication_network_mappings.begin_create(
            VAULT_RG,
            VAULT,
            env.primary_fabric,
            "azureNetwork",
            "we-ne-net",
            m.CreateNetworkMappingInput(
                properties=m.CreateNetworkMappingInputProperties(
                    recovery_fabric_name=env.recovery_fabric,
                    recovery_network_id=recovery_vnet,
                    fabric_specific_details=m.AzureToAzureCreateNetworkMappingInput(primary_network_id=primary_vnet),
                )
            ),
        )
    )
    assert created.properties.recovery_network_id == recovery_vnet
    assert created.properties.fabric_specific_settings.recovery_fabric_location == RECOVERY
    got = c.replication_network_mappings.get(VAULT_RG, VAULT, env.primary_fabric, "azureNetwork", "WE-NE-NET")
    assert got.properties.primary_network_id == primary_vnet
    assert [x.name for x in c.replication_network_mappings.list(VAULT_RG, VAULT)] == ["we-ne-net"]
    assert [
        x.name
        for x in c.replication_network_mappings.list_by_replication_networks(VAULT_RG, VAULT, env.primary_fabric, "azureNetwork")
    ] == ["we-ne-net"]
    assert [n.name for n in c.replication_networks.list_by_replication_fabrics(VAULT_RG, VAULT, env.primary_fabric)] == [
        "azureNetwork"
    ]
    assert c.replication_networks.get(VAULT_RG, VAULT, env.primary_fabric, "azureNetwork").name == "azureNetwork"
    assert len(list(c.replication_networks.list(VAULT_RG, VAULT))) == 1
    env.run(c.replication_network_mappings.begin_delete(VAULT_RG, VAULT, env.primary_fabric, "azureNetwork", "we-ne-net"))
    assert list(c.replication_network_mappings.list(VAULT_RG, VAULT)) == []


def test_enable_follows_the_recorded_lro_sequence(env: Env) -> None:
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    vm = env.vm("app1", ppg=env.ppg("rg-app", "ppg-app", PRIMARY))
    env.emulator.clear_requests()
    poller = env.client.replication_protected_items.begin_create(
        VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1", env.enable_input(vm, ppg=target_ppg)
    )
    time.sleep(0.2)
    assert not poller.done()
    item = env.run(poller, 60)
    log = env.emulator.requests(path="replicationProtectedItems/app1|replicationOperationStatus")
    assert (log[0]["method"], log[0]["status"]) == ("PUT", 202)
    polls = [e for e in log if "replicationOperationStatus" in e["path"]]
    assert len(polls) >= 2, "InProgress polls, then Succeeded"
    assert log[-1]["method"] == "GET" and log[-1]["path"].endswith("/replicationProtectedItems/app1")
    assert item.properties.protection_state == "InitialReplicationInProgress"
    details = item.properties.provider_specific_details
    assert details.instance_type == "A2A" and details.recovery_proximity_placement_group_id == target_ppg
    assert details.protected_managed_disks[0].primary_staging_azure_storage_account_id.endswith("/cache")

    env.emulator.advance(150)
    halfway = env.item("app1").properties.provider_specific_details
    assert halfway.monitoring_percentage_completion == 50 and halfway.monitoring_job_type == "InitialReplication"
    env.emulator.advance(150)
    protected = env.item("app1").properties
    assert protected.protection_state == "Protected"
    assert protected.allowed_operations == ["UnplannedFailover", "DisableProtection", "TestFailover"]

    jobs = list(env.client.replication_jobs.list(VAULT_RG, VAULT, filter="jobName eq 'EnableDr'"))
    assert len(jobs) == 1 and jobs[0].properties.state == "Succeeded"
    job = env.client.replication_jobs.get(VAULT_RG, VAULT, jobs[0].name)
    assert job.properties.scenario_name == "EnableDr" and job.properties.custom_details.instance_type == "AsrJobDetails"
    assert all(t.state == "Succeeded" for t in job.properties.tasks)


def test_raw_lro_answers_match_the_recorded_sequence(env: Env) -> None:
    vm = env.vm("app1")
    item_path = (
        f"{env.vault_id}/replicationFabrics/{env.primary_fabric}/replicationProtectionContainers/"
        f"{env.primary_container}/replicationProtectedItems/app1"
    )
    api = {"api-version": "2025-08-01"}
    body = env.enable_input(vm, ppg=None).as_dict()
    with env.emulator.http() as http:
        accepted = http.put(item_path, params=api, json=body)
        assert accepted.status_code == 202 and accepted.content == b""
        status_url = accepted.headers["Azure-AsyncOperation"]
        job = status_url.split("/replicationOperationStatus/")[1].split("?")[0]
        assert "/Subscriptions/" in status_url and status_url.endswith("?api-version=2025-08-01")
        assert accepted.headers["Location"].split("?")[0].endswith(f"/replicationProtectedItems/app1/operationresults/{job}")
        assert accepted.headers["Retry-After"] == "0" and accepted.headers["x-ms-request-id"].endswith(f"/replicationJobs/{job}")
        polled = http.get(status_url).json()
        assert set(polled) == {"error", "id", "name", "properties", "status", "startTime", "endTime", "percentComplete"}
        assert (polled["name"], polled["status"], polled["endTime"]) == (job, "InProgress", None)
        assert http.get(accepted.headers["Location"]).status_code == 202
        env.emulator.advance(60)
        done = http.get(status_url).json()
        assert done["status"] == "Succeeded" and done["endTime"]
        result = http.get(accepted.headers["Location"])
        assert result.status_code == 200 and result.json()["name"] == "app1"
        again = http.put(item_path, params=api, json=body)
        assert again.status_code == 200, "the same enable again is the same item, not a second protection"
        missing = http.get(item_path.replace("/app1", "/nope"), params=api)
        assert missing.status_code == 404 and set(missing.json()["error"]) >= {"code", "message"}


def test_failover_commit_switch_protection_failback_through_the_sdk(env: Env) -> None:
    source_ppg = env.ppg("rg-app", "ppg-app", PRIMARY)
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    vm = env.vm("app1", ppg=source_ppg)
    env.protect("app1", vm, ppg=target_ppg)
    c = env.client

    points = list(
        c.recovery_points.list_by_replication_protected_items(VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1")
    )
    assert points and points[0].properties.recovery_point_type in ("CrashConsistent", "ApplicationConsistent")
    point = c.recovery_points.get(VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1", points[0].name)
    assert point.id == points[0].id

    failed_over = env.run(
        c.replication_protected_items.begin_unplanned_failover(
            VAULT_RG,
            VAULT,
            env.primary_fabric,
            env.primary_container,
            "app1",
            m.UnplannedFailoverInput(
                properties=m.UnplannedFailoverInputProperties(
                    failover_direction="PrimaryToRecovery",
                    source_site_operations="NotRequired",
                    provider_specific_details=m.A2AUnplannedFailoverInput(),
                )
            ),
        ),
        120,
    )
    assert failed_over.properties.protection_state == "UnplannedFailoverCommitPendingStatesBegin"
    assert failed_over.properties.active_location == "Recovery"
    dr_vm = env.compute.virtual_machines.get("rg-app-asr", "app1")
    assert dr_vm.location == RECOVERY and dr_vm.proximity_placement_group.id.lower() == target_ppg.lower()

    assert "SwitchProtection" in failed_over.properties.allowed_operations, "switch protection may come before commit"

    committed = env.run(
        c.replication_protected_items.begin_failover_commit(VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1"),
        30,
    )
    assert committed.properties.protection_state == "UnplannedFailoverCommitted"
    assert committed.properties.allowed_operations == ["CompleteMigration", "DisableProtection", "SwitchProtection"]

    container = env.run(
        c.replication_protection_containers.begin_switch_protection(
            VAULT_RG,
            VAULT,
            env.primary_fabric,
            env.primary_container,
            m.SwitchProtectionInput(
                properties=m.SwitchProtectionInputProperties(
                    replication_protected_item_name="app1",
                    provider_specific_details=m.A2ASwitchProtectionInput(
                        recovery_container_id=env.container_id(env.primary_fabric, env.primary_container),
                        policy_id=env.policy_id,
                        recovery_resource_group_id=env.rg_id("rg-app"),
                        recovery_proximity_placement_group_id=source_ppg,
                    ),
                )
            ),
        ),
        90,
    )
    assert container.name == env.recovery_container
    reverse = env.item("app1", env.recovery_fabric, env.recovery_container)
    assert reverse.properties.protection_state == "InitialReplicationInProgress"
    assert reverse.properties.provider_specific_details.recovery_proximity_placement_group_id == source_ppg
    assert reverse.properties.provider_specific_details.fabric_object_id.lower() == dr_vm.id.lower()
    with pytest.raises(ResourceNotFoundError):
        env.item("app1")
    switch_job = next(iter(c.replication_jobs.list(VAULT_RG, VAULT, filter="jobName eq 'SwitchReplicationGroupProtection'")))
    switch_job = c.replication_jobs.get(VAULT_RG, VAULT, switch_job.name)
    assert switch_job.properties.custom_details.new_replication_protected_item_id.lower() == reverse.id.lower()
    with pytest.raises(ResourceNotFoundError):
        env.compute.virtual_machines.get("rg-app", "app1")  # reprotect towards the original region deletes it
    env.emulator.advance(300)
    assert env.item("app1", env.recovery_fabric, env.recovery_container).properties.protection_state == "Protected"

    failback = env.run(
        c.replication_protected_items.begin_unplanned_failover(
            VAULT_RG,
            VAULT,
            env.recovery_fabric,
            env.recovery_container,
            "app1",
            m.UnplannedFailoverInput(
                properties=m.UnplannedFailoverInputProperties(
                    failover_direction="PrimaryToRecovery", provider_specific_details=m.A2AUnplannedFailoverInput()
                )
            ),
        ),
        120,
    )
    assert failback.properties.active_location == "Recovery", "relative to the reprotected item"
    source = env.compute.virtual_machines.get("rg-app", "app1")
    assert source.vm_id != vm.vm_id, "failback creates the VM again in the original region"
    assert source.proximity_placement_group.id.lower() == source_ppg.lower()


def test_capacity_fallback_is_a_job_warning(env: Env) -> None:
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    vm = env.vm("db1", size="Standard_M64s")
    env.protect("db1", vm, ppg=target_ppg)
    env.emulator.capacity(target_ppg, ["Standard_M64s"])
    c = env.client
    poller = c.replication_protected_items.begin_unplanned_failover(
        VAULT_RG,
        VAULT,
        env.primary_fabric,
        env.primary_container,
        "db1",
        m.UnplannedFailoverInput(
            properties=m.UnplannedFailoverInputProperties(
                failover_direction="PrimaryToRecovery", provider_specific_details=m.A2AUnplannedFailoverInput()
            )
        ),
    )
    env.run(poller, 120)
    placed = env.compute.virtual_machines.get("rg-app-asr", "db1")
    assert placed.proximity_placement_group is None
    job = next(iter(c.replication_jobs.list(VAULT_RG, VAULT, filter="jobName eq 'UnplannedFailover'")))
    assert (job.properties.state, job.properties.state_description) == ("CompletedWithInformation", "CompletedWithInformation")
    assert job.properties.errors[0].error_level == "Info"
    assert job.properties.errors[0].service_error_details.code == "OverconstrainedAllocationRequest"


def test_test_failover_cleanup_update_disable_and_purge(env: Env) -> None:
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    vm = env.vm("app1")
    env.protect("app1", vm, ppg=target_ppg)
    c = env.client
    test_vnet = f"{env.rg_id('rg-app-asr')}/providers/Microsoft.Network/virtualNetworks/vnet-test"
    drilled = env.run(
        c.replication_protected_items.begin_test_failover(
            VAULT_RG,
            VAULT,
            env.primary_fabric,
            env.primary_container,
            "app1",
            m.TestFailoverInput(
                properties=m.TestFailoverInputProperties(
                    failover_direction="PrimaryToRecovery",
                    network_type="VmNetworkAsInput",
                    network_id=test_vnet,
                    provider_specific_details=m.A2ATestFailoverInput(),
                )
            ),
        ),
        120,
    )
    assert drilled.properties.test_failover_state == "WaitingForCompletion"
    assert drilled.properties.allowed_operations == ["TestFailoverCleanup"]
    test_vm = env.compute.virtual_machines.get("rg-app-asr", "app1-test")
    assert test_vm.network_profile.network_interfaces[0].id.endswith("-test")
    cleaned = env.run(
        c.replication_protected_items.begin_test_failover_cleanup(
            VAULT_RG,
            VAULT,
            env.primary_fabric,
            env.primary_container,
            "app1",
            m.TestFailoverCleanupInput(properties=m.TestFailoverCleanupInputProperties(comments="drill ok")),
        ),
        60,
    )
    # the cleanup's final body, as the REST example ReplicationProtectedItems_TestFailoverCleanup shows it
    assert cleaned.properties.test_failover_state == "MarkedForDeletion"
    assert "TestFailover" in (cleaned.properties.allowed_operations or [])
    with pytest.raises(ResourceNotFoundError):
        env.compute.virtual_machines.get("rg-app-asr", "app1-test")

    other_ppg = env.ppg("rg-app-asr", "ppg-app-dr2", RECOVERY)
    updated = env.run(
        c.replication_protected_items.begin_update(
            VAULT_RG,
            VAULT,
            env.primary_fabric,
            env.primary_container,
            "app1",
            m.UpdateReplicationProtectedItemInput(
                properties=m.UpdateReplicationProtectedItemInputProperties(
                    recovery_azure_vm_size="Standard_E4s_v5",
                    provider_specific_details=m.A2AUpdateReplicationProtectedItemInput(
                        recovery_proximity_placement_group_id=other_ppg
                    ),
                )
            ),
        ),
        10,
    )
    assert updated.properties.provider_specific_details.recovery_proximity_placement_group_id == other_ppg
    assert updated.properties.provider_specific_details.recovery_azure_vm_size == "Standard_E4s_v5"
    with pytest.raises(HttpResponseError) as removal:
        c.replication_protected_items.begin_update(
            VAULT_RG,
            VAULT,
            env.primary_fabric,
            env.primary_container,
            "app1",
            {"properties": {"providerSpecificDetails": {"instanceType": "A2A", "recoveryProximityPlacementGroupId": ""}}},
        )
    assert removal.value.status_code == 400 and removal.value.error.code == "ProximityPlacementGroupRemovalNotSupported"

    env.run(
        c.replication_protected_items.begin_delete(
            VAULT_RG,
            VAULT,
            env.primary_fabric,
            env.primary_container,
            "app1",
            m.DisableProtectionInput(
                properties=m.DisableProtectionInputProperties(
                    replication_provider_input=m.DisableProtectionProviderSpecificInput(instance_type="A2A")
                )
            ),
        ),
        30,
    )
    assert list(c.replication_protected_items.list(VAULT_RG, VAULT)) == []
    assert env.compute.virtual_machines.get("rg-app", "app1").id == vm.id, "disable never touches the source VM"

    env.run(
        c.replication_protected_items.begin_create(
            VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1", env.enable_input(vm, ppg=target_ppg)
        ),
        60,
    )
    env.run(c.replication_protected_items.begin_purge(VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1"), 10)
    assert (
        list(
            c.replication_protected_items.list_by_replication_protection_containers(
                VAULT_RG, VAULT, env.primary_fabric, env.primary_container
            )
        )
        == []
    )


def test_refusals_are_arm_errors(env: Env) -> None:
    c = env.client
    elsewhere = env.ppg("rg-app", "ppg-wrong-rg", RECOVERY)
    vm = env.vm("app1")
    # Placement and disk checks are made by the enable job: 202, then a failed job with 45005 (terraform #31927).
    poller = c.replication_protected_items.begin_create(
        VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1", env.enable_input(vm, ppg=elsewhere)
    )
    with pytest.raises(HttpResponseError) as wrong_rg:
        env.run(poller, 5)
    assert wrong_rg.value.error.code == "45005"
    failed_job = next(iter(c.replication_jobs.list(VAULT_RG, VAULT, filter="jobName eq 'EnableDr'")))
    failed_job = c.replication_jobs.get(VAULT_RG, VAULT, failed_job.name)
    assert failed_job.properties.state == "Failed"
    assert failed_job.properties.errors[0].provider_error_details.error_message.startswith(
        "ProximityPlacementGroupResourceGroupMismatch:"
    )
    env.run(c.replication_protected_items.begin_purge(VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1"), 10)

    legacy = env.vm("legacy", ppg=env.ppg("rg-app", "ppg-app", PRIMARY), unmanaged=True)
    body = env.enable_input(vm, ppg=None)
    body.properties.provider_specific_details.fabric_object_id = legacy.id
    body.properties.provider_specific_details.vm_managed_disks = []
    poller = c.replication_protected_items.begin_create(
        VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "legacy", body
    )
    with pytest.raises(HttpResponseError) as unmanaged:
        env.run(poller, 5)
    assert unmanaged.value.error.code == "45005" and "couldn't be enabled" in unmanaged.value.error.message

    env.protect("app1", vm, ppg=None)
    with pytest.raises(ResourceExistsError) as twice:
        c.replication_protected_items.begin_create(
            VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1-b", env.enable_input(vm, ppg=None)
        )
    assert twice.value.error.code == "ProtectionAlreadyEnabled"
    with pytest.raises(HttpResponseError) as commit:
        c.replication_protected_items.begin_failover_commit(VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1")
    assert commit.value.error.code == "OperationNotAllowedInCurrentState"
    with pytest.raises(ResourceNotFoundError):
        c.replication_protected_items.get(VAULT_RG, "no-such-vault", env.primary_fabric, env.primary_container, "app1")

    hv = env.emulator.admin(
        "POST",
        "asr/items",
        json={
            "subscriptionId": env.sub,
            "resourceGroup": VAULT_RG,
            "vault": VAULT,
            "provider": "HyperVReplicaAzure",
            "name": "hv1",
            "targetLocation": RECOVERY,
            "targetResourceGroupId": env.rg_id("rg-app-asr"),
            "targetProximityPlacementGroupId": env.ppg("rg-app-asr", "ppg-hv", RECOVERY),
        },
    )
    fabric, container = (
        hv["id"].split("/replicationFabrics/")[1].split("/")[0],
        hv["id"].split("/replicationProtectionContainers/")[1].split("/")[0],
    )
    with pytest.raises(HttpResponseError) as failback:
        c.replication_protected_items.begin_planned_failover(
            VAULT_RG,
            VAULT,
            fabric,
            container,
            "hv1",
            m.PlannedFailoverInput(
                properties=m.PlannedFailoverInputProperties(
                    failover_direction="RecoveryToPrimary",
                    provider_specific_details=m.HyperVReplicaAzureFailbackProviderInput(data_sync_option="ForSynchronization"),
                )
            ),
        )
    assert failback.value.error.code == "FailbackToHyperVNotSupported"

    vmw = env.emulator.admin(
        "POST",
        "asr/items",
        json={
            "subscriptionId": env.sub,
            "resourceGroup": VAULT_RG,
            "vault": VAULT,
            "provider": "InMageRcm",
            "name": "vmw1",
            "targetLocation": RECOVERY,
            "targetResourceGroupId": env.rg_id("rg-app-asr"),
        },
    )
    fabric, container = (
        vmw["id"].split("/replicationFabrics/")[1].split("/")[0],
        vmw["id"].split("/replicationProtectionContainers/")[1].split("/")[0],
    )
    target = env.ppg("rg-app-asr", "ppg-vmw", RECOVERY)
    updated = env.run(
        c.replication_protected_items.begin_update(
            VAULT_RG,
            VAULT,
            fabric,
            container,
            "vmw1",
            m.UpdateReplicationProtectedItemInput(
                properties=m.UpdateReplicationProtectedItemInputProperties(
                    provider_specific_details=m.InMageRcmUpdateReplicationProtectedItemInput(
                        target_proximity_placement_group_id=target, target_vm_size="Standard_D8s_v5"
                    )
                )
            ),
        ),
        10,
    )
    assert updated.properties.provider_specific_details.target_proximity_placement_group_id == target
    assert {
        i.properties.provider_specific_details.instance_type for i in c.replication_protected_items.list(VAULT_RG, VAULT)
    } == {"A2A", "HyperVReplicaAzure", "InMageRcm"}


def test_recovery_plan_lifecycle_acts_on_all_items_in_boot_order(env: Env) -> None:
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    items = [env.protect(name, env.vm(name), ppg=target_ppg) for name in ("db", "app")]
    c = env.client
    plan_input = m.CreateRecoveryPlanInput(
        properties=m.CreateRecoveryPlanInputProperties(
            primary_fabric_id=f"{env.vault_id}/replicationFabrics/{env.primary_fabric}",
            recovery_fabric_id=f"{env.vault_id}/replicationFabrics/{env.recovery_fabric}",
            failover_deployment_model="ResourceManager",
            groups=[
                m.RecoveryPlanGroup(
                    group_type="Boot",
                    replication_protected_items=[
                        m.RecoveryPlanProtectedItem(
                            id=i.id, virtual_machine_id=i.properties.provider_specific_details.fabric_object_id
                        )
                    ],
                )
                for i in items
            ],
            provider_specific_input=[m.RecoveryPlanA2AInput()],
        )
    )
    plan = env.run(c.replication_recovery_plans.begin_create(VAULT_RG, VAULT, "rp-app", plan_input))
    assert plan.properties.allowed_operations == ["UnplannedFailover", "TestFailover"]
    assert [g.group_type for g in plan.properties.groups] == ["Shutdown", "Failover", "Boot", "Boot"]
    assert [p.name for p in c.replication_recovery_plans.list(VAULT_RG, VAULT)] == ["rp-app"]
    env.emulator.admin(  # other items in the vault: the filter selects the plan's, looked up, not scanned
        "POST", "asr/items/bulk", json={"subscriptionId": env.sub, "resourceGroup": VAULT_RG, "vault": VAULT, "count": 50}
    )
    in_plan = c.replication_protected_items.list(VAULT_RG, VAULT, filter="recoveryPlanName eq 'rp-app'")
    assert sorted(i.id for i in in_plan) == sorted(i.id for i in items)
    assert list(c.replication_protected_items.list(VAULT_RG, VAULT, filter="recoveryPlanName eq 'rp-none'")) == []

    test_vnet = f"{env.rg_id('rg-app-asr')}/providers/Microsoft.Network/virtualNetworks/vnet-test"
    drilled = env.run(
        c.replication_recovery_plans.begin_test_failover(
            VAULT_RG,
            VAULT,
            "rp-app",
            m.RecoveryPlanTestFailoverInput(
                properties=m.RecoveryPlanTestFailoverInputProperties(
                    failover_direction="PrimaryToRecovery",
                    network_type="VmNetworkAsInput",
                    network_id=test_vnet,
                    provider_specific_details=[m.RecoveryPlanA2AFailoverInput(recovery_point_type="Latest")],
                )
            ),
        ),
        150,
    )
    assert drilled.properties.current_scenario_status == "Suspended"
    assert {v.name for v in env.compute.virtual_machines.list("rg-app-asr")} == {"db-test", "app-test"}
    env.run(
        c.replication_recovery_plans.begin_test_failover_cleanup(
            VAULT_RG,
            VAULT,
            "rp-app",
            m.RecoveryPlanTestFailoverCleanupInput(properties=m.RecoveryPlanTestFailoverCleanupInputProperties(comments="ok")),
        ),
        60,
    )
    assert list(env.compute.virtual_machines.list("rg-app-asr")) == []

    env.emulator.clear_requests()
    failed_over = env.run(
        c.replication_recovery_plans.begin_unplanned_failover(
            VAULT_RG,
            VAULT,
            "rp-app",
            m.RecoveryPlanUnplannedFailoverInput(
                properties=m.RecoveryPlanUnplannedFailoverInputProperties(
                    failover_direction="PrimaryToRecovery",
                    source_site_operations="NotRequired",
                    provider_specific_details=[m.RecoveryPlanA2AFailoverInput(recovery_point_type="Latest")],
                )
            ),
        ),
        150,
    )
    assert failed_over.properties.allowed_operations == ["Commit"]
    assert failed_over.properties.current_scenario.scenario_name == "UnplannedFailover"
    assert sorted(v.name for v in env.compute.virtual_machines.list("rg-app-asr")) == ["app", "db"]
    committed = env.run(c.replication_recovery_plans.begin_failover_commit(VAULT_RG, VAULT, "rp-app"), 30)
    assert committed.properties.allowed_operations == ["ReverseReplicate"]
    env.run(c.replication_recovery_plans.begin_reprotect(VAULT_RG, VAULT, "rp-app"), 90)
    env.emulator.advance(300)
    plan = c.replication_recovery_plans.get(VAULT_RG, VAULT, "rp-app")
    assert plan.properties.allowed_operations == ["UnplannedFailover", "TestFailover"]
    assert all(env.recovery_container in ref.id for g in plan.properties.groups for ref in g.replication_protected_items)

    updated = env.run(
        c.replication_recovery_plans.begin_update(
            VAULT_RG,
            VAULT,
            "rp-app",
            m.UpdateRecoveryPlanInput(
                properties=m.UpdateRecoveryPlanInputProperties(
                    groups=[
                        m.RecoveryPlanGroup(
                            group_type="Boot",
                            replication_protected_items=[
                                m.RecoveryPlanProtectedItem(id=plan.properties.groups[2].replication_protected_items[0].id)
                            ],
                        )
                    ]
                )
            ),
        )
    )
    assert sum(len(g.replication_protected_items) for g in updated.properties.groups) == 1
    env.run(c.replication_recovery_plans.begin_delete(VAULT_RG, VAULT, "rp-app"))
    assert list(c.replication_recovery_plans.list(VAULT_RG, VAULT)) == []


def test_failed_job_surfaces_through_the_poller(env: Env) -> None:
    vm = env.vm("app1")
    env.emulator.fault(operationKind="asr.EnableDr", code="InternalError", message="Replication could not be enabled.")
    poller = env.client.replication_protected_items.begin_create(
        VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "app1", env.enable_input(vm, ppg=None)
    )
    with pytest.raises(HttpResponseError) as failed:
        env.run(poller, 60)
    assert "Replication could not be enabled" in str(failed.value)
    item = env.item("app1")
    assert item.properties.replication_health == "Critical" and item.properties.allowed_operations == ["DisableProtection"]
    job = next(iter(env.client.replication_jobs.list(VAULT_RG, VAULT)))
    assert job.properties.state == "Failed"


def test_listing_ten_thousand_items_pages_with_next_link(env: Env) -> None:
    started = time.monotonic()
    seeded = env.emulator.admin(
        "POST", "asr/items/bulk", json={"subscriptionId": env.sub, "resourceGroup": VAULT_RG, "vault": VAULT, "count": 10_000}
    )
    assert seeded == {"added": 10_000, "total": 10_000}
    env.emulator.clear_requests()
    names = [i.name for i in env.client.replication_protected_items.list(VAULT_RG, VAULT)]
    elapsed = time.monotonic() - started
    assert len(names) == 10_000 and len(set(names)) == 10_000
    pages = env.emulator.requests(path="/replicationProtectedItems$")
    assert len(pages) == 10_000 // DEFAULT_PAGE_SIZE, "full pages, followed through nextLink"
    assert elapsed < 60, f"listing 10,000 items took {elapsed:.1f}s"  # linear: ~10 s idle; quadratic would be minutes
    filtered = list(
        env.client.replication_protected_items.list(
            VAULT_RG, VAULT, filter="sourceFabricName eq 'bulk-primary' and instanceType eq 'A2A'"
        )
    )
    assert len(filtered) == 10_000
