"""A left-hand sequence through the engine: the tiny right-hand sequence mirrored left–right
(images, masks, K, init/ and gt/ all flipped; "hands": ["left"]) reconstructs to exactly the
mirror image of the right-hand result (the engine sees the same right-hand video), with rigid
poses, and scores the same. And `hold-fast reconstruct FRAMES_DIR` goes through the front-end."""

import json

import numpy as np
import pytest

from hold.cli.main import main
from hold.io import mirror
from hold.io.mesh import load_mesh, save_mesh
from hold.io.atomic import save_npy_atomic
from hold.io.sequence import SequenceInit, load_ground_truth, load_result, load_sequence, write_sequence
from hold.pipeline import ReconstructConfig, reconstruct
from tests.conftest import requires_native

TRAIN = {"frames_per_step": 2, "rays_per_frame": 64, "object_grid": 32, "log_every": 10,
         "hand_refresh_every": 1000, "occupancy_warmup": 4, "checkpoint_every_s": 60,
         "samples_per_step": 0, "steps": 12}
CONFIG = {"coarse": TRAIN, "refine": {"iterations": 3, "sdf_resolution": 32, "object_points": 200},
          "final": {**TRAIN, "steps": 4}, "mesh_resolution": 32, "report": False}


def _mirror_sequence(src, dst):
    """The left-hand twin of a right-hand sequence folder (with its ground truth)."""
    seq = load_sequence(src)
    W = seq.meta.image_size[0]
    init = seq.init
    meta = seq.meta
    meta.K, meta.hands = mirror.mirror_K(meta.K, W), ("left",)
    mirrored = SequenceInit(
        hand_joints=mirror.mirror_points(init.hand_joints), hand_keypoints2d=mirror.mirror_pixels(init.hand_keypoints2d, W),
        object_poses=mirror.mirror_poses(init.object_poses),
        object_points=None if init.object_points is None else mirror.mirror_points(init.object_points))
    write_sequence(dst, meta, [mirror.mirror_images(seq.image(t)) for t in range(seq.num_frames)],
                   [mirror.mirror_masks(seq.mask(t)) for t in range(seq.num_frames)], mirrored, video=False)
    gt = load_ground_truth(src)
    (dst / "gt").mkdir()
    save_npy_atomic(dst / "gt" / "hand_joints.npy", mirror.mirror_points(gt.hand_joints))
    save_npy_atomic(dst / "gt" / "object_poses.npy", mirror.mirror_poses(gt.object_poses))
    vertices, faces = mirror.mirror_mesh(gt.object_mesh.vertices, gt.object_mesh.faces)
    save_mesh(dst / "gt" / "object_mesh.obj", vertices, faces)
    return dst


@requires_native
def test_left_hand_result_is_the_mirror_of_the_right_hand_result(tiny_sequence, tmp_path):
    left = _mirror_sequence(tiny_sequence, tmp_path / "left")
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(CONFIG))
    cfg = ReconstructConfig.load(str(path), seed=0, threads=1)
    right_summary = reconstruct(tiny_sequence, tmp_path / "r", cfg, progress=False, log=lambda *_: None)
    left_summary = reconstruct(left, tmp_path / "l", cfg, progress=False, log=lambda *_: None)
    r, lft = load_result(tmp_path / "r"), load_result(tmp_path / "l")
    assert lft.info["hands"] == ["left"] and r.info["hands"] == ["right"]
    np.testing.assert_allclose(lft.hand_joints, mirror.mirror_points(r.hand_joints), atol=1e-5)
    np.testing.assert_allclose(lft.object_poses, mirror.mirror_poses(r.object_poses), atol=1e-5)
    assert np.allclose(np.linalg.det(lft.object_poses[:, :3, :3]), 1.0, atol=1e-4)
    np.testing.assert_allclose(lft.object_mesh.vertices, mirror.mirror_points(r.object_mesh.vertices), atol=1e-6)
    hand_r = load_mesh(tmp_path / "r" / "hand_meshes" / "000001.obj")
    hand_l = load_mesh(tmp_path / "l" / "hand_meshes" / "000001.obj")
    np.testing.assert_allclose(hand_l.vertices, mirror.mirror_points(hand_r.vertices), atol=1e-6)
    assert (hand_l.faces == hand_r.faces[:, ::-1]).all()
    with np.load(tmp_path / "l" / "hand_params.npz") as params:
        assert str(params["side"]) == "left"
    assert left_summary["metrics"]["mpjpe_mm"] == pytest.approx(right_summary["metrics"]["mpjpe_mm"], rel=1e-3, abs=1e-3)
    # CD_h samples points on each object mesh with one seed; the mirrored mesh's faces run the
    # other way round, so its samples are other draws of the same surface (the meshes, poses and
    # joints are equal above): 0.01-0.2 % apart, measured.
    assert left_summary["metrics"]["cd_h_cm2"] == pytest.approx(right_summary["metrics"]["cd_h_cm2"], rel=1e-2)


def test_reconstruct_takes_a_folder_of_images(tmp_path, capsys, monkeypatch):
    """A folder of images goes through the front-end with --hand, like `hold-fast preprocess`
    (here a scripted detector that sees only a right hand, so --hand left stops there)."""
    from hold.io.images import write_image
    from hold.preprocess import detector

    def right_hand_on_the_bright_left_half(images, **_):
        right = images[:, :, :16].mean((1, 2, 3)) > images[:, :, 16:].mean((1, 2, 3))
        keypoints = np.where(right[:, None, None], 5.0, np.nan) * np.ones((len(images), 21, 3))
        return detector.Detections(keypoints, right, {}, ["tracked"] * len(images), ~right)

    monkeypatch.setattr(detector, "detect_keypoints", right_hand_on_the_bright_left_half)
    frames = tmp_path / "frames"
    for t in range(3):
        image = np.zeros((32, 32, 3), np.uint8)
        image[:, :16] = 200
        write_image(frames / f"{t:03d}.png", image)
    out = tmp_path / "out"
    assert main(["reconstruct", str(frames), "--out", str(out), "--hand", "left"]) == 2
    err = capsys.readouterr().err
    assert "--hand left" in err and "right hand" in err
    assert not (out / "sequence").exists()
