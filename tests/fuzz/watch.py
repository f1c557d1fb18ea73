"""What refused input must not do, observed: table writes (a spy on the store's table clients) and Azure writes
(the emulator's request log). Used by the e2e tests of issue 14 and the fuzzers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shared.state.store import StateStore
from tests.fixtures.app import Ppgdr

TABLE_WRITES = ("create_entity", "upsert_entity", "update_entity", "delete_entity", "submit_transaction")
ARM_WRITES = ("PUT", "POST", "PATCH", "DELETE")


class _Spied:
    """A ``TableClient`` whose writes are recorded (and still done)."""

    def __init__(self, client: Any, table: str, writes: list[str]) -> None:
        self._client, self._table, self._writes = client, table, writes

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name not in TABLE_WRITES:
            return found

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self._writes.append(f"{name} {self._table}")
            return found(*args, **kwargs)

        return recorded


@contextmanager
def table_writes(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every Table write the store makes inside the block, as ``"<operation> <table>"``."""
    writes: list[str] = []
    real = store.table

    def spied(name: str) -> Any:
        return _Spied(real(name), name, writes)

    with monkeypatch.context() as patch:
        patch.setattr(store, "table", spied)
        yield writes


def arm_writes(app: Ppgdr) -> list[str]:
    """Writes the emulator logged since the last ``clear_requests`` (ARM reads and token requests do not count)."""
    return [f"{r.get('method')} {r.get('path')}" for r in app.emulator.requests() if str(r.get("method")).upper() in ARM_WRITES]
