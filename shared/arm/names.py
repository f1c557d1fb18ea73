"""Every name ppg-dr gives to something in Azure, and the naming rules it checks names against.

Names are deterministic (a function of what they name), so a retried step sends the same PUT and finds
what an earlier attempt created instead of making a second one: the ASR fabric, container, policy,
mappings, replicated item and recovery plan, and the target PPG ``ppgdr-target-ppg=auto`` creates.
The name rules (compute names, resource groups, subscription GUIDs) are written once here for the tag
parser and the placement rules alike. Pure: standard library only.
"""

from __future__ import annotations

import hashlib
import re

from shared.arm.keys import normalize_arm_id

# ------------------------------------------------------------------------------------------ Site Recovery

POLICY_NAME = "ppgdr-a2a-policy"
A2A_NETWORK = "azureNetwork"  # the network name ASR uses for Azure virtual networks in an A2A fabric


def fabric_name(region: str) -> str:
    return f"ppgdr-{region.lower()}"


def container_name(region: str) -> str:
    return f"ppgdr-{region.lower()}-container"


def mapping_name(source_region: str, target_region: str) -> str:
    return f"ppgdr-{source_region.lower()}-to-{target_region.lower()}"


def network_mapping_name(source_vnet_id: str) -> str:
    return "ppgdr-net-" + hashlib.sha256(source_vnet_id.lower().encode()).hexdigest()[:16]


def replicated_item_name(vm_id: str, vm_name: str) -> str:
    """The ASR item of a VM, from its id: a retried enable is the same PUT, never a second item."""
    digest = hashlib.sha256(normalize_arm_id(vm_id).encode()).hexdigest()[:12]
    return f"{vm_name.lower()[:40]}-{digest}"


def item_named_for(item_name: str, vm_id: str) -> bool:
    """Whether ``item_name`` is the item ppg-dr names after this VM (:func:`replicated_item_name`'s digest)."""
    if "-" not in item_name or not vm_id:
        return False
    return item_name.rsplit("-", 1)[1].lower() == hashlib.sha256(normalize_arm_id(vm_id).encode()).hexdigest()[:12]


def recovery_plan_name(group: str) -> str:
    """The recovery plan of a DR group (ASR names: letters, digits, hyphens)."""
    cleaned = re.sub(r"[^a-z0-9-]", "-", group.lower()).strip("-") or "group"
    return f"ppgdr-{cleaned}"[:60]


# --------------------------------------------------------------------------------------------- Compute

PPG_NAME_MAX = 80
GROUP_NAME_MAX = 63
AUTO_PPG_SUFFIX = "-asr"

# Compute names (PPG, capacity reservation group): 1-80 chars of alphanumerics, underscore, period and
# hyphen; starts alphanumeric, ends alphanumeric or underscore. ASCII classes on purpose: ``\w`` would
# let Unicode look-alikes through.
COMPUTE_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
COMPUTE_NAME_RULES = (
    f"1-{PPG_NAME_MAX} characters of letters, digits, underscore, period and hyphen, starting with a "
    "letter or digit and ending with a letter, digit or underscore"
)
# Resource group names: ASCII letters, digits, ``_ . ( ) -``, 1-90 chars, not ending in a period (Azure
# also allows Unicode letters; ppg-dr does not).
RESOURCE_GROUP_NAME_RE = re.compile(r"[A-Za-z0-9_().-]{0,89}[A-Za-z0-9_()-]")
GUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# DR group names (``ppgdr-group``): what a recovery plan and a table key can carry.
GROUP_NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,63}")


def auto_target_ppg_name(source_ppg_name: str) -> str:
    """The name of the PPG that ``ppgdr-target-ppg=auto`` creates: ``<source>-asr``, at most 80 chars.

    Deterministic, so a retried reconcile finds the PPG it created instead of making a second one. A
    name too long for the suffix is cut and given a short hash of the full (lower-cased, since Azure
    names are case-insensitive) source name, so two long names sharing a prefix stay distinct.
    """
    source = source_ppg_name.strip()
    if not source:
        raise ValueError("an empty source PPG name has no auto target name")
    candidate = source + AUTO_PPG_SUFFIX
    if len(candidate) <= PPG_NAME_MAX:
        return candidate
    digest = hashlib.sha256(source.lower().encode("utf-8")).hexdigest()[:8]
    keep = PPG_NAME_MAX - len(AUTO_PPG_SUFFIX) - len(digest) - 1
    return f"{source[:keep]}-{digest}{AUTO_PPG_SUFFIX}"


def fit_group_name(base: str) -> str:
    """A valid group name made from a PPG or VM name: other characters become ``-``, long names get a hash."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", base)
    if len(cleaned) <= GROUP_NAME_MAX and cleaned == base:
        return cleaned
    # Anything changed: add a hash of the original so two names cleaned alike stay distinct.
    digest = hashlib.sha256(base.lower().encode("utf-8")).hexdigest()[:8]
    return f"{cleaned[: GROUP_NAME_MAX - len(digest) - 1]}-{digest}"
