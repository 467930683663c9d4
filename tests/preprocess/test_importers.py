"""Keypoint JSON (OpenPose / MediaPipe), HaMeR-style MANO parameters, mask folders."""

import json

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hold.io.errors import InputError
from hold.preprocess import importers, masks


def test_openpose_folder_picks_the_most_confident_right_hand(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.uniform(10, 90, (3, 21, 2))
    for t in range(3):
        good = np.concatenate([truth[t], np.full((21, 1), 0.9)], 1)
        weak = np.concatenate([truth[t] + 30, np.full((21, 1), 0.2)], 1)
        people = [{"hand_right_keypoints_2d": weak.ravel().tolist()},
                  {"hand_right_keypoints_2d": good.ravel().tolist()}]
        if t == 1:
            people = []
        (tmp_path / f"f{t:03d}_keypoints.json").write_text(json.dumps({"people": people}))
    out = importers.load_keypoints(tmp_path, (100, 100))
    np.testing.assert_allclose(out[[0, 2], :, :2], truth[[0, 2]])
    assert np.isnan(out[1]).all()


def test_mediapipe_json_normalised_to_pixel_centres(tmp_path):
    landmarks = [{"x": (j + 0.5) / 100, "y": 0.5} for j in range(21)]
    path = tmp_path / "mp.json"
    path.write_text(json.dumps({"image_size": [100, 80], "frames": [landmarks, None]}))
    out = importers.load_keypoints(path, (1, 1))
    np.testing.assert_allclose(out[0, :, 0], np.arange(21))
    np.testing.assert_allclose(out[0, :, 1], 39.5)
    assert np.isnan(out[1]).all()


def test_pick_frames_accepts_source_or_kept_counts():
    rows = np.arange(10)[:, None, None] * np.ones((10, 21, 3))
    assert (importers.pick_frames(rows, [0, 5], 10, "x")[:, 0, 0] == [0, 5]).all()
    assert importers.pick_frames(rows[:2], [0, 5], 10, "x").shape[0] == 2
    with pytest.raises(InputError, match="expected one per source frame"):
        importers.pick_frames(rows[:3], [0, 5], 10, "x")


def test_hamer_style_rotation_matrices(tmp_path):
    rng = np.random.default_rng(1)
    orient = rng.normal(0, 0.5, (4, 3))
    pose = rng.normal(0, 0.3, (4, 15, 3))
    np.savez(tmp_path / "hamer.npz",
             global_orient=Rotation.from_rotvec(orient).as_matrix()[:, None],
             hand_pose=Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(4, 15, 3, 3),
             betas=np.ones((4, 10)), pred_cam_t_full=np.ones((4, 3)))
    out = importers.load_mano_params(tmp_path / "hamer.npz")
    np.testing.assert_allclose(out["global_orient"], orient, atol=1e-6)
    np.testing.assert_allclose(out["hand_pose"], pose.reshape(4, 45), atol=1e-6)
    assert out["betas"].shape == (10,) and out["transl"].shape == (4, 3)
    np.savez(tmp_path / "flat.npz", global_orient=orient, hand_pose=pose.reshape(4, 45), betas=np.zeros(10),
             transl=np.zeros((4, 3)), flat_hand_mean=True)
    with pytest.raises(InputError, match="flat_hand_mean"):
        importers.load_mano_params(tmp_path / "flat.npz")


def _labels(H=20, W=30):
    labels = np.zeros((H, W), np.uint8)
    labels[2:8, 3:10] = 50
    labels[10:15, 12:20] = 150
    return labels


def test_import_masks_hold_ids_and_per_class(tmp_path):
    labels = _labels()
    hold_dir, ids_dir, split = tmp_path / "hold", tmp_path / "ids", tmp_path / "split"
    for d in (hold_dir, ids_dir, split / "object", split / "hand"):
        d.mkdir(parents=True)
    ids = np.select([labels == 50, labels == 150], [1, 2], 0).astype(np.uint8)
    for t in range(3):
        cv2.imwrite(str(hold_dir / f"{t:04d}.png"), labels)
        cv2.imwrite(str(ids_dir / f"{t:04d}.png"), ids)
        cv2.imwrite(str(split / "object" / f"{t:04d}.png"), (labels == 50).astype(np.uint8) * 255)
        cv2.imwrite(str(split / "hand" / f"{t:04d}.png"), (labels == 150).astype(np.uint8) * 255)
    for folder in (hold_dir, ids_dir, split):
        out = masks.import_masks(folder, [0, 2], 3, (30, 20))
        assert out.shape == (2, 20, 30) and (out == labels).all()
    custom = masks.import_masks(ids_dir, [0, 1, 2], 3, (30, 20), object_ids=[2], hand_ids=[1])
    assert (custom[0][labels == 150] == 50).all()


def test_import_masks_rejects_wrong_size_and_count(tmp_path):
    cv2.imwrite(str(tmp_path / "0000.png"), np.zeros((10, 10), np.uint8))
    cv2.imwrite(str(tmp_path / "0001.png"), np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="the frames are 30x20"):
        masks.import_masks(tmp_path, [0, 1], 2, (30, 20))
    with pytest.raises(InputError, match="2 masks"):
        masks.import_masks(tmp_path, [0, 1, 2], 3, (10, 10))
