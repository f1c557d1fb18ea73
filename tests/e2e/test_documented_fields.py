"""The JSON fields docs/operations.md documents are the ones the API returns, no more and no fewer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from localdev import estate as est
from localdev import outages
from tests.fixtures.app import Ppgdr

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
E = est.DEMO_ESTATE
SAP = ("sap-app-1", "sap-app-2", "sap-db-1")
TRADE = ("trade-engine-1", "trade-cache-1")
# Rows whose responses carry open-ended details (audit rows: per event; alert decisions: nested).
OPEN_ENDED = {"GET /api/groups/{group}/audit (each row)", "POST /api/alerts"}


def documented() -> dict[str, set[str]]:
    text = DOC.read_text()
    after = text.split("#### Response fields", 1)[1].splitlines()
    table = [line for line in after[: next(i for i, line in enumerate(after) if line.startswith("```"))] if line.startswith("|")]
    assert len(table) > 2, "docs/operations.md lost its Response fields table"
    rows: dict[str, set[str]] = {}
    for line in table[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        route = cells[0].replace("`", "")
        rows[route] = set(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", cells[1])))
    return rows


def check(name: str, responses: list[dict[str, Any]], fields: dict[str, set[str]]) -> None:
    assert responses, name
    seen = set().union(*(set(r) for r in responses))
    missing = fields[name] - seen
    assert not missing, f"{name}: documented but not returned: {missing}"
    if name not in OPEN_ENDED:
        extra = seen - fields[name]
        assert not extra, f"{name}: returned but not documented: {extra}"


def test_every_documented_field_is_returned_and_every_returned_field_documented(seeded: Ppgdr) -> None:
    app = seeded
    fields = documented()
    app.driver.tag(f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod", {"ppgdr-protect": "true"})
    for name in TRADE:
        app.driver.tag(E.vm(name).id, {"ppgdr-protect": "true"})
    app.driver.settle(lambda: all(app.driver.states().get(n) == "protected" for n in SAP + TRADE), label="protect")

    def ok(method: str, path: str, **kwargs: Any) -> Any:
        code, body = app.http(method, path, **kwargs)
        assert code < 300, (method, path, code, body)
        return body

    check("GET /api/status (each VM)", ok("GET", "/api/status")["value"], fields)
    check("GET /api/groups (each group)", ok("GET", "/api/groups")["value"], fields)

    app.corroborate([E.vm(n).id for n in (*SAP, *TRADE)])
    alerts = [ok("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in vms])) for vms in (SAP, TRADE)]
    check("POST /api/alerts", alerts, fields)
    pending = ok("GET", "/api/decisions")["value"]
    check("GET /api/decisions (each decision)", pending, fields)
    by_group = {d["group"]: d["decision_id"] for d in pending}

    dry_failover = ok("POST", "/api/groups/trade-ppg/failover", params={"dry_run": "true"})
    check("a dry-run failover's plan", [dry_failover["plan"]], fields)
    dry_approval = ok("POST", f"/api/decisions/{by_group['sap-ppg']}/approve", params={"dry_run": "true"})
    approval = ok("POST", f"/api/decisions/{by_group['sap-ppg']}/approve", body={"by": "alice"})
    check("POST /api/decisions/{id}/approve", [dry_approval, approval], fields)
    check("POST /api/decisions/{id}/reject", [ok("POST", f"/api/decisions/{by_group['trade-ppg']}/reject")], fields)
    app.driver.settle(lambda: ok("GET", "/api/groups/sap-ppg")["state"] == "reprotected", label="failover", max_rounds=80)
    failback = ok("POST", "/api/groups/sap-ppg/failback")
    check("POST /api/groups/{group}/{action}", [dry_failover, failback], fields)
    check("GET /api/groups (each group)", ok("GET", "/api/groups")["value"], fields)
    check("GET /api/groups/{group}/audit (each row)", ok("GET", "/api/groups/sap-ppg/audit")["value"], fields)
