"""The pinned evaluation protocol of docs/SEQUENCE_FORMAT.md ("Evaluation") and an
approximation of HOLD's own evaluation code (``hold_exact=True``); see docs/EVALUATION.md.

Default protocol ("hold-fast-v1"):
- MPJPE (mm): root-relative, mean over scored frames and 21 joints.
- CD (cm²), F5/F10 (%): 10,000 area-uniform samples on each mesh (same seed), each set
  centred (bbox centre, then mean), prediction aligned to truth by symmetric scale-ICP from the
  identity, from 24 seeded random rotations and from the rotation the two pose tracks imply at
  the first scored frame; the best chamfer is kept.
- CD_h (cm²): per scored frame, both sample sets posed by their frame's pose and taken
  relative to their own wrist (joint 0); squared chamfer, no alignment; mean over frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from tqdm import tqdm

from hold.eval.metrics import (
    Similarity,
    align_similarity,
    center_points,
    chamfer,
    f_score,
    hand_relative_chamfer_per_frame,
    mpjpe_per_frame,
    sample_surface,
    start_rotations,
    transform_points,
    umeyama,
)
from hold.io.atomic import write_json_atomic
from hold.io.errors import InputError
from hold.io.sequence import GroundTruth, Result, load_ground_truth, load_meta, load_result

METRIC_KEYS = ("mpjpe_mm", "cd_cm2", "f5_percent", "f10_percent", "cd_h_cm2")


@dataclass(frozen=True)
class Protocol:
    num_samples: int = 10_000
    seed: int = 0
    restarts: int = 24
    f_thresholds_m: tuple[float, float] = (0.005, 0.010)


PROTOCOL = Protocol()


# --------------------------------------------------------------------------- default protocol


def first_scored_frame_rotation(result: Result, gt: GroundTruth, frames: np.ndarray) -> np.ndarray:
    """Rotation from the predicted object frame to the true one implied by the poses at the
    first scored frame, [3, 3] (an ICP start that makes the alignment independent of luck)."""
    t = frames[0]
    R_pred = result.object_poses[t, :3, :3].astype(np.float64)
    R_gt = gt.object_poses[t, :3, :3].astype(np.float64)
    # camera point = R_gt·x_gt + t_gt = R_pred·x_pred + t_pred  ⇒  x_gt = R_gtᵀ·R_pred·x_pred + c
    U, _, Vt = np.linalg.svd(R_gt.T @ R_pred)  # re-orthonormalise the float32 product
    return U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt


def shape_metrics(
    pred_points: np.ndarray, gt_points: np.ndarray, protocol: Protocol = PROTOCOL,
    extra_starts: np.ndarray | None = None, return_distances: bool = False,
) -> dict:
    """CD (cm²), F5, F10 (%) and the ICP scale for two object-frame sample sets [N, 3]; with
    ``return_distances`` also the aligned ChamferResult under "distances" (per-point errors)."""
    pred_centred, gt_centred = center_points(pred_points), center_points(gt_points)
    similarity, _ = align_similarity(
        pred_centred, gt_centred, restarts=protocol.restarts, seed=protocol.seed, extra_starts=extra_starts
    )
    distances = chamfer(similarity.apply(pred_centred), gt_centred)
    f5, f10 = (f_score(distances.pred_to_gt, distances.gt_to_pred, tau) for tau in protocol.f_thresholds_m)
    metrics = {"cd_cm2": distances.cd, "f5_percent": f5, "f10_percent": f10,
               "icp_scale": similarity.scale}
    if return_distances:
        metrics["distances"] = distances
    return metrics


def _scored_frames(gt: GroundTruth) -> np.ndarray:
    return np.flatnonzero(gt.valid)


def evaluate(result: Result, gt: GroundTruth, protocol: Protocol = PROTOCOL) -> dict:
    """All metrics of one sequence under the default protocol (see the module docstring)."""
    if result.num_frames != len(gt.valid):
        raise InputError(
            f"{result.root / 'result.json'}: num_frames={result.num_frames}, but the ground truth has "
            f"{len(gt.valid)} frames"
        )
    frames = _scored_frames(gt)
    mpjpe = mpjpe_per_frame(result.hand_joints[frames], gt.hand_joints[frames])

    pred_points = sample_surface(result.object_mesh.vertices, result.object_mesh.faces,
                                 protocol.num_samples, protocol.seed)
    gt_points = sample_surface(gt.object_mesh.vertices, gt.object_mesh.faces,
                               protocol.num_samples, protocol.seed)
    pose_start = first_scored_frame_rotation(result, gt, frames)
    shape = shape_metrics(pred_points, gt_points, protocol, extra_starts=pose_start[None])

    cd_h = hand_relative_chamfer_per_frame(
        pred_points, result.object_poses, result.hand_joints[:, 0],
        gt_points, gt.object_poses, gt.hand_joints[:, 0], frames,
    )
    return _summary("hold-fast-v1", frames, len(gt.valid), mpjpe, shape, cd_h)


def _summary(protocol_name: str, frames: np.ndarray, num_frames: int, mpjpe: np.ndarray,
             shape: dict, cd_h: np.ndarray) -> dict:
    def per_frame(values: np.ndarray) -> list:
        out = [None] * num_frames
        for t, value in zip(frames, values):
            out[int(t)] = float(value)
        return out

    return {
        "protocol": protocol_name,
        "num_frames": int(num_frames),
        "num_scored_frames": int(len(frames)),
        "mpjpe_mm": float(mpjpe.mean()),
        "cd_cm2": float(shape["cd_cm2"]),
        "f5_percent": float(shape["f5_percent"]),
        "f10_percent": float(shape["f10_percent"]),
        "cd_h_cm2": float(cd_h.mean()),
        "icp_scale": float(shape["icp_scale"]),
        "per_frame": {"mpjpe_mm": per_frame(mpjpe), "cd_h_cm2": per_frame(cd_h)},
    }


# --------------------------------------------------------------------------- HOLD's code, approximated

HOLD_EXACT_SAMPLES = 1000  # points sampled per mesh for the alignment (HOLD: Open3D, unseeded)
HOLD_EXACT_THRESHOLD_M = 0.01  # ICP max correspondence distance (HOLD: 1 cm)
HOLD_EXACT_RESTARTS = 100  # random-rotation restarts (HOLD: 600 FPFH-RANSAC restarts)
HOLD_EXACT_CD_H_POINTS = 3000  # vertices subsampled per frame for CD_h (HOLD: torch.randperm)


def icp_point_to_point(
    source: np.ndarray, target: np.ndarray, start: Similarity, threshold: float,
    target_tree: cKDTree, max_iterations: int = 30, relative_tolerance: float = 1e-6,
) -> Similarity:
    """Open3D-style ICP (point-to-point with scaling): one-directional nearest neighbours
    within ``threshold``, Umeyama on the inliers, stop when fitness and inlier RMSE change by
    less than ``relative_tolerance`` (Open3D's ICPConvergenceCriteria defaults)."""
    current = start
    fitness, rmse = 0.0, 0.0
    for _ in range(max_iterations):
        distances, nearest = target_tree.query(current.apply(source), distance_upper_bound=threshold)
        inliers = np.isfinite(distances)
        if inliers.sum() < 3:
            break
        new_fitness = inliers.mean()
        new_rmse = float(np.sqrt(np.mean(distances[inliers] ** 2)))
        if abs(new_fitness - fitness) < relative_tolerance and abs(new_rmse - rmse) < relative_tolerance:
            break
        fitness, rmse = new_fitness, new_rmse
        current = Similarity(*umeyama(source[inliers], target[nearest[inliers]]))
    return current


def _hold_centre(vertices: np.ndarray) -> np.ndarray:
    return center_points(vertices)  # bbox centre (HOLD's v3d_ra), then vertex mean (Open3D get_center)


def evaluate_hold_exact(result: Result, gt: GroundTruth, restarts: int = HOLD_EXACT_RESTARTS,
                        seed: int = 0) -> dict:
    """HOLD's evaluation code approximated without Open3D (differences in docs/EVALUATION.md):
    CD/F on mesh *vertices* of the object posed at the first scored frame, aligned by 1 cm
    point-to-point scale-ICP on 1000 surface samples from the identity plus ``restarts``
    random rotations; CD_h on 3000 random vertices per frame; MPJPE unchanged."""
    frames = _scored_frames(gt)
    t0 = frames[0]
    mpjpe = mpjpe_per_frame(result.hand_joints[frames], gt.hand_joints[frames])

    pred_vertices = _hold_centre(transform_points(result.object_poses[t0], result.object_mesh.vertices))
    gt_vertices = _hold_centre(transform_points(gt.object_poses[t0], gt.object_mesh.vertices))
    pred_samples = sample_surface(pred_vertices, result.object_mesh.faces, HOLD_EXACT_SAMPLES, seed)
    gt_samples = sample_surface(gt_vertices, gt.object_mesh.faces, HOLD_EXACT_SAMPLES, seed)
    gt_vertex_tree, gt_sample_tree = cKDTree(gt_vertices), cKDTree(gt_samples)
    best = None
    for rotation in start_rotations(restarts, seed):
        similarity = icp_point_to_point(pred_samples, gt_samples, Similarity(1.0, rotation, np.zeros(3)),
                                        HOLD_EXACT_THRESHOLD_M, gt_sample_tree)
        distances = chamfer(similarity.apply(pred_vertices), gt_vertices, gt_vertex_tree)
        if best is None or distances.cd < best[1].cd:
            best = (similarity, distances)
    similarity, distances = best
    shape = {
        "cd_cm2": distances.cd,
        "f5_percent": f_score(distances.pred_to_gt, distances.gt_to_pred, 0.005),
        "f10_percent": f_score(distances.pred_to_gt, distances.gt_to_pred, 0.010),
        "icp_scale": similarity.scale,
    }

    rng = np.random.default_rng(1)
    cd_h = np.empty(len(frames))
    for i, t in enumerate(frames):
        pred = transform_points(result.object_poses[t], result.object_mesh.vertices) - result.hand_joints[t, 0]
        true = transform_points(gt.object_poses[t], gt.object_mesh.vertices) - gt.hand_joints[t, 0]
        pred = pred[rng.permutation(len(pred))[:HOLD_EXACT_CD_H_POINTS]]
        true = true[rng.permutation(len(true))[:HOLD_EXACT_CD_H_POINTS]]
        cd_h[i] = chamfer(pred, true).cd
    return _summary("hold-exact-approx", frames, len(gt.valid), mpjpe, shape, cd_h)


# --------------------------------------------------------------------------- folders


FRONTEND_SEQUENCE = "sequence"  # where `hold-fast reconstruct VIDEO` keeps the front-end's folder


def result_frames(result_dir: Path, seq_dir: Path, gt_frames: int) -> tuple[np.ndarray | None, dict]:
    """For a result made from SEQ/video.mp4 (the front-end's sequence in RESULT/sequence):
    the ground-truth frame [T_result] of each result frame, from that sequence's
    ``frame_indices`` (video frame k is SEQ's frame k), and what differs from the true inputs.
    (None, {}) for a result made from the sequence folder itself."""
    frontend = result_dir / FRONTEND_SEQUENCE
    if not (frontend / "meta.json").is_file() or frontend.resolve() == seq_dir.resolve():
        return None, {}
    meta = load_meta(frontend)
    frames = np.asarray(meta.frame_indices if meta.frame_indices is not None else range(meta.num_frames))
    if frames.max(initial=-1) >= gt_frames:
        raise InputError(f"{frontend / 'meta.json'}: frame_indices reach frame {int(frames.max())}, but "
                         f"{seq_dir} has {gt_frames} frames: this result was not made from that sequence's video")
    true_K = load_meta(seq_dir).K
    info = {"inputs": "from the video (front-end sequence: masks, hand, object poses and K estimated)",
            "frontend_focal_ratio": round(float(meta.K[0, 0] / true_K[0, 0]), 4),
            "frontend_crop": meta.crop}
    return frames, info


def evaluate_result(result_dir: str | os.PathLike, seq_dir: str | os.PathLike,
                    hold_exact: bool = False, write: bool = True) -> dict:
    """Validate a result folder against its sequence, score it and (by default) write
    ``metrics.json`` into the result folder. A result that breaks the format raises InputError
    and is not scored.

    A result that `hold-fast reconstruct SEQ/video.mp4` made is scored on the ground-truth
    frames its front-end kept (``result_frames``); everything is compared in each side's own
    camera frame, so a front-end focal length that differs from the true one changes the depth
    of the whole reconstruction, which no metric here sees except CD_h (docs/EVALUATION.md)."""
    result_dir, seq_dir = Path(result_dir), Path(seq_dir)
    meta = load_meta(seq_dir)
    gt = load_ground_truth(seq_dir)
    frames, inputs = result_frames(result_dir, seq_dir, meta.num_frames)
    if frames is not None:
        gt = gt.subset(frames)
    result = load_result(result_dir, num_frames=len(gt.valid))
    metrics = evaluate_hold_exact(result, gt) if hold_exact else evaluate(result, gt)
    metrics["sequence"] = str(Path(seq_dir))
    metrics["inputs"] = inputs.pop("inputs", "the sequence folder's own inputs")
    metrics.update(inputs)
    if write:
        write_json_atomic(Path(result_dir) / "metrics.json", metrics)
    return metrics


def sequence_folders(seqs_root: str | os.PathLike) -> list[Path]:
    """Sub-folders of ``seqs_root`` that hold a meta.json, sorted by name."""
    root = Path(seqs_root)
    if not root.is_dir():
        raise InputError(f"{root}: folder does not exist")
    folders = sorted(p for p in root.iterdir() if (p / "meta.json").is_file())
    if not folders:
        raise InputError(f"{root}: no sequence folders (sub-folders with a meta.json)")
    return folders


def evaluate_many(results_root: str | os.PathLike, seqs_root: str | os.PathLike,
                  hold_exact: bool = False, progress: bool = True) -> dict:
    """Score ``results_root/<name>`` against ``seqs_root/<name>`` for every sequence folder,
    then average each metric over sequences (each sequence counts once, whatever its length).
    Returns {"sequences": {name: metrics}, "mean": {metric: value}}."""
    folders = sequence_folders(seqs_root)
    missing = [p.name for p in folders if not (Path(results_root) / p.name).is_dir()]
    if missing:
        raise InputError(f"{results_root}: no result folder for sequence(s) {', '.join(missing)}")
    per_sequence = {}
    for folder in tqdm(folders, desc="evaluate", unit="seq", disable=not progress):
        per_sequence[folder.name] = evaluate_result(Path(results_root) / folder.name, folder, hold_exact)
    return {"sequences": per_sequence, "mean": mean_metrics(per_sequence.values())}


def mean_metrics(per_sequence) -> dict:
    """Each metric averaged over sequences (each sequence counts once, whatever its length)."""
    per_sequence = list(per_sequence)
    return {key: float(np.mean([m[key] for m in per_sequence])) for key in METRIC_KEYS}


def format_table(rows: dict[str, dict], mean: dict | None = None) -> str:
    """A plain-text table: one row per sequence (and a mean row)."""
    headers = ("sequence", "MPJPE mm", "CD cm²", "F5 %", "F10 %", "CD_h cm²")
    body = [(name, *(f"{m[k]:.2f}" for k in METRIC_KEYS)) for name, m in rows.items()]
    if mean is not None:
        body.append(("mean", *(f"{mean[k]:.2f}" for k in METRIC_KEYS)))
    widths = [max(len(str(r[i])) for r in (headers, *body)) for i in range(len(headers))]
    lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in (headers, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
