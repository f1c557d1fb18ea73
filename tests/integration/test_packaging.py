"""``pip install .`` gives a working ppg-dr: the wheel declares the pinned runtime dependencies and carries
every module the commands import (``function_app`` included), with the ``local`` extra for the runner."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins(name: str) -> set[str]:
    lines = (ROOT / name).read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith(("#", "-r"))}


def test_the_wheel_declares_its_dependencies_and_carries_the_entry_points(tmp_path: Path) -> None:
    # Build from a copy: setuptools leaves a build/ folder in the source tree it builds.
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns(
        ".venv*", ".run", "node_modules", ".git", "build", "*.egg-info", "__pycache__", "tests", "bench"
    )
    shutil.copytree(ROOT, source, ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            str(source),
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    wheel = next(tmp_path.glob("ppg_dr-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "function_app.py" in names  # ppgdr-local imports it from wherever it runs
    for module in ("shared/operator/cli.py", "functions/timers.py", "localdev/runner.py", "emulator/__main__.py"):
        assert module in names, module
    assert not any(n.startswith("tests/") for n in names)
    requires = metadata.get_all("Requires-Dist") or []
    assert {r for r in requires if "extra ==" not in r} == _pins("requirements.txt")
    assert {r.split(";")[0].strip() for r in requires if 'extra == "local"' in r} == _pins("requirements-local.txt")
    for script in (
        "ppgdr = shared.operator.cli:main",
        "ppgdr-local = localdev.runner:main",
        "ppgdr-emulator = emulator.__main__:main",
    ):
        assert script in entry_points
