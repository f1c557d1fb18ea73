"""Why an operator's request was not carried out: refused (the state does not allow it) or not found.

Kept in a module of its own, with no imports, so the HTTP app can map them to 409 and 404 without
loading the workflow code (and the SDKs behind it) at cold start.
"""

from __future__ import annotations


class WorkflowRefused(Exception):
    """The workflow cannot start or continue as asked; the message says why and what to do."""

    def __init__(self, message: str, *, suggestion: str = "", resume_at: str | None = None) -> None:
        super().__init__(message)
        self.suggestion = suggestion
        self.resume_at = resume_at


class NotFound(WorkflowRefused):
    """The group (or decision) named does not exist: a 404 for the API, a non-zero exit for the CLI.

    Kept apart from a refusal (409): "no such group" usually means a typo, "refused" means the group
    exists but is not in a state that allows the action.
    """
