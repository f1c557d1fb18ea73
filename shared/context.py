"""The per-process application context: settings, state store and Azure clients, built once.

A Functions worker process serves many invocations; building SDK clients and the credential once per
process keeps each invocation cheap. Built lazily on first use, so importing ``function_app`` stays
fast (cold start) and a bad setting is reported by the first invocation that needs it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.platform.clients import AzureClients
from shared.platform.compute import ComputeApi, ComputeGateway
from shared.platform.site_recovery import SiteRecovery, SiteRecoveryApi
from shared.platform.telemetry import NOISY_SDK_LOGGERS, quiet_sdk_logging
from shared.settings import Settings
from shared.state.store import StateStore, new_holder_id

if TYPE_CHECKING:
    from shared.platform.entra_keys import SigningKeys

# The Azure SDKs' chatty loggers are quieted in one place, for the local console and Application Insights alike.
__all__ = ["NOISY_SDK_LOGGERS", "AppContext", "get_context", "quiet_sdk_logging", "set_context"]


@dataclass
class AppContext:
    """Settings, the state store, Azure clients and the gateways built on them, for one worker process.

    The gateways are built from the clients on first use; unit tests pass fakes instead (the workflow
    phases talk to Azure only through them).
    """

    settings: Settings
    store: StateStore
    clients: AzureClients
    holder: str
    site_recovery_api: SiteRecoveryApi | None = None
    compute_api: ComputeApi | None = None
    signing_keys_cache: SigningKeys | None = None

    @property
    def site_recovery(self) -> SiteRecoveryApi:
        """The Site Recovery gateway for the configured vault."""
        if self.site_recovery_api is None:
            self.site_recovery_api = SiteRecovery(self.clients)
        return self.site_recovery_api

    @property
    def compute(self) -> ComputeApi:
        if self.compute_api is None:
            self.compute_api = ComputeGateway(self.clients)
        return self.compute_api

    @property
    def signing_keys(self) -> SigningKeys:
        """The Entra ID tenant's token-signing keys (cached per process; PyJWT loads on the first token)."""
        if self.signing_keys_cache is None:
            from shared.platform.entra_keys import SigningKeys  # not at cold start: only a bearer token needs it

            auth = self.settings.auth
            if auth.tenant_id is None:
                raise ValueError("PPGDR_TENANT_ID is not set: Entra ID tokens cannot be checked")
            self.signing_keys_cache = SigningKeys.for_settings(auth.entra_authority, auth.tenant_id, self.settings.arm_ca_bundle)
        return self.signing_keys_cache

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        quiet_sdk_logging()
        return cls(settings, StateStore.from_settings(settings), AzureClients(settings), new_holder_id())


_lock = threading.Lock()
_current: AppContext | None = None


def get_context() -> AppContext:
    """The context of this process, built from the environment on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = AppContext.from_settings(Settings.from_env())
        return _current


def set_context(context: AppContext | None) -> None:
    """Replace the process context (a runner or CLI that built its own, or ``None`` to rebuild from env)."""
    global _current
    with _lock:
        if _current is not None and _current is not context:
            _current.clients.close()
        _current = context
