"""A small synthetic sequence against its own ground truth, checked by independent means
(trimesh ray casting for visibility, dense surface samples for distances)."""

import filecmp

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from hold.eval.protocol import evaluate_result
from hold.io.errors import InputError
from hold.io.sequence import load_ground_truth, load_sequence, write_result
from hold.models.hand.base import TIP_KEYPOINTS
from hold.synth.generate import generate_sequence
from hold.synth.grasp import CONTACT_TOLERANCE_M, PENETRATION_TOLERANCE_M

FRAMES, SIZE, SEED = 6, (96, 96), 0


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "seq"
    generate_sequence(path, object="025_mug", frames=FRAMES, size=SIZE, seed=SEED)
    return path


def _scene(path):
    with np.load(path / "gt" / "synth_scene.npz") as npz:
        return {k: npz[k] for k in npz.files}


def _posed(pose, points):
    return points @ pose[:3, :3].T + pose[:3, 3]


def test_folder_follows_the_format(sequence):
    seq = load_sequence(sequence)
    gt = load_ground_truth(sequence)
    assert seq.num_frames == FRAMES and seq.meta.image_size == SIZE
    assert seq.has_masks and (sequence / "video.mp4").is_file()
    assert set(np.unique(seq.load_masks())) <= {0, 50, 150}
    assert seq.init.hand_joints.shape == (FRAMES, 21, 3)
    assert seq.init.object_points.shape == (500, 3)
    assert gt.object_mesh.faces.shape == (2000, 3)


def test_same_seed_same_bytes(sequence, tmp_path):
    again = tmp_path / "again"
    generate_sequence(again, object="025_mug", frames=FRAMES, size=SIZE, seed=SEED, video=False)
    for folder in ("images", "masks", "init", "gt"):
        names = sorted(p.name for p in (sequence / folder).iterdir())
        assert names == sorted(p.name for p in (again / folder).iterdir())
        match, mismatch, errors = filecmp.cmpfiles(sequence / folder, again / folder, names, shallow=False)
        assert mismatch == [] and errors == [], (folder, mismatch, errors)
    assert filecmp.cmp(sequence / "meta.json", again / "meta.json", shallow=False)


def _first_hits(world, directions):
    """Hit points [N, 3] of rays from the camera centre (NaN where a ray misses)."""
    locations, rays, _ = world.ray.intersects_location(np.zeros_like(directions), directions, multiple_hits=False)
    hits = np.full(directions.shape, np.nan)
    hits[rays] = locations
    return hits


def test_visible_vertices_land_on_their_own_labels(sequence):
    """Rebuild the scene independently from the ground-truth files (hand and forearm from
    gt/synth_scene.npz, object from gt/object_mesh.obj + gt/object_poses.npy) and z-buffer
    every vertex with trimesh's ray casting: a vertex is visible when the ray to it reaches it
    first and the ray through the centre of its pixel meets a surface within 5 mm of its depth
    (so the pixel does not straddle a depth discontinuity). Each visible vertex must project
    onto its own label: hand 150, object 50, forearm 0."""
    seq, gt, scene = load_sequence(sequence), load_ground_truth(sequence), _scene(sequence)
    K = seq.meta.K
    counts = {}
    for t in range(FRAMES):
        parts = {
            150: (_posed(scene["hand_to_camera"][t], scene["hand_vertices"]), scene["hand_faces"]),
            0: (_posed(scene["hand_to_camera"][t], scene["forearm_vertices"]), scene["forearm_faces"]),
            50: (_posed(gt.object_poses[t], gt.object_mesh.vertices), gt.object_mesh.faces),
        }
        world = trimesh.util.concatenate([trimesh.Trimesh(v, f, process=False) for v, f in parts.values()])
        mask = seq.mask(t)
        for label, (vertices, _) in parts.items():
            reached = np.linalg.norm(_first_hits(world, vertices / np.linalg.norm(vertices, axis=1, keepdims=True))
                                     - vertices, axis=1) < 2e-4
            uv = vertices @ K.T
            u = np.round(uv[:, 0] / uv[:, 2]).astype(int)
            v = np.round(uv[:, 1] / uv[:, 2]).astype(int)
            in_image = (u >= 0) & (u < SIZE[0]) & (v >= 0) & (v < SIZE[1])
            pixel_rays = np.stack([u, v, np.ones_like(u)], axis=1) @ np.linalg.inv(K).T
            pixel_depth = _first_hits(world, pixel_rays / np.linalg.norm(pixel_rays, axis=1, keepdims=True))[:, 2]
            visible = reached & in_image & (np.abs(pixel_depth - vertices[:, 2]) < 0.005)
            on_label = mask[v[visible], u[visible]] == label
            total, good = counts.get(label, (0, 0))
            counts[label] = (total + on_label.size, good + on_label.sum())
    for label, (total, good) in counts.items():
        assert total > 100, f"too few visible vertices of label {label}"
        assert good / total >= 0.98, f"label {label}: {good}/{total} visible vertices on their label"


def test_contact_and_no_penetration_in_every_frame(sequence):
    gt, scene = load_ground_truth(sequence), _scene(sequence)
    closed = trimesh.Trimesh(gt.object_mesh.vertices, gt.object_mesh.faces)  # merges UV seams
    assert closed.is_watertight
    samples, _ = trimesh.sample.sample_surface(closed, 1_000_000, seed=1)
    tree = cKDTree(samples)  # distances from dense samples over-estimate by < 0.1 mm
    for t in range(FRAMES):
        to_object = np.linalg.inv(gt.object_poses[t].astype(np.float64))
        tips = _posed(to_object, gt.hand_joints[t, list(TIP_KEYPOINTS)].astype(np.float64))
        tip_distance, _ = tree.query(tips)
        assert (tip_distance <= CONTACT_TOLERANCE_M).sum() >= 3, f"frame {t}: tips at {tip_distance * 1000} mm"
        hand = _posed(to_object @ scene["hand_to_camera"][t], scene["hand_vertices"].astype(np.float64))
        inside = closed.contains(hand)
        depth = tree.query(hand[inside])[0] if inside.any() else np.zeros(1)
        assert depth.max() <= PENETRATION_TOLERANCE_M, f"frame {t}: a vertex {depth.max() * 1000:.2f} mm inside"


def test_ground_truth_scores_perfectly(sequence, tmp_path):
    gt = load_ground_truth(sequence)
    result = write_result(tmp_path / "result", gt.object_mesh, gt.object_poses, gt.hand_joints)
    metrics = evaluate_result(result, sequence)
    assert metrics["mpjpe_mm"] == 0.0 and metrics["cd_cm2"] == 0.0 and metrics["cd_h_cm2"] == 0.0
    assert metrics["f10_percent"] == 100.0


def test_init_is_the_truth_plus_the_stated_noise(sequence):
    seq, gt = load_sequence(sequence), load_ground_truth(sequence)
    error = (seq.init.hand_joints - gt.hand_joints).reshape(-1)
    # σ = 8 mm per coordinate; 378 samples give the sample std within ±15 % (> 4 sd).
    assert np.nanstd(error) == pytest.approx(0.008, rel=0.15)
    assert abs(np.nanmean(error)) < 0.002
    translation = seq.init.object_poses[:, :3, 3] - gt.object_poses[:, :3, 3]
    assert np.abs(translation).max() < 0.05


@pytest.mark.parametrize("bad, fragment", [("no_such_object", "neither a mesh file nor a bundled object"),
                                          ("cube_mm", "expected a hand-held object in metres"),
                                          ("open_mesh", "closed")])
def test_bad_objects(tmp_path, bad, fragment):
    if bad == "cube_mm":
        trimesh.creation.box((100, 100, 100)).export(tmp_path / "cube.obj")
        name = str(tmp_path / "cube.obj")
    elif bad == "open_mesh":
        box = trimesh.creation.box((0.05, 0.05, 0.05))
        trimesh.Trimesh(box.vertices, box.faces[:-2]).export(tmp_path / "open.obj")
        name = str(tmp_path / "open.obj")
    else:
        name = bad
    with pytest.raises(InputError, match=fragment):
        generate_sequence(tmp_path / "out", object=name, frames=2, size=(32, 32))
    assert not (tmp_path / "out").exists()
