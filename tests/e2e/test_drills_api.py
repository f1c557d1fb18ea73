"""Drills and reports through the API and the CLI, the pages they render, and signing in from a browser.

The drill runs against the emulator to its end (test failover, validation, cleanup); the API answers with
the shapes docs/operations.md lists, the CLI prints what a person reads, and the pages are self-contained.
Browser sessions: the login form, the HTTP-only cookie, CSRF on POSTs, expiry and key revocation.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from localdev import estate as est
from localdev import outages
from shared.operator import cli_drills, render, sessions
from shared.operator.cli import cli
from shared.operator.http_api import create_app, openapi_document
from shared.settings import Settings, SettingsError
from shared.state.audit import audit_trail
from tests.e2e.test_documented_fields import check, documented
from tests.fixtures.app import API_KEY, Ppgdr

ROOT = Path(__file__).resolve().parents[2]
E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = ("sap-app-1", "sap-app-2", "sap-db-1")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def protect_sap(app: Ppgdr) -> None:
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")


def ok(app: Ppgdr, method: str, path: str, **kwargs: Any) -> Any:
    code, body = app.http(method, path, **kwargs)
    assert code < 300, (method, path, code, body)
    return body


def drill_to_the_end(app: Ppgdr, by: str = "alice") -> dict[str, Any]:
    code, started = app.http("POST", "/api/groups/sap-ppg/drill", body={"by": by})
    assert code == 202, started
    app.driver.settle(lambda: ok(app, "GET", f"/api/drills/{started['id']}")["phase"] == "done", label="drill")
    return dict(ok(app, "GET", f"/api/drills/{started['id']}"))


KEY_NAME = f"key-{hashlib.sha256(API_KEY.encode()).hexdigest()[:8]} (key)"  # the fixtures' unnamed key, by its fingerprint


def self_contained(html: str) -> None:
    """Nothing the page would fetch: no external src/href, no stylesheet link, no script source."""
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "the page fetches something"
    assert '<link rel="stylesheet"' not in html and "<script src" not in html


# ----------------------------------------------------------------------------------------- the API


def test_a_drill_through_the_api_from_start_to_report(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    fields = documented()

    dry = ok(app, "POST", "/api/groups/sap-ppg/drill", params={"dry_run": "true"})
    assert dry["dry_run"] is True and dry["phase"] == "starting"
    assert ok(app, "GET", "/api/drills")["value"] == []  # a dry run records no drill
    code, body = app.http("POST", "/api/groups/nope/drill")
    assert code == 404 and body["error"]["code"] == "NotFound"

    code, started = app.http("POST", "/api/groups/sap-ppg/drill", body={"by": "alice"})
    assert code == 202 and started["dry_run"] is False and started["group"] == "sap-ppg"
    assert started["requested_by"] == KEY_NAME and started["report"] is None
    code, again = app.http("POST", "/api/groups/sap-ppg/drill")
    assert code == 409 and again["error"]["code"] == "Refused" and "already being drilled" in again["error"]["message"]
    code, early = app.http("GET", f"/api/drills/{started['id']}/report")
    assert code == 404 and "no report yet" in early["error"]["message"]
    drill_fields = fields["GET /api/drills (each drill)"]
    check("POST /api/groups/{group}/drill", [dry, started], {"POST /api/groups/{group}/drill": drill_fields | {"dry_run"}})

    app.driver.settle(lambda: ok(app, "GET", f"/api/drills/{started['id']}")["phase"] == "done", label="drill")
    detail = ok(app, "GET", f"/api/drills/{started['id']}")
    assert detail["verdict"] == "passed", detail["problems"]
    assert detail["cleaned_up"] is True and detail["rto_seconds"] > 0
    assert detail["targets"] == {"rto_seconds": 3600, "rpo_seconds": 1800}
    assert detail["report"] == f"/api/reports/{started['id']}"
    assert {row["vm"] for row in detail["placement"]} == set(SAP)
    check("GET /api/drills/{id}", [detail], {"GET /api/drills/{id}": drill_fields | fields["GET /api/drills/{id}"]})

    listed = ok(app, "GET", "/api/drills", params={"group": "SAP-PPG"})["value"]
    assert [d["id"] for d in listed] == [started["id"]]
    check("GET /api/drills (each drill)", listed, fields)
    code, body = app.http("GET", "/api/drills", params={"group": "nope"})
    assert code == 404
    code, body = app.http("GET", "/api/drills/drill-nope")
    assert code == 404 and body["error"]["code"] == "NotFound"

    reports = ok(app, "GET", "/api/reports")["value"]
    assert [r["id"] for r in reports] == [started["id"]] and reports[0]["kind"] == "drill"
    check("GET /api/reports (each report)", reports, fields)
    full = ok(app, "GET", f"/api/reports/{started['id']}")
    assert full["verdict"] == "passed" and full["html"] == f"/api/reports/{started['id']}/html"
    assert full["events"][0]["event"] == "drill-started"
    summary_fields = fields["GET /api/reports (each report)"]
    check("GET /api/reports/{id}", [full], {"GET /api/reports/{id}": summary_fields | fields["GET /api/reports/{id}"]})
    placement = fields["a report's or drill's placement (each VM)"]
    for row in full["placement"] + detail["placement"]:
        assert set(row) <= placement and placement - set(row) <= {"problem"}, set(row) ^ placement
    check("a report's timeline (each VM)", full["timeline"], fields)
    assert {"name", "phase", "state", "start", "end"} == set(full["timeline"][0]["steps"][0])
    assert ok(app, "GET", "/api/reports", params={"group": "sap-ppg"})["value"] == reports
    code, body = app.http("GET", "/api/reports/nope")
    assert code == 404
    code, body = app.http("GET", f"/api/reports/{started['id']}", params={"format": "pdf"})
    assert code == 400

    pages = [
        ok(app, "GET", f"/api/drills/{started['id']}/report"),
        ok(app, "GET", f"/api/reports/{started['id']}/html"),
        ok(app, "GET", f"/api/reports/{started['id']}", params={"format": "html"}),
    ]
    for page in pages:
        assert isinstance(page, str) and page.startswith("<!doctype html>")
        assert 'id="verdict">passed<' in page and "sap-db-1" in page and '<svg class="timeline"' in page
        self_contained(page)
    assert any("drill-started" in a["event"] and f"by {KEY_NAME}" in a["message"] for a in audit_trail(app.ctx.store, "sap-ppg"))


def test_the_dashboard_shows_groups_drills_decisions_and_reports(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    drill = drill_to_the_end(app)
    app.corroborate([E.vm(n).id for n in SAP])
    ok(app, "POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP]))
    pending = ok(app, "GET", "/api/decisions")["value"][0]["decision_id"]
    html = ok(app, "GET", "/api/dashboard")
    assert isinstance(html, str)
    for text in ("sap-ppg", "3 of 3", "westeurope", "replication 3 of 3 healthy", pending, drill["report_html"], "generated at"):
        assert text in html, text
    assert '<svg class="spark"' in html
    # reached with a key (no browser session): the page shows, the buttons need a signed-in person
    assert "sign in to approve" in html and 'class="approve"' not in html
    self_contained(html)


# ----------------------------------------------------------------------------------------- the CLI


def test_cli_drill_wait_drills_and_report(seeded: Ppgdr, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = seeded
    protect_sap(app)
    # --wait advances the drill itself (no pulse fires here); between steps emulated time moves on
    monkeypatch.setattr(cli_drills, "_pause", lambda seconds: app.runner.advance(60))
    dry = invoke("drill", "sap-ppg", "--dry-run")
    assert dry.exit_code == 0 and "dry run: a drill of group sap-ppg could start now" in dry.output
    unknown = invoke("drill", "nope")
    assert unknown.exit_code == 1 and "unknown group 'nope'" in unknown.output

    waited = invoke("drill", "sap-ppg", "--wait", "--by", "bob", "--interval", "0")
    assert waited.exit_code == 0, waited.output
    out = waited.output
    for step in (
        "drill started (operator, by bob)",
        "starting -> test-failover",
        "test-failover: waiting for ASR job",
        "test-failover -> validate",
        "validate -> cleanup",
        "cleanup: waiting for ASR job",
        "cleanup -> done",
    ):
        assert f"sap-ppg: {step}" in out, (step, out)
    assert "of group sap-ppg: PASSED" in out and "within the 1 h target" in out and "test VMs removed" in out, out
    drill_id = re.search(r"drill (drill-\S+) of group sap-ppg started", out)
    assert drill_id is not None
    again = invoke("drill", "sap-ppg", "--json")
    assert again.exit_code == 0 and json.loads(again.output)["phase"] == "starting"

    table = invoke("drills", "--group", "sap-ppg")
    assert table.exit_code == 0
    header, *rows = table.output.splitlines()
    assert header.split()[:4] == ["ID", "GROUP", "TRIGGER", "STARTED"] and "PHASE/VERDICT" in header and "CLEANUP" in header
    assert rows[0].split()[5] == "starting" and rows[1].startswith(drill_id[1]) and " passed " in rows[1]
    assert len(json.loads(invoke("drills", "--json").output)) == 2

    text = invoke("report", drill_id[1])
    assert text.exit_code == 0
    assert f"drill {drill_id[1]} of group sap-ppg: PASSED" in text.output and "operator (by bob)" in text.output
    assert "placement: 3 of 3 VMs running in the PPG" in text.output and "problems: none" in text.output
    page = tmp_path / "out" / "report.html"
    written = invoke("report", drill_id[1], "--html", str(page))
    assert written.exit_code == 0 and page.exists()
    html = page.read_text()
    assert 'id="verdict">passed<' in html and html.count('class="bar ') >= 3
    self_contained(html)
    assert json.loads(invoke("report", drill_id[1], "--json").output)["verdict"] == "passed"
    missing = invoke("report", "nope")
    assert missing.exit_code == 1 and "no report 'nope'" in missing.output


# ---------------------------------------------------------------------------------- browser sessions


def _client(base_url: str = "http://testserver") -> Any:
    """Starlette's test client: a browser's cookie jar against the app in-process (its httpx notice silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient(create_app(), base_url=base_url, follow_redirects=False)


def _sign_in(client: Any, key: str = API_KEY, **form: str) -> Any:
    return client.post("/api/login", data={"key": key, "name": "carol", **form})


def test_login_sets_an_http_only_session_cookie_and_posts_need_the_csrf_token(
    ppgdr: Ppgdr, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client()
    caplog.set_level("INFO")
    assert client.get("/favicon.ico").status_code == 204 and client.get("/api/favicon.ico").status_code == 204
    assert "rejected" not in caplog.text  # a browser's favicon request is not an authentication failure

    to_login = client.get("/api/dashboard", headers={"accept": "text/html"})
    assert to_login.status_code == 303 and to_login.headers["location"] == "/api/login?next=/api/dashboard"
    assert client.get("/api/dashboard").status_code == 401  # an API client gets the JSON 401
    form = client.get("/api/login?next=/api/reports")
    assert form.status_code == 200 and 'name="key"' in form.text and 'value="/api/reports"' in form.text

    wrong = _sign_in(client, key="not-the-key")
    assert (
        wrong.status_code == 401
        and "That key is not valid." in wrong.text
        and sessions.COOKIE not in wrong.headers.get("set-cookie", "")
    )
    foreign = client.post("/api/login", data={"key": API_KEY}, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403

    signed = _sign_in(client, next="//evil.example/x")
    assert signed.status_code == 303 and signed.headers["location"] == "/api/dashboard"  # no open redirect
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE}=") and API_KEY not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/api" in cookie and "Secure" not in cookie
    assert "Max-Age=43200" in cookie
    secure = _client("https://testserver")
    assert "Secure" in _sign_in(secure).headers["set-cookie"]

    assert client.get("/api/groups").status_code == 200  # the cookie authenticates
    page = client.get("/api/dashboard")
    assert page.status_code == 200 and 'signed in as <b id="who">carol</b>' in page.text
    csp = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None and f'<script nonce="{nonce[1]}">' in page.text and "default-src 'none'" in csp
    csrf = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert csrf is not None

    refused = client.post("/api/decisions/dec-0000000000000000/approve")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "CsrfRequired"
    bad = client.post("/api/decisions/dec-0000000000000000/approve", headers={sessions.CSRF_HEADER: "0" * 40})
    assert bad.status_code == 403
    allowed = client.post("/api/decisions/dec-0000000000000000/approve", headers={sessions.CSRF_HEADER: csrf[1]})
    assert allowed.status_code == 404 and allowed.json()["error"]["code"] == "NotFound"  # authenticated: the decision is unknown

    client.cookies.set(sessions.COOKIE, client.cookies[sessions.COOKIE][:-2] + "xx", path="/api")
    assert client.get("/api/groups").status_code == 401  # a tampered token is no session
    out = client.post("/api/logout")
    assert out.status_code == 303 and out.headers["location"] == "/api/login"
    assert 'ppgdr_session=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]


def test_sessions_expire_end_with_their_key_and_never_hold_it() -> None:
    configured = ("sha256:" + __import__("hashlib").sha256(b"k1").hexdigest(), "plain-k2")
    session = sessions.issue("k1", "  dora   the\nexplorer ", now=1_000_000)
    assert session.who == "dora the explorer" and "k1" not in session.token
    assert sessions.read(session.token, configured, now=1_000_001) == session
    assert sessions.read(session.token, configured, now=1_000_000 + sessions.SESSION_SECONDS) is None  # expired
    assert sessions.read(session.token, configured[1:], now=1_000_001) is None  # its key was removed
    plain = sessions.issue("plain-k2", "", now=1_000_000)
    assert plain.who == "dashboard" and sessions.read(plain.token, configured, now=1_000_001) is not None
    assert sessions.read("garbage", configured) is None and sessions.read("a.b", configured) is None
    assert sessions.csrf_ok(session, sessions.csrf_token(session)) and not sessions.csrf_ok(session, None)
    assert sessions.csrf_token(session) != sessions.csrf_token(plain)

    secret = "x" * 40  # PPGDR_SESSION_SECRET, as Settings hands it over
    signed = sessions.issue("k1", "a", secret=secret, now=1_000_000)
    assert sessions.read(signed.token, configured, secret=secret, now=1_000_001) is not None
    assert sessions.read(signed.token, configured, now=1_000_001) is None  # the process secret is another
    assert sessions.read(session.token, configured, secret=secret, now=1_000_001) is None  # signed with another secret
    with pytest.raises(SettingsError, match=sessions.SECRET_SETTING):
        Settings.from_env({sessions.SECRET_SETTING: "short"})


# ------------------------------------------------------------------------------------ pages, routes


def test_the_report_page_highlights_vms_placed_outside_and_escapes_what_it_shows() -> None:
    report = {
        "id": "wf-1",
        "kind": "failover",
        "group": "g<1>",
        "trigger": "decision",
        "requested_by": "alice",
        "started": "2026-01-01T10:00:00+00:00",
        "finished": "2026-01-01T10:20:00+00:00",
        "verdict": "completed, VMs placed outside",
        "source_region": "westeurope",
        "target_region": "northeurope",
        "recovery_plan": "ppgdr-g",
        "test_network_id": None,
        "rto_seconds": 700.0,
        "rpo_seconds": None,
        "cleanup_seconds": None,
        "targets": {},
        "cleaned_up": None,
        "placement": [
            {"vm": "a", "running": True, "ppg": "/x/ppgs/p-asr", "in_ppg": True, "in_availability_set": None, "in_zone": None},
            {"vm": "b", "running": True, "ppg": None, "in_ppg": False, "problem": "placed outside the target PPG <fallback>"},
        ],
        "timeline": [
            {
                "vm": "a",
                "steps": [
                    {
                        "name": "failover",
                        "phase": "failover",
                        "state": "Succeeded",
                        "start": "2026-01-01T10:00:00+00:00",
                        "end": "2026-01-01T10:10:00+00:00",
                    }
                ],
            },
            {
                "vm": "b",
                "steps": [
                    {
                        "name": "failover",
                        "phase": "failover",
                        "state": "Failed",
                        "start": "2026-01-01T10:01:00+00:00",
                        "end": None,
                    }
                ],
            },
        ],
        "probes": [],
        "problems": ["b: placed outside <script>alert(1)</script>"],
        "events": [{"time": "2026-01-01T10:00:00+00:00", "event": "failover-started", "message": "go"}],
    }
    html = render.render_report(report, generated_at="2026-01-01T11:00:00+00:00")
    assert '<tr class="placement-row outside" data-vm="b">' in html and '<tr class="placement-row" data-vm="a">' in html
    assert "placed outside: b" in html and "<script>alert" not in html and "&lt;script&gt;" in html
    assert "g&lt;1&gt;" in html and "no target" in html and "A failover runs no probes." in html
    assert 'class="bar fo"' in html and 'class="bar fo failed running"' in html
    assert "11 min 40 s" in html  # the RTO, as a person reads it
    chart = render.timeline_chart(report["timeline"])
    assert chart is not None and chart["ticks"][0]["label"] == "0" and len(chart["rows"]) == 2
    assert render.sparkline([None, 100.0, 300.0], 200.0) is not None and render.sparkline([None], 1.0) is None


def test_every_route_is_in_the_openapi_document() -> None:
    paths = openapi_document()["paths"]
    for route in create_app().routes:
        path = getattr(route, "path", "")
        if path == "/favicon.ico":
            continue  # outside /api: browsers only
        for method in getattr(route, "methods", set()) - {"HEAD"}:
            assert method.lower() in paths.get(path, {}), (method, path)


def test_templates_ship_in_the_wheel_and_load_lazily() -> None:
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "templates/*.j2" in package_data["shared.operator"]
    assert {p.name for p in render.TEMPLATES.glob("*.j2")} >= {
        "base.html.j2",
        "report.html.j2",
        "dashboard.html.j2",
        "login.html.j2",
    }
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, function_app; print(sorted(m for m in sys.modules if m.startswith(('jinja2', 'shared.operator.rend'))))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout
