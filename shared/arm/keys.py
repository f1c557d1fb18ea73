"""Table storage keys for ARM resource ids.

ARM ids are case-insensitive (real payloads say ``/Subscriptions/`` as often as ``/subscriptions/``)
and contain ``/``, which Table storage forbids in PartitionKey and RowKey (as it forbids ``\\``, ``#``,
``?`` and control characters). One id must map to one key however it was written, or a VM would get
two status rows and two protections; so ids are normalised, then escaped reversibly.
"""

from __future__ import annotations

import hashlib

# Table keys may hold up to 1 KiB; keep well inside it and hash what is longer (the full id is
# always stored as a property beside the key, so nothing is lost).
MAX_KEY_CHARS = 512
_FORBIDDEN = {"/", "\\", "#", "?", "%"}


def normalize_arm_id(resource_id: str) -> str:
    """Lower-case, with exactly one leading ``/`` and no trailing ``/``: the one spelling of an id."""
    stripped = resource_id.strip().strip("/")
    return "/" + stripped.lower() if stripped else ""


def encode_key(value: str) -> str:
    """Escape a string into a valid, reversible Table key (``%XX`` for forbidden characters)."""
    out: list[str] = []
    for char in value:
        if char in _FORBIDDEN or ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
        else:
            out.append(char)
    encoded = "".join(out)
    if len(encoded) > MAX_KEY_CHARS:
        return "sha256-" + hashlib.sha256(value.encode("utf-8")).hexdigest()
    return encoded


def decode_key(key: str) -> str:
    """Inverse of :func:`encode_key` for keys that were not hashed."""
    if key.startswith("sha256-"):
        raise ValueError("hashed keys cannot be decoded; read the entity's 'resource_id' property instead")
    raw = bytearray()
    i = 0
    while i < len(key):
        if key[i] == "%" and _is_hex(key[i + 1 : i + 3]):
            raw.append(int(key[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(key[i].encode("utf-8"))
            i += 1
    return raw.decode("utf-8")


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


def arm_key(resource_id: str) -> str:
    """The Table key of an ARM resource id: normalised, then encoded."""
    normalized = normalize_arm_id(resource_id)
    if not normalized:
        raise ValueError("an empty resource id has no key")
    return encode_key(normalized)


def name_key(name: str) -> str:
    """The Table key of a case-insensitive name (a group, a rule)."""
    if not name.strip():
        raise ValueError("an empty name has no key")
    return encode_key(name.strip().lower())
