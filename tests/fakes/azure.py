"""Fake Site Recovery and Compute gateways: what a workflow phase reads and sends, without an emulator.

The fakes hold items, jobs and VM placements a test sets up, and record every call a phase makes, so a
unit test states "given these items, the phase sends exactly this" in milliseconds. Behaviour of Azure
itself (states after a failover, capacity) is the emulator's job and is tested end to end.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.platform.clients import StartedOperation, VaultRef
from shared.platform.compute import VmPlacement
from shared.platform.site_recovery import ItemView, JobSearch, JobView, SwitchProtection

VAULT = VaultRef("00000000-0000-0000-0000-000000000001", "dr-ops", "ppgdr-vault")
_jobs = itertools.count(1)


def accepted() -> StartedOperation:
    job = f"job-{next(_jobs)}"
    return StartedOperation(202, f"https://arm/{job}", None, 30, job)


@dataclass
class FakeSiteRecovery:
    items: dict[tuple[str, str, str], ItemView] = field(default_factory=dict)
    jobs: dict[str, JobView] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    scenarios: dict[str, tuple[str, str]] = field(default_factory=dict)  # plan -> (scenario, job)
    started: dict[tuple[str, str], str] = field(default_factory=dict)  # (scenario, target name) -> job (find_job)
    reads: list[tuple[str, Any]] = field(default_factory=list)  # lists read (calls holds what was sent)

    @property
    def vault(self) -> VaultRef:
        return VAULT

    def plan_scenario(self, plan: str) -> tuple[str, str] | None:
        return self.scenarios.get(plan)

    def add(self, item: ItemView) -> ItemView:
        self.items[(item.fabric, item.container, item.name)] = item
        return item

    def allow(self, *operations: str, **changes: Any) -> None:
        """Every item now allows ``operations`` (and takes the other ``changes``)."""
        for key, item in self.items.items():
            self.items[key] = replace(item, allowed_operations=operations, **changes)

    def get_item(self, fabric: str, container: str, name: str) -> ItemView | None:
        self.reads.append(("get_item", name))
        return self.items.get((fabric, container, name))

    def find_item(self, name: str, places: Iterable[tuple[str, str]]) -> ItemView | None:
        self.reads.append(("find_item", name))
        for fabric, container in places:
            found = self.items.get((fabric, container, name))
            if found is not None:
                return found
        return None

    def plan_items(self, plan: str) -> list[ItemView]:
        """Every item the fake holds (a test's vault has one plan's items); the read is recorded in ``reads``."""
        self.reads.append(("plan_items", plan))
        return list(self.items.values())

    def job(self, job_id: str) -> JobView:
        return self.jobs.get(job_id, JobView(job_id, "Succeeded"))

    def find_job(self, scenario: str, target_name: str, since: datetime) -> JobSearch:
        self.reads.append(("find_job", (scenario, target_name)))
        return JobSearch(self.started.get((scenario.lower(), target_name.lower())))

    def plan_failover(self, plan: str, *, direction: str, source_shutdown: str, recovery_point: str) -> StartedOperation:
        self.calls.append(
            ("plan_failover", {"plan": plan, "direction": direction, "shutdown": source_shutdown, "point": recovery_point})
        )
        return accepted()

    def plan_commit(self, plan: str) -> StartedOperation:
        self.calls.append(("plan_commit", plan))
        return accepted()

    def switch_protection(self, request: SwitchProtection) -> StartedOperation:
        self.calls.append(("switch_protection", request))
        return accepted()

    def plan_test_failover(self, plan: str, *, network_id: str, recovery_point: str) -> StartedOperation:
        self.calls.append(("plan_test_failover", {"plan": plan, "network": network_id, "point": recovery_point}))
        return accepted()

    def plan_test_failover_cleanup(self, plan: str, *, comments: str) -> StartedOperation:
        self.calls.append(("plan_test_failover_cleanup", {"plan": plan, "comments": comments}))
        return accepted()

    def sent(self, kind: str) -> list[Any]:
        return [args for name, args in self.calls if name == kind]


@dataclass
class FakeCompute:
    vms: dict[str, VmPlacement] = field(default_factory=dict)
    reachable: bool = True
    colocation: str = "Aligned"
    calls: list[tuple[str, str]] = field(default_factory=list)

    def add(self, vm: VmPlacement) -> VmPlacement:
        self.vms[vm.id.lower()] = vm
        return vm

    def placement(self, vm_id: str) -> VmPlacement | None:
        return self.vms.get(vm_id.lower())

    def power(self, vm_id: str) -> str:
        found = self.vms.get(vm_id.lower())
        return found.power if found else "unknown"

    def answers(self, vm_id: str) -> bool:
        return self.reachable

    def ppg_colocation(self, ppg_id: str) -> str:
        return self.colocation

    def deallocate(self, vm_id: str) -> None:
        self.calls.append(("deallocate", vm_id))
        self.vms[vm_id.lower()] = replace(self.vms[vm_id.lower()], power="deallocated")

    def start(self, vm_id: str) -> None:
        self.calls.append(("start", vm_id))
        self.vms[vm_id.lower()] = replace(self.vms[vm_id.lower()], power="running")

    def move_into_ppg(self, vm_id: str, ppg_id: str) -> None:
        self.calls.append(("move_into_ppg", vm_id))
        self.vms[vm_id.lower()] = replace(self.vms[vm_id.lower()], ppg_id=ppg_id)
