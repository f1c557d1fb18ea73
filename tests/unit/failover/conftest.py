"""A group of three VMs mid-failover, in memory: statuses in a fake Table service, items in a fake vault."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.arm.names import container_name, fabric_name
from shared.context import AppContext
from shared.failover.workflow_state import FAILOVER, Workflow
from shared.platform.clients import AzureClients
from shared.platform.compute import VmPlacement
from shared.platform.site_recovery import ItemView
from shared.settings import Settings
from shared.state import vm_status as st
from shared.state.store import StateStore
from tests.fakes.azure import VAULT, FakeCompute, FakeSiteRecovery
from tests.fakes.tables import FakeTableService

SUB = VAULT.subscription
SOURCE, TARGET = "westeurope", "northeurope"


def vm_id(rg: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}"


def compute_id(rg: str, kind: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Compute/{kind}/{name}"


SOURCE_PPG = compute_id("sap-prod", "proximityPlacementGroups", "sap-ppg")
TARGET_PPG = compute_id("sap-prod-asr", "proximityPlacementGroups", "sap-ppg-asr")
SOURCE_AVSET = compute_id("sap-prod", "availabilitySets", "sap-avset")
TARGET_AVSET = compute_id("sap-prod-asr", "availabilitySets", "sap-avset-asr")
MEMBERS = {"sap-app-1": "Standard_E16s_v5", "sap-app-2": "Standard_E16s_v5", "sap-db-1": "Standard_M64s"}
CACHE = {
    SOURCE: f"/subscriptions/{SUB}/resourceGroups/dr-ops/providers/Microsoft.Storage/storageAccounts/cachewe",
    TARGET: f"/subscriptions/{SUB}/resourceGroups/dr-ops/providers/Microsoft.Storage/storageAccounts/cachene",
}


@dataclass
class World:
    ctx: AppContext
    asr: FakeSiteRecovery
    compute: FakeCompute

    def workflow(self, phase: str, **fields: object) -> Workflow:
        wf = Workflow(group="sap-ppg", id="wf-1", kind=FAILOVER, phase=phase, source_region=SOURCE, target_region=TARGET)
        for name, value in fields.items():
            setattr(wf, name, value)
        return wf

    def dr_copy(self, name: str) -> str:
        return vm_id("sap-prod-asr", name)


@pytest.fixture
def world() -> World:
    settings = Settings(
        region_pairs={SOURCE: TARGET},
        cache_storage_accounts=CACHE,
        vault_id=f"/subscriptions/{SUB}/resourceGroups/dr-ops/providers/Microsoft.RecoveryServices/vaults/ppgdr-vault",
    )
    asr, compute = FakeSiteRecovery(), FakeCompute()
    ctx = AppContext(settings, StateStore(FakeTableService()), AzureClients(settings), "holder-1", asr, compute)
    for name, size in MEMBERS.items():
        in_set = name.startswith("sap-app")
        status = st.VmStatus(
            vm_id=vm_id("sap-prod", name),
            vm_name=name,
            subscription=SUB,
            resource_group="sap-prod",
            location=SOURCE,
            size=size,
            group="sap-ppg",
            state=st.VmState.PROTECTED,
            item_name=f"{name}-item",
            fabric=fabric_name(SOURCE),
            container=container_name(SOURCE),
            source_ppg_id=SOURCE_PPG,
            source_availability_set_id=SOURCE_AVSET if in_set else "",
            target_ppg_id=TARGET_PPG,
            target_availability_set_id=TARGET_AVSET if in_set else "",
            target_resource_group="sap-prod-asr",
        )
        st.save_status(ctx.store, status)
        asr.add(
            ItemView(
                id=f"{VAULT.id}/replicationFabrics/{fabric_name(SOURCE)}/replicationProtectionContainers/"
                f"{container_name(SOURCE)}/replicationProtectedItems/{name}-item",
                name=f"{name}-item",
                fabric=fabric_name(SOURCE),
                container=container_name(SOURCE),
                allowed_operations=("UnplannedFailover", "DisableProtection", "TestFailover"),
                protection_state="Protected",
                active_location="Primary",
                recovery_vm_id=vm_id("sap-prod-asr", name),
                source_vm_id=vm_id("sap-prod", name),
            )
        )
        compute.add(
            VmPlacement(
                id=vm_id("sap-prod-asr", name),
                size=size,
                power="running",
                ppg_id=TARGET_PPG,
                availability_set_id=TARGET_AVSET if in_set else None,
                zone=None,
                managed_disks=(
                    (
                        f"/subscriptions/{SUB}/resourceGroups/sap-prod-asr/providers/Microsoft.Compute/disks/{name}-os",
                        "Premium_LRS",
                    ),
                ),
            )
        )
    return World(ctx, asr, compute)
