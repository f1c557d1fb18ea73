"""Settings: every PPGDR_* value parsed, and each bad one named in its error."""

import pytest

from shared.settings import PUBLIC_ARM_ENDPOINT, Settings, SettingsError, http_auth_level


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


# ----------------------------------------------------------------------------------- authentication

TENANT = "11111111-2222-3333-4444-555555555555"


def test_authentication_defaults_take_keys_only() -> None:
    auth = Settings.from_env({}).auth
    assert auth.alert_auth_mode == "functionKey" and not auth.alert_tokens and not auth.operator_tokens
    assert (auth.alert_role, auth.operator_role, auth.reader_role) == ("ActionGroupsSecureWebhook", "DR.Operator", "DR.Reader")
    assert auth.entra_authority == "https://login.microsoftonline.com" and auth.session_secret is None
    assert http_auth_level({}) == "function"


def test_secure_webhook_mode_and_operator_tokens() -> None:
    env = {
        "PPGDR_ALERT_AUTH_MODE": "AAD",
        "PPGDR_TENANT_ID": TENANT.upper(),
        "PPGDR_ALERT_AUDIENCE": "api://ppgdr-alerts, 99999999-8888-7777-6666-555555555555",
        "PPGDR_ENTRA_AUTHORITY": "https://127.0.0.1:8443/_emulator/entra/",
        "PPGDR_SESSION_SECRET": "s" * 32,
    }
    auth = Settings.from_env(env).auth
    assert auth.alert_tokens and auth.operator_tokens and auth.tenant_id == TENANT
    assert auth.alert_audiences == ("api://ppgdr-alerts", "99999999-8888-7777-6666-555555555555")
    assert auth.operator_audiences == auth.alert_audiences  # the operator audience defaults to the alert app
    assert auth.entra_authority == "https://127.0.0.1:8443/_emulator/entra" and auth.session_secret == "s" * 32
    assert http_auth_level(env) == "anonymous"
    own = Settings.from_env({**env, "PPGDR_OPERATOR_AUDIENCE": "api://ppgdr-ops", "PPGDR_OPERATOR_ROLE": "Ops"}).auth
    assert own.operator_audiences == ("api://ppgdr-ops",) and own.operator_role == "Ops"


def test_operator_tokens_alone_also_open_the_host() -> None:
    env = {"PPGDR_TENANT_ID": TENANT, "PPGDR_OPERATOR_AUDIENCE": "api://ppgdr-ops"}
    auth = Settings.from_env(env).auth
    assert auth.operator_tokens and not auth.alert_tokens
    assert http_auth_level(env) == "anonymous"
    assert http_auth_level({"PPGDR_TENANT_ID": TENANT}) == "function"  # a tenant alone accepts no token
    assert http_auth_level({"PPGDR_ALERT_AUTH_MODE": "functionKey", "PPGDR_ALERT_AUDIENCE": "api://x"}) == "function"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PPGDR_ALERT_AUTH_MODE": "token"}, "not aad or functionKey"),
        ({"PPGDR_ALERT_AUTH_MODE": "aad"}, "needs PPGDR_TENANT_ID"),
        ({"PPGDR_ALERT_AUTH_MODE": "aad", "PPGDR_TENANT_ID": TENANT}, "PPGDR_ALERT_AUDIENCE"),
        ({"PPGDR_TENANT_ID": "contoso.onmicrosoft.com"}, "not a tenant id"),
        ({"PPGDR_ENTRA_AUTHORITY": "http://login.example"}, "https://"),
        ({"PPGDR_SESSION_SECRET": "short"}, "at least 32 characters"),
        ({"PPGDR_OPERATOR_ROLE": "DR Operator"}, "one app role"),
        ({"PPGDR_ALERT_ROLE": "a,b"}, "one app role"),
    ],
)
def test_bad_authentication_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert message in str(info.value)
    assert http_auth_level(env) in ("anonymous", "function")  # never raises: function_app reads it at import
