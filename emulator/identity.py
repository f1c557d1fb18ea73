"""A managed-identity token endpoint (App Service protocol), so the app keeps ``DefaultAzureCredential``.

In Azure the Function App gets tokens from ``IDENTITY_ENDPOINT`` (plain HTTP on localhost) with the
``X-IDENTITY-HEADER`` secret. Serving the same protocol locally means the app's credential code is
the code that runs in Azure: no test-only credential path to keep in sync. The token is an unsigned
JWT-shaped string: the emulator accepts any bearer token, and nothing should verify it.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from emulator.events import APP_ID, PRINCIPAL_ID, TENANT_ID

API_VERSION = "2019-08-01"
TOKEN_LIFETIME_S = 24 * 3600


def fake_token(resource: str, now: float | None = None) -> str:
    """A JWT-shaped token with the claims of the emulated managed identity (not signed)."""
    issued = int(now if now is not None else time.time())

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {
        "aud": resource,
        "iss": f"https://sts.windows.net/{TENANT_ID}/",
        "iat": issued,
        "nbf": issued,
        "exp": issued + TOKEN_LIFETIME_S,
        "appid": APP_ID,
        "oid": PRINCIPAL_ID,
        "tid": TENANT_ID,
        "idtyp": "app",
    }
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.emulator"


class IdentityServer:
    """Serves ``GET /msi/token?api-version=2019-08-01&resource=...`` from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, header: str | None = None) -> None:
        self.header = header or secrets.token_hex(16)
        expected = self.header

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if self.headers.get("X-IDENTITY-HEADER") != expected:
                    self._reply(401, {"error": "unauthorized", "error_description": "X-IDENTITY-HEADER is missing or wrong."})
                    return
                if query.get("api-version") != API_VERSION or not query.get("resource"):
                    self._reply(400, {"error": "invalid_request", "error_description": "api-version and resource are required."})
                    return
                resource = query["resource"]
                now = time.time()
                self._reply(
                    200,
                    {
                        "access_token": fake_token(resource, now),
                        "expires_on": str(int(now) + TOKEN_LIFETIME_S),
                        "resource": resource,
                        "token_type": "Bearer",
                        "client_id": APP_ID,
                    },
                )

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="identity-endpoint", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/msi/token"

    def start(self) -> IdentityServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
