"""What the property tests ran: sequences, steps and invariant checks per state machine, printed at the end.

A session-wide counter (one process, one pytest session). ``conftest.py`` prints it in the terminal summary
and writes it to ``.pytest_cache/ppgdr-property-figures.json``; the README quotes one long-profile run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class Figures:
    sequences: int = 0
    steps: int = 0
    checks: int = 0
    seconds: float = 0.0
    seen: Counter[str] = field(default_factory=Counter)  # how often each situation worth checking came up


FIGURES: dict[str, Figures] = defaultdict(Figures)


def sequence(machine: str) -> None:
    FIGURES[machine].sequences += 1


def step(machine: str) -> None:
    FIGURES[machine].steps += 1


def checked(machine: str, count: int = 1) -> None:
    FIGURES[machine].checks += count


def timed(machine: str, seconds: float) -> None:
    FIGURES[machine].seconds += seconds


def saw(machine: str, situation: str) -> None:
    """Count a situation the invariants should see (so a run shows they were not checked in vain)."""
    FIGURES[machine].seen[situation] += 1
