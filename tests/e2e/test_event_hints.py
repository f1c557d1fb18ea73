"""A VM's events are hints (issue 15): no de-duplication record, and a repeat never sends a second write.

The enable from a tag event runs under the VM's lease, which for a VM with no status is its first status (a
create-only insert before the journal intent). These tests deliver the same tag event twice, one after the other and
at once (two instances, and two threads of one), and leave a dead instance's lease behind at each point of the step;
the emulator's request log must show exactly one enable PUT for the VM every time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from shared.arm.names import replicated_item_name
from shared.context import AppContext
from shared.protection import reconciler
from shared.protection.reconciler import handle_resource_hint
from shared.protection.resource_events import classify_resource_event
from shared.state import vm_status as st
from shared.state.store import EVENTS, _event_keys
from tests.e2e.test_request_counts import fresh_group, quiet, tag_event
from tests.fixtures.app import Ppgdr
from tests.fixtures.together import at_once as together

__all__ = ["quiet"]  # the fixture, used by name below


def enable_puts(app: Ppgdr, vm_id: str) -> list[dict[str, Any]]:
    item = replicated_item_name(vm_id, vm_id.rsplit("/", 1)[-1]).lower()
    return [
        r
        for r in app.emulator.requests(method="PUT")
        if "/replicationprotecteditems/" in r["path"].lower() and r["path"].lower().endswith(f"/{item}")
    ]


def writes(app: Ppgdr) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in app.emulator.requests() if r["method"] != "GET"]


@contextmanager
def later(app: Ppgdr, seconds: float) -> Iterator[None]:
    """The store's clock ``seconds`` ahead (a lease taken now has expired by then)."""
    real = app.ctx.store._clock
    app.ctx.store._clock = lambda: real() + timedelta(seconds=seconds)
    try:
        yield
    finally:
        app.ctx.store._clock = real


def at_once(*calls: Callable[[], str]) -> list[str]:
    """Run calls at once on threads (as two deliveries of one event would), returning their outcomes, sorted."""
    return sorted(together(*calls))


def leave_lease(app: Ppgdr, vm_id: str, holder: str = "ppgdr-dead") -> None:
    """What an instance that died right after inserting the VM's first status leaves behind."""
    status = st.VmStatus(vm_id=vm_id, vm_name=vm_id.rsplit("/", 1)[-1], state=st.VmState.ENABLING, reason="tagged")
    until = app.ctx.store.now() + timedelta(seconds=app.ctx.settings.lease_seconds)
    status.in_flight = st.sending_lease("enable-protection", holder, until)
    assert st.claim_first_status(app.ctx.store, status, note="enable: tagged") is not None


def test_a_tag_event_delivered_twice_sends_one_enable(quiet: Ppgdr) -> None:
    app = quiet
    (vm_id,) = fresh_group(app, "twice", 1)
    event = tag_event(app, vm_id)
    app.emulator.clear_requests()
    assert app.runner.deliver(event) == "enable: enabling"
    assert app.ctx.store.get(EVENTS, *_event_keys(event["id"])) is None  # a VM's event leaves no de-duplication record
    again = app.runner.deliver(event)
    assert again == "wait: enabling", again  # looked at again: the journal has the enable in flight
    assert len(enable_puts(app, vm_id)) == 1
    status = st.get_status(app.ctx.store, vm_id)
    assert status is not None and status.in_flight["job"] and "holder" not in status.in_flight  # settled, lease gone
    assert status.history[0].startswith("enable: "), status.history  # the claim's line, replaced by the outcome's


def test_a_tag_event_delivered_twice_at_once_sends_one_enable(quiet: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    app = quiet
    two_instances, two_threads = fresh_group(app, "atonce", 2)
    other = AppContext.from_settings(app.ctx.settings)  # a second instance: own lease holder, own table clients

    # Both deliveries have read the VM, its (missing) status and its (missing) item, and planned the enable, before
    # either inserts the VM's first status: only one insert succeeds, and only its instance sends.
    both_planned = threading.Barrier(2, timeout=30)
    claim = st.claim_first_status

    def claim_together(*args: Any, **kwargs: Any) -> Any:
        both_planned.wait()
        return claim(*args, **kwargs)

    event = tag_event(app, two_instances)
    hint = classify_resource_event(event["id"], event["eventType"], event["subject"], event["data"])
    with monkeypatch.context() as patch:
        patch.setattr(st, "claim_first_status", claim_together)
        outcomes = at_once(lambda: app.runner.deliver(event), lambda: handle_resource_hint(other, hint))
    assert outcomes[0] == "enable: enabling" and outcomes[1].startswith("wait: "), outcomes  # the other sent nothing
    assert len(enable_puts(app, two_instances)) == 1

    # Two threads of one instance, as they come: whatever each saw, one enable.
    event = tag_event(app, two_threads)
    outcomes = at_once(lambda: app.runner.deliver(event), lambda: app.runner.deliver(event))
    assert len(enable_puts(app, two_threads)) == 1, outcomes
    assert "enable: enabling" in outcomes and not any(o.startswith("error") for o in outcomes), outcomes


def test_a_dead_instances_lease_holds_the_vm_until_it_expires(quiet: Ppgdr) -> None:
    """Killed after inserting the first status, before the journal intent: nothing was sent; once the lease has
    expired the VM is planned again (looking at its item first) and enabled once."""
    app = quiet
    (vm_id,) = fresh_group(app, "dead", 1)
    event = tag_event(app, vm_id)
    leave_lease(app, vm_id)
    app.emulator.clear_requests()
    assert app.runner.deliver(event) == "wait: enabling"
    app.runner.fire_timer("reconcile")  # the full reconcile leaves a leased VM alone too
    assert enable_puts(app, vm_id) == []
    with later(app, app.ctx.settings.lease_seconds + 1):
        assert app.runner.deliver(event) == "enable: enabling"
        assert app.runner.deliver(event).startswith("wait")
    assert len(enable_puts(app, vm_id)) == 1
    status = st.get_status(app.ctx.store, vm_id)
    assert status is not None and status.in_flight["job"] and "holder" not in status.in_flight


class Killed(BaseException):
    """The instance is killed here: nothing after it runs."""


def test_an_instance_killed_after_the_send_leaves_nothing_to_send_again(
    quiet: Ppgdr, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the journal outcome, before the status was settled: the lease stays until it expires, the journal
    has the job, and no pass sends the enable again; the pulse follows the job to protected."""
    app = quiet
    (vm_id,) = fresh_group(app, "killed", 1)
    event = tag_event(app, vm_id)

    def killed(*_: object, **__: object) -> None:
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(st, "settle_claimed_status", killed)
        patch.setattr(st, "release_claimed_status", lambda *_, **__: None)  # a killed process gives nothing back
        with pytest.raises(Killed):
            app.runner.deliver(event)
    assert len(enable_puts(app, vm_id)) == 1
    assert app.runner.deliver(event) == "wait: enabling"  # the lease is live
    with later(app, app.ctx.settings.lease_seconds + 1):
        assert app.runner.deliver(event) == "wait: enabling"  # expired, but the journal has the enable in flight
        app.runner.fire_timer("reconcile")
    app.driver.settle(lambda: app.driver.states().get(vm_id.rsplit("/", 1)[-1]) == "protected", label="protect")
    assert len(enable_puts(app, vm_id)) == 1


def test_an_error_while_sending_gives_the_lease_back(quiet: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    """An enable that raised (the host reports the failure; Event Grid redelivers): the status stays, without its lease,
    so the redelivery reads the journal, looks at the item and sends."""
    app = quiet
    (vm_id,) = fresh_group(app, "boom", 1)
    event = tag_event(app, vm_id)

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    with monkeypatch.context() as patch:
        patch.setattr(reconciler, "start_enable", boom)
        assert app.runner.deliver(event) == "error: boom"
    status = st.get_status(app.ctx.store, vm_id)
    assert status is not None and status.state == st.VmState.WAITING
    assert st.leased_operation(status, app.ctx.store.now()) is None
    assert enable_puts(app, vm_id) == []
    assert app.runner.deliver(event) == "enable: enabling"
    assert len(enable_puts(app, vm_id)) == 1
