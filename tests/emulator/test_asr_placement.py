"""Where Site Recovery failovers put VMs when the DR PPG's datacenter decides: boot order, fallback, no set change.

A recovery plan creates the VMs in boot-group order (Failover group, then Boot groups), so the first VM
pins the DR PPG; an allocation the pinned datacenter cannot host makes ASR create the VM outside the PPG
and its availability set (reference article, lines 31-32) with an informational job error.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute.models import SubResource

from tests.emulator.test_asr_ground_truth import last_job, make_plan, plan_unplanned, unplanned
from tests.emulator.test_asr_sdk import RECOVERY, VAULT, VAULT_RG, Env, env

__all__ = ["env"]  # the fixture, shared with test_asr_sdk

SMALL, BIG = "Standard_D2s_v5", "Standard_M64s"


def dr_datacenters(env: Env) -> None:
    """northeurope: the first datacenter hosts only the small size, the second both."""
    env.emulator.admin(
        "POST",
        "capacity/datacenters",
        json={
            "location": RECOVERY,
            "datacenters": [{"name": "ne-dc1", "vmSizes": [SMALL]}, {"name": "ne-dc2", "vmSizes": [SMALL, BIG]}],
        },
    )


@pytest.mark.parametrize(("anchor_first", "outside"), [(True, []), (False, ["db"])])
def test_plan_failover_boot_order_decides_the_dr_datacenter(env: Env, anchor_first: bool, outside: list[str]) -> None:
    """Anchor (the rare size) first: the DR PPG pins the datacenter that hosts both sizes. Small VM first: it pins
    the small datacenter, the M-series falls back outside the PPG and the job is CompletedWithInformation."""
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    dr_datacenters(env)
    db = env.protect("db", env.vm("db", size=BIG), ppg=target_ppg)
    app = env.protect("app", env.vm("app", size=SMALL), ppg=target_ppg)
    make_plan(env, "rp-app", [[db], [app]] if anchor_first else [[app], [db]])
    env.run(
        env.client.replication_recovery_plans.begin_unplanned_failover(
            VAULT_RG, VAULT, "rp-app", plan_unplanned("PrimaryToRecovery")
        ),
        200,
    )
    placed = {vm.name: vm for vm in env.compute.virtual_machines.list("rg-app-asr")}
    assert sorted(n for n, vm in placed.items() if vm.proximity_placement_group is None) == outside
    job = last_job(env, "UnplannedFailover")
    expected_state = "CompletedWithInformation" if outside else "Succeeded"
    assert job.properties.state == expected_state
    if outside:
        assert [e.service_error_details.code for e in job.properties.errors] == ["OverconstrainedAllocationRequest"]
        assert job.properties.errors[0].error_level == "Info"
        fallbacks = env.emulator.admin("GET", "capacity")["fallbacks"]
        assert [f["vmSize"] for f in fallbacks] == [BIG]


def test_availability_set_change_after_a_fallback_is_refused(env: Env) -> None:
    """A VM ASR created outside its availability set cannot be put into it afterwards: PropertyChangeNotAllowed
    (Azure/azure-powershell#1820); the set of a VM never changes, the VM has to be recreated."""
    target_ppg = env.ppg("rg-app-asr", "ppg-app-dr", RECOVERY)
    avset = env.compute.availability_sets.create_or_update(
        "rg-app-asr", "avset-dr", {"location": RECOVERY, "properties": {"proximityPlacementGroup": {"id": target_ppg}}}
    )
    env.protect("db", env.vm("db", size=BIG), ppg=target_ppg, recovery_availability_set_id=avset.id)
    env.emulator.capacity(target_ppg, [BIG])
    env.run(
        env.client.replication_protected_items.begin_unplanned_failover(
            VAULT_RG, VAULT, env.primary_fabric, env.primary_container, "db", unplanned()
        ),
        120,
    )
    vm = env.compute.virtual_machines.get("rg-app-asr", "db")
    assert vm.availability_set is None and vm.proximity_placement_group is None
    env.emulator.capacity(target_ppg, [])
    env.compute.virtual_machines.begin_deallocate("rg-app-asr", "db").result()
    vm.availability_set = SubResource(id=avset.id)
    vm.proximity_placement_group = SubResource(id=target_ppg)
    with pytest.raises(HttpResponseError) as refused:
        env.compute.virtual_machines.begin_create_or_update("rg-app-asr", "db", vm)
    assert refused.value.error is not None
    assert (refused.value.status_code, refused.value.error.code) == (409, "PropertyChangeNotAllowed")
