"""The record ppg-dr keeps per DR group: state, where its workflow took it, decisions, recovery plan.

One typed record, written only through :func:`update_group` (which refuses unknown fields), so the
workflows, the decision guard and the recovery-plan sync cannot drift apart on what a group record holds.
Members are not stored here: they come from the per-VM statuses (``shared.failover.groups``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from shared.arm.keys import name_key, normalize_arm_id
from shared.state.store import GROUPS, Record, StateStore

PARTITION = "group"


class GroupState(StrEnum):
    """A group's lifecycle state (``docs/operations.md``, "Group states")."""

    PROTECTED = "protected"
    FAILING_OVER = "failing-over"
    REPROTECTED = "reprotected"
    FAILING_BACK = "failing-back"
    BLOCKED = "blocked"


@dataclass
class GroupRecord:
    name: str
    state: str = GroupState.PROTECTED
    # the workflow that moved the group last, and the regions it moved between
    workflow: str = ""
    source_region: str = ""
    target_region: str = ""
    active_region: str = ""
    member_vm_ids: list[str] = field(default_factory=list)
    recovery_vm_ids: list[str] = field(default_factory=list)
    placement: list[dict[str, Any]] | None = None
    blocked_reason: str | None = None
    reprotected_at: str | None = None
    # the decision guard
    last_signal_at: str | None = None
    last_decision: str | None = None
    last_decision_kind: str | None = None
    last_decision_reasons: list[str] = field(default_factory=list)
    pending_decision: dict[str, Any] | None = None
    last_decided: dict[str, Any] | None = None
    # the recovery plan as last synced (from the members' statuses)
    plan: str | None = None
    plan_members: list[str] = field(default_factory=list)
    plan_left_out: list[str] = field(default_factory=list)
    plan_problem: str | None = None
    boot_groups: list[list[str]] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> GroupRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


FIELDS = frozenset(f.name for f in fields(GroupRecord))


def get_group(store: StateStore, name: str) -> GroupRecord:
    """The group's record; a fresh ``protected`` one when ppg-dr has not recorded anything yet."""
    record = store.get(GROUPS, PARTITION, name_key(name))
    return GroupRecord.from_data(record.data) if record else GroupRecord(name=name)


def group_exists(store: StateStore, name: str) -> GroupRecord | None:
    record = store.get(GROUPS, PARTITION, name_key(name))
    return GroupRecord.from_data(record.data) if record else None


def update_group(store: StateStore, name: str, **changes: Any) -> GroupRecord:
    """Change some fields of the group's record (ETag read-modify-write); writes nothing when nothing changes."""
    unknown = set(changes) - FIELDS
    if unknown:
        raise TypeError(f"group records have no field {', '.join(sorted(unknown))}")

    def mutate(data: dict[str, Any] | None) -> dict[str, Any] | None:
        current = GroupRecord.from_data(data) if data else GroupRecord(name=name)
        updated = {**current.to_data(), **changes}
        return None if data is not None and updated == current.to_data() else updated

    record = store.update(GROUPS, PARTITION, name_key(name), mutate, columns=lambda d: {"state": d.get("state", "")})
    return GroupRecord.from_data(record.data) if record else get_group(store, name)


def all_groups(store: StateStore) -> dict[str, GroupRecord]:
    """Every group record, by lower-cased name."""
    records = (GroupRecord.from_data(r.data) for r in store.query(GROUPS, partition=PARTITION))
    return {record.name.lower(): record for record in records}


def locked_vm_ids(store: StateStore) -> dict[str, str]:
    """VM ids (normalised; source and recovery) a group workflow owns, with why: the per-VM reconcile leaves them alone."""
    locked: dict[str, str] = {}
    for record in all_groups(store).values():
        for vm_id in record.recovery_vm_ids:
            locked[normalize_arm_id(vm_id)] = f"recovery VM of group {record.name}"
        if record.state != GroupState.PROTECTED:
            for vm_id in record.member_vm_ids:
                locked[normalize_arm_id(vm_id)] = f"group {record.name} is {record.state}"
    return locked


# Groups whose membership or members' plan facts changed since their recovery plan was last synced: a marker each
# (written with the status change, cleared by the sync), so the pulse syncs just those without reading every status.
PLAN_DIRTY = "plan-dirty"


def mark_plan_dirty(store: StateStore, *groups: str) -> None:
    """Note that these groups' recovery plans may need a sync (an upsert each; idempotent)."""
    for group in {g for g in groups if g}:
        store.put(GROUPS, PLAN_DIRTY, name_key(group), {"group": group, "at": store.now().isoformat()})


def plan_dirty_groups(store: StateStore) -> list[Record]:
    """The markers of groups whose plans may need a sync (one query of a small partition)."""
    return list(store.query(GROUPS, partition=PLAN_DIRTY))


def clear_plan_dirty(store: StateStore, marker: Record) -> None:
    """Clear a marker as it was read: a group marked again since keeps its (newer) marker."""
    store.delete(GROUPS, PLAN_DIRTY, marker.row, etag=marker.etag)
