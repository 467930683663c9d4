"""Baselines that use only a sequence's inputs (never ``gt/``): the bar a reconstruction must
clear.

- Hand: the built-in hand fitted by inverse kinematics (``hold.models.hand.fitting.fit_hand``,
  default settings, independent frames) to the init 3D joints and, when present, the init 2D
  keypoints; the fitted joints are then smoothed in time with a Gaussian
  (σ = ``SMOOTHING_FRAMES``). Frames without any init observation are interpolated by the fit.
- Object: the visual hull carved from the masks with the init object poses: a voxel survives
  when at least ``HULL_VOTE`` of the frames that see it put it on an object, hand or ignore
  pixel (the hand may hide the object; noisy poses make strict intersection erode), and the
  surface is extracted with marching cubes. Object poses: the init poses, missing frames
  interpolated (slerp / linear).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from scipy.spatial.transform import Rotation, Slerp
from skimage.measure import marching_cubes

from hold.io.errors import InputError
from hold.io.mesh import Mesh
from hold.io.sequence import LABEL_BACKGROUND, Sequence, load_sequence, write_result
from hold.models.hand import HandModel, load_hand_model
from hold.models.hand.fitting import fit_hand

SMOOTHING_FRAMES = 2.0
HULL_RESOLUTION = 64  # voxels along the longest side of the carving box
HULL_VOTE = 0.9
HULL_MARGIN = 0.3  # the carving box is the object points' box grown by this fraction per side
DEFAULT_BOX_M = 0.4  # carving box side when init/object_points.npy is absent


def interpolate_missing(values: np.ndarray, what: str) -> np.ndarray:
    """Fill frames whose values are NaN [T, ...] by linear interpolation in time (nearest
    known frame at the ends)."""
    T = len(values)
    flat = values.reshape(T, -1).astype(np.float64)
    known = np.isfinite(flat).all(axis=1)
    if not known.any():
        raise InputError(f"{what}: every frame is missing; nothing to interpolate from")
    frames = np.arange(T)
    filled = np.stack([np.interp(frames, frames[known], flat[known, k]) for k in range(flat.shape[1])], axis=1)
    return filled.reshape(values.shape)


def interpolate_poses(poses: np.ndarray, what: str) -> np.ndarray:
    """Fill missing (NaN) rigid poses [T, 4, 4]: slerp for rotations, linear translations."""
    known = np.isfinite(poses).all(axis=(1, 2))
    if not known.any():
        raise InputError(f"{what}: every frame is missing; nothing to interpolate from")
    frames = np.arange(len(poses))
    out = np.tile(np.eye(4), (len(poses), 1, 1))
    out[:, :3, 3] = interpolate_missing(np.where(known[:, None], poses[:, :3, 3], np.nan), what)
    known_frames = frames[known]
    rotations = Rotation.from_matrix(poses[known, :3, :3].astype(np.float64))
    if len(known_frames) == 1:
        out[:, :3, :3] = rotations.as_matrix()[0]
    else:
        inside = np.clip(frames, known_frames[0], known_frames[-1])  # hold the end rotations
        out[:, :3, :3] = Slerp(known_frames, rotations)(inside).as_matrix()
    return out


def smooth_joints(joints: np.ndarray, sigma_frames: float = SMOOTHING_FRAMES) -> np.ndarray:
    """Gaussian smoothing along time of joints [T, 21, 3] (ends: nearest-frame padding)."""
    return gaussian_filter1d(np.asarray(joints, np.float64), sigma_frames, axis=0, mode="nearest")


def baseline_hand_joints(sequence: Sequence, hand_model: HandModel | None = None) -> np.ndarray:
    """Joints [T, 21, 3] of the hand model fitted to the init joints (and 2D keypoints when
    present), then smoothed in time."""
    if sequence.init.hand_joints is None:
        raise InputError(f"{sequence.root / 'init' / 'hand_joints.npy'}: missing; the hand baseline needs it")
    if not np.isfinite(sequence.init.hand_joints).any():
        raise InputError(f"{sequence.root / 'init' / 'hand_joints.npy'}: every frame is missing")
    keypoints = sequence.init.hand_keypoints2d
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many small ops: on a busy 2-core machine one thread is ~4x faster
    try:
        fit = fit_hand(
            hand_model if hand_model is not None else load_hand_model("builtin"),
            joints3d=torch.as_tensor(sequence.init.hand_joints, dtype=torch.float64),
            keypoints2d=None if keypoints is None else torch.as_tensor(keypoints, dtype=torch.float64),
            camera=None if keypoints is None else torch.as_tensor(sequence.meta.K),
        )
    finally:
        torch.set_num_threads(threads)
    return smooth_joints(fit.joints.detach().cpu().numpy())


def _carving_box(sequence: Sequence) -> tuple[np.ndarray, np.ndarray]:
    points = sequence.init.object_points
    if points is None:
        half = np.full(3, DEFAULT_BOX_M / 2)
        return -half, half
    low, high = points.min(axis=0).astype(np.float64), points.max(axis=0).astype(np.float64)
    grow = HULL_MARGIN * (high - low).max()
    return low - grow, high + grow


def visual_hull(sequence: Sequence, poses: np.ndarray, resolution: int = HULL_RESOLUTION,
                vote: float = HULL_VOTE) -> Mesh:
    """The object's visual hull in its own frame from the masks and object poses [T, 4, 4]."""
    if not sequence.has_masks:
        raise InputError(f"{sequence.root / 'masks'}: missing; the visual-hull baseline needs masks")
    low, high = _carving_box(sequence)
    spacing = (high - low).max() / (resolution - 1)
    shape = np.ceil((high - low) / spacing).astype(int) + 1
    axes = [low[i] + spacing * np.arange(shape[i]) for i in range(3)]
    centres = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    K = sequence.meta.K
    width, height = sequence.meta.image_size
    seen = np.zeros(len(centres), np.int32)
    kept = np.zeros(len(centres), np.int32)
    for t in range(sequence.num_frames):
        camera = np.einsum("ij,nj->ni", poses[t, :3, :3], centres) + poses[t, :3, 3]
        pixels = np.einsum("ij,nj->ni", K, camera)
        in_front = pixels[:, 2] > 1e-6
        u = np.round(pixels[:, 0] / np.where(in_front, pixels[:, 2], 1)).astype(np.int64)
        v = np.round(pixels[:, 1] / np.where(in_front, pixels[:, 2], 1)).astype(np.int64)
        inside = in_front & (u >= 0) & (u < width) & (v >= 0) & (v < height)
        labels = sequence.mask(t)[v[inside], u[inside]]
        seen[inside] += 1
        kept[np.flatnonzero(inside)[labels != LABEL_BACKGROUND]] += 1
    occupied = (seen > 0) & (kept >= vote * seen)
    volume = gaussian_filter(occupied.reshape(shape).astype(np.float32), 1.0)
    volume = np.pad(volume, 1)  # a closed surface even where the hull touches the box
    if volume.max() <= 0.5:
        raise InputError(f"{sequence.root}: the visual hull is empty (masks and object poses disagree)")
    vertices, faces, _, _ = marching_cubes(volume, 0.5, spacing=(spacing,) * 3)
    vertices = vertices - spacing + low  # undo the padding, back to the object frame
    return Mesh(vertices.astype(np.float64), faces[:, ::-1].astype(np.int64))  # outward normals


def write_baselines(seq_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Run both baselines on a sequence and write them as one result folder."""
    started = time.perf_counter()
    sequence = load_sequence(seq_dir)
    if sequence.init.object_poses is None:
        raise InputError(f"{sequence.root / 'init' / 'object_poses.npy'}: missing; the object baseline needs it")
    if not sequence.has_masks:
        raise InputError(f"{sequence.root / 'masks'}: missing; the visual-hull baseline needs masks")
    joints = baseline_hand_joints(sequence)
    hand_s = time.perf_counter() - started
    poses = interpolate_poses(sequence.init.object_poses, str(sequence.root / "init" / "object_poses.npy"))
    hull = visual_hull(sequence, poses)
    return write_result(
        out_dir, hull, poses, joints,
        timings_s={"hand": hand_s, "object": time.perf_counter() - started - hand_s},
        config={"baseline": "built-in hand IK on init joints (+ 2D keypoints) + Gaussian smoothing; "
                            "visual hull from masks with init object poses",
                "smoothing_frames": SMOOTHING_FRAMES, "hull_resolution": HULL_RESOLUTION,
                "hull_vote": HULL_VOTE},
    )
