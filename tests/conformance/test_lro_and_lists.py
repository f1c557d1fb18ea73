"""Long-running-operation answers, polls, list pages and plain ARM errors, compared with recordings.

The SDK's poller and ppg-dr's ``start_operation`` read the 202 headers; list iteration stops on the
``nextLink`` a page carries; error handling reads the ARM envelope. These are the parts of an answer a
client depends on before it looks at any state.
"""

from __future__ import annotations

import httpx

from tests.conformance.replay import COMPUTE_API, World, load, path_of, step

REPROTECT = load("powershell-A2AReprotectTest.json")
DOTNET = load("dotnet-CreateA2AReplicationProtectedItem.json")
CLUSTER = load("powershell-A2ACluster.json")


def _lro_problems(world: World, accepted: httpx.Response, resource: str) -> list[str]:
    """How a 202 differs from the recorded ones (A2AReprotectTest entry 16, .NET entry 2, PPG recording)."""
    problems: list[str] = []
    if accepted.status_code != 202:
        return [f"status {accepted.status_code}: {accepted.text}"]
    job = world.job_id(accepted)
    h = accepted.headers
    for name in ("Azure-AsyncOperation", "Location", "Retry-After", "x-ms-request-id"):
        if name not in h:
            problems.append(f"header {name} missing")
    if accepted.content:
        problems.append(f"body {accepted.text!r}, recorded empty (Content-Length 0)")
    if (
        "Azure-AsyncOperation" in h
        and path_of(h["Azure-AsyncOperation"]).lower() != f"{world.vault}/replicationOperationStatus/{job}".lower()
    ):
        problems.append(f"Azure-AsyncOperation path {path_of(h['Azure-AsyncOperation'])}")
    if "Location" in h and path_of(h["Location"]).lower() != f"{resource}/operationresults/{job}".lower():
        problems.append(f"Location path {path_of(h['Location'])}, recorded {{resource}}/operationresults/{{job}}")
    if "x-ms-request-id" in h and h["x-ms-request-id"].lower() != f"{world.vault}/replicationJobs/{job}".lower():
        problems.append(f"x-ms-request-id {h['x-ms-request-id']}, recorded the job's ARM id")
    return problems


def test_enable_answers_202_with_the_recorded_lro_headers(world: World) -> None:
    """PUT item: 202, empty body, Azure-AsyncOperation / Location / Retry-After / x-ms-request-id (.NET entry 2)."""
    assert _lro_problems(world, world.enable(), world.item_path()) == []


def test_unplanned_failover_answers_202_with_the_recorded_lro_headers(world: World) -> None:
    """POST unplannedFailover: Location is {item}/operationresults/{job} (PPG recording at 19:52:19)."""
    world.protect()
    assert _lro_problems(world, world.unplanned_failover(), world.item_path()) == []


def test_switch_protection_answers_202_with_the_recorded_lro_headers(world: World) -> None:
    """POST switchprotection: Location is {container}/operationresults/{job} (A2AReprotectTest entry 16)."""
    world.committed()
    assert _lro_problems(world, world.switch_protection(), world.container_path()) == []


def test_operation_status_polls_carry_no_retry_after(world: World) -> None:
    """replicationOperationStatus answers have no Retry-After, running or done (.NET entries 3-19); only
    the 202 carries Retry-After: 30."""
    accepted = world.enable()
    running = world.http.get(accepted.headers["Azure-AsyncOperation"])
    world.advance(60)
    done = world.http.get(accepted.headers["Azure-AsyncOperation"])
    assert (running.json()["status"], done.json()["status"]) == ("InProgress", "Succeeded")
    assert ("Retry-After" in running.headers, "Retry-After" in done.headers) == (False, False)


def test_operation_status_body_keys(world: World) -> None:
    """The poll body has exactly the recorded keys (.NET entry 3)."""
    accepted = world.enable()
    body = world.http.get(accepted.headers["Azure-AsyncOperation"]).json()
    assert set(body) == set(step(DOTNET, entry=3)["bodyKeys"])


def test_site_recovery_list_pages_end_with_a_null_next_link(world: World) -> None:
    """Every Site Recovery list page that ends a list has "nextLink": null (A2AReprotectTest entries 4, 5,
    6, 9, 10, 12; PPG and plan recordings' job lists)."""
    world.finish(world.enable(), 60)
    lists = {
        "containers by fabric": world.container_path().rsplit("/", 1)[0],
        "mappings by container": f"{world.container_path()}/replicationProtectionContainerMappings",
        "policies": f"{world.vault}/replicationPolicies",
        "items by container": f"{world.container_path()}/replicationProtectedItems",
        "items in the vault": f"{world.vault}/replicationProtectedItems",
        "jobs": f"{world.vault}/replicationJobs",
    }
    missing = [
        name for name, path in lists.items() if "nextLink" not in world.get(path) or world.get(path)["nextLink"] is not None
    ]
    assert missing == [], f'no "nextLink": null on: {", ".join(missing)}'


def test_mapping_list_by_container_returns_both_directions(world: World) -> None:
    """Listing the mappings of one container returned the forward and the reverse mapping (A2AReprotectTest
    entries 5 and 10, from both containers)."""
    recorded = step(REPROTECT, entry=5)["list"]["count"]
    for side in ("primary", "recovery"):
        listed = world.get(f"{world.container_path(side)}/replicationProtectionContainerMappings")["value"]
        assert len(listed) == recorded, f"{side} container lists {[m['name'] for m in listed]}"


def test_missing_resource_group_is_resource_group_not_found(world: World) -> None:
    """GET of a VM in a group that does not exist: 404 ResourceGroupNotFound with Azure's message (cluster
    failover recording entries[-1])."""
    recorded = step(CLUSTER, file="A2AClutserUnplannedFailoverJob.json", entry=-1)
    response = world.send(
        "GET", f"{world.rg_id('recoveryResourceGroupName')}/providers/Microsoft.Compute/virtualMachines/sdgql1", api=COMPUTE_API
    )
    assert (response.status_code, response.json()) == (recorded["status"], recorded["error"])


def test_changing_a_vm_availability_set_is_refused(world: World) -> None:
    """Moving an existing VM into an availability set: 409 PropertyChangeNotAllowed, "Changing property
    'availabilitySet.id' is not allowed." (no recording; GitHub Azure/azure-powershell#1820, the documented
    'Change the availability set of a VM' procedure recreates the VM)."""
    avset = f"{world.rg_id('rg-app')}/providers/Microsoft.Compute/availabilitySets/avset-app"
    assert world.send(
        "PUT",
        avset,
        {"location": "westeurope", "properties": {"proximityPlacementGroup": {"id": world.source_ppg}}},
        api=COMPUTE_API,
    ).status_code in (200, 201)
    vm = world.get(world.vm_id, api=COMPUTE_API)
    vm["properties"]["availabilitySet"] = {"id": avset}
    response = world.send("PUT", world.vm_id, {"location": vm["location"], "properties": vm["properties"]}, api=COMPUTE_API)
    error = response.json().get("error", {}) if response.content else {}
    assert (response.status_code, error.get("code"), error.get("message")) == (
        409,
        "PropertyChangeNotAllowed",
        "Changing property 'availabilitySet.id' is not allowed.",
    )
