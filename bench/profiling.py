"""A sampling profile of this whole process (py-spy), summarised by where the time went.

cProfile over ``shared/`` only shows ppg-dr's own functions and distorts them (it instruments every call);
py-spy samples the interpreter's stacks from outside at a fixed rate, SDK, JSON and socket waits included, with
next to no overhead. The samples are grouped by the innermost frame that says what the process was doing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# (label, test on one frame "function (file:line)"); the first that matches a stack, innermost frame first, wins.
CATEGORIES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("waiting on the network (socket / TLS reads)", lambda f: any(k in f for k in ("ssl.py", "socket.py", "selectors.py"))),
    ("JSON decoding / encoding", lambda f: "json/" in f or "json\\" in f),
    ("SDK models (deserialisation, attribute access)", lambda f: "model_base" in f or "_serialization" in f),
    ("compression (status snapshot)", lambda f: "zlib" in f),
    (
        "ppg-dr's own code (shared/, functions/)",
        lambda f: any(k in f for k in ("(shared/", "/shared/", "(functions/", "/functions/")),
    ),
    ("Azure SDK pipeline and Tables", lambda f: "/azure/" in f),
    ("HTTP client (requests, urllib3)", lambda f: "requests/" in f or "urllib3/" in f or "http/client" in f),
)


def py_spy() -> Path | None:
    found = Path(sys.executable).with_name("py-spy")
    return found if found.exists() else None


@contextmanager
def sampled(rate: int = 100) -> Iterator[dict[str, Any]]:
    """Sample this process with py-spy while the block runs; the result dict gets ``stacks`` (raw lines) on exit."""
    result: dict[str, Any] = {"stacks": [], "error": None}
    binary = py_spy()
    if binary is None:
        result["error"] = "py-spy is not installed in this environment"
        yield result
        return
    out = Path(tempfile.mkdtemp(prefix="ppgdr-spy-")) / "raw.txt"
    # --idle: a thread waiting on a socket is sampled too (the network wait is part of the tick); --threads: the
    # stacks name their thread, so only the thread that runs the block is counted (not the runner's helpers).
    command = [str(binary), "record", "--pid", str(os.getpid()), "--rate", str(rate), "--format", "raw"]
    command += ["-o", str(out), "--nonblocking", "--idle", "--threads"]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    result["thread"] = f"thread ({threading.get_native_id()})"
    time.sleep(0.5)  # py-spy attaches
    try:
        yield result
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            _, err = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            _, err = spy.communicate()
        if out.exists():
            result["stacks"] = out.read_text().splitlines()
        else:
            result["error"] = (err or b"").decode(errors="replace")[-500:] or "py-spy wrote nothing"


def inclusive(stacks: list[str], thread: str = "", top: int = 12) -> list[tuple[str, int]]:
    """ppg-dr's functions by the samples whose stack holds them (time in them and in what they call)."""
    found: Counter[str] = Counter()
    for line in stacks:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or (thread and not stack.startswith(thread)):
            continue
        frames = stack.split(";")
        if "profiling.py" in frames[-1]:
            continue
        own = {frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0] + ")" for frame in frames if "(shared/" in frame}
        for frame in own:
            found[frame] += int(count)
    return found.most_common(top)


def summarise(stacks: list[str], thread: str = "", top: int = 12) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(samples per category, samples per innermost frame (top N), total samples) from py-spy's raw lines, of the
    stacks of ``thread`` (``thread (<native id>)``; all when empty)."""
    categories: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in stacks:
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or (thread and not stack.startswith(thread)):
            continue
        frames = stack.split(";")
        if "profiling.py" in frames[-1]:
            continue  # waiting for py-spy to attach or to stop: not the block's time
        n = int(count)
        total += n
        leaves[frames[-1]] += n
        label = "other Python"
        for frame in reversed(frames):
            hit = next((name for name, test in CATEGORIES if test(frame)), None)
            if hit is not None:
                label = hit
                break
        categories[label] += n
    return categories.most_common(), leaves.most_common(top), total


def report(result: dict[str, Any], title: str) -> dict[str, Any]:
    """Print the summary; return it as figures."""
    if result.get("error"):
        print(f"\n{title}: no profile ({result['error']})")
        return {"error": result["error"]}
    categories, leaves, total = summarise(result["stacks"], result.get("thread", ""))
    print(f"\n{title} (py-spy: every frame of the thread that ran it, waits included; {total} samples at 100 Hz)")
    for name, n in categories:
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("  innermost frames:")
    for frame, n in leaves:
        print(f"  {100 * n / total:5.1f}%    {frame[:150]}")
    print("  ppg-dr's functions, with what they call:")
    for frame, n in inclusive(result["stacks"], result.get("thread", "")):
        print(f"  {100 * n / total:5.1f}%    {frame[:150]}")
    return {"samples": total, "categories": {name: round(100 * n / total, 1) for name, n in categories}}
