"""Measure the video front-end on the synthetic benchmark (docs/FRONTEND.md).

For each benchmark sequence, ``hold-fast preprocess`` sees only the rendered frames and K (no
init/, no masks); its output is compared with the sequence's ground truth:

- hand found: fraction of frames with keypoints (init/hand_keypoints2d finite), also among the
  frames where the hand is visible (≥ 50 % of its projected true joints on the true hand label,
  dilated by 3 px): a detector cannot find a hand hidden behind the object;
- hand given: fraction of frames with 3D joints (init/hand_joints finite: detected, or filled
  by the model-based tracking where the detector missed);
- MPJPE (mm, root-relative, SEQUENCE_FORMAT's definition) on the frames with joints, and on the
  frames with detected keypoints only;
- keypoint error (px): mean distance of the detected keypoints to the projected true joints;
- mask IoU for the hand (150) and the object (50): Σ intersection / Σ union over the frames,
  against the exact labels (gt/masks/; the sequence's masks/ only when it has none: hold.synth
  writes its masks/ with boundary noise, an input for the engine, not a reference);
- object rotation error: median over frames of the geodesic angle between predicted
  R_t·R_0ᵀ and ground-truth R_t·R_0ᵀ (so the SfM frame does not matter).

Usage:
    python tools/measure_frontend.py BENCH_ROOT OUT_ROOT [--only NAME ...] [--json FILE]

BENCH_ROOT holds the sequences of ``hold-fast synth --benchmark BENCH_ROOT``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from hold.io.sequence import LABEL_HAND, LABEL_OBJECT, load_ground_truth, load_sequence
from hold.preprocess import PreprocessOptions, preprocess


def geodesic_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    relative = np.einsum("tji,tjk->tik", a, b)
    return np.degrees(np.arccos(np.clip((np.trace(relative, axis1=1, axis2=2) - 1) / 2, -1, 1)))


def true_masks(truth, gt) -> list[np.ndarray]:
    """The exact label images: gt/masks/ when present (synth's masks/ are noisy), else masks/."""
    return list(gt.masks) if gt.masks is not None else [truth.mask(t) for t in range(truth.num_frames)]


def visible_frames(truth, gt, min_fraction: float = 0.5) -> np.ndarray:
    """[T] bool: at least ``min_fraction`` of the true joints project onto the true hand label."""
    import cv2

    uv = gt.hand_joints @ truth.meta.K.T
    uv = np.round(uv[..., :2] / uv[..., 2:]).astype(int)
    visible = np.zeros(truth.num_frames, bool)
    for t, labels in enumerate(true_masks(truth, gt)):
        hand = cv2.dilate((labels == LABEL_HAND).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        H, W = hand.shape
        inside = (uv[t, :, 0] >= 0) & (uv[t, :, 0] < W) & (uv[t, :, 1] >= 0) & (uv[t, :, 1] < H)
        on_hand = np.zeros(len(inside), bool)
        on_hand[inside] = hand[uv[t, inside, 1], uv[t, inside, 0]]
        visible[t] = on_hand.mean() >= min_fraction
    return visible


def measure(seq_dir: Path, out_dir: Path, object_poses: str = "auto", **options) -> dict:
    frames_dir = out_dir / "_frames"
    if frames_dir.exists():
        shutil.rmtree(frames_dir)
    shutil.copytree(seq_dir / "images", frames_dir)
    result_dir = out_dir / seq_dir.name
    started = time.perf_counter()
    summary = preprocess(frames_dir, result_dir, PreprocessOptions(
        K_file=str(seq_dir / "meta.json"), crop="none", max_size=None, video=False, progress=False,
        object_poses=object_poses, **options))
    seconds = time.perf_counter() - started
    shutil.rmtree(frames_dir)
    predicted = load_sequence(result_dir)
    truth = load_sequence(seq_dir)
    gt = load_ground_truth(seq_dir)
    found = np.isfinite(predicted.init.hand_keypoints2d[:, 0, 0])
    visible = visible_frames(truth, gt)
    joints = predicted.init.hand_joints
    ok = np.isfinite(joints[:, 0, 0])
    relative = (joints - joints[:, :1]) - (gt.hand_joints - gt.hand_joints[:, :1])
    per_frame = np.linalg.norm(relative, axis=-1).mean(1) * 1000
    mpjpe = float(per_frame[ok].mean()) if ok.any() else float("nan")
    mpjpe_detected = float(per_frame[ok & found].mean()) if (ok & found).any() else float("nan")
    true_uv = gt.hand_joints @ truth.meta.K.T
    true_uv = true_uv[..., :2] / true_uv[..., 2:]
    keypoint_error = float(np.linalg.norm(predicted.init.hand_keypoints2d[found, :, :2] - true_uv[found], axis=-1).mean()) \
        if found.any() else float("nan")
    counts = {LABEL_HAND: [0, 0], LABEL_OBJECT: [0, 0]}
    for t, theirs in enumerate(true_masks(truth, gt)):
        mine = predicted.mask(t)
        for label in counts:
            a, b = mine == label, theirs == label
            counts[label][0] += int((a & b).sum())
            counts[label][1] += int((a | b).sum())
    poses = predicted.init.object_poses.astype(np.float64)
    gt_poses = gt.object_poses.astype(np.float64)
    pred_rel = poses[:, :3, :3] @ poses[0, :3, :3].T
    gt_rel = gt_poses[:, :3, :3] @ gt_poses[0, :3, :3].T
    rotation = geodesic_deg(pred_rel, gt_rel)
    provenance = predicted.init.provenance or {}
    return {
        "sequence": seq_dir.name,
        "hand_found": round(float(found.mean()), 4),
        "hand_visible": round(float(visible.mean()), 4),
        "hand_found_when_visible": round(float(found[visible].mean()), 4) if visible.any() else float("nan"),
        "hand": predicted.meta.hands[0],
        "hand_given": round(float(ok.mean()), 4),
        "mpjpe_mm": round(mpjpe, 2),
        "mpjpe_detected_mm": round(mpjpe_detected, 2),
        "mpjpe_max_frame_mm": round(float(per_frame[ok].max()), 1) if ok.any() else float("nan"),
        "keypoint_error_px": round(keypoint_error, 2),
        "iou_hand": round(counts[LABEL_HAND][0] / max(1, counts[LABEL_HAND][1]), 4),
        "iou_object": round(counts[LABEL_OBJECT][0] / max(1, counts[LABEL_OBJECT][1]), 4),
        "mask_reference": "gt/masks (exact)" if gt.masks is not None else "masks/",
        "rotation_median_deg": round(float(np.median(rotation)), 2),
        "rotation_max_deg": round(float(rotation.max()), 2),
        "pose_provenance": summary["object_pose_provenance"],
        "sfm": {k: v for k, v in provenance.get("sfm", {}).items() if k in ("status", "registered", "points")},
        "seconds": round(seconds, 1),
        "timings_s": summary["timings_s"],
    }


def table(rows: list[dict]) -> str:
    lines = ["| sequence | hand found | found when visible (visible) | hand given | MPJPE (mm) | MPJPE detected | "
             "kp. error (px) | IoU hand | IoU object | rot. median (°) | poses | time (s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        poses = ", ".join(f"{v} {k}" for k, v in r["pose_provenance"].items())
        lines.append(f"| {r['sequence']} | {100 * r['hand_found']:.0f} % | {100 * r['hand_found_when_visible']:.0f} % "
                     f"({100 * r['hand_visible']:.0f} %) | {100 * r['hand_given']:.0f} % | {r['mpjpe_mm']:.1f} | "
                     f"{r['mpjpe_detected_mm']:.1f} | {r['keypoint_error_px']:.1f} | {r['iou_hand']:.3f} | "
                     f"{r['iou_object']:.3f} | {r['rotation_median_deg']:.1f} | {poses} | {r['seconds']:.0f} |")
    if rows:
        mean = {k: float(np.nanmean([r[k] for r in rows])) for k in (
            "hand_found", "hand_found_when_visible", "hand_visible", "hand_given", "mpjpe_mm", "mpjpe_detected_mm",
            "keypoint_error_px", "iou_hand", "iou_object")}
        passing = sum(r["rotation_median_deg"] <= 10 for r in rows)
        lines.append(f"| **mean** | {100 * mean['hand_found']:.0f} % | {100 * mean['hand_found_when_visible']:.0f} % "
                     f"({100 * mean['hand_visible']:.0f} %) | {100 * mean['hand_given']:.0f} % | {mean['mpjpe_mm']:.1f} | "
                     f"{mean['mpjpe_detected_mm']:.1f} | {mean['keypoint_error_px']:.1f} | {mean['iou_hand']:.3f} | "
                     f"{mean['iou_object']:.3f} | ≤ 10° on {passing}/{len(rows)} | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_root", type=Path)
    parser.add_argument("out_root", type=Path)
    parser.add_argument("--only", nargs="*", help="sequence names to run (default: all)")
    parser.add_argument("--object-poses", default="auto", choices=("auto", "sfm", "hand"))
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--detector", choices=("legacy", "tasks", "both"), default="both",
                        help="MediaPipe models: the legacy solution, the Tasks hand landmarker, or both fused")
    args = parser.parse_args(argv)
    sequences = sorted(p for p in args.bench_root.iterdir() if (p / "meta.json").is_file())
    if args.only:
        sequences = [p for p in sequences if p.name in args.only]
    rows = []
    for seq in sequences:
        backends = ("legacy", "tasks") if args.detector == "both" else (args.detector,)
        row = measure(seq, args.out_root, args.object_poses, detector_backends=backends)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
