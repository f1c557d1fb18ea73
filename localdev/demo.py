"""``make demo``: the whole product, working, against the local Azure.

Starts Azurite and the ARM emulator, seeds a two-region estate through the Azure SDK, then drives
ppg-dr the way Azure would: tag writes become Event Grid events delivered to the registered
``resource_events`` function, and the ``pulse`` and ``reconcile`` timers fire. Everything it started is
stopped at the end, also on Ctrl-C or failure.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localdev import estate as est
from localdev import outages
from localdev.driver import Driver
from localdev.runner import LocalRunner, local_azure
from shared.state.group_records import GroupRecord, get_group

STEPS = 19
OUT = Path(".run/demo")  # reports and the dashboard screenshot this run wrote
WIDTH = 118  # wrap long reasons at word boundaries instead of cutting them


def _fill(text: str, width: int, *, initial_indent: str, subsequent_indent: str) -> str:
    """Wrap at spaces only: ids and names with hyphens (``ppg-dr``, ``sap-ppg-asr``) stay whole."""
    return textwrap.fill(
        text,
        width,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        break_on_hyphens=False,
        break_long_words=False,
    )


class _WrappingFormatter(logging.Formatter):
    """ppg-dr's warnings in the story, wrapped like the rest of it."""

    def format(self, record: logging.LogRecord) -> str:
        return _fill(record.getMessage(), WIDTH, initial_indent="      ! ", subsequent_indent="        ")


class Demo:
    def __init__(self, runner: LocalRunner, api_key: str) -> None:
        from shared.context import get_context

        self.runner = runner
        self.ctx = get_context()
        self.driver = Driver(runner, self.ctx, progress=self.say)
        self.api_key = api_key
        self.step_no = 0
        self.started = time.monotonic()

    # --------------------------------------------------------------------------------------- output

    def step(self, title: str) -> None:
        self.step_no += 1
        print(f"\n[{self.step_no}/{STEPS}] {title}", flush=True)

    def say(self, text: str) -> None:
        """One line of the story, wrapped at word boundaries (never cut mid-word)."""
        print(_fill(text, WIDTH, initial_indent="      ", subsequent_indent="        "), flush=True)

    def status_table(self, names: list[str] | None = None) -> None:
        from shared.state.vm_status import all_statuses

        rows = sorted(all_statuses(self.ctx.store), key=lambda s: (s.group, s.vm_name))
        head = f"        {'VM':<15} {'GROUP':<10} {'STATE':<20} {'TARGET PPG':<14} "
        print(f"{head}REASON", flush=True)
        for s in rows:
            if names and s.vm_name not in names:
                continue
            target = s.target_ppg_id.rsplit("/", 1)[-1] if s.target_ppg_id else "-"
            detail = "; ".join(s.problems) or s.reason
            first = f"        {s.vm_name:<15} {s.group or '-':<10} {s.state:<20} {target:<14} "
            print(_fill(detail, WIDTH, initial_indent=first, subsequent_indent=" " * len(head)), flush=True)

    # ---------------------------------------------------------------------------------------- drive

    def settle(self, done: Callable[[], bool], *, label: str, max_rounds: int = 60) -> int:
        return self.driver.settle(done, label=label, max_rounds=max_rounds)

    def states(self) -> dict[str, str]:
        return self.driver.states()

    def tag(self, resource_id: str, tags: dict[str, str], operation: str = "Merge") -> None:
        self.driver.tag(resource_id, tags, operation)
        name = resource_id.rsplit("/", 1)[-1]
        self.say(f"tag {name}: {', '.join(f'{k}={v}' for k, v in tags.items())} ({operation.lower()})")

    # ---------------------------------------------------------------------------------------- story

    def run(self) -> None:
        e = est.DEMO_ESTATE
        self.step("Seeding a two-region estate through the Azure SDK (westeurope -> northeurope)")
        est.seed(self.ctx.clients, progress=self.say)

        self.step("Tagging for protection: the Tags API emits events, the resource_events function reacts")
        sap_rg = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
        self.tag(sap_rg, {"ppgdr-protect": "true"})
        self.say("(resource-group tags apply to every VM in sap-prod)")
        for name in ("trade-engine-1", "trade-cache-1"):
            self.tag(e.vm(name).id, {"ppgdr-protect": "true", "ppgdr-target-zone": "2"})
        self.tag(e.vm("legacy-1").id, {"ppgdr-protect": "true"})
        self.runner.drain()
        handled = [outcome for _, outcome in self.runner.delivered]
        self.say(f"{len(handled)} events delivered to resource_events")

        self.step("Vault preparation and enablement, advanced by the pulse timer")
        protected_set = {"sap-app-1", "sap-app-2", "sap-db-1", "trade-engine-1", "trade-cache-1"}
        rounds = self.settle(
            lambda: all(self.states().get(n) in ("initial-replication", "protected") for n in protected_set),
            label="enabling",
        )
        self.say(f"replication enabled for {len(protected_set)} VMs after {rounds} pulses")
        self.status_table()

        self.step("Initial replication -> protected")
        self.settle(lambda: all(self.states().get(n) == "protected" for n in protected_set), label="initial replication")
        self.status_table()
        self.show_target_ppgs()

        self.step("Changing trade-cache-1's target PPG to trade-ppg-b (A2A update of the protected item)")
        self.tag(e.vm("trade-cache-1").id, {"ppgdr-target-ppg": "trade-ppg-b"})
        self.settle(
            lambda: self._target_of("trade-cache-1").endswith("/trade-ppg-b") and self.states()["trade-cache-1"] == "protected",
            label="target PPG update",
        )
        self.status_table(["trade-cache-1"])

        self.step("ppgdr-target-ppg=none on sap-db-1: ASR cannot remove a target PPG, so disable + re-enable")
        self.tag(e.vm("sap-db-1").id, {"ppgdr-target-ppg": "none"})
        self.settle(
            lambda: self.states().get("sap-db-1") == "protected" and not self._target_of("sap-db-1"),
            label="disable + re-enable",
        )
        self.status_table(["sap-db-1"])
        for note in self._history("sap-db-1")[-6:]:
            self.say(f"history: {note}")

        self.step("Unprotecting trade-engine-1 (ppgdr-protect=false): replication disabled, unused targets removed")
        self.tag(e.vm("trade-engine-1").id, {"ppgdr-protect": "false"})
        self.settle(lambda: self.states().get("trade-engine-1") == "not-protected", label="disable")
        self.status_table(["trade-engine-1", "legacy-1"])

        self.step("Full reconcile timer: the estate is as tagged, nothing to do")
        self.say("(the pulse already kept each group's recovery plan in step as members were protected or left)")
        before = len(self.driver.arm_requests())
        self.runner.fire_timer("reconcile")
        log = self.driver.arm_requests()[before:]
        writes = [r for r in log if r["method"] not in ("GET", "HEAD")]
        self.say(f"reconcile (timer function) issued {len(log)} ARM requests, {len(writes)} of them writes")
        for write in writes:
            self.say(f"reconcile wrote: {write['method']} {write['path']}")

        self.failover_story()
        self.drills_story()

        self.step("Done")
        self.status_table()
        self.say(f"demo finished in {time.monotonic() - self.started:.1f}s; stopping Azurite and the emulator")

    # ----------------------------------------------------------------------------- failover story

    def api(self, method: str, path: str, body: object = None, params: dict[str, str] | None = None) -> Any:
        code, payload = self.runner.http(method, path, key=self.api_key, body=body, params=params)
        if code >= 400:
            raise RuntimeError(f"{method} {path}: {code} {payload}")
        return payload

    def group_state(self) -> GroupRecord:
        return get_group(self.ctx.store, "sap-ppg")

    def failover_story(self) -> None:
        from shared.state.audit import audit_trail

        e = est.DEMO_ESTATE
        sap = [e.vm(n).id for n in ("sap-app-1", "sap-app-2", "sap-db-1")]
        self.step("Resource Health: one SAP VM unavailable (below quorum) - the group stays put")
        outcome = self.runner.deliver(outages.health_event(e.vm("sap-app-2").id), "health_events")
        self.say(f"health_events -> {outcome}")
        for reason in self.group_state().last_decision_reasons:
            self.say(f"decision: {reason}")

        self.step("The DR PPG runs short of Standard_M64s capacity (emulator capacity model)")
        self.tag(e.vm("sap-db-1").id, {"ppgdr-target-ppg": "auto"})
        self.settle(
            lambda: self._target_of("sap-db-1").endswith("/sap-ppg-asr") and self.states().get("sap-db-1") == "protected",
            label="sap-db-1 back to the group's target PPG",
        )
        self.say("sap-db-1 replicates into sap-ppg-asr again (target PPG updated in place)")
        target_ppg = est.rid("sap-prod-asr", "Microsoft.Compute/proximityPlacementGroups", "sap-ppg-asr")
        self.runner.admin(
            "POST", "/_emulator/capacity", json={"proximityPlacementGroupId": target_ppg, "refusedSizes": ["Standard_M64s"]}
        )
        self.say("sap-ppg-asr now refuses Standard_M64s: ASR will place sap-db-1 outside the PPG (best effort)")

        self.step("Regional outage: Resource Health and a VM availability alert agree on the whole SAP group")
        for vm_id in sap:  # two channels agree on when the outage began: no need to wait out the debounce
            self.runner.deliver(outages.health_event(vm_id), "health_events")
        self.say("health_events: Resource Health reports sap-app-1, sap-app-2 and sap-db-1 unavailable since 10 minutes")
        result = self.api("POST", "/api/alerts", body=outages.availability_alert(sap))
        decision = result["decisions"][0]
        self.say(f"webhook: {result['signals']} signals -> {decision['kind']} for group {decision['group']}")
        for reason in decision["reasons"]:
            self.say(f"decision: {reason}")
        pending = self.api("GET", "/api/decisions")["value"]
        self.say(f"pending decisions: {', '.join(p['decision_id'] for p in pending)} (mode approve: a person decides)")

        self.step("An SRE approves (with placement repair); the pulse timer runs the group failover")
        approved = self.api(
            "POST", f"/api/decisions/{pending[0]['decision_id']}/approve", body={"by": "sre-on-call"}, params={"repair": "true"}
        )
        self.say(f"approved: workflow {approved['workflow']} for {approved['group']}")
        self.settle(lambda: bool(self.group_state().placement), label="failover")
        for row in self.group_state().placement or []:
            self.say(f"verify: {row['vm']:<10} {row.get('power', '?'):<8} {self._where(row)}")
        self.runner.admin("POST", "/_emulator/capacity", json={"proximityPlacementGroupId": target_ppg, "refusedSizes": []})
        self.say("capacity is back in the DR datacenter: the repair can restart the group anchor-first")

        self.step("Commit, anchor-first repair, reprotect into the original PPG")
        self.settle(lambda: self.group_state().state == "reprotected", label="commit, repair, reprotect", max_rounds=90)
        for row in self.group_state().placement or []:
            self.say(f"after repair: {row['vm']:<10} {row.get('power', '?'):<8} {self._where(row)}")
        self.status_table(["sap-app-1", "sap-app-2", "sap-db-1"])
        self.show_group("sap-ppg")

        self.step("Failback: back to westeurope and the original PPG, protected again")
        self.api("POST", "/api/groups/sap-ppg/failback")
        self.settle(lambda: self.group_state().state == "protected", label="failback", max_rounds=90)
        for row in self.group_state().placement or []:
            self.say(f"back home: {row['vm']:<10} {row.get('power', '?'):<8} {self._where(row)}")
        self.show_group("sap-ppg")
        self.say("audit trail of sap-ppg:")
        for entry in audit_trail(self.ctx.store, "sap-ppg"):
            prefix = f"        {entry['event']:<18} "
            print(_fill(str(entry["message"]), WIDTH, initial_indent=prefix, subsequent_indent=" " * len(prefix)))

    # -------------------------------------------------------------------------------- drills story

    def drills_story(self) -> None:
        from localdev.processes import free_port

        sap_rg = f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/sap-prod"
        self.step("Scheduled drill: ppgdr-drill=weekly; the drills timer starts it, the pulse runs it, cleanup follows")
        self.tag(sap_rg, {"ppgdr-drill": "weekly", "ppgdr-rto-minutes": "30", "ppgdr-rpo-minutes": "15"})
        self.runner.drain()  # the tag event reaches resource_events: the members' statuses carry the drill tags
        from shared.ticks import drills as drills_tick

        self.status_table(["sap-app-1", "sap-app-2", "sap-db-1"])
        for note in drills_tick(self.ctx):
            self.say(f"drills timer: {note}")
        passed = self.run_drill("scheduled")

        self.step("A drill whose validation fails (its TCP probe gets no answer): cleaned up all the same")
        closed = free_port()  # nothing listens there
        self.tag(sap_rg, {"ppgdr-drill-probe": f"127.0.0.1:{closed}"})
        self.runner.drain()  # the tag event reaches resource_events: the members' statuses carry the drill tags
        self.api("POST", "/api/groups/sap-ppg/drill", body={"by": "sre-on-call"})
        failed = self.run_drill("on demand")
        self.tag(sap_rg, {"ppgdr-drill-probe": ""}, operation="Delete")

        self.step("A drill whose starter dies right after sending the test failover: the pulse adopts and cleans up")
        self.api("POST", "/api/groups/sap-ppg/drill", body={"by": "sre-on-call"})
        real = self.ctx.site_recovery
        self.ctx.site_recovery_api = _DiesAfterSending(real)
        try:
            self.runner.fire_timer("pulse")
        except RuntimeError as exc:
            self.say(f"pulse: {exc}")
        self.ctx.site_recovery_api = real
        crashed = self.run_drill("crashed starter")

        self.step("Reports and the dashboard")
        OUT.mkdir(parents=True, exist_ok=True)
        for drill in (passed, failed, crashed):
            path = OUT / f"{drill['id']}.html"
            _, page = self.runner.http("GET", f"/api/drills/{drill['id']}/report", key=self.api_key)
            path.write_text(str(page), encoding="utf-8")
            self.say(f"report ({drill['verdict']}): {path.resolve()}")
        self.say("the failover and failback reports: `ppgdr report ID` / GET /api/reports?group=sap-ppg")
        port = free_port()
        from localdev.runner import serve_api

        serve_api(port)
        try:
            from localdev.browser import screenshot

            shot = screenshot(f"http://127.0.0.1:{port}", self.api_key, OUT / "dashboard.png", name="demo")
            self.say(f"dashboard screenshot (Debian chromium through Playwright): {shot.resolve()}")
        except Exception as exc:  # no browser here: the reports are still written; say how to get one
            self.say(f"no dashboard screenshot: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            self.say("(`make browser` installs Debian's chromium)")

    def run_drill(self, label: str) -> dict[str, Any]:
        """Pulse until the group's newest drill is done; print its verdict, figures and what it found."""
        drills = self.api("GET", "/api/drills", params={"group": "sap-ppg"})["value"]
        drill_id = drills[0]["id"]
        self.say(f"drill {drill_id} ({label}) started by {drills[0]['requested_by']}")
        self.settle(
            lambda: self.api("GET", f"/api/drills/{drill_id}")["phase"] == "done", label=f"drill {label}", max_rounds=80
        )
        drill: dict[str, Any] = self.api("GET", f"/api/drills/{drill_id}")
        rto = drill.get("rto_seconds")
        rpo = drill.get("rpo_seconds")
        self.say(
            f"verdict {drill['verdict'].upper()}: RTO {rto if rto is None else round(rto)} s, "
            f"RPO {rpo if rpo is None else round(rpo)} s, cleaned up {drill['cleaned_up']}"
        )
        for row in drill.get("placement") or []:
            self.say(f"test VM {row['vm']:<10} {'running' if row.get('running') else 'not running':<12} {self._where(row)}")
        for problem in drill.get("problems") or []:
            self.say(f"problem: {problem}")
        return drill

    def show_group(self, name: str) -> None:
        """The group as ``ppgdr groups`` prints it: state, where it runs and in which PPG."""
        from shared.operator.cli import render_group

        row = next(r for r in self.api("GET", "/api/groups")["value"] if r["name"] == name)
        for line in render_group(row)[:2]:
            self.say("ppgdr groups: " + " ".join(line.split()))

    @staticmethod
    def _where(row: dict[str, Any]) -> str:
        if row.get("problem"):
            return "PLACED OUTSIDE: " + str(row["problem"])
        if not row.get("expected_ppg"):
            return "no target PPG asked"
        where = "in " + str(row["expected_ppg"]).rsplit("/", 1)[-1]
        if row.get("expected_availability_set"):
            where += " and " + str(row["expected_availability_set"]).rsplit("/", 1)[-1]
        return where

    def _target_of(self, vm_name: str) -> str:
        found = self.driver.statuses().get(vm_name)
        return found.target_ppg_id if found else ""

    def _history(self, vm_name: str) -> list[str]:
        found = self.driver.statuses().get(vm_name)
        return found.history if found else []

    def show_target_ppgs(self) -> None:
        compute = self.ctx.clients.compute(est.SUBSCRIPTION)
        for ppg in compute.proximity_placement_groups.list_by_subscription():
            if (ppg.location or "") == est.TARGET_REGION:
                props = ppg.properties
                sizes = ", ".join(props.intent.vm_sizes or []) if props and props.intent else "-"
                zones = ",".join(ppg.zones or []) or "-"
                self.say(f"target PPG {ppg.name} in {est.TARGET_REGION}: zones {zones}, intent {sizes}")


class _DiesAfterSending:
    """The demo's stand-in for an instance that dies right after Azure accepted its test failover."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def plan_test_failover(self, plan: str, **kwargs: Any) -> Any:
        self.real.plan_test_failover(plan, **kwargs)
        raise RuntimeError("the instance died after Azure accepted the test failover, before it saved the job")


def main() -> int:
    # ppg-dr's own warnings (placement fallbacks, pending decisions) are part of the story: show them.
    handler = logging.StreamHandler()
    handler.setFormatter(_WrappingFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    print("ppg-dr demo: starting the local Azure (Azurite + ARM emulator) ...", flush=True)
    api_key = secrets.token_urlsafe(24)  # a fresh key per run: never a secret in code or logs
    settings = {**est.app_settings(), "PPGDR_API_KEYS": "sha256:" + hashlib.sha256(api_key.encode()).hexdigest()}
    with local_azure(extra_env=settings) as (runner, env):
        print(f"      ARM emulator {env['PPGDR_ARM_ENDPOINT']}, Table storage on Azurite", flush=True)
        Demo(runner, api_key).run()
    print("all local services stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
