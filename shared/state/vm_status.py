"""Per-VM protection status: what ppg-dr last saw and did, kept in Table storage.

The status is what operators read (``ppgdr status``, the status function): the protection state as
ASR reports it, health errors, the target PPG, refusals with their reasons, drift, and the operation
in flight. Writes happen only when something changed, so a steady-state reconcile writes nothing.
"""

from __future__ import annotations

import copy
import json
import logging
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.arm.ids import ResourceId
from shared.arm.keys import arm_key, decode_key, normalize_arm_id
from shared.state.group_records import mark_plan_dirty
from shared.state.store import VMS, Record, StateStore

PARTITION = "vm"

log = logging.getLogger(__name__)


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
        """The record's payload: every field, lists and dicts copied (what ``asdict`` gives, without its recursion,
        which the reconcile pays for every VM of the estate)."""
        data = {name: getattr(self, name) for name in _FIELDS}
        for name in _LISTS:
            data[name] = list(data[name])
        for name in _DICTS:
            data[name] = (
                copy.deepcopy(data[name]) if any(isinstance(v, dict | list) for v in data[name].values()) else dict(data[name])
            )
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> VmStatus:
        known = {k: v for k, v in data.items() if k in _FIELD_SET}
        return cls(**known)


_FIELDS = tuple(f.name for f in fields(VmStatus))
_FIELD_SET = frozenset(_FIELDS)
_LISTS = tuple(f.name for f in fields(VmStatus) if str(f.type).startswith("list"))
_DICTS = tuple(f.name for f in fields(VmStatus) if str(f.type).startswith("dict"))


def _key(vm: ResourceId | str) -> str:
    return vm.key if isinstance(vm, ResourceId) else arm_key(vm)


# Plain columns beside the JSON payload, for scoped queries: the group (lower-cased: group names compare
# case-insensitively), the source PPG and availability set (normalised ids). ``state`` and ``group`` were the
# first columns; ``cols`` says which set a record was written with, so the reconcile can rewrite older records.
COLUMNS_VERSION = 2


def _columns(data: dict[str, Any]) -> dict[str, Any]:
    group = str(data.get("group") or "")
    return {
        "state": data.get("state", ""),
        "group": group,
        "groupkey": group.lower(),
        "ppgkey": normalize_arm_id(str(data.get("source_ppg_id") or "")),
        "avsetkey": normalize_arm_id(str(data.get("source_availability_set_id") or "")),
        "cols": COLUMNS_VERSION,
    }


class StatusSnapshot:
    """Every stored status, read once per tick and kept compact: by VM (normalised id), as compressed JSON.

    A tick over 100,000 VMs cannot hold 100,000 :class:`VmStatus` objects (about 3.7 KiB each in memory, 370 MiB);
    the same statuses as compressed JSON take about 0.6 KiB each. Each is decoded when it is needed (:meth:`get`, or
    one at a time while iterating) and the snapshot follows what the tick writes (:meth:`put`, :meth:`discard`), so
    a later step of the same tick (the recovery-plan sync) reads it instead of the table.
    """

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self.stale: set[str] = set()  # VMs whose record lacks the current query columns
        # The first record seen is the compression dictionary of the others: statuses share their keys and most
        # values, so each compresses to ~90 bytes instead of ~600 (and decompresses faster).
        self._zdict: bytes | None = None

    def _pack(self, raw: bytes) -> bytes:
        if self._zdict is None:
            self._zdict = raw
        packer = zlib.compressobj(6, zdict=self._zdict)
        return packer.compress(raw) + packer.flush()

    def _unpack(self, blob: bytes) -> Any:
        assert self._zdict is not None
        unpacker = zlib.decompressobj(zdict=self._zdict)
        return json.loads(unpacker.decompress(blob) + unpacker.flush())

    @classmethod
    def read(cls, store: StateStore) -> StatusSnapshot:
        """One read of the status table, page by page."""
        snapshot = cls()
        for row, raw, columns in store.scan(VMS, PARTITION):
            key = decode_key(row) if not row.startswith("sha256-") else normalize_arm_id(str(json.loads(raw).get("vm_id", "")))
            snapshot._blobs[key] = snapshot._pack(raw.encode())
            if columns.get("cols") != COLUMNS_VERSION:
                snapshot.stale.add(key)
        return snapshot

    @classmethod
    def of(cls, statuses: Iterable[VmStatus]) -> StatusSnapshot:
        snapshot = cls()
        for status in statuses:
            snapshot.put(status)
        return snapshot

    def __len__(self) -> int:
        return len(self._blobs)

    def __contains__(self, vm_key: object) -> bool:
        return vm_key in self._blobs

    def keys(self) -> list[str]:
        return list(self._blobs)

    def get(self, vm_key: str) -> VmStatus | None:
        """The status of the VM with this normalised id (decoded now), None when none is stored."""
        blob = self._blobs.get(vm_key)
        return VmStatus.from_data(self._unpack(blob)) if blob is not None else None

    def put(self, status: VmStatus) -> None:
        self._blobs[normalize_arm_id(status.vm_id)] = self._pack(json.dumps(status.to_data(), sort_keys=True).encode())

    def discard(self, vm_key: str) -> None:
        self._blobs.pop(vm_key, None)

    def __iter__(self) -> Iterator[VmStatus]:
        """Every status, decoded one at a time."""
        for blob in list(self._blobs.values()):
            yield VmStatus.from_data(self._unpack(blob))


def get_status(store: StateStore, vm: ResourceId | str) -> VmStatus | None:
    record = store.get(VMS, PARTITION, _key(vm))
    return VmStatus.from_data(record.data) if record else None


def all_statuses(store: StateStore) -> list[VmStatus]:
    """Every stored status: the whole table, page by page. Only the reconcile (once per tick) and operator views
    that list every VM need this; anything about one VM or one group reads its own slice (below)."""
    return [VmStatus.from_data(r.data) for r in store.query(VMS, partition=PARTITION)]


def group_statuses(store: StateStore, group: str) -> list[VmStatus]:
    """The statuses of one group's VMs: one query on the group column, however many VMs are stored.

    Records written before the ``groupkey`` column existed still match on ``group`` spelled as given; the
    reconcile rewrites them with the current columns.
    """
    found = store.query(
        VMS,
        partition=PARTITION,
        where="groupkey eq @key or group eq @name",
        parameters={"key": group.lower(), "name": group},
    )
    return [VmStatus.from_data(r.data) for r in found]


def statuses_near(
    store: StateStore,
    vm: ResourceId | str,
    *,
    group: str | None = None,
    ppg_id: str | None = None,
    availability_set_id: str | None = None,
) -> tuple[VmStatus | None, list[VmStatus]]:
    """One VM's status and its neighbours' (same group, same source PPG, same availability set), in one query.

    What planning one VM needs (its group's size and VM sizes, its PPG's sizes, its availability set's other
    members) without reading every status: the event path costs the same with 100 or 100,000 stored VMs.
    Returns (the VM's own status or None, every status found, the VM's own included).
    """
    row = _key(vm)
    clauses = ["RowKey eq @row"]
    params: dict[str, Any] = {"row": row}
    if group:
        clauses += ["groupkey eq @group", "group eq @name"]
        params |= {"group": group.lower(), "name": group}
    if ppg_id:
        clauses.append("ppgkey eq @ppg")
        params["ppg"] = normalize_arm_id(ppg_id)
    if availability_set_id:
        clauses.append("avsetkey eq @avset")
        params["avset"] = normalize_arm_id(availability_set_id)
    found = [
        (r.row, VmStatus.from_data(r.data))
        for r in store.query(VMS, partition=PARTITION, where=" or ".join(clauses), parameters=params)
    ]
    own = next((status for key, status in found if key == row), None)
    return own, [status for _, status in found]


def statuses_in_states(store: StateStore, states: tuple[str, ...]) -> list[VmStatus]:
    """The statuses in any of ``states`` (one query on the state column)."""
    where = " or ".join(f"state eq @s{i}" for i in range(len(states)))
    params = {f"s{i}": str(state) for i, state in enumerate(states)}
    return [VmStatus.from_data(r.data) for r in store.query(VMS, partition=PARTITION, where=where, parameters=params)]


def save_status(
    store: StateStore, status: VmStatus, *, note: str | None = None, new: bool = False, rewrite: bool = False
) -> Record | None:
    """Write the status when it differs from what is stored; ``note`` is appended to the history.

    History keeps the last 20 notes: enough to see the steps of a disable + re-enable, bounded so an
    entity stays far below Table storage's size limit. ``new``: the caller read no record for this VM, so it
    is inserted without reading first (one request); when one appeared meanwhile, the usual read-modify-write, unless
    it is another instance's lease (:func:`claim_first_status`): that one is left to its holder.
    ``rewrite``: write even when nothing changed (a record written before the current columns existed).
    """
    data = status.to_data()
    before: list[dict[str, Any] | None] = []

    def mutate(current: dict[str, Any] | None) -> dict[str, Any] | None:
        before[:] = [current]
        merged = dict(data)
        history = list((current or {}).get("history", []))
        if note:
            history.append(note)
        merged["history"] = history[-20:]
        if current is not None and current == merged and not rewrite:
            return None
        if new and current is not None and leased_operation(VmStatus.from_data(current), store.now()) is not None:
            return None  # read as missing, found as another instance's lease: it is sending a step and writes the outcome
        return merged

    if new:
        fresh = mutate(None)
        assert fresh is not None
        created = store.insert(VMS, PARTITION, arm_key(status.vm_id), fresh, **_columns(fresh))
        if created is not None:
            _note_plan_change(store, None, fresh)
            return created
    written = store.update(VMS, PARTITION, arm_key(status.vm_id), mutate, columns=_columns)
    if written is not None and before and written.data is not before[0]:
        _note_plan_change(store, before[0], written.data)
    return written


# ------------------------------------------------------------------------------- a first status as the VM's lease
#
# A write to Azure for a VM with no stored status (its first enable, most often) inserts the VM's first status before
# anything else is written: the insert is create-only, so of two instances only one gets it, and it is the VM's lease.
# Its ``in_flight`` names the step being sent, the instance sending it (``holder``) and until when (``until``). After
# the send one write, conditioned on the insert's ETag, records the outcome and drops the lease. A lease whose time has
# passed (its holder died) is no lease: the VM is planned again, looking at its item before anything is sent.


def sending_lease(operation: str, holder: str, until: datetime) -> dict[str, Any]:
    """The ``in_flight`` of a first status while its step is being sent (no job yet)."""
    return {"operation": operation, "job": "", "holder": holder, "until": until.isoformat()}


def leased_operation(status: VmStatus | None, now: datetime) -> str | None:
    """The step another instance is sending for this VM now, from its status's lease; None when there is no lease or
    it has expired."""
    until = status.in_flight.get("until") if status is not None else None
    if not until:
        return None
    try:
        expires = datetime.fromisoformat(str(until))
    except ValueError:
        return None
    if expires <= now:
        return None
    assert status is not None
    return str(status.in_flight.get("operation") or "a step")


def claim_first_status(store: StateStore, status: VmStatus, *, note: str) -> Record | None:
    """Insert a VM's first status, carrying its lease (:func:`sending_lease`); None when the VM has a status already
    (another instance got there first: it sends, this one does not)."""
    data = status.to_data()
    data["history"] = [note]
    created = store.insert(VMS, PARTITION, arm_key(status.vm_id), data, **_columns(data))
    if created is not None:
        _note_plan_change(store, None, data)
    return created


def settle_claimed_status(store: StateStore, claim: Record, status: VmStatus, *, note: str) -> Record | None:
    """Replace a claimed first status with the step's outcome, the lease dropped: one write, on the claim's ETag.

    ``note`` replaces the claim's own history line (the step as planned) with what happened. When the record changed
    since (someone wrote it and kept the lease), the usual read-modify-write, as long as it still carries this claim's
    lease; a record whose lease is gone (it expired and another instance took over, or the pulse already recorded the
    step's end) is left as it is. Gone altogether (its table was lost): written again.
    """
    lease = claim.data.get("in_flight")
    provisional = list(claim.data.get("history", []))

    def settled(current: dict[str, Any]) -> dict[str, Any]:
        data = status.to_data()
        kept = [h for h in current.get("history", []) if h not in provisional]
        data["history"] = [*kept, note][-20:]
        return data

    data = settled(claim.data)
    written = store.replace_if_unchanged(VMS, claim, data, **_columns(data))
    if written is not None:
        _note_plan_change(store, claim.data, data)
        return written
    before: list[dict[str, Any] | None] = []

    def mutate(current: dict[str, Any] | None) -> dict[str, Any] | None:
        before[:] = [current]
        if current is not None and current.get("in_flight") != lease:
            return None
        return settled(current or {})

    written = store.update(VMS, PARTITION, arm_key(status.vm_id), mutate, columns=_columns)
    if written is not None and before and written.data is not before[0]:
        _note_plan_change(store, before[0], written.data)
    return written


def release_claimed_status(store: StateStore, claim: Record, status: VmStatus) -> None:
    """Give a claimed first status's lease back early (its step ended in an error the caller raises): the status stays,
    so the next pass reads the VM's journal, and looks at its item, before it sends anything. Best effort: a lease
    not released expires."""
    data = status.to_data()
    data["history"] = list(claim.data.get("history", []))
    try:
        store.replace_if_unchanged(VMS, claim, data, **_columns(data))
    except Exception as exc:  # the caller's error is the one to report; the lease expires anyway
        log.warning("%s: could not give its lease back (%s); it expires", status.vm_id, exc, extra={"vm": status.vm_id})


# What a member's place in its group's recovery plan is made of: when a protected member changes one of these, or a
# member becomes protected or stops being, the group's plan needs a sync.
PLAN_FIELDS = ("group", "state", "item_name", "vm_name", "size", "boot_order", "fabric", "container", "location", "vm_id")


def _in_plan(data: dict[str, Any] | None) -> bool:
    return data is not None and data.get("state") == VmState.PROTECTED and bool(data.get("item_name")) and bool(data.get("group"))


# Inside the full reconcile, which syncs every group's plan at its end, status writes mark nothing.
_plans_synced_by_caller: ContextVar[bool] = ContextVar("ppgdr_plans_synced_by_caller", default=False)


@contextmanager
def plans_synced_after() -> Iterator[None]:
    """Status writes in this block leave no plan markers: the caller syncs every group's plan afterwards."""
    token = _plans_synced_by_caller.set(True)
    try:
        yield
    finally:
        _plans_synced_by_caller.reset(token)


def _note_plan_change(store: StateStore, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    """Mark the groups whose recovery plan this status change touches (nothing for the common writes: a VM being
    enabled, refused or waiting is not in a plan; the full reconcile keeps every group's summary)."""
    if _plans_synced_by_caller.get():
        return
    was, now = _in_plan(old), _in_plan(new)
    if not was and not now:
        return
    if was and now and old is not None and new is not None and all(old.get(k) == new.get(k) for k in PLAN_FIELDS):
        return
    mark_plan_dirty(store, *{str(d.get("group")) for d in (old, new) if _in_plan(d) and d is not None})


def delete_status(store: StateStore, vm: ResourceId | str) -> None:
    record = store.get(VMS, PARTITION, _key(vm))
    store.delete(VMS, PARTITION, _key(vm))
    if record is not None:
        _note_plan_change(store, record.data, None)
