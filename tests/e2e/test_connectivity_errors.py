"""A wrong endpoint or CA file is one line naming the setting, never a traceback (CLI and runner)."""

from __future__ import annotations

import time

import pytest
import trustme
from click.testing import CliRunner

from localdev.processes import AZURITE_ACCOUNT, AZURITE_KEY, free_port
from shared.context import set_context
from shared.operator.cli import cli
from tests.fixtures.app import Ppgdr


@pytest.fixture(autouse=True)
def _one_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The message is what these tests check: one retry instead of five (each with its growing pause, ~25 s)."""
    monkeypatch.setattr("shared.platform.retries.RETRY_TOTAL", 1)


def one_line_error(*args: str) -> str:
    started = time.monotonic()
    result = CliRunner().invoke(cli, list(args))
    assert time.monotonic() - started < 60
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_unreachable_table_storage_names_the_setting(ppgdr: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(
        "PPGDR_STATE_CONNECTION",
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"TableEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};",
    )
    set_context(None)
    line = one_line_error("status")
    assert line == (
        f"Error: cannot reach Table storage at http://127.0.0.1:{port}/{AZURITE_ACCOUNT} (PPGDR_STATE_CONNECTION): "
        "connection refused"
    )


def test_unreachable_arm_names_the_setting(ppgdr: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("PPGDR_ARM_ENDPOINT", f"https://127.0.0.1:{port}")
    set_context(None)
    line = one_line_error("plan")
    assert (
        line == f"Error: cannot reach Azure Resource Manager at https://127.0.0.1:{port} (PPGDR_ARM_ENDPOINT): connection refused"
    )


def test_a_ca_file_that_does_not_trust_the_endpoint_names_the_setting(
    ppgdr: Ppgdr, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    other = Path(str(tmp_path)) / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("PPGDR_ARM_CA_BUNDLE", str(other))
    set_context(None)
    line = one_line_error("plan")
    assert "presented a certificate the CA file does not trust" in line and f"PPGDR_ARM_CA_BUNDLE={other}" in line


def test_a_missing_ca_file_names_the_setting(ppgdr: Ppgdr, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PPGDR_ARM_CA_BUNDLE", "/nonexistent/cert.pem")
    set_context(None)
    line = one_line_error("plan")
    assert "PPGDR_ARM_CA_BUNDLE=/nonexistent/cert.pem" in line
