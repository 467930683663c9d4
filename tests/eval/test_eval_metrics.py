"""Metric building blocks against closed-form expectations."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hold.eval.metrics import (
    align_similarity,
    center_points,
    chamfer,
    f_score,
    hand_relative_chamfer_per_frame,
    mpjpe_per_frame,
    sample_surface,
    umeyama,
)
from hold.eval.protocol import shape_metrics
from hold.io.mesh import load_mesh

DRILL = "hold/data/ycb/035_power_drill/mesh.obj"


def sphere_points(count, radius, seed):
    points = np.random.default_rng(seed).normal(size=(count, 3))
    return radius * points / np.linalg.norm(points, axis=1, keepdims=True)


def test_samples_lie_on_the_surface_uniformly_by_area():
    # Two unit squares' worth of triangles, one 4x larger: it must get ~4/5 of the samples.
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 5], [2, 0, 5], [0, 2, 5]], float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    points = sample_surface(vertices, faces, 20000, seed=3)
    on_big = np.isclose(points[:, 2], 5)
    assert abs(on_big.mean() - 0.8) < 0.01  # binomial sd = 0.003
    small = points[~on_big]
    assert np.allclose(small[:, 2], 0) and (small[:, :2] >= 0).all() and (small[:, :2].sum(axis=1) <= 1 + 1e-12).all()
    # Uniform inside a triangle: the mean is the centroid.
    assert np.allclose(small[:, :2].mean(axis=0), [1 / 3, 1 / 3], atol=0.01)
    assert np.array_equal(sample_surface(vertices, faces, 100, seed=3), sample_surface(vertices, faces, 100, seed=3))


def test_identical_meshes_score_exactly_zero():
    mesh = load_mesh(DRILL)
    pred = sample_surface(mesh.vertices, mesh.faces, 10000, seed=0)
    gt = sample_surface(mesh.vertices.copy(), mesh.faces.copy(), 10000, seed=0)
    metrics = shape_metrics(pred, gt)
    assert metrics["cd_cm2"] == 0.0
    assert metrics["f5_percent"] == 100.0 and metrics["f10_percent"] == 100.0


def test_concentric_spheres_match_the_closed_form():
    """Spheres of radius r and r+δ (cm), N uniform samples each, no alignment.

    For a point on one sphere, the nearest sample on the other lies at squared distance
    δ² + (1 + O(δ/r))·ρ², where ρ is the tangential distance to the nearest of N uniform samples
    on a sphere of area A = 4πr²: P(ρ > x) = exp(−Nπx²/A), so E[ρ²] = A/(πN) = 4r²/N.
    Summing both directions with the radius factors gives
        CD ≈ 2δ² + 8·r·(r + δ)/N.
    The sampling term's relative standard deviation is ~1/√N·√2 ≈ 1.4 % (exponential ρ²), so
    10 % of that term is a > 5 σ tolerance. Distances all exceed δ, so F@δ is exactly 0.
    """
    r_cm, delta_cm, count = 5.0, 0.5, 10000
    result = chamfer(sphere_points(count, (r_cm + delta_cm) / 100, 1), sphere_points(count, r_cm / 100, 2))
    sampling_term = 8 * r_cm * (r_cm + delta_cm) / count
    assert abs(result.cd - (2 * delta_cm**2 + sampling_term)) < 0.1 * sampling_term
    assert f_score(result.pred_to_gt, result.gt_to_pred, 0.005) == 0.0
    # Every distance is below sqrt(δ² + ρ²_max) ≪ 1 cm: F10 is exactly 100.
    assert f_score(result.pred_to_gt, result.gt_to_pred, 0.010) == 100.0


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(50, 3))
    R = Rotation.from_rotvec([0.3, -2.0, 1.0]).as_matrix()
    target = 1.7 * source @ R.T + [1, 2, 3]
    scale, rotation, translation = umeyama(source, target)
    assert scale == pytest.approx(1.7) and np.allclose(rotation, R) and np.allclose(translation, [1, 2, 3])


def test_rotated_translated_scaled_copy_aligns_to_zero():
    mesh = load_mesh(DRILL)
    R = Rotation.from_rotvec([1.2, -0.7, 2.0]).as_matrix()  # a 2.4 rad rotation
    moved = 1.2 * mesh.vertices @ R.T + [0.3, -0.1, 0.5]
    gt = sample_surface(mesh.vertices, mesh.faces, 10000, seed=0)
    pred = sample_surface(moved, mesh.faces, 10000, seed=0)
    before = chamfer(center_points(pred), center_points(gt)).cd
    metrics = shape_metrics(pred, gt)
    assert before > 10  # far apart before alignment
    assert metrics["cd_cm2"] < 1e-8 and metrics["f5_percent"] == 100.0
    assert metrics["icp_scale"] == pytest.approx(1 / 1.2, rel=1e-6)


def test_alignment_of_independent_samples_reaches_the_sampling_floor():
    mesh = load_mesh(DRILL)
    gt = center_points(sample_surface(mesh.vertices, mesh.faces, 10000, seed=0))
    pred = center_points(sample_surface(mesh.vertices, mesh.faces, 10000, seed=5))
    _, cd_aligned = align_similarity(pred, gt, restarts=0)
    # Floor for two independent N-sample sets of one surface of area A (cm²): 2·A/(πN)
    # (the sphere derivation with δ = 0, locally flat), here ~0.03 cm².
    area_cm2 = 0.5 * np.linalg.norm(np.cross(*(mesh.vertices[mesh.faces][:, 1:] - mesh.vertices[mesh.faces][:, :1]).transpose(1, 0, 2)), axis=1).sum() * 1e4
    floor = 2 * area_cm2 / (np.pi * 10000)
    assert cd_aligned == pytest.approx(floor, rel=0.25)


def test_mpjpe_of_a_translated_hand_is_zero_and_of_a_moved_joint_is_analytic():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(4, 21, 3)) * 0.05
    assert np.allclose(mpjpe_per_frame(gt + [0.1, -0.2, 0.3], gt), 0, atol=1e-9)
    moved = gt.copy()
    moved[:, 7] += [0.0, 0.021, 0.0]  # one joint 21 mm off: mean over 21 joints = 1 mm
    assert np.allclose(mpjpe_per_frame(moved, gt), 1.0)
    moved_wrist = gt.copy()
    moved_wrist[:, 0] += [0.021, 0, 0]  # the root moves: the other 20 joints are 21 mm off
    assert np.allclose(mpjpe_per_frame(moved_wrist, gt), 20.0)


def test_cd_h_of_a_correct_object_with_a_wrong_wrist():
    """A flat square sampled with N points; the predicted wrist is δ = 1 cm off along the
    square's normal. Relative to the wrists, the predicted set is the true set shifted by δ·n:
    each point's nearest neighbour in the other set is its own copy at exactly δ (any other is
    at sqrt(δ² + |p − q|²) > δ), so CD_h = δ² + δ² = 2 cm² in every frame."""
    square = np.array([[0, 0, 0], [0.1, 0, 0], [0.1, 0.1, 0], [0, 0.1, 0]], float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    points = sample_surface(square, faces, 10000, seed=0)
    T = 3
    poses = np.tile(np.eye(4), (T, 1, 1))
    poses[:, :3, :3] = Rotation.from_rotvec([[0, 0, 0], [0.5, 0.2, 0], [0, 1.0, 1.0]]).as_matrix()
    poses[:, :3, 3] = [0.0, 0.0, 0.5]
    gt_wrists = np.array([[0.05, 0.0, 0.45]] * T)
    normals = poses[:, :3, 2]  # the square's normal (object z) in the camera frame
    pred_wrists = gt_wrists - 0.01 * normals
    cd_h = hand_relative_chamfer_per_frame(points, poses, pred_wrists, points, poses, gt_wrists, np.arange(T))
    assert np.allclose(cd_h, 2.0, rtol=1e-9)
    # An in-plane wrist error of 1 cm can only score less (nearest neighbours may be closer).
    in_plane = gt_wrists - 0.01 * poses[:, :3, 0]
    cd_h_in_plane = hand_relative_chamfer_per_frame(points, poses, in_plane, points, poses, gt_wrists, np.arange(T))
    assert ((cd_h_in_plane > 0) & (cd_h_in_plane < 2.0)).all()
