"""``ppgdr``: the operator's command line, against real Azure or the local emulator alike.

It reads the same ``PPGDR_*`` settings as the Function App and calls the same ``shared/`` code, so
``ppgdr plan`` shows exactly what the next reconcile would do.
"""

from __future__ import annotations

import json
from typing import Any

import click

from shared.context import AppContext, get_context
from shared.settings import SettingsError


def _context() -> AppContext:
    try:
        return get_context()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _emit(data: Any, as_json: bool, render: Any) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        render(data)


@click.group()
def cli() -> None:
    """Disaster recovery for Azure VMs in proximity placement groups."""


@cli.command()
@click.option("--group", help="only VMs of this DR group")
@click.option("--vm", "vm_id", help="one VM (resource id), with its history")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(group: str | None, vm_id: str | None, as_json: bool) -> None:
    """Protection status per VM: state, target PPG, health, refusals and drift."""
    from shared.status import all_statuses, get_status

    ctx = _context()
    if vm_id:
        found = get_status(ctx.store, vm_id)
        if found is None:
            raise click.ClickException(f"ppg-dr has no status for {vm_id}")
        _emit(found.to_data(), as_json, lambda d: click.echo(json.dumps(d, indent=2, default=str)))
        return
    rows = [s for s in all_statuses(ctx.store) if not group or s.group.lower() == group.lower()]
    rows.sort(key=lambda s: (s.group, s.vm_name))

    def render(data: list[Any]) -> None:
        if not rows:
            click.echo("no VMs are tagged for protection yet")
            return
        click.echo(f"{'VM':<16} {'GROUP':<14} {'STATE':<20} {'HEALTH':<8} {'TARGET PPG':<28} REASON")
        for s in rows:
            target = s.target_ppg_id.rsplit("/", 1)[-1] if s.target_ppg_id else "-"
            progress = f" {s.percent_complete}%" if s.state == "initial-replication" and s.percent_complete is not None else ""
            click.echo(
                f"{s.vm_name:<16} {s.group or '-':<14} {s.state + progress:<20} {s.replication_health or '-':<8} "
                f"{target:<28} {'; '.join(s.problems) or s.reason}"
            )

    _emit([s.to_data() for s in rows], as_json, render)


@cli.command()
@click.option("--vm", "vm_id", help="plan one VM (resource id) instead of the whole estate")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plan(vm_id: str | None, as_json: bool) -> None:
    """What the reconcile would do now, changing nothing."""
    from shared.reconciler import describe, reconcile_all, reconcile_vm

    ctx = _context()
    if vm_id:
        action, _ = reconcile_vm(ctx, vm_id, dry_run=True)
        _emit(describe(action), as_json, lambda d: click.echo(f"{d['action']}: {d['reason']}"))
        return
    report = reconcile_all(ctx, dry_run=True)
    data = [{"vm": vm, "action": action, "reason": reason} for vm, action, reason in report.actions]

    def render(rows: list[dict[str, str]]) -> None:
        click.echo(f"{report.vms_seen} VMs seen; {len(rows)} would change")
        for row in rows:
            click.echo(f"  {row['vm']}: {row['action']} - {row['reason']}")

    _emit(data, as_json, render)


@cli.command()
def reconcile() -> None:
    """Run a full reconcile now (what the timer does)."""
    from shared.reconciler import reconcile_all

    report = reconcile_all(_context())
    click.echo(f"{report.vms_seen} VMs seen, {len(report.actions)} actions, {report.status_writes} status writes")
    for vm, action, reason in report.actions:
        click.echo(f"  {vm}: {action} - {reason}")
    for error in report.errors:
        click.echo(f"  error: {error}", err=True)


def _register() -> None:
    from shared.cli_rules import rules

    cli.add_command(rules)


_register()


def main() -> None:
    cli(prog_name="ppgdr")


if __name__ == "__main__":
    main()
