"""Per-VM protection status: what ppg-dr last saw and did, kept in Table storage.

The status is what operators read (``ppgdr status``, the status function): the protection state as
ASR reports it, health errors, the target PPG, refusals with their reasons, drift, and the operation
in flight. Writes happen only when something changed, so a steady-state reconcile writes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from shared.arm.ids import ResourceId
from shared.arm.keys import arm_key
from shared.state.store import VMS, Record, StateStore


class VmState(StrEnum):
    """A VM's protection state, in operator words (``docs/operations.md`` explains each)."""

    NOT_PROTECTED = "not-protected"
    REFUSED = "refused"
    ENABLING = "enabling"
    INITIAL_REPLICATION = "initial-replication"
    PROTECTED = "protected"
    UPDATING = "updating"
    DISABLING = "disabling"
    REENABLING = "reenabling"
    DRIFT = "drift"
    FAILED = "failed"
    WAITING = "waiting"
    FAILED_OVER = "failed-over"


@dataclass
class VmStatus:
    vm_id: str
    vm_name: str = ""
    subscription: str = ""
    resource_group: str = ""
    location: str = ""
    size: str = ""
    group: str = ""
    state: str = VmState.NOT_PROTECTED
    reason: str = ""
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    item_name: str = ""
    fabric: str = ""
    container: str = ""
    protection_state: str = ""
    protection_description: str = ""
    replication_health: str = ""
    health_errors: list[str] = field(default_factory=list)
    percent_complete: int | None = None
    source_ppg_id: str = ""
    source_availability_set_id: str = ""
    source_zone: str = ""
    target_zone: str = ""
    target_ppg_id: str = ""
    target_ppg_created: bool = False
    target_availability_set_id: str = ""
    target_resource_group: str = ""
    failover_mode: str = ""
    boot_order: int | None = None
    drill_schedule: str = ""  # from ppgdr-drill ("": the PPGDR_DRILL_SCHEDULE setting)
    rto_minutes: int | None = None
    rpo_minutes: int | None = None
    drill_probes: list[str] = field(default_factory=list)
    in_flight: dict[str, Any] = field(default_factory=dict)
    last_failure: dict[str, Any] = field(default_factory=dict)  # the last step Azure failed: operation, error, at
    history: list[str] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> VmStatus:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _key(vm: ResourceId | str) -> str:
    return vm.key if isinstance(vm, ResourceId) else arm_key(vm)


def get_status(store: StateStore, vm: ResourceId | str) -> VmStatus | None:
    record = store.get(VMS, "vm", _key(vm))
    return VmStatus.from_data(record.data) if record else None


def all_statuses(store: StateStore) -> list[VmStatus]:
    return [VmStatus.from_data(r.data) for r in store.query(VMS, partition="vm")]


def save_status(store: StateStore, status: VmStatus, *, note: str | None = None) -> Record | None:
    """Write the status when it differs from what is stored; ``note`` is appended to the history.

    History keeps the last 20 notes: enough to see the steps of a disable + re-enable, bounded so an
    entity stays far below Table storage's size limit.
    """
    new = status.to_data()

    def mutate(current: dict[str, Any] | None) -> dict[str, Any] | None:
        merged = dict(new)
        history = list((current or {}).get("history", []))
        if note:
            history.append(note)
        merged["history"] = history[-20:]
        if current is not None and current == merged:
            return None
        return merged

    return store.update(VMS, "vm", arm_key(status.vm_id), mutate, columns=lambda d: {"state": d["state"], "group": d["group"]})


def delete_status(store: StateStore, vm: ResourceId | str) -> None:
    store.delete(VMS, "vm", _key(vm))
