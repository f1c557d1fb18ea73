"""Fuzz the Event Grid functions (``health_events``, ``resource_events``, called as the host calls them) with
mutated real events and random data: never an exception out of a function, no table write for a rejected event,
and no ARM write at all (an event only makes ppg-dr look again; the estate is already converged)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import azure.functions as func
import pytest
from hypothesis import given
from hypothesis import strategies as st

from localdev import estate as est
from localdev import outages
from tests.e2e.test_failover_lifecycle import SAP
from tests.fixtures.app import Ppgdr
from tests.fuzz.budget import TIMEOUT, budget
from tests.fuzz.hostile import DATA, JSON_VALUES, load, mutated
from tests.fuzz.watch import arm_writes, table_writes

E = est.DEMO_ESTATE
SAP_IDS = [E.vm(name).id for name in sorted(SAP)]
FUNCTIONS = ("health_events", "resource_events")


def seeds() -> list[dict[str, Any]]:
    """Genuine events: Microsoft's Event Grid samples, the same aimed at the estate's VMs, and ppg-dr's builders."""
    samples: list[dict[str, Any]] = []
    for path in sorted((DATA / "eventgrid").glob("*EventGridSchema.json")):
        loaded = load(path)
        samples += loaded if isinstance(loaded, list) else [loaded]
    aimed = []
    for sample in samples:
        for vm in SAP_IDS[:1]:
            event = {**sample, "subject": vm, "topic": f"/subscriptions/{est.SUBSCRIPTION}"}
            if isinstance(sample.get("data"), dict) and "resourceUri" in sample["data"]:
                event["data"] = {**sample["data"], "resourceUri": vm}
            aimed.append(event)
    own = [outages.health_event(vm) for vm in SAP_IDS] + [outages.health_event(SAP_IDS[0], "Available")]
    return samples + aimed + own


SEEDS = seeds()
EVENTS = st.one_of(mutated(SEEDS), mutated(SEEDS), mutated(SEEDS), st.dictionaries(st.sampled_from(list(SEEDS[0])), JSON_VALUES))


def event_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None


def grid_event(event: Any) -> func.EventGridEvent:
    """What the host hands a function: strings for the envelope (it deserialises them), the data as it came."""
    fields = event if isinstance(event, dict) else {"data": event}
    return func.EventGridEvent(
        id=str(fields.get("id", "")),
        data=fields.get("data"),  # type: ignore[arg-type]
        topic=str(fields.get("topic", "")),
        subject=str(fields.get("subject", "")),
        event_type=str(fields.get("eventType", "")),
        event_time=event_time(fields.get("eventTime")),
        data_version=str(fields.get("dataVersion", "")),
    )


@TIMEOUT
def test_hostile_events_never_raise_and_rejected_ones_leave_no_trace(protected: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    app = protected
    tally: Counter[str] = Counter()

    @budget("events")
    @given(event=EVENTS, function=st.sampled_from(FUNCTIONS))
    def one(event: Any, function: str) -> None:
        with table_writes(app.ctx.store, monkeypatch) as writes:
            outcome = str(app.call(function, grid_event(event)))  # an exception fails the test
        kind = outcome.split(":", 1)[0]
        tally[f"{function}: {kind if kind in ('rejected', 'ignored', 'duplicate') else 'handled'}"] += 1
        if outcome.startswith("rejected"):
            assert writes == [], (outcome, writes)

    one()
    print(f"event fuzz: {sum(tally.values())} events, outcomes {dict(sorted(tally.items()))}")
    assert arm_writes(app) == []
