"""Look at ppg-dr's pages as a person does: Debian's Chromium, driven by Playwright, signed in with the form.

Used by the browser tests (``tests/browser/``) and by anyone who wants a picture of a running API::

    ppgdr-local --seed demo --api-port 7071 --env-file local.env     # in one shell
    . ./local.env                                                       # in another: PPGDR_API_KEY
    .venv/bin/python -m localdev.browser --api http://127.0.0.1:7071 --page /api/dashboard \\
        --out .run/screenshots/dashboard.png

It opens ``/api/login`` (never a key in a URL), signs in with the key from the environment variable
``--key-env`` names (``PPGDR_API_KEY``), goes to ``--page`` and saves a full-page PNG. In Python::

    from localdev.browser import screenshot
    screenshot("http://127.0.0.1:7071", key, Path(".run/screenshots/dashboard.png"), page="/api/dashboard")

The browser is ``/usr/bin/chromium`` (``make browser`` installs Debian's package when it is missing; Playwright's
own browser downloads are never used), headless, with a fresh profile each time. Playwright is a development
dependency (``requirements-dev.txt``); it is imported only when a browser is started.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, ViewportSize

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
SCREENSHOTS = Path(__file__).resolve().parents[1] / ".run" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}


class BrowserMissing(RuntimeError):
    """Chromium is not installed where ppg-dr looks for it."""


def require_chromium(path: str = CHROMIUM) -> str:
    if not os.access(path, os.X_OK):
        raise BrowserMissing(f"{path} is missing: run `make browser` (apt-get install chromium)")
    return path


@contextmanager
def browser(*, executable: str = CHROMIUM) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh, throwaway profile; closed (and the profile removed) afterwards."""
    from playwright.sync_api import sync_playwright

    path = require_chromium(executable)
    with tempfile.TemporaryDirectory(prefix="ppgdr-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=path,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            context.close()


def base_of(api: str) -> str:
    """``http://host:port`` from what ``ppgdr-local`` prints (``.../api``) or a bare base URL."""
    return api.rstrip("/").removesuffix("/api")


def sign_in(page: Page, api: str, key: str, *, name: str = "ppgdr-local", next_path: str = "/api/dashboard") -> None:
    """Fill in the login form and submit it; the browser lands on ``next_path`` with its session cookie."""
    page.goto(f"{base_of(api)}/api/login?next={quote(next_path, safe='/?=&')}")
    page.fill("input[name=name]", name)
    page.fill("input[name=key]", key)
    with page.expect_navigation():
        page.click("#login button[type=submit]")
    if "/api/login" in page.url:
        raise RuntimeError("the sign-in was refused: check the key")


def screenshot(api: str, key: str, out: Path, *, page: str = "/api/dashboard", name: str = "ppgdr-local") -> Path:
    """Sign in, open ``page`` and save a full-page PNG at ``out`` (folders created)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with browser() as context:
        tab = context.new_page()
        sign_in(tab, api, key, name=name, next_path=page)
        tab.screenshot(path=str(out), full_page=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev.browser", description="Screenshot a page of a running ppg-dr API.")
    parser.add_argument("--api", default="http://127.0.0.1:7071", help="the API's base URL (with or without /api)")
    parser.add_argument("--page", default="/api/dashboard", help="the page to capture, e.g. /api/reports/<id>/html")
    parser.add_argument("--out", type=Path, default=SCREENSHOTS / "dashboard.png", help="where to write the PNG")
    parser.add_argument("--key-env", default="PPGDR_API_KEY", help="the environment variable holding the key")
    parser.add_argument("--name", default="ppgdr-local", help="the name to sign in with (shown on the page)")
    args = parser.parse_args(argv)
    key = os.environ.get(args.key_env, "")
    if not key:
        parser.error(f"{args.key_env} is not set: source the env file ppgdr-local wrote, or pass --key-env")
    try:
        written = screenshot(args.api, key, args.out, page=args.page, name=args.name)
    except Exception as exc:  # no browser, API not running, key refused: one line, not a traceback
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
