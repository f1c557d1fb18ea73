"""End to end: a protection write Azure applied without ppg-dr learning its job is found, not lost (issue 13).

Two ways an enable's job escapes the journal: a gateway answers 5xx after Azure accepted the PUT and the SDK's
retries are answered 5xx too, or the instance dies between the send and the journal write. Either way Azure runs
an ``EnableDr`` job; the journal must name it (the chaos suite's invariant (d)), and nothing is sent twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from localdev import estate as est
from shared.arm.ids import vm_ref
from shared.context import AppContext
from shared.protection.reconciler import reconcile_vm
from shared.protection.steps import journal_scope
from shared.state.store import JournalEntry
from shared.ticks import pulse
from tests.e2e.test_failover_lifecycle import protect_sap
from tests.fixtures.app import Ppgdr

E = est.DEMO_ESTATE
VM = "trade-cache-1"
ITEM_PUT = r"replicationProtectedItems/[^/]+$"


def enable_jobs(app: Ppgdr) -> list[dict[str, Any]]:
    """The EnableDr jobs Azure started on the VM's item."""
    ops = app.emulator.admin("GET", "operations")["value"]
    return [
        op
        for op in ops
        if op.get("kind") == "asr.EnableDr"
        and str((op.get("context") or {}).get("target", "")).rsplit("/", 1)[-1].lower().startswith(f"{VM}-")
    ]


def applied_enable_puts(app: Ppgdr) -> int:
    return sum(
        1
        for r in app.emulator.requests()
        if r["method"] == "PUT" and "/replicationprotecteditems/" in r["path"].lower() and (r["status"] < 300 or r.get("applied"))
    )


def enables_journaled(ctx: AppContext) -> list[JournalEntry]:
    return [e for e in ctx.store.journal_for(journal_scope(E.vm(VM).id)) if e.operation == "enable-protection"]


def until_protected(app: Ppgdr, ctx: AppContext) -> None:
    for _ in range(30):
        if app.driver.states().get(VM) == "protected":
            return
        pulse(ctx)
        app.runner.advance(60)
    raise AssertionError(f"{VM} never protected: {app.driver.statuses().get(VM)}; journal {enables_journaled(ctx)}")


@pytest.fixture
def tagged(seeded: Ppgdr) -> Ppgdr:
    """The vault prepared (the SAP group protected), event delivery off, and the VM tagged: the test drives it."""
    protect_sap(seeded)
    seeded.runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})
    seeded.driver.tag(E.vm(VM).id, {"ppgdr-protect": "true"})
    seeded.emulator.clear_requests()
    return seeded


def test_an_enable_applied_behind_gateway_504s_is_journaled_with_the_job_azure_ran(
    tagged: Ppgdr, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tagged
    monkeypatch.setattr("shared.platform.retries.RETRY_TOTAL", 1)  # one retry: the point is the answer, not the wait
    worker = AppContext.from_settings(app.ctx.settings)
    app.emulator.fault(method="PUT", path=ITEM_PUT, status=504, afterApply=True, count=1)  # accepted, answered 504
    app.emulator.fault(method="PUT", path=ITEM_PUT, status=504, count=1)  # the SDK's retry: 504 again

    _, status = reconcile_vm(worker, vm_ref(E.vm(VM).id))
    assert status.state == "waiting" and "GatewayTimeout" in status.reason
    [entry] = enables_journaled(worker)
    assert entry.status == "intent" and entry.result.get("unanswered"), "unknown whether Azure applied it: kept open"

    until_protected(app, worker)
    [job] = enable_jobs(app)
    [entry] = enables_journaled(worker)
    assert entry.result.get("job") == job["id"] and entry.status == "succeeded", entry
    assert applied_enable_puts(app) == 1  # found in the vault's jobs, never sent again


def test_an_enable_sent_by_an_instance_that_died_before_journaling_its_job_is_adopted(
    tagged: Ppgdr, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tagged
    worker = AppContext.from_settings(app.ctx.settings)
    real = worker.store.journal_set

    def die_after_the_send(scope: str, key: str, status: str, *args: Any, **kwargs: Any) -> JournalEntry:
        if status == "started":
            raise KeyboardInterrupt("the instance died right after Azure accepted the enable")
        return real(scope, key, status, *args, **kwargs)

    monkeypatch.setattr(worker.store, "journal_set", die_after_the_send)
    with pytest.raises(KeyboardInterrupt):
        reconcile_vm(worker, vm_ref(E.vm(VM).id))
    monkeypatch.undo()
    [entry] = enables_journaled(app.ctx)
    assert entry.status == "intent" and not entry.result.get("job")

    real_clock = app.ctx.store._clock  # the worker's clock, three minutes on: the intent is older than LOST_INTENT_AFTER
    monkeypatch.setattr(app.ctx.store, "_clock", lambda: real_clock() + timedelta(minutes=3))
    until_protected(app, app.ctx)
    [job] = enable_jobs(app)
    [entry] = enables_journaled(app.ctx)
    assert entry.result.get("job") == job["id"] and entry.status == "succeeded", entry
    assert applied_enable_puts(app) == 1
