"""The preflight's pure parts: what the settings say must exist, how a miss reads, and the checklist's verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azure.core.exceptions import HttpResponseError

from shared.operator.preflight import (
    Check,
    Preflight,
    event_check,
    expected_resources,
    pair_regions,
    refusal,
    render,
    settings_checks,
)
from shared.settings import Settings

SUB = "/subscriptions/s1/resourceGroups"
WE_CACHE = f"{SUB}/dr/providers/Microsoft.Storage/storageAccounts/cachewe"
NE_CACHE = f"{SUB}/dr/providers/Microsoft.Storage/storageAccounts/cachene"
WE_VNET = f"{SUB}/net/providers/Microsoft.Network/virtualNetworks/we"
NE_VNET = f"{SUB}/net/providers/Microsoft.Network/virtualNetworks/ne"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def settings(**env: str) -> Settings:
    return Settings.from_env(
        {
            "PPGDR_REGION_PAIRS": "westeurope:northeurope",
            "PPGDR_CACHE_STORAGE_ACCOUNTS": f"westeurope={WE_CACHE},northeurope={NE_CACHE}",
            "PPGDR_NETWORK_MAPPINGS": f"{WE_VNET}={NE_VNET}",
            "PPGDR_SUBSCRIPTIONS": "s1",
            **env,
        }
    )


def test_every_region_of_every_pair_needs_a_cache_account_in_it() -> None:
    assert pair_regions(settings(PPGDR_REGION_PAIRS="westeurope:northeurope,eastus:westeurope")) == [
        "westeurope",
        "northeurope",
        "eastus",
    ]
    expected, gaps = expected_resources(settings(PPGDR_CACHE_STORAGE_ACCOUNTS=f"westeurope={WE_CACHE}"))
    assert [(e.name, e.resource_id, e.region) for e in expected if "cache" in e.name] == [
        ("cache storage account for westeurope", WE_CACHE, "westeurope")
    ]
    assert [(g.name, g.ok, g.required) for g in gaps] == [("cache storage account for northeurope", False, True)]
    assert "PPGDR_CACHE_STORAGE_ACCOUNTS" in gaps[0].fix


def test_both_vnets_of_each_mapping_and_each_test_network_are_expected() -> None:
    expected, gaps = expected_resources(settings(PPGDR_TEST_NETWORK_IDS=f"northeurope={NE_VNET}"))
    assert not gaps
    assert [e.name for e in expected if "vnet" in e.name or "test" in e.name] == [
        "network mapping source vnet we",
        "network mapping target vnet ne",
        "test network for northeurope",
    ]


def test_a_drill_schedule_without_a_test_network_only_warns() -> None:
    _, gaps = expected_resources(settings(PPGDR_DRILL_SCHEDULE="weekly"))
    assert [(g.name, g.status) for g in gaps] == [("test networks", "warning")]
    assert expected_resources(settings())[1] == []  # drills off: nothing to say


def test_missing_scope_and_pairs_are_required_settings() -> None:
    bare = Settings.from_env({})
    assert [(c.name, c.status) for c in settings_checks(bare)] == [
        ("settings: scope", "failed"),
        ("settings: region pairs", "failed"),
    ]
    assert all(c.ok for c in settings_checks(settings()))


def test_event_grid_freshness_warns_but_never_fails() -> None:
    assert event_check({}, NOW, 24).status == "warning"
    fresh = event_check({"resource_events": NOW - timedelta(minutes=5), "health_events": NOW - timedelta(hours=3)}, NOW, 24)
    assert fresh.ok and fresh.detail == "last event health_events 3 h ago; resource_events 5 min ago"
    stale = event_check({"resource_events": NOW - timedelta(hours=30)}, NOW, 24)
    assert stale.status == "warning" and "no event for 30 hours (over 24)" in stale.detail


def test_refusals_say_missing_or_forbidden_with_the_fix() -> None:
    def error(status: int) -> HttpResponseError:
        exc = HttpResponseError(message=f"status {status}")
        exc.status_code = status
        return exc

    assert refusal(error(404), "vault v")[0].startswith("vault v does not exist")
    detail, fix = refusal(error(403), "resource group g")
    assert detail.startswith("ppg-dr's identity may not read resource group g") and "roles" in fix


def test_only_required_misses_fail_the_checklist_and_render_marks_each_line() -> None:
    warned = Preflight((Check("a", True, "fine"), Check("events", False, "quiet", "look", required=False)))
    assert warned.ok and warned.summary == "2 checks: 1 ok, 0 failed, 1 warning"
    broken = Preflight((*warned.checks, Check("vault", False, "does not exist", "set PPGDR_VAULT_ID")))
    assert not broken.ok
    assert render(broken) == [
        "ppg-dr preflight: 3 checks: 1 ok, 1 failed, 1 warning",
        "  ✓ a: fine",
        "  ! events: quiet",
        "      fix: look",
        "  ✗ vault: does not exist",
        "      fix: set PPGDR_VAULT_ID",
    ]
    assert broken.to_data()["checks"][2] == {
        "name": "vault",
        "ok": False,
        "detail": "does not exist",
        "fix": "set PPGDR_VAULT_ID",
        "required": True,
        "status": "failed",
    }
