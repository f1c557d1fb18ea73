"""Routing and paging without HTTP: case-insensitive templates, ARM errors, opaque skip tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from emulator.errors import ArmError
from emulator.routing import ArmRequest, ArmResponse, Router, page


def _request(path: str = "/x", **query: str) -> ArmRequest:
    return ArmRequest("GET", path, dict(query), {}, None, "https://127.0.0.1:1")


def _ok(name: str) -> object:
    return lambda req: ArmResponse(200, {"handler": name, **req.params})


def test_templates_match_case_insensitively_and_keep_values_as_sent() -> None:
    router = Router()
    router.add("GET", "/subscriptions/{sub}/resourceGroups/{rg}", _ok("group"))  # type: ignore[arg-type]
    handler, params = router.match("GET", "/Subscriptions/S1/RESOURCEGROUPS/My-RG")
    assert params == {"sub": "S1", "rg": "My-RG"}
    assert handler(_request()).body["handler"] == "group"


def test_literal_segments_win_over_parameters() -> None:
    router = Router()
    router.add("GET", "/subscriptions/{sub}/providers/{ns}/{type}", _ok("generic"))  # type: ignore[arg-type]
    router.add("GET", "/subscriptions/{sub}/providers/Microsoft.Compute/virtualMachines", _ok("vms"))  # type: ignore[arg-type]
    handler, _ = router.match("GET", "/subscriptions/s/providers/microsoft.compute/virtualmachines")
    assert handler(_request()).body["handler"] == "vms"


def test_unknown_paths_and_methods_are_arm_errors() -> None:
    router = Router()
    router.add("GET", "/a/{b}", _ok("a"))  # type: ignore[arg-type]
    with pytest.raises(ArmError) as wrong_method:
        router.match("DELETE", "/a/1")
    assert (wrong_method.value.status, wrong_method.value.code) == (405, "MethodNotAllowed")
    with pytest.raises(ArmError) as unknown:
        router.match("GET", "/b")
    assert unknown.value.status == 404


def test_page_walks_next_links_to_the_end() -> None:
    items = [{"i": i} for i in range(25)]
    seen: list[int] = []
    request = _request("/list", **{"api-version": "1"})
    while True:
        answer = page(request, items, page_size=10)
        seen += [item["i"] for item in answer.body["value"]]
        next_link = answer.body.get("nextLink")
        if not next_link:
            break
        query = {k: v[0] for k, v in parse_qs(urlparse(next_link).query).items()}
        assert query["api-version"] == "1"
        request = _request("/list", **query)
    assert seen == list(range(25))


def test_a_forged_skip_token_is_a_400() -> None:
    with pytest.raises(ArmError) as bad:
        page(_request(**{"$skiptoken": "not-a-token"}), [{"i": 1}])
    assert bad.value.status == 400
