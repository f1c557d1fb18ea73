"""ARM routing: URL templates matched case-insensitively, as ARM matches them.

ARM treats literal path segments (``subscriptions``, ``resourceGroups``, provider namespaces) without
regard to case; real payloads contain ``/Subscriptions/...``. Backends receive the parameter values as
sent and normalise names themselves. The router knows nothing of HTTP frameworks: the server turns a
Starlette request into an :class:`ArmRequest` and an :class:`ArmResponse` back into a response.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import urlencode

from emulator.errors import ArmError


@dataclass
class ArmRequest:
    """One request as a backend handler sees it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    base_url: str
    params: dict[str, str] = field(default_factory=dict)

    def url(self, path: str, **query: str) -> str:
        """Absolute URL on this emulator (for Location, Azure-AsyncOperation, nextLink)."""
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.base_url.rstrip('/')}{path}{suffix}"

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400 like ARM's for anything else."""
        if not isinstance(self.body, dict):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized.")
        return self.body


@dataclass
class ArmResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ArmRequest], ArmResponse]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    literal_segments: int
    handler: Handler


class Router:
    """Method + template -> handler. More literal segments win over parameters on a tie of length."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        regex = ""
        literals = 0
        for segment in template.strip("/").split("/"):
            name = _PARAM.fullmatch(segment)
            if name:
                regex += f"/(?P<{name.group(1)}>[^/]+)"
            else:
                regex += "/" + re.escape(segment)
                literals += 1
        pattern = re.compile(regex + "/?", re.IGNORECASE)
        self._routes.append(_Route(method.upper(), template, pattern, literals, handler))
        self._routes.sort(key=lambda r: -r.literal_segments)

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, template, handler)
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler for a request, or the ARM error a real endpoint would give."""
        method_mismatch = False
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if not found:
                continue
            if route.method != method.upper():
                method_mismatch = True
                continue
            return route.handler, dict(found.groupdict())
        if method_mismatch:
            raise ArmError(405, "MethodNotAllowed", f"The method '{method}' is not allowed for '{path}'.")
        raise ArmError(404, "InvalidResourceType", f"No emulated resource matches '{method} {path}'.")

    def include(self, other: Router) -> None:
        for route in other._routes:
            self.add(route.method, route.template, route.handler)


class LazyBodies(Sequence[dict[str, Any]]):
    """A sequence that renders ARM bodies only for the slice a page needs (10,000 resources list fast).

    ``render`` may return None for an object that no longer has a body; such objects are skipped.
    """

    def __init__(self, objects: Sequence[Any], render: Callable[[Any], dict[str, Any] | None]) -> None:
        self._objects = objects
        self._render = render

    def __len__(self) -> int:
        return len(self._objects)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        if isinstance(index, slice):
            return [b for b in (self._render(o) for o in self._objects[index]) if b is not None]
        body = self._render(self._objects[index])
        return body if body is not None else {}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for obj in self._objects:
            body = self._render(obj)
            if body is not None:
                yield body


DEFAULT_PAGE_SIZE = 1000  # ARM list APIs return up to 1,000 items a page


def page(
    request: ArmRequest, items: Sequence[dict[str, Any]], page_size: int = DEFAULT_PAGE_SIZE, *, null_next_link: bool = False
) -> ArmResponse:
    """A list response with ARM paging: ``value`` plus ``nextLink`` carrying an opaque skip token.

    ``null_next_link``: the last page says ``"nextLink": null`` (Site Recovery lists, A2AReprotectTest entries
    4-12) instead of leaving the key out."""
    token = request.query.get("$skiptoken")
    start = 0
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()).decode())["skip"])
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            raise ArmError(400, "InvalidSkipToken", "The skip token is not valid.") from exc
    chunk = list(items[start : start + page_size])
    body: dict[str, Any] = {"value": chunk}
    end = start + len(chunk)
    if end < len(items):
        next_token = base64.urlsafe_b64encode(json.dumps({"skip": end}).encode()).decode()
        query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = next_token
        body["nextLink"] = request.url(request.path, **query)
    elif null_next_link:
        body["nextLink"] = None
    return ArmResponse(200, body)
