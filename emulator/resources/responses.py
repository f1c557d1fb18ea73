"""Microsoft.Resources routes: resource groups and ``{scope}/providers/Microsoft.Resources/tags/default``."""

from __future__ import annotations

from collections.abc import Callable

from emulator.arm import operation_status_response, retry_after
from emulator.routing import ArmRequest, ArmResponse, Handler, Router, page
from emulator.state import Emulator

GROUP = "/subscriptions/{subscription}/resourcegroups/{name}"
TAGS = "/providers/Microsoft.Resources/tags/default"

#: The scopes whose tags can be written: the subscription, a group, any top-level resource in a group.
_SCOPES: dict[str, Callable[[dict[str, str]], str]] = {
    "/subscriptions/{subscription}": lambda p: f"/subscriptions/{p['subscription']}",
    "/subscriptions/{subscription}/resourceGroups/{resource_group}": lambda p: (
        f"/subscriptions/{p['subscription']}/resourceGroups/{p['resource_group']}"
    ),
    "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{namespace}/{rtype}/{name}": lambda p: (
        f"/subscriptions/{p['subscription']}/resourceGroups/{p['resource_group']}/providers/"
        f"{p['namespace']}/{p['rtype']}/{p['name']}"
    ),
}


def build_router(emulator: Emulator) -> Router:
    router = Router()

    # --------------------------------------------------------------------------- resource groups
    @router.route("PUT", GROUP)
    def put_group(req: ArmRequest) -> ArmResponse:
        p = req.params
        body, created = emulator.resources.put_group(p["subscription"], p["name"], req.json_body())
        return ArmResponse(201 if created else 200, body)

    @router.route("PATCH", GROUP)
    def patch_group(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.resources.patch_group(p["subscription"], p["name"], req.json_body()))

    @router.route("GET", GROUP)
    def get_group(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(200, emulator.resources.get_group(p["subscription"], p["name"]))

    @router.route("HEAD", GROUP)
    def head_group(req: ArmRequest) -> ArmResponse:
        p = req.params
        return ArmResponse(204 if emulator.resources.group_exists(p["subscription"], p["name"]) else 404)

    @router.route("DELETE", GROUP)
    def delete_group(req: ArmRequest) -> ArmResponse:
        p = req.params
        if not emulator.resources.group_exists(p["subscription"], p["name"]):
            emulator.resources.get_group(p["subscription"], p["name"])  # raises ARM's 404
        op = emulator.operations.start(
            "resourceGroup.delete",
            emulator.group_delete_seconds,
            lambda: emulator.resources.delete_group(p["subscription"], p["name"]),
            context={"resourceId": emulator.resources.group_id(p["subscription"], p["name"])},
        )
        location = req.url(f"/subscriptions/{p['subscription']}/operationresults/{op.id}", **{"api-version": req.api_version})
        return ArmResponse(202, None, {"Location": location, "Retry-After": retry_after(op, emulator.clock)})

    @router.route("GET", "/subscriptions/{subscription}/resourcegroups")
    def list_groups(req: ArmRequest) -> ArmResponse:
        return page(req, emulator.resources.list_groups(req.params["subscription"]))

    @router.route("GET", "/subscriptions/{subscription}/operationresults/{operation}")
    def operation_result(req: ArmRequest) -> ArmResponse:
        return operation_status_response(emulator.operations.get(req.params["operation"]), monitor=True, clock=emulator.clock)

    # --------------------------------------------------------------------------- tags at scope
    for template, scope_of in _SCOPES.items():
        _tag_routes(router, emulator, template + TAGS, scope_of)

    return router


def _tag_routes(router: Router, emulator: Emulator, template: str, scope: Callable[[dict[str, str]], str]) -> None:

    def get(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, emulator.resources.get_tags(scope(req.params)))

    def put(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, emulator.resources.put_tags(scope(req.params), req.json_body()))

    def patch(req: ArmRequest) -> ArmResponse:
        return ArmResponse(200, emulator.resources.patch_tags(scope(req.params), req.json_body()))

    def delete(req: ArmRequest) -> ArmResponse:
        emulator.resources.delete_tags(scope(req.params))
        return ArmResponse(200)

    handlers: dict[str, Handler] = {"GET": get, "PUT": put, "PATCH": patch, "DELETE": delete}
    for method, handler in handlers.items():
        router.add(method, template, handler)
