"""hold.io.mirror: the mirror x → −x against independent geometry (projection of flipped
images, rigid conjugation, forward kinematics of a mirrored skeleton), the engine's view of a
left-hand sequence, and the result's way back."""

import numpy as np
import pytest
import torch

from hold.io import mirror
from hold.io.mesh import Mesh
from hold.io.sequence import SequenceInit, SequenceMeta, load_result, load_sequence, write_result, write_sequence
from hold.models.hand.base import PARENTS
from hold.models.hand.kinematics import axis_angle_to_matrix, bone_transforms

RNG = np.random.default_rng(7)


def _rotation(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def _project(K, points):
    uv = points @ K.T
    return uv[..., :2] / uv[..., 2:]


def test_flipped_image_is_the_mirrored_scene_through_the_mirrored_K():
    W = 97
    K = np.array([[210.0, 1.5, 40.3], [0, 205.0, 51.0], [0, 0, 1]])  # skew and off-centre cx
    points = RNG.uniform([-0.2, -0.2, 0.4], [0.2, 0.2, 1.0], size=(50, 3))
    flipped_u = W - 1 - _project(K, points)[:, 0]
    mirrored = _project(mirror.mirror_K(K, W), mirror.mirror_points(points))
    np.testing.assert_allclose(mirrored[:, 0], flipped_u, atol=1e-9)
    np.testing.assert_allclose(mirrored[:, 1], _project(K, points)[:, 1], atol=1e-9)
    # A pixel-exact check on a flipped image: column u holds what column W-1-u held.
    image = RNG.integers(0, 255, (5, W, 3), dtype=np.uint8)
    assert (mirror.mirror_images(image)[:, 3] == image[:, W - 4]).all()
    assert (mirror.mirror_masks(image[..., 0])[:, 3] == image[:, W - 4, 0]).all()
    np.testing.assert_allclose(mirror.mirror_pixels(np.array([[3.0, 7.0, 0.9]]), W), [[W - 4, 7.0, 0.9]])


def test_poses_stay_rigid_and_move_the_mirrored_object():
    poses = np.tile(np.eye(4), (4, 1, 1))
    for T in poses:
        T[:3, :3], T[:3, 3] = _rotation(RNG), RNG.normal(size=3)
    mirrored = mirror.mirror_poses(poses)
    assert np.allclose(np.linalg.det(mirrored[:, :3, :3]), 1.0)
    assert np.allclose(mirrored[:, :3, :3] @ mirrored[:, :3, :3].transpose(0, 2, 1), np.eye(3))
    points = RNG.normal(size=(20, 3))
    for T, Tm in zip(poses, mirrored):
        posed = points @ T[:3, :3].T + T[:3, 3]
        posed_mirrored = mirror.mirror_points(points) @ Tm[:3, :3].T + Tm[:3, 3]
        np.testing.assert_allclose(posed_mirrored, mirror.mirror_points(posed), atol=1e-12)
    np.testing.assert_allclose(mirror.mirror_poses(mirrored), poses, atol=1e-15)


def test_axis_angle_rule_mirrors_forward_kinematics():
    """A skeleton with mirrored rest joints, posed with the converted axis-angles, is the mirror
    image of the original posed skeleton (smplx kinematics, hold.models.hand.kinematics)."""
    rest = torch.tensor(RNG.normal(size=(1, 16, 3)) * 0.05)
    pose = RNG.normal(size=(1, 16 * 3)) * 0.6
    transl = RNG.normal(size=(1, 3)) * 0.1

    def posed_joints(rest_joints, axis_angles, translation):
        rotations = axis_angle_to_matrix(torch.tensor(axis_angles).reshape(1, 16, 3))
        return bone_transforms(rotations, rest_joints, PARENTS, torch.tensor(translation))[1][0].numpy()

    original = posed_joints(rest, pose, transl)
    params = mirror.mirror_hand_params({"global_orient": pose[:, :3], "hand_pose": pose[:, 3:], "transl": transl,
                                        "betas": np.zeros(10)})
    mirrored = posed_joints(torch.tensor(mirror.mirror_points(rest.numpy())),
                            np.concatenate([params["global_orient"], params["hand_pose"]], 1), params["transl"])
    np.testing.assert_allclose(mirrored, mirror.mirror_points(original), atol=1e-12)


def test_mirrored_mesh_keeps_outward_normals():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # outward-facing tetrahedron

    def signed_volume(v, f):
        return np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6

    v2, f2 = mirror.mirror_mesh(vertices, faces)
    assert signed_volume(vertices, faces) > 0 and np.isclose(signed_volume(v2, f2), signed_volume(vertices, faces))


@pytest.fixture
def left_sequence(tmp_path):
    """A 3-frame left-hand sequence whose keypoints are its joints' projections."""
    T, W, H = 3, 24, 16
    K = np.array([[30.0, 0, 9.0], [0, 30.0, 8.0], [0, 0, 1]])
    joints = RNG.uniform([-0.05, -0.05, 0.4], [0.05, 0.05, 0.5], size=(T, 21, 3)).astype(np.float32)
    keypoints = np.concatenate([_project(K, joints.astype(float)), np.ones((T, 21, 1))], -1).astype(np.float32)
    poses = np.tile(np.eye(4, dtype=np.float32), (T, 1, 1))
    poses[:, :3, :3] = _rotation(RNG)
    poses[:, :3, 3] = [0.01, 0.02, 0.45]
    images = [RNG.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(T)]
    masks = [np.where(RNG.random((H, W)) < 0.5, 150, 50).astype(np.uint8) for _ in range(T)]
    meta = SequenceMeta(num_frames=T, image_size=(W, H), K=K, hands=("left",))
    init = SequenceInit(hand_joints=joints, hand_keypoints2d=keypoints, object_poses=poses,
                        object_points=RNG.normal(size=(12, 3)).astype(np.float32))
    write_sequence(tmp_path / "left", meta, images, masks, init, video=False)
    return tmp_path / "left", images, masks


def test_left_sequence_is_version_2_and_the_engine_sees_a_consistent_mirror(left_sequence):
    path, images, masks = left_sequence
    seq = load_sequence(path)
    assert seq.meta.hands == ("left",)
    assert '"version": 2' in (path / "meta.json").read_text()
    view = mirror.engine_view(seq)
    assert view.meta.hands == ("right",) and view.original is seq
    assert (view.image(1) == images[1][:, ::-1]).all() and (view.mask(2) == masks[2][:, ::-1]).all()
    # The mirrored keypoints are the projections of the mirrored joints through the mirrored K.
    np.testing.assert_allclose(_project(view.meta.K, view.init.hand_joints.astype(float)),
                               view.init.hand_keypoints2d[..., :2], atol=1e-4)
    assert np.allclose(np.linalg.det(view.init.object_poses[:, :3, :3]), 1.0, atol=1e-5)
    assert mirror.engine_view(view) is view  # a right-hand sequence is left alone


def test_result_goes_back_to_the_original_video(tmp_path):
    T = 2
    poses = np.tile(np.eye(4), (T, 1, 1))
    poses[:, :3, :3] = _rotation(RNG)
    poses[:, :3, 3] = [0.02, 0.0, 0.5]
    joints = RNG.normal(size=(T, 21, 3))
    vertices, faces = RNG.normal(size=(T, 5, 3)), np.array([[0, 1, 2], [2, 3, 4]])
    params = {"global_orient": RNG.normal(size=(T, 3)), "hand_pose": RNG.normal(size=(T, 45)),
              "transl": RNG.normal(size=(T, 3)), "betas": np.zeros(10)}
    mesh = (RNG.normal(size=(6, 3)), np.array([[0, 1, 2], [3, 4, 5]]))
    same = mirror.result_to_original(("right",), mesh, poses, joints, (vertices, faces), params)
    assert same[1] is poses and same[4] is params
    (ov, of), op, oj, (hv, hf), hp = mirror.result_to_original(("left",), mesh, poses, joints, (vertices, faces), params)
    np.testing.assert_allclose(oj[..., 0], -joints[..., 0])
    np.testing.assert_allclose(hv[..., 0], -vertices[..., 0])
    assert (hf == faces[:, ::-1]).all() and (of == mesh[1][:, ::-1]).all()
    assert str(hp["side"]) == "left" and np.allclose(hp["hand_pose"][:, 1::3], -params["hand_pose"][:, 1::3])
    # The object posed at each frame is the mirror image of the engine's posed object.
    for t in range(T):
        engine = mesh[0] @ poses[t, :3, :3].T + poses[t, :3, 3]
        np.testing.assert_allclose(ov @ op[t, :3, :3].T + op[t, :3, 3], mirror.mirror_points(engine), atol=1e-12)
    write_result(tmp_path / "out", Mesh(ov, of), op, oj, hand_meshes=(hv, hf), hand_params=hp, hands=("left",))
    result = load_result(tmp_path / "out", T)
    assert result.info["hands"] == ["left"] and result.info["version"] == 2
