"""A clone of the repository is self-contained: the project reads nothing outside its checkout.

Users clone this repository alone. Every payload a test reads is in ``tests/data`` with its provenance,
and no source file reaches for a folder beside the checkout.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.data import DATA

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "node_modules", "build", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}
# A path that climbs out of the checkout (the sibling folder of source material beside it, reached with "../"), or a
# parents[N] deep enough to leave the repo. The folder's name is spelled in two parts so this file does not name it.
SIBLING = "sha" + "red"
OUTSIDE = re.compile(r"\.\./" + SIBLING + r"|parents\[(?P<n>\d+)\]")


def _python_files() -> list[Path]:
    return [
        p
        for p in ROOT.rglob("*.py")
        if not SKIP_DIRS & set(parts := p.relative_to(ROOT).parts) and not any(part.startswith(".venv") for part in parts)
    ]  # .venv-checkov (make checkov) and other virtualenvs are tools, not the project


def test_no_file_reads_outside_the_checkout() -> None:
    offenders = []
    for path in _python_files():
        if path == Path(__file__).resolve():
            continue  # this file names the pattern it looks for
        depth = len(path.relative_to(ROOT).parts) - 1  # parents[depth] is the repository root
        for match in OUTSIDE.finditer(path.read_text()):
            if match["n"] is None or int(match["n"]) > depth:
                offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert offenders == []


def test_every_data_file_has_its_provenance_listed() -> None:
    sources = (DATA / "SOURCES.md").read_text()
    files = [
        p.relative_to(DATA).as_posix()
        for p in DATA.rglob("*")
        if p.is_file() and p.suffix in {".json", ".md"} and p.name not in {"SOURCES.md", "README.md"}
    ]
    assert files, "tests/data holds no payloads"
    distilled = (DATA / "distilled" / "README.md").read_text() if (DATA / "distilled").exists() else ""
    unlisted = [f for f in files if f not in sources and Path(f).name not in distilled]
    assert unlisted == []
