"""Fuzz the alert webhook (``POST /api/alerts`` through the registered ``http_api`` function) with mutated real
alerts, random JSON and bodies that are not JSON: never a 5xx or an exception, no table write for a refused alert,
and no ARM write at all (alerts only ever ask for approval in ``approve`` mode)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localdev import estate as est
from localdev import outages
from tests.e2e.test_failover_lifecycle import SAP
from tests.fixtures.app import Ppgdr
from tests.fuzz.budget import TIMEOUT, budget
from tests.fuzz.hostile import DATA, JSON_VALUES, RAW_BODIES, load, mutated
from tests.fuzz.watch import arm_writes, table_writes

E = est.DEMO_ESTATE
SAP_IDS = [E.vm(name).id for name in sorted(SAP)]
ALLOW_LIST = (outages.ALERT_RULE.lower(), f"servicehealth={outages.SERVICE_HEALTH_RULE.lower()}")


def seeds() -> list[Any]:
    """Genuine alerts: Microsoft's samples as they are, their alert contexts grafted onto an alert about the
    estate's VMs, and ppg-dr's own builders (fired, resolved, Service Health incident and resolution)."""
    samples = [load(path) for path in sorted((DATA / "alerts").glob("*.json"))]
    full = [s for s in samples if isinstance(s, dict) and "schemaId" in s]
    grafted = []
    for sample in samples:
        if isinstance(sample, dict) and set(sample) == {"alertContext"}:
            alert = outages.availability_alert(SAP_IDS[:1])
            alert["data"]["alertContext"] = sample["alertContext"]
            grafted.append(alert)
    own = [
        outages.availability_alert(SAP_IDS),
        outages.availability_alert(SAP_IDS[:1], fired=False),
        outages.service_health_incident("West Europe"),
        outages.service_health_incident("West Europe", resolved=True),
        outages.service_health_incident("West Europe", minutes_ago=-60 * 24 * 365 * 70),
    ]
    return full + grafted + own


SEEDS = seeds()
ALERT_BODIES = st.one_of(mutated(SEEDS), mutated(SEEDS), JSON_VALUES, RAW_BODIES)


def encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@TIMEOUT
def test_hostile_alerts_never_fail_and_refused_ones_leave_no_trace(protected: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    app = protected
    plain, guarded = app.ctx.settings, dataclasses.replace(app.ctx.settings, alert_rule_ids=ALLOW_LIST)
    tally: Counter[int] = Counter()

    @budget("alerts")
    @given(body=ALERT_BODIES, allow_list=st.booleans())
    def one(body: Any, allow_list: bool) -> None:
        monkeypatch.setattr(app.ctx, "settings", guarded if allow_list else plain)
        with table_writes(app.ctx.store, monkeypatch) as writes:
            code, answer = app.http("POST", "/api/alerts", body=encode(body))
        tally[code] += 1
        assert code < 500, answer
        if code >= 400:
            assert writes == [], (code, answer, writes)
            assert isinstance(answer, dict) and answer["error"]["code"], answer

    one()
    print(f"alert fuzz: {sum(tally.values())} payloads, answers {dict(sorted(tally.items()))}")
    assert arm_writes(app) == []
    assert sum(n for code, n in tally.items() if code >= 500) == 0
