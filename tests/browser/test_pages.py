"""What a person sees in a real browser: Debian's Chromium, driven by Playwright, against the app served by uvicorn.

The demo estate is protected, a drill runs to its end and an outage leaves a decision pending; then a person
opens the dashboard, is sent to the login form, signs in, reads the dashboard and the drill's report, approves
the decision with the dashboard's button and signs out. Screenshots go to ``.run/screenshots/``. A missing
browser fails the test (``make browser`` installs it): it is never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from localdev import estate as est
from localdev import outages
from localdev.browser import SCREENSHOTS, browser, sign_in
from shared.failover.guard import pending_decisions
from shared.operator.sessions import COOKIE
from shared.state.audit import audit_trail
from shared.state.drill_records import get_drill
from tests.fixtures.app import API_KEY, Ppgdr

E = est.DEMO_ESTATE
SAP_RG = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
SAP = ("sap-app-1", "sap-app-2", "sap-db-1")


@pytest.fixture
def estate(seeded: Ppgdr, live_api: str) -> dict[str, Any]:
    """SAP protected (a probe at the live API's port, which answers), two drills done, one decision pending."""
    app = seeded
    probe = f"127.0.0.1:{live_api.rsplit(':', 1)[1]}"
    app.driver.tag(SAP_RG, {"ppgdr-protect": "true", "ppgdr-drill-probe": probe})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP), label="protect sap")

    def done(drill_id: str) -> bool:
        found = get_drill(app.ctx.store, drill_id)
        return found is not None and found.phase == "done"

    for _ in range(2):  # two drills: the dashboard's trend has a line to draw
        code, drill = app.http("POST", "/api/groups/sap-ppg/drill", body={"by": "erin"})
        assert code == 202, drill
        app.driver.settle(lambda: done(drill["id"]), label="drill")  # noqa: B023  (called before the next turn)
    app.corroborate([E.vm(n).id for n in SAP])
    code, _ = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP]))
    assert code == 202
    (pending,) = pending_decisions(app.ctx)
    return {"drill": drill["id"], "decision": pending["decision_id"], "probe": probe}


@pytest.fixture
def page() -> Iterator[Page]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser() as context:
        yield context.new_page()


def test_a_person_signs_in_reads_the_dashboard_and_a_drill_report_and_approves(
    seeded: Ppgdr, live_api: str, estate: dict[str, Any], page: Page
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    # no session: the dashboard sends the browser to the login form; no key in any address
    page.goto(f"{live_api}/api/dashboard")
    assert page.url == f"{live_api}/api/login?next=/api/dashboard"
    expect(page.locator("h1")).to_have_text("Sign in to ppg-dr")
    expect(page.locator("input[name=key]")).to_have_attribute("type", "password")
    page.screenshot(path=str(SCREENSHOTS / "login.png"), full_page=True)
    sign_in(page, live_api, API_KEY, name="erin")
    assert page.url == f"{live_api}/api/dashboard"
    assert not any(API_KEY in url for url in requested)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/api"
    assert API_KEY not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HTTP-only: no script on the page can read it

    # the dashboard: the group, where it runs, its health, the last drill, trends, the pending decision
    expect(page.locator("#who")).to_have_text("erin")
    expect(page.locator("#generated")).to_contain_text("generated at")
    expect(page.locator("#generated")).to_contain_text("refreshes every 30 s")
    group = page.locator("tr.group[data-group='sap-ppg']")
    expect(group.locator(".state")).to_have_text("protected")
    expect(group).to_contain_text("3 of 3 members protected")
    expect(group.locator(".health")).to_contain_text("replication 3 of 3 healthy")
    expect(group.locator(".region")).to_have_text("westeurope")
    expect(group).to_contain_text("PPG sap-ppg")
    expect(group.locator(".last-drill .badge")).to_have_text("passed")
    expect(group.locator("svg.spark")).to_have_count(2)
    for polyline in group.locator("svg.spark polyline").all():
        assert len((polyline.get_attribute("points") or "").split()) == 2  # one point per drill
    decision = page.locator(f"tr.decision[data-decision='{estate['decision']}']")
    expect(decision).to_contain_text("sap-ppg")
    expect(decision.locator("button.approve")).to_have_text("Approve")
    expect(decision.locator("button.reject")).to_have_text("Reject")
    expect(page.locator("#in-flight")).to_contain_text("Nothing in flight.")
    expect(page.locator("#reports tr.report")).to_have_count(2)
    expect(page.locator("#reports")).to_contain_text(estate["drill"])
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    # the drill's report, from the link on the dashboard
    before = len(requested)
    with page.expect_navigation():
        group.locator("a.report-link").click()
    assert page.url == f"{live_api}/api/drills/{estate['drill']}/report"
    expect(page.locator("#verdict")).to_have_text("passed")
    expect(page.locator("h1")).to_contain_text("Drill of group sap-ppg")
    expect(page.locator("#rto")).to_contain_text("within the target")
    expect(page.locator("#rpo")).to_contain_text("within the target")
    expect(page.locator("#cleanup")).to_contain_text("test VMs removed")
    rows = page.locator("tr.placement-row")
    expect(rows).to_have_count(3)
    for vm in SAP:
        row = page.locator(f"tr.placement-row[data-vm='{vm}']")
        expect(row).to_contain_text(f"{vm}-test")
        expect(row).to_contain_text("sap-ppg-asr")
        expect(row).to_contain_text("running")
        expect(row.locator("td").nth(5)).to_have_text("yes")  # in the PPG
    expect(page.locator("tr.placement-row.outside")).to_have_count(0)
    expect(page.locator("#placement")).to_contain_text("3 of 3 VMs running in the PPG, availability set and zone as planned")
    expect(page.locator("svg.timeline g.vm-row")).to_have_count(3)
    bars = page.locator("svg.timeline rect.bar")
    assert bars.count() >= 6  # each VM: its test failover and its cleanup
    for index in range(bars.count()):
        box = bars.nth(index).bounding_box()
        assert box is not None and box["width"] >= 3 and box["height"] > 10
    expect(page.locator("svg.timeline text.tick").first).to_have_text("0")
    expect(page.locator("#probes")).to_contain_text(estate["probe"])
    expect(page.locator("#problems")).to_contain_text("None.")
    expect(page.locator("#events")).to_contain_text("drill-started")
    expect(page.locator("#events")).to_contain_text("drill-cleanup")
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
    assert requested[before:] == [page.url]  # self-contained: the page itself and nothing else

    # a POST with the cookie but without the page's CSRF token is refused
    status = page.evaluate("fetch('/api/decisions/dec-0000000000000000/approve', {method: 'POST'}).then(r => r.status)")
    assert status == 403

    # approve the pending decision with the dashboard's button (after its confirmation)
    page.goto(f"{live_api}/api/dashboard?refresh=0")
    expect(page.locator("#generated")).to_contain_text("auto-refresh off")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr.decision[data-decision='{estate['decision']}'] button.approve").click()
    expect(page.locator("#pending")).to_contain_text("No decisions are waiting for approval.", timeout=15_000)
    expect(page.locator("#in-flight tr.operation")).to_contain_text("failover")
    expect(page.locator("tr.group[data-group='sap-ppg'] .state")).to_have_text("failing-over")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-approved.png"), full_page=True)
    approved = [a for a in audit_trail(seeded.ctx.store, "sap-ppg") if a["event"] == "approved"]
    assert approved and "erin (dashboard)" in str(approved[-1])

    # sign out: the cookie is gone and the dashboard asks for the key again
    with page.expect_navigation():
        page.click("#logout")
    assert page.url == f"{live_api}/api/login"
    assert not [c for c in page.context.cookies() if c["name"] == COOKIE]
    page.goto(f"{live_api}/api/dashboard")
    assert "/api/login" in page.url
    for name in ("login.png", "dashboard.png", "report.png", "dashboard-approved.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000, name
