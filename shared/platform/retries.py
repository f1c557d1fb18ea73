"""How ppg-dr retries Azure requests: as often as configured, and never blindly resending an action.

azure-core's retry policy caps status retries at 3 whatever ``retry_total`` says, and retries POST and PATCH
on 500/503/504. For ASR that second rule is dangerous: a failover, commit, switch protection, test failover,
cleanup or disable that Azure accepted before a gateway answered 5xx is refused when retried
(``OperationNotAllowedInCurrentState``) while the real job runs, and the job id is lost. So:

- every retry budget (status, connection, read) is ``RETRY_TOTAL``, as documented;
- a 429 (the request was throttled, not processed) is retried for every method; connection and read errors
  are retried for GET, PUT and DELETE, as azure-core does, not for POST or PATCH (a read timeout after the
  POST was sent may follow an applied request);
- a POST or PATCH answered with 5xx is *not* retried here: the caller looks at the items again (steps look
  before they send) and adopts what Azure accepted, or sends again when Azure shows nothing happened.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline.policies import RetryPolicy

# Retry budget: ASR and Compute throttle per subscription; a few spaced retries ride out a 429 burst
# without holding a function past its timeout.
RETRY_TOTAL = 5
RETRY_BACKOFF_FACTOR = 0.8
RETRY_BACKOFF_MAX = 30
NOT_REPEATABLE = ("POST", "PATCH")


class ActionSafeRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's policy, except: a 5xx answer to a POST or PATCH is never retried blindly (even with a
    ``Retry-After``), and a 429 is retried for every method (a throttled request was not processed)."""

    def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
        status = response.http_response.status_code
        method = response.http_request.method.upper()
        if method in NOT_REPEATABLE and status >= 500:
            return False  # maybe applied: the caller looks at Azure before it sends again
        if status == 429:
            return bool(settings["total"])
        return bool(super().is_retry(settings, response))


def retry_policy(backoff_factor: float = RETRY_BACKOFF_FACTOR) -> ActionSafeRetryPolicy:
    """The policy every management client uses (``backoff_factor``: seconds before the first retry, doubling)."""
    return ActionSafeRetryPolicy(
        retry_total=RETRY_TOTAL,
        retry_status=RETRY_TOTAL,
        retry_connect=RETRY_TOTAL,
        retry_read=RETRY_TOTAL,
        retry_backoff_factor=backoff_factor,
        retry_backoff_max=RETRY_BACKOFF_MAX,
    )


def is_transient(exc: BaseException) -> bool:
    """An error worth trying again later (throttling, a 5xx, a broken connection), not a refusal of the request."""
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        return status in (408, 429) or status >= 500
    return False
