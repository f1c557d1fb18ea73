"""Recovery plans listed at scale: each plan's items resolved once, by key, never by comparing whole items."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.asr.models import ProtectedItem
from tests.emulator.asr_world import World, make_world


def _plan(world: World, name: str, boot_groups: list[list[ProtectedItem]]) -> Any:
    groups: list[dict[str, Any]] = [
        {"groupType": "Shutdown", "replicationProtectedItems": []},
        {"groupType": "Failover", "replicationProtectedItems": []},
        *(
            {"groupType": "Boot", "replicationProtectedItems": [{"id": i.id, "virtualMachineId": i.source_vm_id} for i in boot]}
            for boot in boot_groups
        ),
    ]
    world.asr.create_plan(
        world.vault,
        name,
        {
            "properties": {
                "primaryFabricId": f"{world.vault.id}/replicationFabrics/{world.topology['primaryFabric']}",
                "recoveryFabricId": f"{world.vault.id}/replicationFabrics/{world.topology['recoveryFabric']}",
                "failoverDeploymentModel": "ResourceManager",
                "groups": groups,
            }
        },
    )
    return world.asr.plan(world.vault, name)


def test_listing_plans_never_compares_whole_items(monkeypatch: pytest.MonkeyPatch) -> None:
    """A list membership test compared items field by field: 100 plans of 100 items took seconds to list."""
    world = make_world()
    items = [world.protect(f"vm{n}", world.compute.source_vm(f"vm{n}")) for n in range(12)]
    plans = [_plan(world, f"rp-{p}", [items[p * 4 : p * 4 + 2], items[p * 4 + 2 : p * 4 + 4]]) for p in range(3)]
    expected = {plan.name: [i.name for i in world.asr.plan_items(plan)] for plan in plans}

    def refuse(self: ProtectedItem, other: object) -> bool:
        raise AssertionError("a plan's items were compared as whole items")

    monkeypatch.setattr(ProtectedItem, "__eq__", refuse)
    bodies = [world.asr.plan_body(plan) for plan in world.asr.plans(world.vault)]
    assert [b["name"] for b in bodies if b] == ["rp-0", "rp-1", "rp-2"]
    assert {plan.name: [i.name for i in world.asr.plan_items(plan)] for plan in plans} == expected
    assert expected["rp-1"] == ["vm4", "vm5", "vm6", "vm7"]
