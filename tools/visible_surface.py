#!/usr/bin/env python
"""How much of a synthetic sequence's object surface any frame shows, and how a result's shape
error splits between the surface that is seen and the surface that never is.

    python tools/visible_surface.py SEQ_DIR [RESULT_DIR]

The ground-truth object, hand and forearm (`gt/synth_scene.npz`, written by `hold-fast synth`)
are splatted into a z-buffer per frame from dense surface samples. A point of the evaluation's
10,000 ground-truth samples counts as seen when, in some frame, it lies in the image and no
more than 3 mm behind the nearest surface at its pixel. With RESULT_DIR, the gt→pred distances
of the evaluation protocol (same samples, same alignment) are reported on both parts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DEPTH_TOLERANCE_M = 0.003


def seen_mask(seq: Path, gt, gt_points: np.ndarray) -> np.ndarray:
    from hold.eval.metrics import sample_surface, transform_points as place

    meta = json.loads((seq / "meta.json").read_text())
    K = np.asarray(meta["K"], dtype=np.float64)
    width, height = meta["image_size"]
    scene = np.load(seq / "gt" / "synth_scene.npz")
    obj = sample_surface(gt.object_mesh.vertices, gt.object_mesh.faces, 300_000, 1)
    hand = np.concatenate([
        sample_surface(scene["hand_vertices"], scene["hand_faces"], 200_000, 2),
        sample_surface(scene["forearm_vertices"], scene["forearm_faces"], 100_000, 3)])

    def project(points):
        uvw = points @ K.T
        pixels = np.floor(uvw[:, :2] / uvw[:, 2:3]).astype(np.int64)
        inside = ((pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0)
                  & (pixels[:, 1] < height) & (uvw[:, 2] > 0))
        return pixels, uvw[:, 2], inside

    seen = np.zeros(len(gt_points), dtype=bool)
    for t, object_pose in enumerate(gt.object_poses):
        hand_pose = scene["hand_to_camera"][t]
        pixels, depth, inside = project(np.concatenate([place(object_pose, obj),
                                                        place(hand_pose, hand)]))
        zbuffer = np.full((height, width), np.inf)
        np.minimum.at(zbuffer, (pixels[inside, 1], pixels[inside, 0]), depth[inside])
        pixels, depth, inside = project(place(object_pose, gt_points))
        front = zbuffer[pixels[inside, 1], pixels[inside, 0]] + DEPTH_TOLERANCE_M
        visible = np.zeros(len(gt_points), dtype=bool)
        visible[inside] = depth[inside] <= front
        seen |= visible
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sequence", type=Path)
    parser.add_argument("result", type=Path, nargs="?")
    args = parser.parse_args()

    from hold.eval.metrics import sample_surface
    from hold.eval.protocol import PROTOCOL, first_scored_frame_rotation, shape_metrics
    from hold.io.sequence import load_ground_truth, load_result

    if not (args.sequence / "gt" / "synth_scene.npz").is_file():
        raise SystemExit(f"{args.sequence / 'gt' / 'synth_scene.npz'}: missing; this tool needs a "
                         "sequence written by `hold-fast synth` (it z-buffers the scene)")
    gt = load_ground_truth(args.sequence)
    gt_points = sample_surface(gt.object_mesh.vertices, gt.object_mesh.faces,
                               PROTOCOL.num_samples, PROTOCOL.seed)
    seen = seen_mask(args.sequence, gt, gt_points)
    print(f"{args.sequence}: {100 * seen.mean():.1f} % of the object's surface is seen in "
          "some frame")
    if args.result is None:
        return
    result = load_result(args.result)
    pred_points = sample_surface(result.object_mesh.vertices, result.object_mesh.faces,
                                 PROTOCOL.num_samples, PROTOCOL.seed)
    start = first_scored_frame_rotation(result, gt, np.flatnonzero(gt.valid))
    metrics = shape_metrics(pred_points, gt_points, extra_starts=start[None],
                            return_distances=True)
    squared = (metrics["distances"].gt_to_pred * 100) ** 2  # cm²
    print(f"CD {metrics['cd_cm2']:.3f} cm²; gt→pred mean d²: {squared.mean():.3f} cm² over all, "
          f"{squared[seen].mean():.3f} on the seen surface, {squared[~seen].mean():.3f} on the "
          f"never-seen surface ({100 * squared[~seen].sum() / squared.sum():.0f} % of the sum)")


if __name__ == "__main__":
    main()
