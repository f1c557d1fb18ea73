"""Key encoding: one ARM id, however it is spelled, maps to one valid, reversible Table key."""

import pytest

from shared.arm.keys import arm_key, decode_key, encode_key, name_key, normalize_arm_id

VM = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/App-RG/providers/Microsoft.Compute/virtualMachines/web-1"


@pytest.mark.parametrize(
    "spelling",
    [
        VM,
        VM.replace("/subscriptions/", "/Subscriptions/"),
        VM.upper(),
        VM + "/",
        "  " + VM + "  ",
        VM.lstrip("/"),
    ],
)
def test_every_spelling_of_an_id_maps_to_one_key(spelling: str) -> None:
    assert arm_key(spelling) == arm_key(VM)


def test_keys_hold_no_character_table_storage_forbids() -> None:
    key = arm_key(VM)
    for forbidden in "/\\#?":
        assert forbidden not in key
    assert all(ord(c) >= 0x20 for c in key)


@pytest.mark.parametrize("value", ["a/b", "a\\b", "100%", "x#y?z", "tab\there", "ünïcode/✓", "%2F literally"])
def test_encoding_is_reversible(value: str) -> None:
    assert decode_key(encode_key(value)) == value


def test_distinct_ids_get_distinct_keys() -> None:
    assert arm_key(VM) != arm_key(VM.replace("web-1", "web-2"))
    # an escape sequence in a name must not collide with the character it encodes
    assert encode_key("a%2Fb") != encode_key("a/b")


def test_overlong_values_are_hashed_within_the_limit() -> None:
    key = encode_key("x" * 5000)
    assert key.startswith("sha256-") and len(key) < 100
    with pytest.raises(ValueError):
        decode_key(key)


def test_empty_ids_and_names_are_refused() -> None:
    with pytest.raises(ValueError):
        arm_key("  / ")
    with pytest.raises(ValueError):
        name_key("")


def test_normalize() -> None:
    assert normalize_arm_id("/Subscriptions/ABC/") == "/subscriptions/abc"
    assert name_key(" Web-Tier ") == "web-tier"
