"""Timing helpers: medians of repeats, a result row, and the printed table."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1,
                   device: str = "cpu") -> float:
    """Median time of fn() over `repeats` runs after `warmup` untimed runs: wall time on the
    CPU; on "cuda", CUDA events around each call (the GPU's time, the launch queue drained)."""
    for _ in range(warmup):
        fn()
    timed = _cuda_seconds if device == "cuda" else _wall_seconds
    return statistics.median(timed(fn) for _ in range(repeats))


def _wall_seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cuda_seconds(fn: Callable[[], object]) -> float:
    import torch

    torch.cuda.synchronize()  # nothing queued before counts
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000.0


@dataclass
class BenchRow:
    name: str  # e.g. "hashgrid forward"
    workload: str  # human description of the inputs
    unit: str  # what is counted per second, e.g. "samples"
    count: int  # items processed per call
    ours_s: float  # median seconds of the compiled kernel
    reference_s: float | None  # median seconds of the pure-torch reference (None: there is none)
    extra: dict = field(default_factory=dict)

    @property
    def ours_rate(self) -> float:
        return self.count / self.ours_s

    @property
    def reference_rate(self) -> float | None:
        return None if self.reference_s is None else self.count / self.reference_s

    @property
    def speedup(self) -> float | None:
        return None if self.reference_s is None else self.reference_s / self.ours_s

    def as_dict(self) -> dict:
        return {**asdict(self), "ours_per_s": self.ours_rate,
                "reference_per_s": self.reference_rate, "speedup": self.speedup}


def format_table(rows: list[BenchRow]) -> str:
    header = ("benchmark", "ours", "reference", "ratio", "workload")
    lines = [
        (r.name, _rate(r.ours_rate, r.unit), "–" if r.reference_s is None else _rate(r.reference_rate, r.unit),
         "–" if r.reference_s is None else f"{r.speedup:6.1f}x", r.workload)
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def _rate(per_s: float, unit: str) -> str:
    """Millions per second for kernels, plain numbers for slow things (frames of a video)."""
    return f"{per_s / 1e6:8.3f} M {unit}/s" if per_s >= 1e4 else f"{per_s:8.3f} {unit}/s"
