"""ARM-shaped errors: what Azure refuses, the emulator refuses with the same envelope."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error that becomes an ARM error response (``{"error": {"code": ..., "message": ...}}``).

    Backends raise it; the HTTP layer turns it into the response, so behaviour stays testable
    without HTTP and every refusal looks like Azure's.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}
