"""Placement rules for VMware (``InMageRcm``) and Hyper-V (``HyperVReplicaAzure``) protected items.

On-premises machines carry no Azure tags, so ppg-dr cannot read their intent from tags the way it does
for Azure VMs. An operator stores **placement rules** instead (Table storage, managed with
``ppgdr rules``): a rule selects items (provider, friendly-name glob, source fabric) and names their
target PPG and, optionally, their recovery VM size and network.

ASR lets a target PPG be set for these providers only *after* replication is enabled, through the
provider's update input (the portal's "Compute and Network" edit), and it does not create the PPG:
"Make sure that you separately create the proximity placement group in the target region". So the
reconcile, for each protected item a rule matches and whose settings differ:

1. ensures the target PPG (GET, then PUT only when missing), in the item's target resource group and
   recovery region, with the ownership tag of every target resource ppg-dr creates;
2. starts ``replication_protected_items.begin_update`` with the provider's input, journaled like every
   other Azure write; the pulse timer follows the job.

Items already in line cost no write at all. The rule model and the planning (:func:`plan_rule_updates`)
are pure and live here; storing rules, reading items and starting updates are in
:mod:`shared.protection.placement_updates`.

:func:`refuse_hyperv_failback` carries the documented limit for the failover workflow: failback from a
PPG in Azure to Hyper-V is not supported.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from shared.arm.ids import PROXIMITY_PLACEMENT_GROUPS, compute_id, parse_resource_id, parse_typed_id, same_id
from shared.arm.names import COMPUTE_NAME_RE, RESOURCE_GROUP_NAME_RE
from shared.platform.observed import attr, item_from_sdk, text
from shared.protection.planner import TargetPpgPlan

log = logging.getLogger(__name__)

INMAGE_RCM = "InMageRcm"
HYPERV_AZURE = "HyperVReplicaAzure"
PROVIDERS = (INMAGE_RCM, HYPERV_AZURE)
ANY_PROVIDER = "any"

#: Partition of the rules table that holds placement rules (one row per rule, keyed by its name).
PARTITION = "placement"
#: Journal operation of a rule-driven item update.
OPERATION = "placement-rule-update"
#: Action name in the reconcile report for an update started (and for one refused).
ACTION = "placement-rule"
ACTION_REFUSED = "placement-rule-refused"
#: An identical update that failed is not sent again before this has passed (no hammering Azure).
RETRY_FAILED_AFTER = timedelta(hours=1)

VIRTUAL_NETWORKS = "Microsoft.Network/virtualNetworks"

_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_FABRIC_NAME = re.compile(r"[A-Za-z0-9_.() -]{1,260}")
_GLOB_MAX = 260
_VM_SIZE = re.compile(r"Standard_[A-Za-z0-9_]+")
_VM_SIZE_MAX = 64
_REGION = re.compile(r"[a-z][a-z0-9]{2,40}")

#: The reference article, word for word (``asr-replicate-vms-in-proximity-placement-groups.md``).
DOCUMENTED_HYPERV_FAILBACK_LIMIT = (
    "Azure Site Recovery does not support failback from managed disks for scenarios of moving from Hyper-V to Azure. "
    "Failback from proximity placement groups in Azure to Hyper-V is not supported."
)
#: The reference article's rule for A2A, which ASR enforces for every provider.
DOCUMENTED_SAME_RESOURCE_GROUP = "Ensure that the target PPG and the target virtual machine are in the same resource group."


class RuleError(ValueError):
    """A placement rule was refused; the message lists every problem and how to fix it."""


# ---------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class RuleMatch:
    """Which items a rule selects: every given selector must match (case-insensitive)."""

    provider: str = ANY_PROVIDER
    name_glob: str = "*"
    fabric: str | None = None

    def matches(self, provider: str, friendly_name: str, fabric: str) -> bool:
        if self.provider != ANY_PROVIDER and provider.lower() != self.provider.lower():
            return False
        if provider not in PROVIDERS:
            return False
        if self.fabric is not None and fabric.lower() != self.fabric.lower():
            return False
        return fnmatch.fnmatchcase(friendly_name.lower(), self.name_glob.lower())


@dataclass(frozen=True)
class PlacementRule:
    """A stored rule: a selector and the placement it gives the items it selects."""

    name: str
    match: RuleMatch
    target_ppg: str  # a PPG name (in the target resource group) or a full PPG id, canonical casing
    target_resource_group: str | None = None
    vm_size: str | None = None
    network_id: str | None = None

    @property
    def ppg_is_id(self) -> bool:
        return self.target_ppg.startswith("/")

    def to_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "match": {"provider": self.match.provider, "name_glob": self.match.name_glob, "fabric": self.match.fabric},
            "target": {
                "ppg": self.target_ppg,
                "resource_group": self.target_resource_group,
                "vm_size": self.vm_size,
                "network_id": self.network_id,
            },
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> PlacementRule:
        """Rebuild (and re-validate) a stored rule; raises :class:`RuleError` for a damaged record."""
        match = data.get("match") or {}
        target = data.get("target") or {}
        return make_rule(
            str(data.get("name", "")),
            provider=match.get("provider") or ANY_PROVIDER,
            match_name=match.get("name_glob") or "*",
            match_fabric=match.get("fabric"),
            target_ppg=str(target.get("ppg") or ""),
            target_resource_group=target.get("resource_group"),
            vm_size=target.get("vm_size"),
            network_id=target.get("network_id"),
        )

    def describe(self) -> str:
        selector = [f"provider={self.match.provider}", f"name={self.match.name_glob}"]
        if self.match.fabric:
            selector.append(f"fabric={self.match.fabric}")
        target = [f"ppg={self.target_ppg}"]
        if self.target_resource_group:
            target.append(f"resource-group={self.target_resource_group}")
        if self.vm_size:
            target.append(f"size={self.vm_size}")
        if self.network_id:
            target.append(f"network={self.network_id}")
        return f"{' '.join(selector)} -> {' '.join(target)}"


def make_rule(
    name: str,
    *,
    provider: str = ANY_PROVIDER,
    match_name: str = "*",
    match_fabric: str | None = None,
    target_ppg: str,
    target_resource_group: str | None = None,
    vm_size: str | None = None,
    network_id: str | None = None,
) -> PlacementRule:
    """Validate operator input strictly and build a rule; :class:`RuleError` lists every problem."""
    problems: list[str] = []
    name = name.strip()
    if not _RULE_NAME.fullmatch(name):
        problems.append(f"rule name {name!r}: use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit")

    canonical_provider = {p.lower(): p for p in (*PROVIDERS, ANY_PROVIDER)}.get(provider.strip().lower())
    if canonical_provider is None:
        problems.append(f"provider {provider!r}: use {', '.join(PROVIDERS)} or {ANY_PROVIDER}")

    glob = match_name.strip()
    if not glob or len(glob) > _GLOB_MAX or any(ord(c) < 0x20 or ord(c) == 0x7F for c in glob):
        problems.append(f"--match-name {match_name!r}: give a glob of 1-{_GLOB_MAX} printable characters (e.g. 'web-*')")

    fabric = match_fabric.strip() if match_fabric else None
    if fabric is not None and not _FABRIC_NAME.fullmatch(fabric):
        problems.append(f"--match-fabric {match_fabric!r}: a source fabric name has letters, digits, spaces and _ . ( ) -")

    rg = target_resource_group.strip() if target_resource_group else None
    if rg is not None and not RESOURCE_GROUP_NAME_RE.fullmatch(rg):
        problems.append(
            f"--target-resource-group {target_resource_group!r}: 1-90 letters, digits, '_', '(', ')', '-' or '.', "
            "not ending with '.'"
        )

    ppg = target_ppg.strip()
    if ppg.startswith("/"):
        parsed = parse_typed_id(ppg, PROXIMITY_PLACEMENT_GROUPS)
        if parsed is None or parsed.resource_group is None or not COMPUTE_NAME_RE.fullmatch(parsed.name):
            problems.append(
                f"--target-ppg {target_ppg!r}: not a PPG id (/subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.Compute/proximityPlacementGroups/<name>)"
            )
        else:
            ppg = compute_id(parsed.subscription, parsed.resource_group, "proximityPlacementGroups", parsed.name)
            if rg is not None and rg.lower() != parsed.resource_group.lower():
                problems.append(
                    f"--target-resource-group {rg!r} contradicts the resource group {parsed.resource_group!r} of --target-ppg; "
                    "give one or the other"
                )
    elif not COMPUTE_NAME_RE.fullmatch(ppg):
        problems.append(
            f"--target-ppg {target_ppg!r}: a PPG name has 1-80 letters, digits, '_', '.' or '-' (starting with a letter or "
            "digit, ending with a letter, digit or '_'), or give the PPG's full id"
        )

    size = vm_size.strip() if vm_size else None
    if size is not None and (len(size) > _VM_SIZE_MAX or not _VM_SIZE.fullmatch(size)):
        problems.append(f"--vm-size {vm_size!r}: an Azure VM size like Standard_D4s_v5")

    network = network_id.strip() if network_id else None
    if network is not None:
        parsed_net = parse_typed_id(network, VIRTUAL_NETWORKS)
        if parsed_net is None or parsed_net.resource_group is None:
            problems.append(
                f"--network {network_id!r}: not a virtual network id (/subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.Network/virtualNetworks/<name>)"
            )
        else:
            network = str(parsed_net)

    if problems:
        raise RuleError("invalid placement rule: " + "; ".join(problems))
    assert canonical_provider is not None
    return PlacementRule(
        name=name,
        match=RuleMatch(canonical_provider, glob, fabric),
        target_ppg=ppg,
        target_resource_group=rg,
        vm_size=size,
        network_id=network,
    )


def matching_rule(rules: Iterable[PlacementRule], provider: str, friendly_name: str, fabric: str) -> PlacementRule | None:
    """The rule that applies to an item: rules are tried in name order; the first that matches wins."""
    for rule in sorted(rules, key=lambda r: r.name.lower()):
        if rule.match.matches(provider, friendly_name, fabric):
            return rule
    return None


# ---------------------------------------------------------------------------------------------- items


@dataclass(frozen=True)
class OnPremItem:
    """A VMware or Hyper-V protected item, with the target settings its provider reports."""

    id: str
    name: str
    friendly_name: str | None
    provider: str
    fabric_name: str
    container_name: str
    protection_state: str | None
    active_location: str | None
    target_resource_group_id: str | None
    recovery_region: str | None
    recovery_ppg_id: str | None
    recovery_vm_size: str | None
    recovery_network_id: str | None

    @property
    def display_name(self) -> str:
        return self.friendly_name or self.name


def _region(value: Any) -> str | None:
    """A region name from what ASR reports (``North Europe`` -> ``northeurope``); None when it is not one."""
    if not isinstance(value, str):
        return None
    region = value.lower().replace(" ", "")
    return region if _REGION.fullmatch(region) and region != "microsoftazure" else None


def onprem_item_from_sdk(item: Any) -> OnPremItem:
    """Convert an ASR ``ReplicationProtectedItem`` of the ``InMageRcm`` or ``HyperVReplicaAzure`` provider.

    The recovery region is the one ASR reports for the item: the VMware target location, else the
    recovery fabric's location (its friendly name), else the vault's region (on-premises machines
    always fail over to the vault's region).
    """
    base = item_from_sdk(item)
    props = item.properties
    details = attr(props, "provider_specific_details")
    if base.provider == INMAGE_RCM:
        rg = attr(details, "target_resource_group_id")
        size = attr(details, "target_vm_size")
        network = attr(details, "target_network_id")
        region = _region(attr(details, "target_location"))
    else:
        rg = attr(details, "recovery_azure_resource_group_id")
        size = attr(details, "recovery_azure_vm_size")
        network = attr(details, "selected_recovery_azure_network_id")
        region = None
    region = region or _region(attr(props, "recovery_fabric_friendly_name")) or _region(getattr(item, "location", None))
    return OnPremItem(
        id=base.id,
        name=base.name,
        friendly_name=base.friendly_name,
        provider=base.provider,
        fabric_name=base.fabric_name,
        container_name=base.container_name,
        protection_state=base.protection_state,
        active_location=base.active_location,
        target_resource_group_id=rg or None,
        recovery_region=region,
        recovery_ppg_id=attr(details, "target_proximity_placement_group_id") or None,
        recovery_vm_size=text(size) or None,
        recovery_network_id=network or None,
    )


# -------------------------------------------------------------------------------------------- planning


class Step(StrEnum):
    UPDATE = "update"
    REFUSE = "refuse"
    WAIT = "wait"


@dataclass(frozen=True)
class RuleUpdate:
    """What one rule means for one item that is out of line with it."""

    item: OnPremItem
    rule: str
    step: Step
    reason: str
    subscription: str = ""
    ppg: TargetPpgPlan | None = None
    vm_size: str | None = None
    network_id: str | None = None
    changes: tuple[str, ...] = field(default=())

    def request(self) -> dict[str, Any]:
        """What the journal records about the update (and what a retry is compared with)."""
        return {
            "item_name": self.item.name,
            "fabric": self.item.fabric_name,
            "container": self.item.container_name,
            "provider": self.item.provider,
            "rule": self.rule,
            "target_ppg": self.ppg.id if self.ppg else "",
            "vm_size": self.vm_size or "",
            "network_id": self.network_id or "",
        }


def _short(resource_id: str | None) -> str:
    return resource_id.rsplit("/", 1)[-1] if resource_id else "none"


def plan_rule_updates(rules: Iterable[PlacementRule], items: Iterable[OnPremItem]) -> list[RuleUpdate]:
    """For every VMware/Hyper-V item a rule selects and that differs from it: update, wait or refuse. Pure.

    Items no rule selects, and items already in line with their rule, are left out: nothing to do.
    """
    rules = list(rules)
    planned: list[RuleUpdate] = []
    for item in items:
        if item.provider not in PROVIDERS:
            continue
        rule = matching_rule(rules, item.provider, item.display_name, item.fabric_name)
        if rule is not None:
            found = _plan_item(rule, item)
            if found is not None:
                planned.append(found)
    return planned


def _plan_item(rule: PlacementRule, item: OnPremItem) -> RuleUpdate | None:
    def outcome(step: Step, reason: str) -> RuleUpdate:
        return RuleUpdate(item, rule.name, step, f"rule {rule.name}: {reason}")

    target_rg = parse_resource_id(item.target_resource_group_id) if item.target_resource_group_id else None
    if target_rg is None or target_rg.resource_group is None:
        return outcome(Step.REFUSE, "ASR reports no target resource group for the item; set one in the vault first")
    if rule.ppg_is_id:
        parsed = parse_typed_id(rule.target_ppg, PROXIMITY_PLACEMENT_GROUPS)
        assert parsed is not None and parsed.resource_group is not None  # validated by make_rule
        subscription, resource_group, ppg_name = parsed.subscription, parsed.resource_group, parsed.name
    else:
        subscription = target_rg.subscription
        resource_group = rule.target_resource_group or target_rg.resource_group
        ppg_name = rule.target_ppg
    if subscription.lower() != target_rg.subscription.lower() or resource_group.lower() != target_rg.resource_group.lower():
        return outcome(
            Step.REFUSE,
            f"the target PPG would be in resource group {resource_group} but the item's target VM is created in "
            f"{target_rg.resource_group} (subscription {target_rg.subscription}). {DOCUMENTED_SAME_RESOURCE_GROUP} "
            "Point the rule at a PPG in the item's target resource group, or change the item's target resource group.",
        )
    ppg_id = compute_id(subscription, target_rg.resource_group, "proximityPlacementGroups", ppg_name)

    changes: list[str] = []
    if not same_id(item.recovery_ppg_id, ppg_id):
        changes.append(f"target PPG {_short(item.recovery_ppg_id)} -> {ppg_name}")
    if rule.vm_size and (item.recovery_vm_size or "").lower() != rule.vm_size.lower():
        changes.append(f"size {item.recovery_vm_size or 'default'} -> {rule.vm_size}")
    if rule.network_id and not same_id(item.recovery_network_id, rule.network_id):
        changes.append(f"network {_short(item.recovery_network_id)} -> {_short(rule.network_id)}")
    if not changes:
        return None

    summary = "; ".join(changes)
    if (item.active_location or "").lower() == "recovery":
        return outcome(Step.WAIT, f"{summary} waits: the item is failed over to Azure; target settings apply after reprotect")
    if (item.protection_state or "").lower() != "protected":
        return outcome(
            Step.WAIT, f"{summary} waits until replication is enabled and protected (now {item.protection_state or 'unknown'})"
        )
    if item.recovery_region is None:
        return outcome(Step.REFUSE, "ASR reports no recovery region for the item, so the target PPG cannot be placed")
    sizes = tuple(s for s in (rule.vm_size or item.recovery_vm_size,) if s)
    return RuleUpdate(
        item=item,
        rule=rule.name,
        step=Step.UPDATE,
        reason=f"rule {rule.name}: {summary}",
        subscription=subscription,
        ppg=TargetPpgPlan(
            id=ppg_id, name=ppg_name, resource_group=target_rg.resource_group, create_if_missing=True, vm_sizes=sizes
        ),
        vm_size=rule.vm_size,
        network_id=rule.network_id,
        changes=tuple(changes),
    )


# ------------------------------------------------------------------------------------ failback refusal


class _PlacedItem(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def friendly_name(self) -> str | None: ...

    @property
    def provider(self) -> str: ...

    @property
    def recovery_ppg_id(self) -> str | None: ...


def refuse_hyperv_failback(item: _PlacedItem) -> str | None:
    """Why failback of this item from Azure to Hyper-V must be refused, or None when it may go ahead.

    The reference article: "Failback from proximity placement groups in Azure to Hyper-V is not
    supported." It applies to Hyper-V items with a target PPG (the failed-over VM runs in that PPG).
    """
    if item.provider != HYPERV_AZURE or not item.recovery_ppg_id:
        return None
    return (
        f"failback of {item.friendly_name or item.name} from Azure to Hyper-V is refused: its recovery VM is placed in "
        f"the proximity placement group {_short(item.recovery_ppg_id)}. {DOCUMENTED_HYPERV_FAILBACK_LIMIT} "
        "Nothing was changed: keep the VM running in Azure, or rebuild it on the Hyper-V host from a backup."
    )
