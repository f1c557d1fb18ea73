"""End to end: with keys, the approver recorded is the key's name; a body's ``by`` is a comment, never the identity
(issue 14, "Who approved"). Through the registered ``http_api`` function, with named and unnamed keys configured."""

from __future__ import annotations

import hashlib
import json

import pytest

from localdev import estate as est
from localdev import outages
from shared.state.audit import audit_trail
from tests.e2e.test_failover_lifecycle import SAP, protect_sap
from tests.fixtures.app import API_KEY, Ppgdr

E = est.DEMO_ESTATE
ALICE_KEY = "ops-alice-key-not-a-secret"
BOB_KEY = "ops-bob-key-not-a-secret"


@pytest.fixture
def app_env() -> dict[str, str]:
    """Two named keys (a digest and a plain one) and the fixtures' unnamed key."""
    alice = hashlib.sha256(ALICE_KEY.encode()).hexdigest()
    unnamed = hashlib.sha256(API_KEY.encode()).hexdigest()
    return {"PPGDR_API_KEYS": f"ops-alice=sha256:{alice},ops-bob={BOB_KEY},sha256:{unnamed}"}


def pending_decision(app: Ppgdr) -> str:
    app.corroborate([E.vm(n).id for n in SAP])
    code, body = app.http("POST", "/api/alerts", body=outages.availability_alert([E.vm(n).id for n in SAP]))
    assert code == 202 and body["decisions"][0]["kind"] == "pending-approval", body
    code, pending = app.http("GET", "/api/decisions", key=BOB_KEY)
    assert code == 200 and len(pending["value"]) == 1
    return str(pending["value"][0]["decision_id"])


def test_an_approval_is_recorded_as_the_keys_name_whatever_the_body_says(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    decision = pending_decision(app)
    code, answer = app.http("POST", f"/api/decisions/{decision}/approve", key=ALICE_KEY, body={"by": "the CEO"})
    assert code == 200, answer
    trail = audit_trail(app.ctx.store, "sap-ppg")
    approved = [a for a in trail if a["event"] == "approved"]
    assert approved and approved[-1]["message"] == "approved by ops-alice (key)"
    assert "the CEO" not in json.dumps(trail)  # the approval stores no comment: the claim is dropped


def test_a_rejection_keeps_the_bodys_by_as_an_unverified_comment_and_unnamed_keys_get_a_fingerprint(seeded: Ppgdr) -> None:
    app = seeded
    protect_sap(app)
    decision = pending_decision(app)
    code, answer = app.http("POST", f"/api/decisions/{decision}/reject", body={"by": "alice", "comment": "false alarm"})
    assert code == 200, answer
    (rejected,) = [a for a in audit_trail(app.ctx.store, "sap-ppg") if a["event"] == "rejected"]
    fingerprint = f"key-{hashlib.sha256(API_KEY.encode()).hexdigest()[:8]}"
    assert rejected["message"] == f"rejected by {fingerprint} (key): false alarm; by 'alice' (unverified)"
    code, _ = app.http("GET", "/api/groups", key="ops-alice")  # a name is not a key
    assert code == 401
