"""Static checks of the Bicep in infra/ (no bicep CLI, no Azure: plain text parsing of the real files).

What is enforced:
- every role assignment uses a role from the least-privilege allow-list, never Owner/Contributor/UAA & co.;
- no role assignment is made from a subscription-scoped file, and every assignment targets a resource group
  or a single resource;
- the one custom role is PPG read/write only and assignable only to resource groups;
- Function App hardening (HTTPS only, TLS 1.2, FTP off, Flex Consumption, Python 3.11, managed identity);
- no shared-key storage access, no literal secrets, no secrets in outputs;
- every PPGDR_* app setting is present, the Event Grid and alert wiring is there, and the docs cover it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.unit.infra_roles import ALLOWED_BUILT_IN_ROLES, FORBIDDEN_ROLES

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
DOC = ROOT / "docs" / "infra.md"


PPGDR_SETTINGS = [
    "PPGDR_STATE_ENDPOINT",
    "PPGDR_ARM_ENDPOINT",
    "PPGDR_VAULT_ID",
    "PPGDR_REGION_PAIRS",
    "PPGDR_TARGET_RESOURCE_GROUP",
    "PPGDR_CACHE_STORAGE_ACCOUNTS",
    "PPGDR_NETWORK_MAPPINGS",
    "PPGDR_TEST_NETWORK_IDS",
    "PPGDR_SUBSCRIPTIONS",
    "PPGDR_FAILOVER_MODE",
    "PPGDR_MAX_FAILOVERS_PER_HOUR",
    "PPGDR_DRY_RUN",
    "PPGDR_ALERT_AUTH_MODE",
    "PPGDR_ALERT_AUDIENCE",
    "PPGDR_TENANT_ID",
]

GUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)
ROLE_ASSIGNMENT_RE = re.compile(r"^resource\s+(\w+)\s+'Microsoft\.Authorization/roleAssignments@[^']+'", re.MULTILINE)
TARGET_SCOPE_RE = re.compile(r"^targetScope\s*=\s*'(\w+)'", re.MULTILINE)


def _strip_comments(text: str) -> str:
    """Drop // line comments (outside quotes, good enough for this codebase) and /* */ blocks."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    lines = []
    for line in text.splitlines():
        in_quote = False
        cut = len(line)
        for i, ch in enumerate(line):
            if ch == "'":
                in_quote = not in_quote
            elif ch == "/" and not in_quote and line[i : i + 2] == "//":
                cut = i
                break
        lines.append(line[:cut])
    return "\n".join(lines)


def _bicep_files() -> dict[str, str]:
    files = {str(p.relative_to(INFRA)): p.read_text(encoding="utf-8") for p in sorted(INFRA.rglob("*.bicep"))}
    assert files, f"no Bicep files under {INFRA}"
    return files


@pytest.fixture(scope="module")
def bicep() -> dict[str, str]:
    """Bicep sources without comments, keyed by path relative to infra/."""
    return {name: _strip_comments(text) for name, text in _bicep_files().items()}


@pytest.fixture(scope="module")
def all_code(bicep: dict[str, str]) -> str:
    return "\n".join(bicep.values())


def _target_scope(code: str) -> str:
    match = TARGET_SCOPE_RE.search(code)
    return match.group(1) if match else "resourceGroup"


def _block(code: str, start: int) -> str:
    """The balanced {...} block that starts at the first '{' at or after start."""
    open_at = code.index("{", start)
    depth = 0
    for i in range(open_at, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return code[open_at : i + 1]
    raise AssertionError("unbalanced braces")


def _role_assignments(bicep: dict[str, str]) -> list[tuple[str, str, str]]:
    """(file, symbol, body) for every roleAssignments resource."""
    found = []
    for name, code in bicep.items():
        for match in ROLE_ASSIGNMENT_RE.finditer(code):
            found.append((name, match.group(1), _block(code, match.end())))
    return found


def _secure_params(bicep: dict[str, str]) -> set[str]:
    names = set()
    for code in bicep.values():
        names.update(re.findall(r"@secure\(\)\s*(?:@\w+\((?:'(?:[^'\\]|\\.)*'|[^)'])*\)\s*)*param\s+(\w+)", code))
    return names


# ---------------------------------------------------------------------------------------------------------------
# Roles and scopes
# ---------------------------------------------------------------------------------------------------------------


def test_main_is_subscription_scoped_and_modules_exist(bicep: dict[str, str]) -> None:
    assert _target_scope(bicep["main.bicep"]) == "subscription"
    for ref in re.findall(r"^module\s+\w+\s+'([^']+)'", bicep["main.bicep"], re.MULTILINE):
        assert (INFRA / ref).is_file(), f"main.bicep references missing module {ref}"
    for name, code in bicep.items():
        for ref in re.findall(r"^module\s+\w+\s+'([^']+)'", code, re.MULTILINE):
            assert ((INFRA / name).parent / ref).is_file(), f"{name} references missing module {ref}"


def test_role_assignments_exist(bicep: dict[str, str]) -> None:
    # storage blob + table + metrics publisher (app), vault, resource group, cache account, vnet
    assert len(_role_assignments(bicep)) >= 7


def test_no_forbidden_role_guid_anywhere() -> None:
    for path in INFRA.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8").lower()
            for guid, role in FORBIDDEN_ROLES.items():
                assert guid not in text, f"{path.name} mentions the {role} role"


def test_every_guid_literal_is_an_allowed_role(bicep: dict[str, str]) -> None:
    guids = {g.lower() for code in bicep.values() for g in GUID_RE.findall(code)}
    assert guids, "no role GUIDs found: the allow-list check would be vacuous"
    unknown = guids - set(ALLOWED_BUILT_IN_ROLES)
    assert not unknown, f"GUID literals outside the least-privilege allow-list: {sorted(unknown)}"
    missing = set(ALLOWED_BUILT_IN_ROLES) - guids
    assert not missing, f"expected roles not granted: {[ALLOWED_BUILT_IN_ROLES[g] for g in missing]}"


def test_role_assignments_are_service_principal_and_built_from_role_guid(bicep: dict[str, str]) -> None:
    for name, symbol, body in _role_assignments(bicep):
        assert "principalType: 'ServicePrincipal'" in body, f"{name}:{symbol} lacks principalType"
        assert "subscriptionResourceId('Microsoft.Authorization/roleDefinitions'" in body, (
            f"{name}:{symbol} must reference a role definition by GUID"
        )
        assert "guid(" in body, f"{name}:{symbol} must have a deterministic guid() name"


def test_no_role_assignment_at_subscription_or_wider_scope(bicep: dict[str, str]) -> None:
    for name, symbol, body in _role_assignments(bicep):
        scope = _target_scope(bicep[name])
        assert scope == "resourceGroup", f"{name}:{symbol} is deployed from a {scope}-scoped file"
        scope_line = re.search(r"^\s*scope:\s*(.+)$", body, re.MULTILINE)
        if scope_line:
            value = scope_line.group(1).strip()
            assert not value.startswith(("subscription(", "tenant(", "managementGroup(")), f"{name}:{symbol} is scoped to {value}"


def test_custom_role_is_ppg_only(bicep: dict[str, str]) -> None:
    definitions = [
        (name, _block(code, m.end()))
        for name, code in bicep.items()
        for m in re.finditer(r"^resource\s+\w+\s+'Microsoft\.Authorization/roleDefinitions@[^']+'", code, re.MULTILINE)
    ]
    assert len(definitions) == 1, "exactly one custom role (ppg-dr PPG operator) is expected"
    _name, body = definitions[0]
    actions_block = re.search(r"actions:\s*\[(.*?)\]", body, re.DOTALL)
    assert actions_block
    actions = set(re.findall(r"'([^']+)'", actions_block.group(1)))
    assert actions == {
        "Microsoft.Compute/proximityPlacementGroups/read",
        "Microsoft.Compute/proximityPlacementGroups/write",
        "Microsoft.Compute/proximityPlacementGroups/delete",  # only PPGs ppg-dr created (managed-by=ppg-dr)
    }
    for key in ("dataActions", "notActions", "notDataActions"):
        assert re.search(rf"{key}:\s*\[\s*\]", body), f"{key} must be empty"
    assert "subscription().id" not in body, "the custom role must not be assignable at subscription scope"


def test_vm_roles_cover_source_and_target_resource_groups(bicep: dict[str, str]) -> None:
    main = bicep["main.bicep"]
    assert re.search(r"map\(sourceResourceGroupIds", main)
    assert re.search(r"map\(recoveryResourceGroupIds", main)
    assert re.search(r"map\(additionalTargetResourceGroupIds", main)
    assert "modules/rbac-resource-group.bicep" in main
    assert "builtInRoles.virtualMachineContributor" in main
    assert "builtInRoles.siteRecoveryContributor" in main


# ---------------------------------------------------------------------------------------------------------------
# Function App and storage hardening
# ---------------------------------------------------------------------------------------------------------------


def test_function_app_hardening(bicep: dict[str, str]) -> None:
    app = bicep["modules/app.bicep"]
    assert "httpsOnly: true" in app
    assert "httpsOnly: false" not in app
    assert re.search(r"minTlsVersion:\s*'1\.2'", app)
    assert re.search(r"ftpsState:\s*'Disabled'", app)
    assert re.search(r"type:\s*'SystemAssigned'", app)
    assert re.search(r"tier:\s*'FlexConsumption'", app)
    assert re.search(r"name:\s*'python'\s*\n\s*version:\s*'3\.11'", app)
    assert "kind: 'functionapp,linux'" in app
    for policy in ("'ftp'", "'scm'"):
        assert re.search(rf"basicPublishingCredentialsPolicies@[^']+'\s*=\s*\{{[^}}]*name:\s*{policy}", app)
    assert app.count("allow: false") == 2


def test_storage_has_no_shared_key_access(all_code: str) -> None:
    assert "allowSharedKeyAccess: false" in all_code
    assert "allowSharedKeyAccess: true" not in all_code
    assert "minimumTlsVersion: 'TLS1_2'" in all_code
    assert "AzureWebJobsStorage__accountName" in all_code
    assert not re.search(r"AzureWebJobsStorage'?\s*:", all_code), "no AzureWebJobsStorage connection string"
    assert "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING" not in all_code


def test_app_settings_contain_every_ppgdr_setting(all_code: str) -> None:
    for name in PPGDR_SETTINGS:
        assert re.search(rf"\b{name}\s*:", all_code), f"app setting {name} missing"
    assert re.search(r"failoverMode string = 'approve'", all_code)


# ---------------------------------------------------------------------------------------------------------------
# Secrets
# ---------------------------------------------------------------------------------------------------------------


def test_no_literal_secrets() -> None:
    patterns = [
        r"AccountKey=",
        r"SharedAccessSignature=",
        r"\bsig=[A-Za-z0-9%]",
        r"InstrumentationKey=[0-9a-f]",
        r"DefaultEndpointsProtocol=",
        r"listKeys\(",
        r"listkeys\(",
        r"-----BEGIN",
        r"\bpassword\s*[:=]\s*'[^']+'",
    ]
    for path in INFRA.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for pattern in patterns:
                assert not re.search(pattern, text), f"{path.name} matches secret pattern {pattern}"


def test_function_key_only_from_secure_parameter(bicep: dict[str, str]) -> None:
    secure = _secure_params(bicep)
    assert "alertWebhookFunctionKey" in secure
    for name, code in bicep.items():
        for match in re.finditer(r"code=([^'\s]*)", code):
            value = match.group(1)
            ref = re.fullmatch(r"\$\{(\w+)\}", value)
            assert ref and ref.group(1) in secure, f"{name}: function key in a URL must come from a @secure() param"


def test_no_secret_in_outputs(bicep: dict[str, str]) -> None:
    secure = _secure_params(bicep)
    for name, code in bicep.items():
        for line in re.findall(r"^output\s+.*$", code, re.MULTILINE):
            lowered = line.lower()
            for word in ("key", "secret", "password", "connectionstring", "sas"):
                assert word not in lowered.split("=")[0], f"{name}: suspicious output {line!r}"
            for param in secure:
                assert param not in line, f"{name}: output exposes secure param {param}"


def test_parameters_example_is_valid_and_has_no_secrets(bicep: dict[str, str]) -> None:
    data = json.loads((INFRA / "main.parameters.example.json").read_text(encoding="utf-8"))
    params = data["parameters"]
    declared = set(re.findall(r"^param\s+(\w+)", bicep["main.bicep"], re.MULTILINE))
    assert set(params) <= declared, f"unknown parameters in example: {set(params) - declared}"
    required = {m.group(1) for m in re.finditer(r"^param\s+(\w+)\s+\w+\s*$", bicep["main.bicep"], re.MULTILINE)}
    assert required <= set(params), f"example misses required parameters: {required - set(params)}"
    for name in _secure_params(bicep):
        if name in params:
            assert "reference" in params[name] and "keyVault" in params[name]["reference"], (
                f"secure parameter {name} must be a Key Vault reference in the example"
            )


# ---------------------------------------------------------------------------------------------------------------
# Events and alerts
# ---------------------------------------------------------------------------------------------------------------


def test_event_grid_wiring(bicep: dict[str, str]) -> None:
    events = bicep["modules/events.bicep"]
    assert _target_scope(bicep["modules/subscription-monitoring.bicep"]) == "subscription"
    assert "topicType: 'Microsoft.Resources.Subscriptions'" in events
    assert "topicType: 'Microsoft.ResourceNotifications.HealthResources'" in events
    assert events.count("source: subscription().id") == 2
    subscriptions = bicep["modules/event-subscriptions.bicep"]  # the second pass
    assert "/functions/resource_events'" in subscriptions
    assert "/functions/health_events'" in subscriptions
    for event_type in ("ResourceWriteSuccess", "ResourceDeleteSuccess", "ResourceActionSuccess"):
        assert f"'Microsoft.Resources.{event_type}'" in subscriptions
    assert "operatorType: 'StringContains'" in subscriptions
    assert "key: 'subject'" in subscriptions
    assert "'Microsoft.Compute/virtualMachines'" in subscriptions
    assert "'Microsoft.Resources/tags'" in subscriptions
    assert subscriptions.count("endpointType: 'AzureFunction'") == 2


def test_alerting_wiring(bicep: dict[str, str]) -> None:
    group = bicep["modules/action-group.bicep"]
    assert "useCommonAlertSchema: true" in group
    assert "useAadAuth: true" in group
    assert "useCommonAlertSchema: false" not in group
    assert "/api/alerts" in bicep["main.bicep"]
    events = bicep["modules/events.bicep"]
    assert "metricName: 'VmAvailabilityMetric'" in events
    assert "Microsoft.Insights/activityLogAlerts@" in events
    assert "equals: 'ResourceHealth'" in events


# ---------------------------------------------------------------------------------------------------------------
# Documentation
# ---------------------------------------------------------------------------------------------------------------


def test_docs_cover_roles_settings_and_deploy_commands() -> None:
    text = DOC.read_text(encoding="utf-8")
    for role in ALLOWED_BUILT_IN_ROLES.values():
        assert role in text, f"docs/infra.md does not explain {role}"
    for name in PPGDR_SETTINGS:
        assert name in text, f"docs/infra.md does not document {name}"
    assert "az deployment sub create" in text
    assert "az deployment group create" in text
    assert "not granted" in text.lower()
