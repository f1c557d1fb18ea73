"""Strict parsing of ARM resource ids from untrusted input (events, alerts, tags, API calls).

Resource ids reach ppg-dr from Event Grid, alert webhooks and tag values: anyone who can write a tag
or forge a payload chooses them. Only well-formed ids of the expected shape are accepted; anything
else (path tricks, encoded separators, control characters, query strings, absurd lengths) is refused
before it can become a URL the SDK calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.arm.keys import arm_key, normalize_arm_id

MAX_ID_LENGTH = 1024
# ARM names: no '/', no control characters, no characters ARM forbids in names of the types we use.
_NAME = r"[A-Za-z0-9_.()\-]{1,260}"
_SEGMENT = re.compile(rf"^{_NAME}$")
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$")
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


@dataclass(frozen=True, eq=False)
class ResourceId:
    """A parsed ARM id: ``/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{child}/{name}...]``.

    Parsed once where an id enters ppg-dr (an event, an alert, a tag, an SDK response) and passed on as
    this type: ARM ids are case-insensitive, so two ids are equal (and hash alike) whatever their
    spelling, and :attr:`key` is the one Table key of the resource. ``str()`` keeps the spelling Azure
    used, which is what is shown to people and sent back to Azure.
    """

    subscription: str
    resource_group: str | None
    namespace: str | None
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.names[-1] if self.names else (self.resource_group or self.subscription)

    @property
    def type(self) -> str:
        """Full type, e.g. ``microsoft.compute/virtualmachines`` (lower case)."""
        if not self.namespace:
            return "microsoft.resources/resourcegroups" if self.resource_group else "microsoft.resources/subscriptions"
        return "/".join([self.namespace, *self.types]).lower()

    def is_type(self, full_type: str) -> bool:
        return self.type == full_type.lower()

    @property
    def normalized(self) -> str:
        """The one spelling of the id: lower case (see :func:`shared.arm.keys.normalize_arm_id`)."""
        return normalize_arm_id(str(self))

    @property
    def key(self) -> str:
        """The resource's Table key (normalised, then encoded)."""
        return arm_key(str(self))

    @property
    def resource_group_id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceId) and self.normalized == other.normalized

    def __hash__(self) -> int:
        return hash(self.normalized)

    def __str__(self) -> str:
        parts = [f"/subscriptions/{self.subscription}"]
        if self.resource_group:
            parts.append(f"/resourceGroups/{self.resource_group}")
        if self.namespace:
            parts.append(f"/providers/{self.namespace}")
            for type_, name in zip(self.types, self.names, strict=True):
                parts.append(f"/{type_}/{name}")
        return "".join(parts)


def parse_resource_id(value: object) -> ResourceId | None:
    """Parse an ARM id, or ``None`` when it is not one (never raises on any input)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or any(c in value for c in "?#%\\ "):
        return None
    if not value.startswith("/") or "//" in value or value.endswith("/"):
        return None
    segments = value[1:].split("/")
    if any(seg in {"", ".", ".."} for seg in segments):
        return None
    if len(segments) < 2 or segments[0].lower() != "subscriptions" or not _SEGMENT.match(segments[1]):
        return None
    subscription = segments[1]
    rest = segments[2:]
    if not rest:
        return ResourceId(subscription, None, None, (), ())
    if len(rest) < 2 or rest[0].lower() != "resourcegroups" or not _SEGMENT.match(rest[1]):
        return None
    resource_group = rest[1]
    rest = rest[2:]
    if not rest:
        return ResourceId(subscription, resource_group, None, (), ())
    if len(rest) < 4 or rest[0].lower() != "providers" or not _NAMESPACE.match(rest[1]):
        return None
    namespace = rest[1]
    pairs = rest[2:]
    if len(pairs) % 2:
        return None
    types = tuple(pairs[0::2])
    names = tuple(pairs[1::2])
    if not all(_TYPE.match(t) for t in types) or not all(_SEGMENT.match(n) for n in names):
        return None
    return ResourceId(subscription, resource_group, namespace, types, names)


def parse_typed_id(value: object, full_type: str) -> ResourceId | None:
    """Parse an id and require one resource type (e.g. ``Microsoft.Compute/virtualMachines``)."""
    parsed = parse_resource_id(value)
    return parsed if parsed is not None and parsed.is_type(full_type) else None


VIRTUAL_MACHINES = "Microsoft.Compute/virtualMachines"
PROXIMITY_PLACEMENT_GROUPS = "Microsoft.Compute/proximityPlacementGroups"
AVAILABILITY_SETS = "Microsoft.Compute/availabilitySets"
CAPACITY_RESERVATION_GROUPS = "Microsoft.Compute/capacityReservationGroups"


def compute_id(subscription: str, resource_group: str, type_name: str, name: str) -> str:
    """Build a Microsoft.Compute id (``type_name`` like ``proximityPlacementGroups``)."""
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute/{type_name}/{name}"


def same_id(a: str | ResourceId | None, b: str | ResourceId | None) -> bool:
    """Whether two ids (either may be absent, any spelling) name the same resource."""
    return normalize_arm_id(str(a or "")) == normalize_arm_id(str(b or ""))


def segment_after(resource_id: str, segment: str) -> str:
    """The path segment after ``segment`` (case-insensitive), e.g. the fabric of an ASR item id; ``""`` if absent."""
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    try:
        return parts[lowered.index(segment.lower()) + 1]
    except (ValueError, IndexError):
        return ""


def vm_ref(value: str) -> ResourceId:
    """A virtual machine id from a trusted source (Azure, ppg-dr's own records); ValueError when it is not one."""
    parsed = parse_typed_id(value, VIRTUAL_MACHINES)
    if parsed is None or parsed.resource_group is None:
        raise ValueError(f"not a virtual machine id: {value[:300]!r}")
    return parsed
