"""Inverse kinematics: fit a hand model to per-frame 3D joints and/or 2D keypoints.

The fit is a MAP estimate over all frames at once (batched and deterministic):

    E = ½ Σ_tj c_tj ρ(|J_tj − y_tj|² ; τ3) / σ3²           3D joints (camera frame, m)
      + ½ Σ_tj c_tj ρ(|π(K J_tj) − u_tj|² ; τ2) / σ2²      2D keypoints (pixels)
      + λ_pose Σ_t prior(θ_t) + ½ λ_shape |β|²              the model's pose prior, shape prior
      + ½ λ_time Σ_t |J_{t+1} − 2 J_t + J_{t−1}|² / σ3²     temporal smoothness (optional)
      + ½ Σ_t (mean_j J_tj,z − z_t)² / σz²                   depth targets (optional)

The depth targets z_t anchor the hand's mean keypoint depth where something other than the
keypoints measures it (the front-end's skin check, hold/preprocess/hand_depth.py): from 2D
alone a hand's depth rests on its keypoints' spread, which a detector squeezes under occlusion.

J_tj are the model's 21 keypoints for frame t (in the 2D term optionally moved to where a
detector puts its landmarks, ``landmarks``), c_tj the keypoint confidences (0 where the input
is NaN), σ the expected noise of each input, π the perspective division, and ρ the
Geman-McClure penalty ρ(s; τ) = τ² s / (τ² + s) (quadratic for residuals ≪ τ, bounded for
outliers; as in SMPLify, Bogo et al. 2016, and HOLD's hand alignment). Betas are shared by all
frames (one hand per sequence).

Solver: Levenberg-Marquardt on the robustified residuals r̃ = τ r / √(τ² + |r|²) (so that
|r̃|² = ρ(|r|²)), with per-frame blocks for (global orientation, articulation, translation) and
the betas eliminated by a Schur complement; Jacobians by central differences, all frames and
parameters batched into one model call. The articulation is optimised in the model's whitened
coordinates when it has them (``pose_whitening``). Stages:

1. start: per frame, Kabsch on the palm joints (3D); from 2D alone, the 24 cube rotations
   each get a rigid fit of the palm keypoints (depth from the palm's image size), the best
   ``hypotheses`` of them get a coarse articulated fit from the flat hand and from mid-range
   joint angles, and the lowest energy wins (a nearly planar palm has a mirror ambiguity that
   only the fingers' joint limits resolve). From 2D alone the betas stay fixed;
2. graduated non-convexity: the penalty scales τ × 10 first (from the flat start, residuals lie
   far beyond τ where Geman-McClure has no gradient), then τ;
3. from 2D alone, each observed frame is refitted from its observed neighbours' hands and takes
   that fit when it has less than half the energy (a frame stuck in a wrong basin;
   ``_adopt_neighbours``);
4. with λ_time > 0, an L-BFGS polish of the full energy including the temporal term.

Frames without any valid observation are filled by interpolating their neighbours afterwards
(slerp for the global orientation, linear otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hold.io.errors import InputError
from hold.models.hand.base import HandModel
from hold.models.hand.kinematics import axis_angle_to_matrix

# Keypoints that move rigidly with the palm: wrist, thumb CMC and the four MCP joints.
PALM_KEYPOINTS = (0, 1, 5, 9, 13, 17)
_STEP = 1e-6  # central-difference step (float64)
PROBE_ROWS = 1 << 15  # model evaluations per batch of Jacobian probes


@dataclass
class FitSettings:
    """Noise levels, robustness scales and weights of the IK energy (see the module docstring)."""

    joint_sigma: float = 0.005  # σ3: expected 3D joint noise (m)
    joint_robust: float = 0.02  # τ3: residual (m) where the 3D penalty starts to saturate
    keypoint_sigma: float = 2.0  # σ2: expected 2D keypoint noise (px)
    keypoint_robust: float = 10.0  # τ2 (px)
    pose_prior_weight: float = 1.0  # λ_pose
    shape_prior_weight: float = 1.0  # λ_shape
    temporal_weight: float = 0.0  # λ_time: 0 for independent frames, ~1 for video
    coarse_robust_factor: float = 10.0  # τ × this in the first stage
    coarse_iterations: int = 8  # Levenberg-Marquardt iterations with the wide penalty
    iterations: int = 12  # ... and with the final one (stops earlier once converged)
    temporal_iterations: int = 100  # L-BFGS polish when temporal_weight > 0
    # 2D only: rounds in which each observed frame is refitted from its observed neighbours'
    # hands (``_adopt_neighbours``; 0 = off), and the share of its energy such a refit must stay
    # below to replace the frame's fit: a wrong basin, not a slightly better fit of the noise.
    neighbour_sweeps: int = 3
    neighbour_energy_ratio: float = 0.5
    hypotheses: int = 6  # 2D only: rigid starts per frame that get an articulated fit
    # Fit the betas? None: only when 3D joints are given (2D keypoints alone cannot tell a
    # small near hand from a large far one, so the betas stay at their start there).
    fit_betas: bool | None = None
    # |β| bound (standard deviations of the shape space). The saturating penalty can prefer a
    # degenerate hand with every residual saturated: unbounded, a hand outside the model's
    # shape space (long index, short middle finger) drove the finger-length β to −39, i.e.
    # negative phalanges (63 mm MPJPE instead of 10).
    max_abs_beta: float = 3.0
    depth_sigma: float = 0.01  # σz: how closely the hand's mean depth follows ``depth`` (m)


@dataclass
class HandFit:
    global_orient: torch.Tensor  # [T, 3]
    hand_pose: torch.Tensor  # [T, 45]
    betas: torch.Tensor  # [num_betas]
    transl: torch.Tensor  # [T, 3]
    joints: torch.Tensor  # [T, 21, 3] fitted keypoints, camera frame
    filled: torch.Tensor  # [T] bool: frame had no observation and was interpolated
    energy: float


# ---------------------------------------------------------------------------------------------
# Rotations and interpolation helpers
# ---------------------------------------------------------------------------------------------


def matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (w, x, y, z) [..., 4] with w ≥ 0 from rotation matrices [..., 3, 3].

    Shepperd's method: build the quaternion from the largest of (trace, m00, m11, m22), which
    keeps the division well away from zero.
    """
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = torch.stack([
        torch.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                     m[..., 1, 0] - m[..., 0, 1]], -1),
        torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - trace,
                     m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                     1 + 2 * m[..., 1, 1] - trace, m[..., 1, 2] + m[..., 2, 1]], -1),
        torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                     m[..., 1, 2] + m[..., 2, 1], 1 + 2 * m[..., 2, 2] - trace], -1),
    ], -2)
    choice = torch.stack([trace, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], -1).argmax(-1)
    quaternion = torch.gather(candidates, -2,
                              choice[..., None, None].expand(*choice.shape, 1, 4))[..., 0, :]
    quaternion = quaternion / quaternion.norm(dim=-1, keepdim=True)
    return quaternion * torch.where(quaternion[..., :1] < 0, -1.0, 1.0)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """Axis-angle [..., 3] of unit quaternions (w, x, y, z) with w ≥ 0."""
    sine = quaternion[..., 1:].norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sine, quaternion[..., :1])
    # angle / sin(angle / 2) → 2 as the angle → 0.
    factor = torch.where(sine > 1e-8, angle / sine.clamp_min(1e-8), torch.full_like(sine, 2.0))
    return quaternion[..., 1:] * factor


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Axis-angle [..., 3] of rotation matrices [..., 3, 3]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def fill_missing(values: torch.Tensor, observed: torch.Tensor, rotation: bool = False):
    """Rows [T, ...] of frames that were not observed, interpolated from the nearest observed.

    Linear in the values, or for axis-angle rows [T, 3] (rotation=True) spherical-linear
    between the quaternions. Frames before the first / after the last observed one copy it.
    """
    known = observed.nonzero()[:, 0]
    if len(known) == 0 or bool(observed.all()):
        return values
    frames = torch.arange(len(values))
    after = torch.searchsorted(known, frames)  # index of the first observed frame ≥ t
    last = len(known) - 1
    lower = torch.where(after > last, last, (after - 1).clamp(min=0))
    upper = torch.where(after == 0, 0, after.clamp(max=last))
    lo, hi = known[lower], known[upper]
    t = ((frames - lo) / (hi - lo).clamp(min=1)).to(values.dtype)[:, None]
    if rotation:
        q0 = matrix_to_quaternion(axis_angle_to_matrix(values[lo]))
        q1 = matrix_to_quaternion(axis_angle_to_matrix(values[hi]))
        q1 = torch.where((q0 * q1).sum(-1, keepdim=True) < 0, -q1, q1)  # the shorter arc
        angle = torch.acos((q0 * q1).sum(-1, keepdim=True).clamp(-1, 1))
        sine = torch.sin(angle).clamp_min(1e-12)
        straight = angle < 1e-6
        w0 = torch.where(straight, 1 - t, torch.sin((1 - t) * angle) / sine)
        w1 = torch.where(straight, t, torch.sin(t * angle) / sine)
        quaternion = w0 * q0 + w1 * q1
        blended = quaternion_to_axis_angle(quaternion / quaternion.norm(dim=-1, keepdim=True))
    else:
        shape = (-1,) + (1,) * (values.ndim - 1)
        blended = (1 - t.reshape(shape)) * values[lo] + t.reshape(shape) * values[hi]
    return torch.where(observed.reshape((-1,) + (1,) * (values.ndim - 1)), values, blended)


def _cube_rotations() -> torch.Tensor:
    """The 24 rotations of a cube [24, 3, 3]: signed permutation matrices with det +1."""
    rotations = []
    for order in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        for signs in np.ndindex(2, 2, 2):
            matrix = np.zeros((3, 3))
            matrix[range(3), order] = np.where(np.array(signs) == 1, -1.0, 1.0)
            if np.linalg.det(matrix) > 0:
                rotations.append(matrix)
    return torch.tensor(np.stack(rotations))


def _kabsch(source: torch.Tensor, target: torch.Tensor, weight: torch.Tensor):
    """Rotation [T, 3, 3] and translation [T, 3] minimising Σ w |R s + t − y|² per frame."""
    w = weight / weight.sum(1, keepdim=True).clamp_min(1e-12)
    mean_s = (w[..., None] * source).sum(1)
    mean_t = (w[..., None] * target).sum(1)
    covariance = torch.einsum("tn,tni,tnj->tij", w, target - mean_t[:, None],
                              source - mean_s[:, None])
    u, _, vt = torch.linalg.svd(covariance)
    sign = torch.sign(torch.det(u @ vt))
    u = torch.cat([u[..., :2], u[..., 2:] * sign[:, None, None]], -1)
    rotation = u @ vt
    return rotation, mean_t - (rotation @ mean_s[..., None])[..., 0]


# ---------------------------------------------------------------------------------------------
# Batched Levenberg-Marquardt with shared parameters
# ---------------------------------------------------------------------------------------------


def _central_differences(residuals, stacked: torch.Tensor, count: int) -> torch.Tensor:
    """Jacobian [M, R, W] of residuals at the rows stacked [M, W] = (x [M, count], shared).

    The 2W probes of a row are evaluated PROBE_ROWS at a time: rows are independent, so the
    batches change nothing but the memory, which then stays bounded however many frames
    (× hypotheses) there are (300 frames × 8 hypotheses in one batch took 8.8 GB)."""
    rows, width = stacked.shape
    step = torch.eye(width, dtype=stacked.dtype) * _STEP
    chunk = max(1, PROBE_ROWS // (2 * width))
    parts = []
    for start in range(0, rows, chunk):
        block = stacked[start:start + chunk]
        probes = torch.cat([block[:, None] + step, block[:, None] - step], 1).reshape(-1, width)
        index = torch.arange(start, start + len(block)).repeat_interleave(2 * width)
        values = residuals(probes[:, :count], probes[:, count:], index).reshape(len(block), 2, width, -1)
        parts.append(((values[:, 0] - values[:, 1]) / (2 * _STEP)).transpose(1, 2))
    return torch.cat(parts)


def _levenberg_marquardt(residuals, x, shared, shared_prior: float, iterations: int,
                        shared_bound: float = float("inf")):
    """Minimise ½ Σ_t |residuals(x_t, shared)|² + ½ shared_prior |shared|² with every shared
    parameter kept in [−shared_bound, shared_bound] (steps are projected onto the box).

    ``residuals(x [M, P], shared [M, S], frame [M]) → [M, R]`` must treat rows independently:
    row m uses x[m], shared[m] and the data of frame[m] only. x [T, P] holds each frame's own
    parameters, shared [S] the common ones. Each iteration forms the central-difference
    Jacobian of all rows in one call, solves the damped normal equations with the shared block
    eliminated (Schur complement) and keeps the step if the energy drops (then the damping
    shrinks, else it grows). Stops when a step gains less than 1e-8 relative.
    """
    frames, count = x.shape
    size = shared.shape[0]
    every = torch.arange(frames)

    def energy(x_, shared_):
        rows = residuals(x_, shared_.expand(frames, size), every)
        return 0.5 * (rows**2).sum() + 0.5 * shared_prior * (shared_**2).sum()

    damping = 1e-3
    current = energy(x, shared)
    for _ in range(iterations):
        jacobian = _central_differences(residuals, torch.cat([x, shared.expand(frames, size)], 1), count)
        r = residuals(x, shared.expand(frames, size), every)
        jx, js = jacobian[..., :count], jacobian[..., count:]
        hxx = jx.transpose(1, 2) @ jx
        hxs = jx.transpose(1, 2) @ js
        hss = (js.transpose(1, 2) @ js).sum(0) + shared_prior * torch.eye(size, dtype=x.dtype)
        gx = (jx.transpose(1, 2) @ r[..., None])[..., 0]
        gs = (js.transpose(1, 2) @ r[..., None])[..., 0].sum(0) + shared_prior * shared
        improved = False
        while not improved and damping < 1e8:
            # Marquardt's scaling: damp each parameter by its own curvature (+ a floor).
            dxx = hxx + damping * (torch.diag_embed(torch.diagonal(hxx, dim1=1, dim2=2)) +
                                   1e-9 * torch.eye(count, dtype=x.dtype))
            dss = hss + damping * (torch.diag(torch.diagonal(hss)) +
                                   1e-9 * torch.eye(size, dtype=x.dtype))
            factor = torch.linalg.cholesky(dxx)  # symmetric positive definite
            solve_s = torch.cholesky_solve(torch.cat([hxs, gx[..., None]], -1), factor)
            schur = dss - (hxs.transpose(1, 2) @ solve_s[..., :size]).sum(0)
            rhs = gs - (hxs.transpose(1, 2) @ solve_s[..., size:]).sum(0)[..., 0]
            delta_s = -torch.linalg.solve(schur, rhs)
            delta_x = -(solve_s[..., size:][..., 0] + (solve_s[..., :size] @ delta_s))
            new_shared = (shared + delta_s).clamp(-shared_bound, shared_bound)
            candidate = energy(x + delta_x, new_shared)
            if candidate < current:
                relative = float((current - candidate) / current.clamp_min(1e-30))
                x, shared, current = x + delta_x, new_shared, candidate
                damping = max(damping / 3, 1e-9)
                improved = True
            else:
                damping *= 4
        if not improved or relative < 1e-8:
            break
    return x, shared


# ---------------------------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------------------------


def robust_residual(residual: torch.Tensor, scale: float) -> torch.Tensor:
    """τ r / √(τ² + |r|²) for residual vectors [..., D]: its squared norm is ρ(|r|²; τ)."""
    return residual * (scale / torch.sqrt(scale**2 + (residual**2).sum(-1, keepdim=True)))


def _project(points: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Pixels [T, N, 2] of camera-frame points [T, N, 3] with intrinsics [T, 3, 3]."""
    image = torch.einsum("tij,tnj->tni", camera, points)
    return image[..., :2] / image[..., 2:].clamp_min(1e-6)


def _observations(values, name: str, frames: int | None, width: int):
    """(values with NaN → 0 [T, 21, width], confidence [T, 21]) from [T, 21, width (+1)]."""
    values = torch.as_tensor(np.asarray(values), dtype=torch.float64)
    if values.ndim != 3 or values.shape[1] != 21 or values.shape[2] not in (width, width + 1):
        raise InputError(f"{name}: expected shape [T, 21, {width}] or [T, 21, {width + 1}], "
                         f"got {tuple(values.shape)}")
    if frames is not None and len(values) != frames:
        raise InputError(f"{name}: {len(values)} frames, expected {frames}")
    confidence = (values[..., width] if values.shape[2] == width + 1
                  else torch.ones(values.shape[:2], dtype=torch.float64))
    finite = torch.isfinite(values[..., :width]).all(-1) & torch.isfinite(confidence)
    confidence = torch.where(finite, confidence.clamp_min(0), torch.zeros_like(confidence))
    return torch.where(finite[..., None], values[..., :width], torch.zeros(())), confidence


class _Problem:
    """The data, priors and parametrisation of one fit; builds residual functions."""

    def __init__(self, model, settings, joints3d, keypoints2d, camera, landmarks=None, depth=None):
        self.model, self.settings, self.landmarks = model, settings, landmarks
        self.frames = None
        self.target3d = self.target2d = None
        if joints3d is not None:
            self.target3d, self.conf3d = _observations(joints3d, "joints3d", None, 3)
            self.frames = len(self.target3d)
        if keypoints2d is not None:
            self.target2d, self.conf2d = _observations(keypoints2d, "keypoints2d", self.frames,
                                                       2)
            self.frames = len(self.target2d)
            if camera is None:
                raise InputError("fit_hand: keypoints2d need the camera intrinsics K")
            camera = torch.as_tensor(np.asarray(camera), dtype=torch.float64)
            if camera.shape not in ((3, 3), (self.frames, 3, 3)):
                raise InputError(f"camera: expected [3, 3] or [T, 3, 3], got {tuple(camera.shape)}")
            self.camera = camera.expand(self.frames, 3, 3)
        self.depth = None
        if depth is not None:
            depth = torch.as_tensor(np.asarray(depth), dtype=torch.float64).reshape(-1)
            if len(depth) != self.frames:
                raise InputError(f"depth: {len(depth)} frames, expected {self.frames}")
            self.has_depth = torch.isfinite(depth).double()
            self.depth = torch.nan_to_num(depth)
        # A frame counts as observed with enough keypoints to pin its rigid pose.
        self.observed = torch.zeros(self.frames, dtype=torch.bool)
        if joints3d is not None:
            self.observed |= (self.conf3d > 0).sum(1) >= 3
        if keypoints2d is not None:
            self.observed |= (self.conf2d > 0).sum(1) >= 4
        self.whitened = hasattr(model, "pose_whitening")
        if self.whitened:
            self.pose_mean, self.pose_scale = (t.double() for t in model.pose_whitening())
        else:
            self.pose_mean = torch.zeros(45, dtype=torch.float64)
            self.pose_scale = torch.eye(45, dtype=torch.float64)

    def hand_pose(self, coordinates: torch.Tensor) -> torch.Tensor:
        return self.pose_mean + coordinates @ self.pose_scale.T

    def pose_coordinates(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """The inverse of ``hand_pose``: [M, 45] axis-angle → [M, 45] optimiser coordinates."""
        return torch.linalg.solve(self.pose_scale, (hand_pose - self.pose_mean).T).T

    def keypoints(self, x: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """x = [global_orient (3), pose coordinates (45), transl (3)] [M, 51] → [M, 21, 3]."""
        return self.model.keypoints(x[:, :3], self.hand_pose(x[:, 3:48]), betas, x[:, 48:])

    def residuals(self, robust_factor: float):
        """Residual function (x [M, 51], betas [M, K], frame [M]) → [M, R] of the energy."""
        s = self.settings
        pose_weight = np.sqrt(s.pose_prior_weight)

        def function(x, betas, index):
            # Stacked as [prior | 3D | 2D] residuals; √c and 1/σ make ½|r|² the energy terms.
            joints = self.keypoints(x, betas)
            parts = [pose_weight * self.model.pose_prior_residuals(self.hand_pose(x[:, 3:48]))]
            if self.target3d is not None:
                error = robust_residual(joints - self.target3d[index],
                                        robust_factor * s.joint_robust)
                parts.append((self.conf3d[index, :, None].sqrt() * error).flatten(1)
                             / s.joint_sigma)
            if self.target2d is not None:
                seen = joints if self.landmarks is None else self.landmarks(x[:, :3], joints)
                error = robust_residual(_project(seen, self.camera[index]) - self.target2d[index],
                                        robust_factor * s.keypoint_robust)
                parts.append((self.conf2d[index, :, None].sqrt() * error).flatten(1)
                             / s.keypoint_sigma)
            if self.depth is not None:
                error = joints[..., 2].mean(1) - self.depth[index]
                parts.append((self.has_depth[index] * error / s.depth_sigma)[:, None])
            return torch.cat(parts, 1)

        return function


def fit_hand(
    model: HandModel,
    joints3d=None,  # [T, 21, 3] (or [T, 21, 4] with confidence), camera frame, NaN = missing
    keypoints2d=None,  # [T, 21, 2] or [T, 21, 3] (u, v, confidence), pixels, NaN = missing
    camera=None,  # [3, 3] or [T, 3, 3] intrinsics, needed with keypoints2d
    settings: FitSettings | None = None,
    betas=None,  # [num_betas] start (and, when not fitted, fixed) shape; default zeros
    landmarks=None,  # (global_orient [M, 3], keypoints [M, 21, 3]) → where the 2D keypoints sit
    start: HandFit | None = None,  # a fit of the same frames to start from (skips stage 1)
    depth=None,  # [T] target mean keypoint depth (m), NaN = none; needs keypoints2d or joints3d
) -> HandFit:
    """Fit pose, shape, translation and global orientation to keypoints (module docstring).

    With ``start`` (a fit of nearly the same problem: the same keypoints under another focal
    length or landmark convention), the per-frame search of stage 1, most of the cost, is
    skipped and the fit starts from it (its betas too, unless ``betas`` is given).
    The model is evaluated in float64 on its own device; results are float64 tensors.
    """
    if joints3d is None and keypoints2d is None:
        raise InputError("fit_hand: give joints3d and/or keypoints2d")
    settings = settings or FitSettings()
    model = _as_double(model)
    problem = _Problem(model, settings, joints3d, keypoints2d, camera, landmarks, depth)
    frames, observed = problem.frames, problem.observed
    if betas is None and start is not None:
        betas = start.betas
    betas = (torch.zeros(model.num_betas, dtype=torch.float64) if betas is None
             else torch.as_tensor(np.asarray(betas), dtype=torch.float64).reshape(-1))
    if betas.shape != (model.num_betas,):
        raise InputError(f"betas: expected {model.num_betas} values, got {tuple(betas.shape)}")
    fit_betas = settings.fit_betas if settings.fit_betas is not None else joints3d is not None
    if start is not None:
        if start.transl.shape != (frames, 3):
            raise InputError(f"fit_hand: start has {len(start.transl)} frames, the problem {frames}")
        x = torch.cat([start.global_orient.double(), problem.pose_coordinates(start.hand_pose.double()),
                       start.transl.double()], 1)
    else:
        flat = problem.pose_coordinates(torch.zeros(1, 45, dtype=torch.float64)).expand(frames, 45)
        orient, transl = _initial_rigid(problem, flat, betas)  # [T, H, 3]: H hypotheses per frame
        if orient.shape[1] > 1:
            x = _select_hypothesis(problem, orient, transl, flat, betas)
        else:
            x = torch.cat([orient[:, 0], flat, transl[:, 0]], 1)
    # Unobserved frames start between their neighbours: only the priors (and the temporal
    # term) act on them, and a far start would bias the temporal polish.
    x = torch.cat([fill_missing(x[:, :3], observed, rotation=True),
                   fill_missing(x[:, 3:48], observed), fill_missing(x[:, 48:], observed)], 1)
    for factor, iterations in ((settings.coarse_robust_factor, settings.coarse_iterations),
                               (1.0, settings.iterations)):
        if fit_betas:
            x, betas = _levenberg_marquardt(problem.residuals(factor), x, betas,
                                            settings.shape_prior_weight, iterations,
                                            settings.max_abs_beta)
        else:  # the betas enter as constants: no shared block
            residuals = problem.residuals(factor)
            x, _ = _levenberg_marquardt(
                lambda x_, _, row: residuals(x_, betas.expand(len(x_), -1), row), x,
                torch.zeros(0, dtype=torch.float64), 0.0, iterations)
    if not fit_betas and start is None and settings.neighbour_sweeps > 0:
        x = _adopt_neighbours(problem, x, betas, settings.neighbour_sweeps, settings.neighbour_energy_ratio)
    if settings.temporal_weight > 0 and frames > 2:
        x, betas = _temporal_polish(problem, x, betas, fit_betas)
    with torch.no_grad():
        energy = _energy(problem, x, betas)
        orient = fill_missing(x[:, :3], observed, rotation=True)
        hand_pose = fill_missing(problem.hand_pose(x[:, 3:48]), observed)
        transl = fill_missing(x[:, 48:], observed)
        joints = model.keypoints(orient, hand_pose, betas, transl)
    return HandFit(orient, hand_pose, betas, transl, joints, ~observed, float(energy))


def _adopt_neighbours(problem: _Problem, x: torch.Tensor, betas: torch.Tensor, sweeps: int,
                      energy_ratio: float) -> torch.Tensor:
    """Refit each observed frame from the hands of the observed frames before and after it
    (their orientation and articulation, its own translation); a refit replaces the frame's fit
    when its energy (the frame's own terms) is below ``energy_ratio`` times the frame's; repeat
    up to ``sweeps`` times (a good fit spreads one frame per round).

    Why: each frame's fit starts from a handful of hypotheses and stops in the basin it reaches
    first. On a real clip, keypoints within 0.8 px of each other (the same frames as PNG and as
    mirrored H.264) gave fits 5–10 px or 2–3 px from them, hands 20 mm apart on average; and one
    frame in a worse basin lets the temporal polish drag its neighbours after it
    (docs/FRONTEND.md). A neighbour's hand is a start close to the right basin whenever the hand
    moves little between frames. Only a much lower energy is taken (a wrong basin): taking any
    lower one fitted the detector's 5–10 px error better and the hands worse (benchmark 19.87 →
    20.18 mm); at half the energy the benchmark, the tuning split and 50 independent poses are
    unchanged, and the clip's two inputs lift to hands 10.2 mm apart instead of 20.4.
    """
    observed = problem.observed.nonzero()[:, 0]
    if len(observed) < 2:
        return x
    x = x.clone()
    residuals = problem.residuals(1.0)

    def frame_energy(x_, frames_):
        return (residuals(x_, betas.expand(len(x_), -1), frames_) ** 2).sum(1)

    current = torch.full((problem.frames,), float("inf"), dtype=x.dtype)
    current[observed] = frame_energy(x[observed], observed)
    targets = torch.cat([observed[1:], observed[:-1]])
    sources = torch.cat([observed[:-1], observed[1:]])
    for _ in range(sweeps):
        starts = torch.cat([x[sources, :48], x[targets, 48:]], 1)
        solved, _ = _levenberg_marquardt(
            lambda x_, _, row: residuals(x_, betas.expand(len(x_), -1), targets[row]), starts,
            torch.zeros(0, dtype=x.dtype), 0.0, problem.settings.iterations)
        energy = frame_energy(solved, targets)
        changed = False
        for k in torch.argsort(energy).tolist():  # lowest first: a frame takes its better neighbour's
            t = int(targets[k])
            if energy[k] < current[t] * energy_ratio:
                x[t], current[t], changed = solved[k], energy[k], True
        if not changed:
            break
    return x


def _as_double(model: HandModel) -> HandModel:
    """A float64 version of the model (central differences need the precision)."""
    if model.template.dtype == torch.float64:
        return model
    import copy

    return copy.deepcopy(model).double()


def _energy(problem: _Problem, x: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """The full energy E of the module docstring (final robust scales, temporal term)."""
    frames = torch.arange(problem.frames)
    rows = problem.residuals(1.0)(x, betas.expand(problem.frames, -1), frames)
    s = problem.settings
    total = 0.5 * (rows**2).sum() + 0.5 * s.shape_prior_weight * (betas**2).sum()
    if s.temporal_weight > 0 and problem.frames > 2:
        joints = problem.keypoints(x, betas)
        acceleration = joints[2:] - 2 * joints[1:-1] + joints[:-2]
        total = total + 0.5 * s.temporal_weight * (acceleration**2).sum() / s.joint_sigma**2
    return total


def _temporal_polish(problem: _Problem, x: torch.Tensor, betas: torch.Tensor, fit_betas: bool):
    """L-BFGS on the full energy including the temporal term, from the per-frame optimum."""
    x = x.clone().requires_grad_(True)
    betas = betas.clone().requires_grad_(fit_betas)
    optimizer = torch.optim.LBFGS([x, betas] if fit_betas else [x], max_iter=problem.settings.temporal_iterations,
                                  history_size=20, tolerance_grad=1e-9, tolerance_change=1e-12,
                                  line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = _energy(problem, x, betas)
        value.backward()
        return value

    optimizer.step(closure)
    bound = problem.settings.max_abs_beta
    return x.detach(), betas.detach().clamp(-bound, bound)


def _initial_rigid(problem: _Problem, flat: torch.Tensor, betas: torch.Tensor):
    """Start orientations [T, H, 3] and translations [T, H, 3] of the flat hand, best first."""
    zeros = torch.zeros(problem.frames, 3, dtype=torch.float64)
    rest = problem.keypoints(torch.cat([zeros, flat, zeros], 1), betas)
    palm = list(PALM_KEYPOINTS)
    if problem.target3d is not None:
        rotation, translation = _kabsch(rest[:, palm], problem.target3d[:, palm],
                                        problem.conf3d[:, palm] + 1e-9)
        return matrix_to_axis_angle(rotation)[:, None], translation[:, None]
    # From 2D alone: depth from the palm's size, z ≈ f · (palm spread in m) / (in px); x, y by
    # back-projecting the palm's centre; then every cube rotation gets a rigid fit of the palm
    # keypoints and each frame keeps the best one.
    weight, points = problem.conf2d[:, palm], problem.target2d[:, palm]
    total = weight.sum(1, keepdim=True).clamp_min(1e-9)
    centre = (weight[..., None] * points).sum(1) / total
    spread_px = ((weight * ((points - centre[:, None]) ** 2).sum(-1)).sum(1, keepdim=True)
                 / total).sqrt()[:, 0]
    rest_palm = rest[0, palm]
    spread_m = ((rest_palm - rest_palm.mean(0)) ** 2).sum(-1).mean().sqrt()
    focal = 0.5 * (problem.camera[:, 0, 0] + problem.camera[:, 1, 1])
    depth = (focal * spread_m / spread_px.clamp_min(1.0)).clamp(0.05, 20.0)
    ray = torch.linalg.solve(problem.camera, torch.cat([centre, torch.ones_like(centre[:, :1])],
                                                       1)[..., None])[..., 0]
    palm_centre = ray / ray[:, 2:] * depth[:, None]
    rotations = _cube_rotations()
    count = len(rotations)
    orient = matrix_to_axis_angle(rotations).repeat(problem.frames, 1)  # frame-major rows
    transl = (palm_centre[:, None] - (rotations @ rest_palm.mean(0))[None]).reshape(-1, 3)
    settings = problem.settings

    def rigid(x, _, hypothesis):
        index = hypothesis // count  # rows are (frame, rotation) pairs, frame-major
        posed = torch.einsum("mij,nj->mni", axis_angle_to_matrix(x[:, :3]), rest_palm) \
            + x[:, None, 3:]
        error = robust_residual(_project(posed, problem.camera[index]) - points[index],
                                settings.coarse_robust_factor * settings.keypoint_robust)
        return (weight[index, :, None].sqrt() * error).flatten(1)

    solved, _ = _levenberg_marquardt(rigid, torch.cat([orient, transl], 1),
                                     torch.zeros(0, dtype=torch.float64), 0.0, 15)
    cost = (rigid(solved, None, torch.arange(len(solved))) ** 2).sum(1).reshape(-1, count)
    keep = min(settings.hypotheses, count)
    best = torch.arange(problem.frames)[:, None] * count + cost.argsort(1)[:, :keep]
    return solved[best, :3], solved[best, 3:]


def _select_hypothesis(problem: _Problem, orient, transl, flat, betas) -> torch.Tensor:
    """Per frame the start x [T, 51] whose coarse articulated fit (fixed betas) ends lowest.

    A nearly planar palm seen in 2D has a mirror ambiguity that only the fingers' joint limits
    resolve, and a fist is far from the flat hand: each rigid hypothesis [T, H, 3] is tried
    from the flat hand and (with whitened coordinates) from the middle of the joint ranges.
    """
    frames, count = orient.shape[:2]
    starts = [flat[0]] + ([torch.zeros_like(flat[0])] if problem.whitened else [])
    rows = [torch.cat([orient, start.expand(frames, count, 45), transl], -1) for start in starts]
    x = torch.stack(rows, 2).reshape(-1, 51)  # (frame, hypothesis, start), frame-major
    per_frame = count * len(starts)
    residuals = problem.residuals(problem.settings.coarse_robust_factor)

    def per_hypothesis(x_, _, row):
        return residuals(x_, betas.expand(len(x_), -1), row // per_frame)

    solved, _ = _levenberg_marquardt(per_hypothesis, x, torch.zeros(0, dtype=torch.float64),
                                     0.0, problem.settings.coarse_iterations)
    cost = (per_hypothesis(solved, None, torch.arange(len(solved))) ** 2).sum(1)
    best = torch.arange(frames) * per_frame + cost.reshape(frames, per_frame).argmin(1)
    return solved[best]
