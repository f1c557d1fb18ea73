"""Settings: every PPGDR_* value parsed, and each bad one named in its error."""

import pytest

from shared.settings import PUBLIC_ARM_ENDPOINT, Settings, SettingsError


def test_defaults_point_at_public_azure_with_safe_failover_mode() -> None:
    settings = Settings.from_env({})
    assert settings.arm_endpoint == PUBLIC_ARM_ENDPOINT
    assert settings.failover_mode == "approve"
    assert settings.max_failovers_per_hour == 1
    assert settings.dry_run is False
    assert settings.target_resource_group_for("app") == "app-asr"


def test_full_configuration() -> None:
    settings = Settings.from_env(
        {
            "PPGDR_ARM_ENDPOINT": "https://127.0.0.1:8443/",
            "PPGDR_ARM_CA_BUNDLE": "/tmp/cert.pem",
            "PPGDR_STATE_CONNECTION": "UseDevelopmentStorage=true",
            "PPGDR_SUBSCRIPTIONS": "sub-a, sub-b",
            "PPGDR_REGION_PAIRS": "WestEurope:northeurope, eastus:westus2",
            "PPGDR_CACHE_STORAGE_ACCOUNTS": "WestEurope=/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/storageAccounts/c",  # noqa: E501
            "PPGDR_NETWORK_MAPPINGS": "/a/vnet1=/b/vnet2",
            "PPGDR_TARGET_RESOURCE_GROUP": "dr-{source_resource_group}",
            "PPGDR_DRY_RUN": "true",
            "PPGDR_FAILOVER_MODE": "AUTO",
        }
    )
    assert settings.arm_endpoint == "https://127.0.0.1:8443"
    assert settings.subscriptions == ("sub-a", "sub-b")
    assert settings.target_region("westeurope") == "northeurope"
    assert settings.target_region("NorthEurope") == "westeurope"  # pairs work both ways (failback)
    assert settings.target_region("japaneast") is None
    assert settings.cache_storage_accounts["westeurope"].endswith("/c")
    assert settings.network_mappings == {"/a/vnet1": "/b/vnet2"}
    assert settings.target_resource_group_for("app") == "dr-app"
    assert settings.dry_run is True and settings.failover_mode == "auto"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PPGDR_ARM_ENDPOINT", "http://insecure", "https"),
        ("PPGDR_FAILOVER_MODE", "yolo", "off, approve, auto"),
        ("PPGDR_DRY_RUN", "maybe", "boolean"),
        ("PPGDR_MAX_FAILOVERS_PER_HOUR", "-1", "minimum"),
        ("PPGDR_MAX_FAILOVERS_PER_HOUR", "many", "whole number"),
        ("PPGDR_REGION_PAIRS", "westeurope", "key:value"),
        ("PPGDR_CACHE_STORAGE_ACCOUNTS", "westeurope=", "key=value"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=name) as info:
        Settings.from_env({name: value})
    assert message in str(info.value)


def test_state_must_be_configured_before_use() -> None:
    with pytest.raises(SettingsError, match="PPGDR_STATE_CONNECTION"):
        Settings.from_env({}).require_state()


def test_resource_groups_must_be_resource_group_ids() -> None:
    ok = Settings.from_env({"PPGDR_RESOURCE_GROUPS": "/subscriptions/s/resourceGroups/a, /subscriptions/s/resourceGroups/b"})
    assert ok.resource_groups == ("/subscriptions/s/resourceGroups/a", "/subscriptions/s/resourceGroups/b")
    with pytest.raises(SettingsError, match="PPGDR_RESOURCE_GROUPS"):
        Settings.from_env({"PPGDR_RESOURCE_GROUPS": "/subscriptions/s/resourceGroups/a/providers/x/y/z"})
