"""Event Grid emitter: resource write/delete/action events, kept for tests and pushed to a subscriber.

In Azure, a subscription-level Event Grid topic tells the app that a VM was written or tagged; the
demo flows from "tag a VM" to "protected" because of it. The emulator builds the same events
(``Microsoft.Resources.ResourceWriteSuccess`` etc., Event Grid schema, ``dataVersion`` 2), keeps them
so tests can read them, and POSTs each batch as a JSON array to a subscriber URL from a background
thread: delivery is at-least-once with a bounded retry, and never blocks the request that caused it
(as in Azure, a slow or absent subscriber does not slow ARM down).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from emulator.clock import iso

WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
ACTION = "Microsoft.Resources.ResourceActionSuccess"

#: The tenant and principal the emulator pretends callers are (a managed identity).
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PRINCIPAL_ID = "00000000-0000-0000-0000-00000000e1a1"
APP_ID = "00000000-0000-0000-0000-00000000a99d"

_MAX_KEPT = 50_000

_METHOD_OF = {WRITE: "PUT", DELETE: "DELETE", ACTION: "POST"}


def provider_of(resource_uri: str) -> str:
    """``Microsoft.Compute`` for a compute id, ``Microsoft.Resources`` for groups and subscriptions."""
    parts = [p for p in resource_uri.split("/") if p]
    lowered = [p.lower() for p in parts]
    if "providers" in lowered:
        index = len(lowered) - 1 - lowered[::-1].index("providers")
        if index + 1 < len(parts):
            return parts[index + 1]
    return "Microsoft.Resources"


def subscription_of(resource_uri: str) -> str:
    parts = [p for p in resource_uri.split("/") if p]
    return parts[1] if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""


class EventEmitter:
    """Builds, keeps and delivers Event Grid events."""

    def __init__(self, *, now: Callable[[], Any], subscriber_url: str | None = None, max_attempts: int = 4) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._kept: deque[dict[str, Any]] = deque(maxlen=_MAX_KEPT)
        self._queue: queue.Queue[tuple[int, str, list[dict[str, Any]]] | None] = queue.Queue()
        self._generation = 0  # bumped by reset(): batches queued before it are dropped, not delivered
        self._subscriber_url = subscriber_url
        self._max_attempts = max_attempts
        self.delivered = 0
        self.failed = 0
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._context = threading.local()

    # --- configuration -------------------------------------------------------------------------
    @property
    def subscriber_url(self) -> str | None:
        return self._subscriber_url

    def set_subscriber(self, url: str | None) -> None:
        """Deliver future events to ``url`` (``None`` stops delivery; events are still kept)."""
        with self._lock:
            self._subscriber_url = url or None

    # --- building ------------------------------------------------------------------------------
    def emit(
        self,
        event_type: str,
        resource_uri: str,
        operation_name: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: str = "Succeeded",
    ) -> dict[str, Any]:
        """Build one event like ARM's and publish it as a batch of one.

        ``method``/``url`` default to the ARM request being served (see :meth:`request_context`), or
        to what ARM would have received for this kind of event when the write happened later, on the
        clock (a long-running operation completing).
        """
        context = getattr(self._context, "value", None)
        if method is None:
            method = context[0] if context else _METHOD_OF.get(event_type, "PUT")
        if url is None:
            url = context[1] if context and context[0] == method else f"https://management.azure.com{resource_uri}"
        event = self.build(event_type, resource_uri, operation_name, method=method, url=url, status=status)
        self.publish([event])
        return event

    def request_context(self, method: str | None, url: str | None = None) -> None:
        """Set (or clear, with None) the ARM request whose handler is emitting events on this thread."""
        self._context.value = (method.upper(), url or "") if method else None

    def build(
        self,
        event_type: str,
        resource_uri: str,
        operation_name: str,
        *,
        method: str,
        url: str = "",
        status: str = "Succeeded",
    ) -> dict[str, Any]:
        subscription = subscription_of(resource_uri)
        correlation = str(uuid.uuid4())
        now = self._now()
        return {
            "subject": resource_uri,
            "eventType": event_type,
            "eventTime": iso(now),
            "id": str(uuid.uuid4()),
            "data": {
                "authorization": {
                    "scope": resource_uri,
                    "action": operation_name,
                    "evidence": {
                        "role": "Contributor",
                        "roleAssignmentScope": f"/subscriptions/{subscription}",
                        "roleAssignmentId": str(uuid.UUID(int=1)),
                        "roleDefinitionId": "b24988ac-6180-42a0-ab88-20f7382dd24c",
                        "principalId": PRINCIPAL_ID,
                        "principalType": "ServicePrincipal",
                    },
                },
                "claims": _claims(now),
                "correlationId": correlation,
                "httpRequest": {
                    "clientRequestId": correlation,
                    "clientIpAddress": "127.0.0.1",
                    "method": method,
                    "url": url,
                },
                "resourceProvider": provider_of(resource_uri),
                "resourceUri": resource_uri,
                "operationName": operation_name,
                "status": status,
                "subscriptionId": subscription,
                "tenantId": TENANT_ID,
            },
            "dataVersion": "2",
            "metadataVersion": "1",
            "topic": f"/subscriptions/{subscription}",
        }

    # --- keeping and delivering ----------------------------------------------------------------
    def publish(self, batch: list[dict[str, Any]]) -> None:
        """Keep the batch and, when a subscriber is configured, queue it for delivery."""
        if not batch:
            return
        with self._lock:
            self._kept.extend(batch)
            url = self._subscriber_url
            generation = self._generation
            if url:
                self._pending += 1
                self._ensure_thread()
        if url:
            self._queue.put((generation, url, list(batch)))

    def events(self, *, event_type: str | None = None, subject_contains: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            kept = list(self._kept)
        if event_type:
            kept = [e for e in kept if e["eventType"] == event_type]
        if subject_contains:
            needle = subject_contains.lower()
            kept = [e for e in kept if needle in e["subject"].lower()]
        return kept

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def reset(self) -> None:
        """Forget kept events, counters and every batch not yet delivered (emulator reset)."""
        with self._lock:
            self._kept.clear()
            self._generation += 1
            self._pending = 0
            self.delivered = 0
            self.failed = 0

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "subscriber": self._subscriber_url,
                "kept": len(self._kept),
                "delivered": self.delivered,
                "failed": self.failed,
                "pending": self._pending,
            }

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until queued batches were delivered or given up on (tests and shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._pending == 0:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=5)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._deliver_loop, name="eventgrid-delivery", daemon=True)
            self._thread.start()

    def _deliver_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            generation, url, batch = item
            with self._lock:
                stale = generation != self._generation
            ok = False if stale else self._post_with_retry(url, batch)
            with self._lock:
                if generation != self._generation:
                    continue  # reset while this batch waited: it belongs to a world that is gone
                self._pending -= 1
                if ok:
                    self.delivered += len(batch)
                else:
                    self.failed += len(batch)

    def _post_with_retry(self, url: str, batch: list[dict[str, Any]]) -> bool:
        payload = json.dumps(batch).encode()
        delay = 0.1
        for _attempt in range(self._max_attempts):
            request = urllib.request.Request(  # noqa: S310 - the subscriber URL is operator-configured
                url,
                data=payload,
                method="POST",
                headers={"Content-Type": "application/json", "aeg-event-type": "Notification"},
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    if 200 <= response.status < 300:
                        return True
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        return False


def _claims(now: Any) -> dict[str, str]:
    """Claims of the managed identity the emulator pretends made the call (shape of ARM's events)."""
    epoch = str(int(now.timestamp()))
    return {
        "aud": "https://management.core.windows.net/",
        "iss": f"https://sts.windows.net/{TENANT_ID}/",
        "iat": epoch,
        "nbf": epoch,
        "exp": str(int(now.timestamp()) + 3600),
        "aio": "emulator",
        "appid": APP_ID,
        "appidacr": "2",
        "http://schemas.microsoft.com/identity/claims/identityprovider": f"https://sts.windows.net/{TENANT_ID}/",
        "http://schemas.microsoft.com/identity/claims/objectidentifier": PRINCIPAL_ID,
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": PRINCIPAL_ID,
        "http://schemas.microsoft.com/identity/claims/tenantid": TENANT_ID,
        "uti": "emulator",
        "ver": "1.0",
    }
