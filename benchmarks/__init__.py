"""Benchmarks: one command, one JSON line per figure, each with a baseline from the same run.

How to add a benchmark (eligibility, exports, …):

1. In a module of this package (e.g. ``benchmarks/eligibility.py``) write a function that takes
   a :class:`Context` and yields :class:`Figure` objects, and decorate it with
   ``@benchmark("name")``. Measure its baseline in the same run (a simpler operation on the same
   database, or the naive way of doing the same thing), so the ratio means something on any
   machine.
2. Add the module's name to :data:`MODULES` below. There is no discovery: the list is the
   registry, read top to bottom.

``python -m benchmarks [NAME…] [--households N] [--smoke] [--database URL]`` runs them.
Benchmarks run in the order of :data:`MODULES`, then of definition; ``seed`` runs first because
the others need its households.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine

#: Benchmark modules, imported in this order by ``python -m benchmarks``.
MODULES = (
    "benchmarks.registry",
    "benchmarks.eligibility",
    "benchmarks.exports",
    "benchmarks.referrals",
    "benchmarks.imports",
    "benchmarks.dashboards",
    "benchmarks.load",
)


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``ratio`` is value / baseline."""

    name: str
    value: float
    unit: str
    target: float | None
    baseline: float | None
    ratio: float | None = None
    #: Whether a higher value is better (throughput) or lower (latency); decides "meets target".
    higher_is_better: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None and self.baseline:
            object.__setattr__(self, "ratio", round(self.value / self.baseline, 3))

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def json(self) -> str:
        """Return the JSON line printed for this figure."""
        data = asdict(self)
        data.pop("higher_is_better")
        if not data["notes"]:
            data.pop("notes")
        data["meets_target"] = self.meets_target
        return json.dumps(data, ensure_ascii=False)


@dataclass
class Context:
    """What a benchmark gets: the database, the app built on it, and the run's size."""

    engine: Engine
    app: Flask
    households: int
    smoke: bool
    country: str = "PK"
    #: Free space for benchmarks to share results (e.g. the seed rate).
    shared: dict[str, Any] = field(default_factory=dict)

    @property
    def iterations(self) -> int:
        """How many timed repetitions a latency benchmark makes."""
        return 100 if self.smoke else 1000


BenchmarkFn = Callable[[Context], Iterable[Figure]]
BENCHMARKS: dict[str, BenchmarkFn] = {}


def benchmark(name: str) -> Callable[[BenchmarkFn], BenchmarkFn]:
    """Register ``fn`` as the benchmark ``name``."""

    def register(fn: BenchmarkFn) -> BenchmarkFn:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} is defined twice")
        BENCHMARKS[name] = fn
        return fn

    return register


def percentile(samples: list[float], pct: float) -> float:
    """Return the ``pct`` percentile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def time_calls(fn: Callable[[int], object], iterations: int, warmup: int = 20) -> list[float]:
    """Call ``fn(i)`` ``warmup`` then ``iterations`` times; return the timings in milliseconds."""
    for i in range(warmup):
        fn(i)
    timings = []
    for i in range(iterations):
        start = time.perf_counter()
        fn(warmup + i)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def p95_figure(
    name: str, timings: list[float], baseline: list[float], target: float | None, notes: str = ""
) -> Figure:
    """Return a latency figure: p95 of ``timings`` against the p95 of ``baseline``."""
    return Figure(
        name=name,
        value=round(percentile(timings, 95), 3),
        unit="ms",
        target=target,
        baseline=round(percentile(baseline, 95), 3),
        notes=notes,
    )


def iter_selected(names: list[str]) -> Iterator[tuple[str, BenchmarkFn]]:
    """Yield the registered benchmarks named (all when ``names`` is empty), in order."""
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(BENCHMARKS)}"
        )
    for name, fn in BENCHMARKS.items():
        if not names or name in names:
            yield name, fn
