"""Fixtures: small sequence folders with ground truth (a real YCB mug, random poses, joints of
the built-in hand)."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hold.io.mesh import load_mesh
from hold.models.hand import load_hand_model
from hold.models.hand.poses import named_pose_angles
from hold.io.sequence import GroundTruth, SequenceInit, SequenceMeta, write_result, write_sequence

MUG = "hold/data/ycb/025_mug/mesh.obj"
T = 4
_FREE = np.array([1.0, 0.3, 0.0])  # jitter flexion freely, abduction a little, never twist


def _hand_joints(seed):
    """[T, 21, 3] joints of the built-in hand in a random articulation, ~0.5 m away."""
    hand = load_hand_model("builtin")
    rng = np.random.default_rng(seed)
    angles = np.deg2rad(named_pose_angles("cylinder")) + rng.normal(0, 0.1, (15, 3)) * _FREE
    pose = hand.hand_pose_from_angles(torch.as_tensor(angles, dtype=torch.float32))
    orient = torch.as_tensor(Rotation.random(T, random_state=seed).as_rotvec(), dtype=torch.float32)
    transl = torch.as_tensor(rng.normal(0, 0.03, (T, 3)) + [0.0, 0.0, 0.5], dtype=torch.float32)
    with torch.no_grad():
        return hand(orient, pose.expand(T, -1), torch.zeros(hand.num_betas), transl).joints.numpy()


def _make_sequence(path, seed=0, valid=None, with_inputs=False):
    rng = np.random.default_rng(seed)
    poses = np.tile(np.eye(4), (T, 1, 1))
    poses[:, :3, :3] = Rotation.random(T, random_state=seed).as_matrix()
    poses[:, :3, 3] = [0.0, 0.0, 0.5]
    joints = _hand_joints(seed)
    gt = GroundTruth(joints, load_mesh(MUG), poses.astype(np.float32),
                     np.ones(T, bool) if valid is None else valid)
    meta = SequenceMeta(num_frames=T, image_size=(8, 8), K=np.array([[10.0, 0, 4], [0, 10, 4], [0, 0, 1]]))
    images = [np.zeros((8, 8, 3), np.uint8)] * T
    masks, init = None, None
    if with_inputs:  # a centred object blob in every mask, init = truth + noise
        masks = [np.zeros((8, 8), np.uint8) for _ in range(T)]
        for mask in masks:
            mask[2:6, 2:6] = 50
        init = SequenceInit(hand_joints=joints + rng.normal(size=joints.shape).astype(np.float32) * 0.005,
                            object_poses=poses.astype(np.float32),
                            object_points=gt.object_mesh.vertices[::10].astype(np.float32))
    return write_sequence(path, meta, images, masks, init, gt, video=False), gt


def _gt_as_result(path, gt, joints=None, mesh=None, poses=None):
    return write_result(path, mesh or gt.object_mesh, gt.object_poses if poses is None else poses,
                        gt.hand_joints if joints is None else joints)


@pytest.fixture
def make_sequence():
    """make_sequence(path, seed=0, valid=None, with_inputs=False) -> (folder, GroundTruth),
    T = 4 frames; with_inputs adds masks and init/ (joints, poses, object points)."""
    return _make_sequence


@pytest.fixture
def gt_as_result():
    """gt_as_result(path, gt, joints=None, mesh=None, poses=None) -> result folder."""
    return _gt_as_result
