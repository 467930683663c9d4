"""Metric building blocks: surface sampling, chamfer/F-score, similarity ICP, MPJPE, CD_h.

Lengths go in as metres; the public metrics come out in HOLD's units (mm, cm², %).
All randomness is seeded, so a metric is a pure function of its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

CM_PER_M = 100.0
MM_PER_M = 1000.0


# --------------------------------------------------------------------------- points


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` points uniformly distributed by area on a triangle mesh, [count, 3] float64.

    The draw depends only on (faces' areas, count, seed), so two identical meshes give
    identical point sets. Uses the square-root barycentric map (uniform on each triangle).
    """
    triangles = np.asarray(vertices, np.float64)[np.asarray(faces)]  # [F, 3, 3]
    areas = 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    total = areas.sum()
    if not total > 0:
        raise ValueError("sample_surface: the mesh has zero area")
    rng = np.random.default_rng(seed)
    face_ids = rng.choice(len(faces), size=count, p=areas / total)
    r1, r2 = rng.random(count), rng.random(count)
    sqrt_r1 = np.sqrt(r1)
    a, b, c = 1 - sqrt_r1, sqrt_r1 * (1 - r2), sqrt_r1 * r2
    tri = triangles[face_ids]
    return a[:, None] * tri[:, 0] + b[:, None] * tri[:, 1] + c[:, None] * tri[:, 2]


def center_points(points: np.ndarray) -> np.ndarray:
    """Subtract the bounding-box centre, then the mean (HOLD's centring), [N, 3]."""
    points = points - 0.5 * (points.min(axis=0) + points.max(axis=0))
    return points - points.mean(axis=0)


def transform_points(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4×4 transform to [N, 3] points."""
    pose = np.asarray(pose, np.float64)
    return np.einsum("ij,nj->ni", pose[:3, :3], points) + pose[:3, 3]  # einsum: no BLAS threads


# --------------------------------------------------------------------------- chamfer / F


@dataclass
class ChamferResult:
    cd: float  # squared chamfer, cm²: mean d²(pred→gt) + mean d²(gt→pred)
    pred_to_gt: np.ndarray  # [N] distances, metres
    gt_to_pred: np.ndarray  # [M] distances, metres


def chamfer(pred: np.ndarray, gt: np.ndarray, gt_tree: cKDTree | None = None) -> ChamferResult:
    """Squared chamfer distance (cm²) between point sets [N, 3] and [M, 3] given in metres."""
    gt_tree = gt_tree if gt_tree is not None else cKDTree(gt)
    pred_to_gt = gt_tree.query(pred)[0]
    gt_to_pred = cKDTree(pred).query(gt)[0]
    cd = (np.mean(pred_to_gt**2) + np.mean(gt_to_pred**2)) * CM_PER_M**2
    return ChamferResult(float(cd), pred_to_gt, gt_to_pred)


def f_score(pred_to_gt: np.ndarray, gt_to_pred: np.ndarray, threshold_m: float) -> float:
    """F-score in % at a distance threshold: harmonic mean of precision (pred points within
    the threshold of gt) and recall (gt points within the threshold of pred)."""
    precision = float(np.mean(pred_to_gt < threshold_m))
    recall = float(np.mean(gt_to_pred < threshold_m))
    if precision + recall == 0:
        return 0.0
    return 100.0 * 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------- alignment


def umeyama(source: np.ndarray, target: np.ndarray, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (s, R [3, 3], t [3]) with target ≈ s·R·source + t (Umeyama 1991).

    source, target: [N, 3] corresponding points. R is a proper rotation (det +1).
    """
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - mu_s, target - mu_t
    covariance = dst.T @ src / len(source)
    U, S, Vt = np.linalg.svd(covariance)
    D = np.ones(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[2] = -1
    R = (U * D) @ Vt
    variance = np.mean(np.sum(src**2, axis=1))
    scale = float(np.sum(S * D) / variance) if with_scale and variance > 0 else 1.0
    t = mu_t - scale * R @ mu_s
    return scale, R, t


@dataclass
class Similarity:
    scale: float
    rotation: np.ndarray  # [3, 3]
    translation: np.ndarray  # [3]

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * np.einsum("ij,nj->ni", self.rotation, points) + self.translation


def icp_with_scale(
    source: np.ndarray,
    target: np.ndarray,
    start: Similarity,
    target_tree: cKDTree | None = None,
    max_iterations: int = 50,
    tolerance: float = 1e-5,
) -> tuple[Similarity, float]:
    """Symmetric similarity ICP: each iteration pairs every source point with its nearest
    target point *and* every target point with its nearest source point, then refits
    (s, R, t) on all pairs with Umeyama. Using both directions minimises the chamfer distance
    itself and cannot collapse the scale (one-directional ICP with scale can shrink the source
    onto a patch of the target).

    Returns the best similarity seen (the start included) and its squared chamfer in cm².
    Stops when the chamfer improves by less than ``tolerance`` (relative).
    """
    target_tree = target_tree if target_tree is not None else cKDTree(target)
    current = start
    best, best_cd = start, np.inf
    previous_cd = np.inf
    for _ in range(max_iterations + 1):
        moved = current.apply(source)
        d_st, nearest_target = target_tree.query(moved)
        d_ts, nearest_source = cKDTree(moved).query(target)
        cd = (np.mean(d_st**2) + np.mean(d_ts**2)) * CM_PER_M**2
        if cd < best_cd:
            best, best_cd = current, cd
        if cd == 0 or (np.isfinite(previous_cd) and previous_cd - cd <= tolerance * previous_cd):
            break
        previous_cd = cd
        pairs_source = np.concatenate([source, source[nearest_source]])
        pairs_target = np.concatenate([target[nearest_target], target])
        current = Similarity(*umeyama(pairs_source, pairs_target))
    return best, float(best_cd)


def start_rotations(count: int, seed: int) -> np.ndarray:
    """The identity followed by ``count`` seeded uniformly random rotations, [count + 1, 3, 3]."""
    random = Rotation.random(count, random_state=seed).as_matrix() if count else np.empty((0, 3, 3))
    return np.concatenate([np.eye(3)[None], random])


def align_similarity(
    pred: np.ndarray,
    gt: np.ndarray,
    restarts: int = 24,
    seed: int = 0,
    extra_starts: np.ndarray | None = None,
    coarse_points: int = 2000,
) -> tuple[Similarity, float]:
    """Align centred point sets pred [N, 3] to gt [M, 3] with scale-ICP started from the
    identity, from ``restarts`` seeded random rotations and from ``extra_starts`` [K, 3, 3];
    returns the best similarity and its CD (cm²).

    Every start runs on the first ``coarse_points`` points of each set (the sets are random
    samples, so a prefix is a uniform subsample); the best start is then refined on all points.
    """
    starts = start_rotations(restarts, seed)
    if extra_starts is not None:
        starts = np.concatenate([starts, np.asarray(extra_starts, np.float64).reshape(-1, 3, 3)])
    coarse_pred, coarse_gt = pred[:coarse_points], gt[:coarse_points]
    coarse_tree = cKDTree(coarse_gt)
    best_start, best_cd = None, np.inf
    for rotation in starts:
        similarity, cd = icp_with_scale(
            coarse_pred, coarse_gt, Similarity(1.0, rotation, np.zeros(3)), coarse_tree, max_iterations=30
        )
        if cd < best_cd:
            best_start, best_cd = similarity, cd
        if cd == 0:  # nothing can beat an exact match (identical samples)
            break
    return icp_with_scale(pred, gt, best_start, cKDTree(gt), max_iterations=50)


# --------------------------------------------------------------------------- hand metrics


def mpjpe_per_frame(pred_joints: np.ndarray, gt_joints: np.ndarray) -> np.ndarray:
    """Root-relative mean per-joint position error in mm, per frame [T].

    pred_joints, gt_joints: [T, 21, 3] metres. Joint 0 (the wrist) is the root; the mean runs
    over all 21 joints (the root contributes 0), no other alignment."""
    pred_rel = pred_joints - pred_joints[:, :1]
    gt_rel = gt_joints - gt_joints[:, :1]
    return np.linalg.norm(pred_rel.astype(np.float64) - gt_rel, axis=-1).mean(axis=1) * MM_PER_M


def hand_relative_chamfer_per_frame(
    pred_points: np.ndarray,
    pred_poses: np.ndarray,
    pred_wrists: np.ndarray,
    gt_points: np.ndarray,
    gt_poses: np.ndarray,
    gt_wrists: np.ndarray,
    frames: np.ndarray,
) -> np.ndarray:
    """CD_h per scored frame (cm²): object points posed by each side's own pose and expressed
    relative to its own wrist, squared chamfer with no alignment.

    pred_points [N, 3], gt_points [M, 3]: object frame; *_poses [T, 4, 4]; *_wrists [T, 3];
    frames: indices of the frames to score. Returns [len(frames)].
    """
    out = np.empty(len(frames))
    for i, t in enumerate(frames):
        pred = transform_points(pred_poses[t], pred_points) - pred_wrists[t]
        gt = transform_points(gt_poses[t], gt_points) - gt_wrists[t]
        out[i] = chamfer(pred, gt).cd
    return out
