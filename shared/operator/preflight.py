"""``ppgdr preflight``: can ppg-dr, from its own identity, reach and read everything it will need?

Why: most ways a deployment goes wrong are silent until the day they matter. A role granted on the wrong
resource group, a cache storage account in the wrong region, a vnet renamed, a vault id with a typo, an Event
Grid subscription never created: the reconcile logs a refusal per VM, or a failover blocks at reprotect. The
preflight reads (never writes) each thing once and prints a checklist with the fix for each miss; the reconcile
runs it once per process start and logs what is missing (:func:`check_once`), without ever blocking.

Each check is a small function returning :class:`Check` rows; which resources to check is pure
(:func:`expected_resources`), reading them is the only I/O (:class:`Reader`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError, ServiceResponseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from shared.context import AppContext, get_context
from shared.platform.clients import VaultRef
from shared.platform.connectivity import connection_problem, table_endpoint
from shared.platform.errors import azure_error_text
from shared.platform.telemetry import span
from shared.settings import Settings
from shared.state.markers import last_deliveries
from shared.state.vm_status import VmState, all_statuses

log = logging.getLogger(__name__)

#: How old the newest event may be before the Event Grid check warns (an idle estate sends few events).
DEFAULT_EVENT_HOURS = 24
# api-versions of the generic reads (the ones the SDKs of these providers default to at the time of writing).
STORAGE_API = "2023-05-01"
NETWORK_API = "2024-05-01"
VAULT_API = "2024-04-01"

ROLES_FIX = "grant the Function App's identity its roles there (docs/infra.md, 'Identity, roles and scopes')"


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, whether it holds, what was seen and what to do if not.

    A check that is not ``required`` only warns (an estate can be quiet for a day; drills may be off).
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        return "ok" if self.ok else ("failed" if self.required else "warning")

    def to_data(self) -> dict[str, Any]:
        return {**asdict(self), "status": self.status}


@dataclass(frozen=True)
class Preflight:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when nothing required is missing (warnings allowed)."""
        return all(c.ok or not c.required for c in self.checks)

    def count(self, status: str) -> int:
        return sum(1 for c in self.checks if c.status == status)

    @property
    def summary(self) -> str:
        return (
            f"{len(self.checks)} checks: {self.count('ok')} ok, {self.count('failed')} failed, "
            f"{self.count('warning')} warning{'s' if self.count('warning') != 1 else ''}"
        )

    def to_data(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary, "checks": [c.to_data() for c in self.checks]}


# ------------------------------------------------------------------------------------------------ pure parts


@dataclass(frozen=True)
class Expected:
    """A resource ppg-dr needs, and how to say it is missing."""

    name: str
    resource_id: str
    api_version: str
    missing_fix: str
    region: str | None = None  # where it must be, when that matters (a cache account is in its source region)
    required: bool = True


def settings_checks(settings: Settings) -> list[Check]:
    """What must be set at all for ppg-dr to protect anything (pure)."""
    checks: list[Check] = []
    scopes = [*settings.subscriptions, *settings.resource_groups]
    checks.append(
        Check(
            "settings: scope",
            bool(scopes),
            f"watching {len(settings.subscriptions)} subscription(s), {len(settings.resource_groups)} resource group(s)"
            if scopes
            else "no PPGDR_SUBSCRIPTIONS or PPGDR_RESOURCE_GROUPS: there are no VMs to watch",
            "" if scopes else "set PPGDR_RESOURCE_GROUPS (least privilege) or PPGDR_SUBSCRIPTIONS",
        )
    )
    checks.append(
        Check(
            "settings: region pairs",
            bool(settings.region_pairs),
            ", ".join(f"{a} <-> {b}" for a, b in settings.region_pairs.items())
            or "PPGDR_REGION_PAIRS is not set: no VM has a DR region",
            "" if settings.region_pairs else "set PPGDR_REGION_PAIRS=source:target[,source:target]",
        )
    )
    return checks


def pair_regions(settings: Settings) -> list[str]:
    """Every region of every pair, each once, in order: each needs a cache account (enable from it, reprotect to it)."""
    regions: list[str] = []
    for source, target in settings.region_pairs.items():
        for region in (source.lower(), target.lower()):
            if region not in regions:
                regions.append(region)
    return regions


def expected_resources(settings: Settings) -> tuple[list[Expected], list[Check]]:
    """The cache accounts, mapped vnets and test networks the settings name, and the gaps in the settings (pure)."""
    expected: list[Expected] = []
    gaps: list[Check] = []
    for region in pair_regions(settings):
        account = settings.cache_storage_accounts.get(region)
        name = f"cache storage account for {region}"
        if not account:
            gaps.append(
                Check(
                    name,
                    False,
                    f"no cache storage account for {region} (enable replication from {region} and reprotect into it stage there)",
                    f"add {region}=<storageAccountId> to PPGDR_CACHE_STORAGE_ACCOUNTS (a StorageV2 account in {region})",
                )
            )
            continue
        fix = f"create the account in {region}, or point PPGDR_CACHE_STORAGE_ACCOUNTS at one"
        expected.append(Expected(name, account, STORAGE_API, fix, region))
    for source, target in settings.network_mappings.items():
        for side, vnet in (("source", source), ("target", target)):
            expected.append(
                Expected(
                    f"network mapping {side} vnet {vnet.rstrip('/').rsplit('/', 1)[-1]}",
                    vnet,
                    NETWORK_API,
                    "fix PPGDR_NETWORK_MAPPINGS (sourceVnetId=targetVnetId) or create the vnet",
                )
            )
    for region, vnet in settings.test_network_ids.items():
        expected.append(
            Expected(
                f"test network for {region}",
                vnet,
                NETWORK_API,
                "fix PPGDR_TEST_NETWORK_IDS (region=vnetId) or create the isolated drill vnet",
                region,
            )
        )
    if not settings.test_network_ids and settings.drill_schedule != "off":
        gaps.append(
            Check(
                "test networks",
                False,
                f"PPGDR_DRILL_SCHEDULE is {settings.drill_schedule} but PPGDR_TEST_NETWORK_IDS is empty: drills cannot start",
                "add region=vnetId of an isolated vnet per DR region to PPGDR_TEST_NETWORK_IDS",
                required=False,
            )
        )
    return expected, gaps


def _same_region(a: str, b: str) -> bool:
    return a.replace(" ", "").lower() == b.replace(" ", "").lower()


def event_check(deliveries: dict[str, datetime], now: datetime, max_hours: int) -> Check:
    """Whether Event Grid delivered recently (pure): a warning only, since a quiet estate sends few events."""
    name = "Event Grid delivering"
    fix = (
        "check the Event Grid subscriptions to resource_events and health_events (docs/infra.md, second pass with "
        "deployEventSubscriptions=true) and their delivered / dead-lettered metrics"
    )
    if not deliveries:
        return Check(name, False, "no event received since the state tables were created", fix, required=False)
    newest = max(deliveries.values())
    age_hours = (now - newest).total_seconds() / 3600
    seen = "; ".join(f"{fn} {_ago(now, at)}" for fn, at in sorted(deliveries.items()))
    if age_hours > max_hours:
        return Check(name, False, f"no event for {age_hours:.0f} hours (over {max_hours}): last {seen}", fix, required=False)
    return Check(name, True, f"last event {seen}")


def _ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def refusal(exc: HttpResponseError, what: str) -> tuple[str, str]:
    """What an ARM refusal of a read means, and the fix (pure)."""
    text = azure_error_text(exc)
    if exc.status_code == 404:
        return f"{what} does not exist ({text})", ""
    if exc.status_code in (401, 403):
        return f"ppg-dr's identity may not read {what} ({text})", ROLES_FIX
    return f"reading {what} failed ({text})", "look at the error; run ppgdr preflight again"


def render(result: Preflight) -> list[str]:
    """The checklist as text: one line per check (✓ ok, ✗ failed, ! warning), the fix under each miss (pure)."""
    marks = {"ok": "✓", "failed": "✗", "warning": "!"}
    lines = [f"ppg-dr preflight: {result.summary}"]
    for check in result.checks:
        lines.append(f"  {marks[check.status]} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"      fix: {check.fix}")
    return lines


# ------------------------------------------------------------------------------------------------ reads


class Unreachable(Exception):
    """ARM cannot be reached at all: the remaining ARM checks are skipped instead of each waiting on retries."""


@dataclass
class Reader:
    """The reads the checks make, each one harmless, through the app's own clients and identity."""

    ctx: AppContext
    unreachable: str | None = None

    def _call(self, read: Callable[[], Any]) -> Any:
        if self.unreachable:
            raise Unreachable(self.unreachable)
        try:
            return read()
        except (ServiceRequestError, ServiceResponseError, ClientAuthenticationError) as exc:
            self.unreachable = connection_problem(exc, self.ctx.settings) or str(exc)
            raise Unreachable(self.unreachable) from exc

    def resource(self, resource_id: str, api_version: str) -> Any:
        resources = self.ctx.clients.resources(resource_id.strip("/").split("/")[1]).resources
        return self._call(lambda: resources.get_by_id(resource_id, api_version=api_version))

    def resource_group(self, subscription: str, name: str) -> Any:
        return self._call(lambda: self.ctx.clients.resources(subscription).resource_groups.get(name))

    def first_page(self, pages: Callable[[], Any]) -> list[Any]:
        """One page of a list (a harmless read that proves the role without walking a large estate)."""
        page: list[Any] = self._call(lambda: list(next(iter(pages().by_page()), [])))
        return page


def _guarded(name: str, reader: Reader, probe: Callable[[], Check], *, required: bool = True) -> Check:
    """Run one probe; an unreachable ARM, a refusal or anything else becomes a failed check, never an exception."""
    try:
        return probe()
    except Unreachable as exc:
        return Check(name, False, f"not checked: {exc}", "fix the connection first (PPGDR_ARM_ENDPOINT, the identity)", required)
    except HttpResponseError as exc:
        detail, fix = refusal(exc, name)
        return Check(name, False, detail, fix, required)
    except Exception as exc:  # a check must never stop the others
        return Check(name, False, f"could not check: {type(exc).__name__}: {exc}", "", required)


def state_check(ctx: AppContext) -> tuple[Check, dict[str, datetime] | None]:
    """Table storage answers (a read of the markers table, which also feeds the Event Grid check)."""
    where = f"{table_endpoint(ctx.settings) or 'Table storage'} (tables {ctx.settings.state_table_prefix}*)"
    try:
        deliveries = last_deliveries(ctx.store)
    except Exception as exc:
        problem = connection_problem(exc, ctx.settings) or azure_error_text(exc)
        fix = "check PPGDR_STATE_CONNECTION / PPGDR_STATE_ENDPOINT and the identity's Storage Table Data Contributor role"
        return Check("state storage", False, problem, fix), None
    return Check("state storage", True, f"reachable at {where}"), deliveries


def vault_check(ctx: AppContext, reader: Reader) -> Check:
    """The vault exists, and Site Recovery answers for it (one page of its fabrics: the role is effective)."""
    name = "Recovery Services vault"
    if not ctx.settings.vault_id:
        return Check(name, False, "PPGDR_VAULT_ID is not set", "set PPGDR_VAULT_ID to the vault's resource id")
    try:
        vault = VaultRef.parse(ctx.settings.vault_id)
    except ValueError as exc:
        return Check(name, False, str(exc), "set PPGDR_VAULT_ID to the vault's resource id")

    def probe() -> Check:
        found = reader.resource(vault.id, VAULT_API)
        fabrics = reader.first_page(lambda: ctx.clients.site_recovery(vault.subscription).replication_fabrics.list(*vault.args))
        return Check(name, True, f"{vault.name} in {found.location}: readable, {len(fabrics)} fabric(s)")

    checked = _guarded(name, reader, probe)
    if not checked.ok and "does not exist" in checked.detail:
        return Check(name, False, checked.detail, "check PPGDR_VAULT_ID (subscription, resource group and name)")
    return checked


def scope_checks(ctx: AppContext, reader: Reader) -> list[Check]:
    """Each watched subscription or resource group can be read: one page of its VMs (what the reconcile lists).

    With ``PPGDR_RESOURCE_GROUPS`` set the reconcile lists only those (least privilege), so the check does too: a
    subscription-wide list would need a role the deployment deliberately does not grant.
    """
    checks: list[Check] = []
    for subscription in () if ctx.settings.resource_groups else ctx.settings.subscriptions:
        name = f"subscription {subscription}"

        def probe(sub: str = subscription, label: str = name) -> Check:
            vms = reader.first_page(lambda: ctx.clients.compute(sub).virtual_machines.list_all())
            return Check(label, True, f"readable ({len(vms)} VMs on the first page)")

        checks.append(_guarded(name, reader, probe))
    for group_id in ctx.settings.resource_groups:
        parts = group_id.strip("/").split("/")
        subscription, group = parts[1], parts[3]
        name = f"resource group {group}"

        def probe_group(sub: str = subscription, rg: str = group, label: str = name) -> Check:
            reader.resource_group(sub, rg)
            vms = reader.first_page(lambda: ctx.clients.compute(sub).virtual_machines.list(rg))
            return Check(label, True, f"readable ({len(vms)} VMs on the first page)")

        checks.append(_guarded(name, reader, probe_group))
    return checks


def source_groups(ctx: AppContext) -> list[tuple[str, str]]:
    """(subscription, resource group) of every source: the watched groups and those of VMs ppg-dr protects."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for group_id in ctx.settings.resource_groups:
        parts = group_id.strip("/").split("/")
        found.setdefault((parts[1].lower(), parts[3].lower()), (parts[1], parts[3]))
    for status in all_statuses(ctx.store):
        if status.state in (VmState.NOT_PROTECTED, VmState.REFUSED) or not status.resource_group or not status.subscription:
            continue
        key = (status.subscription.lower(), status.resource_group.lower())
        found.setdefault(key, (status.subscription, status.resource_group))
    return list(found.values())


def target_group_checks(ctx: AppContext, reader: Reader) -> list[Check]:
    """The recovery resource group of each source group exists: ppg-dr does not create resource groups."""
    checks: list[Check] = []
    seen: set[tuple[str, str]] = set()
    for subscription, source in source_groups(ctx):
        target = ctx.settings.target_resource_group_for(source)
        if (subscription.lower(), target.lower()) in seen:
            continue
        seen.add((subscription.lower(), target.lower()))
        name = f"recovery resource group {target}"

        def probe(sub: str = subscription, rg: str = target, label: str = name, src: str = source) -> Check:
            found = reader.resource_group(sub, rg)
            return Check(label, True, f"present in {found.location} (for {src})")

        checked = _guarded(name, reader, probe)
        if not checked.ok and "does not exist" in checked.detail:
            checked = Check(
                name,
                False,
                f"{target} (recovery resource group of {source}) does not exist",
                "add its source resource group to the infra parameter sourceResourceGroupIds (infra creates it and "
                "grants the roles; docs/deploy.md), or change PPGDR_TARGET_RESOURCE_GROUP",
            )
        checks.append(checked)
    return checks


def resource_checks(reader: Reader, expected: Iterable[Expected]) -> list[Check]:
    """Each named cache account and vnet exists, can be read, and is in the region it must be in."""
    checks: list[Check] = []
    for want in expected:

        def probe(w: Expected = want) -> Check:
            found = reader.resource(w.resource_id, w.api_version)
            where = str(found.location or "")
            if w.region and where and not _same_region(where, w.region):
                return Check(
                    w.name, False, f"{w.resource_id} is in {where}, not {w.region}", f"use one in {w.region}", w.required
                )
            return Check(w.name, True, f"{w.resource_id.rsplit('/', 1)[-1]} present in {where}")

        checked = _guarded(want.name, reader, probe, required=want.required)
        if not checked.ok and "does not exist" in checked.detail:
            checked = Check(want.name, False, f"{want.resource_id} does not exist", want.missing_fix, want.required)
        checks.append(checked)
    return checks


def run_preflight(ctx: AppContext, *, event_hours: int = DEFAULT_EVENT_HOURS, now: datetime | None = None) -> Preflight:
    """Every check, in the order an operator fixes things: settings, storage, vault, scopes, targets, resources, events."""
    settings = ctx.settings
    reader = Reader(ctx)
    checks = settings_checks(settings)
    state, deliveries = state_check(ctx)
    checks.append(state)
    checks.append(vault_check(ctx, reader))
    checks.extend(scope_checks(ctx, reader))
    if state.ok:
        checks.extend(target_group_checks(ctx, reader))
    expected, gaps = expected_resources(settings)
    checks.extend(gaps)
    checks.extend(resource_checks(reader, expected))
    if deliveries is not None:
        checks.append(event_check(deliveries, now or ctx.store.now(), event_hours))
    return Preflight(tuple(checks))


# ------------------------------------------------------------------------------------------------ once per start


@dataclass
class _Once:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: set[str] = field(default_factory=set)


_once = _Once()


def check_once(ctx: AppContext) -> Preflight | None:
    """The reconcile's check: the first call for this process's context runs the preflight and logs each miss as a
    warning and the summary at INFO; later calls do nothing. Never raises, never blocks the reconcile for long."""
    with _once.lock:
        if ctx.holder in _once.done:
            return None
        _once.done.add(ctx.holder)
    try:
        with span("ppgdr preflight", step="preflight") as traced:
            result = run_preflight(ctx)
            traced.set(checks=len(result.checks), failed=result.count("failed"), warnings=result.count("warning"))
    except Exception:
        log.exception("preflight could not run; the reconcile goes on", extra={"step": "preflight"})
        return None
    for check in result.checks:
        if not check.ok:
            log.warning(
                "preflight: %s %s: %s%s",
                check.status,
                check.name,
                check.detail,
                f" (fix: {check.fix})" if check.fix else "",
                extra={"step": "preflight", "check": check.name},
            )
    log.info("preflight: %s (details: ppgdr preflight)", result.summary, extra={"step": "preflight"})
    return result


# ------------------------------------------------------------------------------------------------ HTTP


def http_preflight(request: Request) -> Response:
    """``GET /api/preflight[?event_hours=N]``: the checklist as JSON (200 whatever it finds: ``ok`` says it)."""
    raw = request.query_params.get("event_hours", "")
    hours = int(raw) if raw.isdigit() and 0 < int(raw) < 10_000 else DEFAULT_EVENT_HOURS
    return JSONResponse(run_preflight(get_context(), event_hours=hours).to_data())
