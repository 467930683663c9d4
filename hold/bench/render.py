"""March + composite throughput on the analytic scene of the rendering test (128² rays, 128³
occupancy grid, β = 0.001, step = half a cell) against dense marching in vectorised PyTorch."""

from __future__ import annotations

from . import scenes
from .timing import BenchRow, median_seconds

SIZE, RES, BETA = 128, 128, 0.001
STEP = 2.0 / RES / 2


def run(repeats: int = 7, ref_repeats: int = 3) -> list[BenchRow]:
    origins, dirs = scenes.camera_rays(SIZE)
    grid = scenes.occupancy_grid(RES, BETA, STEP)
    ours = scenes.render_culled(origins, dirs, grid, BETA, STEP, backend="native")
    dense = scenes.render_dense(origins, dirs, BETA, STEP)
    max_diff = float((ours[0] - dense[0]).abs().max())
    if max_diff > 1e-3:
        raise RuntimeError(f"bench render: culled and dense images differ by {max_diff:.2e}")
    t_ours = median_seconds(lambda: scenes.render_culled(origins, dirs, grid, BETA, STEP,
                                                         backend="native"), repeats)
    t_dense = median_seconds(lambda: scenes.render_dense(origins, dirs, BETA, STEP), ref_repeats)
    n_rays = origins.shape[0]
    extra = {"samples_evaluated": ours[3], "samples_dense": dense[3],
             "samples_per_s": ours[3] / t_ours, "dense_samples_per_s": dense[3] / t_dense,
             "max_image_diff": max_diff, "occupied_cells": grid.occupied_fraction}
    workload = (f"sphere+box SDF, {SIZE}² rays, {RES}³ grid, {ours[3]} of {dense[3]} samples "
                f"evaluated, images differ ≤ {max_diff:.1e}")
    return [BenchRow("march+composite", workload, "rays", n_rays, t_ours, t_dense, extra)]
