"""Published Azure payloads the tests read, copied into the repository with their provenance (SOURCES.md).

Everything a test reads lives under this folder: a user's clone has nothing beside it. A missing file
is an error that names the file, never a skipped test.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent


def data_path(*parts: str) -> Path:
    """The path of a data file or folder under ``tests/data``; raises when it is missing."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test data {path.relative_to(DATA)} is missing from tests/data (see tests/data/SOURCES.md)")
    return path
