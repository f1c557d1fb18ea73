"""Routes for the minimal Network / Storage resources (virtual networks, NICs, storage accounts)."""

from __future__ import annotations

from emulator.network.models import SIMPLE_TYPES
from emulator.routing import ArmRequest, ArmResponse, Handler, Router, page
from emulator.state import Emulator


def build_router(emulator: Emulator) -> Router:
    router = Router()
    for provider, rtype in SIMPLE_TYPES:
        _routes(router, emulator, provider, rtype)
    return router


def _routes(router: Router, emulator: Emulator, provider: str, rtype: str) -> None:
    item = f"/subscriptions/{{subscription}}/resourceGroups/{{resource_group}}/providers/{provider}/{rtype}/{{name}}"
    in_group = f"/subscriptions/{{subscription}}/resourceGroups/{{resource_group}}/providers/{provider}/{rtype}"
    in_sub = f"/subscriptions/{{subscription}}/providers/{provider}/{rtype}"

    def put(req: ArmRequest) -> ArmResponse:
        p = req.params
        emulator.require_group(p["subscription"], p["resource_group"])
        body, created = emulator.network.put(p["subscription"], p["resource_group"], provider, rtype, p["name"], req.json_body())
        return ArmResponse(201 if created else 200, body)

    def get(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.network.get(p["subscription"], p["resource_group"], provider, rtype, p["name"]))

    def delete(req: ArmRequest) -> ArmResponse:
        p = req.params
        found = emulator.network.delete(p["subscription"], p["resource_group"], provider, rtype, p["name"])
        return ArmResponse(200 if found else 204)

    def list_group(req: ArmRequest) -> ArmResponse:
        p = req.params
        return page(req, emulator.network.list(p["subscription"], provider, rtype, p["resource_group"]))

    def list_sub(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.network.list(req.params["subscription"], provider, rtype))

    routes: list[tuple[str, str, Handler]] = [
        ("PUT", item, put),
        ("GET", item, get),
        ("DELETE", item, delete),
        ("GET", in_group, list_group),
        ("GET", in_sub, list_sub),
    ]
    for method, template, handler in routes:
        router.add(method, template, handler)
