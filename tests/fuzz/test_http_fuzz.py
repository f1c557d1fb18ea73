"""Fuzz the HTTP surface: hostile requests through the registered ``http_api`` function (methods, paths, query
strings, credentials, bodies), and schemathesis driven by the app's own OpenAPI document against the ASGI app.

Asserted for every request: no 5xx and no exception; an error answer in the JSON error shape with no table write;
and, over the run, no ARM write (the app here has no groups, so no request can legitimately act on Azure)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from shared.operator.http_api import create_app, openapi_document
from tests.fixtures.app import API_KEY, Ppgdr
from tests.fuzz.budget import TIMEOUT, budget
from tests.fuzz.hostile import HOSTILE_TEXT, JSON_VALUES, RAW_BODIES
from tests.fuzz.watch import arm_writes, table_writes

ROUTES = [
    "/api/alerts",
    "/api/status",
    "/api/groups",
    "/api/groups/{}",
    "/api/groups/{}/audit",
    "/api/groups/{}/drill",
    "/api/groups/{}/{}",
    "/api/decisions",
    "/api/decisions/{}/{}",
    "/api/drills",
    "/api/drills/{}",
    "/api/drills/{}/report",
    "/api/reports",
    "/api/reports/{}",
    "/api/reports/{}/html",
    "/api/dashboard",
    "/api/login",
    "/api/logout",
    "/api/preflight",
    "/api/openapi.json",
    "/api/{}",
    "/{}",
]
SEGMENTS = st.one_of(
    st.sampled_from(["sap-ppg", "failover", "approve", "reject", "commit", "dec-0000000000000000", "..", "%2e%2e", "%00"]),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"), min_size=1, max_size=30),
)
CREDENTIALS = st.sampled_from(["key", "key", "key", "wrong-key", "code", "bearer", "cookie", "none"])
METHODS = st.sampled_from(["GET", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
QUERY_NAMES = ["vm", "group", "dry_run", "repair", "format", "refresh", "event_hours", "next", "recovery_point", "x"]
QUERY = st.dictionaries(st.sampled_from(QUERY_NAMES), st.sampled_from(HOSTILE_TEXT), max_size=3)
BEARERS = ["Bearer ", "Bearer a.b.c", "Basic Zm9vOmJhcg==", "Bearer " + "x" * 20000]
COOKIES = ["ppgdr_session=a.b", "ppgdr_session=" + "A" * 3000, "ppgdr_session=e30.e30"]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain", "x/y;;"]


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], dict[str, str], bytes]:
    route = draw(st.sampled_from(ROUTES))
    path = route.format(*(draw(SEGMENTS) for _ in range(route.count("{}"))))
    headers: dict[str, str] = {}
    credential = draw(CREDENTIALS)
    if credential == "key":
        headers["x-functions-key"] = API_KEY
    elif credential == "wrong-key":
        headers["x-functions-key"] = draw(st.sampled_from(["", "x", API_KEY.upper(), API_KEY + "\n"]))
    elif credential == "bearer":
        headers["authorization"] = draw(st.sampled_from(BEARERS))
    elif credential == "cookie":
        headers["cookie"] = draw(st.sampled_from(COOKIES))
    params = draw(QUERY)
    if credential == "code":
        params["code"] = API_KEY
    if draw(st.booleans()):
        headers["content-type"] = draw(st.sampled_from(CONTENT_TYPES))
    body = draw(st.one_of(st.just(b""), RAW_BODIES, JSON_VALUES.map(lambda value: json.dumps(value).encode())))
    return draw(METHODS), path, params, headers, body


def error_shaped(answer: Any) -> bool:
    """The JSON error shape (``{"error": {"code", "message"}}``), or a page (the sign-in form answers 401 with itself)."""
    if isinstance(answer, str):
        return answer.startswith("<!doctype html>")
    return isinstance(answer, dict) and isinstance(answer.get("error"), dict) and bool(answer["error"].get("code"))


@TIMEOUT
def test_hostile_requests_through_the_registered_function(ppgdr: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    app = ppgdr
    app.emulator.clear_requests()
    tally: Counter[int] = Counter()

    @budget("http")
    @given(request=requests())
    def one(request: tuple[str, str, dict[str, str], dict[str, str], bytes]) -> None:
        method, path, params, headers, body = request
        with table_writes(app.ctx.store, monkeypatch) as writes:
            code, answer = app.http(method, path, params=params, body=body, key=None, headers=headers)
        tally[code] += 1
        assert code < 500, (method, path, code, answer)
        if code >= 400:
            assert writes == [], (method, path, code, writes)
            assert method == "HEAD" or error_shaped(answer), (method, path, code, answer)

    one()
    print(f"http fuzz: {sum(tally.values())} requests, answers {dict(sorted(tally.items()))}")
    assert arm_writes(app) == []


SCHEMA = schemathesis.openapi.from_dict(openapi_document())
CASES = st.one_of(SCHEMA.as_strategy(GenerationMode.POSITIVE), SCHEMA.as_strategy(GenerationMode.NEGATIVE))


@TIMEOUT
def test_schemathesis_against_the_openapi_document(ppgdr: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    app, asgi = ppgdr, create_app()
    app.emulator.clear_requests()
    tally: Counter[int] = Counter()

    @budget("openapi")
    @given(case=CASES, keyed=st.sampled_from([True, True, True, False]))
    def one(case: Any, keyed: bool) -> None:
        with table_writes(app.ctx.store, monkeypatch) as writes:
            response = case.call(app=asgi, headers={"x-functions-key": API_KEY} if keyed else None)
        tally[response.status_code] += 1
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
        if response.status_code >= 400:
            assert writes == [], (case.method, case.formatted_path, writes)

    one()
    print(f"schemathesis: {sum(tally.values())} requests, answers {dict(sorted(tally.items()))}")
    assert arm_writes(app) == []


def test_a_sign_in_form_with_too_many_fields_is_refused_with_400(ppgdr: Ppgdr) -> None:
    form = b"&".join([b"x=1"] * 11 + [b"key=", b"name=", b"next="])
    code, answer = ppgdr.http(
        "POST", "/api/login", body=form, key=None, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert code == 400, answer
