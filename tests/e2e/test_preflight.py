"""``ppgdr preflight`` against Azurite and the emulator: a healthy estate passes, and each thing broken is named.

Broken the ways deployments break: a cache storage account deleted, a drill network missing, a vault id that
points elsewhere, a resource group the identity may not read (a 403 injected on it), a recovery resource group
never created, Event Grid silent for days. Also: ``GET /api/preflight`` and the reconcile's once-per-start check.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner

from localdev import estate as est
from shared.context import AppContext
from shared.operator.cli import cli
from shared.operator.preflight import Preflight, check_once, render, run_preflight
from shared.state.markers import last_deliveries
from tests.e2e.test_documented_fields import check, documented
from tests.fixtures.app import Ppgdr

SUB = est.SUBSCRIPTION
SAP_RG = f"/subscriptions/{SUB}/resourceGroups/sap-prod"
TRADING_RG = f"/subscriptions/{SUB}/resourceGroups/trading"


def by_name(result: Preflight) -> dict[str, str]:
    """Each check's status (``ok``, ``failed``, ``warning``) by name."""
    return {c.name: c.status for c in result.checks}


def failed(result: Preflight) -> dict[str, str]:
    return {c.name: c.detail for c in result.checks if c.status == "failed"}


def cli_preflight(*args: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, ["preflight", *args])
    return done.exit_code, done.output


def with_settings(ctx: AppContext, **changes: object) -> AppContext:
    """The same store and clients under other settings (what another Function App configuration would read)."""
    return AppContext(dataclasses.replace(ctx.settings, **changes), ctx.store, ctx.clients, ctx.holder + "-other")  # type: ignore[arg-type]


@pytest.fixture
def estate(seeded: Ppgdr) -> Iterator[Ppgdr]:
    yield seeded
    seeded.emulator.clear_faults()


def delete(ctx: AppContext, resource_id: str, api_version: str) -> None:
    ctx.clients.resources(SUB).resources.begin_delete_by_id(resource_id, api_version=api_version, polling_interval=0).result()


def test_a_healthy_estate_passes_every_check(estate: Ppgdr) -> None:
    app = estate
    result = run_preflight(app.ctx)
    assert result.ok and not failed(result), "\n".join(render(result))
    statuses = by_name(result)
    for name in (
        "settings: scope",
        "settings: region pairs",
        "state storage",
        "Recovery Services vault",
        f"subscription {SUB}",
        "cache storage account for westeurope",
        "cache storage account for northeurope",
        "network mapping source vnet prod-we-vnet",
        "network mapping target vnet prod-ne-vnet",
        "test network for northeurope",
        "Event Grid delivering",  # the seed's VM writes were delivered to resource_events
    ):
        assert statuses.get(name) == "ok", (name, "\n".join(render(result)))
    assert "resource_events" in last_deliveries(app.ctx.store)
    code, output = cli_preflight()
    assert code == 0, output
    assert output.startswith("ppg-dr preflight: ") and "✓ Recovery Services vault: ppgdr-vault in northeurope" in output
    assert "✗" not in output


def test_a_deleted_cache_account_and_a_missing_drill_network_are_named_with_their_fix(estate: Ppgdr) -> None:
    app = estate
    delete(app.ctx, est.DR_CACHE_ACCOUNT_ID, "2023-05-01")
    delete(app.ctx, est.TEST_VNET_ID, "2024-05-01")
    result = run_preflight(app.ctx)
    assert not result.ok
    assert set(failed(result)) == {"cache storage account for northeurope", "test network for northeurope"}
    assert "ppgdrcachene does not exist" in failed(result)["cache storage account for northeurope"]
    code, output = cli_preflight()
    assert code == 1
    assert "✗ cache storage account for northeurope" in output and "✗ test network for northeurope" in output
    assert "fix: create the account in northeurope, or point PPGDR_CACHE_STORAGE_ACCOUNTS at one" in output
    assert "✓ cache storage account for westeurope" in output  # the other region's account is still there
    code, output = cli_preflight("--json")
    assert code == 1 and '"ok": false' in output


def test_settings_that_leave_a_region_without_a_cache_account_are_named(estate: Ppgdr) -> None:
    ctx = with_settings(estate.ctx, cache_storage_accounts={"westeurope": est.CACHE_ACCOUNT_ID})
    result = run_preflight(ctx)
    assert failed(result) == {
        "cache storage account for northeurope": "no cache storage account for northeurope (enable replication from "
        "northeurope and reprotect into it stage there)"
    }


def test_a_vault_id_pointing_elsewhere_fails_the_vault_check(estate: Ppgdr) -> None:
    elsewhere = est.rid(est.VAULT_RG, "Microsoft.RecoveryServices/vaults", "ppgdr-vault-typo")
    result = run_preflight(with_settings(estate.ctx, vault_id=elsewhere))
    assert set(failed(result)) == {"Recovery Services vault"}
    vault = next(c for c in result.checks if c.name == "Recovery Services vault")
    assert "does not exist" in vault.detail and "ppgdr-vault-typo" in vault.detail
    assert vault.fix == "check PPGDR_VAULT_ID (subscription, resource group and name)"


def test_a_resource_group_the_identity_may_not_read_and_a_missing_recovery_group_are_named(estate: Ppgdr) -> None:
    app = estate
    ctx = with_settings(
        app.ctx, subscriptions=(), resource_groups=(SAP_RG, TRADING_RG), target_resource_group="{source_resource_group}-dr"
    )
    resources = app.ctx.clients.resources(SUB)
    resources.resource_groups.create_or_update("trading-dr", {"location": est.TARGET_REGION})  # as infra would
    app.emulator.fault(path="resourceGroups/sap-prod($|/)", method="GET", status=403, code="AuthorizationFailed", count=None)
    result = run_preflight(ctx)
    statuses = by_name(result)
    assert statuses["resource group trading"] == "ok" and statuses["recovery resource group trading-dr"] == "ok"
    assert set(failed(result)) == {"resource group sap-prod", "recovery resource group sap-prod-dr"}
    sap = next(c for c in result.checks if c.name == "resource group sap-prod")
    assert "may not read" in sap.detail and "AuthorizationFailed" in sap.detail and "roles" in sap.fix
    missing = next(c for c in result.checks if c.name == "recovery resource group sap-prod-dr")
    assert "does not exist" in missing.detail and "sourceResourceGroupIds" in missing.fix

    app.emulator.clear_faults()
    resources.resource_groups.create_or_update("sap-prod-dr", {"location": est.TARGET_REGION})
    assert run_preflight(ctx).ok


def test_event_grid_silent_for_days_warns_without_failing(estate: Ppgdr) -> None:
    app = estate
    later = app.ctx.store.now() + timedelta(hours=48)
    result = run_preflight(app.ctx, now=later)
    event = next(c for c in result.checks if c.name == "Event Grid delivering")
    assert event.status == "warning" and "no event for 48 hours" in event.detail
    assert result.ok  # a warning: an idle estate can be quiet
    fresh = with_settings(app.ctx, state_table_prefix=app.ctx.settings.state_table_prefix + "x")
    fresh_ctx = AppContext(fresh.settings, type(app.ctx.store).from_settings(fresh.settings), app.ctx.clients, "fresh")
    never = next(c for c in run_preflight(fresh_ctx).checks if c.name == "Event Grid delivering")
    assert never.status == "warning" and "no event received" in never.detail


def test_the_http_route_answers_the_checklist_with_documented_fields(estate: Ppgdr) -> None:
    app = estate
    code, body = app.http("GET", "/api/preflight")
    assert code == 200 and body["ok"] is True
    fields = documented()
    check("GET /api/preflight", [body], fields)
    check("GET /api/preflight (each check)", body["checks"], fields)
    code, _ = app.http("GET", "/api/preflight", key=None)
    assert code == 401


def test_the_first_reconcile_logs_what_is_missing_once(estate: Ppgdr, caplog: pytest.LogCaptureFixture) -> None:
    app = estate
    delete(app.ctx, est.DR_CACHE_ACCOUNT_ID, "2023-05-01")
    caplog.set_level(logging.INFO, logger="shared.operator.preflight")
    app.runner.fire_timer("reconcile")
    warnings = [r for r in caplog.records if r.name == "shared.operator.preflight" and r.levelno == logging.WARNING]
    assert [getattr(r, "check", None) for r in warnings] == ["cache storage account for northeurope"]
    assert all(getattr(r, "step", None) == "preflight" for r in warnings)
    summary = [r.getMessage() for r in caplog.records if r.name == "shared.operator.preflight" and r.levelno == logging.INFO]
    assert len(summary) == 1 and "1 failed" in summary[0]
    caplog.clear()
    app.runner.fire_timer("reconcile")
    assert not [r for r in caplog.records if r.name == "shared.operator.preflight"]
    assert check_once(app.ctx) is None  # once per process context


def test_the_preflight_never_blocks_the_reconcile(estate: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    app = estate

    def broken(*_: object, **__: object) -> Preflight:
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr("shared.operator.preflight.run_preflight", broken)
    app.runner.fire_timer("reconcile")  # no exception: logged, and the reconcile's work stands
