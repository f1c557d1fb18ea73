"""The workflow phases against fake gateways: given what ASR and Compute report, exactly what is sent."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.arm.names import container_name, fabric_name
from shared.failover import engine, phases, placement
from shared.failover.refusals import WorkflowRefused
from shared.failover.workflow_state import BLOCKED, DONE, load_workflow, save_workflow
from shared.platform.site_recovery import ItemView, JobView, SwitchProtection
from shared.state import vm_status as st
from shared.state.audit import audit_trail
from shared.state.group_records import GroupState, get_group, update_group
from tests.unit.failover.conftest import CACHE, SOURCE, SOURCE_AVSET, SOURCE_PPG, TARGET, VAULT, World


def events(world: World) -> list[str]:
    return [row["event"] for row in audit_trail(world.ctx.store, "sap-ppg")]


# ----------------------------------------------------------------------------------------------- failover


def test_failover_sends_one_plan_failover_and_shuts_the_source_down_when_it_answers(world: World) -> None:
    wf = world.workflow("failover", recovery_point="LatestApplicationConsistent")
    phases.phase_failover(world.ctx, wf)
    assert world.asr.sent("plan_failover") == [
        {
            "plan": "ppgdr-sap-ppg",
            "direction": "PrimaryToRecovery",
            "shutdown": "Required",
            "point": "LatestApplicationConsistent",
        }
    ]
    assert wf.job and wf.next_phase == "verify" and wf.source_shutdown == "Required"
    assert "failover-job" in events(world)


def test_failover_of_a_region_that_does_not_answer_does_not_wait_for_its_shutdown(world: World) -> None:
    world.compute.reachable = False
    phases.phase_failover(world.ctx, world.workflow("failover"))
    assert world.asr.sent("plan_failover")[0]["shutdown"] == "NotRequired"


def test_a_failover_that_already_ran_is_adopted_not_sent_again(world: World) -> None:
    world.asr.allow("Commit", "ChangePit", "DisableProtection")
    wf = world.workflow("failover")
    phases.phase_failover(world.ctx, wf)
    assert world.asr.sent("plan_failover") == [] and wf.phase == "verify"
    assert "failover-adopted" in events(world)


def test_failover_waits_while_asr_is_busy_with_an_item(world: World) -> None:
    key = next(iter(world.asr.items))
    world.asr.items[key] = replace(world.asr.items[key], allowed_operations=())
    wf = world.workflow("failover")
    phases.phase_failover(world.ctx, wf)
    assert world.asr.calls == [] and wf.phase == "failover" and not wf.job


def test_a_group_step_looks_at_its_items_with_one_list_of_the_plan(world: World) -> None:
    """Look before send in bulk: one filtered list per recovery plan, not one GET per member (as fresh)."""
    wf = world.workflow("failover")
    phases.phase_failover(world.ctx, wf)
    assert world.asr.reads == [("plan_items", "ppgdr-sap-ppg")]
    assert len(world.asr.sent("plan_failover")) == 1
    world.asr.reads.clear()
    world.asr.allow("Commit", "SwitchProtection")
    phases.phase_commit(world.ctx, world.workflow("commit"))
    assert world.asr.reads == [("plan_items", "ppgdr-sap-ppg")]


def test_a_member_the_plan_list_does_not_hold_is_looked_up_by_itself(world: World) -> None:
    key = next(k for k in world.asr.items if k[2] == "sap-db-1-item")
    moved = world.asr.items.pop(key)
    real = world.asr.plan_items

    def without_db(plan: str) -> list[ItemView]:
        return [i for i in real(plan) if i.name != "sap-db-1-item"]

    world.asr.plan_items = without_db  # type: ignore[method-assign]
    world.asr.add(moved)
    phases.phase_failover(world.ctx, world.workflow("failover"))
    assert ("find_item", "sap-db-1-item") in world.asr.reads
    assert [r for r in world.asr.reads if r[0] == "find_item"] == [("find_item", "sap-db-1-item")]
    assert len(world.asr.sent("plan_failover")) == 1


def test_items_in_different_states_are_refused_with_each_state_named(world: World) -> None:
    key = next(iter(world.asr.items))
    world.asr.items[key] = replace(world.asr.items[key], allowed_operations=("Commit",))
    with pytest.raises(WorkflowRefused, match="items are in different states") as refused:
        phases.phase_failover(world.ctx, world.workflow("failover"))
    assert "sap-app-1: Commit" in str(refused.value) and "UnplannedFailover" in str(refused.value)
    assert world.asr.calls == []


# ------------------------------------------------------------------------------------------------- commit


def test_commit_sends_the_plan_commit_then_goes_to_reprotect_or_repair(world: World) -> None:
    world.asr.allow("CompleteMigration", "Commit", "DisableProtection", "ChangePit", "SwitchProtection")
    wf = world.workflow("commit")
    phases.phase_commit(world.ctx, wf)
    assert world.asr.sent("plan_commit") == ["ppgdr-sap-ppg"] and wf.next_phase == "reprotect"
    repairing = world.workflow("commit", repair=True)
    phases.phase_commit(world.ctx, repairing)
    assert repairing.next_phase == "repair"


def test_a_commit_that_already_ran_is_adopted(world: World) -> None:
    world.asr.allow("CompleteMigration", "DisableProtection", "SwitchProtection")  # committed (A2AReprotectTest 12-14)
    wf = world.workflow("commit")
    phases.phase_commit(world.ctx, wf)
    assert world.asr.sent("plan_commit") == [] and wf.phase == "reprotect"


def test_failover_in_the_wrong_direction_is_refused_before_anything_is_sent(world: World) -> None:
    wf = world.workflow("failover", source_region=TARGET, target_region=SOURCE, direction="RecoveryToPrimary")
    with pytest.raises(WorkflowRefused, match="RecoveryToPrimary fails over items that replicate from northeurope"):
        phases.phase_failover(world.ctx, wf)
    assert world.asr.calls == []


# ---------------------------------------------------------------------------------------------- reprotect


def test_reprotect_switches_each_item_back_into_the_original_placement(world: World) -> None:
    world.asr.allow("CompleteMigration", "DisableProtection", "SwitchProtection")
    wf = world.workflow("reprotect")
    phases.phase_reprotect(world.ctx, wf)
    sent: list[SwitchProtection] = world.asr.sent("switch_protection")
    assert sorted(s.item.name for s in sent) == ["sap-app-1-item", "sap-app-2-item", "sap-db-1-item"]
    app = next(s for s in sent if s.item.name == "sap-app-1-item")
    assert app.recovery_container_id == (
        f"{VAULT.id}/replicationFabrics/{fabric_name(SOURCE)}/replicationProtectionContainers/{container_name(SOURCE)}"
    )
    assert app.recovery_ppg_id == SOURCE_PPG and app.recovery_availability_set_id == SOURCE_AVSET
    assert app.recovery_resource_group_id.endswith("/resourceGroups/sap-prod")
    assert app.cache_storage_account_id == CACHE[TARGET]  # staged in the region the VMs run in now
    assert app.disks and app.disks[0][1] == "Premium_LRS"
    assert set(wf.jobs) == {"sap-app-1", "sap-app-2", "sap-db-1"} and wf.next_phase == "replicating"
    assert "reprotect" in events(world)


def test_reprotect_skips_items_already_switched_and_follows_their_replication(world: World) -> None:
    for key, item in list(world.asr.items.items()):  # switch protection moved them to the DR region's container
        del world.asr.items[key]
        world.asr.add(
            replace(item, fabric=fabric_name(TARGET), container=container_name(TARGET), allowed_operations=("DisableProtection",))
        )
    wf = world.workflow("reprotect")
    phases.phase_reprotect(world.ctx, wf)
    assert world.asr.sent("switch_protection") == [] and wf.phase == "replicating"


def test_reprotect_needs_a_cache_account_in_the_region_the_vms_run_in(world: World) -> None:
    world.ctx.settings = replace(world.ctx.settings, cache_storage_accounts={SOURCE: CACHE[SOURCE]})
    world.asr.allow("CompleteMigration", "DisableProtection", "SwitchProtection")
    with pytest.raises(WorkflowRefused, match="no cache storage account for northeurope"):
        phases.phase_reprotect(world.ctx, world.workflow("reprotect"))


def test_replicating_settles_the_group_once_every_item_is_protected(world: World) -> None:
    world.asr.allow("DisableProtection", protection_state="InitialReplicationInProgress")
    wf = world.workflow("replicating")
    phases.phase_replicating(world.ctx, wf)
    assert wf.phase == "replicating"
    world.asr.allow("UnplannedFailover", protection_state="Protected")
    phases.phase_replicating(world.ctx, wf)
    assert wf.phase == DONE and get_group(world.ctx.store, "sap-ppg").state == GroupState.REPROTECTED
    assert {s.state for s in st.all_statuses(world.ctx.store)} == {st.VmState.FAILED_OVER}


# ------------------------------------------------------------------------------------------------ placement


def test_verify_reports_each_vm_placed_outside_the_ppg(world: World) -> None:
    db = world.dr_copy("sap-db-1")
    world.compute.vms[db.lower()] = replace(world.compute.vms[db.lower()], ppg_id=None)
    wf = world.workflow("verify")
    placement.phase_verify(world.ctx, wf)
    rows = {row["vm"]: row for row in wf.placement}
    assert rows["sap-db-1"]["in_ppg"] is False and "OverconstrainedAllocationRequest" in rows["sap-db-1"]["problem"]
    assert rows["sap-app-1"]["in_ppg"] is True and rows["sap-app-1"]["in_availability_set"] is True
    assert wf.phase == "commit"
    record = get_group(world.ctx.store, "sap-ppg")
    assert record.placement == wf.placement and len(record.recovery_vm_ids) == 3
    trail = [row for row in audit_trail(world.ctx.store, "sap-ppg") if row["event"] == "placement"]
    assert "OUTSIDE: sap-db-1" in trail[0]["message"]


def test_verify_holds_the_commit_while_a_vm_is_stopped_when_every_vm_must_run(world: World) -> None:
    app = world.dr_copy("sap-app-2")
    world.compute.vms[app.lower()] = replace(world.compute.vms[app.lower()], power="stopped")
    with pytest.raises(WorkflowRefused, match="commit is held") as held:
        placement.phase_verify(world.ctx, world.workflow("verify", require_all_running=True))
    assert held.value.resume_at == "commit"


def test_repair_deallocates_moves_the_outsider_in_and_starts_anchor_first(world: World) -> None:
    db = world.dr_copy("sap-db-1")
    world.compute.vms[db.lower()] = replace(world.compute.vms[db.lower()], ppg_id=None)
    wf = world.workflow("verify")
    placement.phase_verify(world.ctx, wf)
    wf.phase, wf.next_phase = "repair", "reprotect"
    for _ in range(10):
        if wf.phase != "repair":
            break
        placement.phase_repair(world.ctx, wf)
    assert wf.phase == "reprotect"
    calls = world.compute.calls
    assert [c for c, _ in calls[:3]] == ["deallocate"] * 3
    assert calls[3] == ("move_into_ppg", db)
    starts = [vm for c, vm in calls if c == "start"]
    assert starts[0] == db  # the M64s anchors the PPG
    assert "repair-done" in events(world)


# --------------------------------------------------------------------------------------------------- engine


def test_a_failed_job_blocks_the_workflow_with_azures_code_and_message(world: World) -> None:
    wf = world.workflow("failover", job="job-9", next_phase="verify")
    save_workflow(world.ctx, wf)
    update_group(world.ctx.store, "sap-ppg", state=GroupState.FAILING_OVER)
    world.asr.jobs["job-9"] = JobView("job-9", "Failed", ("45005: Protection couldn't be enabled for the virtual machine.",))
    engine.advance(world.ctx, wf)
    stored = load_workflow(world.ctx, "sap-ppg")
    assert stored is not None and stored.phase == BLOCKED and stored.next_phase == "failover"
    assert "45005: Protection couldn't be enabled" in stored.error
    record = get_group(world.ctx.store, "sap-ppg")
    assert record.state == GroupState.BLOCKED and "45005" in (record.blocked_reason or "")


def test_a_job_completed_with_information_counts_as_done(world: World) -> None:
    world.asr.allow("Commit", "ChangePit", "DisableProtection")
    wf = world.workflow("failover", job="job-7", next_phase="verify")
    world.asr.jobs["job-7"] = JobView("job-7", "CompletedWithInformation", ("150407: informational",))
    engine.advance(world.ctx, wf, max_steps=2)
    assert wf.phase in ("verify", "commit")  # moved on past the job
