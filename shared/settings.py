"""Settings from environment variables (Function App application settings in Azure).

Every setting is named ``PPGDR_*``; the README and ``local.settings.example.json`` list them. Parsing is
pure (``Settings.from_env(mapping)``) so a bad value is reported with the setting's name and what is
allowed, at start-up, instead of failing later inside a failover.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shared.timeframes import Window, WindowError, parse_window

PUBLIC_ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_TARGET_RESOURCE_GROUP = "{source_resource_group}-asr"
PUBLIC_ENTRA_AUTHORITY = "https://login.microsoftonline.com"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the setting and the expected form."""


def _pairs(name: str, raw: str, *, separator: str) -> dict[str, str]:
    """Parse ``a<sep>b,c<sep>d`` into a dict, rejecting half-written entries."""
    result: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, value = item.partition(separator)
        if not sep or not key.strip() or not value.strip():
            raise SettingsError(f"{name}: entry {item!r} is not of the form 'key{separator}value'")
        result[key.strip().lower() if separator == ":" else key.strip()] = value.strip()
    return result


def _bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}: {raw!r} is not a boolean (use true or false)")


def _int(name: str, raw: str | None, default: int, *, minimum: int = 0) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError as exc:
        raise SettingsError(f"{name}: {raw!r} is not a whole number") from exc
    if value < minimum:
        raise SettingsError(f"{name}: {value} is below the minimum of {minimum}")
    return value


def _fraction(name: str, raw: str | None, default: float) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {raw!r} is not a number") from exc
    if not 0 <= value < 1:
        raise SettingsError(f"{name}: {value} must be at least 0 and below 1 (a fraction of the group's VMs)")
    return value


def _resource_groups(raw: str | None) -> tuple[str, ...]:
    """Resource group ids; each must be ``/subscriptions/<id>/resourceGroups/<name>``."""
    groups = _list(raw)
    for group in groups:
        parts = group.strip("/").split("/")
        if len(parts) != 4 or parts[0].lower() != "subscriptions" or parts[2].lower() != "resourcegroups":
            raise SettingsError(
                f"PPGDR_RESOURCE_GROUPS: {group!r} is not a resource group id (/subscriptions/<id>/resourceGroups/<name>)"
            )
    return groups


FLAP_WINDOW_SECONDS = 1800  # the decision engine's window; a debounce must fit inside it


def _debounce(raw: str | None) -> int:
    value = _int("PPGDR_DEBOUNCE_SECONDS", raw, 300)
    if value >= FLAP_WINDOW_SECONDS:
        raise SettingsError(
            f"PPGDR_DEBOUNCE_SECONDS: {value} must be below {FLAP_WINDOW_SECONDS} (signals older than the 30-minute "
            "window are not counted, so a longer debounce could never be met)"
        )
    return value


_SCHEDULE_KEYWORDS = ("off", "daily", "weekly", "monthly")
_PROBE = re.compile(r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):(?P<port>\d{1,5})$")


def _drill_schedule(raw: str | None) -> str:
    """A keyword, or six fields (the cron expression itself is checked where schedules are read: the tag parser)."""
    value = " ".join((raw or "off").split()).lower()
    if value not in _SCHEDULE_KEYWORDS and len(value.split(" ")) != 6:
        raise SettingsError(
            f"PPGDR_DRILL_SCHEDULE: {raw!r} is not off, daily, weekly, monthly or a six-field NCRONTAB expression"
        )
    return value


def _drill_window(raw: str | None) -> Window | None:
    try:
        return parse_window(raw)
    except WindowError as exc:
        raise SettingsError(f"PPGDR_DRILL_WINDOW: {exc}") from exc


def parse_probes(raw: str | None) -> tuple[str, ...]:
    """``host:port`` endpoints (comma-separated) a drill checks with a TCP connect; ValueError names a bad one."""
    probes = _list(raw)
    for probe in probes:
        found = _PROBE.match(probe)
        if not found or not 0 < int(found["port"]) < 65536:
            raise ValueError(f"{probe!r} is not host:port (a host name or IP address and a port 1-65535)")
    return probes


def _probes(name: str, raw: str | None) -> tuple[str, ...]:
    try:
        return parse_probes(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from exc


def _list(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(part.strip() for part in raw.split(",") if part.strip())


ALERT_AUTH_MODES = {"aad": "aad", "functionkey": "functionKey"}
# The app role Microsoft's secure-webhook script defines and assigns to the Azure Monitor action groups
# service principal ("AzNS AAD Webhook"); see docs/security.md.
DEFAULT_ALERT_ROLE = "ActionGroupsSecureWebhook"
DEFAULT_OPERATOR_ROLE = "DR.Operator"
DEFAULT_READER_ROLE = "DR.Reader"
MIN_SESSION_SECRET_CHARS = 32
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _role(name: str, raw: str | None, default: str) -> str:
    value = raw or default
    if any(c.isspace() or c == "," for c in value):
        raise SettingsError(f"{name}: {value!r} is not one app role value (no spaces or commas)")
    return value


@dataclass(frozen=True)
class AuthSettings:
    """Who may call the HTTP API: keys, browser sessions and Entra ID tokens (``docs/security.md``).

    Entra ID tokens are accepted on the alert webhook when ``alert_auth_mode`` is ``aad`` (Azure Monitor's
    secure webhook) and on the operator routes when a tenant and an operator audience are set. Validation
    itself lives in ``shared.platform.entra_tokens``; this only says what to expect.
    """

    alert_auth_mode: str = "functionKey"
    tenant_id: str | None = None
    alert_audiences: tuple[str, ...] = ()
    alert_role: str = DEFAULT_ALERT_ROLE
    operator_audiences: tuple[str, ...] = ()
    operator_role: str = DEFAULT_OPERATOR_ROLE
    reader_role: str = DEFAULT_READER_ROLE
    entra_authority: str = PUBLIC_ENTRA_AUTHORITY
    session_secret: str | None = None

    @property
    def alert_tokens(self) -> bool:
        """The alert webhook takes Entra ID tokens (and only those)."""
        return self.alert_auth_mode == "aad"

    @property
    def operator_tokens(self) -> bool:
        """The operator routes take Entra ID tokens besides keys and sessions."""
        return bool(self.tenant_id and self.operator_audiences)

    @classmethod
    def from_env(cls, get: Callable[[str], str | None]) -> AuthSettings:
        raw_mode = get("PPGDR_ALERT_AUTH_MODE") or "functionKey"
        mode = ALERT_AUTH_MODES.get(raw_mode.lower())
        if mode is None:
            raise SettingsError(f"PPGDR_ALERT_AUTH_MODE: {raw_mode!r} is not aad or functionKey")
        tenant = get("PPGDR_TENANT_ID")
        if tenant is not None and not _GUID.match(tenant):
            raise SettingsError(
                f"PPGDR_TENANT_ID: {tenant!r} is not a tenant id (the GUID shown as Directory (tenant) ID in Entra ID)"
            )
        alert_audiences = _list(get("PPGDR_ALERT_AUDIENCE"))
        if mode == "aad" and not (tenant and alert_audiences):
            raise SettingsError(
                "PPGDR_ALERT_AUTH_MODE=aad needs PPGDR_TENANT_ID (the tenant that issues the tokens) and "
                "PPGDR_ALERT_AUDIENCE (the alert app registration's Application ID URI or client id); "
                "without them no alert could ever be accepted"
            )
        authority = (get("PPGDR_ENTRA_AUTHORITY") or PUBLIC_ENTRA_AUTHORITY).rstrip("/")
        if not authority.startswith("https://"):
            raise SettingsError(f"PPGDR_ENTRA_AUTHORITY: {authority!r} must be an https:// URL (signing keys come from it)")
        secret = get("PPGDR_SESSION_SECRET")
        if secret is not None and len(secret) < MIN_SESSION_SECRET_CHARS:
            raise SettingsError(
                f"PPGDR_SESSION_SECRET must be at least {MIN_SESSION_SECRET_CHARS} characters (use a random value)"
            )
        return cls(
            alert_auth_mode=mode,
            tenant_id=tenant.lower() if tenant else None,
            alert_audiences=alert_audiences,
            alert_role=_role("PPGDR_ALERT_ROLE", get("PPGDR_ALERT_ROLE"), DEFAULT_ALERT_ROLE),
            operator_audiences=_list(get("PPGDR_OPERATOR_AUDIENCE")) or alert_audiences,
            operator_role=_role("PPGDR_OPERATOR_ROLE", get("PPGDR_OPERATOR_ROLE"), DEFAULT_OPERATOR_ROLE),
            reader_role=_role("PPGDR_READER_ROLE", get("PPGDR_READER_ROLE"), DEFAULT_READER_ROLE),
            entra_authority=authority,
            session_secret=secret,
        )


def http_auth_level(env: Mapping[str, str] | None = None) -> str:
    """``"anonymous"`` when ppg-dr must see requests that carry no function key, else ``"function"``.

    The Functions host checks a function key before the app sees a request (``AuthLevel.FUNCTION``), so a
    caller with only an Entra ID token (Azure Monitor's secure webhook, an operator) would never get past it.
    When the app accepts Entra ID tokens, the host lets every request through (``ANONYMOUS``) and the app
    authenticates each one itself (keys, session, token; nothing passes without one). Otherwise the host
    checks the function key first and the app checks ``PPGDR_API_KEYS`` again.

    Read when ``function_app`` is imported, so it never raises: it looks only at the raw values that decide
    it (a bad value is reported by the first request, through :class:`Settings`).
    """
    env = os.environ if env is None else env

    def raw(name: str) -> str:
        return (env.get(name) or "").strip()

    tokens_for_alerts = raw("PPGDR_ALERT_AUTH_MODE").lower() == "aad"
    tokens_for_operators = bool(raw("PPGDR_TENANT_ID") and (raw("PPGDR_OPERATOR_AUDIENCE") or raw("PPGDR_ALERT_AUDIENCE")))
    return "anonymous" if tokens_for_alerts or tokens_for_operators else "function"


@dataclass(frozen=True)
class Settings:
    """What ppg-dr needs to know about its environment; desired state per VM comes from tags."""

    arm_endpoint: str = PUBLIC_ARM_ENDPOINT
    arm_ca_bundle: str | None = None
    state_connection: str | None = None
    state_endpoint: str | None = None
    state_table_prefix: str = "ppgdr"
    subscriptions: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    vault_id: str | None = None
    region_pairs: dict[str, str] = field(default_factory=dict)
    target_resource_group: str = DEFAULT_TARGET_RESOURCE_GROUP
    cache_storage_accounts: dict[str, str] = field(default_factory=dict)
    network_mappings: dict[str, str] = field(default_factory=dict)
    test_network_ids: dict[str, str] = field(default_factory=dict)
    recovery_point_retention_minutes: int = 1440
    app_consistent_frequency_minutes: int = 240
    failover_mode: str = "approve"
    max_failovers_per_hour: int = 1
    dry_run: bool = False
    lease_seconds: int = 120
    event_dedup_hours: int = 24
    quorum_fraction: float = 0.5
    debounce_seconds: int = 300
    require_all_running: bool = False
    alert_rule_ids: tuple[str, ...] = ()
    auto_failback_minutes: int = 0
    api_keys: tuple[str, ...] = ()
    auth: AuthSettings = field(default_factory=AuthSettings)
    drill_schedule: str = "off"
    drill_window: Window | None = None
    max_concurrent_drills: int = 1
    drill_timeout_minutes: int = 120
    drill_rto_minutes: int = 60
    drill_rpo_minutes: int = 30
    drill_probes: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every ``PPGDR_*`` setting (``os.environ`` by default)."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        failover_mode = (get("PPGDR_FAILOVER_MODE") or "approve").lower()
        if failover_mode not in {"off", "approve", "auto"}:
            raise SettingsError(f"PPGDR_FAILOVER_MODE: {failover_mode!r} is not one of off, approve, auto")
        arm_endpoint = get("PPGDR_ARM_ENDPOINT") or PUBLIC_ARM_ENDPOINT
        if not arm_endpoint.startswith("https://"):
            raise SettingsError("PPGDR_ARM_ENDPOINT: ARM is only reachable over https:// (the SDK refuses bearer tokens on http)")
        return cls(
            arm_endpoint=arm_endpoint.rstrip("/"),
            arm_ca_bundle=get("PPGDR_ARM_CA_BUNDLE"),
            state_connection=get("PPGDR_STATE_CONNECTION"),
            state_endpoint=get("PPGDR_STATE_ENDPOINT"),
            state_table_prefix=get("PPGDR_STATE_TABLE_PREFIX") or "ppgdr",
            subscriptions=_list(get("PPGDR_SUBSCRIPTIONS")),
            resource_groups=_resource_groups(get("PPGDR_RESOURCE_GROUPS")),
            vault_id=get("PPGDR_VAULT_ID"),
            region_pairs=_pairs("PPGDR_REGION_PAIRS", get("PPGDR_REGION_PAIRS") or "", separator=":"),
            target_resource_group=get("PPGDR_TARGET_RESOURCE_GROUP") or DEFAULT_TARGET_RESOURCE_GROUP,
            cache_storage_accounts={
                k.lower(): v
                for k, v in _pairs(
                    "PPGDR_CACHE_STORAGE_ACCOUNTS", get("PPGDR_CACHE_STORAGE_ACCOUNTS") or "", separator="="
                ).items()
            },
            network_mappings=_pairs("PPGDR_NETWORK_MAPPINGS", get("PPGDR_NETWORK_MAPPINGS") or "", separator="="),
            test_network_ids={
                k.lower(): v
                for k, v in _pairs("PPGDR_TEST_NETWORK_IDS", get("PPGDR_TEST_NETWORK_IDS") or "", separator="=").items()
            },
            recovery_point_retention_minutes=_int(
                "PPGDR_RECOVERY_POINT_RETENTION_MINUTES", get("PPGDR_RECOVERY_POINT_RETENTION_MINUTES"), 1440, minimum=60
            ),
            app_consistent_frequency_minutes=_int(
                "PPGDR_APP_CONSISTENT_FREQUENCY_MINUTES", get("PPGDR_APP_CONSISTENT_FREQUENCY_MINUTES"), 240
            ),
            failover_mode=failover_mode,
            max_failovers_per_hour=_int("PPGDR_MAX_FAILOVERS_PER_HOUR", get("PPGDR_MAX_FAILOVERS_PER_HOUR"), 1),
            dry_run=_bool("PPGDR_DRY_RUN", get("PPGDR_DRY_RUN"), False),
            lease_seconds=_int("PPGDR_LEASE_SECONDS", get("PPGDR_LEASE_SECONDS"), 120, minimum=10),
            event_dedup_hours=_int("PPGDR_EVENT_DEDUP_HOURS", get("PPGDR_EVENT_DEDUP_HOURS"), 24, minimum=1),
            quorum_fraction=_fraction("PPGDR_QUORUM_FRACTION", get("PPGDR_QUORUM_FRACTION"), 0.5),
            debounce_seconds=_debounce(get("PPGDR_DEBOUNCE_SECONDS")),
            require_all_running=_bool("PPGDR_REQUIRE_ALL_RUNNING", get("PPGDR_REQUIRE_ALL_RUNNING"), False),
            alert_rule_ids=tuple(r.lower() for r in _list(get("PPGDR_ALERT_RULE_IDS"))),
            auto_failback_minutes=_int("PPGDR_AUTO_FAILBACK_MINUTES", get("PPGDR_AUTO_FAILBACK_MINUTES"), 0),
            api_keys=_list(get("PPGDR_API_KEYS")),
            auth=AuthSettings.from_env(get),
            drill_schedule=_drill_schedule(get("PPGDR_DRILL_SCHEDULE")),
            drill_window=_drill_window(get("PPGDR_DRILL_WINDOW")),
            max_concurrent_drills=_int("PPGDR_MAX_CONCURRENT_DRILLS", get("PPGDR_MAX_CONCURRENT_DRILLS"), 1),
            drill_timeout_minutes=_int("PPGDR_DRILL_TIMEOUT_MINUTES", get("PPGDR_DRILL_TIMEOUT_MINUTES"), 120, minimum=10),
            drill_rto_minutes=_int("PPGDR_DRILL_RTO_MINUTES", get("PPGDR_DRILL_RTO_MINUTES"), 60, minimum=1),
            drill_rpo_minutes=_int("PPGDR_DRILL_RPO_MINUTES", get("PPGDR_DRILL_RPO_MINUTES"), 30, minimum=1),
            drill_probes=_probes("PPGDR_DRILL_PROBE", get("PPGDR_DRILL_PROBE")),
        )

    def target_region(self, source_region: str) -> str | None:
        """The DR region paired with a source region (pairs are usable in both directions)."""
        region = source_region.lower()
        if region in self.region_pairs:
            return self.region_pairs[region]
        for source, target in self.region_pairs.items():
            if target.lower() == region:
                return source
        return None

    def target_resource_group_for(self, source_resource_group: str) -> str:
        """The recovery resource group for a VM's source resource group."""
        return self.target_resource_group.replace("{source_resource_group}", source_resource_group)

    def require_state(self) -> None:
        if not (self.state_connection or self.state_endpoint):
            raise SettingsError(
                "Table storage is not configured: set PPGDR_STATE_CONNECTION (e.g. Azurite's connection string) "
                "or PPGDR_STATE_ENDPOINT (the account's table endpoint, used with managed identity)"
            )
