"""Finding a DR group by the name an operator or a workflow gives.

Groups are derived from the per-VM statuses (``shared.failover.groups``); a group that failed over, or
whose members were all unprotected since, is still known by its record or its audit trail. "Unknown"
is :class:`NotFound` (404), distinct from a group whose state refuses an action (409).
"""

from __future__ import annotations

from shared.context import AppContext
from shared.failover.groups import Group, groups_from_statuses
from shared.failover.refusals import NotFound
from shared.failover.workflow_state import group_statuses
from shared.state.audit import has_audit
from shared.state.group_records import group_exists


def current_group(ctx: AppContext, name: str) -> Group:
    """The group with its current members, or :class:`NotFound`."""
    found = groups_from_statuses(group_statuses(ctx, name)).get(name.lower())
    if found is None:
        raise NotFound(f"unknown group {name!r}: `ppgdr groups` lists the DR groups")
    return found


def known_group(ctx: AppContext, name: str) -> str | None:
    """The group's name as stored, when ppg-dr knows it: it has members now, a record, or an audit trail."""
    if not name.strip():
        return None
    group = groups_from_statuses(group_statuses(ctx, name.strip())).get(name.strip().lower())
    if group is not None:
        return group.name
    record = group_exists(ctx.store, name)
    if record is not None:
        return record.name or name
    return name if has_audit(ctx.store, name) else None


def require_group(ctx: AppContext, name: str) -> str:
    """:func:`known_group`, or :class:`NotFound` naming the group."""
    found = known_group(ctx, name)
    if found is None:
        raise NotFound(f"unknown group {name!r}: `ppgdr groups` lists the DR groups")
    return found
