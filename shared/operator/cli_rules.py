"""``ppgdr rules``: placement rules for VMware and Hyper-V protected items (see ``docs/placement-rules.md``).

Registered on the main command in :mod:`shared.operator.cli` (``cli.add_command(rules)``); kept apart so the
rules feature reads as one unit: the rule model and its application live in
:mod:`shared.protection.placement_rules`, this module only parses options and prints.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click

from shared.context import AppContext, get_context
from shared.protection.placement_rules import ANY_PROVIDER, PROVIDERS, RuleError, make_rule
from shared.protection.placement_updates import delete_rule, get_rule, list_onprem_items, list_rules, run_rules, save_rule
from shared.settings import SettingsError


def _context() -> AppContext:
    try:
        return get_context()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def rules() -> None:
    """Placement rules: target PPG, VM size and network of VMware/Hyper-V protected items."""


@rules.command("list")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def list_command(as_json: bool) -> None:
    """The stored rules, in the order they are evaluated (by name; the first match wins)."""
    stored = list_rules(_context().store)
    if as_json:
        click.echo(json.dumps([r.to_data() for r in stored], indent=2))
        return
    if not stored:
        click.echo("no placement rules; add one with: ppgdr rules set NAME --provider ... --target-ppg ...")
        return
    for rule in stored:
        click.echo(f"{rule.name}: {rule.describe()}")


@rules.command("set")
@click.argument("name")
@click.option(
    "--provider",
    required=True,
    type=click.Choice([*PROVIDERS, ANY_PROVIDER], case_sensitive=False),
    help="the items' replication provider (InMageRcm = VMware, HyperVReplicaAzure = Hyper-V)",
)
@click.option("--match-name", default="*", show_default=True, help="glob over the items' friendly names, e.g. 'web-*'")
@click.option("--match-fabric", help="only items of this source fabric (VMware site / Hyper-V site)")
@click.option("--target-ppg", required=True, help="PPG name (in the target resource group) or full PPG id; created if missing")
@click.option(
    "--target-resource-group", help="resource group of a PPG given by name (default: each item's target resource group)"
)
@click.option("--vm-size", help="recovery VM size, e.g. Standard_D4s_v5")
@click.option("--network", "network_id", help="recovery virtual network id")
def set_command(
    name: str,
    provider: str,
    match_name: str,
    match_fabric: str | None,
    target_ppg: str,
    target_resource_group: str | None,
    vm_size: str | None,
    network_id: str | None,
) -> None:
    """Create or replace the rule NAME. It takes effect at the next reconcile (or `ppgdr rules apply`)."""
    try:
        rule = make_rule(
            name,
            provider=provider,
            match_name=match_name,
            match_fabric=match_fabric,
            target_ppg=target_ppg,
            target_resource_group=target_resource_group,
            vm_size=vm_size,
            network_id=network_id,
        )
    except RuleError as exc:
        raise click.UsageError(str(exc)) from exc
    created = save_rule(_context().store, rule)
    click.echo(f"{'created' if created else 'replaced'} rule {rule.name}: {rule.describe()}")


@rules.command("delete")
@click.argument("name")
def delete_command(name: str) -> None:
    """Delete the rule NAME. Items keep the placement they have; nothing in Azure is changed."""
    ctx = _context()
    try:
        found = get_rule(ctx.store, name)
    except RuleError:
        found = None  # a damaged record can still be deleted
    if not delete_rule(ctx.store, name):
        raise click.ClickException(f"there is no placement rule named {name!r} (see: ppgdr rules list)")
    click.echo(f"deleted rule {found.name if found else name}")


@rules.command("apply")
@click.option("--dry-run", is_flag=True, help="show what would change, change nothing")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def apply_command(dry_run: bool, as_json: bool) -> None:
    """Apply the rules now (what the reconcile does), and print what was (or would be) done."""
    ctx = _context()
    stored = list_rules(ctx.store)
    items = list_onprem_items(ctx) if stored else []
    outcomes = run_rules(ctx, stored, items, dry_run=dry_run)
    if as_json:
        data: list[dict[str, Any]] = [asdict(o) for o in outcomes]
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{len(stored)} rules, {len(items)} VMware/Hyper-V items; {len(outcomes)} not in line with their rule")
    for outcome in outcomes:
        click.echo(f"  {outcome.item}: {outcome.outcome} - {outcome.reason}")
