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


# ----------------------------------------------------------------------------------- groups and failover


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def groups(as_json: bool) -> None:
    """DR groups: state, members, recovery plan order, pending decision, workflow."""
    from shared.http_api import group_overview

    rows = group_overview(_context())

    def render(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no DR groups yet (protect VMs first)")
        for row in data:
            wf = row["workflow"]
            click.echo(f"{row['name']}: {row['state']} (mode {row['failover_mode']}, {row['source_region']})")
            click.echo("  members: " + ", ".join(f"{m['vm']} [{m['size']}, {m['state']}]" for m in row["members"]))
            if row["boot_groups"]:
                click.echo("  boot order: " + " -> ".join("+".join(b) for b in row["boot_groups"]))
            if row["plan_left_out"]:
                click.echo("  not in the recovery plan yet: " + ", ".join(row["plan_left_out"]))
            if row["plan_problem"]:
                click.echo(f"  PLAN: {row['plan_problem']}")
            if row["pending_decision"]:
                pending = row["pending_decision"]
                click.echo(f"  PENDING {pending['decision_id']}: {'; '.join(pending['reasons'])}")
            if wf:
                click.echo(f"  {wf['kind']} {wf['id']}: {wf['phase']}{' - ' + wf['error'] if wf['error'] else ''}")
                if wf["suggestion"]:
                    click.echo(f"  next: {wf['suggestion']}")
            for place in row["placement"] or []:
                where = "ok" if not place.get("problem") else place["problem"]
                click.echo(f"  {place['vm']}: {place.get('power') or '?'}; {where}")

    _emit(rows, as_json, render)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def decisions(as_json: bool) -> None:
    """Failover decisions waiting for approval."""
    from shared.failover_decisions import pending_decisions

    rows = pending_decisions(_context())

    def render(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no decisions are waiting for approval")
        for row in data:
            click.echo(f"{row['decision_id']}  group {row['group']}  {row['decided_at']}")
            for reason in row["reasons"]:
                click.echo(f"    {reason}")

    _emit(rows, as_json, render)


def _refused(action: Any) -> Any:
    from shared.workflows import WorkflowRefused

    try:
        return action()
    except WorkflowRefused as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command()
@click.argument("decision")
@click.option("--by", default="cli", help="who approves (recorded in the audit trail)")
@click.option("--repair", is_flag=True, help="repair placement (anchor-first restart) after commit")
@click.option("--dry-run", is_flag=True, help="record what would happen, change nothing")
def approve(decision: str, by: str, repair: bool, dry_run: bool) -> None:
    """Approve a pending failover decision: its group fails over."""
    from shared.failover_decisions import approve as do_approve

    result = _refused(lambda: do_approve(_context(), decision, by=by, repair=repair, dry_run=dry_run))
    click.echo(json.dumps(result))


@cli.command()
@click.argument("decision")
@click.option("--by", default="cli")
@click.option("--comment", default="")
def reject(decision: str, by: str, comment: str) -> None:
    """Reject a pending failover decision (kept in the audit trail)."""
    from shared.failover_decisions import reject as do_reject

    click.echo(json.dumps(_refused(lambda: do_reject(_context(), decision, by=by, comment=comment))))


def _group_command(action: str, help_text: str) -> None:
    @cli.command(name=action, help=help_text)
    @click.argument("group")
    @click.option("--dry-run", is_flag=True, help="record what would happen, change nothing")
    def command(group: str, dry_run: bool) -> None:
        from shared import workflows as wfl

        ctx = _context()

        def run() -> Any:
            if action == "failback":
                return wfl.start_failback(ctx, group, reason="requested with the CLI", dry_run=dry_run)
            return wfl.request(ctx, group, action, dry_run=dry_run)

        wf = _refused(run)
        click.echo(f"{wf.group}: {wf.kind} {wf.id} {'(dry run) ' if dry_run else ''}phase {wf.phase}")


@cli.command()
@click.argument("group")
@click.option("--repair", is_flag=True, help="repair placement (anchor-first restart) after commit")
@click.option(
    "--recovery-point",
    type=click.Choice(["LatestProcessed", "Latest", "LatestApplicationConsistent", "LatestCrashConsistent"]),
    default="LatestProcessed",
    show_default=True,
)
@click.option("--dry-run", is_flag=True, help="record what would happen, change nothing")
def failover(group: str, repair: bool, recovery_point: str, dry_run: bool) -> None:
    """Fail a protected group over to its DR region (the pulse timer carries it out)."""
    from shared import workflows as wfl

    wf = _refused(
        lambda: wfl.start_failover(
            _context(), group, reason="requested with the CLI", repair=repair, recovery_point=recovery_point, dry_run=dry_run
        )
    )
    click.echo(f"{wf.group}: {wf.kind} {wf.id} {'(dry run) ' if dry_run else ''}phase {wf.phase}")


_group_command("commit", "Commit a failover whose commit is held (e.g. not every VM runs).")
_group_command("repair", "Restart the group's VMs anchor-first inside the PPG (Azure's co-location guidance).")
_group_command("reprotect", "Resume a blocked, committed workflow at reprotect (switch protection).")
_group_command("resume", "Resume a blocked workflow at the step that failed.")
_group_command("failback", "Fail a reprotected group back to its original region and PPG.")


@cli.command()
@click.argument("group")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def audit(group: str, as_json: bool) -> None:
    """A group's audit trail: decisions, approvals, refusals, steps and placement."""
    from shared.workflows import audit_trail

    rows = audit_trail(_context(), group)

    def render(data: list[dict[str, Any]]) -> None:
        for row in data:
            click.echo(f"{row['time'][:19]}  {row['event']:<18} {row['message']}")

    _emit(rows, as_json, render)


def _register() -> None:
    from shared.cli_rules import rules

    cli.add_command(rules)


_register()


def main() -> None:
    cli(prog_name="ppgdr")


if __name__ == "__main__":
    main()
