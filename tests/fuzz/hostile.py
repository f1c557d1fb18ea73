"""Hostile input, seeded from the real samples in the repository: strategies for JSON values that break
assumptions, mutations of genuine payloads, and raw bodies that are not JSON at all."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

DATA = Path(__file__).resolve().parents[1] / "data"

# Strings an attacker (or a broken sender) would try: empty, huge, control characters and log forgery, ids of the
# wrong kind or case, path tricks, times far off, numbers as text, and text that looks like markup.
HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "line\nforged: WARNING approved by admin",
    "\u202e\u0000\ud7ff",
    "x" * 5000,
    "../../../../etc/passwd",
    "/subscriptions/00000000-0000-0000-0000-0000000000ee/resourceGroups/x/providers/Microsoft.Compute/virtualMachines/y",
    "/SUBSCRIPTIONS/6F1D3A52-8C4E-4F0B-9A57-2B1C7D9E4A10/RESOURCEGROUPS/SAP-PROD/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/SAP-DB-1",
    "/subscriptions/6f1d3a52-8c4e-4f0b-9a57-2b1c7d9e4a10",
    "/subscriptions//resourceGroups//providers/Microsoft.Compute/virtualMachines/",
    "2099-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00+14:00",
    "not a date",
    "NaN",
    "1e999",
    "Fired",
    "Resolved",
    "ServiceHealth",
    "Resource Health",
    "Platform",
    "Incident",
    "Unavailable",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "%s%s%s%n",
]

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=40),
)

JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(HOSTILE_TEXT[:5]), st.text(max_size=12)), children, max_size=5),
    ),
    max_leaves=25,
)

# Bodies that are not a JSON document ppg-dr could parse: invalid UTF-8, truncated JSON, nesting over the limit.
RAW_BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"\xff\xfe\x00",
            b'{"schemaId": "azureMonitorCommonAlertSchema", "data": ',
            b"[" * 1000 + b"]" * 1000,
            b'{"a":' * 200 + b"1" + b"}" * 200,
            b"null",
            b'"just a string"',
            b"1" * 5000,
            b'{"a": NaN, "b": Infinity}',
            b'{"a": 1, "a": 2}',
        ]
    ),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (dict keys and list indexes), the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any, *, delete: bool = False) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any]) -> Any:
    """A genuine document with one to four places replaced by hostile values, deleted, or grown."""
    document = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "grow", "swap"]))
        if action == "delete" and path:
            document = _set(document, path, None, delete=True)
        elif action == "grow":
            many = draw(st.sampled_from([2, 60, 300]))
            current = _get(document, path)
            document = _set(document, path, [copy.deepcopy(current) for _ in range(many)])
        elif action == "swap":
            other = draw(st.sampled_from(paths))
            document = _set(document, path, copy.deepcopy(_get(document, other)))
        else:
            document = _set(document, path, draw(JSON_VALUES))
    return document


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        document = document[step]
    return document


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
