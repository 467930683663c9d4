"""Checks a synthetic sequence against its own ground truth with independent means: trimesh
ray casting (embree) for visibility and dense surface samples for distances. Nothing here uses
the generator's renderer or distance code.

- Labels: a vertex is *visible* when the ray from the camera centre to it reaches it first and
  the ray through the centre of its pixel meets a surface within ``DEPTH_TOLERANCE_M`` of its
  depth (a z-buffer test that leaves out pixels straddling a depth discontinuity); each
  visible vertex should project onto its own label (hand 150, object 50, forearm 0).
- Contact: per frame, the fingertips' distances to the object surface and the depth of the
  deepest hand vertex inside the object (dense samples over-estimate distances by < 0.1 mm,
  so the reported numbers are upper bounds).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from hold.io.sequence import LABEL_BACKGROUND, LABEL_HAND, LABEL_OBJECT, load_ground_truth, load_sequence
from hold.models.hand.base import TIP_KEYPOINTS

DEPTH_TOLERANCE_M = 0.005
REACH_TOLERANCE_M = 2e-4
SURFACE_SAMPLES = 1_000_000


def _posed(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    pose = np.asarray(pose, np.float64)
    return np.einsum("ij,nj->ni", pose[:3, :3], points) + pose[:3, 3]


def _first_hits(world: trimesh.Trimesh, directions: np.ndarray) -> np.ndarray:
    """Hit points [N, 3] of rays from the camera centre along directions [N, 3] (NaN: miss)."""
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    locations, rays, _ = world.ray.intersects_location(np.zeros_like(unit), unit, multiple_hits=False)
    hits = np.full(unit.shape, np.nan)
    hits[rays] = locations
    return hits


def load_scene(seq_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The generator's extra ground truth, gt/synth_scene.npz."""
    with np.load(Path(seq_dir) / "gt" / "synth_scene.npz") as npz:
        return {key: npz[key] for key in npz.files}


def label_agreement(seq_dir: str | os.PathLike) -> dict[int, tuple[int, int]]:
    """{label: (visible vertices, those on their own label)} over all frames."""
    seq, gt, scene = load_sequence(seq_dir), load_ground_truth(seq_dir), load_scene(seq_dir)
    K = seq.meta.K
    width, height = seq.meta.image_size
    counts = {LABEL_HAND: [0, 0], LABEL_BACKGROUND: [0, 0], LABEL_OBJECT: [0, 0]}
    for t in range(seq.num_frames):
        parts = {
            LABEL_HAND: (_posed(scene["hand_to_camera"][t], scene["hand_vertices"]), scene["hand_faces"]),
            LABEL_BACKGROUND: (_posed(scene["hand_to_camera"][t], scene["forearm_vertices"]), scene["forearm_faces"]),
            LABEL_OBJECT: (_posed(gt.object_poses[t], gt.object_mesh.vertices), gt.object_mesh.faces),
        }
        world = trimesh.util.concatenate([trimesh.Trimesh(v, f, process=False) for v, f in parts.values()])
        mask = seq.mask(t)
        for label, (vertices, _) in parts.items():
            reached = np.linalg.norm(_first_hits(world, vertices) - vertices, axis=1) < REACH_TOLERANCE_M
            uv = np.einsum("ij,nj->ni", K, vertices)
            u = np.round(uv[:, 0] / uv[:, 2]).astype(int)
            v = np.round(uv[:, 1] / uv[:, 2]).astype(int)
            in_image = (u >= 0) & (u < width) & (v >= 0) & (v < height)
            pixel_rays = np.einsum("ij,nj->ni", np.linalg.inv(K), np.stack([u, v, np.ones_like(u)], axis=1))
            pixel_depth = _first_hits(world, pixel_rays)[:, 2]
            with np.errstate(invalid="ignore"):
                visible = reached & in_image & (np.abs(pixel_depth - vertices[:, 2]) < DEPTH_TOLERANCE_M)
            counts[label][0] += int(visible.sum())
            counts[label][1] += int((mask[v[visible], u[visible]] == label).sum())
    return {label: (total, good) for label, (total, good) in counts.items()}


def contact_per_frame(seq_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(fingertip distances to the object surface [T, 5], deepest hand vertex inside the
    object [T] (0 when none is inside)), metres, upper bounds within 0.1 mm."""
    gt, scene = load_ground_truth(seq_dir), load_scene(seq_dir)
    closed = trimesh.Trimesh(gt.object_mesh.vertices, gt.object_mesh.faces)  # merges UV seams
    if not closed.is_watertight:
        raise ValueError(f"{seq_dir}: gt/object_mesh.obj is not closed; inside tests need a closed mesh")
    samples, _ = trimesh.sample.sample_surface(closed, SURFACE_SAMPLES, seed=1)
    tree = cKDTree(samples)
    T = len(gt.object_poses)
    tips, depth = np.empty((T, 5)), np.zeros(T)
    for t in range(T):
        to_object = np.linalg.inv(gt.object_poses[t].astype(np.float64))
        tips[t] = tree.query(_posed(to_object, gt.hand_joints[t, list(TIP_KEYPOINTS)]))[0]
        hand = _posed(to_object @ scene["hand_to_camera"][t].astype(np.float64), scene["hand_vertices"])
        inside = closed.contains(hand)
        if inside.any():
            depth[t] = tree.query(hand[inside])[0].max()
    return tips, depth
