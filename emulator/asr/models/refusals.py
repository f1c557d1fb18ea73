"""Refusals Azure makes inside a job: the write is accepted (202) and its job fails with a numeric code.

Azure validates much of an enable, update or reprotect only once the job runs: the operation status
then reads ``Failed`` with a numeric ``error.code`` and a generic message, and the job's ``errors[]``
say why (hashicorp/terraform-provider-azurerm#31927: ``45005`` "Protection couldn't be enabled for the
virtual machine.", 2.5 s after the start; #25604: ``150253``). The emulator keeps its own descriptive
reason (``ProximityPlacementGroupResourceGroupMismatch: ...``) in ``possibleCauses`` and
``providerErrorDetails.errorMessage``, so a test or an operator can still see the cause.

Only ``45005`` is attested; the other numbers are emulator choices in a range Azure does not document
(``docs/emulator.md``, evidence table).
"""

from __future__ import annotations

from collections.abc import Callable

from emulator.asr.models.jobs import Refusal
from emulator.errors import ArmError

#: (code, message) per kind of job. ENABLE is hashicorp/terraform-provider-azurerm#31927; the rest: choice.
ENABLE = ("45005", "Protection couldn't be enabled for the virtual machine.")
UPDATE = ("95001", "The replication settings of the virtual machine couldn't be updated.")
FAILOVER = ("95002", "Failover couldn't be performed for the virtual machine.")
REPROTECT = ("95003", "Reprotect couldn't be completed for the virtual machine.")
#: The default of the async-refusal fault mode (``POST /_emulator/faults`` with ``asyncRefusal``).
DEFAULT = ENABLE


def refusal(kind: tuple[str, str], error: ArmError, recommended_action: str = "") -> Refusal:
    """The refusal of a job of ``kind`` whose cause is ``error`` (an emulator validation)."""
    code, message = kind
    return Refusal(
        code, message, reason=f"{error.code}: {error.message}", recommended_action=recommended_action, provider_code=int(code)
    )


def first_refusal(kind: tuple[str, str], *checks: Callable[[], object]) -> Refusal | None:
    """Run the checks in order; the first one that raises becomes the job's refusal (None: all passed)."""
    for check in checks:
        try:
            check()
        except ArmError as error:
            return refusal(kind, error)
    return None
