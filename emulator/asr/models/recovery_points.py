"""Recovery points: crash-consistent and app-consistent points derived from the policy and the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from emulator.asr.models.common import segment_after
from emulator.asr.models.core import AsrCore
from emulator.asr.models.items import ITEM_TYPE, ProtectedItem
from emulator.asr.models.policies import Policy
from emulator.clock import iso
from emulator.errors import ArmError


class RecoveryPointsMixin(AsrCore):
    """Points are computed, not stored: the same item and clock give the same points (stable ids)."""

    def recovery_points(self, item: ProtectedItem, *, at: datetime | None = None) -> list[dict[str, Any]]:
        """A few crash-consistent and app-consistent points since protection began, newest first."""
        now = at or self.clock.now()
        start = item.ir_done if item.ir_done is not None and item.ir_done <= now else None
        if start is None:
            return []
        policy = item.vault.policies.get((segment_after(item.policy_id, "replicationPolicies") or "").lower()) or Policy(
            "default"
        )
        horizon = max(start, now - timedelta(minutes=policy.recovery_point_history_min))
        points: list[tuple[datetime, str]] = []
        for minutes, kind, keep in (
            (policy.crash_consistent_min, "CrashConsistent", 12),
            (policy.app_consistent_min, "ApplicationConsistent", 4),
        ):
            if minutes <= 0:
                continue
            step = timedelta(minutes=minutes)
            moment = start + ((now - start) // step) * step
            count = 0
            while moment >= horizon and count < keep:
                points.append((moment, kind))
                moment -= step
                count += 1
        points.sort(key=lambda p: (p[0], p[1]), reverse=True)
        out = []
        for moment, kind in points:
            name = self._stable_id(item.id, item.lifecycle_id, iso(moment), kind)
            out.append(
                {
                    "id": f"{item.id}/recoveryPoints/{name}",
                    "name": name,
                    "type": f"{ITEM_TYPE}/recoveryPoints",
                    "properties": {
                        "recoveryPointTime": iso(moment),
                        "recoveryPointType": kind,
                        "providerSpecificDetails": {
                            "instanceType": "A2A",
                            "recoveryPointSyncType": "MultiVmSyncRecoveryPoint"
                            if item.multi_vm_group_option == "UserSpecified"
                            else "PerVmRecoveryPoint",
                            "disks": [d.disk_id for d in item.disks],
                        },
                    },
                }
            )
        return out

    def recovery_point(self, item: ProtectedItem, name: str) -> dict[str, Any]:
        for point in self.recovery_points(item):
            if point["name"].lower() == name.lower():
                return point
        raise ArmError(404, "NotFound", f"Recovery point '{name}' was not found for replicated item '{item.name}'.")
