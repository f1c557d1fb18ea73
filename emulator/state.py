"""The whole emulated Azure in one object: clock, operations, backends, faults, logs, events.

One instance per server. The HTTP layer serialises every state access through :attr:`Emulator.lock`
(ARM's consistency is per request; ours is simply "one request at a time"), advances due operations
before serving, and never lets a backend see HTTP. ``reset()`` rebuilds every backend, so a test starts
from an empty Azure whatever the previous test did.

No route lives here and this module imports none: the routers are assembled with the app
(:mod:`emulator.assembly`) and look the backends up on this object at request time.
"""

from __future__ import annotations

import threading
from typing import Any

from emulator.asr.models import AsrBackend
from emulator.clock import Clock
from emulator.compute.models import ComputeBackend
from emulator.entra import EntraTenant
from emulator.errors import ArmError
from emulator.events import TENANT_ID, EventEmitter
from emulator.faults import FaultRegistry
from emulator.network.models import SimpleResources
from emulator.operations import Operations
from emulator.requestlog import RequestLog
from emulator.resources.models import ResourcesBackend, TagTarget


class Emulator:
    """State and behaviour of every emulated service; see the module docstring."""

    def __init__(self, *, clock_speed: float = 1.0, events_url: str | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = Clock(speed=clock_speed)
        self._initial_speed = clock_speed
        self._initial_events_url = events_url
        self.faults = FaultRegistry()
        self.request_log = RequestLog()
        self.events = EventEmitter(now=self.clock.now, subscriber_url=events_url)
        #: Virtual seconds a resource group deletion takes.
        self.group_delete_seconds = 0.0
        #: The local Entra ID tenant (signing keys made at start; kept across ``reset()``, like a real tenant's).
        self.entra = EntraTenant(TENANT_ID)
        self._build()

    def _build(self) -> None:
        self.operations = Operations(self.clock, failure_hook=self.faults.operation_failure)
        self.compute = ComputeBackend(clock=self.clock, operations=self.operations, events=self.events)
        self.network = SimpleResources(events=self.events)
        self.resources = ResourcesBackend(events=self.events, targets=self.tag_targets)
        self.resources.on_group_deleted.append(self.compute.delete_group)
        self.resources.on_group_deleted.append(self.network.delete_group)
        self.asr = AsrBackend(clock=self.clock, operations=self.operations, compute=self.compute, network=self.network)

    def tag_targets(self) -> list[TagTarget]:
        """Backends whose resources the tags API can write (ASR's too, if it supports tags)."""
        return [self.compute, self.network]

    def find_resource(self, resource_id: str) -> dict[str, Any] | None:
        """Any emulated resource by id (case-insensitive), or None."""
        for target in self.tag_targets():
            found = target.find(resource_id)
            if found is not None:
                return found
        return None

    def require_group(self, subscription: str, resource_group: str) -> None:
        """ARM refuses to create a resource in a group that does not exist."""
        if not self.resources.group_exists(subscription, resource_group):
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")

    def reset(self) -> None:
        """Back to an empty Azure: backends, operations, faults, logs, events, clock speed."""
        with self.lock:
            self.faults.clear()
            self.request_log.clear()
            self.events.reset()
            self.events.set_subscriber(self._initial_events_url)
            self.clock.set_speed(self._initial_speed)
            self.group_delete_seconds = 0.0
            self._build()

    def close(self) -> None:
        self.events.close()
