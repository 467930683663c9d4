"""Fit the offsets between MediaPipe's 21 landmarks and the built-in hand's keypoints
(hold/preprocess/landmarks.py uses the palm ones) on synthetic sequences with known hand
parameters.

MediaPipe's wrist landmark sits at the wrist crease, its knuckles and tips where its annotators
put them; the hand model's keypoints are its joints' rotation centres and tip vertices. The
difference is systematic. Model (hold/preprocess/landmarks.py): a palm landmark (wrist, thumb
CMC, four MCPs) is the keypoint moved by a 3D offset fixed in the hand's root frame; every other
landmark is its keypoint moved along the bone that ends there (a signed length). Each offset is
found by linear least squares on the 2D residuals u_detected − π(J_true), linearised at the true
keypoint (the offsets are ~1 cm at ~0.5 m), twice, the second time without the residuals beyond
3 × the median (wrong detections).

Use sequences that are NOT the benchmark's (the benchmark measures the result):

    for i in 101 102 ...; do hold-fast synth /tmp/tune/t_$i --object OBJ --seed $i --no-video; done
    python tools/fit_landmark_offsets.py /tmp/tune/t_* [--json offsets.json]

Sequences rendered with the foreign hand are skipped (their parameters are not the built-in
hand's). The detector's keypoints are cached as detected.npy in each folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from hold.io.sequence import load_ground_truth, load_sequence
from hold.models.hand.kinematics import axis_angle_to_matrix
from hold.preprocess.landmarks import PALM_LANDMARKS

# The keypoint each finger landmark's bone starts from (the 21-keypoint chains).
BONE_PARENT = {2: 1, 3: 2, 4: 3, 6: 5, 7: 6, 8: 7, 10: 9, 11: 10, 12: 11, 14: 13, 15: 14, 16: 15,
               18: 17, 19: 18, 20: 19}


def _projection_jacobian(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """d(u, v)/d(x, y, z) [..., 2, 3] of the pinhole projection at camera points [..., 3]."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    fx, s, fy = K[0, 0], K[0, 1], K[1, 1]
    zero = np.zeros_like(z)
    row_u = np.stack([fx / z, s / z, -(fx * x + s * y) / z**2], -1)
    row_v = np.stack([zero, fy / z, -fy * y / z**2], -1)
    return np.stack([row_u, row_v], -2)


def collect(seq_dir: Path):
    """(true keypoints [T,21,3], root rotations [T,3,3], detections [T,21,3], K) or None."""
    scene_path = seq_dir / "gt" / "synth_scene.npz"
    with np.load(scene_path) as scene:
        if bool(scene["foreign_hand"]):
            return None
        orient = scene["global_orient"].astype(np.float64)
    seq = load_sequence(seq_dir)
    cache = seq_dir / "detected.npy"
    if cache.is_file():
        detected = np.load(cache)
    else:
        from hold.preprocess import detector

        detected = detector.detect_keypoints(seq.load_images()).keypoints
        np.save(cache, detected)
    rotations = axis_angle_to_matrix(torch.tensor(orient)).numpy()
    return load_ground_truth(seq_dir).hand_joints.astype(np.float64), rotations, detected, seq.meta.K


def fit(data) -> dict:
    """{"palm": {j: [dx, dy, dz] m}, "bone": {j: length m}} from the collected sequences."""
    rows: dict[int, list] = {j: [] for j in range(21)}
    for joints, rotations, detected, K in data:
        projected = joints @ K.T
        projected = projected[..., :2] / projected[..., 2:]
        jacobian = _projection_jacobian(joints, K)
        for j in range(21):
            ok = np.isfinite(detected[:, j, 0])
            residual = detected[ok, j, :2] - projected[ok, j]
            if j in PALM_LANDMARKS:
                design = jacobian[ok, j] @ rotations[ok]  # [n, 2, 3]: offset in the root frame
            else:
                bone = joints[ok, j] - joints[ok, BONE_PARENT[j]]
                direction = bone / np.linalg.norm(bone, axis=-1, keepdims=True)
                design = (jacobian[ok, j] @ direction[..., None])  # [n, 2, 1]
            rows[j].append((design, residual))
    palm, along = {}, {}
    for j, parts in rows.items():
        design = np.concatenate([d for d, _ in parts]).reshape(-1, parts[0][0].shape[-1])
        residual = np.concatenate([r for _, r in parts]).reshape(-1)
        keep = np.ones(len(residual) // 2, bool)
        for _ in range(2):
            rows2 = np.repeat(keep, 2)
            solution, *_ = np.linalg.lstsq(design[rows2], residual[rows2], rcond=None)
            error = np.linalg.norm((design @ solution - residual).reshape(-1, 2), axis=1)
            keep = error <= 3 * np.median(error)
        if j in PALM_LANDMARKS:
            palm[j] = [round(float(v), 4) for v in solution]
        else:
            along[j] = round(float(solution[0]), 4)
    return {"palm": palm, "bone": along}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sequences", nargs="+", type=Path)
    parser.add_argument("--json", type=Path, help="write the offsets here")
    args = parser.parse_args(argv)
    data = [d for d in (collect(p) for p in args.sequences) if d is not None]
    if not data:
        print("no built-in-hand sequence among the inputs", file=sys.stderr)
        return 2
    offsets = fit(data)
    offsets["fitted_on"] = [p.name for p in args.sequences]
    print(json.dumps(offsets, indent=1))
    if args.json:
        args.json.write_text(json.dumps(offsets, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
