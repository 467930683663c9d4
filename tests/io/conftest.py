"""Small valid sequence/result folders that the tests then break one field at a time."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hold.io.mesh import Mesh
from hold.io.sequence import GroundTruth, SequenceInit, SequenceMeta, write_result, write_sequence

T, W, H = 3, 16, 12


def rigid_poses(num_frames: int, seed: int = 0) -> np.ndarray:
    """[T, 4, 4] random rigid transforms about 0.5 m in front of the camera."""
    rng = np.random.default_rng(seed)
    poses = np.tile(np.eye(4), (num_frames, 1, 1))
    poses[:, :3, :3] = Rotation.random(num_frames, random_state=seed).as_matrix()
    poses[:, :3, 3] = rng.normal(size=(num_frames, 3)) * 0.1 + [0, 0, 0.5]
    return poses


def tetrahedron() -> Mesh:
    vertices = np.array([[0, 0, 0], [0.05, 0, 0], [0, 0.05, 0], [0, 0, 0.05]], dtype=np.float64)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return Mesh(vertices, faces)


@pytest.fixture
def sequence_dir(tmp_path):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(T)]
    masks = [np.full((H, W), 50, np.uint8) for _ in range(T)]
    joints = rng.normal(size=(T, 21, 3)).astype(np.float32)
    joints[1] = np.nan  # a frame the producer could not fill
    init_poses = rigid_poses(T, 2).astype(np.float32)
    init_poses[2] = np.nan
    meta = SequenceMeta(num_frames=T, image_size=(W, H), K=np.array([[20.0, 0, 8], [0, 20, 6], [0, 0, 1]]))
    init = SequenceInit(
        hand_joints=joints,
        hand_keypoints2d=rng.normal(size=(T, 21, 3)).astype(np.float32),
        object_poses=init_poses,
        object_points=rng.normal(size=(50, 3)).astype(np.float32),
        mano={"hand_pose": np.zeros((T, 45)), "global_orient": np.zeros((T, 3)),
              "transl": np.zeros((T, 3)), "betas": np.zeros(10)},
    )
    gt = GroundTruth(hand_joints=rng.normal(size=(T, 21, 3)).astype(np.float32), object_mesh=tetrahedron(),
                     object_poses=rigid_poses(T, 3), valid=np.ones(T, bool))
    return write_sequence(tmp_path / "seq", meta, images, masks, init, gt, video=False)


@pytest.fixture
def result_dir(tmp_path):
    rng = np.random.default_rng(4)
    return write_result(tmp_path / "result", tetrahedron(), rigid_poses(T, 5),
                        rng.normal(size=(T, 21, 3)), timings_s={"total": 1.0})
