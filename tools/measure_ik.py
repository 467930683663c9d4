"""Measure the hand IK (hold/models/hand/fitting.py) on the fixed evaluation pose set.

The poses are ``evaluation_poses(model, 50)``: open hand, fist, pinch, cylinder and box grasps,
then 45 perturbations of them (hand-written articulations plus Gaussian noise, not samples of
the model's pose prior), random global orientations, wrist ~0.5 m in front of the camera. The
hand's true shape is β = (0.8, −0.5, 0.4, −0.3); the fitter does not know it.

- 3D: joints + N(0, 5 mm) per coordinate → mean joint error of the fit vs of the input.
- 2D: keypoints projected with f = 300 px, principal point (128, 128) (a 256×256 image) +
  N(0, 2 px) → root-relative MPJPE of the fit (betas fixed at 0: 2D cannot see the size).

Usage: ``PYTHONPATH=. python tools/measure_ik.py [--poses 50] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hold.models.hand.builtin import BuiltinHand
from hold.models.hand.fitting import fit_hand
from hold.models.hand.poses import evaluation_poses

TRUE_BETAS = (0.8, -0.5, 0.4, -0.3)
CAMERA = ((300.0, 0.0, 128.0), (0.0, 300.0, 128.0), (0.0, 0.0, 1.0))


def synthetic_observations(count: int, seed: int):
    """(model, true joints [T, 21, 3], noisy joints, noisy keypoints [T, 21, 2], K)."""
    model = BuiltinHand(dtype=torch.float64)
    global_orient, hand_pose, transl = evaluation_poses(model, count, seed)
    betas = torch.tensor(TRUE_BETAS, dtype=torch.float64)
    truth = model.keypoints(global_orient, hand_pose, betas, transl)
    rng = np.random.default_rng(seed + 1)
    noisy3d = truth + torch.tensor(rng.normal(scale=0.005, size=truth.shape))
    camera = torch.tensor(CAMERA, dtype=torch.float64)
    image = torch.einsum("ij,tnj->tni", camera, truth)
    pixels = image[..., :2] / image[..., 2:]
    noisy2d = pixels + torch.tensor(rng.normal(scale=2.0, size=pixels.shape))
    return model, truth, noisy3d, noisy2d, camera


def root_relative_mpjpe(joints: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per-frame mean over the 21 joints of |(p_j − p_0) − (g_j − g_0)| in mm, [T]."""
    return ((joints - joints[:, :1]) - (truth - truth[:, :1])).norm(dim=-1).mean(1) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poses", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, truth, noisy3d, noisy2d, camera = synthetic_observations(args.poses, args.seed)

    start = time.perf_counter()
    fit = fit_hand(model, joints3d=noisy3d)
    seconds = time.perf_counter() - start
    before = (noisy3d - truth).norm(dim=-1).mean() * 1000
    after = (fit.joints - truth).norm(dim=-1).mean() * 1000
    print(f"3D joints, {args.poses} poses, noise 5 mm/coordinate: input error {before:.2f} mm, "
          f"fitted {after:.2f} mm, ratio {after / before:.3f} (target ≤ 0.7), {seconds:.1f} s; "
          f"betas {np.round(fit.betas.numpy(), 2).tolist()} (true {list(TRUE_BETAS)})")

    start = time.perf_counter()
    fit = fit_hand(model, keypoints2d=noisy2d, camera=camera)
    seconds = time.perf_counter() - start
    error = root_relative_mpjpe(fit.joints, truth)
    print(f"2D keypoints only, {args.poses} poses, noise 2 px at 256²: root-relative MPJPE mean "
          f"{error.mean():.2f} mm (target ≤ 15), median {error.median():.2f}, "
          f"max {error.max():.2f}, {seconds:.1f} s")


if __name__ == "__main__":
    main()
