"""Small ARM conventions shared by the emulator's backends: resource ids and long-running responses.

Resource ids are compared case-insensitively everywhere (``/Subscriptions/`` and upper-cased names
appear in real payloads), so every index is keyed by :func:`key`. Long-running answers follow ARM's
contract: a status code plus ``Azure-AsyncOperation`` / ``Location`` / ``Retry-After`` headers that
the SDK's ``ARMPolling`` follows until the operation on the emulator clock is done.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emulator.clock import Clock
from emulator.errors import ArmError
from emulator.operations import Operation
from emulator.routing import ArmRequest, ArmResponse


def key(resource_id: str) -> str:
    """The lookup key of a resource id: ARM ids are case-insensitive and may carry a trailing slash."""
    return resource_id.strip().rstrip("/").lower()


def resource_id(subscription: str, resource_group: str, provider: str, rtype: str, name: str) -> str:
    """``/subscriptions/{s}/resourceGroups/{rg}/providers/{provider}/{type}/{name}``."""
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{provider}/{rtype}/{name}"


@dataclass(frozen=True)
class ParsedId:
    """The parts of a top-level resource id (enough for routing tag writes and validation)."""

    subscription: str
    resource_group: str | None
    provider: str | None
    rtype: str | None
    name: str | None


def parse_id(value: str) -> ParsedId:
    """Split an ARM id; raises a 400 ``LinkedInvalidPropertyId`` like ARM for anything malformed."""
    parts = [p for p in value.strip().split("/") if p]
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        raise ArmError(
            400,
            "LinkedInvalidPropertyId",
            f"Property id '{value}' is invalid. "
            "Expect fully qualified resource Id that start with '/subscriptions/{subscriptionId}'.",
        )
    sub = parts[1]
    if len(parts) == 2:
        return ParsedId(sub, None, None, None, None)
    if len(parts) >= 4 and parts[2].lower() == "resourcegroups":
        rg = parts[3]
        if len(parts) == 4:
            return ParsedId(sub, rg, None, None, None)
        if len(parts) >= 8 and parts[4].lower() == "providers":
            return ParsedId(sub, rg, parts[5], parts[6], parts[7])
    raise ArmError(400, "LinkedInvalidPropertyId", f"Property id '{value}' is invalid.")


def same_location(a: str, b: str) -> bool:
    """ARM accepts ``West US`` and ``westus`` as the same region."""
    return a.replace(" ", "").lower() == b.replace(" ", "").lower()


def normalise_location(location: str) -> str:
    """The canonical region name ARM echoes back (``West US`` -> ``westus``)."""
    return location.replace(" ", "").lower()


def retry_after(op: Operation, clock: Clock) -> str:
    """Seconds of real time until the operation is due, as ARM's integer ``Retry-After``.

    ``0`` makes the SDK fall back to its own ``polling_interval`` (tests pass ``0``), so a fast clock
    means fast polling without any test sleeping on a made-up delay.
    """
    remaining = (op.due - clock.now()).total_seconds()
    if op.done or remaining <= 0:
        return "0"
    if clock.speed <= 0:
        return "10"
    return str(min(60, math.ceil(remaining / clock.speed)))


def compute_operation_urls(request: ArmRequest, subscription: str, location: str, op: Operation) -> dict[str, str]:
    """The headers Compute sends with an accepted long-running write (async status + monitor URL)."""
    path = (
        f"/subscriptions/{subscription}/providers/Microsoft.Compute/locations/{normalise_location(location)}/operations/{op.id}"
    )
    api = request.api_version or "2024-11-01"
    return {
        "Azure-AsyncOperation": request.url(path, **{"api-version": api}),
        "Location": request.url(path, **{"api-version": api, "monitor": "true"}),
    }


def operation_status_response(op: Operation | None, *, monitor: bool, clock: Clock) -> ArmResponse:
    """Answer a poll of an operation: the status body, or (``monitor``) 202 until done, then 200 with the result."""
    if op is None:
        raise ArmError(404, "NotFound", "The operation was not found.")
    headers = {"Retry-After": retry_after(op, clock)} if not op.done else {}
    if monitor:
        if not op.done:
            return ArmResponse(202, None, headers)
        if op.error is not None:
            return ArmResponse(op.error.status, op.error.body())
        return ArmResponse(200, op.result)
    return ArmResponse(200, op.status_body(), headers)
