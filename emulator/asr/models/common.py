"""What every Site Recovery model shares: provider names, id helpers, ``$filter`` parsing, region names.

ASR ids are compared case-insensitively everywhere (``/Subscriptions/`` with a capital S appears in real
payloads), and request bodies are read leniently (``properties`` may be missing, values may be empty),
so the helpers here return ``None`` rather than raise for anything absent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from emulator.errors import ArmError

A2A = "A2A"
INMAGE_RCM = "InMageRcm"
HYPERV_AZURE = "HyperVReplicaAzure"
PROVIDERS = (A2A, INMAGE_RCM, HYPERV_AZURE)


def name_key(*parts: str) -> str:
    """The lookup key of one or more names (ASR names are case-insensitive)."""
    return "/".join(p.lower() for p in parts)


def _segments(resource_id: str) -> list[str]:
    return [p for p in resource_id.strip().split("/") if p]


def segment_after(resource_id: str, name: str) -> str | None:
    """The path segment following ``name`` (case-insensitive), e.g. the resource group of an id."""
    parts = _segments(resource_id)
    for index, part in enumerate(parts[:-1]):
        if part.lower() == name.lower():
            return parts[index + 1]
    return None


def rg_of(resource_id: str) -> str | None:
    return segment_after(resource_id, "resourceGroups")


def sub_of(resource_id: str) -> str | None:
    return segment_after(resource_id, "subscriptions")


def last_segment(resource_id: str) -> str:
    parts = _segments(resource_id)
    return parts[-1] if parts else ""


def same_id(a: str | None, b: str | None) -> bool:
    return (a or "").strip().rstrip("/").lower() == (b or "").strip().rstrip("/").lower()


def norm_location(location: str) -> str:
    return location.replace(" ", "").lower()


def props_of(resource: dict[str, Any]) -> dict[str, Any]:
    """A body's ``properties`` (or the body itself when it has none)."""
    props = resource.get("properties")
    return props if isinstance(props, dict) else resource


def ref_id(value: Any) -> str | None:
    """The ``id`` of a ``{"id": ...}`` reference, or None."""
    if isinstance(value, dict):
        ref = value.get("id")
        return ref if isinstance(ref, str) and ref else None
    return None


def opt_str(value: Any) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def display_location(location: str) -> str:
    names = {
        "westeurope": "West Europe",
        "northeurope": "North Europe",
        "eastus": "East US",
        "eastus2": "East US 2",
        "westus": "West US",
        "westus2": "West US 2",
        "centralus": "Central US",
        "southcentralus": "South Central US",
        "uksouth": "UK South",
        "ukwest": "UK West",
        "francecentral": "France Central",
        "germanywestcentral": "Germany West Central",
        "swedencentral": "Sweden Central",
        "japaneast": "Japan East",
        "japanwest": "Japan West",
    }
    return names.get(location, location)


def parse_filter(text: str | None) -> dict[str, str]:
    """``a eq 'x' and b eq 'y'`` -> ``{"a": "x", "b": "y"}`` (keys lower-cased); ASR's filters are this simple."""
    terms: dict[str, str] = {}
    if not text:
        return terms
    for part in _split_and(text):
        pieces = part.strip().split(None, 2)
        if len(pieces) != 3:
            raise ArmError(400, "InvalidFilter", f"The filter term '{part.strip()}' is not of the form \"name eq 'value'\".")
        name, _op, value = pieces
        terms[name.lower()] = value.strip().strip("'\"")
    return terms


def _split_and(text: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    for word in text.split(" "):
        if word.lower() == "and":
            out.append(" ".join(current))
            current = []
        else:
            current.append(word)
    out.append(" ".join(current))
    return [p for p in out if p.strip()]


def parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ArmError(400, "InvalidFilter", f"'{value}' is not an ISO 8601 time.") from exc
