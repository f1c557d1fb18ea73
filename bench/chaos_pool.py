"""The chaos harness's worker processes: fork, hand out batches, notice deaths, respawn, kill at random.

Each worker is a separate process (``bench.chaos_worker.worker_main``) forked by a ``multiprocessing`` fork
server that imported the app and the SDKs once: a replacement is ready in milliseconds, as a warm Functions
host instance is. Each worker has its own pipe, so one worker's death never corrupts another's channel. A
batch runs on every live worker at once; the pool waits until each answered ``done`` or died. A worker
killed mid-batch (SIGKILL from the step-boundary ledger, or :meth:`WorkerPool.kill_later`) is replaced
before the next batch; the items it had not answered come back unanswered, so the harness can redeliver
events the way Event Grid does.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import random
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from bench.chaos_worker import PRELOAD, worker_main

READY_TIMEOUT_S = 60.0
BATCH_TIMEOUT_S = 300.0


def fork_context() -> Any:
    """The fork server context, preloading the app (started once per harness process, on first use)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


@dataclass
class Worker:
    """One worker process and what it answered, read by a thread so a dead pipe never blocks the harness."""

    number: int
    process: BaseProcess
    connection: Connection
    answers: queue.Queue[dict[str, Any] | None] = field(default_factory=queue.Queue)
    ready: bool = False

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def start_reader(self) -> None:
        def read() -> None:
            while True:
                try:
                    self.answers.put(self.connection.recv())
                except (EOFError, OSError):
                    self.answers.put(None)  # the process is gone
                    return

        threading.Thread(target=read, daemon=True, name=f"chaos-worker-{self.number}").start()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> bool:
        try:
            answer = self.answers.get(timeout=timeout)
        except queue.Empty:
            return False
        self.ready = answer is not None and "ready" in answer
        return self.ready


@dataclass
class ItemResult:
    """What became of one item of a batch: answered (ok or failed invocation) or lost with its worker."""

    worker: int
    item: dict[str, Any]
    answer: dict[str, Any] | None  # None: the worker died before answering


@dataclass
class PoolStats:
    spawned: int = 0
    deaths: int = 0
    random_kills: int = 0
    deaths_by_exit: dict[str, int] = field(default_factory=dict)


class WorkerPool:
    """``size`` live workers at all times (a dead one is replaced before the next batch)."""

    def __init__(self, size: int, env: Mapping[str, str], ledger: Path, log_dir: Path, rng: random.Random) -> None:
        self.size = size
        self.env = dict(env)
        self.ledger = ledger
        self.log_dir = log_dir
        self.rng = rng
        self.offset = 0.0
        self.stats = PoolStats()
        self.workers: list[Worker] = []
        self._context = fork_context()
        self._batch = 0
        self._timers: list[threading.Timer] = []

    # --------------------------------------------------------------------------------------- life cycle

    def _spawn(self) -> Worker:
        number = self.stats.spawned
        self.stats.spawned += 1
        ours, theirs = self._context.Pipe()
        log = str(self.log_dir / f"worker-{number:03d}.log")
        process = self._context.Process(
            target=worker_main, args=(theirs, self.env, str(self.ledger), self.offset, log), daemon=True, name=f"chaos-{number}"
        )
        process.start()
        theirs.close()  # only the child holds its end: its death is our EOF
        worker = Worker(number, process, ours)
        worker.start_reader()
        return worker

    def start(self) -> None:
        """Bring the pool to ``size`` ready workers."""
        fresh = [self._spawn() for _ in range(self.size - len(self.workers))]
        for worker in fresh:
            if not worker.wait_ready():
                raise RuntimeError(
                    f"chaos worker {worker.number} did not start; see {self.log_dir}/worker-{worker.number:03d}.log"
                )
        self.workers.extend(fresh)

    def replace_dead(self) -> None:
        """Count and drop dead workers, fork their replacements."""
        for worker in [w for w in self.workers if not w.alive]:
            self.workers.remove(worker)
            code = worker.process.exitcode
            self.stats.deaths += 1
            label = f"signal {-code}" if code is not None and code < 0 else f"exit {code}"
            self.stats.deaths_by_exit[label] = self.stats.deaths_by_exit.get(label, 0) + 1
            worker.connection.close()
        self.start()

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        for worker in self.workers:
            worker.connection.close()  # EOF: the worker leaves its loop and exits
        for worker in self.workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()

    # ------------------------------------------------------------------------------------------ batches

    def run(self, batches: Sequence[Sequence[dict[str, Any]]]) -> list[ItemResult]:
        """Run ``batches[i]`` on worker ``i`` (all at once); every item's answer, or ``None`` if its worker died."""
        self.replace_dead()
        sent: list[tuple[Worker, int, Sequence[dict[str, Any]]]] = []
        for worker, items in zip(self.workers, batches, strict=False):
            if not items:
                continue
            self._batch += 1
            with contextlib.suppress(BrokenPipeError, OSError):  # died between batches: its items come back unanswered
                worker.connection.send({"batch": self._batch, "offset": self.offset, "items": list(items)})
            sent.append((worker, self._batch, items))
        results: list[ItemResult] = []
        for worker, batch, items in sent:
            results.extend(self._collect(worker, batch, items))
        return results

    def _collect(self, worker: Worker, batch: int, items: Sequence[dict[str, Any]]) -> list[ItemResult]:
        answered: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + BATCH_TIMEOUT_S
        while True:
            try:
                answer = worker.answers.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                worker.process.kill()  # a hung worker is a dead worker
                break
            if answer is None:
                worker.answers.put(None)  # keep the EOF for anyone asking again
                break
            if answer.get("batch") != batch:
                continue
            if answer.get("done"):
                break
            answered[int(answer["index"])] = answer
        return [ItemResult(worker.number, item, answered.get(i)) for i, item in enumerate(items)]

    # -------------------------------------------------------------------------------------------- kills

    def kill_later(self, within_s: float) -> None:
        """SIGKILL a random live worker at a random moment in the next ``within_s`` seconds (a host crash)."""
        live = [w for w in self.workers if w.alive]
        if not live:
            return
        victim = self.rng.choice(live)
        delay = self.rng.uniform(0.0, within_s)

        def kill() -> None:
            pid = victim.process.pid
            if victim.alive and pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.stats.random_kills += 1
                except ProcessLookupError:
                    pass

        timer = threading.Timer(delay, kill)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def boundary_kills(self) -> list[str]:
        """The step boundaries the ledger recorded (each killed the worker that reached it first)."""
        return sorted(p.name for p in self.ledger.iterdir())
