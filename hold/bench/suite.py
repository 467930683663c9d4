"""The benchmark suite: names → functions returning BenchRows."""

from __future__ import annotations

import importlib

# name → module in hold.bench with a run(**kwargs) -> list[BenchRow]
SUITE = {
    "hashgrid": "hold.bench.hashgrid",
    "render": "hold.bench.render",
    "skinning": "hold.bench.skinning",
}


def run_suite(names: list[str] | None = None, quick: bool = False):
    rows = []
    for name in names or list(SUITE):
        if name not in SUITE:
            raise ValueError(f"bench: unknown benchmark {name!r}; choose from {sorted(SUITE)}")
        module = importlib.import_module(SUITE[name])
        rows += module.run(**({"repeats": 3, "ref_repeats": 1} if quick else {}))
    return rows
