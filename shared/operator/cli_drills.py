"""``ppgdr drill``, ``ppgdr drills`` and ``ppgdr report``: start and follow drills, list them, read reports.

``ppgdr drill GROUP`` only starts the drill (the pulse timer carries it out, as for a failover). With
``--wait`` it follows the drill to its end from this shell: a lone CLI may have no pulse running, so it
advances the drill itself exactly as the pulse does (``advance_drill`` under the group's lease, one step at
a time, pausing between steps); when a pulse holds the lease it just watches.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from shared.context import AppContext, get_context
from shared.drills.engine import advance_drill, start_drill
from shared.failover.lookup import require_group
from shared.operator.views import drill_view, drills_newest_first, duration
from shared.settings import SettingsError
from shared.state.drill_records import DrillRecord, get_drill
from shared.state.reports import get_report

MAX_STEP_FAILURES = 3


def _pause(seconds: float) -> None:
    """Between two steps of ``--wait`` (a module function, so a test can move emulated time instead)."""
    time.sleep(seconds)


def _context() -> AppContext:
    try:
        return get_context()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


def _clock(ctx: AppContext) -> str:
    return ctx.store.now().astimezone(UTC).strftime("%H:%M:%S")


def _day(value: Any) -> str:
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)[:19]


def _against(value: Any, target: Any) -> str:
    """``2 min 43 s (target 60 min)``, with ``OVER`` when the target was missed."""
    if value is None:
        return "not measured"
    if not target:
        return duration(value)
    return f"{duration(value)} ({'OVER the' if float(value) > float(target) else 'within the'} {duration(target)} target)"


def follow(ctx: AppContext, drill_id: str, *, timeout: float, interval: float, say: Any) -> DrillRecord:
    """Advance the drill like the pulse (under the group's lease) until it is done or ``timeout`` passes.

    Prints each step of the drill's own history as it is recorded, and the ASR job it waits for.
    """
    deadline = time.monotonic() + timeout
    said, job, failures, watching = 0, "", 0, False
    while True:
        drill = get_drill(ctx.store, drill_id)
        if drill is None:
            raise click.ClickException(f"drill {drill_id} is no longer recorded")
        for entry in drill.history[said:]:
            stamp, _, note = entry.partition(" ")
            say(f"{stamp[11:19]}  {drill.group}: {note}")
        said = len(drill.history)
        if drill.job and drill.job != job:
            say(f"{_clock(ctx)}  {drill.group}: {drill.phase}: waiting for ASR job {drill.job}")
        job = drill.job
        if not drill.active or time.monotonic() > deadline:
            return drill
        lease = ctx.store.acquire_lease(drill.group, ctx.holder, ctx.settings.lease_seconds)
        if lease is None:
            if not watching:
                say(f"{_clock(ctx)}  {drill.group}: another instance holds the lease (a pulse is advancing the drill)")
            watching = True
        else:
            watching = False
            try:
                advance_drill(ctx, drill)
                failures = 0
            except Exception as exc:
                failures += 1
                say(f"{_clock(ctx)}  {drill.group}: drill step {drill.phase} failed ({type(exc).__name__}: {exc}); retried")
                if failures >= MAX_STEP_FAILURES:
                    raise
            finally:
                ctx.store.release_lease(lease)
        current = get_drill(ctx.store, drill_id)
        if current is not None and current.active and (current.phase, current.job) == (drill.phase, drill.job):
            _pause(interval)  # nothing moved: wait for Azure before the next step


def drill_summary(view: dict[str, Any]) -> list[str]:
    """A finished (or followed) drill in a few lines: verdict, RTO/RPO against targets, cleanup, problems."""
    verdict = view["verdict"] or f"still {view['phase']}"
    targets = view["targets"]
    lines = [
        f"drill {view['id']} of group {view['group']}: {verdict.upper() if view['verdict'] else verdict}",
        f"  RTO {_against(view['rto_seconds'], targets['rto_seconds'])}",
        f"  RPO {_against(view['rpo_seconds'], targets['rpo_seconds'])}",
        f"  cleanup {duration(view['cleanup_seconds'])}, "
        + ("test VMs removed" if view["cleaned_up"] else "test VMs NOT cleaned up" if view["verdict"] else "not yet"),
    ]
    lines += [f"  problem: {p}" for p in view["problems"]]
    if view["report"]:
        lines.append(f"  report: ppgdr report {view['id']} (page: GET {view['report_html']})")
    return lines


@click.command()
@click.argument("group")
@click.option("--wait", is_flag=True, help="follow the drill to its end here, advancing it as the pulse does")
@click.option("--dry-run", is_flag=True, help="check and record whether the drill could start, change nothing")
@click.option("--by", default="cli", show_default=True, help="who asks (recorded in the audit trail)")
@click.option("--timeout", type=float, default=7200.0, show_default=True, help="seconds --wait follows the drill")
@click.option("--interval", type=float, default=5.0, show_default=True, help="seconds between steps with --wait")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output (progress lines go to stderr)")
@click.pass_context
def drill(
    click_ctx: click.Context, group: str, wait: bool, dry_run: bool, by: str, timeout: float, interval: float, as_json: bool
) -> None:
    """Start a test-failover drill of GROUP into its isolated test network (always cleaned up).

    Without --wait the pulse timer carries the drill out. With --wait this command follows it to its end
    and exits 1 when the drill failed or did not finish within --timeout.
    """
    ctx = _context()
    started = start_drill(ctx, group, by=by, trigger="operator", dry_run=dry_run)
    view = {**drill_view(started, has_report=False), "dry_run": dry_run}
    if dry_run or not wait:
        if as_json:
            click.echo(json.dumps(view, indent=2, default=str))
        elif dry_run:
            click.echo(
                f"dry run: a drill of group {started.group} could start now: test failover of {started.recovery_plan} "
                f"from {started.source_region} into {started.test_network_id.rsplit('/', 1)[-1]} in {started.target_region}; "
                "nothing was changed"
            )
        else:
            click.echo(
                f"drill {started.id} of group {started.group} started, phase {started.phase}; the pulse timer carries it out "
                f"(follow it with `ppgdr drills --group {started.group}`)"
            )
        return
    if not as_json:
        click.echo(f"drill {started.id} of group {started.group} started; following it (timeout {duration(timeout)})")
    final = follow(ctx, started.id, timeout=timeout, interval=interval, say=lambda line: click.echo(line, err=as_json))
    have_report = get_report(ctx.store, final.id) is not None
    result = {**drill_view(final, has_report=have_report), "dry_run": False}
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        for line in drill_summary(result):
            click.echo(line)
    if final.active:
        click.echo(
            f"drill {final.id} is still in phase {final.phase} after {duration(timeout)}; the pulse carries it on", err=True
        )
        click_ctx.exit(1)
    if final.verdict != "passed":
        click_ctx.exit(1)


@click.command()
@click.option("--group", help="only this DR group's drills")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def drills(group: str | None, as_json: bool) -> None:
    """Drills, newest first: when, how they were started, their phase or verdict, RTO, RPO, cleanup time."""
    ctx = _context()
    rows = drills_newest_first(ctx, require_group(ctx, group) if group else None)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no drills yet" + (f" for group {group}" if group else ""))
        return
    click.echo(
        f"{'ID':<30} {'GROUP':<14} {'TRIGGER':<9} {'STARTED (UTC)':<20} {'PHASE/VERDICT':<14} {'RTO':<12} {'RPO':<12} CLEANUP"
    )
    for row in rows:
        state = row["verdict"] or row["phase"]
        click.echo(
            f"{row['id']:<30} {row['group']:<14} {row['trigger']:<9} {_day(row['started']):<20} {state:<14} "
            f"{duration(row['rto_seconds']):<12} {duration(row['rpo_seconds']):<12} {duration(row['cleanup_seconds'])}"
        )


def report_lines(report: dict[str, Any]) -> list[str]:
    """The text summary of a report (``ppgdr report ID``): what happened, the numbers, where the VMs landed."""
    kind = str(report.get("kind") or "report")
    targets = report.get("targets") or {}
    lines = [
        f"{kind} {report.get('id')} of group {report.get('group')}: {str(report.get('verdict') or 'in progress').upper()}",
        f"  {report.get('trigger')} (by {report.get('requested_by')}); {_day(report.get('started'))} -> "
        f"{_day(report.get('finished'))} UTC",
        f"  {report.get('source_region')} -> {report.get('target_region')}, recovery plan {report.get('recovery_plan')}"
        + (f", test network {str(report['test_network_id']).rsplit('/', 1)[-1]}" if report.get("test_network_id") else ""),
        f"  RTO {_against(report.get('rto_seconds'), targets.get('rto_seconds'))}",
        f"  RPO {_against(report.get('rpo_seconds'), targets.get('rpo_seconds'))}",
    ]
    if report.get("cleaned_up") is not None:
        cleaned = "test VMs removed" if report.get("cleaned_up") else "test VMs NOT cleaned up"
        lines.append(f"  cleanup {duration(report.get('cleanup_seconds'))}, {cleaned}")
    placement = report.get("placement") or []
    if placement:
        ok = [r for r in placement if r.get("running") and not r.get("problem")]
        lines.append(f"  placement: {len(ok)} of {len(placement)} VMs running in the PPG, availability set and zone as planned")
        for row in placement:
            ppg = str(row.get("ppg") or "-").rsplit("/", 1)[-1]
            where, zone, power = row.get("problem") or "ok", row.get("zone") or "-", row.get("power") or "-"
            lines.append(f"    {row.get('vm', '?'):<18} {power:<12} PPG {ppg:<22} zone {zone:<4} {where}")
    timeline = report.get("timeline") or []
    if timeline:
        lines.append("  timeline:")
        for entry in timeline:
            steps = "; ".join(
                f"{s.get('name')} {_day(s.get('start'))[11:]}-{_day(s.get('end'))[11:]} {s.get('state')}"
                for s in entry.get("steps") or []
            )
            lines.append(f"    {entry.get('vm', '?'):<18} {steps or '-'}")
    for probe in report.get("probes") or []:
        lines.append(f"  probe {probe.get('endpoint')}: {'ok' if probe.get('ok') else 'FAILED'} ({probe.get('detail')})")
    problems = report.get("problems") or []
    lines += [f"  problem: {p}" for p in problems] or ["  problems: none"]
    events = report.get("events") or []
    if events:
        lines.append("  events:")
        lines += [f"    {_day(e.get('time'))[11:]}  {e.get('event', ''):<24} {e.get('message', '')}" for e in events]
    return lines


@click.command()
@click.argument("report_id", metavar="ID")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), help="write the report page here")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def report(report_id: str, html_path: Path | None, as_json: bool) -> None:
    """A drill's, failover's or failback's report (ID: the drill or workflow id): a text summary, the JSON or the page."""
    ctx = _context()
    found = get_report(ctx.store, report_id)
    if found is None:
        raise click.ClickException(f"no report {report_id!r}: `ppgdr drills` lists drills and their reports")
    if html_path is not None:
        from shared.operator.render import render_report  # Jinja2 only for the commands that render

        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_report(found, generated_at=ctx.store.now().astimezone(UTC).isoformat()), encoding="utf-8")
        click.echo(f"wrote {html_path} (a self-contained page: open it in any browser)", err=as_json)
        if not as_json:
            return
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    for line in report_lines(found):
        click.echo(line)
