"""Baselines: interpolation, smoothing and visual-hull carving on analytic cases."""

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from hold.eval.baselines import (
    baseline_hand_joints,
    interpolate_missing,
    interpolate_poses,
    smooth_joints,
    visual_hull,
    write_baselines,
)
from hold.eval.metrics import mpjpe_per_frame
from hold.io.errors import InputError
from hold.io.sequence import SequenceInit, SequenceMeta, load_result, load_sequence, write_sequence
from hold.models.hand import load_hand_model
from hold.models.hand.poses import named_pose_angles

RADIUS = 0.05


def test_interpolation_is_linear_inside_and_constant_at_the_ends():
    values = np.full((6, 2), np.nan)
    values[1] = [1.0, 10.0]
    values[4] = [4.0, 40.0]
    filled = interpolate_missing(values, "x")
    assert np.allclose(filled[:, 0], [1, 1, 2, 3, 4, 4]) and np.allclose(filled[:, 1], [10, 10, 20, 30, 40, 40])
    with pytest.raises(InputError, match="every frame is missing"):
        interpolate_missing(np.full((3, 2), np.nan), "x")


def test_pose_interpolation_slerps():
    poses = np.full((3, 4, 4), np.nan)
    poses[0], poses[2] = np.eye(4), np.eye(4)
    poses[2, :3, :3] = Rotation.from_rotvec([0, 0, np.pi / 2]).as_matrix()
    poses[2, :3, 3] = [0.2, 0, 0]
    middle = interpolate_poses(poses, "p")[1]
    assert np.allclose(middle[:3, :3], Rotation.from_rotvec([0, 0, np.pi / 4]).as_matrix())
    assert np.allclose(middle[:3, 3], [0.1, 0, 0])


def _sequence_with(tmp_path, joints=None, poses=None, masks=None, points=None, size=(8, 8)):
    T = len(joints if joints is not None else poses)
    meta = SequenceMeta(num_frames=T, image_size=size, K=np.array([[60.0, 0, (size[0] - 1) / 2], [0, 60, (size[1] - 1) / 2], [0, 0, 1]]))
    images = [np.zeros((size[1], size[0], 3), np.uint8)] * T
    init = SequenceInit(hand_joints=joints, object_poses=poses, object_points=points)
    return load_sequence(write_sequence(tmp_path / "seq", meta, images, masks, init, video=False))


def test_smoothing_keeps_linear_motion_and_removes_noise():
    T = 120
    truth = np.zeros((T, 21, 3))
    truth[:, :, 0] = np.linspace(0, 0.3, T)[:, None]  # constant velocity
    truth[:, 1:, 1] = np.random.default_rng(0).normal(size=20) * 0.05  # a fixed hand shape
    noisy = truth + np.random.default_rng(1).normal(size=truth.shape) * 0.008
    # Gaussian smoothing reproduces a linear trajectory exactly away from the ends.
    assert np.allclose(smooth_joints(truth)[10:-10], truth[10:-10], atol=1e-12)
    # White noise shrinks by 1/sqrt(2·sqrt(π)·σ) ≈ 0.38 for σ = 2 frames.
    residual = smooth_joints(noisy)[10:-10] - truth[10:-10]
    assert residual.std() == pytest.approx(0.008 / np.sqrt(2 * np.sqrt(np.pi) * 2.0), rel=0.1)


def hand_track(T, seed=0):
    """Joints [T, 21, 3] of the built-in hand in a grasp pose moving smoothly 0.5 m away."""
    hand = load_hand_model("builtin")
    t = torch.linspace(0, 1, T)[:, None]
    orient = torch.tensor([[1.5, 0.2, 0.0]]) + 0.5 * torch.sin(2 * np.pi * t) * torch.tensor([[0.0, 1.0, 0.3]])
    pose = hand.hand_pose_from_angles(torch.as_tensor(np.deg2rad(named_pose_angles("cylinder")), dtype=torch.float32))
    transl = torch.tensor([[0.0, 0.0, 0.5]]) + 0.05 * torch.cat([torch.sin(2 * np.pi * t), t, 0 * t], 1)
    betas = torch.as_tensor(np.random.default_rng(seed).normal(0, 0.5, hand.num_betas), dtype=torch.float32)
    with torch.no_grad():
        return hand(orient, pose.expand(T, -1), betas, transl).joints.double().numpy()


def test_ik_and_smoothing_beat_the_raw_init(tmp_path):
    T = 24
    truth = hand_track(T)
    noisy = truth + np.random.default_rng(2).normal(size=truth.shape) * 0.008
    noisy[[3, 10]] = np.nan  # frames without a detection
    seq = _sequence_with(tmp_path, joints=noisy.astype(np.float32))
    baseline = baseline_hand_joints(seq)
    observed = [t for t in range(T) if t not in (3, 10)]
    raw = mpjpe_per_frame(noisy[observed], truth[observed]).mean()  # ≈ 17 mm for σ = 8 mm
    assert np.isfinite(baseline).all()
    assert mpjpe_per_frame(baseline, truth).mean() < 0.5 * raw


def test_visual_hull_of_a_sphere(tmp_path):
    """12 exact views of a 5 cm sphere: the carved hull contains the sphere (up to one voxel)
    and is close to it."""
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=RADIUS)
    T, size = 12, (48, 48)
    K = np.array([[60.0, 0, 23.5], [0, 60, 23.5], [0, 0, 1]])
    poses = np.tile(np.eye(4), (T, 1, 1))
    poses[:, :3, :3] = Rotation.random(T, random_state=0).as_matrix()
    poses[:, :3, 3] = [0, 0, 0.3]
    u, v = np.meshgrid(np.arange(size[0]), np.arange(size[1]))
    rays = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    masks = []
    for t in range(T):
        moved = sphere.copy()
        moved.apply_transform(poses[t])
        hit = moved.ray.intersects_any(np.zeros_like(rays), rays)
        masks.append(np.where(hit, 50, 0).astype(np.uint8).reshape(size[1], size[0]))
    points = sphere.sample(200, seed=0).astype(np.float32)
    seq = _sequence_with(tmp_path, poses=poses.astype(np.float32), masks=masks, points=points, size=size)
    hull = visual_hull(seq, poses)
    voxel = (2 * RADIUS * 1.6) / 63
    radii = np.linalg.norm(hull.vertices, axis=1)
    assert radii.min() > RADIUS - 1.5 * voxel  # contains the sphere
    assert np.median(radii) < RADIUS * 1.15  # and is not much bigger
    assert trimesh.Trimesh(hull.vertices, hull.faces).is_watertight


def test_write_baselines_on_a_sequence(tmp_path):
    T = 5
    poses = np.tile(np.eye(4), (T, 1, 1)).astype(np.float32)
    poses[:, 2, 3] = 0.3
    poses[2] = np.nan  # a missing init pose is interpolated
    masks = [np.zeros((8, 8), np.uint8) for _ in range(T)]
    for m in masks:
        m[2:6, 2:6] = 50
    seq = _sequence_with(tmp_path, joints=hand_track(T).astype(np.float32), poses=poses, masks=masks,
                         points=np.random.default_rng(1).uniform(-0.01, 0.01, (30, 3)).astype(np.float32))
    result = load_result(write_baselines(seq.root, tmp_path / "baseline"), num_frames=T)
    assert np.allclose(result.object_poses[2], result.object_poses[1])
    assert result.info["config"]["hull_vote"] == 0.9


@pytest.mark.parametrize("missing", ["masks", "poses", "joints"])
def test_baselines_name_the_missing_input(tmp_path, missing):
    T = 3
    poses = np.tile(np.eye(4), (T, 1, 1)).astype(np.float32)
    poses[:, 2, 3] = 0.3
    seq = _sequence_with(
        tmp_path,
        joints=None if missing == "joints" else np.zeros((T, 21, 3), np.float32),
        poses=None if missing == "poses" else poses,
        masks=None if missing == "masks" else [np.full((8, 8), 50, np.uint8)] * T,
    )
    with pytest.raises(InputError, match={"masks": "masks", "poses": "object_poses", "joints": "hand_joints"}[missing]):
        write_baselines(seq.root, tmp_path / "out")
