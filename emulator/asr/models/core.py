"""The base of the Site Recovery backend: its state, deterministic ids and the timer heap.

Time-driven transitions that no request polls (initial replication finishing) run from a small timer
heap processed in order of due time on every call (:meth:`AsrCore.tick`), so a clock jump of an hour
plays every step in between in order.
"""

from __future__ import annotations

import heapq
import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from emulator.asr.models.common import name_key
from emulator.clock import Clock
from emulator.errors import ArmError
from emulator.operations import FAILED, Operations
from emulator.routing import DEFAULT_PAGE_SIZE

if TYPE_CHECKING:
    from emulator.asr.models.jobs import Job
    from emulator.asr.models.vaults import Vault


class ComputeApi(Protocol):
    """What ASR needs from the compute backend (``emulator.compute``)."""

    def put_vm(
        self, subscription: str, resource_group: str, name: str, body: dict[str, Any], *, allow_placement_fallback: bool = False
    ) -> dict[str, Any]: ...

    def get_vm(self, subscription: str, resource_group: str, name: str) -> dict[str, Any]: ...

    def delete_vm(self, subscription: str, resource_group: str, name: str) -> object: ...

    def deallocate_vm(self, vm_id: str) -> bool: ...

    def delete_disk(self, subscription: str, resource_group: str, name: str) -> bool: ...

    def find(self, resource_id: str) -> dict[str, Any] | None: ...

    def capacity_allows(self, ppg_id: str, vm_size: str) -> bool: ...


class NetworkApi(Protocol):
    """What ASR needs from the network store (``emulator.network``): the test network's subnets, the NICs of
    test VMs, the source VM's NIC."""

    def put(
        self, subscription: str, resource_group: str, provider: str, rtype: str, name: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]: ...

    def find(self, resource_id: str) -> dict[str, Any] | None: ...

    def delete(self, subscription: str, resource_group: str, provider: str, rtype: str, name: str) -> bool: ...


@dataclass
class Timings:
    """Durations on the emulator clock, in seconds (adjustable through the admin API)."""

    enable_s: float = 60
    initial_replication_s: float = 300
    failover_s: float = 120
    commit_s: float = 30
    switch_protection_s: float = 90
    test_failover_s: float = 120
    test_failover_cleanup_s: float = 60
    #: How long an item reads ``MarkedForDeletion`` after its cleanup job succeeded (REST example
    #: ReplicationProtectedItems_TestFailoverCleanup; the length is a choice), then ``None``.
    test_failover_marked_s: float = 60
    disable_s: float = 30
    purge_s: float = 10
    update_s: float = 10
    setup_s: float = 0
    plan_per_item_s: float = 15
    #: How long a job refused inside Azure runs before it fails (hashicorp/terraform-provider-azurerm#31927:
    #: the failed enable's operation status spans 2.5 s).
    refusal_s: float = 3

    def update(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if not hasattr(self, name):
                raise ArmError(400, "InvalidParameter", f"Unknown ASR timing '{name}'.")
            if not isinstance(value, int | float) or value < 0:
                raise ArmError(400, "InvalidParameter", f"ASR timing '{name}' must be a number >= 0.")
            setattr(self, name, float(value))

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class AsrCore:
    """All Site Recovery state of one emulator (the vaults hold everything else), ids and timers."""

    def __init__(
        self,
        *,
        clock: Clock,
        operations: Operations,
        compute: ComputeApi,
        network: NetworkApi | None = None,
        seed: int = 20250801,
    ) -> None:
        self.clock = clock
        self.operations = operations
        self.compute = compute
        #: The network store (test NICs, subnets); None in backend unit tests without one.
        self.network_store = network
        self.timings = Timings()
        self.retry_after_s: int | None = None
        #: Items per page of list responses (ASR pages its lists; nextLink carries a skip token).
        self.page_size = DEFAULT_PAGE_SIZE
        self._seed = seed
        self._rng = random.Random(seed)
        self._vaults: dict[str, Vault] = {}
        self._timers: list[tuple[datetime, int, Callable[[], None]]] = []
        self._timer_seq = itertools.count()
        self._active_jobs: list[Job] = []
        #: (code, message) of an async-refusal fault rule for the next job this request starts (admin API).
        self.pending_refusal: tuple[str, str] | None = None

    def reset(self) -> None:
        self._rng = random.Random(self._seed)
        self._vaults.clear()
        self._timers.clear()
        self._active_jobs.clear()
        self.pending_refusal = None
        self.timings = Timings()
        self.retry_after_s = None
        self.page_size = DEFAULT_PAGE_SIZE

    def synced_tags(self, item: Any) -> dict[str, str]:
        """The source VM's tags as ASR syncs them (``vmSyncedConfigDetails.tags``); a failover gives the new VM these.

        Items carry the synced configuration (recorded A2A items: ``vmSyncedConfigDetails``). Choice: the emulator
        reads the live source VM (Azure syncs periodically), keeps the last synced tags when the source VM is gone,
        and copies them to the VMs a failover or test failover creates.
        """
        source = self.compute.find(item.source_vm_id) if item.source_vm_id else None
        if source is not None and isinstance(source.get("tags"), dict):
            item.tags = {str(k): str(v) for k, v in source["tags"].items()}
        return dict(item.tags)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _stable_id(self, *parts: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, name_key(*parts)))

    def _schedule(self, due: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (due, next(self._timer_seq), action))

    def tick(self) -> None:
        """Complete due operations, settle finished jobs and run due timers, in time order."""
        self.operations.advance()
        now = self.clock.now()
        while True:
            self._settle_jobs()
            if not self._timers or self._timers[0][0] > now:
                break
            _, _, action = heapq.heappop(self._timers)
            action()
        self._settle_jobs()

    def _settle_jobs(self) -> None:
        still: list[Job] = []
        for job in self._active_jobs:
            if not job.op.done:
                still.append(job)
                continue
            job.settled = True
            if job.op.status == FAILED and job.on_failed is not None:
                job.on_failed()
        self._active_jobs = still
