"""``ppgdr-local`` as the README documents it, run from outside the checkout as a separate process."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from localdev.processes import free_port

BIN = Path(sys.executable).parent


def _read_until(stream: IO[str], predicate: object, timeout: float = 90) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            time.sleep(0.05)
            continue
        lines.append(line.rstrip("\n"))
        if callable(predicate) and predicate(lines[-1]):
            return lines
    raise TimeoutError(f"runner output so far: {lines}")


def _closed(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return False
    except OSError:
        return True


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    return out


def test_seeded_runner_prints_its_environment_serves_the_api_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env_file = tmp_path / "local.env"
    process = subprocess.Popen(
        [
            str(BIN / "ppgdr-local"),
            "--seed",
            "demo",
            "--pulse-seconds",
            "0.5",
            "--api-port",
            str(port),
            "--print-env",
            "--env-file",
            str(env_file),
        ],
        cwd=tmp_path,  # not the checkout: the documented command works from anywhere
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PPGDR_")},
    )
    try:
        assert process.stdout is not None
        lines = _read_until(process.stdout, lambda line: line.startswith("demo estate created"))
        ready = json.loads(next(line for line in lines if line.startswith("{")))
        assert ready["ready"] is True and ready["api"] == f"http://127.0.0.1:{port}/api"
        for name in (
            "PPGDR_ARM_ENDPOINT",
            "PPGDR_ARM_CA_BUNDLE",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "PPGDR_STATE_CONNECTION",
        ):
            assert ready["env"][name]
        exports = [line for line in lines if line.startswith("export ")]
        assert exports == env_file.read_text().splitlines()
        exported = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in exports)
        assert exported["PPGDR_VAULT_ID"].endswith("/vaults/ppgdr-vault")  # the demo settings come along
        cli_env = {**{k: v for k, v in os.environ.items() if not k.startswith("PPGDR_")}, **exported}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status = subprocess.run(
                [str(BIN / "ppgdr"), "status", "--json"], env=cli_env, capture_output=True, text=True, timeout=60, check=True
            )
            states = {row["vm_name"]: row["state"] for row in json.loads(status.stdout)}
            if states.get("sap-db-1") in ("initial-replication", "protected"):
                break
            time.sleep(1)
        assert states.get("sap-db-1") in ("initial-replication", "protected"), states
        answer = httpx.get(f"{ready['api']}/groups", headers={"x-functions-key": exported["PPGDR_API_KEY"]}, timeout=30)
        assert answer.status_code == 200 and answer.json()["value"]
        assert httpx.get(f"{ready['api']}/groups", timeout=30).status_code == 401
    finally:
        _stop(process)
    assert process.returncode == 0
    assert _closed(ready["env"]["PPGDR_ARM_ENDPOINT"]) and _closed(ready["env"]["IDENTITY_ENDPOINT"])
    table = next(p for p in ready["env"]["PPGDR_STATE_CONNECTION"].split(";") if p.startswith("TableEndpoint="))
    assert _closed(table.removeprefix("TableEndpoint="))


def test_an_empty_runner_says_so_once(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [str(BIN / "ppgdr-local"), "--pulse-seconds", "0.5", "--reconcile-seconds", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("PPGDR_")},
    )
    try:
        assert process.stdout is not None
        _read_until(process.stdout, lambda line: "nothing to watch" in line)
        time.sleep(5)  # several reconcile ticks
    finally:
        out = _stop(process)
    # said once by the reconcile, and once by the preflight of the process's first reconcile (which says more)
    assert out.count("reconcile: no PPGDR_SUBSCRIPTIONS or PPGDR_RESOURCE_GROUPS: there are no VMs to watch") == 1, out
    assert out.count("preflight: failed settings: scope:") == 1, out
    assert "0 VMs seen" not in out.split("there are no VMs to watch", 1)[1]
    assert "HTTP Request" not in out and "http_logging_policy" not in out  # the SDKs' request logging is off at INFO
