"""Azure SDK clients built from settings: one place for credential, endpoint, TLS trust and retries.

Why a layer at all: every client must point at the same ARM endpoint (the public cloud, or the local
emulator through ``PPGDR_ARM_ENDPOINT``), trust the same CA bundle, use the managed identity, and retry
the same way. The SDK's own retry policy already honours ``Retry-After`` on 429 and backs off on 5xx
without retrying other 4xx, so we configure it rather than write another one.

SDK modules are imported inside the functions that need them: importing every management SDK costs
~0.7 s and ~73 MiB, which a cold start of a function that only reads a table should not pay.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import DecodeError, DeserializationError

from shared.platform.retries import retry_policy
from shared.platform.telemetry import annotate
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.pipeline import PipelineResponse
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient


_VAULT_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.RecoveryServices/vaults/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class VaultRef:
    """A Recovery Services vault: the SDK wants its resource group and name on every call."""

    subscription: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, vault_id: str) -> VaultRef:
        found = _VAULT_ID.match(vault_id.strip())
        if not found:
            raise ValueError(
                f"PPGDR_VAULT_ID {vault_id!r} is not a vault resource id "
                "(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.RecoveryServices/vaults/<name>)"
            )
        return cls(found["sub"], found["rg"], found["name"])

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.RecoveryServices/vaults/{self.name}"
        )

    @property
    def args(self) -> tuple[str, str]:
        """``(resource_group_name, resource_name)`` as every ASR operation takes them."""
        return self.resource_group, self.name


def default_credential() -> TokenCredential:
    """The managed identity in Azure (and, locally, the emulator's managed-identity endpoint)."""
    from azure.identity import DefaultAzureCredential  # lazy: azure.identity loads only when a credential is needed

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by every management client."""
    kwargs: dict[str, Any] = {"base_url": settings.arm_endpoint, "retry_policy": retry_policy()}
    if settings.arm_ca_bundle:
        kwargs["connection_verify"] = settings.arm_ca_bundle
    return kwargs


@dataclass
class AzureClients:
    """Lazily built, cached SDK clients per subscription (clients are thread-safe and reusable)."""

    settings: Settings
    credential: TokenCredential | None = None
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _credential(self) -> TokenCredential:
        if self.credential is None:
            self.credential = default_credential()
        return self.credential

    def _get(self, kind: str, subscription: str, build: Callable[[TokenCredential, str], Any]) -> Any:
        key = (kind, subscription.lower())
        with self._lock:
            if key not in self._cache:
                self._cache[key] = build(self._credential(), subscription)
            return self._cache[key]

    def compute(self, subscription: str) -> ComputeManagementClient:
        def build(credential: TokenCredential, sub: str) -> ComputeManagementClient:
            from azure.mgmt.compute import ComputeManagementClient  # lazy: the SDK loads on first use, not at cold start

            return ComputeManagementClient(credential, sub, **client_kwargs(self.settings))

        client: ComputeManagementClient = self._get("compute", subscription, build)
        return client

    def resources(self, subscription: str) -> ResourceManagementClient:
        def build(credential: TokenCredential, sub: str) -> ResourceManagementClient:
            from azure.mgmt.resource.resources import (
                ResourceManagementClient,  # lazy: the SDK loads on first use, not at cold start
            )

            return ResourceManagementClient(credential, sub, **client_kwargs(self.settings))

        client: ResourceManagementClient = self._get("resources", subscription, build)
        return client

    def site_recovery(self, subscription: str) -> SiteRecoveryManagementClient:
        def build(credential: TokenCredential, sub: str) -> SiteRecoveryManagementClient:
            from azure.mgmt.recoveryservicessiterecovery import (
                SiteRecoveryManagementClient,  # lazy: the SDK loads on first use, not at cold start
            )

            return SiteRecoveryManagementClient(credential, sub, **client_kwargs(self.settings))

        client: SiteRecoveryManagementClient = self._get("asr", subscription, build)
        return client

    def vault(self) -> VaultRef:
        if not self.settings.vault_id:
            raise ValueError("PPGDR_VAULT_ID is not set: ppg-dr needs the Recovery Services vault to protect VMs")
        return VaultRef.parse(self.settings.vault_id)

    def close(self) -> None:
        with self._lock:
            for client in self._cache.values():
                client.close()
            self._cache.clear()


@dataclass(frozen=True)
class StartedOperation:
    """What ARM said when a long-running operation was accepted; enough to poll it later.

    Functions never wait on a long-running operation: they keep this (in the operation journal) and
    the pulse timer polls the job. ``job_id`` is the ASR job name from the ``Azure-AsyncOperation`` /
    ``Location`` URL (ASR's operation ids are its job names).
    """

    status_code: int
    async_operation_url: str | None
    location_url: str | None
    retry_after: int | None
    job_id: str | None
    body: Any = None

    @property
    def completed(self) -> bool:
        """True when ARM finished the work in the initial response (no operation to poll)."""
        return self.status_code in (200, 201, 204) and not self.async_operation_url and not self.location_url


def job_id_from_url(url: str | None) -> str | None:
    """The last path segment of an ASR operation URL (``.../replicationOperationStatus/{job}?api-version=``)."""
    if not url:
        return None
    path = url.split("?", 1)[0].rstrip("/")
    return path.rsplit("/", 1)[-1] or None


def start_operation(begin: Callable[..., Any], *args: Any, **kwargs: Any) -> StartedOperation:
    """Send a ``begin_*`` call and return as soon as ARM accepts it, without polling.

    ``polling=False`` keeps the SDK from starting its background polling thread; a response hook
    captures the headers of the initial response, which carry the operation URLs.
    """

    captured: dict[str, Any] = {}

    def hook(response: PipelineResponse[Any, Any]) -> None:
        # The hook runs after the retry policy for every attempt: the last response is the answer.
        http = response.http_response
        captured["status"] = http.status_code
        captured["headers"] = {k.lower(): v for k, v in http.headers.items()}

    poller = begin(*args, polling=False, raw_response_hook=hook, **kwargs)
    body = None
    try:
        body = poller.result()
    except (DecodeError, DeserializationError, ValueError, KeyError):
        body = None  # an empty 202 body need not deserialize: the headers are what we need
    headers: dict[str, str] = captured.get("headers", {})
    async_url = headers.get("azure-asyncoperation")
    location = headers.get("location")
    retry_after = headers.get("retry-after")
    job_id = job_id_from_url(async_url) or job_id_from_url(location)
    annotate(job=job_id)  # every ASR job ppg-dr starts is an attribute of the invocation that started it
    return StartedOperation(
        status_code=int(captured.get("status", 0)),
        async_operation_url=async_url,
        location_url=location,
        retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
        job_id=job_id,
        body=body,
    )
