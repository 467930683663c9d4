import json

import cv2
import numpy as np
import pytest

from hold.io.errors import InputError
from hold.io.sequence import (
    load_ground_truth,
    load_result,
    load_sequence,
    write_result,
    write_sequence,
)

T, W, H = 3, 16, 12


def _edit_meta(seq_dir, **changes):
    path = seq_dir / "meta.json"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    path.write_text(json.dumps(meta))


def _expect_error(fn, *fragments):
    """The call raises one InputError whose message names every fragment (file, field…)."""
    with pytest.raises(InputError) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def test_round_trip_keeps_every_field(sequence_dir):
    seq = load_sequence(sequence_dir)
    assert seq.num_frames == T and len(seq) == T
    assert seq.meta.image_size == (W, H)
    assert seq.meta.K[0, 2] == 8 and seq.meta.hands == ("right",)
    assert [p.name for p in seq.image_paths] == ["000000.png", "000001.png", "000002.png"]
    assert seq.image(1).shape == (H, W, 3) and seq.image(1).dtype == np.uint8
    assert (seq.mask(0) == 50).all()
    assert seq.init.hand_joints.shape == (T, 21, 3) and np.isnan(seq.init.hand_joints[1]).all()
    assert np.isnan(seq.init.object_poses[2]).all() and np.isfinite(seq.init.object_poses[:2]).all()
    assert seq.init.object_points.shape == (50, 3)
    assert seq.init.mano["betas"].shape == (10,)
    gt = load_ground_truth(sequence_dir)
    assert gt.hand_joints.shape == (T, 21, 3) and gt.valid.all()
    assert gt.object_mesh.faces.shape == (4, 3)
    # No temporary siblings are left behind by the atomic writer.
    assert sorted(p.name for p in sequence_dir.parent.iterdir()) == ["seq"]


def test_images_are_loaded_lazily(sequence_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("decoded a PNG while loading the folder")

    monkeypatch.setattr(cv2, "imread", refuse)
    seq = load_sequence(sequence_dir)  # validates sizes from PNG headers only
    monkeypatch.undo()
    expected = cv2.cvtColor(cv2.imread(str(sequence_dir / "images" / "000002.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(seq.image(2), expected)


def test_load_sequence_does_not_read_gt(sequence_dir):
    (sequence_dir / "gt" / "hand_joints.npy").write_bytes(b"garbage")
    load_sequence(sequence_dir)  # the engine's reader must not look at gt/
    _expect_error(lambda: load_ground_truth(sequence_dir), "gt/hand_joints.npy", "cannot read")


def test_missing_folder_and_meta(tmp_path, sequence_dir):
    _expect_error(lambda: load_sequence(tmp_path / "nope"), "nope", "does not exist")
    (sequence_dir / "meta.json").unlink()
    _expect_error(lambda: load_sequence(sequence_dir), "meta.json", "missing")


def test_broken_json(sequence_dir):
    (sequence_dir / "meta.json").write_text('{"format": "hold-fast-sequence", ')
    _expect_error(lambda: load_sequence(sequence_dir), "meta.json", "not valid JSON")


@pytest.mark.parametrize(
    "changes, fragments",
    [
        ({"format": "other"}, ["meta.json", "'format'"]),
        ({"version": 3}, ["meta.json", "'version'"]),
        ({"hands": ["left"]}, ["meta.json", "'hands'", "version 1"]),
        ({"version": 2, "hands": ["both"]}, ["meta.json", "'hands'"]),
        ({"version": 2, "hands": ["right", "left"]}, ["meta.json", "'hands'"]),
        ({"hands": ["right", "left"]}, ["meta.json", "'hands'"]),
        ({"hands": None}, ["meta.json", "'hands'"]),
        ({"num_frames": 0}, ["meta.json", "'num_frames'"]),
        ({"image_size": [16]}, ["meta.json", "'image_size'"]),
        ({"K": [[1, 0], [0, 1]]}, ["meta.json", "'K'"]),
        ({"K": [[20, 0, 8], [0, 20, 6], [0, 0, 2]]}, ["meta.json", "'K'"]),
        ({"fps": -1}, ["meta.json", "'fps'"]),
        ({"frame_indices": [0, 1]}, ["meta.json", "'frame_indices'"]),
    ],
)
def test_bad_meta_fields(sequence_dir, changes, fragments):
    _edit_meta(sequence_dir, **changes)
    _expect_error(lambda: load_sequence(sequence_dir), *fragments)


def test_num_frames_disagrees_with_images(sequence_dir):
    _edit_meta(sequence_dir, num_frames=4)
    _expect_error(lambda: load_sequence(sequence_dir), "images", "3 .png files", "num_frames=4")


def test_missing_image_file(sequence_dir):
    (sequence_dir / "images" / "000001.png").unlink()
    _expect_error(lambda: load_sequence(sequence_dir), "images", "2 .png files")


def test_image_of_another_size(sequence_dir):
    cv2.imwrite(str(sequence_dir / "images" / "000001.png"), np.zeros((H, W + 2, 3), np.uint8))
    _expect_error(lambda: load_sequence(sequence_dir), "000001.png", "18x12", "16x12")


def test_mask_of_wrong_size(sequence_dir):
    cv2.imwrite(str(sequence_dir / "masks" / "000002.png"), np.zeros((H + 1, W), np.uint8))
    _expect_error(lambda: load_sequence(sequence_dir), "masks", "000002.png", "16x13")


def test_mask_with_unknown_label(sequence_dir):
    cv2.imwrite(str(sequence_dir / "masks" / "000000.png"), np.full((H, W), 7, np.uint8))
    seq = load_sequence(sequence_dir)
    _expect_error(lambda: seq.mask(0), "000000.png", "[7]")


@pytest.mark.parametrize(
    "relative, shape",
    [
        ("init/hand_joints.npy", (T + 1, 21, 3)),
        ("init/hand_keypoints2d.npy", (T, 20, 3)),
        ("init/object_poses.npy", (T - 1, 4, 4)),
        ("init/object_points.npy", (10, 2)),
        ("gt/hand_joints.npy", (T - 1, 21, 3)),
        ("gt/object_poses.npy", (T + 2, 4, 4)),
    ],
)
def test_array_shape_disagrees(sequence_dir, relative, shape):
    array = np.zeros(shape, np.float32)
    if shape[-2:] == (4, 4):
        array[:] = np.eye(4)
    np.save(sequence_dir / relative, array)
    loader = load_ground_truth if relative.startswith("gt/") else load_sequence
    _expect_error(lambda: loader(sequence_dir), relative, f"shape {shape}")


def test_exact_gt_masks_are_checked_like_masks(sequence_dir):
    """gt/masks/ (optional exact labels): read when present, refused with the file named when a
    frame is missing or carries an unknown label."""
    assert load_ground_truth(sequence_dir).masks is None
    folder = sequence_dir / "gt" / "masks"
    folder.mkdir()
    for t in range(T):
        cv2.imwrite(str(folder / f"{t:06d}.png"), np.full((H, W), 150 if t else 0, np.uint8))
    masks = load_ground_truth(sequence_dir).masks
    assert masks.shape == (T, H, W) and masks[0].max() == 0 and (masks[1:] == 150).all()
    cv2.imwrite(str(folder / "000001.png"), np.full((H, W), 7, np.uint8))
    _expect_error(lambda: load_ground_truth(sequence_dir), "gt/masks", "[7]")
    (folder / "000001.png").unlink()
    _expect_error(lambda: load_ground_truth(sequence_dir), "gt/masks", "2 .png files", "num_frames=3")


def test_valid_npy_length(sequence_dir):
    np.save(sequence_dir / "gt" / "valid.npy", np.ones(T + 1, bool))
    _expect_error(lambda: load_ground_truth(sequence_dir), "gt/valid.npy", "T=3")


@pytest.mark.parametrize("relative", ["init/object_poses.npy", "gt/object_poses.npy"])
def test_non_rigid_pose(sequence_dir, relative):
    poses = np.load(sequence_dir / relative)
    poses[0, :3, :3] *= 1.01  # a 1 % scale hidden in a pose
    np.save(sequence_dir / relative, poses)
    loader = load_ground_truth if relative.startswith("gt/") else load_sequence
    _expect_error(lambda: loader(sequence_dir), relative, "frame 0", "not a rigid")


def test_pose_within_tolerance_and_reflection(sequence_dir):
    path = sequence_dir / "init" / "object_poses.npy"
    poses = np.load(path)
    poses[0, 0, 0] += 2e-5  # inside the 1e-4 tolerance
    np.save(path, poses)
    load_sequence(sequence_dir)
    poses[0, :3, 0] *= -1  # a reflection: orthogonal but det = -1
    np.save(path, poses)
    _expect_error(lambda: load_sequence(sequence_dir), "object_poses.npy", "det R")


def test_partially_nan_init_pose(sequence_dir):
    path = sequence_dir / "init" / "object_poses.npy"
    poses = np.load(path)
    poses[0, 0, 3] = np.nan
    np.save(path, poses)
    _expect_error(lambda: load_sequence(sequence_dir), "object_poses.npy", "frame 0", "whole matrix of NaN")


def test_mano_needs_its_arrays(sequence_dir):
    np.savez(sequence_dir / "init" / "mano.npz", hand_pose=np.zeros((T, 45)))
    _expect_error(lambda: load_sequence(sequence_dir), "mano.npz", "global_orient")


def test_result_round_trip(result_dir):
    result = load_result(result_dir, num_frames=T)
    assert result.num_frames == T
    assert result.info["timings_s"] == {"total": 1.0}
    assert result.object_poses.dtype == np.float32 and result.hand_joints.shape == (T, 21, 3)


@pytest.mark.parametrize("name", ["result.json", "object.obj", "object_poses.npy", "hand_joints.npy"])
def test_result_missing_file(result_dir, name):
    (result_dir / name).unlink()
    _expect_error(lambda: load_result(result_dir), name, "missing")


@pytest.mark.parametrize("name", ["object_poses.npy", "hand_joints.npy"])
def test_result_with_nan(result_dir, name):
    array = np.load(result_dir / name)
    array[1] = np.nan
    np.save(result_dir / name, array)
    _expect_error(lambda: load_result(result_dir), name, "frame 1", "NaN")


def test_result_frame_count_must_match_sequence(result_dir):
    _expect_error(lambda: load_result(result_dir, num_frames=T + 1), "result.json", "num_frames")


def test_result_with_non_rigid_pose(result_dir):
    poses = np.load(result_dir / "object_poses.npy")
    poses[2, :3, :3] *= 0.9
    np.save(result_dir / "object_poses.npy", poses)
    _expect_error(lambda: load_result(result_dir), "object_poses.npy", "frame 2", "not a rigid")


def test_write_result_refuses_nan(tmp_path, result_dir):
    result = load_result(result_dir)
    joints = result.hand_joints.copy()
    joints[0, 3] = np.nan
    with pytest.raises(InputError, match="hand_joints"):
        write_result(tmp_path / "bad", result.object_mesh, result.object_poses, joints)
    assert not (tmp_path / "bad").exists()


def test_interrupted_write_leaves_nothing(tmp_path, sequence_dir):
    seq = load_sequence(sequence_dir)
    before = sorted(p.relative_to(sequence_dir) for p in sequence_dir.rglob("*"))

    def frames_then_crash():
        yield seq.image(0)
        raise RuntimeError("renderer died")

    with pytest.raises(RuntimeError):
        write_sequence(sequence_dir, seq.meta, frames_then_crash())
    # The old folder is intact and no temporary sibling remains.
    assert sorted(p.relative_to(sequence_dir) for p in sequence_dir.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq"]


def test_write_replaces_existing_folder(sequence_dir):
    seq = load_sequence(sequence_dir)
    frames = [np.zeros((H, W, 3), np.uint8)] * T
    write_sequence(sequence_dir, seq.meta, frames, video=True)
    again = load_sequence(sequence_dir)
    assert again.mask_paths is None and again.init.hand_joints is None  # the old folder is gone
    assert (sequence_dir / "video.mp4").stat().st_size > 0
    assert (again.image(0) == 0).all()


def test_unknown_files_and_keys_are_ignored(sequence_dir):
    _edit_meta(sequence_dir, something_new={"a": 1})
    (sequence_dir / "notes.txt").write_text("hi")
    (sequence_dir / "images" / "thumbs.db").write_text("x")
    assert load_sequence(sequence_dir).num_frames == T
