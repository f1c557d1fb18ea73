"""Placement rules for VMware (InMageRcm) and Hyper-V (HyperVReplicaAzure) protected items.

Placeholder so the reconcile can call it; the implementation follows.
"""

from __future__ import annotations

from shared.context import AppContext
from shared.observed import ObservedItem


def apply_placement_rules(ctx: AppContext, items: list[ObservedItem]) -> list[tuple[str, str, str]]:
    """Apply stored placement rules to on-premises items; returns (item, action, reason) per change."""
    return []
