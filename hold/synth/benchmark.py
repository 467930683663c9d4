"""The synthetic benchmark: hold/data/benchmark.yaml lists one sequence per YCB object."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from tqdm import tqdm

from hold.io.errors import InputError
from hold.synth.generate import NoiseOptions, generate_sequence

BENCHMARK_YAML = Path(__file__).resolve().parents[1] / "data" / "benchmark.yaml"


@dataclass(frozen=True)
class BenchmarkSequence:
    name: str
    object: str
    seed: int
    frames: int
    size: tuple[int, int]
    foreign_hand: bool = False  # rendered with a hand outside the built-in model's shape space


def load_benchmark(path: str | os.PathLike = BENCHMARK_YAML) -> list[BenchmarkSequence]:
    """The benchmark's sequences, in file order."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"{path}: cannot read the benchmark list ({e})") from None
    if not isinstance(spec, dict) or spec.get("version") != 1 or not isinstance(spec.get("sequences"), list):
        raise InputError(f"{path}: expected 'version: 1' and a 'sequences' list")
    frames, size = spec.get("frames", 48), tuple(spec.get("size", (256, 256)))
    out = []
    for entry in spec["sequences"]:
        try:
            out.append(BenchmarkSequence(str(entry["name"]), str(entry["object"]), int(entry["seed"]),
                                         int(entry.get("frames", frames)), tuple(entry.get("size", size)),
                                         bool(entry.get("foreign_hand", False))))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: a sequence entry needs name, object and seed, got {entry!r}") from None
    if len({s.name for s in out}) != len(out):
        raise InputError(f"{path}: sequence names must be unique")
    return out


def generate_benchmark(out_root: str | os.PathLike, sequences: list[BenchmarkSequence] | None = None,
                       progress: bool = True) -> dict[str, dict]:
    """Generate every benchmark sequence as ``out_root/<name>``; returns each one's summary
    (timings, contact distances)."""
    out_root = Path(out_root)
    summaries = {}
    for spec in tqdm(sequences or load_benchmark(), desc="benchmark", unit="seq", disable=not progress):
        summaries[spec.name] = generate_sequence(out_root / spec.name, object=spec.object, frames=spec.frames,
                                                 size=spec.size, seed=spec.seed,
                                                 noise=NoiseOptions(foreign_hand=spec.foreign_hand))
    return summaries
