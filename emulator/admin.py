"""The admin API under ``/_emulator/``: what tests, benchmarks and the demo use to steer the emulator.

It lives outside the ARM namespace (no subscription, no token) so nothing the app sends can reach it
by accident, and its requests are not in the request log unless the caller asks with the header
``X-Emulator-Log: 1``. Bodies are JSON objects; names are camelCase like ARM's.
"""

from __future__ import annotations

from typing import Any

from emulator.clock import iso
from emulator.errors import ArmError
from emulator.routing import ArmRequest, ArmResponse, Router
from emulator.state import Emulator

PREFIX = "/_emulator"


def _body(req: ArmRequest) -> dict[str, Any]:
    return {} if req.body is None else req.json_body()


def _int(value: Any, name: str, *, default: int | None = None) -> int | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArmError(400, "InvalidParameter", f"'{name}' must be a number.")
    return int(value)


def _bool(value: Any, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ArmError(400, "InvalidParameter", f"'{name}' must be true or false.")
    return value


def build_router(emulator: Emulator) -> Router:
    """The generic admin routes (the Site Recovery ones are in ``emulator.asr.responses``; ``assembly`` joins them)."""
    router = Router()

    @router.route("GET", PREFIX + "/health")
    def health(req: ArmRequest) -> ArmResponse:
        return ArmResponse(
            200,
            {
                "status": "ok",
                "now": iso(emulator.clock.now()),
                "virtualMachines": len(emulator.compute.vms),
            },
        )

    # --------------------------------------------------------------------------- request log
    @router.route("GET", PREFIX + "/requests")
    def requests(req: ArmRequest) -> ArmResponse:
        status = req.query.get("status")
        entries = emulator.request_log.entries(
            method=req.query.get("method"), path=req.query.get("path"), status=int(status) if status else None
        )
        # An entry an after-apply fault answered also says what really happened (``applied``, ``appliedStatus``).
        value = [{**e.as_dict(), **emulator.faults.applied_note(e)} for e in entries]
        return ArmResponse(200, {"value": value, "count": len(entries)})

    @router.route("DELETE", PREFIX + "/requests")
    def clear_requests(req: ArmRequest) -> ArmResponse:
        emulator.request_log.clear()
        return ArmResponse(204)

    # --------------------------------------------------------------------------- faults
    @router.route("GET", PREFIX + "/faults")
    def list_faults(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, {"value": emulator.faults.describe()})

    @router.route("POST", PREFIX + "/faults")
    def add_fault(req: ArmRequest) -> ArmResponse:
        body = _body(req)
        count = body.get("count", 1)
        count = None if count is None else _int(count, "count")
        try:
            if body.get("kind") == "asyncRefusal":
                refusal = emulator.faults.add_async_refusal(
                    path=str(body.get("path") or ".*"),
                    method=str(body.get("method") or "*"),
                    code=str(body.get("code") or "45005"),
                    message=str(body.get("message") or "Protection couldn't be enabled for the virtual machine."),
                    count=count,
                )
                return ArmResponse(201, refusal.describe())
            if body.get("operationKind"):
                op_rule = emulator.faults.add_operation_fault(
                    kind=str(body["operationKind"]),
                    code=str(body.get("code") or "InternalError"),
                    message=str(body.get("message") or "Injected operation failure."),
                    count=count,
                )
                return ArmResponse(201, op_rule.describe())
            rule = emulator.faults.add_request_fault(
                path=str(body.get("path") or ".*"),
                method=str(body.get("method") or "*"),
                status=_int(body.get("status"), "status"),
                code=str(body.get("code") or ""),
                message=str(body.get("message") or ""),
                retry_after=_int(body.get("retryAfter"), "retryAfter"),
                latency_ms=_int(body.get("latencyMs"), "latencyMs", default=0) or 0,
                count=count,
                after_apply=_bool(body.get("afterApply"), "afterApply"),
            )
        except ValueError as exc:
            raise ArmError(400, "InvalidParameter", str(exc)) from exc
        return ArmResponse(201, rule.describe())

    @router.route("DELETE", PREFIX + "/faults")
    def clear_faults(req: ArmRequest) -> ArmResponse:
        emulator.faults.clear()
        return ArmResponse(204)

    # --------------------------------------------------------------------------- clock
    def clock_body() -> dict[str, Any]:
        return {"now": iso(emulator.clock.now()), "speed": emulator.clock.speed}

    @router.route("GET", PREFIX + "/clock")
    def get_clock(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, clock_body())

    @router.route("POST", PREFIX + "/clock")
    def set_clock(req: ArmRequest) -> ArmResponse:
        body = _body(req)
        try:
            if body.get("speed") is not None:
                emulator.clock.set_speed(float(body["speed"]))
            if body.get("advance") is not None:
                emulator.clock.advance(float(body["advance"]))
        except (TypeError, ValueError) as exc:
            raise ArmError(400, "InvalidParameter", str(exc)) from exc
        emulator.operations.advance()
        return ArmResponse(200, clock_body())

    # --------------------------------------------------------------------------- capacity + placement
    def capacity_body() -> dict[str, Any]:
        return {
            "capacity": emulator.compute.placement.capacity(),
            "fallbacks": list(emulator.compute.placement_fallbacks),
            **emulator.compute.capacity_model.describe(),
        }

    @router.route("GET", PREFIX + "/capacity")
    def get_capacity(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, capacity_body())

    @router.route("POST", PREFIX + "/capacity")
    def set_capacity(req: ArmRequest) -> ArmResponse:
        body = _body(req)
        target = body.get("proximityPlacementGroupId")
        sizes = body.get("refusedSizes")
        if not isinstance(target, str) or not target or not isinstance(sizes, list):
            raise ArmError(
                400, "InvalidParameter", "Give 'proximityPlacementGroupId' (an id or '*') and 'refusedSizes' (a list)."
            )
        emulator.compute.set_capacity(target, [str(s) for s in sizes])
        return ArmResponse(200, capacity_body())

    @router.route("POST", PREFIX + "/capacity/datacenters")
    def set_datacenters(req: ArmRequest) -> ArmResponse:
        """A region's datacenters and the VM sizes each hosts (``[]``: one datacenter hosting every size)."""
        body = _body(req)
        location, datacenters = body.get("location"), body.get("datacenters")
        if not isinstance(location, str) or not location or not isinstance(datacenters, list):
            raise ArmError(400, "InvalidParameter", "Give 'location' and 'datacenters' (a list, [] to clear).")
        try:
            emulator.compute.capacity_model.set_datacenters(location, datacenters)
        except ValueError as exc:
            raise ArmError(400, "InvalidParameter", str(exc)) from exc
        return ArmResponse(200, capacity_body())

    @router.route("POST", PREFIX + "/compute/durations")
    def set_durations(req: ArmRequest) -> ArmResponse:
        for name, seconds in _body(req).items():
            if name not in emulator.compute.durations:
                raise ArmError(
                    400, "InvalidParameter", f"Unknown operation '{name}'; known: {sorted(emulator.compute.durations)}."
                )
            emulator.compute.durations[name] = float(seconds)
        return ArmResponse(200, dict(emulator.compute.durations))

    @router.route("GET", PREFIX + "/operations")
    def operations(req: ArmRequest) -> ArmResponse:
        return ArmResponse(
            200,
            {
                "value": [
                    dict(op.status_body(), kind=op.kind, due=iso(op.due), context=op.context) for op in emulator.operations.all()
                ]
            },
        )

    # --------------------------------------------------------------------------- reset
    @router.route("POST", PREFIX + "/reset")
    def reset(req: ArmRequest) -> ArmResponse:
        emulator.reset()
        return ArmResponse(200, {"reset": True})

    # --------------------------------------------------------------------------- events
    @router.route("GET", PREFIX + "/events")
    def events(req: ArmRequest) -> ArmResponse:
        kept = emulator.events.events(event_type=req.query.get("eventType"), subject_contains=req.query.get("subject"))
        return ArmResponse(200, {"value": kept, "delivery": emulator.events.stats()})

    @router.route("GET", PREFIX + "/events/pending")
    def pending_events(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, {"pending": emulator.events.stats()["pending"]})

    @router.route("DELETE", PREFIX + "/events")
    def clear_events(req: ArmRequest) -> ArmResponse:
        emulator.events.clear()
        return ArmResponse(204)

    @router.route("POST", PREFIX + "/events/subscriber")
    def subscriber(req: ArmRequest) -> ArmResponse:
        url = _body(req).get("url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise ArmError(400, "InvalidParameter", "'url' must be an http(s) URL or null.")
        emulator.events.set_subscriber(url)
        return ArmResponse(200, emulator.events.stats())

    # --------------------------------------------------------------------------- seeding
    @router.route("POST", PREFIX + "/seed/vms")
    def seed_vms(req: ArmRequest) -> ArmResponse:
        body = _body(req)
        subscription = body.get("subscriptionId")
        group = body.get("resourceGroup")
        count = _int(body.get("count"), "count")
        if not subscription or not group or not count or count < 0:
            raise ArmError(400, "InvalidParameter", "Give 'subscriptionId', 'resourceGroup' and a positive 'count'.")
        location = str(body.get("location") or "westeurope")
        emulator.resources.ensure_group(subscription, group, location)
        ids = emulator.compute.seed_vms(
            subscription,
            group,
            count,
            location=location,
            vm_size=str(body.get("vmSize") or "Standard_D2s_v5"),
            name_prefix=str(body.get("namePrefix") or "vm"),
            start_index=_int(body.get("startIndex"), "startIndex", default=0) or 0,
            proximity_placement_group_id=body.get("proximityPlacementGroupId"),
            tags=body.get("tags"),
            zones=body.get("zones"),
        )
        return ArmResponse(201, {"created": len(ids), "first": ids[0] if ids else None, "last": ids[-1] if ids else None})

    return router
