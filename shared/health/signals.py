"""Health signals: the one vocabulary that alerts, health events and the decision engine share.

Azure reports trouble through several channels (Azure Monitor metric alerts, Resource Health alerts,
Service Health alerts, Resource Health events through Event Grid), each in its own shape and each
delivered at least once, late or not at all. The parsers (``shared.health.alerts``, ``shared.health.health_events``)
turn every channel into the same small :class:`Signal`, so the decision engine (``shared.failover.decisions``)
reasons about *what* was observed, never about payload shapes, and a duplicate delivery is recognisable
by its ``signal_id``.

Pure logic: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

# Untrusted text that ends up in reasons, details and logs is escaped and cut to this many characters.
SHOW_MAX = 120
# A timestamp string longer than this is not an ISO 8601 timestamp (and not worth parsing).
_TIMESTAMP_MAX = 64
# ARM region names: lower-case letters and digits ("westeurope", "eastus2", "usgovvirginia").
_REGION_RE = re.compile(r"[a-z][a-z0-9]{1,49}")
# Service Health names impact that is not one region; failing over cannot escape it.
NON_REGIONAL = frozenset({"global", "nonregional"})


class SignalKind(StrEnum):
    """What a signal says. The ``*_AVAILABLE`` / ``*_RESOLVED`` kinds clear the other two."""

    VM_UNAVAILABLE = "vm-unavailable"
    VM_AVAILABLE = "vm-available"
    REGION_INCIDENT = "region-incident"
    REGION_RESOLVED = "region-resolved"

    @property
    def is_vm(self) -> bool:
        """VM kinds carry a ``resource_id``; region kinds carry a ``region``."""
        return self in (SignalKind.VM_UNAVAILABLE, SignalKind.VM_AVAILABLE)


class SignalSource(StrEnum):
    """The channel a signal came through, kept for the audit trail (which evidence led to a decision)."""

    METRIC_ALERT = "metric-alert"
    RESOURCE_HEALTH_ALERT = "resource-health-alert"
    SERVICE_HEALTH_ALERT = "service-health-alert"
    RESOURCE_HEALTH_EVENT = "resource-health-event"


@dataclass(frozen=True)
class Signal:
    """One observation about one VM or one region, at one time.

    ``resource_id`` is the normalised (lower-case) VM id for VM kinds and None for region kinds;
    ``region`` is the ARM region name (``westeurope``) for region kinds and None for VM kinds.
    ``signal_id`` is stable across redeliveries of the same alert or event (alert id / event id plus
    the monitor condition), so storing signals by id de-duplicates them. ``detail`` is short,
    log-safe text for people.
    """

    kind: SignalKind
    source: SignalSource
    resource_id: str | None
    region: str | None
    observed_at: datetime
    signal_id: str
    detail: str = ""
    # What this signal opens or clears: the alert id (an alert's Resolved clears its Fired) or the Service Health
    # tracking id; "" when the channel names nothing (a Resource Health event).
    origin: str = ""
    # When ppg-dr first saw it (set on ingest): the sender's time is a claim, this one is ppg-dr's own.
    received_at: datetime | None = None

    @property
    def seen_at(self) -> datetime:
        """When ppg-dr knows the signal existed: its receipt, or (not received yet, e.g. in tests) its own time."""
        return self.received_at or self.observed_at

    def __post_init__(self) -> None:
        # Naive datetimes cannot be compared with aware ones; refuse them here rather than fail
        # later, in the middle of a decision.
        if self.observed_at.tzinfo is None or self.observed_at.utcoffset() is None:
            raise ValueError("Signal.observed_at must be timezone-aware (UTC)")
        if not self.signal_id:
            raise ValueError("Signal.signal_id must not be empty")


@dataclass(frozen=True)
class Rejection:
    """Why a payload was refused. ``reason`` is safe to log and to return to the sender."""

    reason: str
    status_code: int = 400


def show(value: object, limit: int = SHOW_MAX) -> str:
    """Quote untrusted text for reasons and logs: escaped (``ascii``), cut to ``limit`` characters.

    Payloads come from the internet; a reason that echoes them must not be able to forge log lines
    (newlines, control characters) or flood the log (megabyte strings).
    """
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "..."
        return ascii(text)
    if value is None or isinstance(value, bool | int | float):
        return ascii(value)
    return f"<{type(value).__name__}>"


def clean_text(value: object, limit: int = SHOW_MAX) -> str:
    """Human text from a payload (a title, a state) made log-safe without quotes: printable ASCII, cut."""
    if not isinstance(value, str):
        return ""
    text = value[: limit * 4]
    printable = "".join(c if " " <= c <= "~" else "?" for c in text)
    collapsed = " ".join(printable.split())
    return collapsed if len(collapsed) <= limit else collapsed[:limit] + "..."


def normalize_region(value: object) -> str | None:
    """ARM region name from a name or a display name: ``"West Europe"`` -> ``"westeurope"``.

    Service Health speaks display names, ARM and settings speak names; comparing the two needs one
    spelling. Returns None for anything that cannot be a region name.
    """
    if not isinstance(value, str) or len(value) > 100:
        return None
    name = "".join(value.split()).lower()
    return name if _REGION_RE.fullmatch(name) else None


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 timestamp from a payload, as an aware UTC datetime; None when it does not parse.

    Azure writes up to seven fractional digits and ``Z``; Python 3.11's ``fromisoformat`` accepts
    both. A timestamp without an offset is taken as UTC (Azure timestamps are UTC).
    """
    if not isinstance(value, str) or not value or len(value) > _TIMESTAMP_MAX:
        return None
    if not value[:4].isdigit() or any(not (" " < c <= "~") for c in value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def is_user_initiated(properties: Mapping[str, object]) -> bool:
    """True when Resource Health says a user (not the platform) made the VM unavailable.

    Stopping, deallocating or restarting VMs is routine (nightly shutdowns, patching, resizing); a
    group whose VMs are stopped on purpose is not an outage, and failing it over would be a disaster
    of our own making. Resource Health names the cause in ``cause`` (activity log alerts),
    ``reasonType`` / ``healthEventCause`` or ``context`` (availability statuses).
    """
    for key in ("cause", "reasonType", "healthEventCause"):
        value = properties.get(key)
        if isinstance(value, str) and value.strip().lower() == "userinitiated":
            return True
    context = properties.get("context")
    return isinstance(context, str) and context.strip().lower() in ("customer initiated", "customerinitiated", "user initiated")
