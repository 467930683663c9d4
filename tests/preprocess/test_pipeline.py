"""The front-end end to end: a tiny synthetic sequence (keypoints from a file, so no detector
is needed), bad inputs through the CLI, and the real clip (needs the detector)."""

import json

import cv2
import numpy as np
import pytest

from hold.cli.main import main
from hold.io.images import write_image
from hold.io.sequence import LABEL_HAND, LABEL_IGNORE, LABEL_OBJECT, load_ground_truth, load_sequence
from hold.io.video import write_video
from hold.preprocess import PreprocessOptions, preprocess

from .conftest import REAL_CLIP, requires_detector


def _iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


@pytest.fixture(scope="module")
def synthetic_result(tiny_sequence, tmp_path_factory):
    root = tmp_path_factory.mktemp("pre")
    seq = load_sequence(tiny_sequence)
    np.save(root / "keypoints.npy", seq.init.hand_keypoints2d)
    summary = preprocess(tiny_sequence / "images", root / "out", PreprocessOptions(
        K_file=str(tiny_sequence / "meta.json"), keypoints=str(root / "keypoints.npy"), crop="none",
        max_size=None, progress=False, video=False))
    return root / "out", summary


def test_synthetic_sequence_is_valid_and_close_to_the_truth(tiny_sequence, synthetic_result):
    out, summary = synthetic_result
    seq, truth, gt = load_sequence(out), load_sequence(tiny_sequence), load_ground_truth(tiny_sequence)
    assert seq.num_frames == truth.num_frames and seq.meta.provenance["K"] == "given"
    assert set(seq.meta.provenance) >= {"K", "hand", "masks", "object_poses"}
    predicted, expected = seq.load_masks(), truth.load_masks()
    assert _iou(predicted == LABEL_HAND, expected == LABEL_HAND) > 0.6
    assert _iou(predicted == LABEL_OBJECT, expected == LABEL_OBJECT) > 0.6
    # the contact band: ignore only where hand and object meet (near both in the truth), never
    # over the true background far from them
    ignored = predicted == LABEL_IGNORE
    assert ignored.any()
    near = np.stack([(cv2.dilate((m == LABEL_HAND).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0)
                     & (cv2.dilate((m == LABEL_OBJECT).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0)
                     for m in expected])
    assert (ignored & near).sum() > 0.9 * ignored.sum()
    assert "ignore" in seq.meta.provenance["masks"]
    joints = seq.init.hand_joints
    ok = np.isfinite(joints[:, 0, 0])
    assert ok.sum() >= 6  # 5 % of the synthetic keypoint rows are NaN: those stay NaN
    error = np.linalg.norm((joints - joints[:, :1]) - (gt.hand_joints - gt.hand_joints[:, :1]), axis=-1)[ok]
    assert error.mean() < 0.03
    per_frame = seq.init.provenance["object_poses"]
    assert len(per_frame) == seq.num_frames and set(per_frame) <= {"sfm", "interpolated", "hand-attached"}
    assert (out / "debug" / "overlay.png").is_file() and (out / "debug" / "overlay.mp4").is_file()
    assert summary["timings_s"]["total"] > 0


def test_same_inputs_same_bytes(tiny_sequence, synthetic_result, tmp_path):
    out, _ = synthetic_result
    preprocess(tiny_sequence / "images", tmp_path / "again", PreprocessOptions(
        K_file=str(tiny_sequence / "meta.json"), keypoints=str(out.parent / "keypoints.npy"), crop="none",
        max_size=None, progress=False, video=False, overlay=False))
    for name in ("init/hand_joints.npy", "init/object_poses.npy"):
        np.testing.assert_array_equal(np.load(out / name), np.load(tmp_path / "again" / name))
    for t in range(3):
        assert (cv2.imread(str(out / "masks" / f"{t:06d}.png"), 0)
                == cv2.imread(str(tmp_path / "again" / "masks" / f"{t:06d}.png"), 0)).all()


def _no_leftovers(folder):
    return not any(p.name.startswith(".") for p in folder.iterdir())


@pytest.mark.parametrize("case", ["missing", "empty", "one_frame", "unreadable", "no_hand", "mask_size"])
def test_bad_inputs_exit_2_and_write_nothing(tmp_path, tiny_sequence, capsys, case):
    out = tmp_path / "seq"
    extra = []
    if case == "missing":
        source = tmp_path / "nothing.mp4"
    elif case == "empty":
        source = tmp_path / "frames"
        source.mkdir()
    elif case == "one_frame":
        source = tmp_path / "one.mp4"
        write_video(source, [np.zeros((32, 32, 3), np.uint8)])
    elif case == "unreadable":
        source = tmp_path / "broken.avi"
        source.write_bytes(b"\x00RIFF" * 200)
    elif case == "no_hand":
        source = tiny_sequence / "images"
        np.save(tmp_path / "none.npy", np.full((8, 21, 3), np.nan))
        extra = ["--keypoints", str(tmp_path / "none.npy")]
    else:
        source = tiny_sequence / "images"
        masks = tmp_path / "masks"
        masks.mkdir()
        for t in range(8):
            cv2.imwrite(str(masks / f"{t:04d}.png"), np.zeros((50, 50), np.uint8))
        extra = ["--masks", str(masks)]
    code = main(["preprocess", str(source), "--out", str(out), "--quiet", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("hold-fast preprocess: error:")
    assert not out.exists() and _no_leftovers(tmp_path)


def test_hold_build_needs_trust(tmp_path, capsys):
    assert main(["preprocess", "--from-hold-build", str(tmp_path), "--out", str(tmp_path / "s")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err


@requires_detector
def test_real_clip_without_manual_input(tmp_path):
    """The acceptance check on the real CORe50 clip (frames only, no K, no masks)."""
    out = tmp_path / "bulb"
    code = main(["preprocess", str(REAL_CLIP / "frames"), "--out", str(out), "--quiet", "--object-poses", "hand",
                 "--no-video"])
    assert code == 0
    seq = load_sequence(out)
    assert seq.num_frames == 20
    found = np.isfinite(seq.init.hand_keypoints2d[:, 0, 0])
    assert found.mean() >= 0.9
    boxes = json.loads((REAL_CLIP / "bulb_boxes.json").read_text())["boxes"]
    x_off, y_off = (seq.meta.crop or [0, 0])[:2]
    for name, (x0, y0, x1, y1) in boxes.items():
        labels = seq.mask(int(name))
        x0, x1, y0, y1 = int(x0 - x_off), int(x1 - x_off), int(y0 - y_off), int(y1 - y_off)
        ys, xs = np.nonzero(labels == LABEL_OBJECT)
        box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        inter = max(0, min(box[2], x1) - max(box[0], x0)) * max(0, min(box[3], y1) - max(box[1], y0))
        union = (box[2] - box[0]) * (box[3] - box[1]) + (x1 - x0) * (y1 - y0) - inter
        assert inter / union >= 0.5, (name, box)
        assert (labels[y0:y1, x0:x1] == LABEL_HAND).mean() < 0.10, name
    assert (out / "debug" / "overlay.png").is_file()


@requires_detector
def test_detector_finds_no_hand_in_noise(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frames = tmp_path / "noise"
    for t in range(3):
        write_image(frames / f"{t:03d}.png", rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
    assert main(["preprocess", str(frames), "--out", str(tmp_path / "s"), "--quiet"]) == 2
    assert "no hand found" in capsys.readouterr().err


def test_squeezed_keypoints_the_skin_brings_the_hand_back(tiny_sequence, tmp_path, monkeypatch):
    """The tiny sequence's keypoints squeezed to 0.7 of their spread about their centroid (a
    detector under occlusion): fitted alone, the hand lands about 1/0.7 too far; the visible
    skin (hand_depth.py) brings it and the object back towards the camera, and says so."""
    from hold.preprocess import hand_depth

    seq, gt = load_sequence(tiny_sequence), load_ground_truth(tiny_sequence)
    keypoints = seq.init.hand_keypoints2d.copy()
    centre = np.nanmean(keypoints[..., :2], axis=1, keepdims=True)
    keypoints[..., :2] = centre + 0.7 * (keypoints[..., :2] - centre)
    np.save(tmp_path / "squeezed.npy", keypoints)
    options = dict(K_file=str(tiny_sequence / "meta.json"), keypoints=str(tmp_path / "squeezed.npy"), crop="none",
                   max_size=None, progress=False, video=False, overlay=False)

    def depth_ratio(folder):
        joints = load_sequence(folder).init.hand_joints
        ok = np.isfinite(joints[:, 0, 0])
        return float(np.median(joints[ok, :, 2].mean(-1) / gt.hand_joints[ok, :, 2].mean(-1)))

    summary = preprocess(tiny_sequence / "images", tmp_path / "checked", PreprocessOptions(**options))
    with monkeypatch.context() as patch:
        patch.setattr(hand_depth, "DEADBAND", 0.0)  # the check never acts
        unchecked = preprocess(tiny_sequence / "images", tmp_path / "unchecked", PreprocessOptions(**options))
    assert unchecked["hand_depth"]["status"].startswith("kept")
    assert depth_ratio(tmp_path / "unchecked") > 1.25  # measured 1.34; checked 1.10
    assert summary["hand_depth"]["status"].startswith("moved"), summary["hand_depth"]
    assert depth_ratio(tmp_path / "checked") < 1.2
    assert "from the visible skin" in load_sequence(tmp_path / "checked").meta.provenance["hand"]
    # the object moved with the hand: its depth relative to the hand's is about kept
    def object_over_hand(folder):
        s = load_sequence(folder)
        ok = np.isfinite(s.init.hand_joints[:, 0, 0])
        return float(np.median(s.init.object_poses[ok, 2, 3] / s.init.hand_joints[ok, :, 2].mean(-1)))
    assert abs(object_over_hand(tmp_path / "checked") - object_over_hand(tmp_path / "unchecked")) < 0.1


def test_frames_far_from_where_the_object_holds_the_hand_are_dropped(tiny_sequence, tmp_path, monkeypatch):
    """Frames that hand_depth.stray_frames flags (here forced: frames 2 and 5, the common factor
    at 1) lose their keypoints: rejected with the reason, no keypoints written, their hand
    carried or filled like an undetected frame, and the provenance says so."""
    from hold.preprocess import hand_depth

    original = hand_depth.coupled_scale

    def flag_two(bounds, centres, observed, poses):
        _, _, info = original(bounds, centres, observed, poses)
        targets = np.full(len(centres), np.nan)
        targets[[2, 5]] = centres[[2, 5], 2] / 2  # the object holds the hand at half its fitted depth
        return 1.0, targets, info

    monkeypatch.setattr(hand_depth, "coupled_scale", flag_two)
    options = PreprocessOptions(K_file=str(tiny_sequence / "meta.json"),
                                keypoints=str(tiny_sequence / "init" / "hand_keypoints2d.npy"), crop="none",
                                max_size=None, progress=False, video=False, overlay=False)
    preprocess(tiny_sequence / "images", tmp_path / "out", options)
    seq = load_sequence(tmp_path / "out")
    rejected = seq.init.provenance["rejected_keypoints"]
    assert set(rejected) == {"2", "5"} and all("2.00x the depth where the object holds it" in v
                                               for v in rejected.values())
    assert np.isnan(seq.init.hand_keypoints2d[[2, 5]]).all()
    assert np.isfinite(seq.init.hand_keypoints2d[[0, 1, 3, 4, 6, 7], :, :2]).all()
    hands = seq.init.provenance["hand"]
    assert hands[2] in ("carried", "filled") and hands[5] in ("carried", "filled") and hands[0] == "detected"
    assert np.isfinite(seq.init.hand_joints).all()
    assert "far from where the object holds the hand dropped" in seq.meta.provenance["hand"]
