"""Tests over the PARSED Bicep templates (pycep-parser, offline: the bicep CLI needs a download).

Every .bicep file must parse; the security properties are asserted on the syntax trees, not on text: no role
assignment at subscription scope and only allow-listed roles, storage without shared keys and with TLS 1.2 and HTTPS
only, an HTTPS-only Function App, retries, dead-lettering and server-side filters on every Event Grid subscription.
main.bicep's expressions are run on the parameters example (tests/unit/bicep_eval.py), so the resource groups that
get roles, the cache accounts and the alert settings are compared with what the app computes and reads, and the
deployment checks (fail()) are seen to fire on bad parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shared.settings import DEFAULT_TARGET_RESOURCE_GROUP, Settings
from tests.unit.bicep_eval import BicepFail, Evaluator, Symbol, body, loop, parse
from tests.unit.infra_roles import ALLOWED_BUILT_IN_ROLES, FORBIDDEN_ROLES

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
EXAMPLE = INFRA / "main.parameters.example.json"
BICEP_FILES = sorted(str(p.relative_to(INFRA)) for p in INFRA.rglob("*.bicep"))

ALLOWED_ROLES = ALLOWED_BUILT_IN_ROLES
CUSTOM_ROLE = Symbol("ppgRole.outputs.roleGuid")


@cache
def template(name: str) -> dict[str, Any]:
    return parse(INFRA / name)


def scope_of(name: str) -> str:
    return str(template(name)["globals"]["scope"]["value"])


def resources(kind: str) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(file, symbol, declaration, body) of every declared (not ``existing``) resource of ``kind``."""
    for name in BICEP_FILES:
        for symbol, entry in template(name).get("resources", {}).items():
            if entry["type"] == kind and not entry["existing"]:
                yield name, symbol, entry, body(entry)


def example() -> dict[str, Any]:
    return {k: v["value"] for k, v in json.loads(EXAMPLE.read_text(encoding="utf-8"))["parameters"].items()}


DEFAULT = object()  # main(name=DEFAULT): leave the parameter to its default


def main(**overrides: Any) -> Evaluator:
    values = {**example(), **overrides}
    return Evaluator(template("main.bicep"), {k: v for k, v in values.items() if v is not DEFAULT})


def app_settings(evaluator: Evaluator) -> Settings:
    """The app's parsed settings from what the deployment writes (what the Function App would read)."""
    return Settings.from_env({**evaluator.variable("ppgdrSettings"), "PPGDR_STATE_ENDPOINT": "https://x.table.core.windows.net"})


# ------------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize("name", BICEP_FILES)
def test_every_bicep_file_parses_and_its_modules_exist(name: str) -> None:
    parsed = template(name)
    assert parsed.get("resources") or parsed.get("modules"), f"{name} declares nothing"
    for symbol, module in parsed.get("modules", {}).items():
        path = (INFRA / name).parent / module["detail"]["path"]
        assert path.is_file(), f"{name}: module {symbol} points to missing {path}"


def test_the_inventory_is_what_the_tests_expect() -> None:
    """Guards the other tests against passing vacuously after a rename."""
    assert "main.bicep" in BICEP_FILES and scope_of("main.bicep") == "subscription"
    assert len(list(resources("Microsoft.Authorization/roleAssignments"))) >= 7
    assert len(list(resources("Microsoft.EventGrid/systemTopics/eventSubscriptions"))) == 2
    assert len(list(resources("Microsoft.Storage/storageAccounts"))) == 1
    assert len(list(resources("Microsoft.Web/sites"))) == 1


# ------------------------------------------------------------------------------------------- roles and scopes


def test_role_assignments_target_a_resource_group_or_a_resource_of_their_file() -> None:
    for name, symbol, entry, config in resources("Microsoft.Authorization/roleAssignments"):
        assert scope_of(name) == "resourceGroup", f"{name}:{symbol} is deployed from a {scope_of(name)}-scoped file"
        scope = config.get("scope")
        if scope is not None:  # a resource of the same file, never subscription()/tenant()/managementGroup()
            assert isinstance(scope, str) and scope in template(name)["resources"], f"{name}:{symbol} scope {scope!r}"
        role = config["properties"]["roleDefinitionId"]["function"]
        assert role["type"] == "subscription_resource_id", f"{name}:{symbol} must name a role definition by GUID"
        assert role["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        guid, declared = role["parameters"]["resource_name_1"], template(name)["parameters"]
        each = loop(entry)  # [for roleGuid in roleDefinitionGuids: ...] takes each GUID from a parameter array
        assert guid in declared or (each and guid == each["item_name"] and each["array_name"] in declared), (
            f"{name}:{symbol}: the role GUID must come from a parameter (main.bicep's allow-list), not a literal"
        )
        assert config["properties"]["principalType"] == "ServicePrincipal"


def _role_arguments() -> Iterator[tuple[str, str, Any]]:
    """Every module argument of main.bicep that names a role, evaluated (GUIDs, or the custom role's symbol)."""
    evaluator = main()
    for symbol, module in template("main.bicep")["modules"].items():
        for param, value in body(module).get("params", {}).items():
            if "role" in param.lower() and param not in {"roleName", "roleGuid"}:
                evaluated = evaluator.eval(value)
                for item in evaluated if isinstance(evaluated, list) else [evaluated]:
                    yield symbol, param, item


def test_every_role_granted_is_on_the_allow_list_and_none_is_broad() -> None:
    granted = list(_role_arguments())
    assert len(granted) >= 8, granted
    for symbol, param, role in granted:
        assert role == CUSTOM_ROLE or role in ALLOWED_ROLES, f"{symbol}.{param} grants {role!r}, not on the allow-list"
        assert role not in FORBIDDEN_ROLES, f"{symbol}.{param} grants {FORBIDDEN_ROLES.get(role)}"
    assert {role for _, _, role in granted if role != CUSTOM_ROLE} == set(ALLOWED_ROLES)
    built_in = main().variable("builtInRoles")
    assert set(built_in.values()) == set(ALLOWED_ROLES), "builtInRoles is the whole allow-list, nothing else"


def test_the_custom_role_is_ppg_only_and_assignable_to_vm_resource_groups_only() -> None:
    (_name, _symbol, _entry, config), *others = resources("Microsoft.Authorization/roleDefinitions")
    assert not others
    permissions = config["properties"]["permissions"]
    assert [p["actions"] for p in permissions] == [
        [
            "Microsoft.Compute/proximityPlacementGroups/read",
            "Microsoft.Compute/proximityPlacementGroups/write",
            "Microsoft.Compute/proximityPlacementGroups/delete",
        ]
    ]
    assert all(not p[k] for p in permissions for k in ("notActions", "dataActions", "notDataActions"))
    assert config["properties"]["assignableScopes"] == "assignableScopes"
    ppg_role = body(template("main.bicep")["modules"]["ppgRole"])
    assert ppg_role["params"]["assignableScopes"] == "vmResourceGroupIds"
    assert all(id.count("/") == 4 for id in main().variable("vmResourceGroupIds")), "resource group ids only"


def test_recovery_resource_groups_are_created_before_any_role_on_them() -> None:
    modules = template("main.bicep")["modules"]
    created = modules["recoveryResourceGroups"]
    assert loop(created) is not None and loop(created)["array_name"] == "recoveryResourceGroupIds"
    assert scope_of(created["detail"]["path"]) == "subscription"
    (_, _, _, group), *_ = (r for r in resources("Microsoft.Resources/resourceGroups") if r[0] == created["detail"]["path"])
    assert group["name"] == "name"
    for dependent in ("vmRgRoles", "ppgRole", "monitoring"):
        assert "recoveryResourceGroups" in body(modules[dependent]).get("dependsOn", []), dependent


# ------------------------------------------------------------------------------------- hardening


def test_storage_accounts_have_no_shared_keys_tls12_and_https_only() -> None:
    for name, symbol, _entry, config in resources("Microsoft.Storage/storageAccounts"):
        properties = config["properties"]
        assert properties["allowSharedKeyAccess"] is False, f"{name}:{symbol}"
        assert properties["minimumTlsVersion"] == "TLS1_2", f"{name}:{symbol}"
        assert properties["supportsHttpsTrafficOnly"] is True, f"{name}:{symbol}"
        assert properties["allowBlobPublicAccess"] is False, f"{name}:{symbol}"
        assert properties["defaultToOAuthAuthentication"] is True, f"{name}:{symbol}"


def test_the_function_app_is_https_only_with_tls12_and_no_basic_auth_publishing() -> None:
    for name, symbol, _entry, config in resources("Microsoft.Web/sites"):
        properties = config["properties"]
        assert properties["httpsOnly"] is True, f"{name}:{symbol}"
        assert properties["siteConfig"]["minTlsVersion"] == "1.2"
        assert properties["siteConfig"]["scmMinTlsVersion"] == "1.2"
        assert properties["siteConfig"]["ftpsState"] == "Disabled"
        assert config["identity"]["type"] == "SystemAssigned"
    policies = list(resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies"))
    assert sorted(c["name"] for *_, c in policies) == ["ftp", "scm"]
    assert all(c["properties"]["allow"] is False for *_, c in policies)


# ------------------------------------------------------------------------------------------ Event Grid


def test_every_event_subscription_retries_dead_letters_and_filters_server_side() -> None:
    for name, symbol, _entry, config in resources("Microsoft.EventGrid/systemTopics/eventSubscriptions"):
        evaluator = Evaluator(template(name), {p: Symbol(p) for p in template(name)["parameters"]})
        evaluated = {"retryPolicy", "deadLetterWithResourceIdentity"}  # variables of the file
        properties = {k: evaluator.eval(v) if k in evaluated else v for k, v in config["properties"].items()}
        retry = properties["retryPolicy"]
        assert 1 <= retry["maxDeliveryAttempts"] <= 30 and retry["eventTimeToLiveInMinutes"] >= 60, f"{name}:{symbol}"
        dead_letter = properties["deadLetterWithResourceIdentity"]
        assert dead_letter["identity"]["type"] == "SystemAssigned", f"{name}:{symbol}"
        destination = dead_letter["deadLetterDestination"]
        assert destination["endpointType"] == "StorageBlob" and destination["properties"]["blobContainerName"]
        event_filter = properties["filter"]
        assert event_filter["includedEventTypes"], f"{name}:{symbol}: no event type filter"
        assert any(f["key"] == "subject" and f["values"] for f in event_filter["advancedFilters"]), f"{name}:{symbol}"
        assert properties["destination"]["endpointType"] == "AzureFunction"
        assert properties["destination"]["properties"]["maxEventsPerBatch"] == 1


def test_topics_have_identities_and_may_write_only_the_dead_letter_container() -> None:
    topics = list(resources("Microsoft.EventGrid/systemTopics"))
    assert len(topics) == 2 and all(c["identity"]["type"] == "SystemAssigned" for *_, c in topics)
    assignments = resources("Microsoft.Authorization/roleAssignments")
    grants = [(n, c) for n, _, _, c in assignments if n == "modules/rbac-dead-letter.bicep"]
    assert len(grants) == 1
    name, grant = grants[0]
    assert template(name)["resources"][grant["scope"]]["type"] == "Microsoft.Storage/storageAccounts/blobServices/containers"
    dead_letter_roles = body(template("main.bicep")["modules"]["deadLetterRoles"])["params"]["roleDefinitionGuid"]
    assert ALLOWED_ROLES[main().eval(dead_letter_roles)] == "Storage Blob Data Contributor"


def test_event_subscriptions_exist_only_in_the_second_pass() -> None:
    module = template("main.bicep")["modules"]["eventSubscriptions"]
    assert loop(module)["array_name"] == "eventSubscriptionTargets"
    assert main(deployEventSubscriptions=False).variable("eventSubscriptionTargets") == []
    assert main(deployEventSubscriptions=True).variable("eventSubscriptionTargets") == example()["monitoredSubscriptionIds"]
    assert {"monitoring", "deadLetterRoles"} <= set(body(module)["dependsOn"])


# ------------------------------------------------------------------------------- alerts reach the app


def test_the_app_settings_carry_the_alert_auth_mode_audience_and_tenant() -> None:
    settings = main().variable("ppgdrSettings")
    assert settings["PPGDR_ALERT_AUTH_MODE"] == "aad"
    assert settings["PPGDR_ALERT_AUDIENCE"] == example()["alertWebhookAadIdentifierUri"]
    tenant = template("main.bicep")["variables"]["ppgdrSettings"]["value"]["PPGDR_TENANT_ID"]
    tenant_id = {"operand_1": {"function": {"type": "tenant"}}, "operand_2": "tenantId"}
    assert tenant == {"operator": {"type": "property_accessor", "operands": tenant_id}}, "tenant().tenantId"
    action_group = body(template("main.bicep")["modules"]["alerting"])["params"]
    assert action_group["authMode"] == "checkedAlertAuthMode", "the action group gets the checked mode"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"alertWebhookAadObjectId": ""}, "alertWebhookAadObjectId"),
        ({"alertWebhookAadIdentifierUri": ""}, "alertWebhookAadIdentifierUri"),
        ({"alertWebhookAuthMode": "functionKey"}, "alertWebhookFunctionKey"),
    ],
)
def test_a_deployment_whose_alerts_would_reach_no_receiver_fails(overrides: dict[str, Any], named: str) -> None:
    with pytest.raises(BicepFail, match=named):
        main(**overrides).variable("checkedAlertAuthMode")
    with pytest.raises(BicepFail, match="no receiver"):
        main(**overrides).variable("ppgdrSettings")  # the settings use the checked value: the check cannot be skipped


def test_function_key_mode_with_its_key_deploys() -> None:
    assert main(alertWebhookAuthMode="functionKey", alertWebhookFunctionKey="k").variable("checkedAlertAuthMode") == "functionKey"


def test_settings_set_by_hand_before_have_parameters_and_extra_settings_survive_a_deployment() -> None:
    """The deployment writes the app settings as one list: what it has no parameter for is removed on redeploy."""
    rule = "/subscriptions/s/resourceGroups/ops/providers/Microsoft.Insights/metricAlerts/vm-availability"
    evaluator = main(
        alertRuleIds=[rule, rule + "-2"],
        operatorAudience="api://ppgdr-operators",
        sessionSecret="s" * 32,
        additionalAppSettings={"PPGDR_EVENT_DEDUP_HOURS": "48", "PPGDR_FAILOVER_MODE": "auto"},
    )
    module = body(template("main.bicep")["modules"]["app"])["params"]
    assert "additionalAppSettings" in json.dumps(module["ppgdrSettings"]), "the extra settings reach the app module"
    settings = evaluator.variable("ppgdrSettings")
    assert settings["PPGDR_ALERT_RULE_IDS"] == f"{rule},{rule}-2"
    assert settings["PPGDR_OPERATOR_AUDIENCE"] == "api://ppgdr-operators"
    assert settings["PPGDR_SESSION_SECRET"] == "s" * 32
    merged = {**evaluator.parameter("additionalAppSettings"), **settings}  # union(): the named parameters win
    assert merged["PPGDR_EVENT_DEDUP_HOURS"] == "48" and merged["PPGDR_FAILOVER_MODE"] == "approve"
    parsed = app_settings(main(alertRuleIds=[rule], sessionSecret="s" * 32))
    assert parsed.alert_rule_ids == (rule.lower(),)
    with pytest.raises(BicepFail, match="sessionSecret"):
        main(sessionSecret="short").variable("ppgdrSettings")


# ----------------------------------------------------------------- the parameters example agrees with the app


def test_the_example_is_complete_and_its_settings_parse_in_the_app() -> None:
    declared = template("main.bicep")["parameters"]
    params = example()
    assert set(params) <= set(declared), f"unknown parameters: {set(params) - set(declared)}"
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required <= set(params), f"the example misses required parameters: {required - set(params)}"
    app_settings(main())  # raises SettingsError on anything the app would refuse at start-up


def test_every_recovery_resource_group_the_app_uses_is_created_and_granted() -> None:
    evaluator = main()
    settings = app_settings(evaluator)
    created = {id.lower() for id in evaluator.variable("recoveryResourceGroupIds")}
    granted = set(evaluator.variable("vmResourceGroupIds"))
    for source in example()["sourceResourceGroupIds"]:
        subscription, group = source.split("/")[2], source.split("/")[4]
        recovery = f"/subscriptions/{subscription}/resourcegroups/{settings.target_resource_group_for(group)}".lower()
        assert recovery in created, f"{recovery} (the app's recovery group of {group}) is not created"
        assert recovery in granted and source.lower() in granted, f"{recovery} gets no roles"
    assert "/resourcegroups/rg-app-westeurope-asr" in next(iter(created))


def test_recovery_group_names_follow_the_apps_rule_for_any_pattern_and_subscription() -> None:
    sources = [
        "/subscriptions/aaaa/resourceGroups/sap-prod",
        "/subscriptions/bbbb/resourceGroups/Trading",
    ]
    evaluator = main(sourceResourceGroupIds=sources, targetResourceGroup="dr-{source_resource_group}")
    settings = app_settings(evaluator)
    expected = [
        f"/subscriptions/{s.split('/')[2]}/resourceGroups/{settings.target_resource_group_for(s.split('/')[4])}" for s in sources
    ]
    assert (
        evaluator.variable("recoveryResourceGroupIds")
        == expected
        == [
            "/subscriptions/aaaa/resourceGroups/dr-sap-prod",
            "/subscriptions/bbbb/resourceGroups/dr-Trading",
        ]
    )
    assert template("main.bicep")["parameters"]["targetResourceGroup"]["default"] == DEFAULT_TARGET_RESOURCE_GROUP
    location = main(regionPairs="eastus:westus2,westeurope:northeurope", recoveryResourceGroupLocation=DEFAULT)
    assert location.parameter("recoveryResourceGroupLocation") == "westus2", "the DR region of the first pair"


def test_cache_accounts_cover_both_regions_of_every_pair_and_get_their_role() -> None:
    evaluator = main()
    settings = app_settings(evaluator)
    regions = set(settings.region_pairs) | set(settings.region_pairs.values())
    assert regions == {"westeurope", "northeurope"}
    assert regions <= set(settings.cache_storage_accounts), "reprotect needs the DR region's cache account"
    granted = set(evaluator.variable("cacheStorageAccountIds"))
    assert {account.lower() for account in settings.cache_storage_accounts.values()} == granted
    mapped = {v.lower() for pair in settings.network_mappings.items() for v in pair}
    vnets = mapped | {v.lower() for v in settings.test_network_ids.values()}
    assert vnets == set(evaluator.variable("networkIds"))


def test_a_deployment_without_the_dr_regions_cache_account_fails() -> None:
    westeurope_only = example()["cacheStorageAccounts"].split(",")[0]
    with pytest.raises(BicepFail, match="northeurope"):
        main(cacheStorageAccounts=westeurope_only).variable("ppgdrSettings")
    with pytest.raises(BicepFail, match="westeurope"):  # the app reads region keys in lower case
        capitalised = example()["cacheStorageAccounts"].replace("westeurope=", "WestEurope=")
        main(cacheStorageAccounts=capitalised).variable("cacheStorageAccountIds")
