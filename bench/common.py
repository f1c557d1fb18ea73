"""What every benchmark shares: the local Azure, request counting, percentiles, printing.

One module so every script measures the same way: ARM requests come from the emulator's request log
(what the server actually served), Table storage requests from the HTTP transport of this process,
Table writes from entity ETags before and after (what actually changed, whoever wrote it), and wall
time from ``time.perf_counter``. Figures compared side by side are always taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from localdev.runner import LocalRunner, function_map, local_azure

# ------------------------------------------------------------------------------------------ arguments


def parse_args(
    description: str, argv: Sequence[str] | None = None, *, extra: Sequence[tuple[str, str]] = ()
) -> argparse.Namespace:
    """``--small`` for a quick run, ``--json PATH`` so ``bench.run_all`` can collect the figures, plus ``extra`` flags."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--small", action="store_true", help="a quick run at reduced size")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON (bench.run_all reads it)")
    for flag, help_text in extra:
        parser.add_argument(flag, action="store_true", help=help_text)
    return parser.parse_args(argv)


def write_json(path: Path | None, figures: Mapping[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, default=str))


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the figures."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------- local services


@contextmanager
def local_services(
    extra_env: Mapping[str, str], *, clock_speed: float | None = None
) -> Iterator[tuple[LocalRunner, dict[str, str]]]:
    """Azurite + the emulator + this process pointed at them (``local_azure``), event delivery off.

    The benchmarks call the registered functions themselves; the runner's background delivery of the
    emulator's events would otherwise run functions concurrently and be measured with them.
    Everything started here is stopped on exit, also on error.
    """
    with local_azure(extra_env=extra_env, clock_speed=clock_speed) as (runner, env):
        runner.admin("POST", "/_emulator/events/subscriber", json={"url": None})
        yield runner, env


def call_function(name: str, *args: Any) -> Any:
    """Call a function registered in ``function_app.app`` the way the Functions host does."""
    return function_map()[name].get_user_function()(*args)


def fire_timer(name: str, *, past_due: bool = False) -> None:
    from azure.functions.timer import TimerRequest

    call_function(name, TimerRequest(past_due=past_due))


# ------------------------------------------------------------------------------------- ARM requests


def arm_requests(runner: LocalRunner) -> list[dict[str, Any]]:
    """Every ARM request the emulator served since the log was last cleared (admin calls are not logged)."""
    value: list[dict[str, Any]] = runner.admin("GET", "/_emulator/requests").json()["value"]
    return value


def clear_arm_requests(runner: LocalRunner) -> None:
    runner.admin("DELETE", "/_emulator/requests")


_KINDS = {
    k.lower(): k
    for k in (
        "resourceGroups",
        "virtualMachines",
        "proximityPlacementGroups",
        "availabilitySets",
        "replicationProtectedItems",
        "replicationFabrics",
        "replicationProtectionContainers",
        "replicationProtectionContainerMappings",
        "replicationPolicies",
        "replicationNetworks",
        "replicationNetworkMappings",
        "replicationJobs",
        "replicationOperationStatus",
        "replicationRecoveryPlans",
        "operationresults",
        "tags",
        "storageAccounts",
        "virtualNetworks",
        "vaults",
    )
}


def resource_kind(path: str) -> str:
    """The resource type a request addresses, for a breakdown (``virtualMachines``, ``replicationProtectedItems``)."""
    kinds = [_KINDS[p.lower()] for p in path.split("/") if p.lower() in _KINDS]
    return kinds[-1] if kinds else path


@dataclass
class RequestCount:
    """ARM requests split into reads (GET) and writes (everything else), with a per-kind breakdown."""

    gets: int = 0
    writes: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    served_ms: Counter[str] = field(default_factory=Counter)  # the emulator's own time per kind (the log's duration)

    @property
    def total(self) -> int:
        return self.gets + self.writes

    def breakdown(self) -> str:
        return ", ".join(f"{kind} {n}" for kind, n in self.by_kind.most_common()) or "none"


def count_requests(entries: Sequence[Mapping[str, Any]]) -> RequestCount:
    count = RequestCount()
    for entry in entries:
        if entry["method"] == "GET":
            count.gets += 1
        else:
            count.writes += 1
        kind = f"{entry['method']} {resource_kind(entry['path'])}"
        count.by_kind[kind] += 1
        count.served_ms[kind] += float(entry["duration_ms"])
    return count


def request_arrival(entry: Mapping[str, Any]) -> float:
    """When the emulator started serving a logged request, as a Unix time (log time is the end)."""
    end = datetime.fromisoformat(str(entry["timestamp"])).timestamp()
    return end - float(entry["duration_ms"]) / 1000


# ------------------------------------------------------------------------------------ HTTP traffic


def _covered(intervals: Sequence[tuple[float, float]]) -> float:
    """The length of the union of ``(start, end)`` intervals."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def _target(label: str, path: str) -> str:
    """What a request is about: for Table storage the table (``/<account>/vmstatus(...)`` -> ``vmstatus``), for ARM
    its resource kind (:func:`resource_kind`)."""
    if label == "table":
        parts = [p for p in path.split("/") if p]
        return parts[-1].split("(", 1)[0] if parts else "/"
    return resource_kind(path)


class HttpTraffic:
    """Counts this process's HTTP requests per service and method, and the time spent waiting on them.

    Every azure-core client (management SDKs and Tables alike) sends through ``RequestsTransport.send``;
    each request is attributed to the service whose host and port it goes to (``{"arm": url, "table":
    url}``). The time waiting is wall-clock time with at least one request in flight (the union of the
    requests' intervals, not their sum): requests sent from several threads at once overlap, and a sum would
    count that time twice. Wall time minus the time waiting on any service is time spent in this process
    (Python). ``targets`` counts requests per service, method and resource (the Table name, the last ARM
    collection). A context manager that restores the transport on exit.
    """

    def __init__(self, endpoints: Mapping[str, str]) -> None:
        self._labels = {urlsplit(url).netloc: label for label, url in endpoints.items()}
        self.requests: dict[str, Counter[str]] = {label: Counter() for label in endpoints}
        self.targets: Counter[str] = Counter()
        self._intervals: dict[str, list[tuple[float, float]]] = {label: [] for label in endpoints}
        self._lock = threading.Lock()
        self._original: Callable[..., Any] | None = None

    @property
    def seconds(self) -> dict[str, float]:
        """Per service, the wall-clock seconds with at least one of its requests in flight."""
        return {label: _covered(intervals) for label, intervals in self._intervals.items()}

    def waiting(self) -> float:
        """Wall-clock seconds with at least one request to any service in flight."""
        return _covered([i for intervals in self._intervals.values() for i in intervals])

    def reads(self, label: str) -> int:
        return self.requests[label]["GET"]

    def writes(self, label: str) -> int:
        return sum(n for method, n in self.requests[label].items() if method != "GET")

    def total(self, label: str) -> int:
        return sum(self.requests[label].values())

    def __enter__(self) -> HttpTraffic:
        from azure.core.pipeline.transport import RequestsTransport

        original = RequestsTransport.send
        self._original = original
        traffic = self

        def send(transport: Any, request: Any, **kwargs: Any) -> Any:
            label = traffic._labels.get(urlsplit(request.url).netloc)
            if label is None:
                return original(transport, request, **kwargs)
            started = time.perf_counter()
            try:
                return original(transport, request, **kwargs)
            finally:
                ended = time.perf_counter()
                method = request.method.upper()
                with traffic._lock:
                    traffic._intervals[label].append((started, ended))
                    traffic.requests[label][method] += 1
                    traffic.targets[f"{label} {method} {_target(label, urlsplit(request.url).path)}"] += 1

        RequestsTransport.send = send  # type: ignore[method-assign,unused-ignore]
        return self

    def __exit__(self, *exc: object) -> None:
        from azure.core.pipeline.transport import RequestsTransport

        if self._original is not None:
            RequestsTransport.send = self._original  # type: ignore[method-assign,unused-ignore]


def table_etags(connection_string: str, prefix: str) -> dict[tuple[str, str, str], str]:
    """``{(table, PartitionKey, RowKey): ETag}`` of every entity in ppg-dr's tables."""
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(connection_string)
    found: dict[tuple[str, str, str], str] = {}
    for table in service.list_tables():
        if not table.name.startswith(prefix):
            continue
        client = service.get_table_client(table.name)
        for entity in client.list_entities(select=["PartitionKey", "RowKey"]):
            found[(table.name, entity["PartitionKey"], entity["RowKey"])] = str(entity.metadata.get("etag"))
    return found


def etag_changes(before: Mapping[tuple[str, str, str], str], after: Mapping[tuple[str, str, str], str]) -> dict[str, int]:
    """Entities written (ETag changed), created and deleted between two snapshots."""
    changed = sum(1 for k, v in after.items() if k in before and before[k] != v)
    created = sum(1 for k in after if k not in before)
    deleted = sum(1 for k in before if k not in after)
    return {"changed": changed, "created": created, "deleted": deleted, "total": changed + created + deleted}


# ------------------------------------------------------------------------------------------ figures


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(a: float, b: float) -> str:
    """``a / b`` as ``12.3x`` (``n/a`` when b is 0)."""
    return f"{a / b:,.1f}x" if b else "n/a"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table on stdout."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def machine() -> dict[str, str]:
    """Where the figures were taken: OS, Python, CPU count and model."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "cpu_model": model,
    }


def seed_protected_items(runner: LocalRunner, items: list[dict[str, str]]) -> None:
    """Bulk-seed A2A items (westeurope -> northeurope, the demo estate's vault) that are already protected.

    ``items`` are ``{sourceVmId, name, recoveryProximityPlacementGroupId?, recoveryResourceGroupId?}``: what
    ppg-dr would have enabled, so a benchmark starts from a protected steady state without minutes of
    emulated initial replication.
    """
    from localdev import estate as est
    from shared.arm.names import container_name, fabric_name

    runner.admin(
        "POST",
        "/_emulator/asr/items/bulk",
        json={
            "subscriptionId": est.SUBSCRIPTION,
            "resourceGroup": est.VAULT_RG,
            "vault": est.VAULT_NAME,
            "location": est.SOURCE_REGION,  # the primary fabric's region (the vault's, when this creates it)
            "recoveryLocation": est.TARGET_REGION,
            "fabric": fabric_name(est.SOURCE_REGION),
            "container": container_name(est.SOURCE_REGION),
            "recoveryFabric": fabric_name(est.TARGET_REGION),
            "recoveryContainer": container_name(est.TARGET_REGION),
            "items": items,
        },
    )


# ----------------------------------------------------------------------------------- a protected estate


@dataclass(frozen=True)
class BenchVm:
    """One seeded VM and the protected item that protects it."""

    resource_group: str
    name: str
    ppg: str
    item_name: str

    @property
    def id(self) -> str:
        from localdev import estate as est

        return est.rid(self.resource_group, "Microsoft.Compute/virtualMachines", self.name)


def seed_protected_estate(
    runner: LocalRunner, clients: Any, ppgs: int, per_ppg: int, *, prefix: str = "bench", progress: bool = False
) -> list[BenchVm]:
    """``ppgs`` resource groups, each with a PPG (through the SDK), its recovery resource group (what infra/ creates)
    and ``per_ppg`` VMs tagged ``ppgdr-protect=true`` (``POST /_emulator/seed/vms``); the vault gets one A2A item per
    VM protecting it into the recovery resource group and PPG ppg-dr plans (``POST /_emulator/asr/items/bulk``)."""
    from azure.mgmt.compute import models as cm

    from localdev import estate as est
    from shared.arm.ids import compute_id
    from shared.arm.names import auto_target_ppg_name, replicated_item_name

    resources = clients.resources(est.SUBSCRIPTION)
    compute = clients.compute(est.SUBSCRIPTION)
    vms: list[BenchVm] = []
    items: list[dict[str, str]] = []
    for index in range(ppgs):
        group, ppg = f"{prefix}-{index:03d}", f"{prefix}-ppg-{index:03d}"
        resources.resource_groups.create_or_update(group, {"location": est.SOURCE_REGION})
        resources.resource_groups.create_or_update(f"{group}-asr", {"location": est.TARGET_REGION})
        compute.proximity_placement_groups.create_or_update(
            group,
            ppg,
            cm.ProximityPlacementGroup(
                location=est.SOURCE_REGION,
                properties=cm.ProximityPlacementGroupProperties(proximity_placement_group_type="Standard"),
            ),
        )
        vm_prefix = f"{prefix[:1]}{index:03d}-vm"
        runner.admin(
            "POST",
            "/_emulator/seed/vms",
            json={
                "subscriptionId": est.SUBSCRIPTION,
                "resourceGroup": group,
                "count": per_ppg,
                "location": est.SOURCE_REGION,
                "namePrefix": vm_prefix,
                "proximityPlacementGroupId": est.rid(group, "Microsoft.Compute/proximityPlacementGroups", ppg),
                "tags": {"ppgdr-protect": "true"},
            },
        )
        target_group = f"{group}-asr"
        target_ppg = compute_id(est.SUBSCRIPTION, target_group, "proximityPlacementGroups", auto_target_ppg_name(ppg))
        for n in range(per_ppg):
            name = f"{vm_prefix}{n:05d}"
            vm_id = est.rid(group, "Microsoft.Compute/virtualMachines", name)
            vm = BenchVm(group, name, ppg, replicated_item_name(vm_id, name))
            vms.append(vm)
            items.append(
                {
                    "sourceVmId": vm_id,
                    "name": vm.item_name,
                    "recoveryProximityPlacementGroupId": target_ppg,
                    "recoveryResourceGroupId": f"/subscriptions/{est.SUBSCRIPTION}/resourceGroups/{target_group}",
                }
            )
        if progress and (index + 1) % 100 == 0:
            say(f"  ... {index + 1} of {ppgs} resource groups seeded")
    for start in range(0, len(items), 20_000):
        seed_protected_items(runner, items[start : start + 20_000])
    return vms


_SUMMARY = re.compile(r"reconcile: (\d+) VMs seen, (\d+) actions, (\d+) status writes, (\d+) errors")


class ReportCapture(logging.Handler):
    """Keeps the figures the ``reconcile`` function logs (VMs seen, actions, status writes, errors), at any level
    (an unchanged steady state is logged at debug level)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.last: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        found = _SUMMARY.search(record.getMessage())
        if found:
            seen, actions, writes, errors = (int(g) for g in found.groups())
            self.last = {"vms_seen": seen, "actions": actions, "status_writes": writes, "errors": errors}

    def __enter__(self) -> ReportCapture:
        logger = logging.getLogger("functions.timers")
        self._level = logger.level
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("functions.timers")
        logger.removeHandler(self)
        logger.setLevel(self._level)


def status_states(store: Any) -> dict[str, int]:
    """How many stored statuses are in each state (one read of the table)."""
    from shared.state import vm_status as st

    states: dict[str, int] = {}
    for status in st.StatusSnapshot.read(store):
        states[status.state] = states.get(status.state, 0) + 1
    return states


def own_peak_rss_mib() -> float:
    """This process's own peak resident set (``VmHWM`` in ``/proc/self/status``), in MiB.

    ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of a child started by ``fork`` + ``exec`` can report the parent's
    high-water mark (the fork copied it); ``VmHWM`` is reset by ``exec``.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
