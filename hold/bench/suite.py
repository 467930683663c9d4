"""The benchmark suite: names → functions returning BenchRows."""

from __future__ import annotations

import importlib

# name → module in hold.bench with a run(**kwargs) -> list[BenchRow]
SUITE = {
    "hashgrid": "hold.bench.hashgrid",
    "render": "hold.bench.render",
    "skinning": "hold.bench.skinning",
    "end_to_end": "hold.bench.end_to_end",  # minutes: the whole pipeline on a 48-frame video
}


# The benchmarks that also run on a GPU (run(device="cuda")); the others are CPU-only so far.
CUDA_SUITE = ("hashgrid",)


def run_suite(names: list[str] | None = None, quick: bool = False, device: str = "cpu"):
    if device == "cuda":
        names = names or list(CUDA_SUITE)
        unsupported = sorted(set(names) - set(CUDA_SUITE))
        if unsupported:
            raise ValueError(f"bench: {unsupported} run on the CPU only; on cuda choose from "
                             f"{list(CUDA_SUITE)}")
    rows = []
    for name in names or list(SUITE):
        if name not in SUITE:
            raise ValueError(f"bench: unknown benchmark {name!r}; choose from {sorted(SUITE)}")
        module = importlib.import_module(SUITE[name])
        kwargs = dict(getattr(module, "QUICK", {"repeats": 3, "ref_repeats": 1})) if quick else {}
        if device != "cpu":
            kwargs["device"] = device
        rows += module.run(**kwargs)
    return rows
