"""Fleet listings: every VM and every protected item, page by page, as raw JSON through the SDK's pipeline.

The full reconcile lists the whole estate every 15 minutes. Through the typed operations each of 10,000 VMs and
10,000 items becomes an SDK model first, and reading its fields walks the model's field table: at that scale
model building and attribute access were 41% of a tick. These listings send the same GETs through the same
client (``send_request``: the client's credential, retry policy, user agent and telemetry), decode each page once
and hand out its JSON objects, which :func:`shared.platform.observed.vm_from_json` and
:func:`~shared.platform.observed.item_from_json` map straight into ppg-dr's records. Single-resource calls keep
the typed models. One page is held at a time: a caller that consumes the iterator as it goes holds one page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest

from shared.platform.clients import AzureClients

# The api-versions the SDK's typed operations send (``virtual_machines.list`` / ``list_all`` in azure-mgmt-compute
# 39.0.0, ``replication_protected_items.list`` in azure-mgmt-recoveryservicessiterecovery 2.0.0); a test checks that
# the raw listings ask for the same ones, so an SDK upgrade cannot leave them behind unnoticed.
COMPUTE_API_VERSION = "2026-04-01"
SITE_RECOVERY_API_VERSION = "2025-08-01"


def pages(client: Any, url: str) -> Iterator[list[dict[str, Any]]]:
    """The ``value`` of each page of an ARM list, following ``nextLink``; errors raised as the typed operations do."""
    next_url: str | None = url
    while next_url:
        response = client.send_request(HttpRequest("GET", next_url))
        if response.status_code != 200:
            error: type[HttpResponseError] = HttpResponseError
            if response.status_code == 404:
                error = ResourceNotFoundError
            elif response.status_code == 401:
                error = ClientAuthenticationError
            raise error(response=response)
        body = response.json()
        value = body.get("value") or []
        next_url = body.get("nextLink") or None
        del body
        yield [entry for entry in value if isinstance(entry, dict)]


def vm_bodies(clients: AzureClients, subscription: str, resource_group: str | None = None) -> Iterator[dict[str, Any]]:
    """Every VM of a subscription (``list_all``) or of one resource group (``list``), one JSON object at a time."""
    scope = f"/subscriptions/{quote(subscription)}"
    if resource_group is not None:
        scope += f"/resourceGroups/{quote(resource_group)}"
    url = f"{scope}/providers/Microsoft.Compute/virtualMachines?api-version={COMPUTE_API_VERSION}"
    for page in pages(clients.compute(subscription), url):
        yield from page


def item_bodies(clients: AzureClients) -> Iterator[dict[str, Any]]:
    """Every replicated item of the configured vault (the vault-wide list), one JSON object at a time."""
    vault = clients.vault()
    url = (
        f"/subscriptions/{quote(vault.subscription)}/resourceGroups/{quote(vault.resource_group)}/providers"
        f"/Microsoft.RecoveryServices/vaults/{quote(vault.name)}/replicationProtectedItems?api-version={SITE_RECOVERY_API_VERSION}"
    )
    for page in pages(clients.site_recovery(vault.subscription), url):
        yield from page


def recovery_plan_boot_groups(clients: AzureClients) -> Iterator[tuple[str, list[list[str]]]]:
    """(plan name, its Boot groups as lower-cased item names) of every recovery plan of the vault, page by page.

    What the reconcile compares a group's plan on, and nothing else: 1,000 plans of 100 items as SDK models held
    at once are most of a tick's memory at 100,000 VMs.
    """
    vault = clients.vault()
    url = (
        f"/subscriptions/{quote(vault.subscription)}/resourceGroups/{quote(vault.resource_group)}/providers"
        f"/Microsoft.RecoveryServices/vaults/{quote(vault.name)}/replicationRecoveryPlans?api-version={SITE_RECOVERY_API_VERSION}"
    )
    for page in pages(clients.site_recovery(vault.subscription), url):
        for body in page:
            yield str(body.get("name") or ""), boot_groups_from_json(body)


def boot_groups_from_json(body: dict[str, Any]) -> list[list[str]]:
    """A recovery plan's Boot groups, each as the lower-cased names of its items (the last segment of their ids)."""
    groups = []
    for group in (body.get("properties") or {}).get("groups") or []:
        if not isinstance(group, dict) or group.get("groupType") != "Boot":
            continue
        items = [str(i.get("id") or "").rsplit("/", 1)[-1].lower() for i in group.get("replicationProtectedItems") or []]
        groups.append(items)
    return [g for g in groups if g]
