"""The tag contract: what an operator asks for by tagging a VM (or its resource group).

Tags are the only desired-state input an operator writes by hand, so this module is strict and
explains itself: every problem in a tag set is reported at once (which tag, which value, what is
allowed), and a tag set with any problem yields *no* intent at all. Acting on half of an operator's
request (say, protecting a VM but into the wrong PPG) is worse than acting on none of it and saying why.

Pure logic: no I/O, no Azure SDK. The planner turns a :class:`TagIntent` plus observed state into
actions; ``docs/tags.md`` is the operator-facing copy of this contract.

Resource ids in tag values go through the app's one strict parser (``shared.arm.ids``), then a few
stricter checks that fit a value an operator typed (subscription is a GUID, resource group and resource
names follow Azure's naming rules, no ``..`` anywhere).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from shared.arm.ids import CAPACITY_RESERVATION_GROUPS, PROXIMITY_PLACEMENT_GROUPS, parse_resource_id
from shared.arm.names import (
    COMPUTE_NAME_RE,
    COMPUTE_NAME_RULES,
    GROUP_NAME_MAX,
    GROUP_NAME_RE,
    GUID_RE,
    RESOURCE_GROUP_NAME_RE,
    fit_group_name,
)
from shared.protection.drill_schedule import ScheduleError, parse_schedule
from shared.settings import parse_probes

TAG_PREFIX = "ppgdr-"

TAG_PROTECT = "ppgdr-protect"
TAG_TARGET_PPG = "ppgdr-target-ppg"
TAG_GROUP = "ppgdr-group"
TAG_TARGET_ZONE = "ppgdr-target-zone"
TAG_CAPACITY_RESERVATION = "ppgdr-capacity-reservation"
TAG_CONSISTENCY = "ppgdr-consistency"
TAG_FAILOVER = "ppgdr-failover"
TAG_BOOT_ORDER = "ppgdr-boot-order"
TAG_DRILL = "ppgdr-drill"
TAG_RTO = "ppgdr-rto-minutes"
TAG_RPO = "ppgdr-rpo-minutes"
TAG_DRILL_PROBE = "ppgdr-drill-probe"

KNOWN_TAGS: tuple[str, ...] = (
    TAG_PROTECT,
    TAG_TARGET_PPG,
    TAG_GROUP,
    TAG_TARGET_ZONE,
    TAG_CAPACITY_RESERVATION,
    TAG_CONSISTENCY,
    TAG_FAILOVER,
    TAG_BOOT_ORDER,
    TAG_DRILL,
    TAG_RTO,
    TAG_RPO,
    TAG_DRILL_PROBE,
)

SOURCE_VM = "vm"
SOURCE_RESOURCE_GROUP = "resource-group"

PPG_RESOURCE_TYPE = PROXIMITY_PLACEMENT_GROUPS
CAPACITY_RESERVATION_GROUP_RESOURCE_TYPE = CAPACITY_RESERVATION_GROUPS

# ASR puts at most 16 VMs in one multi-VM consistency (replication) group.
MULTI_VM_CONSISTENCY_LIMIT = 16

BOOT_ORDER_MAX = 99
TARGET_MINUTES_MAX = 10080  # a week: an RTO or RPO target beyond that is a typo
TARGET_ZONES: tuple[str, ...] = ("1", "2", "3")

_BOOT_ORDER_RE = re.compile(r"[0-9]{1,6}")

_SHOW_MAX = 80


class ProtectMode(StrEnum):
    """``ppgdr-protect``. UNSET is not "off": a VM that loses the tag keeps its protection (drift)."""

    PROTECT = "true"
    UNPROTECT = "false"
    UNSET = "unset"


class FailoverMode(StrEnum):
    """``ppgdr-failover``: whether health signals may fail the group over, and who decides."""

    OFF = "off"
    APPROVE = "approve"
    AUTO = "auto"


class Consistency(StrEnum):
    """``ppgdr-consistency``: crash/app consistency per VM, or across the group (ASR: max 16 VMs)."""

    SINGLE = "single"
    MULTI_VM = "multi-vm"


class TargetPpgKind(StrEnum):
    """How ``ppgdr-target-ppg`` names the PPG the VM fails over into."""

    AUTO = "auto"
    NAME = "name"
    RESOURCE_ID = "id"
    NONE = "none"


@dataclass(frozen=True)
class TargetPpg:
    """The target PPG: ``value`` is the name (NAME) or the canonical resource id (RESOURCE_ID), else None."""

    kind: TargetPpgKind
    value: str | None = None


@dataclass(frozen=True)
class TagIntent:
    """What the tags ask for, validated, with defaults applied where the tag was absent.

    ``group`` is None when the default applies (see :func:`default_group`): the source PPG's name is
    observed state, not something a tag parser can know. ``sources`` maps each tag that was set to
    where its effective value came from (``vm`` or ``resource-group``); a tag missing from it took its
    default. It is kept out of the hash (a dict is not hashable) but is part of equality.
    """

    protect: ProtectMode = ProtectMode.UNSET
    target_ppg: TargetPpg = field(default_factory=lambda: TargetPpg(TargetPpgKind.AUTO))
    group: str | None = None
    target_zone: str | None = None
    capacity_reservation: str | None = None
    consistency: Consistency = Consistency.SINGLE
    failover: FailoverMode = FailoverMode.APPROVE
    boot_order: int | None = None
    drill: str | None = None  # the drill schedule; None: PPGDR_DRILL_SCHEDULE
    rto_minutes: int | None = None
    rpo_minutes: int | None = None
    drill_probes: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict, hash=False)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagProblem:
    """One invalid tag: which tag, the value found, and why it is refused (including what is allowed)."""

    tag: str
    value: str
    reason: str
    source: str = SOURCE_VM

    def __str__(self) -> str:
        where = "the resource group" if self.source == SOURCE_RESOURCE_GROUP else "the VM"
        end = "" if self.reason.endswith((".", "?")) else "."
        return f"Tag {self.tag} on {where} has value {_show(self.value)}, which is refused: {self.reason}{end}"


@dataclass(frozen=True)
class TagParseResult:
    """Either an intent (no problems) or the full list of problems (no intent); warnings either way."""

    intent: TagIntent | None
    problems: tuple[TagProblem, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the tags were valid and ``intent`` can be acted on."""
        return self.intent is not None and not self.problems


# --------------------------------------------------------------------------------------------------
# Tags


def effective_tags(vm_tags: Mapping[str, str] | None, rg_tags: Mapping[str, str] | None) -> dict[str, tuple[str, str]]:
    """Merge resource group and VM tags into ``{lower-cased ppgdr-* key: (trimmed value, source)}``.

    Azure tag keys are case-insensitive, so ``PPGDR-Protect`` is ``ppgdr-protect``. The VM's own tag
    wins per key; a resource group tag fills in what the VM does not say. Keys outside the ``ppgdr-``
    prefix are dropped. If one mapping spells a key twice with different values (Azure itself refuses
    that, but a hand-built mapping may not), the pick is deterministic; :func:`parse_tags` reports it.
    """
    merged: dict[str, tuple[str, str]] = {}
    for source, tags in ((SOURCE_RESOURCE_GROUP, rg_tags), (SOURCE_VM, vm_tags)):
        folded, _ = _fold(tags)
        for key, value in folded.items():
            merged[key] = (value, source)
    return merged


def parse_tags(vm_tags: Mapping[str, str] | None, rg_tags: Mapping[str, str] | None = None) -> TagParseResult:
    """Validate the effective ppgdr-* tags of a VM and turn them into a :class:`TagIntent`.

    Never raises on any ``str -> str`` mapping: hostile or broken input becomes problems. Every
    problem is collected (not only the first) and any problem means ``intent`` is None, so nothing is
    half-done. Unknown ``ppgdr-*`` keys and near-miss spellings are warnings, not errors: a typo must
    not block a VM's other, valid settings, but the operator must hear about it.
    """
    vm_folded, vm_conflicts = _fold(vm_tags)
    _, rg_conflicts = _fold(rg_tags)
    tags = effective_tags(vm_tags, rg_tags)

    problems: list[TagProblem] = []
    warnings: list[str] = []

    for key, (value, source) in tags.items():
        if key not in KNOWN_TAGS:
            continue
        conflicts = (vm_conflicts if source == SOURCE_VM else rg_conflicts).get(key)
        if conflicts:
            shown = ", ".join(_show(v) for v in conflicts)
            problems.append(
                TagProblem(
                    key,
                    value,
                    f"the key is set more than once (in different letter case) with different values ({shown}); keep exactly one",
                    source,
                )
            )

    for key in sorted(tags):
        if key not in KNOWN_TAGS:
            warnings.append(_unknown_key_warning(key, tags[key][1]))
    for source, raw in ((SOURCE_RESOURCE_GROUP, rg_tags), (SOURCE_VM, vm_tags)):
        warnings.extend(_near_miss_warnings(raw, source))

    def problem(key: str, reason: str) -> None:
        value, source = tags[key]
        if not value:
            reason = f"the value is empty (remove the tag to use the default); {reason}"
        problems.append(TagProblem(key, value, reason, source))

    protect = ProtectMode.UNSET
    if (entry := tags.get(TAG_PROTECT)) is not None:
        parsed_protect = _parse_choice(entry[0], (ProtectMode.PROTECT, ProtectMode.UNPROTECT))
        if parsed_protect is None:
            problem(TAG_PROTECT, _choice_reason(entry[0], ("true", "false")))
        else:
            protect = ProtectMode(parsed_protect)

    target_ppg = TargetPpg(TargetPpgKind.AUTO)
    if (entry := tags.get(TAG_TARGET_PPG)) is not None:
        parsed_ppg, reason = _parse_target_ppg(entry[0])
        if parsed_ppg is None:
            problem(TAG_TARGET_PPG, reason)
        else:
            target_ppg = parsed_ppg

    group: str | None = None
    if (entry := tags.get(TAG_GROUP)) is not None:
        if GROUP_NAME_RE.fullmatch(entry[0]):
            group = entry[0]
        else:
            problem(TAG_GROUP, f"a group name is 1-{GROUP_NAME_MAX} characters of letters, digits, hyphen, underscore and period")

    target_zone: str | None = None
    if (entry := tags.get(TAG_TARGET_ZONE)) is not None:
        if entry[0] in TARGET_ZONES:
            target_zone = entry[0]
        else:
            problem(TAG_TARGET_ZONE, "the recovery availability zone must be 1, 2 or 3")

    capacity_reservation: str | None = None
    if (entry := tags.get(TAG_CAPACITY_RESERVATION)) is not None:
        capacity_reservation, reason = _parse_name_or_id(
            entry[0], CAPACITY_RESERVATION_GROUP_RESOURCE_TYPE, "capacity reservation group"
        )
        if capacity_reservation is None:
            problem(TAG_CAPACITY_RESERVATION, reason)

    consistency = Consistency.SINGLE
    if (entry := tags.get(TAG_CONSISTENCY)) is not None:
        parsed_consistency = _parse_choice(entry[0], tuple(Consistency))
        if parsed_consistency is None:
            problem(TAG_CONSISTENCY, _choice_reason(entry[0], tuple(Consistency)))
        else:
            consistency = Consistency(parsed_consistency)

    failover = FailoverMode.APPROVE
    if (entry := tags.get(TAG_FAILOVER)) is not None:
        parsed_failover = _parse_choice(entry[0], tuple(FailoverMode))
        if parsed_failover is None:
            problem(TAG_FAILOVER, _choice_reason(entry[0], tuple(FailoverMode)))
        else:
            failover = FailoverMode(parsed_failover)

    boot_order: int | None = None
    if (entry := tags.get(TAG_BOOT_ORDER)) is not None:
        if _BOOT_ORDER_RE.fullmatch(entry[0]) and int(entry[0]) <= BOOT_ORDER_MAX:
            boot_order = int(entry[0])
        else:
            problem(TAG_BOOT_ORDER, f"the boot order must be a whole number from 0 to {BOOT_ORDER_MAX}")

    drill: str | None = None
    if (entry := tags.get(TAG_DRILL)) is not None:
        try:
            drill = parse_schedule(entry[0])
        except ScheduleError as exc:
            problem(TAG_DRILL, str(exc))

    targets: dict[str, int | None] = {TAG_RTO: None, TAG_RPO: None}
    for key in targets:
        if (entry := tags.get(key)) is not None:
            if _BOOT_ORDER_RE.fullmatch(entry[0]) and 1 <= int(entry[0]) <= TARGET_MINUTES_MAX:
                targets[key] = int(entry[0])
            else:
                problem(key, f"the target must be a whole number of minutes from 1 to {TARGET_MINUTES_MAX}")

    drill_probes: tuple[str, ...] = ()
    if (entry := tags.get(TAG_DRILL_PROBE)) is not None:
        try:
            drill_probes = parse_probes(entry[0].replace(";", ","))
        except ValueError:
            drill_probes = ()
        if not drill_probes:
            problem(
                TAG_DRILL_PROBE,
                "give host:port endpoints (a host name or IP address and a port 1-65535), several separated by ';', "
                "e.g. app-db:5432;app-web:443",
            )

    if TAG_PROTECT not in tags:
        vm_settings = sorted(k for k in vm_folded if k in KNOWN_TAGS and k != TAG_PROTECT)
        if vm_settings:
            warnings.append(
                f"The VM has {', '.join(vm_settings)} but no {TAG_PROTECT} tag: these settings take effect "
                f"once {TAG_PROTECT}=true (a VM that is already protected stays protected and is reported as drift)."
            )

    if problems:
        return TagParseResult(intent=None, problems=tuple(problems), warnings=tuple(warnings))
    intent = TagIntent(
        protect=protect,
        target_ppg=target_ppg,
        group=group,
        target_zone=target_zone,
        capacity_reservation=capacity_reservation,
        consistency=consistency,
        failover=failover,
        boot_order=boot_order,
        drill=drill,
        rto_minutes=targets[TAG_RTO],
        rpo_minutes=targets[TAG_RPO],
        drill_probes=drill_probes,
        sources={key: source for key, (_, source) in tags.items() if key in KNOWN_TAGS},
        warnings=tuple(warnings),
    )
    return TagParseResult(intent=intent, problems=(), warnings=tuple(warnings))


# --------------------------------------------------------------------------------------------------
# Names derived from tags and observed state


def default_group(intent: TagIntent, source_ppg_name: str | None, vm_name: str) -> str:
    """The VM's DR group: the ``ppgdr-group`` tag, else the source PPG's name, else the VM's own name.

    PPG and VM names may be longer than a group name allows (80 and 64 characters against 63) or, for
    Linux VM names, hold other characters; they are made valid deterministically (other characters
    become ``-``, overlong names are shortened with a stable hash), so every member of a PPG lands in
    the same group however many times this runs.
    """
    if intent.group:
        return intent.group
    base = source_ppg_name.strip() if source_ppg_name and source_ppg_name.strip() else vm_name.strip()
    if not base:
        raise ValueError("a VM without a name has no default group")
    return fit_group_name(base)


def check_multi_vm_group_size(group: str, member_count: int, limit: int = MULTI_VM_CONSISTENCY_LIMIT) -> str | None:
    """None when ``member_count`` VMs fit one multi-VM consistency group, else the reason it is refused.

    ASR refuses a replication group of more than 16 VMs; better to say so before enabling replication
    than to have half a group protected.
    """
    if member_count < 0:
        raise ValueError(f"member_count must not be negative, got {member_count}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if member_count <= limit:
        return None
    return (
        f"Group {group!r} has {member_count} VMs with {TAG_CONSISTENCY}=multi-vm, more than the {limit} that Azure "
        f"Site Recovery allows in one multi-VM consistency group. Split it with {TAG_GROUP} into groups of at most "
        f"{limit} VMs, or set {TAG_CONSISTENCY}=single."
    )


# --------------------------------------------------------------------------------------------------
# Helpers


def _fold(tags: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Lower-case and trim ppgdr-* keys, trim values; report keys spelled twice with different values.

    Values that differ only in letter case are not a conflict: every tag value is case-insensitive
    (enumerations, and Azure resource names).

    The winner among duplicates is the spelling that sorts first (``ppgdr-x`` before ``PPGDR-X`` is not
    guaranteed by insertion order, so sort), which keeps the result independent of dict order.
    """
    spellings: dict[str, list[tuple[str, str]]] = {}
    if not tags:
        return {}, {}
    for raw_key, raw_value in tags.items():
        if not isinstance(raw_key, str):
            continue
        key = raw_key.strip().lower()
        if not key.startswith(TAG_PREFIX):
            continue
        value = raw_value.strip() if isinstance(raw_value, str) else ("" if raw_value is None else str(raw_value))
        spellings.setdefault(key, []).append((raw_key, value))
    folded: dict[str, str] = {}
    conflicts: dict[str, tuple[str, ...]] = {}
    for key, entries in spellings.items():
        entries.sort()
        folded[key] = entries[0][1]
        values = tuple(sorted({value for _, value in entries}))
        if len({value.lower() for value in values}) > 1:
            conflicts[key] = values
    return folded, conflicts


def _parse_choice(value: str, allowed: tuple[str, ...]) -> str | None:
    lowered = value.lower()
    return lowered if lowered in allowed else None


def _choice_reason(value: str, allowed: tuple[str, ...]) -> str:
    reason = "allowed values are " + ", ".join(allowed) + " (any letter case)"
    suggestion = difflib.get_close_matches(value.lower()[:100], allowed, n=1, cutoff=0.6)
    if suggestion:
        reason += f"; did you mean {suggestion[0]}?"
    return reason


def _parse_target_ppg(value: str) -> tuple[TargetPpg | None, str]:
    lowered = value.lower()
    if lowered == TargetPpgKind.AUTO:
        return TargetPpg(TargetPpgKind.AUTO), ""
    if lowered == TargetPpgKind.NONE:
        return TargetPpg(TargetPpgKind.NONE), ""
    parsed, reason = _parse_name_or_id(value, PPG_RESOURCE_TYPE, "proximity placement group")
    if parsed is None:
        return None, reason + "; or use auto (create <source-ppg>-asr) or none (no target PPG)"
    kind = TargetPpgKind.RESOURCE_ID if parsed.startswith("/") else TargetPpgKind.NAME
    return TargetPpg(kind, parsed), ""


def _parse_name_or_id(value: str, resource_type: str, what: str) -> tuple[str | None, str]:
    """A compute resource name (in the target resource group) or a full id of ``resource_type``.

    Returns the name, or the id in canonical form (fixed segments in ARM's casing), and an empty
    reason; or None and the reason.
    """
    provider, _, type_ = resource_type.partition("/")
    id_form = f"/subscriptions/{{subscription-guid}}/resourceGroups/{{rg}}/providers/{provider}/{type_}/{{name}}"
    if value.startswith("/"):
        parsed = parse_resource_id(value) if ".." not in value else None
        if parsed is None or parsed.resource_group is None or not parsed.names:
            return None, f"not a valid resource id; a {what} id has the form {id_form}"
        if not parsed.is_type(resource_type):
            shown_type = "/".join([parsed.namespace or "", *parsed.types])
            return None, f"the id is of type {shown_type}, not {resource_type}"
        if not GUID_RE.fullmatch(parsed.subscription):
            return None, "the subscription in the id is not a subscription id (a GUID)"
        if not RESOURCE_GROUP_NAME_RE.fullmatch(parsed.resource_group):
            return None, (
                "the resource group in the id breaks Azure's naming rules (1-90 characters of letters, digits, "
                "underscore, parentheses, hyphen and period, not ending with a period)"
            )
        if not COMPUTE_NAME_RE.fullmatch(parsed.name):
            return None, f"the {what} name in the id breaks Azure's naming rules ({COMPUTE_NAME_RULES})"
        return str(parsed), ""
    if COMPUTE_NAME_RE.fullmatch(value):
        return value, ""
    return None, f"a {what} name in the target resource group has {COMPUTE_NAME_RULES}, or give its full id {id_form}"


def _unknown_key_warning(key: str, source: str) -> str:
    where = "the resource group" if source == SOURCE_RESOURCE_GROUP else "the VM"
    message = f"Unknown tag {_show(key)} on {where} is ignored"
    suggestion = difflib.get_close_matches(key[:100], KNOWN_TAGS, n=1, cutoff=0.6)
    if suggestion:
        message += f"; did you mean {suggestion[0]}?"
    return message if suggestion else message + "."


def _near_miss_warnings(tags: Mapping[str, str] | None, source: str) -> list[str]:
    """Keys without the exact prefix that look like ours (``ppgdr_protect``, ``ppg-dr-protect``).

    Silently ignoring those would leave a VM the operator meant to protect unprotected.
    """
    if not tags:
        return []
    where = "the resource group" if source == SOURCE_RESOURCE_GROUP else "the VM"
    found: list[str] = []
    for raw_key in sorted(k for k in tags if isinstance(k, str)):
        key = raw_key.strip().lower()
        if key.startswith(TAG_PREFIX) or len(key) > 100:
            continue
        suggestion = difflib.get_close_matches(key, KNOWN_TAGS, n=1, cutoff=0.85)
        if suggestion:
            found.append(
                f"Tag {_show(raw_key)} on {where} is ignored: ppg-dr only reads keys starting with "
                f"{TAG_PREFIX!r}; did you mean {suggestion[0]}?"
            )
    return found


def _show(value: str) -> str:
    """Quote a value for messages and logs: escape control and non-ASCII characters, cap the length."""
    shown = value if len(value) <= _SHOW_MAX else value[:_SHOW_MAX] + "..."
    return ascii(shown)
