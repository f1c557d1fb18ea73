"""The state store: the one module that speaks to Azure Table storage.

Why Table storage: it is the Function App's own storage account (no extra service to run or pay for),
and its ETags give the compare-and-swap that idempotent, crash-safe workflows need. Every
read-modify-write here is conditional on the ETag read (``MatchConditions.IfNotModified``); a lost race
is retried from a fresh read, so two function instances never overwrite each other's decision.

Records keep their payload as JSON in ``data`` beside a few plain columns used in queries; keys come from
:mod:`shared.arm.keys`. Locally and in tests the store is Azurite; in Azure it is the account's table
endpoint with the managed identity.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, UpdateMode

from shared.arm.keys import encode_key, name_key
from shared.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")

# Table names (prefixed per deployment, so tests and several installations can share an account).
VMS = "vms"
GROUPS = "groups"
LEASES = "leases"
EVENTS = "events"
JOURNAL = "journal"
WORKFLOWS = "workflows"
AUDIT = "audit"
RULES = "rules"
REPORTS = "reports"
SIGNALS = "signals"
DRILLS = "drills"
MARKERS = "markers"
TABLES = (VMS, GROUPS, LEASES, EVENTS, JOURNAL, WORKFLOWS, AUDIT, RULES, REPORTS, SIGNALS, DRILLS, MARKERS)


def utcnow() -> datetime:
    return datetime.now(UTC)


class ConcurrencyError(RuntimeError):
    """A read-modify-write lost every retry: someone else keeps changing the same record."""


@dataclass(frozen=True)
class Record:
    """A stored entity: its keys, JSON payload and the ETag it was read with."""

    partition: str
    row: str
    data: dict[str, Any]
    etag: str | None
    updated: datetime | None = None
    columns: dict[str, Any] = field(default_factory=dict)  # the plain columns beside ``data``, as read


@dataclass(frozen=True)
class Lease:
    """Exclusive right of one holder to act on a group until ``expires``."""

    group: str
    holder: str
    expires: datetime
    etag: str


@dataclass(frozen=True)
class JournalEntry:
    """One Azure write: recorded as an intent before it is sent, its outcome after."""

    scope: str
    key: str
    operation: str
    status: str
    request: dict[str, Any]
    result: dict[str, Any]
    created: datetime | None
    etag: str | None


# Journal statuses: intent (about to send), started (Azure accepted, job id known), then an outcome.
INTENT = "intent"
STARTED = "started"
SUCCEEDED = "succeeded"
FAILED = "failed"
OPEN_STATUSES = (INTENT, STARTED)


class StateStore:
    """Typed access to every ppg-dr table, with ETag concurrency on each read-modify-write."""

    def __init__(self, service: TableServiceClient, *, prefix: str = "ppgdr", clock: Clock = utcnow) -> None:
        self._service = service
        self._prefix = prefix
        self._clock = clock
        self._tables: dict[str, TableClient] = {}
        # lease row -> (holder, ETag, expiry) of the leases this store last took or renewed
        self._held: dict[str, tuple[str, str, datetime]] = {}
        self.tables_recreated = 0  # times a table was found missing (and created again) since this store was made

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = utcnow) -> StateStore:
        """Connection string (Azurite, or a key-based account) or endpoint + managed identity."""
        settings.require_state()
        if settings.state_connection:
            service = TableServiceClient.from_connection_string(settings.state_connection)
        else:
            from azure.identity import DefaultAzureCredential  # lazy: azure.identity loads only when a credential is needed

            assert settings.state_endpoint is not None
            service = TableServiceClient(settings.state_endpoint, credential=DefaultAzureCredential())
        return cls(service, prefix=settings.state_table_prefix, clock=clock)

    # ----------------------------------------------------------------------------------------- tables

    def table(self, name: str) -> TableClient:
        """The client of one table, created on first use (idempotent, so a fresh account just works)."""
        if name not in self._tables:
            full = f"{self._prefix}{name}"
            client = self._service.get_table_client(full)
            with contextlib.suppress(ResourceExistsError):
                client.create_table()
            self._tables[name] = client
        return self._tables[name]

    def _write(self, name: str, operation: Callable[[TableClient], T]) -> T:
        """Run a write on a table; when the table is gone (a wiped or new account, a restore), create it and retry once.

        Tables are created once and cached; without this a running instance would answer ``TableNotFound``
        forever after the state was lost. What was in the table is gone: the reconcile adopts Azure's state.
        """
        try:
            return operation(self.table(name))
        except ResourceNotFoundError as exc:
            if not _table_missing(exc):
                raise
            self._lost(name)
            return operation(self.table(name))

    def _lost(self, name: str) -> None:
        """Forget a table found missing: the next use creates it again."""
        log.warning("table %s%s is gone (state lost?): creating it again", self._prefix, name, extra={"step": "state"})
        self._tables.pop(name, None)
        self.tables_recreated += 1

    def now(self) -> datetime:
        return self._clock()

    # ---------------------------------------------------------------------------------- generic records

    def get(self, table: str, partition: str, row: str) -> Record | None:
        try:
            entity = self.table(table).get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        return _record(entity)

    def query(
        self, table: str, *, partition: str | None = None, where: str | None = None, parameters: dict[str, Any] | None = None
    ) -> Iterator[Record]:
        """Records of a table, optionally one partition and an OData filter (parameterised, never formatted)."""
        clauses = []
        params = dict(parameters or {})
        if partition is not None:
            clauses.append("PartitionKey eq @pk")
            params["pk"] = partition
        if where:
            clauses.append(f"( {where} )")  # spaced: the SDK substitutes @params by splitting on spaces
        client = self.table(table)
        entities = client.query_entities(" and ".join(clauses), parameters=params) if clauses else client.list_entities()
        try:
            for entity in entities:
                yield _record(entity)
        except ResourceNotFoundError as exc:
            if not _table_missing(exc):
                raise
            self._lost(table)  # gone (state lost): nothing to list

    def scan(self, table: str, partition: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(RowKey, the ``data`` JSON as stored, the plain columns) of every record of one partition, page by page.

        For reads of a whole table that keep what they read (the reconcile's one read of every status): the payload
        is not decoded here, so a caller can keep it compact and decode one record at a time.
        """
        client = self.table(table)
        try:
            for entity in client.query_entities("PartitionKey eq @pk", parameters={"pk": partition}):
                columns = {k: v for k, v in entity.items() if not _not_column(k)}
                yield entity["RowKey"], _payload(entity), columns
        except ResourceNotFoundError as exc:
            if not _table_missing(exc):
                raise
            self._lost(table)  # gone (state lost): nothing to list

    def put(self, table: str, partition: str, row: str, data: dict[str, Any], **columns: Any) -> Record:
        """Unconditional upsert: only for records one writer owns (reports, audit lines)."""
        entity = self._entity(partition, row, data, columns)
        meta = self._write(table, lambda client: client.upsert_entity(entity, mode=UpdateMode.REPLACE))
        return Record(partition, row, data, meta.get("etag"), entity["updated"])

    def insert(self, table: str, partition: str, row: str, data: dict[str, Any], **columns: Any) -> Record | None:
        """Create-only: ``None`` when the record already exists (the caller lost, or it is a retry)."""
        entity = self._entity(partition, row, data, columns)
        try:
            meta = self._write(table, lambda client: client.create_entity(entity))
        except ResourceExistsError:
            return None
        return Record(partition, row, data, meta.get("etag"), entity["updated"])

    def delete(self, table: str, partition: str, row: str, *, etag: str | None = None) -> bool:
        """Delete (conditionally when an ETag is given); ``False`` when the condition failed."""
        try:
            if etag:
                self.table(table).delete_entity(partition, row, etag=etag, match_condition=MatchConditions.IfNotModified)
            else:
                self.table(table).delete_entity(partition, row)
        except ResourceModifiedError:
            return False
        except ResourceNotFoundError:
            return True
        return True

    def replace_if_unchanged(self, table: str, record: Record, data: dict[str, Any], **columns: Any) -> Record | None:
        """Compare-and-swap on the ETag; ``None`` when someone wrote the record since it was read."""
        entity = self._entity(record.partition, record.row, data, columns)
        try:
            meta = self.table(table).update_entity(
                entity, mode=UpdateMode.REPLACE, etag=record.etag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceModifiedError:
            return None
        except ResourceNotFoundError as exc:
            if _table_missing(exc):
                self._lost(table)  # the record went with its table: the caller reads again and inserts
            return None
        return Record(record.partition, record.row, data, meta.get("etag"), entity["updated"])

    def update(
        self,
        table: str,
        partition: str,
        row: str,
        mutate: Callable[[dict[str, Any] | None], dict[str, Any] | None],
        *,
        attempts: int = 10,
        columns: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> Record | None:
        """Read-modify-write with optimistic concurrency.

        ``mutate`` gets a copy of the current data (``None`` when absent) and returns the new data, or
        ``None`` to leave the record as it is. It may run more than once (after a lost race it sees the
        winner's write), so it must be a pure function of its input.
        """
        for _ in range(attempts):
            current = self.get(table, partition, row)
            before = json.loads(json.dumps(current.data)) if current else None
            new = mutate(before)
            if new is None:
                return current
            extra = columns(new) if columns else {}
            if current is None:
                written = self.insert(table, partition, row, new, **extra)
            else:
                written = self.replace_if_unchanged(table, current, new, **extra)
            if written is not None:
                return written
            log.debug("lost a write race on %s/%s/%s; retrying from a fresh read", table, partition, row)
        raise ConcurrencyError(f"{table}/{partition}/{row}: still changing after {attempts} attempts")

    # ------------------------------------------------------------------------------------------ leases

    def acquire_lease(self, group: str, holder: str, ttl_seconds: int) -> Lease | None:
        """Take or renew a group's lease; ``None`` while another holder's lease is still valid.

        A crashed holder never releases, so every lease has an expiry after which anyone may take it.
        """
        row = name_key(group)
        now = self.now()
        expires = now + timedelta(seconds=ttl_seconds)
        data = {"group": group, "holder": holder, "expires": expires.isoformat()}
        held = self._held.get(row)
        if held is not None and held[0] == holder and held[2] - now > timedelta(seconds=ttl_seconds / 2):
            # This store took it moments ago and more than half its time is left: nobody else can hold it, and
            # writing it again would only move the expiry a little (a workflow renews it before every step).
            return Lease(group, holder, held[2], held[1])
        if held is not None and held[0] == holder:
            # A renewal of a lease this store took: swap on the ETag it wrote (one request); if someone took the
            # lease since (it expired), the swap fails and the lease is looked at as anyone's.
            renewed = self.replace_if_unchanged(LEASES, Record("lease", row, {}, held[1]), data, holder=holder)
            if renewed is not None and renewed.etag is not None:
                return self._took(row, Lease(group, holder, expires, renewed.etag))
        # Most leases are free (released by their last holder): create first, read only when one exists.
        written = self.insert(LEASES, "lease", row, data, holder=holder)
        if written is not None and written.etag is not None:
            return self._took(row, Lease(group, holder, expires, written.etag))
        current = self.get(LEASES, "lease", row)
        if current is None:
            written = self.insert(LEASES, "lease", row, data, holder=holder)
        else:
            held_by = current.data.get("holder")
            still_valid = datetime.fromisoformat(current.data["expires"]) > now
            if held_by != holder and still_valid:
                return None
            written = self.replace_if_unchanged(LEASES, current, data, holder=holder)
        if written is None or written.etag is None:
            return None
        return self._took(row, Lease(group, holder, expires, written.etag))

    def _took(self, row: str, lease: Lease) -> Lease:
        self._held[row] = (lease.holder, lease.etag, lease.expires)
        return lease

    @contextlib.contextmanager
    def holding(self, name: str, holder: str, ttl_seconds: int) -> Iterator[Lease | None]:
        """Hold a named lease for a block (``None`` inside when another holder has it); released after."""
        lease = self.acquire_lease(name, holder, ttl_seconds)
        try:
            yield lease
        finally:
            if lease is not None:
                self.release_lease(lease)

    def release_lease(self, lease: Lease) -> bool:
        """Give a lease back early (only if it is still ours, unchanged since this store last took or renewed it)."""
        row = name_key(lease.group)
        held = self._held.get(row)
        etag = lease.etag
        if held is not None and held[0] == lease.holder:
            etag = held[1]
            del self._held[row]
        return self.delete(LEASES, "lease", row, etag=etag)

    def lease_holder(self, group: str) -> str | None:
        current = self.get(LEASES, "lease", name_key(group))
        if current is None or datetime.fromisoformat(current.data["expires"]) <= self.now():
            return None
        holder = current.data.get("holder")
        return str(holder) if holder else None

    # ---------------------------------------------------------------------------- event de-duplication

    def claim_event(self, event_id: str, claim_seconds: int) -> Record | None:
        """Claim an event for handling; ``None`` when it was handled already or another instance handles it now.

        Event Grid delivers at least once: a duplicate must be a no-op. But an event is *done* only when
        its work is (:meth:`finish_event`): a claim that is not finished (the handler failed: released at
        once; the instance died: after ``claim_seconds``) leaves the event to Event Grid's redelivery, never
        answered "duplicate". An expired record is taken over with an ETag swap, so it is never claimed twice.
        """
        partition, row = _event_keys(event_id)
        now = self.now()
        data = {"event_id": event_id, "status": "claimed", "expires": (now + timedelta(seconds=claim_seconds)).isoformat()}
        created = self.insert(EVENTS, partition, row, data)
        if created is not None:
            return created
        current = self.get(EVENTS, partition, row)
        if current is None:
            return self.insert(EVENTS, partition, row, data)
        if datetime.fromisoformat(current.data["expires"]) > now:
            return None
        return self.replace_if_unchanged(EVENTS, current, data)

    def finish_event(self, claim: Record, ttl_hours: int = 24) -> None:
        """The claimed event's work is done: its repeats are duplicates for ``ttl_hours``."""
        data = {**claim.data, "status": "done", "expires": (self.now() + timedelta(hours=ttl_hours)).isoformat()}
        if self.replace_if_unchanged(EVENTS, claim, data) is None:
            log.info("event %s: the claim expired and was taken over before it finished", claim.data.get("event_id"))

    def release_event(self, claim: Record) -> None:
        """The claimed event's work failed: forget the claim, so Event Grid's redelivery is handled again."""
        self.delete(EVENTS, claim.partition, claim.row, etag=claim.etag)

    def purge_expired_events(self) -> int:
        """Delete expired de-duplication records (called from the reconcile timer)."""
        now = self.now()
        removed = 0
        for record in self.query(EVENTS):
            if datetime.fromisoformat(record.data["expires"]) <= now and self.delete(
                EVENTS, record.partition, record.row, etag=record.etag
            ):
                removed += 1
        return removed

    # --------------------------------------------------------------------------------- operation journal

    def journal_intent(self, scope: str, key: str, operation: str, request: dict[str, Any]) -> JournalEntry:
        """Record an Azure write before it is sent; returns the existing entry when this is a retry.

        ``key`` is the idempotency key (deterministic for the step), so a crash between intent and send
        leaves an entry the pulse timer can see and finish, never a second, different write.
        """
        data = {"scope": scope, "key": key, "operation": operation, "status": INTENT, "request": request, "result": {}}
        partition = name_key(scope)
        row = encode_key(key)
        created = self.insert(JOURNAL, partition, row, data, status=INTENT, operation=operation)
        if created is None:
            existing = self.get(JOURNAL, partition, row)
            assert existing is not None
            return _journal(existing, scope, key)
        return JournalEntry(scope, key, operation, INTENT, request, {}, created.updated, created.etag)

    def journal_set(
        self, scope: str, key: str, status: str, result: dict[str, Any] | None = None, *, after: JournalEntry | None = None
    ) -> JournalEntry:
        """Move an entry to ``started`` (with its job id) or to an outcome; merges ``result``.

        ``after``: the entry as this caller last wrote it (the intent): the outcome is written with its ETag, without
        reading it again (one request); when someone changed it since, the usual read-modify-write.
        """
        partition, row = name_key(scope), encode_key(key)

        def mutate(data: dict[str, Any] | None) -> dict[str, Any]:
            if data is None:
                raise KeyError(f"journal entry {scope}/{key} does not exist; write its intent first")
            data["status"] = status
            data["result"] = {**data.get("result", {}), **(result or {})}
            return data

        def columns(data: dict[str, Any]) -> dict[str, Any]:
            return {"status": data["status"], "operation": data["operation"]}

        if after is not None and after.etag:
            known = {"scope": after.scope, "key": after.key, "operation": after.operation, "status": after.status}
            data = mutate({**known, "request": after.request, "result": dict(after.result)})
            written = self.replace_if_unchanged(JOURNAL, Record(partition, row, {}, after.etag), data, **columns(data))
            if written is not None:
                return _journal(written, scope, key)
        record = self.update(JOURNAL, partition, row, mutate, columns=columns)
        assert record is not None
        return _journal(record, scope, key)

    def journal_open(self) -> list[JournalEntry]:
        """Entries whose outcome is unknown: what the pulse timer must advance."""
        where = " or ".join(f"status eq @s{i}" for i in range(len(OPEN_STATUSES)))
        params = {f"s{i}": status for i, status in enumerate(OPEN_STATUSES)}
        return [_journal(r, None, None) for r in self.query(JOURNAL, where=where, parameters=params)]

    def journal_for(self, scope: str) -> list[JournalEntry]:
        return [_journal(r, scope, None) for r in self.query(JOURNAL, partition=name_key(scope))]

    # --------------------------------------------------------------------------------------- internals

    def _entity(self, partition: str, row: str, data: dict[str, Any], columns: dict[str, Any]) -> dict[str, Any]:
        entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": row, **_payload_properties(partition, row, data)}
        entity["updated"] = self.now()
        for name, value in columns.items():
            if value is not None:
                entity[name] = value
        return entity


def _event_keys(event_id: str) -> tuple[str, str]:
    row = encode_key(event_id.strip().lower())
    return row[:2] or "__", row


def _table_missing(exc: ResourceNotFoundError) -> bool:
    """Whether a 404 means the table is gone (``TableNotFound``), not just the entity."""
    return getattr(exc, "error_code", None) == "TableNotFound" or "TableNotFound" in str(exc)


_NOT_COLUMNS = frozenset({"PartitionKey", "RowKey", "Timestamp", "data", "updated"})
# Table storage limits a string property to 64 KiB (32K UTF-16 characters) and an entity to 1 MiB. A record's JSON
# (ASCII: json.dumps escapes the rest) goes in ``data``, continued in ``data1``, ``data2``, ... when it is longer
# (a group of many VMs: its placement rows, job ids and history). Writes replace the whole entity, so a record that
# shrinks leaves no stale continuation behind.
PAYLOAD_CHUNK = 30_000
PAYLOAD_PARTS = 30  # 900,000 characters: under the entity's 1 MiB with the columns


class RecordTooLarge(ValueError):
    """A record's JSON does not fit in one Table entity (what wrote it must keep less)."""


def _payload_properties(partition: str, row: str, data: dict[str, Any]) -> dict[str, str]:
    raw = json.dumps(data, sort_keys=True, default=str)
    parts = [raw[i : i + PAYLOAD_CHUNK] for i in range(0, len(raw), PAYLOAD_CHUNK)] or ["{}"]
    if len(parts) > PAYLOAD_PARTS:
        raise RecordTooLarge(f"record {partition}/{row} is {len(raw):,} characters of JSON: over a Table entity's 1 MiB")
    return {("data" if i == 0 else f"data{i}"): part for i, part in enumerate(parts)}


def _payload(entity: Any) -> str:
    """The record's JSON as stored: ``data`` and its continuations, in order."""
    parts = [str(entity.get("data") or "{}")]
    index = 1
    while (more := entity.get(f"data{index}")) is not None:
        parts.append(str(more))
        index += 1
    return "".join(parts)


def _not_column(name: str) -> bool:
    return name in _NOT_COLUMNS or (name.startswith("data") and name[4:].isdigit())


def _record(entity: Any) -> Record:
    updated = entity.get("updated")
    return Record(
        partition=entity["PartitionKey"],
        row=entity["RowKey"],
        data=json.loads(_payload(entity)),
        etag=entity.metadata.get("etag"),
        updated=updated if isinstance(updated, datetime) else None,
        columns={k: v for k, v in entity.items() if not _not_column(k)},
    )


def _journal(record: Record, scope: str | None, key: str | None) -> JournalEntry:
    data = record.data
    return JournalEntry(
        scope=scope or data.get("scope", record.partition),
        key=key or data.get("key", record.row),
        operation=data.get("operation", ""),
        status=data.get("status", INTENT),
        request=data.get("request", {}),
        result=data.get("result", {}),
        created=record.updated,
        etag=record.etag,
    )


def new_holder_id() -> str:
    """A lease holder id for this process (function instance)."""
    return f"ppgdr-{uuid.uuid4()}"
