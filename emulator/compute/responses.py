"""Microsoft.Compute routes: HTTP in, ``ComputeBackend`` call, ARM-shaped HTTP out. No rules live here.

PPGs, availability sets, capacity reservation groups and disks share their GET, DELETE and list routes
(:data:`RESOURCES`); their PUT and PATCH answer differently and stay explicit, as do the VM routes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.arm import compute_operation_urls, operation_status_response, retry_after
from emulator.compute.models import ComputeBackend
from emulator.errors import ArmError
from emulator.routing import ArmRequest, ArmResponse, Router, page
from emulator.state import Emulator

RG = "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute"
SUB = "/subscriptions/{subscription}/providers/Microsoft.Compute"
VM = RG + "/virtualMachines/{name}"
PPG = RG + "/proximityPlacementGroups/{name}"
AVSET = RG + "/availabilitySets/{name}"
CRG = RG + "/capacityReservationGroups/{name}"
DISK = RG + "/disks/{name}"


@dataclass(frozen=True)
class Resource:
    """A compute resource type other than VMs: ``(subscription, resource_group, name)`` calls on the backend."""

    collection: str
    #: ``(subscription, resource_group or None)`` -> rendered bodies.
    list: Callable[[ComputeBackend, str, str | None], Sequence[dict[str, Any]]]
    #: -> whether it existed. The answer is 200, or ``delete_missing_status`` when it did not exist.
    delete: Callable[[ComputeBackend, str, str, str], bool]
    delete_missing_status: int = 204
    #: None: the GET is an explicit route.
    get: Callable[[ComputeBackend, str, str, str], dict[str, Any]] | None = None


RESOURCES: tuple[Resource, ...] = (
    # GET is explicit (includeColocationStatus). A DELETE answers 200 even for a missing PPG (as it always has here).
    Resource(
        "proximityPlacementGroups", list=ComputeBackend.list_ppgs, delete=ComputeBackend.delete_ppg, delete_missing_status=200
    ),
    Resource(
        "availabilitySets", list=ComputeBackend.list_avsets, delete=ComputeBackend.delete_avset, get=ComputeBackend.get_avset
    ),
    Resource(
        "capacityReservationGroups", list=ComputeBackend.list_crgs, delete=ComputeBackend.delete_crg, get=ComputeBackend.get_crg
    ),
    Resource("disks", list=ComputeBackend.list_disks, delete=ComputeBackend.delete_disk, get=ComputeBackend.get_disk),
)


def _in_group(emulator: Emulator, subscription: str, resource_group: str, read: Callable[[], Any]) -> Any:
    """A read of a resource in a group: a missing resource in a missing group is ARM's 404 ResourceGroupNotFound
    (cluster failover recording entries[-1]), not the provider's ResourceNotFound."""
    try:
        return read()
    except ArmError as exc:
        if exc.status == 404:
            emulator.require_group(subscription, resource_group)
        raise


def build_router(emulator: Emulator) -> Router:
    """Routes for VMs, disks, PPGs, availability sets, capacity reservation groups and operations."""
    router = Router()

    # --------------------------------------------------------------------------- VMs
    @router.route("PUT", VM)
    def put_vm(req: ArmRequest) -> ArmResponse:
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        body, op, created = emulator.compute.begin_put_vm(
            p["subscription"],
            p["resource_group"],
            p["name"],
            req.json_body(),
            if_match=req.headers.get("if-match"),
            if_none_match=req.headers.get("if-none-match"),
        )
        urls = compute_operation_urls(req, p["subscription"], body["location"], op)
        headers = {"Azure-AsyncOperation": urls["Azure-AsyncOperation"], "Retry-After": retry_after(op, emulator.clock)}
        return ArmResponse(201 if created else 200, body, headers)

    @router.route("PATCH", VM)
    def patch_vm(req: ArmRequest) -> ArmResponse:
        p = req.params
        body, op = emulator.compute.begin_patch_vm(
            p["subscription"], p["resource_group"], p["name"], req.json_body(), if_match=req.headers.get("if-match")
        )
        urls = compute_operation_urls(req, p["subscription"], body["location"], op)
        return ArmResponse(
            200, body, {"Azure-AsyncOperation": urls["Azure-AsyncOperation"], "Retry-After": retry_after(op, emulator.clock)}
        )

    @router.route("GET", VM)
    def get_vm(req: ArmRequest) -> ArmResponse:
        p = req.params
        expand = req.query.get("$expand", "").lower() == "instanceview"
        return ArmResponse(
            200,
            _in_group(
                emulator,
                p["subscription"],
                p["resource_group"],
                lambda: emulator.compute.get_vm(p["subscription"], p["resource_group"], p["name"], instance_view=expand),
            ),
        )

    @router.route("DELETE", VM)
    def delete_vm(req: ArmRequest) -> ArmResponse:
        p = req.params
        location = emulator.compute.vm_location(p["subscription"], p["resource_group"], p["name"]) or ""
        op = emulator.compute.begin_delete_vm(p["subscription"], p["resource_group"], p["name"])
        if op is None:
            return ArmResponse(204)
        headers = compute_operation_urls(req, p["subscription"], location, op)
        headers["Retry-After"] = retry_after(op, emulator.clock)
        return ArmResponse(202, None, headers)

    @router.route("GET", RG + "/virtualMachines")
    def list_vms(req: ArmRequest) -> ArmResponse:
        p = req.params
        return page(req, emulator.compute.list_vms(p["subscription"], p["resource_group"]))

    @router.route("GET", SUB + "/virtualMachines")
    def list_all_vms(req: ArmRequest) -> ArmResponse:
        status_only = req.query.get("statusOnly", "").lower() == "true"
        return page(req, emulator.compute.list_vms(req.params["subscription"], instance_view=status_only))

    @router.route("GET", VM + "/instanceView")
    def instance_view(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(
            200,
            _in_group(
                emulator,
                p["subscription"],
                p["resource_group"],
                lambda: emulator.compute.instance_view(p["subscription"], p["resource_group"], p["name"]),
            ),
        )

    def action(name: str) -> None:
        def handler(req: ArmRequest) -> ArmResponse:
            p = req.params
            op = emulator.compute.begin_action(p["subscription"], p["resource_group"], p["name"], name)
            location = emulator.compute.vm_location(p["subscription"], p["resource_group"], p["name"]) or ""
            headers = compute_operation_urls(req, p["subscription"], location, op)
            headers["Retry-After"] = retry_after(op, emulator.clock)
            return ArmResponse(202, None, headers)

        router.add("POST", VM + "/" + name, handler)

    for name in ("start", "deallocate", "powerOff", "restart"):
        action(name)

    @router.route("GET", SUB + "/locations/{location}/operations/{operation}")
    def operation_status(req: ArmRequest) -> ArmResponse:
        op = emulator.operations.get(req.params["operation"])
        monitor = req.query.get("monitor", "").lower() == "true"
        return operation_status_response(op, monitor=monitor, clock=emulator.clock)

    # --------------------------------------------------------------------------- PPGs, availability sets, CRGs, disks
    for resource in RESOURCES:
        _add_resource(router, emulator, resource)

    @router.route("PUT", PPG)
    def put_ppg(req: ArmRequest) -> ArmResponse:
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        body, created = emulator.compute.put_ppg(p["subscription"], p["resource_group"], p["name"], req.json_body())
        return ArmResponse(201 if created else 200, body)

    @router.route("PATCH", PPG)
    def patch_ppg(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.compute.patch_ppg(p["subscription"], p["resource_group"], p["name"], req.json_body()))

    @router.route("GET", PPG)
    def get_ppg(req: ArmRequest) -> ArmResponse:
        p = req.params
        colocation = req.query.get("includeColocationStatus", "").lower() == "true"
        return ArmResponse(
            200,
            _in_group(
                emulator,
                p["subscription"],
                p["resource_group"],
                lambda: emulator.compute.get_ppg(p["subscription"], p["resource_group"], p["name"], colocation=colocation),
            ),
        )

    @router.route("PUT", AVSET)
    def put_avset(req: ArmRequest) -> ArmResponse:
        """Availability sets answer 200 on create too."""
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        return ArmResponse(200, emulator.compute.put_avset(p["subscription"], p["resource_group"], p["name"], req.json_body()))

    @router.route("PATCH", AVSET)
    def patch_avset(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.compute.patch_avset(p["subscription"], p["resource_group"], p["name"], req.json_body()))

    @router.route("PUT", CRG)
    def put_crg(req: ArmRequest) -> ArmResponse:
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        body, created = emulator.compute.put_crg(p["subscription"], p["resource_group"], p["name"], req.json_body())
        return ArmResponse(201 if created else 200, body)

    @router.route("PUT", DISK)
    def put_disk(req: ArmRequest) -> ArmResponse:
        """A disk write is a long-running operation: 200 with the disk and ``Azure-AsyncOperation``."""
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        body, _created = emulator.compute.put_disk(p["subscription"], p["resource_group"], p["name"], req.json_body())
        op = emulator.operations.start("disk.write", emulator.compute.durations["disk.write"], context={"resourceId": body["id"]})
        urls = compute_operation_urls(req, p["subscription"], body["location"], op)
        return ArmResponse(200, body, {"Azure-AsyncOperation": urls["Azure-AsyncOperation"]})

    return router


def _add_resource(router: Router, emulator: Emulator, res: Resource) -> None:
    """GET (unless explicit), DELETE, and the lists per resource group and per subscription."""
    get_one = res.get
    if get_one is not None:

        def get(req: ArmRequest) -> ArmResponse:
            p = req.params
            return ArmResponse(
                200,
                _in_group(
                    emulator,
                    p["subscription"],
                    p["resource_group"],
                    lambda: get_one(emulator.compute, p["subscription"], p["resource_group"], p["name"]),
                ),
            )

        router.add("GET", f"{RG}/{res.collection}/{{name}}", get)

    def delete(req: ArmRequest) -> ArmResponse:
        p = req.params
        found = res.delete(emulator.compute, p["subscription"], p["resource_group"], p["name"])
        return ArmResponse(200 if found else res.delete_missing_status)

    def list_group(req: ArmRequest) -> ArmResponse:
        return page(req, res.list(emulator.compute, req.params["subscription"], req.params["resource_group"]))

    def list_subscription(req: ArmRequest) -> ArmResponse:
        return page(req, res.list(emulator.compute, req.params["subscription"], None))

    router.add("DELETE", f"{RG}/{res.collection}/{{name}}", delete)
    router.add("GET", f"{RG}/{res.collection}", list_group)
    router.add("GET", f"{SUB}/{res.collection}", list_subscription)
