"""Serving the emulator: HTTPS with a throw-away CA, a ready line, clean shutdown.

The SDK's bearer-token policy refuses plain HTTP, so ARM is served over TLS with a CA made at start
(``trustme``); its certificate is written to ``DIR/cert.pem`` for clients' ``connection_verify``.
The process prints exactly one JSON line on stdout when it accepts connections, so a test fixture
or the demo can start it with port 0 and learn the address without guessing or sleeping.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import trustme
import uvicorn

from emulator.app import create_app
from emulator.identity import IdentityServer
from emulator.state import Emulator


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(cert_dir: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")) -> Certificates:
    """A fresh CA and a server certificate for the local hosts; the CA goes to ``cert.pem``."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    leaf = ca.issue_cert(*hosts)
    paths = Certificates(cert_dir / "cert.pem", cert_dir / "server-cert.pem", cert_dir / "server-key.pem")
    ca.cert_pem.write_to_path(str(paths.ca))
    leaf.cert_chain_pems[0].write_to_path(str(paths.cert))
    for extra in leaf.cert_chain_pems[1:]:
        extra.write_to_path(str(paths.cert), append=True)
    leaf.private_key_pem.write_to_path(str(paths.key))
    return paths


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Name TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for IPPROTO_TCP sockets,
    # and without it every response waits ~40 ms (Nagle against delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(
    *,
    port: int,
    cert_dir: Path,
    host: str = "127.0.0.1",
    identity_port: int | None = None,
    identity_header: str | None = None,
    events_url: str | None = None,
    clock_speed: float = 1.0,
) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    certs = make_certificates(cert_dir)
    emulator = Emulator(clock_speed=clock_speed, events_url=events_url)
    identity = (
        IdentityServer(host=host, port=identity_port, header=identity_header).start() if identity_port is not None else None
    )
    sock = _bind(host, port)
    actual_port = int(sock.getsockname()[1])
    url_host = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        create_app(emulator),
        ssl_certfile=str(certs.cert),
        ssl_keyfile=str(certs.key),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    ready: dict[str, Any] = {
        "ready": True,
        "base_url": f"https://{url_host}:{actual_port}",
        "port": actual_port,
        "cert": str(certs.ca),
        "identity_endpoint": identity.endpoint if identity else None,
        "identity_header": identity.header if identity else None,
        "entra_authority": f"https://{url_host}:{actual_port}/_emulator/entra",
        "tenant_id": emulator.entra.tenant_id,
    }

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(json.dumps(ready), flush=True)
        await task

    # uvicorn re-raises the signal it caught after shutting down; exit quietly when it does.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        asyncio.run(run())
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if identity is not None:
            identity.stop()
        emulator.close()
        sock.close()
    return 0 if server.started else 1


def main_serve(args: Any) -> int:
    try:
        return serve(
            port=args.port,
            cert_dir=Path(args.cert_dir),
            host=args.host,
            identity_port=args.identity_port,
            identity_header=args.identity_header,
            events_url=args.events_url,
            clock_speed=args.clock_speed,
        )
    except OSError as exc:
        print(f"emulator: cannot start: {exc}", file=sys.stderr)
        return 1
