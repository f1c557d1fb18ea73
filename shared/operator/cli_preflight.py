"""``ppgdr preflight``: the checklist of what ppg-dr can reach and read, from its own identity.

Registered on the main command in :mod:`shared.operator.cli` (``cli.add_command(preflight)``); the checks
themselves live in :mod:`shared.operator.preflight` (also behind ``GET /api/preflight`` and run once by the
first reconcile of a process). This module only parses options, prints and sets the exit status.
"""

from __future__ import annotations

import json

import click

from shared.context import AppContext, get_context
from shared.operator.preflight import DEFAULT_EVENT_HOURS, render, run_preflight
from shared.settings import SettingsError


def _context() -> AppContext:
    try:
        return get_context()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option(
    "--event-hours",
    type=click.IntRange(1, 9999),
    default=DEFAULT_EVENT_HOURS,
    show_default=True,
    help="warn when Event Grid delivered nothing for this many hours",
)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def preflight(event_hours: int, as_json: bool) -> None:
    """Check what ppg-dr will need, reading (never writing) with its own identity: the vault, each watched
    subscription or resource group, the recovery resource groups, cache accounts, networks, Table storage and
    Event Grid deliveries. Prints a checklist with the fix for each miss; exits 1 when something required is missing."""
    result = run_preflight(_context(), event_hours=event_hours)
    if as_json:
        click.echo(json.dumps(result.to_data(), indent=2))
    else:
        for line in render(result):
            click.echo(line)
    if not result.ok:
        raise click.exceptions.Exit(1)
