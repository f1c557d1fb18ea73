"""Placement rules, applied: the rules table, reading VMware / Hyper-V items, and the journaled updates.

:mod:`shared.protection.placement_rules` holds the rule model and the pure planning; this module is its I/O:
it stores rules (Table storage), reads the on-premises items from the vault, and starts the item updates
(ensuring the target PPG first), journaled like every other Azure write. Items already in line cost no
write at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shared.arm.keys import name_key
from shared.context import AppContext
from shared.platform.clients import start_operation
from shared.platform.errors import azure_error_text
from shared.platform.observed import ObservedItem, item_from_sdk
from shared.protection.placement_rules import (
    ACTION,
    ACTION_REFUSED,
    INMAGE_RCM,
    OPERATION,
    PARTITION,
    PROVIDERS,
    RETRY_FAILED_AFTER,
    OnPremItem,
    PlacementRule,
    RuleError,
    RuleUpdate,
    Step,
    matching_rule,
    onprem_item_from_sdk,
    plan_rule_updates,
)
from shared.protection.steps import StepRefused, _run_journaled, ensure_resource_group, ensure_target_ppg, journal_scope
from shared.state.store import FAILED, OPEN_STATUSES, RULES, StateStore

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ the store


def list_rules(store: StateStore) -> list[PlacementRule]:
    """Every valid stored rule in evaluation (name) order; damaged records are logged and skipped."""
    rules: list[PlacementRule] = []
    for record in store.query(RULES, partition=PARTITION):
        try:
            rules.append(PlacementRule.from_data(record.data))
        except RuleError as exc:
            log.warning("ignoring stored placement rule %s: %s", record.row, exc, extra={"step": "placement-rule"})
    return sorted(rules, key=lambda r: r.name.lower())


def get_rule(store: StateStore, name: str) -> PlacementRule | None:
    record = store.get(RULES, PARTITION, name_key(name))
    return PlacementRule.from_data(record.data) if record else None


def save_rule(store: StateStore, rule: PlacementRule) -> bool:
    """Create or replace a rule (ETag-safe); returns True when it was created."""
    now = store.now().isoformat()
    created: list[bool] = []

    def mutate(current: dict[str, Any] | None) -> dict[str, Any]:
        created[:] = [current is None]
        return {**rule.to_data(), "created": (current or {}).get("created", now), "updated": now}

    store.update(RULES, PARTITION, name_key(rule.name), mutate, columns=lambda d: {"kind": "placement"})
    return created[-1]


def delete_rule(store: StateStore, name: str) -> bool:
    """Delete a rule; False when there was none of that name."""
    record = store.get(RULES, PARTITION, name_key(name))
    if record is None:
        return False
    return store.delete(RULES, PARTITION, record.row, etag=record.etag)


# -------------------------------------------------------------------------------------------- running


@dataclass(frozen=True)
class RuleOutcome:
    """What running the rules did (or, in a dry run, would do) for one item."""

    item: str
    rule: str
    outcome: str  # started | would-start | in-flight | waiting | refused | failed
    reason: str


def list_onprem_items(ctx: AppContext) -> list[OnPremItem]:
    """Every VMware/Hyper-V item of the vault (one paged listing)."""
    if not ctx.settings.vault_id:
        return []
    vault = ctx.clients.vault()
    listed = ctx.clients.site_recovery(vault.subscription).replication_protected_items.list(*vault.args)
    return [onprem_item_from_sdk(i) for i in listed if item_from_sdk(i).provider in PROVIDERS]


def _fetch(ctx: AppContext, item: ObservedItem) -> OnPremItem | None:
    vault = ctx.clients.vault()
    try:
        found = ctx.clients.site_recovery(vault.subscription).replication_protected_items.get(
            *vault.args, item.fabric_name, item.container_name, item.name
        )
    except ResourceNotFoundError:
        return None
    return onprem_item_from_sdk(found)


def run_rules(
    ctx: AppContext, rules: list[PlacementRule], items: list[OnPremItem], *, dry_run: bool = False
) -> list[RuleOutcome]:
    """Plan, then start each update (ensure the PPG, then the provider's update), journaled."""
    outcomes: list[RuleOutcome] = []
    dry = dry_run or ctx.settings.dry_run
    for update in plan_rule_updates(rules, items):
        name = update.item.display_name
        if update.step == Step.WAIT:
            outcomes.append(RuleOutcome(name, update.rule, "waiting", update.reason))
            continue
        if update.step == Step.REFUSE:
            outcomes.append(RuleOutcome(name, update.rule, "refused", update.reason))
            continue
        blocked = _journal_block(ctx, update)
        if blocked is not None:
            outcomes.append(RuleOutcome(name, update.rule, *blocked))
            continue
        if dry:
            outcomes.append(RuleOutcome(name, update.rule, "would-start", f"dry run: would update: {update.reason}"))
            continue
        outcomes.append(_start(ctx, update))
    return outcomes


def _journal_block(ctx: AppContext, update: RuleUpdate) -> tuple[str, str] | None:
    """An update of this item already in flight, or the same update failed a moment ago: do not send it."""
    entries = ctx.store.journal_for(journal_scope(update.item.id))
    if any(e.status in OPEN_STATUSES for e in entries):
        return "in-flight", f"{update.reason} waits: an operation on the item is in flight"
    now = ctx.store.now()
    epoch = datetime.min.replace(tzinfo=now.tzinfo)
    ours = sorted((e for e in entries if e.operation == OPERATION), key=lambda e: e.created or epoch)
    if ours:
        last = ours[-1]
        request = {k: v for k, v in last.request.items() if k != "vm_id"}
        recent = last.created is not None and now - last.created < RETRY_FAILED_AFTER
        if last.status == FAILED and recent and request == update.request():
            errors = last.result.get("errors") or [last.result.get("error", "")]
            detail = "; ".join(str(e) for e in errors if e) or "no details"
            retry_at = (last.created + RETRY_FAILED_AFTER).strftime("%H:%M UTC") if last.created else "later"
            return "failed", f"{update.reason}: the same update failed ({detail}); it is retried after {retry_at}"
    return None


def _start(ctx: AppContext, update: RuleUpdate) -> RuleOutcome:
    name = update.item.display_name
    assert update.ppg is not None and update.item.recovery_region is not None
    try:
        ensure_resource_group(ctx, update.subscription, update.ppg.resource_group, update.item.recovery_region)
        ensure_target_ppg(ctx, update.subscription, update.ppg, update.item.recovery_region)
        start_rule_update(ctx, update)
    except StepRefused as exc:
        return RuleOutcome(name, update.rule, "refused", f"{update.reason}: refused: {exc}")
    except HttpResponseError as exc:
        refusal = azure_error_text(exc)
        log.warning("Azure refused the placement update of %s: %s", name, refusal, extra={"vm": update.item.id})
        return RuleOutcome(name, update.rule, "failed", f"{update.reason}: Azure refused it: {refusal}")
    return RuleOutcome(name, update.rule, "started", update.reason)


def update_input(update: RuleUpdate) -> Any:
    """The ``UpdateReplicationProtectedItemInput`` for the item's provider (only the fields the rule sets)."""
    from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

    assert update.ppg is not None
    if update.item.provider == INMAGE_RCM:
        properties = m.UpdateReplicationProtectedItemInputProperties(
            provider_specific_details=m.InMageRcmUpdateReplicationProtectedItemInput(
                target_proximity_placement_group_id=update.ppg.id,
                target_vm_size=update.vm_size,
                target_network_id=update.network_id,
            )
        )
    else:
        properties = m.UpdateReplicationProtectedItemInputProperties(
            recovery_azure_vm_size=update.vm_size,
            selected_recovery_azure_network_id=update.network_id,
            provider_specific_details=m.HyperVReplicaAzureUpdateReplicationProtectedItemInput(
                target_proximity_placement_group_id=update.ppg.id,
            ),
        )
    return m.UpdateReplicationProtectedItemInput(properties=properties)


def start_rule_update(ctx: AppContext, update: RuleUpdate) -> None:
    """Start the provider's update of one item (journaled; the pulse timer follows the ASR job).

    The journal's ``vm_id`` is the item id: these items have no Azure VM, and the pulse only needs an
    id to look up once the job has ended.
    """

    vault = ctx.clients.vault()
    asr = ctx.clients.site_recovery(vault.subscription)
    body = update_input(update)
    item = update.item
    _run_journaled(
        ctx,
        item.id,
        OPERATION,
        update.request(),
        lambda: start_operation(
            asr.replication_protected_items.begin_update, *vault.args, item.fabric_name, item.container_name, item.name, body
        ),
    )


def apply_placement_rules(ctx: AppContext, items: list[ObservedItem], *, dry_run: bool = False) -> list[tuple[str, str, str]]:
    """Apply stored placement rules to on-premises items; returns (item, action, reason) per change.

    Called by the full reconcile with the items it listed. Costs nothing without VMware/Hyper-V items,
    one rules query plus one item GET per item a rule selects otherwise; writes only where an item
    differs from its rule.
    With ``dry_run`` (or ``PPGDR_DRY_RUN``) nothing is written and the updates are reported as "would".
    """
    candidates = [i for i in items if i.provider in PROVIDERS]
    if not candidates:
        return []
    rules = list_rules(ctx.store)
    selected = [i for i in candidates if matching_rule(rules, i.provider, i.friendly_name or i.name, i.fabric_name)]
    if not selected:
        return []

    report: list[tuple[str, str, str]] = []
    detailed: list[OnPremItem] = []
    for item in selected:
        try:
            found = _fetch(ctx, item)
        except HttpResponseError as exc:  # one unreadable item must not stop the reconcile of the others
            refusal = azure_error_text(exc)
            log.warning("could not read protected item %s: %s", item.name, refusal, extra={"vm": item.id})
            report.append((item.friendly_name or item.name, ACTION_REFUSED, f"could not read the item from ASR: {refusal}"))
            continue
        if found is not None:
            detailed.append(found)
    for outcome in run_rules(ctx, rules, detailed, dry_run=dry_run):
        if outcome.outcome in ("started", "would-start"):
            report.append((outcome.item, ACTION, outcome.reason))
        elif outcome.outcome in ("refused", "failed"):
            report.append((outcome.item, ACTION_REFUSED, outcome.reason))
    return report
