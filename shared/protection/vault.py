"""Vault preparation for Azure-to-Azure replication, one idempotent step at a time.

Before a VM can be protected, the vault needs an A2A fabric and protection container per region, a
replication policy, container mappings in both directions (the reverse one is what reprotect and
failback use) and network mappings in both directions. Each is created by a long-running operation,
and functions never wait on one: :func:`prepare_vault` looks at what exists, starts the next missing
piece and reports "not ready"; the next reconcile or pulse goes on from there. Names are
deterministic, so a repeated step is the same PUT.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

from shared.arm.names import A2A_NETWORK, POLICY_NAME, container_name, fabric_name, mapping_name, network_mapping_name
from shared.platform.clients import AzureClients, VaultRef, start_operation
from shared.platform.memo import memo_for
from shared.protection.planner import RETRY_FAILED_AFTER
from shared.settings import Settings
from shared.state.store import FAILED, GROUPS, OPEN_STATUSES, JournalEntry, StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegionPair:
    source: str
    target: str


@dataclass(frozen=True)
class VaultTopology:
    """Where a region pair's objects live in the vault (ids as ASR wants them in inputs)."""

    vault: VaultRef
    pair: RegionPair

    def _container_id(self, region: str) -> str:
        return (
            f"{self.vault.id}/replicationFabrics/{fabric_name(region)}/replicationProtectionContainers/{container_name(region)}"
        )

    @property
    def source_fabric(self) -> str:
        return fabric_name(self.pair.source)

    @property
    def source_container(self) -> str:
        return container_name(self.pair.source)

    @property
    def target_fabric(self) -> str:
        return fabric_name(self.pair.target)

    @property
    def target_container(self) -> str:
        return container_name(self.pair.target)

    @property
    def source_container_id(self) -> str:
        return self._container_id(self.pair.source)

    @property
    def target_container_id(self) -> str:
        return self._container_id(self.pair.target)

    @property
    def policy_id(self) -> str:
        return f"{self.vault.id}/replicationPolicies/{POLICY_NAME}"


@dataclass(frozen=True)
class VaultReadiness:
    ready: bool
    waiting_for: str = ""
    started_job: str | None = None


def _exists(call: Any, *args: Any) -> bool:
    try:
        call(*args)
    except ResourceNotFoundError:
        return False
    return True


def prepare_vault(
    clients: AzureClients, store: StateStore, settings: Settings, pair: RegionPair, *, holder: str
) -> VaultReadiness:
    """Check each prerequisite in order; start the first missing one. Cached once all exist: in Table storage for
    every instance, and in this process's memo (keyed by the settings' fingerprint), so an event reads nothing.

    The check-then-start runs under the vault's preparation lease: two instances protecting VMs at once
    would otherwise both see a mapping missing and both send its PUT.
    """
    cache_key = f"{pair.source}->{pair.target}"
    fingerprint = _fingerprint(settings, pair)
    memo = memo_for(store)
    if memo.known(("vault-ready", fingerprint)):
        return VaultReadiness(True)  # this process saw it ready with these settings: no read per event
    cached = store.get(GROUPS, "vault-ready", cache_key.replace(">", "_"))
    if cached is not None and cached.data.get("fingerprint") == fingerprint:
        memo.remember(("vault-ready", fingerprint))
        return VaultReadiness(True)
    with store.holding(f"vault-prep:{cache_key}", holder, settings.lease_seconds) as lease:
        if lease is None:
            return VaultReadiness(False, "another instance is preparing the vault")
        readiness = _prepare(clients, store, settings, pair, cache_key, fingerprint)
    if readiness.ready:
        memo.remember(("vault-ready", fingerprint))
    return readiness


def _prepare(
    clients: AzureClients, store: StateStore, settings: Settings, pair: RegionPair, cache_key: str, fingerprint: str
) -> VaultReadiness:
    from azure.mgmt.recoveryservicessiterecovery import models as m  # lazy: the SDK loads on first use, not at cold start

    vault = clients.vault()
    journal = store.journal_for("vault")
    in_flight = [e for e in journal if e.status in OPEN_STATUSES]
    if in_flight:
        # One prerequisite at a time: the next one may depend on this one (container needs its fabric).
        return VaultReadiness(
            False, in_flight[0].operation.removeprefix("prepare-vault:"), str(in_flight[0].result.get("job") or "")
        )
    asr = clients.site_recovery(vault.subscription)
    rg, name = vault.args
    topo = VaultTopology(vault, pair)

    def started(what: str, begin: Any, *args: Any, **kwargs: Any) -> VaultReadiness:
        failed = _recent_failure(journal, f"prepare-vault:{what}", store.now())
        if failed is not None:  # Azure accepted it and the job failed: the same request now would fail the same way
            return VaultReadiness(False, failed)
        journal_key = f"vault:{what}:{uuid.uuid4().hex[:8]}"
        store.journal_intent("vault", journal_key, f"prepare-vault:{what}", {"pair": cache_key})
        op = start_operation(begin, *args, **kwargs)
        store.journal_set("vault", journal_key, "started", {"job": op.job_id or ""})
        log.info("vault preparation: started %s (job %s)", what, op.job_id, extra={"step": "prepare-vault"})
        return VaultReadiness(False, what, op.job_id)

    for region in (pair.source, pair.target):
        if not _exists(asr.replication_fabrics.get, rg, name, fabric_name(region)):
            return started(
                f"fabric {fabric_name(region)}",
                asr.replication_fabrics.begin_create,
                rg,
                name,
                fabric_name(region),
                m.FabricCreationInput(
                    properties=m.FabricCreationInputProperties(custom_details=m.AzureFabricCreationInput(location=region))
                ),
            )
    for region in (pair.source, pair.target):
        if not _exists(asr.replication_protection_containers.get, rg, name, fabric_name(region), container_name(region)):
            return started(
                f"container {container_name(region)}",
                asr.replication_protection_containers.begin_create,
                rg,
                name,
                fabric_name(region),
                container_name(region),
                m.CreateProtectionContainerInput(
                    properties=m.CreateProtectionContainerInputProperties(provider_specific_input=[m.A2AContainerCreationInput()])
                ),
            )
    if not _exists(asr.replication_policies.get, rg, name, POLICY_NAME):
        return started(
            f"policy {POLICY_NAME}",
            asr.replication_policies.begin_create,
            rg,
            name,
            POLICY_NAME,
            m.CreatePolicyInput(
                properties=m.CreatePolicyInputProperties(
                    provider_specific_input=m.A2APolicyCreationInput(
                        recovery_point_history=settings.recovery_point_retention_minutes,
                        app_consistent_frequency_in_minutes=settings.app_consistent_frequency_minutes,
                        multi_vm_sync_status="Enable",
                    )
                )
            ),
        )
    for src, dst in ((pair.source, pair.target), (pair.target, pair.source)):
        mapping = mapping_name(src, dst)
        if not _exists(
            asr.replication_protection_container_mappings.get, rg, name, fabric_name(src), container_name(src), mapping
        ):
            dst_container = topo.target_container_id if dst == pair.target else topo.source_container_id
            return started(
                f"container mapping {mapping}",
                asr.replication_protection_container_mappings.begin_create,
                rg,
                name,
                fabric_name(src),
                container_name(src),
                mapping,
                m.CreateProtectionContainerMappingInput(
                    properties=m.CreateProtectionContainerMappingInputProperties(
                        target_protection_container_id=dst_container,
                        policy_id=topo.policy_id,
                        provider_specific_input=m.A2AContainerMappingInput(agent_auto_update_status="Disabled"),
                    )
                ),
            )
    for src_vnet, dst_vnet in _network_pairs(settings, pair):
        src_region, dst_region = src_vnet[1], dst_vnet[1]
        mapping = network_mapping_name(src_vnet[0])
        if not _exists(asr.replication_network_mappings.get, rg, name, fabric_name(src_region), A2A_NETWORK, mapping):
            return started(
                f"network mapping {mapping}",
                asr.replication_network_mappings.begin_create,
                rg,
                name,
                fabric_name(src_region),
                A2A_NETWORK,
                mapping,
                m.CreateNetworkMappingInput(
                    properties=m.CreateNetworkMappingInputProperties(
                        recovery_fabric_name=fabric_name(dst_region),
                        recovery_network_id=dst_vnet[0],
                        fabric_specific_details=m.AzureToAzureCreateNetworkMappingInput(primary_network_id=src_vnet[0]),
                    )
                ),
            )
    store.put(GROUPS, "vault-ready", cache_key.replace(">", "_"), {"fingerprint": fingerprint})
    log.info("vault ready for %s", cache_key, extra={"step": "prepare-vault"})
    return VaultReadiness(True)


def _recent_failure(journal: list[JournalEntry], operation: str, now: datetime) -> str | None:
    """Why the last attempt of ``operation`` failed and when it is retried, if it failed within the retry window."""
    failures = [e for e in journal if e.operation == operation and e.status == FAILED and e.created is not None]
    if not failures:
        return None
    last = max(failures, key=lambda e: e.created or now)
    assert last.created is not None
    retry_at = last.created + RETRY_FAILED_AFTER
    if now >= retry_at:
        return None
    errors = last.result.get("errors") or [last.result.get("error", "")]
    error = "; ".join(str(e) for e in errors if e) or "no reason given"
    what = operation.removeprefix("prepare-vault:")
    return f"{what} failed: {error}; retried after {retry_at.strftime('%Y-%m-%d %H:%M')} UTC"


def _network_pairs(settings: Settings, pair: RegionPair) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Network mappings for this pair in both directions: ((source vnet, region), (target vnet, region)).

    ``PPGDR_NETWORK_MAPPINGS`` lists ``sourceVnetId=targetVnetId``; the reverse mapping is derived so
    failback finds its network without a second setting.
    """
    pairs = []
    for src, dst in settings.network_mappings.items():
        pairs.append(((src, pair.source), (dst, pair.target)))
        pairs.append(((dst, pair.target), (src, pair.source)))
    return pairs


def _fingerprint(settings: Settings, pair: RegionPair) -> str:
    material = "|".join(
        [
            settings.vault_id or "",
            pair.source,
            pair.target,
            str(settings.recovery_point_retention_minutes),
            str(settings.app_consistent_frequency_minutes),
            ",".join(f"{k}={v}" for k, v in sorted(settings.network_mappings.items())),
        ]
    )
    return hashlib.sha256(material.lower().encode()).hexdigest()
