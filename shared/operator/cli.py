"""``ppgdr``: the operator's command line, against real Azure or the local emulator alike.

It reads the same ``PPGDR_*`` settings as the Function App and calls the same ``shared/`` code, so
``ppgdr plan`` shows exactly what the next reconcile would do. Errors are one line naming what to fix
(a setting, an unknown group, an ambiguous VM name) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed
from typing import Any

import click

from shared.arm.ids import ResourceId
from shared.context import AppContext, get_context
from shared.failover import engine
from shared.failover.guard import approve as do_approve
from shared.failover.guard import pending_decisions
from shared.failover.guard import reject as do_reject
from shared.failover.lookup import require_group
from shared.failover.refusals import WorkflowRefused
from shared.operator.cli_drills import drill, drills, report
from shared.operator.cli_preflight import preflight
from shared.operator.cli_rules import rules
from shared.operator.group_view import group_rows
from shared.operator.vm_lookup import VmLookupError, resolve_vm
from shared.platform.connectivity import connection_problem
from shared.protection.reconciler import describe, reconcile_all, reconcile_vm
from shared.settings import Settings, SettingsError
from shared.state.audit import audit_trail
from shared.state.vm_status import all_statuses, get_status
from shared.ticks import reconcile as reconcile_tick

WIDTH = 110


def version() -> str:
    """The installed package's version (``pip install .``), or the source tree's when run uninstalled."""
    try:
        return installed("ppg-dr")
    except PackageNotFoundError:
        return "0.1.0+source"


class PpgdrGroup(click.Group):
    """Turns the errors an operator can fix into one line and exit code 1 (click's ``Error:`` line)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from exc
        except WorkflowRefused as exc:
            raise click.ClickException(str(exc)) from exc
        except Exception as exc:
            problem = _connection_problem(exc)
            if problem is None:
                raise
            raise click.ClickException(problem) from exc


def _connection_problem(exc: Exception) -> str | None:
    try:
        settings = Settings.from_env()
    except SettingsError:
        return None
    return connection_problem(exc, settings)


def _context() -> AppContext:
    try:
        return get_context()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _emit(data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        render(data)


def _vm(ctx: AppContext, text: str, *, managed_only: bool = False) -> ResourceId:
    try:
        return resolve_vm(ctx, text, managed_only=managed_only)
    except VmLookupError as exc:
        raise click.ClickException(str(exc)) from exc


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ", break_long_words=False, break_on_hyphens=False
    )


@click.group(cls=PpgdrGroup)
@click.version_option(version(), "--version", prog_name="ppgdr")
def cli() -> None:
    """Disaster recovery for Azure VMs in proximity placement groups."""


@cli.command()
@click.option("--group", help="only VMs of this DR group")
@click.option("--vm", "vm", help="one VM (name, rg/name or resource id), with its history")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(group: str | None, vm: str | None, as_json: bool) -> None:
    """Protection status per VM: state, target PPG, health, refusals and drift."""
    ctx = _context()
    if vm:
        found = get_status(ctx.store, _vm(ctx, vm, managed_only=True))
        if found is None:
            raise click.ClickException(f"ppg-dr has no status for {vm}")
        _emit(found.to_data(), as_json, lambda d: click.echo(json.dumps(d, indent=2, default=str)))
        return
    if group:
        group = require_group(ctx, group)
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
@click.option("--vm", "vm", help="plan one VM (name, rg/name or resource id) instead of the whole estate")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def plan(vm: str | None, as_json: bool) -> None:
    """What the reconcile would do now, changing nothing."""
    ctx = _context()
    if vm:
        action, _ = reconcile_vm(ctx, _vm(ctx, vm), dry_run=True)
        _emit(describe(action), as_json, lambda d: click.echo(f"{d['action']}: {d['reason']}"))
        return
    report = reconcile_all(ctx, dry_run=True)
    data = [{"vm": vm_name, "action": action, "reason": reason} for vm_name, action, reason in report.actions]

    def render(rows: list[dict[str, str]]) -> None:
        click.echo(f"{report.vms_seen} VMs seen; {len(rows)} would change")
        for row in rows:
            click.echo(f"  {row['vm']}: {row['action']} - {row['reason']}")

    _emit(data, as_json, render)


@cli.command()
def reconcile() -> None:
    """Run a full reconcile now (what the timer does)."""
    report = reconcile_tick(_context())
    click.echo(f"{report.vms_seen} VMs seen, {len(report.actions)} actions, {report.status_writes} status writes")
    for vm, action, reason in report.actions:
        click.echo(f"  {vm}: {action} - {reason}")
    for note in report.notes:
        click.echo(f"  note: {note}")
    for error in report.errors:
        click.echo(f"  error: {error}", err=True)


# ----------------------------------------------------------------------------------- groups and failover


def render_group(row: dict[str, Any]) -> list[str]:
    """The human view of one group (``ppgdr groups``): state, where it runs, members, plan, decision, workflow."""
    wf = row["workflow"]
    ppgs = ", ".join(row["running_ppgs"]) or "no PPG"
    lines = [
        f"{row['name']}: {row['state']}, running in {row['running_in']} (PPG {ppgs}); "
        f"mode {row['failover_mode']}; {row['members_protected']} members protected"
    ]
    lines.append(_wrap("members: " + ", ".join(f"{m['vm']} [{m['size']}, {m['state']}]" for m in row["members"]), "  "))
    if row["boot_groups"]:
        lines.append(_wrap("boot order: " + " -> ".join("+".join(b) for b in row["boot_groups"]), "  "))
    if row["plan_left_out"]:
        lines.append(_wrap("not in the recovery plan yet: " + ", ".join(row["plan_left_out"]), "  "))
    if row["plan_problem"]:
        lines.append(_wrap(f"PLAN: {row['plan_problem']}", "  "))
    if row["pending_decision"]:
        pending = row["pending_decision"]
        lines.append(_wrap(f"PENDING {pending['decision_id']}: {'; '.join(pending['reasons'])}", "  "))
    if row["blocked_reason"]:
        lines.append(_wrap(f"BLOCKED: {row['blocked_reason']}", "  "))
    if wf:
        lines.append(_wrap(f"{wf['kind']} {wf['id']}: {wf['phase']}{' - ' + wf['error'] if wf['error'] else ''}", "  "))
        if wf["suggestion"]:
            lines.append(_wrap(f"next: {wf['suggestion']}", "  "))
    for place in row["placement"] or []:
        where = "ok" if not place.get("problem") else place["problem"]
        lines.append(_wrap(f"{place['vm']}: {place.get('power') or '?'}; {where}", "  "))
    return lines


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def groups(as_json: bool) -> None:
    """DR groups: state, where they run, members, recovery plan order, pending decision, workflow."""
    rows = group_rows(_context())

    def render(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no DR groups yet (protect VMs first)")
        for row in data:
            for line in render_group(row):
                click.echo(line)

    _emit(rows, as_json, render)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def decisions(as_json: bool) -> None:
    """Failover decisions waiting for approval."""
    rows = pending_decisions(_context())

    def render(data: list[dict[str, Any]]) -> None:
        if not data:
            click.echo("no decisions are waiting for approval")
        for row in data:
            more = (
                f"; {row['evidence_updates']} later signal(s), last {row['updated_at'][:19]}"
                if row.get("evidence_updates")
                else ""
            )
            click.echo(f"{row['decision_id']}  group {row['group']}  {row['decided_at'][:19]}{more}")
            for reason in row["reasons"]:
                click.echo(_wrap(reason, "    "))

    _emit(rows, as_json, render)


def render_preview(plan: dict[str, Any]) -> list[str]:
    """The dry run of a failover: what would run, in which order, from which recovery point."""
    lines = [
        f"would fail over group {plan['group']} from {plan['source_region']} to {plan['target_region']} "
        f"with recovery plan {plan['recovery_plan']} ({plan['failover_direction']})",
        f"  recovery point: {plan['recovery_point']}",
        f"  source shutdown: {plan['source_shutdown']} ({plan['source_shutdown_reason']})",
        "  boot order (anchor first):",
    ]
    sizes = {m["vm"]: m["size"] for m in plan["members"]}
    for number, boot in enumerate(plan["boot_groups"], start=1):
        lines.append(_wrap(f"{number}. " + ", ".join(f"{vm} ({sizes.get(vm, '?')})" for vm in boot), "    "))
    if plan.get("repair"):
        lines.append("  then repair placement (deallocate, start anchor-first inside the PPG) before reprotect")
    lines.append("  nothing was changed (dry run)")
    return lines


@cli.command()
@click.argument("decision")
@click.option("--by", default="cli", help="who approves (recorded in the audit trail)")
@click.option("--repair", is_flag=True, help="repair placement (anchor-first restart) after commit")
@click.option("--dry-run", is_flag=True, help="show what the approval would start, change nothing")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def approve(decision: str, by: str, repair: bool, dry_run: bool, as_json: bool) -> None:
    """Approve a pending failover decision (its id, or a unique prefix): its group fails over."""
    result = do_approve(_context(), decision, by=by, repair=repair, dry_run=dry_run)

    def render(data: dict[str, Any]) -> None:
        if data.get("dry_run"):
            click.echo(f"dry run: approving {data['decision_id']} would start this failover of group {data['group']}:")
            for line in render_preview(data["plan"]):
                click.echo(line)
            return
        click.echo(
            f"approved {data['decision_id']} for group {data['group']} (by {by}): "
            f"failover workflow {data['workflow']} started, phase {data['phase']}; the pulse timer carries it out"
        )

    _emit(result, as_json, render)


@cli.command()
@click.argument("decision")
@click.option("--by", default="cli", help="who rejects (recorded in the audit trail)")
@click.option("--comment", default="", help="why (recorded in the audit trail)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def reject(decision: str, by: str, comment: str, as_json: bool) -> None:
    """Reject a pending failover decision (its id, or a unique prefix); kept in the audit trail."""
    result = do_reject(_context(), decision, by=by, comment=comment)
    _emit(result, as_json, lambda d: click.echo(f"rejected {d['decision_id']} for group {d['group']} (by {by})"))


def _group_command(action: str, help_text: str) -> None:
    @cli.command(name=action, help=help_text)
    @click.argument("group")
    @click.option("--dry-run", is_flag=True, help="check and record what would happen, change nothing")
    def command(group: str, dry_run: bool) -> None:
        ctx = _context()
        if action == "failback":
            wf = engine.start_failback(ctx, group, reason="requested with the CLI", dry_run=dry_run)
        else:
            wf = engine.request(ctx, group, action, dry_run=dry_run)
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
@click.option("--dry-run", is_flag=True, help="print the failover that would run, change nothing")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def failover(group: str, repair: bool, recovery_point: str, dry_run: bool, as_json: bool) -> None:
    """Fail a protected group over to its DR region (the pulse timer carries it out)."""
    ctx = _context()
    if dry_run:
        preview = engine.preview_failover(ctx, group, recovery_point=recovery_point, repair=repair)
        engine.start_failover(
            ctx, group, reason="requested with the CLI", repair=repair, recovery_point=recovery_point, dry_run=True
        )
        _emit(preview, as_json, lambda d: click.echo("\n".join(render_preview(d))))
        return
    wf = engine.start_failover(ctx, group, reason="requested with the CLI", repair=repair, recovery_point=recovery_point)
    data = {"group": wf.group, "workflow": wf.id, "kind": wf.kind, "phase": wf.phase}
    _emit(data, as_json, lambda d: click.echo(f"{d['group']}: {d['kind']} {d['workflow']} started, phase {d['phase']}"))


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
    ctx = _context()
    rows = audit_trail(ctx.store, require_group(ctx, group))

    def render(data: list[dict[str, Any]]) -> None:
        for row in data:
            prefix = f"{row['time'][:19]}  {row['event']:<18} "
            click.echo(textwrap.fill(str(row["message"]), WIDTH, initial_indent=prefix, subsequent_indent=" " * len(prefix)))

    _emit(rows, as_json, render)


cli.add_command(rules)
cli.add_command(drill)
cli.add_command(drills)
cli.add_command(report)
cli.add_command(preflight)


def main() -> None:
    cli(prog_name="ppgdr")


if __name__ == "__main__":
    main()
