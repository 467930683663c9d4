"""A small synthetic sequence against its own ground truth, checked by independent means
(hold.synth.verify: trimesh ray casting for visibility, dense surface samples for distances)."""

import filecmp
import shutil

import cv2
import numpy as np
import pytest
import trimesh

from hold.eval.protocol import evaluate_result
from hold.io.errors import InputError
from hold.io.sequence import load_ground_truth, load_sequence, write_result
from hold.synth.generate import NoiseOptions, generate_sequence
from hold.synth.grasp import CONTACT_TOLERANCE_M, PENETRATION_TOLERANCE_M
from hold.synth.verify import contact_per_frame, label_agreement

FRAMES, SIZE, SEED = 6, (96, 96), 0
EXACT = NoiseOptions(mask_noise_px=0.0)


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    # Exact masks: these tests check the renderer's labels against the geometry.
    path = tmp_path_factory.mktemp("synth") / "seq"
    generate_sequence(path, object="025_mug", frames=FRAMES, size=SIZE, seed=SEED, noise=EXACT)
    return path


def test_folder_follows_the_format(sequence):
    seq = load_sequence(sequence)
    gt = load_ground_truth(sequence)
    assert seq.num_frames == FRAMES and seq.meta.image_size == SIZE
    assert seq.has_masks and (sequence / "video.mp4").is_file()
    assert set(np.unique(seq.load_masks())) <= {0, 50, 150}
    assert seq.init.hand_joints.shape == (FRAMES, 21, 3)
    assert seq.init.object_points is None  # no oracle points unless asked for
    assert gt.object_mesh.faces.shape == (2000, 3)


def test_same_seed_same_bytes(sequence, tmp_path):
    again = tmp_path / "again"
    generate_sequence(again, object="025_mug", frames=FRAMES, size=SIZE, seed=SEED, video=False, noise=EXACT)
    for folder in ("images", "masks", "init", "gt"):
        names = sorted(p.name for p in (sequence / folder).iterdir())
        assert names == sorted(p.name for p in (again / folder).iterdir())
        match, mismatch, errors = filecmp.cmpfiles(sequence / folder, again / folder, names, shallow=False)
        assert mismatch == [] and errors == [], (folder, mismatch, errors)
    assert filecmp.cmp(sequence / "meta.json", again / "meta.json", shallow=False)


def test_oracle_points_are_opt_in_and_change_nothing_else(sequence, tmp_path):
    """Asking for oracle object points adds them (on the true surface, within their noise) and
    leaves every other input bitwise the same."""
    again = tmp_path / "with_points"
    generate_sequence(again, object="025_mug", frames=FRAMES, size=SIZE, seed=SEED, video=False,
                      noise=NoiseOptions(mask_noise_px=0.0, num_object_points=40, object_point_sigma_m=0.0))
    seq, plain = load_sequence(again), load_sequence(sequence)
    assert seq.init.object_points.shape == (40, 3)
    for name in ("hand_joints", "hand_keypoints2d", "object_poses"):
        np.testing.assert_array_equal(getattr(seq.init, name), getattr(plain.init, name))
    np.testing.assert_array_equal(seq.load_masks(), plain.load_masks())
    from hold.synth.geometry import MeshDistance, watertight_copy

    mesh = load_ground_truth(again).object_mesh
    surface = MeshDistance(watertight_copy(mesh.vertices, mesh.faces), count=20_000)
    assert surface.unsigned(seq.init.object_points.astype(np.float64)).max() < 1e-5


def test_noisy_masks_keep_the_exact_labels_in_gt(sequence, tmp_path):
    """With boundary noise, masks/ is the noisy input and gt/masks/ the exact labels: those of the
    same seed rendered without noise (a front-end's masks are scored against them)."""
    noisy = tmp_path / "noisy"
    generate_sequence(noisy, object="025_mug", frames=FRAMES, size=SIZE, seed=SEED, video=False,
                      noise=NoiseOptions(mask_noise_px=2.0))
    exact = load_sequence(sequence).load_masks()
    np.testing.assert_array_equal(load_ground_truth(noisy).masks, exact)
    assert not np.array_equal(load_sequence(noisy).load_masks(), exact)
    assert load_ground_truth(sequence).masks is None  # exact masks/ need no copy


def test_visible_vertices_land_on_their_own_labels(sequence):
    """Visible (z-buffered) hand and object vertices project onto their own labels, ≥ 98 %
    (the checker in hold.synth.verify rebuilds the scene from the ground-truth files alone).
    Forearm vertices (label 0) get a looser bar: where the forearm leaves the hand's wrist the
    two surfaces are within a few mm, so a pixel there may show either."""
    for label, (total, good) in label_agreement(sequence).items():
        assert total > 100, f"too few visible vertices of label {label}"
        bar = 0.95 if label == 0 else 0.98
        assert good / total >= bar, f"label {label}: {good}/{total} visible vertices on their label"


def test_contact_and_no_penetration_in_every_frame(sequence):
    tips, depth = contact_per_frame(sequence)
    assert tips.shape == (FRAMES, 5)
    assert ((tips <= CONTACT_TOLERANCE_M).sum(axis=1) >= 3).all(), tips * 1000
    assert (depth <= PENETRATION_TOLERANCE_M).all(), depth * 1000


def test_the_checks_catch_broken_ground_truth(sequence, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(sequence, broken)
    for path in sorted((broken / "masks").iterdir()):  # hand and object labels swapped
        mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        swapped = np.where(mask == 50, 150, np.where(mask == 150, 50, mask)).astype(np.uint8)
        cv2.imwrite(str(path), swapped)
    poses = np.load(broken / "gt" / "object_poses.npy")
    poses[:, :3, 3] += [0.0, 0.0, 0.01]  # the object 1 cm off its true place
    np.save(broken / "gt" / "object_poses.npy", poses)
    agreement = label_agreement(broken)
    assert agreement[150][1] / agreement[150][0] < 0.5 and agreement[50][1] / agreement[50][0] < 0.5
    tips, depth = contact_per_frame(broken)
    assert not (((tips <= CONTACT_TOLERANCE_M).sum(axis=1) >= 3) & (depth <= PENETRATION_TOLERANCE_M)).all()


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
