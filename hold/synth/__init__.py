"""Synthetic hand-object sequences with exact ground truth (docs/EVALUATION.md)."""

from hold.synth.benchmark import generate_benchmark, load_benchmark
from hold.synth.generate import NoiseOptions, generate_sequence

__all__ = ["NoiseOptions", "generate_benchmark", "generate_sequence", "load_benchmark"]
