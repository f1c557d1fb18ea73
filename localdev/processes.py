"""Start and stop the local Azure services as child processes, and always stop them.

Azurite (Table storage) runs from ``node_modules/.bin/azurite-table``; the ARM emulator runs as
``python -m emulator serve``. Both get a free port, in-memory state, and are stopped by pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
AZURITE_TABLE = REPO_ROOT / "node_modules" / ".bin" / "azurite-table"

# Azurite's published development account (a well-known constant, not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f}s")


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], timeout: float = 10) -> None:
    """Terminate a child (its whole process group), then kill it if it does not go."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
        process.wait(timeout=timeout)


@dataclass
class Azurite:
    """A running Azurite Table service."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    owned_dir: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};TableEndpoint={self.endpoint};"
        )

    def stop(self) -> None:
        stop(self.process)
        if self.owned_dir is not None:
            shutil.rmtree(self.owned_dir, ignore_errors=True)


def start_azurite(port: int | None = None, *, log_dir: Path | None = None, timeout: float = 30) -> Azurite:
    """Start ``azurite-table`` in memory on a free port and wait until it listens."""
    if not AZURITE_TABLE.exists():
        raise FileNotFoundError(f"{AZURITE_TABLE} is missing: run 'make setup' (npm install) first")
    port = port or free_port()
    owned = None if log_dir else Path(tempfile.mkdtemp(prefix="ppgdr-azurite-"))
    log_dir = log_dir or owned
    assert log_dir is not None
    log_path = log_dir / "azurite.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - fixed local binary and arguments
            [
                str(AZURITE_TABLE),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(port),
                "--inMemoryPersistence",
                "--skipApiVersionCheck",
                "--disableTelemetry",
                "--silent",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=log_dir,
            start_new_session=True,
        )
    try:
        wait_for_port(port, timeout, process)
    except Exception:
        stop(process)
        raise
    return Azurite(process, port, log_path, owned)


@dataclass
class Emulator:
    """A running ARM emulator; ``ready`` is the JSON line it printed when it started listening."""

    process: subprocess.Popen[str]
    ready: dict[str, object]
    cert_dir: Path
    extra: dict[str, str] = field(default_factory=dict)
    owns_cert_dir: bool = False

    @property
    def base_url(self) -> str:
        return str(self.ready["base_url"])

    @property
    def cert(self) -> str:
        return str(self.ready["cert"])

    def stop(self) -> None:
        stop(self.process)
        if self.owns_cert_dir:
            shutil.rmtree(self.cert_dir, ignore_errors=True)


def start_emulator(
    *,
    cert_dir: Path | None = None,
    clock_speed: float | None = None,
    events_url: str | None = None,
    timeout: float = 30,
    log: IO[str] | None = None,
) -> Emulator:
    """Start ``python -m emulator serve`` on a free port and read its ready line."""
    owns_cert_dir = cert_dir is None
    cert_dir = cert_dir or Path(tempfile.mkdtemp(prefix="ppgdr-emulator-"))
    args = [sys.executable, "-m", "emulator", "serve", "--port", "0", "--identity-port", "0", "--cert-dir", str(cert_dir)]
    if clock_speed is not None:
        args += ["--clock-speed", str(clock_speed)]
    if events_url:
        args += ["--events-url", events_url]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        args,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=log or subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {process.returncode} before it was ready")
            continue
        try:
            ready = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(ready, dict) and ready.get("ready"):
            # Keep draining stdout so a chatty emulator can never block on a full pipe.
            threading.Thread(target=_drain, args=(process.stdout, log), daemon=True).start()
            return Emulator(process, ready, cert_dir, owns_cert_dir=owns_cert_dir)
    stop(process)
    raise TimeoutError("the emulator did not report ready in time")


def _drain(stream: IO[str], sink: IO[str] | None) -> None:
    for line in stream:
        if sink is not None:
            sink.write(line)
