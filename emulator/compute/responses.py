"""Microsoft.Compute routes: HTTP in, ``ComputeBackend`` call, ARM-shaped HTTP out. No rules live here."""

from __future__ import annotations

from emulator.arm import compute_operation_urls, operation_status_response, retry_after
from emulator.routing import ArmRequest, ArmResponse, Router, page
from emulator.state import Emulator

RG = "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute"
SUB = "/subscriptions/{subscription}/providers/Microsoft.Compute"
VM = RG + "/virtualMachines/{name}"
PPG = RG + "/proximityPlacementGroups/{name}"
AVSET = RG + "/availabilitySets/{name}"
CRG = RG + "/capacityReservationGroups/{name}"
DISK = RG + "/disks/{name}"


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
        return ArmResponse(200, emulator.compute.get_vm(p["subscription"], p["resource_group"], p["name"], instance_view=expand))

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
        return ArmResponse(200, emulator.compute.instance_view(p["subscription"], p["resource_group"], p["name"]))

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

    # --------------------------------------------------------------------------- PPGs

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
            200, emulator.compute.get_ppg(p["subscription"], p["resource_group"], p["name"], colocation=colocation)
        )

    @router.route("DELETE", PPG)
    def delete_ppg(req: ArmRequest) -> ArmResponse:
        p = req.params
        emulator.compute.delete_ppg(p["subscription"], p["resource_group"], p["name"])
        return ArmResponse(200)

    @router.route("GET", RG + "/proximityPlacementGroups")
    def list_ppgs(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.compute.list_ppgs(req.params["subscription"], req.params["resource_group"]))

    @router.route("GET", SUB + "/proximityPlacementGroups")
    def list_ppgs_sub(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.compute.list_ppgs(req.params["subscription"]))

    # --------------------------------------------------------------------------- availability sets

    @router.route("PUT", AVSET)
    def put_avset(req: ArmRequest) -> ArmResponse:
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        return ArmResponse(200, emulator.compute.put_avset(p["subscription"], p["resource_group"], p["name"], req.json_body()))

    @router.route("PATCH", AVSET)
    def patch_avset(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.compute.patch_avset(p["subscription"], p["resource_group"], p["name"], req.json_body()))

    @router.route("GET", AVSET)
    def get_avset(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.compute.get_avset(p["subscription"], p["resource_group"], p["name"]))

    @router.route("DELETE", AVSET)
    def delete_avset(req: ArmRequest) -> ArmResponse:
        p = req.params
        found = emulator.compute.delete_avset(p["subscription"], p["resource_group"], p["name"])
        return ArmResponse(200 if found else 204)

    @router.route("GET", RG + "/availabilitySets")
    def list_avsets(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.compute.list_avsets(req.params["subscription"], req.params["resource_group"]))

    @router.route("GET", SUB + "/availabilitySets")
    def list_avsets_sub(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.compute.list_avsets(req.params["subscription"]))

    # --------------------------------------------------------------------------- capacity reservation groups

    @router.route("PUT", CRG)
    def put_crg(req: ArmRequest) -> ArmResponse:
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        body, created = emulator.compute.put_crg(p["subscription"], p["resource_group"], p["name"], req.json_body())
        return ArmResponse(201 if created else 200, body)

    @router.route("GET", CRG)
    def get_crg(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.compute.get_crg(p["subscription"], p["resource_group"], p["name"]))

    @router.route("DELETE", CRG)
    def delete_crg(req: ArmRequest) -> ArmResponse:
        p = req.params
        found = emulator.compute.delete_crg(p["subscription"], p["resource_group"], p["name"])
        return ArmResponse(200 if found else 204)

    @router.route("GET", RG + "/capacityReservationGroups")
    def list_crgs(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.compute.list_crgs(req.params["subscription"], req.params["resource_group"]))

    @router.route("GET", SUB + "/capacityReservationGroups")
    def list_crgs_sub(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.compute.list_crgs(req.params["subscription"]))

    # --------------------------------------------------------------------------- disks

    @router.route("PUT", DISK)
    def put_disk(req: ArmRequest) -> ArmResponse:
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        body, _created = emulator.compute.put_disk(p["subscription"], p["resource_group"], p["name"], req.json_body())
        op = emulator.operations.start("disk.write", emulator.compute.durations["disk.write"], context={"resourceId": body["id"]})
        urls = compute_operation_urls(req, p["subscription"], body["location"], op)
        return ArmResponse(200, body, {"Azure-AsyncOperation": urls["Azure-AsyncOperation"]})

    @router.route("GET", DISK)
    def get_disk(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.compute.get_disk(p["subscription"], p["resource_group"], p["name"]))

    @router.route("DELETE", DISK)
    def delete_disk(req: ArmRequest) -> ArmResponse:
        p = req.params
        found = emulator.compute.delete_disk(p["subscription"], p["resource_group"], p["name"])
        return ArmResponse(200 if found else 204)

    @router.route("GET", RG + "/disks")
    def list_disks(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.compute.list_disks(req.params["subscription"], req.params["resource_group"]))

    @router.route("GET", SUB + "/disks")
    def list_disks_sub(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.compute.list_disks(req.params["subscription"]))

    return router
