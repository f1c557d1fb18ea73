"""DR groups: membership from statuses, the strictest mode, anchor-first boot order, plan limits."""

from __future__ import annotations

import pytest

from shared.arm.names import recovery_plan_name
from shared.failover.groups import (
    MAX_BOOT_GROUPS,
    MAX_ITEMS_PER_PLAN,
    Group,
    Member,
    groups_from_statuses,
    placement_order,
    plan_limits_problem,
    size_rank,
)
from shared.state.vm_status import VmStatus


def member(name: str, size: str, boot: int | None = None) -> Member:
    return Member(
        f"/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/{name}",
        name,
        size,
        f"{name}-item",
        "f",
        "c",
        boot,
        "protected",
    )


@pytest.mark.parametrize(
    ("size", "rank"),
    [("Standard_M64s", (64, 3)), ("Standard_E16s_v5", (16, 1)), ("Standard_D4s_v3", (4, 0)), ("weird", (0, 0))],
)
def test_size_rank(size: str, rank: tuple[int, int]) -> None:
    assert size_rank(size) == rank


def test_the_hardest_size_to_place_boots_first_then_boot_order() -> None:
    order = placement_order(
        [
            member("web-2", "Standard_D4s_v3", boot=2),
            member("web-1", "Standard_D4s_v3", boot=1),
            member("db", "Standard_M64s"),
            member("app", "Standard_E16s_v5"),
        ]
    )
    assert [[m.vm_name for m in group] for group in order] == [["db"], ["app"], ["web-1", "web-2"]]


def test_equal_vcpus_the_scarce_family_and_the_rare_size_anchor() -> None:
    order = placement_order([member("d", "Standard_D16s_v5"), member("e", "Standard_E16s_v5"), member("d2", "Standard_D16s_v5")])
    assert [m.vm_name for m in order[0]] == ["e"]


def test_beyond_seven_sizes_the_rest_share_the_last_boot_group() -> None:
    sizes = [f"Standard_D{n}s_v5" for n in (2, 4, 8, 16, 32, 48, 64, 96, 128)]
    order = placement_order([member(f"vm{i}", size) for i, size in enumerate(sizes)])
    assert len(order) == MAX_BOOT_GROUPS
    assert [m.size for m in order[0]] == ["Standard_D128s_v5"]
    assert len(order[-1]) == len(sizes) - (MAX_BOOT_GROUPS - 1)
    assert sum(len(g) for g in order) == len(sizes)  # nobody dropped


def test_a_group_over_the_plan_limit_is_explained() -> None:
    members = tuple(member(f"vm{i}", "Standard_D2s_v5") for i in range(MAX_ITEMS_PER_PLAN + 1))
    problem = plan_limits_problem(Group("big", members, "westeurope", "approve"))
    assert problem is not None and "at most 100" in problem and "ppgdr-group" in problem
    assert plan_limits_problem(Group("ok", members[:MAX_ITEMS_PER_PLAN], "westeurope", "approve")) is None


def status(name: str, group: str, mode: str, item: str = "i") -> VmStatus:
    return VmStatus(
        vm_id=f"/vm/{name}",
        vm_name=name,
        group=group,
        failover_mode=mode,
        item_name=item,
        location="westeurope",
        state="protected",
        size="Standard_D2s_v5",
    )


def test_groups_from_statuses_are_case_insensitive_and_take_the_strictest_mode() -> None:
    groups = groups_from_statuses(
        [
            status("a", "SAP", "auto"),
            status("b", "sap", "approve"),
            status("c", "trade", "auto"),
            status("d", "ops", "auto"),
            status("e", "ops", "off"),
            status("x", "", "auto"),
            status("y", "n", "auto", item=""),
        ]
    )
    assert set(groups) == {"sap", "trade", "ops"}
    assert groups["sap"].failover_mode == "approve" and len(groups["sap"].members) == 2
    assert groups["trade"].failover_mode == "auto"
    assert groups["ops"].failover_mode == "off"


def test_recovery_plan_names_are_deterministic_and_safe() -> None:
    assert recovery_plan_name("SAP Prod") == "ppgdr-sap-prod"
    assert recovery_plan_name("x" * 100) == ("ppgdr-" + "x" * 100)[:60]
