"""One clear line for "cannot reach Azure or Table storage", naming the setting to fix.

A wrong endpoint, a stopped emulator or Azurite, or a CA file that does not match the server surfaces
deep inside the SDKs as a 90-line traceback about urllib3 pools. An operator needs to know which of
ppg-dr's settings points at the wrong place; this module maps such errors to that sentence. Pure: it
only reads the exception and the settings.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

from shared.settings import Settings

_HOST_PORT = re.compile(r"host='(?P<host>[^']+)', port=(?P<port>\d+)")
_TLS = ("CERTIFICATE_VERIFY_FAILED", "SSLError", "certificate verify failed", "WRONG_VERSION_NUMBER", "TLS CA certificate")


def _host_port(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    return parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80)


def table_endpoint(settings: Settings) -> str | None:
    """The Table endpoint ppg-dr talks to: ``TableEndpoint=`` of the connection string, or the endpoint setting."""
    if settings.state_connection:
        for part in settings.state_connection.split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() == "tableendpoint" and value.strip():
                return value.strip()
        account = next(
            (p.partition("=")[2] for p in settings.state_connection.split(";") if p.lower().startswith("accountname=")), ""
        )
        return f"https://{account}.table.core.windows.net" if account else None
    return settings.state_endpoint


def _reason(text: str) -> str:
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered:
        return "host name not found"
    if "timed out" in lowered:
        return "timed out"
    if any(marker.lower() in lowered for marker in _TLS):
        return "TLS certificate not trusted"
    return "unreachable"


def connection_problem(exc: BaseException, settings: Settings) -> str | None:
    """A one-line explanation naming the setting, or None when ``exc`` is not a connectivity problem."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    text = " | ".join(str(e) for e in chain)
    if isinstance(exc, ClientAuthenticationError):
        where = "the managed identity (IDENTITY_ENDPOINT / IDENTITY_HEADER locally)"
        return f"cannot get an Azure token from {where}: {_reason(text)}; ppg-dr authenticates with DefaultAzureCredential"
    if isinstance(exc, OSError) and "TLS CA certificate" in text:
        return f"PPGDR_ARM_CA_BUNDLE={settings.arm_ca_bundle}: not a usable CA file ({_reason(text)})"
    if not any(isinstance(e, ServiceRequestError | ServiceResponseError) for e in chain):
        return None
    found = _HOST_PORT.search(text)
    peer = (found["host"].lower(), int(found["port"])) if found else None
    reason = _reason(text)
    table = table_endpoint(settings)
    if table and peer is not None and _host_port(table) == peer:
        setting = "PPGDR_STATE_CONNECTION" if settings.state_connection else "PPGDR_STATE_ENDPOINT"
        return f"cannot reach Table storage at {table} ({setting}): {reason}"
    arm_peer = _host_port(settings.arm_endpoint)
    if reason == "TLS certificate not trusted":
        ca = f" (PPGDR_ARM_CA_BUNDLE={settings.arm_ca_bundle})" if settings.arm_ca_bundle else " (set PPGDR_ARM_CA_BUNDLE)"
        return f"the ARM endpoint {settings.arm_endpoint} presented a certificate the CA file does not trust{ca}"
    if peer is None or peer == arm_peer:
        return f"cannot reach Azure Resource Manager at {settings.arm_endpoint} (PPGDR_ARM_ENDPOINT): {reason}"
    return f"cannot reach {peer[0]}:{peer[1]}: {reason} (check PPGDR_ARM_ENDPOINT and PPGDR_STATE_CONNECTION)"
