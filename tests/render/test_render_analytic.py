"""Rendering an analytic SDF (sphere + box) through occupancy-culled marching and compositing
reproduces the exactly ray-cast depth and mask while evaluating few of the dense samples."""

import pytest
import torch

from hold.bench import scenes
from tests.conftest import requires_native

SIZE, RES = 128, 128
BETA = 0.001
STEP = 2.0 / RES / 2  # half a cell


@pytest.fixture(scope="module")
def rendered():
    origins, dirs = scenes.camera_rays(SIZE)
    grid = scenes.occupancy_grid(RES, BETA, STEP)
    culled = scenes.render_culled(origins, dirs, grid, BETA, STEP)
    depth_gt, hit = scenes.ray_cast(origins, dirs)
    return origins, dirs, grid, culled, depth_gt, hit


@requires_native
def test_mask_and_depth_match_exact_ray_casting(rendered):
    origins, dirs, grid, (rgb, depth, opacity, n_eval), depth_gt, hit = rendered
    mask = opacity > 0.5
    iou = (mask & hit).sum() / (mask | hit).sum()
    assert hit.float().mean() > 0.2  # the objects fill a good part of the image
    assert iou >= 0.99, f"mask IoU {float(iou):.4f}"
    both = mask & hit
    depth_err = ((depth[both] / opacity[both]).double() - depth_gt[both]).abs()
    assert depth_err.mean() <= 0.01 * 2.0, f"mean depth error {float(depth_err.mean()):.4f}"
    assert torch.quantile(depth_err, 0.99) <= 0.02 * 2.0


@requires_native
def test_culling_evaluates_under_15_percent_of_dense_samples_with_the_same_image(rendered):
    origins, dirs, grid, (rgb, depth, opacity, n_eval), _, _ = rendered
    rgb_d, depth_d, opacity_d, n_dense = scenes.render_dense(origins, dirs, BETA, STEP)
    assert n_eval <= 0.15 * n_dense, f"{n_eval} of {n_dense} samples"
    assert (rgb - rgb_d).abs().max() < 1e-3
    assert (opacity - opacity_d).abs().max() < 1e-3
