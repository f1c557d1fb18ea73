"""``python -m emulator serve --port PORT --cert-dir DIR [...]``: run the local ARM emulator."""

from __future__ import annotations

import argparse
import sys

from emulator.server import main_serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Local Azure Resource Manager emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve ARM over HTTPS until SIGTERM/SIGINT")
    serve.add_argument("--port", type=int, default=0, help="HTTPS port (0 = pick a free one and print it)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--cert-dir", required=True, help="where cert.pem (the CA clients must trust) is written")
    serve.add_argument("--identity-port", type=int, default=None, help="serve the managed-identity endpoint (0 = any port)")
    serve.add_argument("--identity-header", default=None, help="the IDENTITY_HEADER secret (random when omitted)")
    serve.add_argument("--events-url", default=None, help="POST Event Grid events to this subscriber URL")
    serve.add_argument("--clock-speed", type=float, default=1.0, help="virtual seconds per real second")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return main_serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
