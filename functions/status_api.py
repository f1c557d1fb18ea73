"""HTTP trigger: protection status per VM (function-key authenticated, read-only)."""

import json

import azure.functions as func

from shared.context import get_context
from shared.status import all_statuses, get_status

bp = func.Blueprint()


@bp.function_name("status")
@bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status(req: func.HttpRequest) -> func.HttpResponse:
    """``GET /api/status`` lists every VM ppg-dr knows; ``?vm=<resource id>`` returns one."""
    ctx = get_context()
    vm_id = req.params.get("vm")
    if vm_id:
        found = get_status(ctx.store, vm_id)
        if found is None:
            return _json({"error": {"code": "NotFound", "message": f"ppg-dr has no status for {vm_id[:300]}"}}, 404)
        return _json(found.to_data())
    group = (req.params.get("group") or "").lower()
    statuses = [s.to_data() for s in all_statuses(ctx.store) if not group or s.group.lower() == group]
    return _json({"value": statuses})


def _json(body: object, status_code: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status_code, mimetype="application/json")
