"""What Azure said when it refused a request, as one line: ``<code>: <message>``.

Refusals reach the operator through statuses, workflows, the journal and logs; they should read the
same everywhere, and they must carry Azure's own code (``OperationNotAllowedInCurrentState``, a
numeric ASR code) because that is what an engineer searches for.
"""

from __future__ import annotations

from azure.core.exceptions import HttpResponseError


def azure_error_text(exc: BaseException) -> str:
    """``code: message`` of an ``HttpResponseError``; the exception text for anything else."""
    if isinstance(exc, HttpResponseError):
        if exc.error is not None and (exc.error.code or exc.error.message):
            return f"{exc.error.code or exc.status_code}: {exc.error.message or exc.reason}"
        return f"{exc.status_code}: {exc.message}"
    return str(exc)
