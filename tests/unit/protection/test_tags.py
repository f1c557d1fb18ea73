"""The tag contract (shared/tags.py): defaults, every value, inheritance, problems, warnings, hostile ids."""

from __future__ import annotations

import random
import string

import pytest

from shared.arm.names import auto_target_ppg_name
from shared.protection.tags import (
    KNOWN_TAGS,
    SOURCE_RESOURCE_GROUP,
    SOURCE_VM,
    TAG_PREFIX,
    Consistency,
    FailoverMode,
    ProtectMode,
    TagIntent,
    TagParseResult,
    TagProblem,
    TargetPpg,
    TargetPpgKind,
    check_multi_vm_group_size,
    default_group,
    effective_tags,
    parse_tags,
)

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
PPG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/proximityPlacementGroups/ppg-sap"
CRG_ID = f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/capacityReservationGroups/crg-sap"


def ok(vm: dict[str, str] | None, rg: dict[str, str] | None = None) -> TagIntent:
    result = parse_tags(vm, rg)
    assert result.ok, [str(p) for p in result.problems]
    assert result.intent is not None
    return result.intent


def problems(vm: dict[str, str] | None, rg: dict[str, str] | None = None) -> tuple[TagProblem, ...]:
    result = parse_tags(vm, rg)
    assert not result.ok
    assert result.intent is None
    assert result.problems
    return result.problems


# --------------------------------------------------------------------------------------------------
# Defaults


@pytest.mark.parametrize("vm", [None, {}, {"env": "prod", "owner": "team-sap"}])
def test_no_ppgdr_tags_gives_the_defaults(vm: dict[str, str] | None) -> None:
    intent = ok(vm)
    assert intent == TagIntent()
    assert intent.protect is ProtectMode.UNSET
    assert intent.target_ppg == TargetPpg(TargetPpgKind.AUTO, None)
    assert intent.group is None
    assert intent.target_zone is None
    assert intent.capacity_reservation is None
    assert intent.consistency is Consistency.SINGLE
    assert intent.failover is FailoverMode.APPROVE
    assert intent.boot_order is None
    assert intent.sources == {}
    assert intent.warnings == ()


def test_protect_only_takes_defaults_for_everything_else() -> None:
    intent = ok({"ppgdr-protect": "true"})
    assert intent == TagIntent(protect=ProtectMode.PROTECT, sources={"ppgdr-protect": SOURCE_VM})


def test_result_is_frozen_and_hashable() -> None:
    intent = ok({"ppgdr-protect": "true"})
    with pytest.raises(AttributeError):
        intent.protect = ProtectMode.UNPROTECT  # type: ignore[misc]
    assert hash(intent) == hash(ok({"ppgdr-protect": "TRUE"}))
    assert TagParseResult(intent=intent).ok


# --------------------------------------------------------------------------------------------------
# Every valid value of every tag


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", ProtectMode.PROTECT),
        ("True", ProtectMode.PROTECT),
        ("TRUE", ProtectMode.PROTECT),
        ("  true  ", ProtectMode.PROTECT),
        ("false", ProtectMode.UNPROTECT),
        ("False", ProtectMode.UNPROTECT),
        ("FALSE", ProtectMode.UNPROTECT),
    ],
)
def test_protect_values(value: str, expected: ProtectMode) -> None:
    assert ok({"ppgdr-protect": value}).protect is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", TargetPpg(TargetPpgKind.AUTO)),
        ("AUTO", TargetPpg(TargetPpgKind.AUTO)),
        ("none", TargetPpg(TargetPpgKind.NONE)),
        ("None", TargetPpg(TargetPpgKind.NONE)),
        ("ppg-sap-dr", TargetPpg(TargetPpgKind.NAME, "ppg-sap-dr")),
        ("P", TargetPpg(TargetPpgKind.NAME, "P")),
        ("ppg_", TargetPpg(TargetPpgKind.NAME, "ppg_")),
        ("a.b-c_d9", TargetPpg(TargetPpgKind.NAME, "a.b-c_d9")),
        ("x" * 80, TargetPpg(TargetPpgKind.NAME, "x" * 80)),
        (PPG_ID, TargetPpg(TargetPpgKind.RESOURCE_ID, PPG_ID)),
        (
            PPG_ID.lower(),
            TargetPpg(
                TargetPpgKind.RESOURCE_ID,
                f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/microsoft.compute/proximityplacementgroups/ppg-sap",
            ),
        ),
        (
            PPG_ID.replace("/subscriptions/", "/Subscriptions/").replace("/resourceGroups/", "/RESOURCEGROUPS/"),
            TargetPpg(TargetPpgKind.RESOURCE_ID, PPG_ID),
        ),
    ],
)
def test_target_ppg_values(value: str, expected: TargetPpg) -> None:
    assert ok({"ppgdr-target-ppg": value}).target_ppg == expected


@pytest.mark.parametrize("value", ["sap-prod", "a", "A_b.c-9", "g" * 63, "1"])
def test_group_values(value: str) -> None:
    assert ok({"ppgdr-group": value}).group == value


@pytest.mark.parametrize("value", ["1", "2", "3", " 2 "])
def test_target_zone_values(value: str) -> None:
    assert ok({"ppgdr-target-zone": value}).target_zone == value.strip()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("crg-sap", "crg-sap"),
        ("CRG_1", "CRG_1"),
        (CRG_ID, CRG_ID),
        (
            CRG_ID.replace("capacityReservationGroups", "CAPACITYRESERVATIONGROUPS"),
            CRG_ID.replace("capacityReservationGroups", "CAPACITYRESERVATIONGROUPS"),
        ),
    ],
)
def test_capacity_reservation_values(value: str, expected: str) -> None:
    assert ok({"ppgdr-capacity-reservation": value}).capacity_reservation == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("single", Consistency.SINGLE),
        ("SINGLE", Consistency.SINGLE),
        ("multi-vm", Consistency.MULTI_VM),
        ("Multi-VM", Consistency.MULTI_VM),
    ],
)
def test_consistency_values(value: str, expected: Consistency) -> None:
    assert ok({"ppgdr-consistency": value}).consistency is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("off", FailoverMode.OFF),
        ("OFF", FailoverMode.OFF),
        ("approve", FailoverMode.APPROVE),
        ("Approve", FailoverMode.APPROVE),
        ("auto", FailoverMode.AUTO),
        ("AUTO", FailoverMode.AUTO),
    ],
)
def test_failover_values(value: str, expected: FailoverMode) -> None:
    assert ok({"ppgdr-failover": value}).failover is expected


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("1", 1), ("42", 42), ("99", 99), ("007", 7), (" 5 ", 5)])
def test_boot_order_values(value: str, expected: int) -> None:
    assert ok({"ppgdr-boot-order": value}).boot_order == expected


def test_every_tag_at_once() -> None:
    intent = ok(
        {
            "ppgdr-protect": "true",
            "ppgdr-target-ppg": PPG_ID,
            "ppgdr-group": "sap-prod",
            "ppgdr-target-zone": "2",
            "ppgdr-capacity-reservation": "crg-sap",
            "ppgdr-consistency": "multi-vm",
            "ppgdr-failover": "auto",
            "ppgdr-boot-order": "10",
            "ppgdr-drill": "0 0 3 * * Sat",
            "ppgdr-rto-minutes": "45",
            "ppgdr-rpo-minutes": "15",
            "ppgdr-drill-probe": "app-db:5432; 10.0.0.4:443",
        }
    )
    assert intent == TagIntent(
        protect=ProtectMode.PROTECT,
        target_ppg=TargetPpg(TargetPpgKind.RESOURCE_ID, PPG_ID),
        group="sap-prod",
        target_zone="2",
        capacity_reservation="crg-sap",
        consistency=Consistency.MULTI_VM,
        failover=FailoverMode.AUTO,
        boot_order=10,
        drill="0 0 3 * * sat",
        rto_minutes=45,
        rpo_minutes=15,
        drill_probes=("app-db:5432", "10.0.0.4:443"),
        sources=dict.fromkeys(KNOWN_TAGS, SOURCE_VM),
    )


# --------------------------------------------------------------------------------------------------
# Every kind of invalid value


@pytest.mark.parametrize(
    ("tag", "value", "fragment"),
    [
        ("ppgdr-protect", "yes", "true, false"),
        ("ppgdr-protect", "1", "true, false"),
        ("ppgdr-protect", "", "empty"),
        ("ppgdr-protect", "   ", "empty"),
        ("ppgdr-protect", "tru", "did you mean true"),
        ("ppgdr-protect", "unset", "true, false"),
        ("ppgdr-target-ppg", "-ppg", "1-80"),
        ("ppgdr-target-ppg", "ppg-", "1-80"),
        ("ppgdr-target-ppg", "ppg.", "1-80"),
        ("ppgdr-target-ppg", "_ppg", "1-80"),
        ("ppgdr-target-ppg", "p" * 81, "1-80"),
        ("ppgdr-target-ppg", "my ppg", "1-80"),
        ("ppgdr-target-ppg", "ppg/x", "1-80"),
        ("ppgdr-target-ppg", "ppgé", "1-80"),
        ("ppgdr-target-ppg", "", "empty"),
        ("ppgdr-target-ppg", "/subscriptions/x", "not a valid resource id"),
        ("ppgdr-target-ppg", PPG_ID.replace("proximityPlacementGroups", "virtualMachines"), "Microsoft.Compute/virtualMachines"),
        ("ppgdr-target-ppg", PPG_ID.replace("ppg-sap", "_bad"), "naming rules"),
        ("ppgdr-target-ppg", PPG_ID + "/extra/seg", "not Microsoft.Compute/proximityPlacementGroups"),
        ("ppgdr-target-ppg", PPG_ID + "/", "not a valid resource id"),
        ("ppgdr-target-ppg", CRG_ID, "capacityReservationGroups"),
        ("ppgdr-group", "", "empty"),
        ("ppgdr-group", "g" * 64, "1-63"),
        ("ppgdr-group", "sap prod", "1-63"),
        ("ppgdr-group", "sap/prod", "1-63"),
        ("ppgdr-group", "sap:prod", "1-63"),
        ("ppgdr-group", "säp", "1-63"),
        ("ppgdr-group", "a\nb", "1-63"),
        ("ppgdr-target-zone", "0", "1, 2 or 3"),
        ("ppgdr-target-zone", "4", "1, 2 or 3"),
        ("ppgdr-target-zone", "zone1", "1, 2 or 3"),
        ("ppgdr-target-zone", "1,2", "1, 2 or 3"),
        ("ppgdr-target-zone", "", "empty"),
        ("ppgdr-target-zone", "\u0661", "1, 2 or 3"),  # Arabic-Indic digit one
        ("ppgdr-capacity-reservation", "", "empty"),
        ("ppgdr-capacity-reservation", "crg sap", "capacity reservation group name"),
        ("ppgdr-capacity-reservation", PPG_ID, "Microsoft.Compute/proximityPlacementGroups"),
        ("ppgdr-capacity-reservation", CRG_ID + "/capacityReservations/cr1", "capacityReservationGroups/capacityReservations"),
        ("ppgdr-capacity-reservation", "/subscriptions/../crg", "not a valid resource id"),
        ("ppgdr-consistency", "multi", "did you mean multi-vm"),
        ("ppgdr-consistency", "multi_vm", "did you mean multi-vm"),
        ("ppgdr-consistency", "group", "single, multi-vm"),
        ("ppgdr-consistency", "", "empty"),
        ("ppgdr-failover", "manual", "off, approve, auto"),
        ("ppgdr-failover", "aprove", "did you mean approve"),
        ("ppgdr-failover", "", "empty"),
        ("ppgdr-boot-order", "-1", "0 to 99"),
        ("ppgdr-boot-order", "100", "0 to 99"),
        ("ppgdr-boot-order", "1.5", "0 to 99"),
        ("ppgdr-boot-order", "+3", "0 to 99"),
        ("ppgdr-boot-order", "first", "0 to 99"),
        ("ppgdr-boot-order", "9" * 5000, "0 to 99"),
        ("ppgdr-boot-order", "\u0665", "0 to 99"),  # Arabic-Indic digit five: int() would accept it
        ("ppgdr-boot-order", "", "empty"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(tag: str, value: str, fragment: str) -> None:
    (problem,) = problems({tag: value})
    assert problem.tag == tag
    assert problem.value == value.strip()
    assert problem.source == SOURCE_VM
    assert fragment in problem.reason
    text = str(problem)
    assert tag in text and "on the VM" in text and text.endswith((".", "?"))


def test_problem_str_is_one_readable_sentence() -> None:
    (problem,) = problems({"ppgdr-failover": "sometimes"})
    assert str(problem) == (
        "Tag ppgdr-failover on the VM has value 'sometimes', which is refused: "
        "allowed values are off, approve, auto (any letter case)."
    )


def test_problem_str_escapes_and_caps_hostile_values() -> None:
    (problem,) = problems({"ppgdr-group": "x\r\nINJECTED " + "y" * 500})
    text = str(problem)
    assert "\n" not in text and "\r" not in text
    assert "..." in text
    assert len(text) < 400


def test_invalid_tag_set_yields_no_intent_even_if_protect_is_valid() -> None:
    result = parse_tags({"ppgdr-protect": "true", "ppgdr-target-zone": "5"})
    assert result.intent is None
    assert not result.ok
    assert [p.tag for p in result.problems] == ["ppgdr-target-zone"]


def test_every_problem_is_reported_together() -> None:
    found = problems(
        {
            "ppgdr-protect": "maybe",
            "ppgdr-target-ppg": "/etc/passwd",
            "ppgdr-group": "",
            "ppgdr-target-zone": "7",
            "ppgdr-capacity-reservation": "crg sap",
            "ppgdr-consistency": "all",
            "ppgdr-failover": "yolo",
            "ppgdr-boot-order": "high",
            "ppgdr-drill": "hourly",
            "ppgdr-rto-minutes": "0",
            "ppgdr-rpo-minutes": "soon",
            "ppgdr-drill-probe": "no port here",
        }
    )
    assert sorted(p.tag for p in found) == sorted(KNOWN_TAGS)


def test_problems_come_with_warnings() -> None:
    result = parse_tags({"ppgdr-protect": "maybe", "ppgdr-protekt": "true"})
    assert result.intent is None
    assert len(result.problems) == 1
    assert any("ppgdr-protekt" in w for w in result.warnings)


# --------------------------------------------------------------------------------------------------
# Resource group inheritance, VM override, key case


def test_resource_group_tags_apply_to_the_vm() -> None:
    intent = ok({}, {"ppgdr-protect": "true", "ppgdr-failover": "auto"})
    assert intent.protect is ProtectMode.PROTECT
    assert intent.failover is FailoverMode.AUTO
    assert intent.sources == {"ppgdr-protect": SOURCE_RESOURCE_GROUP, "ppgdr-failover": SOURCE_RESOURCE_GROUP}


def test_vm_tag_wins_per_key() -> None:
    intent = ok(
        {"ppgdr-protect": "false", "ppgdr-boot-order": "3"},
        {"ppgdr-protect": "true", "ppgdr-failover": "off", "ppgdr-boot-order": "1"},
    )
    assert intent.protect is ProtectMode.UNPROTECT
    assert intent.failover is FailoverMode.OFF
    assert intent.boot_order == 3
    assert intent.sources == {
        "ppgdr-protect": SOURCE_VM,
        "ppgdr-failover": SOURCE_RESOURCE_GROUP,
        "ppgdr-boot-order": SOURCE_VM,
    }


def test_vm_override_hides_an_invalid_resource_group_value() -> None:
    intent = ok({"ppgdr-failover": "approve"}, {"ppgdr-failover": "bogus", "ppgdr-protect": "true"})
    assert intent.failover is FailoverMode.APPROVE


def test_invalid_resource_group_value_is_reported_as_from_the_resource_group() -> None:
    (problem,) = problems({"ppgdr-protect": "true"}, {"ppgdr-failover": "bogus"})
    assert problem.source == SOURCE_RESOURCE_GROUP
    assert "on the resource group" in str(problem)


@pytest.mark.parametrize("key", ["PPGDR-Protect", "ppgdr-PROTECT", "Ppgdr-Protect", " ppgdr-protect "])
def test_keys_are_case_insensitive(key: str) -> None:
    intent = ok({key: "true"})
    assert intent.protect is ProtectMode.PROTECT
    assert intent.sources == {"ppgdr-protect": SOURCE_VM}


def test_vm_key_in_other_case_still_overrides_resource_group() -> None:
    assert ok({"PPGDR-PROTECT": "false"}, {"ppgdr-protect": "true"}).protect is ProtectMode.UNPROTECT


def test_effective_tags_merges_lower_cases_and_trims() -> None:
    merged = effective_tags(
        {"PPGDR-Protect": " true ", "env": "prod", "ppgdr-Custom": "x"},
        {"ppgdr-protect": "false", "ppgdr-failover": " auto", "Owner": "me"},
    )
    assert merged == {
        "ppgdr-protect": ("true", SOURCE_VM),
        "ppgdr-failover": ("auto", SOURCE_RESOURCE_GROUP),
        "ppgdr-custom": ("x", SOURCE_VM),
    }


@pytest.mark.parametrize(("vm", "rg"), [(None, None), ({}, {}), (None, {"a": "b"})])
def test_effective_tags_of_nothing_is_empty(vm: dict[str, str] | None, rg: dict[str, str] | None) -> None:
    assert effective_tags(vm, rg) == {}


def test_same_key_twice_with_different_values_is_a_problem() -> None:
    (problem,) = problems({"ppgdr-protect": "true", "PPGDR-PROTECT": "false"})
    assert problem.tag == "ppgdr-protect"
    assert "more than once" in problem.reason


def test_same_key_twice_with_the_same_value_is_fine() -> None:
    assert ok({"ppgdr-protect": "true", "PPGDR-PROTECT": " TRUE"}).protect is ProtectMode.PROTECT


def test_unknown_key_twice_is_only_a_warning() -> None:
    result = parse_tags({"ppgdr-custom": "a", "PPGDR-CUSTOM": "b"})
    assert result.ok
    assert len(result.warnings) == 1


def test_duplicate_pick_does_not_depend_on_dict_order() -> None:
    a = effective_tags({"ppgdr-group": "a", "PPGDR-GROUP": "b"}, None)
    b = effective_tags({"PPGDR-GROUP": "b", "ppgdr-group": "a"}, None)
    assert a == b


# --------------------------------------------------------------------------------------------------
# Warnings


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("ppgdr-protekt", "ppgdr-protect"),
        ("ppgdr-targetppg", "ppgdr-target-ppg"),
        ("ppgdr-groups", "ppgdr-group"),
        ("ppgdr-zone", "ppgdr-target-zone"),
        ("ppgdr-failover-mode", "ppgdr-failover"),
        ("ppgdr-bootorder", "ppgdr-boot-order"),
    ],
)
def test_unknown_ppgdr_key_warns_with_closest_known_key(key: str, suggestion: str) -> None:
    result = parse_tags({"ppgdr-protect": "true", key: "x"})
    assert result.ok
    assert result.intent is not None
    (warning,) = result.warnings
    assert key in warning and f"did you mean {suggestion}?" in warning
    assert result.intent.warnings == result.warnings
    assert key not in result.intent.sources


def test_unknown_key_without_a_close_match_still_warns() -> None:
    (warning,) = parse_tags({"ppgdr-xyzzy-quux": "1"}).warnings
    assert "ppgdr-xyzzy-quux" in warning and "did you mean" not in warning


def test_unknown_key_on_resource_group_says_so() -> None:
    (warning,) = parse_tags({}, {"ppgdr-protec": "true"}).warnings
    assert "resource group" in warning


@pytest.mark.parametrize("key", ["ppgdr_protect", "ppg-dr-protect", "ppgdrprotect", "ppgdr_target_ppg"])
def test_near_miss_prefix_warns(key: str) -> None:
    result = parse_tags({key: "true"})
    assert result.ok
    assert result.intent is not None
    assert result.intent.protect is ProtectMode.UNSET
    (warning,) = result.warnings
    assert "ignored" in warning and "did you mean" in warning


def test_unrelated_tags_do_not_warn() -> None:
    assert parse_tags({"env": "prod", "costcenter": "42", "protect": "yes"}).warnings == ()


def test_settings_without_protect_on_the_vm_warn() -> None:
    result = parse_tags({"ppgdr-group": "sap"})
    assert result.ok
    (warning,) = result.warnings
    assert "ppgdr-protect" in warning and "drift" in warning


def test_invalid_protect_does_not_claim_the_tag_is_missing() -> None:
    result = parse_tags({"ppgdr-protect": "maybe", "ppgdr-group": "sap"})
    assert result.warnings == ()
    assert [p.tag for p in result.problems] == ["ppgdr-protect"]


def test_settings_inherited_from_resource_group_without_protect_do_not_warn() -> None:
    assert parse_tags({}, {"ppgdr-failover": "auto"}).warnings == ()


# --------------------------------------------------------------------------------------------------
# Resource ids


def test_resource_id_value_is_returned_in_canonical_form() -> None:
    messy = PPG_ID.replace("/subscriptions/", "/SUBSCRIPTIONS/").replace("/providers/", "/Providers/")
    assert ok({"ppgdr-target-ppg": messy}).target_ppg == TargetPpg(TargetPpgKind.RESOURCE_ID, PPG_ID)


_HOSTILE_IDS = [
    "",
    "/",
    "//",
    "subscriptions/" + SUB,
    PPG_ID[1:],  # no leading slash
    PPG_ID + "/",
    PPG_ID.replace("/resourceGroups/", "//resourceGroups/"),
    PPG_ID.replace("ppg-sap", "../../virtualMachines/vm1"),
    PPG_ID.replace("ppg-sap", ".."),
    PPG_ID.replace("rg-dr", ".."),
    PPG_ID.replace("ppg-sap", "%2e%2e"),
    PPG_ID.replace("ppg-sap", "%2E%2E%2Fvm"),
    PPG_ID.replace("/providers/", "/providers%2F"),
    PPG_ID + "?api-version=2024-03-01",
    PPG_ID + "#frag",
    PPG_ID.replace("ppg-sap", "ppg sap"),
    PPG_ID.replace("ppg-sap", "ppg\tsap"),
    PPG_ID.replace("ppg-sap", "ppg\x00sap"),
    PPG_ID.replace("ppg-sap", "ppg\nsap"),
    PPG_ID + "\n",
    " " + PPG_ID,
    PPG_ID.replace("ppg-sap", "ppg\u2215sap"),  # division slash
    PPG_ID.replace("/ppg-sap", "\uff0fppg-sap"),  # fullwidth solidus
    PPG_ID.replace("ppg-sap", "ppg-s\u0430p"),  # Cyrillic a
    PPG_ID.replace("ppg-sap", "ppg\u202esap"),  # right-to-left override
    PPG_ID.replace("rg-dr", "rg-dr."),  # resource group names cannot end in a period
    PPG_ID.replace("rg-dr", "r" * 91),
    PPG_ID.replace("ppg-sap", "p" * 1100),
    PPG_ID.replace(SUB, "not-a-guid"),
    PPG_ID.replace(SUB, SUB + "0"),
    PPG_ID.replace("Microsoft.Compute", "Compute"),
    PPG_ID.replace("Microsoft.Compute", "Microsoft..Compute"),
    PPG_ID.replace("/ppg-sap", ""),  # missing name
    PPG_ID.replace("/proximityPlacementGroups/ppg-sap", ""),  # missing type and name
    f"/subscriptions/{SUB}/resourceGroups/rg-dr",  # a resource group, not a resource
    f"/subscriptions/{SUB}/providers/Microsoft.Compute/proximityPlacementGroups/ppg",  # no resource group
    f"/subscriptions/{SUB}/resourceGroups/rg-dr/providers/Microsoft.Compute/proximityPlacementGroups/p"
    "/providers/Microsoft.Authorization/locks/l",  # extension resource
    PPG_ID.replace("/resourceGroups/", "/resourceGroup/"),
    PPG_ID.replace("/providers/", "/provider/"),
    "https://management.azure.com" + PPG_ID,
    PPG_ID.replace("/", "\\"),
    PPG_ID.replace("ppg-sap", "ppg<script>"),
    PPG_ID.replace("ppg-sap", "ppg'sap"),
    PPG_ID.replace("ppg-sap", "ppg:sap"),
]


@pytest.mark.parametrize("value", [v for v in _HOSTILE_IDS if v and v.strip() == v])
def test_hostile_ids_in_target_ppg_tag_are_problems(value: str) -> None:
    (problem,) = problems({"ppgdr-target-ppg": value})
    assert problem.tag == "ppgdr-target-ppg"
    assert "\n" not in str(problem) and "\x00" not in str(problem)


@pytest.mark.parametrize("value", [v for v in _HOSTILE_IDS if v and v.strip() == v])
def test_hostile_ids_in_capacity_reservation_tag_are_problems(value: str) -> None:
    value = value.replace("proximityPlacementGroups", "capacityReservationGroups")
    (problem,) = problems({"ppgdr-capacity-reservation": value})
    assert problem.tag == "ppgdr-capacity-reservation"


def test_resource_id_length_limit() -> None:
    prefix = f"/subscriptions/{SUB}/resourceGroups/{'r' * 90}/providers/Microsoft.Compute/proximityPlacementGroups/"
    assert ok({"ppgdr-target-ppg": prefix + "p" * 80}).target_ppg.kind is TargetPpgKind.RESOURCE_ID
    too_long = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/" + "/".join(
        f"t{i}/{'n' * 60}" for i in range(16)
    )
    assert len(too_long) > 1024
    (problem,) = problems({"ppgdr-target-ppg": too_long})
    assert "not a valid resource id" in problem.reason


# --------------------------------------------------------------------------------------------------
# default_group


@pytest.mark.parametrize(
    ("group_tag", "ppg", "vm", "expected"),
    [
        ("sap-prod", "ppg-sap", "vm1", "sap-prod"),
        (None, "ppg-sap", "vm1", "ppg-sap"),
        (None, None, "vm1", "vm1"),
        (None, "", "vm1", "vm1"),
        (None, "  ", "vm1", "vm1"),
        ("sap-prod", None, "vm1", "sap-prod"),
    ],
)
def test_default_group(group_tag: str | None, ppg: str | None, vm: str, expected: str) -> None:
    intent = ok({"ppgdr-group": group_tag} if group_tag else {})
    assert default_group(intent, ppg, vm) == expected


@pytest.mark.parametrize("name", ["p" * 80, "vm(1)", "vm#1", "x" * 64, "a" * 63 + "B"])
def test_default_group_makes_long_or_odd_names_valid_and_stable(name: str) -> None:
    group = default_group(TagIntent(), name, "vm")
    assert 1 <= len(group) <= 63
    assert ok({"ppgdr-group": group}).group == group
    assert default_group(TagIntent(), name, "vm") == group


def test_default_group_keeps_long_names_apart() -> None:
    assert default_group(TagIntent(), "p" * 70 + "a", "vm") != default_group(TagIntent(), "p" * 70 + "b", "vm")


def test_default_group_needs_a_name() -> None:
    with pytest.raises(ValueError, match="without a name"):
        default_group(TagIntent(), None, " ")


# --------------------------------------------------------------------------------------------------
# auto_target_ppg_name


@pytest.mark.parametrize("source", ["ppg-sap", "p", "x" * 76])
def test_auto_target_ppg_name_appends_asr(source: str) -> None:
    assert auto_target_ppg_name(source) == source + "-asr"


@pytest.mark.parametrize("length", [77, 78, 79, 80])
def test_auto_target_ppg_name_stays_within_80_chars(length: int) -> None:
    source = "s" * (length - 1) + "_"
    name = auto_target_ppg_name(source)
    assert len(name) == 80
    assert name.endswith("-asr")
    assert name.startswith("s" * 60)
    assert ok({"ppgdr-target-ppg": name}).target_ppg == TargetPpg(TargetPpgKind.NAME, name)
    assert auto_target_ppg_name(source) == name


def test_auto_target_ppg_name_hash_separates_long_names_and_ignores_case() -> None:
    a = auto_target_ppg_name("a" * 79 + "1")
    b = auto_target_ppg_name("a" * 79 + "2")
    assert a != b
    assert auto_target_ppg_name("A" * 80).lower() == auto_target_ppg_name("a" * 80).lower()


def test_auto_target_ppg_name_needs_a_name() -> None:
    with pytest.raises(ValueError, match="empty"):
        auto_target_ppg_name("  ")


# --------------------------------------------------------------------------------------------------
# check_multi_vm_group_size


@pytest.mark.parametrize("count", [0, 1, 2, 15, 16])
def test_multi_vm_group_of_up_to_16_is_allowed(count: int) -> None:
    assert check_multi_vm_group_size("sap", count) is None


@pytest.mark.parametrize("count", [17, 40])
def test_multi_vm_group_over_16_is_refused_with_a_reason(count: int) -> None:
    reason = check_multi_vm_group_size("sap", count)
    assert reason is not None
    assert "'sap'" in reason and str(count) in reason and "16" in reason
    assert "ppgdr-group" in reason and "ppgdr-consistency=single" in reason


def test_multi_vm_group_custom_limit() -> None:
    assert check_multi_vm_group_size("g", 4, limit=4) is None
    assert check_multi_vm_group_size("g", 5, limit=4) is not None


@pytest.mark.parametrize(("count", "limit"), [(-1, 16), (3, 0)])
def test_multi_vm_group_size_rejects_nonsense_arguments(count: int, limit: int) -> None:
    with pytest.raises(ValueError):
        check_multi_vm_group_size("g", count, limit)


# --------------------------------------------------------------------------------------------------
# Fuzz: parse_tags never raises, and its result is always consistent


_INTERESTING = [
    "",
    " ",
    "true",
    "FALSE",
    "auto",
    "none",
    "multi-vm",
    "99",
    "100",
    "1",
    "..",
    "../../etc",
    "%2e%2e",
    "\x00",
    "\u202e",
    "\ud800",  # lone surrogate
    "é",
    "9" * 5000,
    "x" * 10_000,
    PPG_ID,
    CRG_ID,
    PPG_ID + "/..",
    "/subscriptions//resourceGroups",
]


def _random_text(rng: random.Random) -> str:
    alphabet = string.printable + "é\u0430\u2215\uff0f\x00\x7f\u202e"
    if rng.random() < 0.4:
        return rng.choice(_INTERESTING)
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def _random_key(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        key = rng.choice(KNOWN_TAGS)
        return key.upper() if rng.random() < 0.3 else key
    if roll < 0.7:
        return TAG_PREFIX + _random_text(rng)
    return _random_text(rng)


def test_fuzz_parse_tags_never_raises() -> None:
    rng = random.Random(20240601)
    for _ in range(3000):
        vm = {_random_key(rng): _random_text(rng) for _ in range(rng.randint(0, 10))}
        rg = {_random_key(rng): _random_text(rng) for _ in range(rng.randint(0, 5))} if rng.random() < 0.5 else None
        result = parse_tags(vm, rg)
        assert (result.intent is None) == bool(result.problems)
        assert result.ok == (result.intent is not None)
        if result.intent is not None:
            assert result.intent.warnings == result.warnings
            assert set(result.intent.sources) <= set(KNOWN_TAGS)
        for problem in result.problems:
            assert problem.tag in KNOWN_TAGS
            text = str(problem)
            assert text.isprintable() and text.isascii()
        for warning in result.warnings:
            assert warning.isascii() and warning.isprintable()


def test_fuzz_resource_id_values() -> None:
    rng = random.Random(7)
    pieces = [
        "/",
        "subscriptions",
        SUB,
        "resourceGroups",
        "rg",
        "providers",
        "Microsoft.Compute",
        "proximityPlacementGroups",
        "..",
        "%2e",
        "x",
        "é",
        ".",
    ]
    for _ in range(3000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        result = parse_tags({"ppgdr-target-ppg": value})
        if result.intent is not None and result.intent.target_ppg.kind is TargetPpgKind.RESOURCE_ID:
            canonical = result.intent.target_ppg.value
            assert canonical is not None and ".." not in canonical and canonical.isascii()
            again = parse_tags({"ppgdr-target-ppg": canonical}).intent
            assert again is not None and again.target_ppg.value == canonical
