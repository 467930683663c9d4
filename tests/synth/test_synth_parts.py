"""Pieces of the generator: noise models, the foreign hand, geometry helpers."""

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from hold.io.sequence import load_ground_truth
from hold.models.hand import load_hand_model
from hold.synth.foreign_hand import FINGER_BONES, ForeignHand
from hold.synth.generate import NoiseOptions, _noisy_masks, _perturb_poses, generate_sequence
from hold.synth.geometry import MeshDistance, closest_points_on_triangles


def test_pose_noise_has_the_stated_rms_angle_and_translation():
    rng = np.random.default_rng(0)
    poses = np.tile(np.eye(4), (20000, 1, 1))
    poses[:, :3, :3] = Rotation.random(20000, random_state=1).as_matrix()
    noisy = _perturb_poses(poses, rotation_deg=5.0, translation_m=0.01, rng=rng)
    relative = Rotation.from_matrix(noisy[:, :3, :3] @ poses[:, :3, :3].transpose(0, 2, 1))
    angles = np.rad2deg(relative.magnitude())
    assert np.sqrt(np.mean(angles**2)) == pytest.approx(5.0, rel=0.02)
    assert noisy[:, :3, 3].std(axis=0) == pytest.approx([0.01] * 3, rel=0.03)


def test_mask_noise_moves_only_boundaries():
    labels = np.zeros((1, 80, 80), np.uint8)
    labels[0, 20:60, 15:45] = 50
    labels[0, 30:50, 40:70] = 150
    noisy = _noisy_masks(labels, noise_px=2.0, rng=np.random.default_rng(0))
    assert set(np.unique(noisy)) <= {0, 50, 150}
    changed = noisy != labels
    assert changed.any()
    # Every changed pixel lies within a few pixels of a label boundary.
    edges = np.zeros_like(labels[0], bool)
    edges[:-1] |= labels[0, :-1] != labels[0, 1:]
    edges[:, :-1] |= labels[0, :, :-1] != labels[0, :, 1:]
    distance_to_edge = cKDTree(np.argwhere(edges)).query(np.argwhere(changed[0]))[0]
    assert distance_to_edge.max() <= 2.0 * 5  # 5 σ of the displacement + erosion radius
    # Each region changes by at most ~(erosion radius + 2 σ jitter) pixels along its perimeter.
    for label, perimeter in ((50, 2 * (40 + 30)), (150, 2 * (20 + 30))):
        a, b = labels[0] == label, noisy[0] == label
        assert (a ^ b).sum() <= (2.0 + 2 * 2.0) * perimeter


def test_foreign_hand_with_unit_factors_is_the_builtin_hand():
    base = load_hand_model("builtin")
    same = ForeignHand(base, {f: 1.0 for f in FINGER_BONES}, 1.0)
    args = (torch.randn(2, 3), 0.3 * torch.randn(2, 45), torch.randn(2, base.num_betas), torch.randn(2, 3))
    assert torch.allclose(same(*args).vertices, base(*args).vertices, atol=1e-6)
    assert torch.allclose(same(*args).joints, base(*args).joints, atol=1e-6)


def test_foreign_hand_scales_each_finger_independently():
    base = load_hand_model("builtin")
    lengths = {"index": 1.2, "middle": 0.85, "ring": 1.0, "pinky": 1.0, "thumb": 1.1}
    hand = ForeignHand(base, lengths, 1.25)
    zeros = (torch.zeros(1, 3), torch.zeros(1, 45), torch.zeros(1, base.num_betas), torch.zeros(1, 3))
    new, old = hand(*zeros).joints[0], base(*zeros).joints[0]

    def bone(j, a, b):
        return (j[a] - j[b]).norm().item()

    assert bone(new, 6, 5) / bone(old, 6, 5) == pytest.approx(1.2, rel=1e-4)  # index MCP→PIP
    assert bone(new, 10, 9) / bone(old, 10, 9) == pytest.approx(0.85, rel=1e-4)  # middle MCP→PIP
    assert bone(new, 14, 13) / bone(old, 14, 13) == pytest.approx(1.0, rel=1e-4)  # ring unchanged
    # The index-to-middle length ratio changes by 1.2 / 0.85, which no built-in shape (all
    # fingers scaled together) can produce.
    ratio_new = bone(new, 6, 5) / bone(new, 10, 9)
    ratio_old = bone(old, 6, 5) / bone(old, 10, 9)
    assert ratio_new / ratio_old == pytest.approx(1.2 / 0.85, rel=1e-4)


def test_generate_with_foreign_hand_and_mask_noise(tmp_path):
    noise = NoiseOptions(foreign_hand=True, mask_noise_px=1.5, joint_sigma_m=0.02)
    generate_sequence(tmp_path / "seq", object="potted_meat", frames=3, size=(48, 48), seed=5, noise=noise, video=False)
    gt = load_ground_truth(tmp_path / "seq")
    with np.load(tmp_path / "seq" / "gt" / "synth_scene.npz") as scene:
        assert bool(scene["foreign_hand"])
        hand_vertices = scene["hand_vertices"]
    # The rendered hand is not the built-in one with any betas: its finger proportions differ.
    builtin = load_hand_model("builtin")
    assert hand_vertices.shape == builtin.template.shape
    joints = gt.hand_joints[0]
    index_over_middle = np.linalg.norm(joints[6] - joints[5]) / np.linalg.norm(joints[10] - joints[9])
    rest = builtin.rest_joints.numpy()  # 16 bone origins: index MCP/PIP = 1/2, middle = 4/5
    builtin_ratio = np.linalg.norm(rest[2] - rest[1]) / np.linalg.norm(rest[5] - rest[4])
    assert abs(np.log(index_over_middle / builtin_ratio)) > np.log(1.15 / 0.88) - 1e-3


def test_exact_distances_match_dense_sampling():
    box = trimesh.creation.box((0.04, 0.06, 0.1))
    distance = MeshDistance(box, count=20000, seed=0)
    points = np.random.default_rng(0).uniform(-0.08, 0.08, (500, 3))
    # Closed form for a box: outside, the norm of the per-axis excess; inside, minus the
    # smallest distance to a face.
    half = np.array([0.02, 0.03, 0.05])
    excess = np.abs(points) - half
    expected = np.where((excess <= 0).all(axis=1), excess.max(axis=1), np.linalg.norm(np.maximum(excess, 0), axis=1))
    assert np.allclose(distance.signed(points), expected, atol=1e-12)
    # No point to query (no hand vertex near the object, as for some grasps): an empty answer.
    assert distance.signed(np.zeros((0, 3))).shape == (0,)


def test_closest_point_is_never_beaten_by_a_sample_of_the_triangle():
    rng = np.random.default_rng(0)
    triangles, points = rng.normal(size=(300, 3, 3)), 2 * rng.normal(size=(300, 3))
    closest = closest_points_on_triangles(points, triangles[:, 0], triangles[:, 1], triangles[:, 2])
    u, v = rng.random((2, 300, 2000))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    samples = triangles[:, None, 0] + u[..., None] * (triangles[:, None, 1] - triangles[:, None, 0]) \
        + v[..., None] * (triangles[:, None, 2] - triangles[:, None, 0])
    sampled = np.linalg.norm(samples - points[:, None], axis=2).min(axis=1)
    exact = np.linalg.norm(closest - points, axis=1)
    assert (exact <= sampled + 1e-12).all() and np.median(sampled - exact) < 0.05
