"""A2A item states through the life cycle, compared with recorded Azure sessions.

Each test replays one recorded step (enable, initial replication, protected, failover, commit, switch
protection) on the emulator and compares what a client reads: protectionState and its description,
allowedOperations, activeLocation, the A2A vmProtectionState, the case of the ids, and the key set of
the item. ppg-dr's workflows decide their next step from allowedOperations, so a wrong row here is a
wrong decision in the app.
"""

from __future__ import annotations

from tests.conformance.replay import COMPUTE_API, ITEM, World, load, shape_gaps, step

REPROTECT = load("powershell-A2AReprotectTest.json")
PPG = load("powershell-A2AReplicateProximityPlacementGroupVm.json")
DOTNET = load("dotnet-CreateA2AReplicationProtectedItem.json")


def _state(body: dict) -> dict:
    p = body["properties"]
    a2a = p["providerSpecificDetails"]
    return {
        "protectionState": p["protectionState"],
        "protectionStateDescription": p["protectionStateDescription"],
        "allowedOperations": p["allowedOperations"],
        "activeLocation": p["activeLocation"],
        "vmProtectionState": a2a["vmProtectionState"],
        "vmProtectionStateDescription": a2a["vmProtectionStateDescription"],
    }


def test_initial_replication_state_matches_the_dotnet_recording(world: World) -> None:
    """After the enable job: InitialReplicationInProgress, only DisableProtection, vmProtectionState
    UnprotectedStatesBegin "Enabling protection" (.NET recording entry 20; PPG recording entries[-1])."""
    world.finish(world.enable(), 60)
    recorded = step(DOTNET, entry=20)
    # monitoringPercentageCompletion / monitoringJobType depend on how far the copy is: not compared.
    wanted = ("vmProtectionState", "vmProtectionStateDescription", "recoveryFabricObjectId")
    expected = {**recorded["item"], **{k: recorded["a2a"][k] for k in wanted}}
    item = world.item()["properties"]
    got = {**{k: item[k] for k in recorded["item"]}, **{k: item["providerSpecificDetails"][k] for k in wanted}}
    assert got == expected, f"emulator {got}\nrecorded {expected}"


def test_protected_state_matches_the_ppg_recording(world: World) -> None:
    """Protected A2A item: UnplannedFailover, DisableProtection, TestFailover (PPG recording at 19:51:56)."""
    world.protect()
    recorded = step(PPG, time="19:51:56")["item"]
    got = _state(world.item())
    expected = {k: recorded[k] for k in got}
    assert got == expected, f"emulator {got}\nrecorded {expected}"


def test_failover_pending_commit_allowed_operations(world: World) -> None:
    """Failed over, not committed: Azure lists CompleteMigration, Commit, DisableProtection, ChangePit,
    SwitchProtection in that order (PPG recording at 20:06:05)."""
    world.failed_over()
    recorded = step(PPG, time="20:06:05")["item"]
    got = _state(world.item())
    expected = {k: recorded[k] for k in got}
    assert got == expected, f"emulator {got}\nrecorded {expected}"


def test_committed_item_allowed_operations(world: World) -> None:
    """Committed A2A failover: CompleteMigration, DisableProtection, SwitchProtection — never
    ReverseReplicate (A2AReprotectTest entries 12 and 13)."""
    world.committed()
    recorded = step(REPROTECT, entry=13)["item"]
    got = _state(world.item())
    expected = {
        **{k: recorded[k] for k in got if k in recorded},
        "vmProtectionState": "UnplannedFailoverCommitted",
        "vmProtectionStateDescription": "Failover committed",
    }
    assert got == expected, f"emulator {got}\nrecorded {expected}"


def test_ids_inside_items_come_back_lower_cased(world: World) -> None:
    """fabricObjectId, recoveryFabricObjectId and protectedManagedDisks[].diskId are lower-cased by Azure
    whatever case the enable request used (.NET entries 2 and 20; A2AReprotectTest entry 12)."""
    world.committed()
    a2a = world.item()["properties"]["providerSpecificDetails"]
    ids = {
        "fabricObjectId": a2a["fabricObjectId"],
        "recoveryFabricObjectId": a2a["recoveryFabricObjectId"],
        "protectedManagedDisks[0].diskId": a2a["protectedManagedDisks"][0]["diskId"],
    }
    assert all(ids.values()), ids
    mixed = {k: v for k, v in ids.items() if v != v.lower()}
    assert mixed == {}, f"not lower-cased: {mixed}"


def test_committed_item_has_the_recorded_keys_and_types(world: World) -> None:
    """Every key of the recorded committed item (A2AReprotectTest entry 13) is there, with its type."""
    world.committed()
    recorded = step(REPROTECT, entry=13)["bodyKeys"]
    gaps = shape_gaps(recorded, world.item())
    assert gaps == [], "\n".join(gaps)


def test_failover_places_the_vm_in_the_recovery_ppg(world: World) -> None:
    """The VM a failover creates is in the item's recovery PPG (PPG recording at 19:56:05; cluster commit
    recording entries[-1] also keeps the availability set)."""
    world.failed_over()
    a2a = world.item()["properties"]["providerSpecificDetails"]
    vm = world.get(a2a["recoveryFabricObjectId"], api=COMPUTE_API)
    ppg = (vm["properties"].get("proximityPlacementGroup") or {}).get("id", "")
    assert ppg.lower() == a2a["recoveryProximityPlacementGroupId"].lower()


def test_source_site_operations_required_shuts_the_source_vm_down(world: World) -> None:
    """sourceSiteOperations Required runs 'Shut down the virtual machine' before the failover (PPG recording,
    task ShutdownVmOnPrimaryForUFO Succeeded 19:52:24 -> 19:53:35): the source VM is not running after."""
    world.failed_over("Required")
    view = world.get(f"{world.vm_id}/instanceView", api=COMPUTE_API)
    power = [s["code"] for s in view.get("statuses", []) if s["code"].startswith("PowerState/")]
    assert power and power[0] != "PowerState/running", power


def test_switch_protection_is_accepted_before_commit(world: World) -> None:
    """Switch protection on an item still in UnplannedFailoverCommitPendingStatesBegin is accepted: the
    job commits first (PPG recording: POST at 20:06:06 answered 202, CommitFailoverTask Succeeded)."""
    world.failed_over()
    accepted = world.switch_protection(world.source_ppg)
    assert accepted.status_code == 202, accepted.text
    job = world.running_job(accepted)["properties"]
    commit = [t for t in job["tasks"] if t["name"] == "VmCommitFailover"]
    assert commit, f"no VmCommitFailover task in {[t['name'] for t in job['tasks']]}"


def test_switch_protection_moves_the_item_and_keeps_the_ppg(world: World) -> None:
    """After switch protection the item (same name) lives in the old recovery container, activeLocation
    Primary, initial replication, only DisableProtection, the PPG of the input kept; initial* locations
    keep the first direction (PPG recording entries[-1]; A2AReprotectTest entries[-1])."""
    world.committed()
    world.finish(world.switch_protection(world.source_ppg), 90)
    recorded = step(PPG, entry=-1)["item"]
    moved = world.item("recovery")
    a2a = moved["properties"]["providerSpecificDetails"]
    got = {
        **_state(moved),
        "name": moved["name"],
        "initialPrimaryFabricLocation": a2a["initialPrimaryFabricLocation"],
        "primaryFabricLocation": a2a["primaryFabricLocation"],
        "ppg": a2a["recoveryProximityPlacementGroupId"].lower(),
    }
    expected = {
        **{k: recorded[k] for k in _state(moved)},
        "name": ITEM,
        "initialPrimaryFabricLocation": "westeurope",
        "primaryFabricLocation": "northeurope",
        "ppg": world.source_ppg.lower(),
    }
    assert got == expected, f"emulator {got}\nrecorded {expected}"
