"""An in-memory stand-in for ``azure.data.tables.TableServiceClient``, for fast unit tests of stateful logic.

Only what :class:`shared.state.store.StateStore` uses: tables created on demand, entities with ETags,
create / upsert / conditional update and delete, and the small OData subset the store writes
(``eq``/``ne``, ``and``/``or``, parentheses, ``@name`` parameters). It keeps Azure's semantics where the
store depends on them: a create of an existing entity raises ``ResourceExistsError``, a stale ETag
raises ``ResourceModifiedError``, a missing entity ``ResourceNotFoundError``. Integration tests use
the real Azurite; this is for unit tests of the workflow phases and the like.
"""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

_etags = itertools.count(1)


class Entity(dict[str, Any]):
    """A stored entity: its properties, plus ``metadata`` with the ETag (as the SDK's TableEntity)."""

    metadata: dict[str, Any]


def _copy(entity: dict[str, Any], etag: str) -> Entity:
    result = Entity(copy.deepcopy(dict(entity)))
    result.metadata = {"etag": etag}
    return result


_TOKEN = re.compile(r"\(|\)|'(?:[^']|'')*'|[^\s()]+")


def _matches(entity: dict[str, Any], text: str, parameters: dict[str, Any]) -> bool:
    tokens = _TOKEN.findall(text)
    pos = 0

    def value(token: str) -> Any:
        if token.startswith("@"):
            return parameters[token[1:]]
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        return entity.get(token)

    def primary() -> bool:
        nonlocal pos
        if tokens[pos] == "(":
            pos += 1
            result = disjunction()
            assert tokens[pos] == ")", f"unbalanced filter: {text}"
            pos += 1
            return result
        left, op, right = tokens[pos], tokens[pos + 1], tokens[pos + 2]
        pos += 3
        if op == "eq":
            return bool(value(left) == value(right))
        if op == "ne":
            return bool(value(left) != value(right))
        raise NotImplementedError(f"operator {op} in {text}")

    def conjunction() -> bool:
        nonlocal pos
        result = primary()
        while pos < len(tokens) and tokens[pos] == "and":
            pos += 1
            result = primary() and result
        return result

    def disjunction() -> bool:
        nonlocal pos
        result = conjunction()
        while pos < len(tokens) and tokens[pos] == "or":
            pos += 1
            result = conjunction() or result
        return result

    return disjunction()


class FakeTableClient:
    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}

    def create_table(self) -> None:
        return None

    def _etag(self) -> str:
        return f'W/"{next(_etags)}"'

    def get_entity(self, partition_key: str, row_key: str) -> Entity:
        found = self.rows.get((partition_key, row_key))
        if found is None:
            raise ResourceNotFoundError("The specified resource does not exist.")
        return _copy(*found)

    def list_entities(self) -> list[Entity]:
        return [_copy(entity, etag) for entity, etag in self.rows.values()]

    def query_entities(self, query_filter: str, *, parameters: dict[str, Any] | None = None) -> list[Entity]:
        return [_copy(e, etag) for e, etag in self.rows.values() if _matches(e, query_filter, parameters or {})]

    def create_entity(self, entity: dict[str, Any]) -> dict[str, Any]:
        key = (entity["PartitionKey"], entity["RowKey"])
        if key in self.rows:
            raise ResourceExistsError("The specified entity already exists.")
        etag = self._etag()
        self.rows[key] = (copy.deepcopy(dict(entity)), etag)
        return {"etag": etag}

    def upsert_entity(self, entity: dict[str, Any], mode: Any = None) -> dict[str, Any]:
        etag = self._etag()
        self.rows[(entity["PartitionKey"], entity["RowKey"])] = (copy.deepcopy(dict(entity)), etag)
        return {"etag": etag}

    def update_entity(
        self, entity: dict[str, Any], mode: Any = None, *, etag: str | None = None, match_condition: Any = None
    ) -> dict[str, Any]:
        key = (entity["PartitionKey"], entity["RowKey"])
        current = self.rows.get(key)
        if current is None:
            raise ResourceNotFoundError("The specified resource does not exist.")
        if match_condition == MatchConditions.IfNotModified and current[1] != etag:
            raise ResourceModifiedError("The update condition specified in the request was not satisfied.")
        new_etag = self._etag()
        self.rows[key] = (copy.deepcopy(dict(entity)), new_etag)
        return {"etag": new_etag}

    def delete_entity(self, partition_key: str, row_key: str, *, etag: str | None = None, match_condition: Any = None) -> None:
        current = self.rows.get((partition_key, row_key))
        if current is None:
            return
        if match_condition == MatchConditions.IfNotModified and current[1] != etag:
            raise ResourceModifiedError("The update condition specified in the request was not satisfied.")
        del self.rows[(partition_key, row_key)]


class FakeTableService:
    """``TableServiceClient`` in memory: ``get_table_client`` returns the same table each time."""

    def __init__(self) -> None:
        self.tables: dict[str, FakeTableClient] = {}

    def get_table_client(self, table_name: str) -> FakeTableClient:
        return self.tables.setdefault(table_name, FakeTableClient(table_name))
