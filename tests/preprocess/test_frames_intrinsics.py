"""Decoding, subsampling, resizing, cropping, and intrinsics that follow the frames."""

import json

import numpy as np
import pytest

from hold.io.errors import InputError
from hold.io.images import write_image
from hold.io.video import write_video
from hold.preprocess import frames as F
from hold.preprocess import intrinsics as I


def _frames(count, w=64, h=48):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(count)]


def test_folder_every_max_frames_and_resize(tmp_path):
    for i, frame in enumerate(_frames(10)):
        write_image(tmp_path / f"{i:03d}.png", frame)
    fs = F.load_frames(tmp_path, every=2)
    assert fs.indices == [0, 2, 4, 6, 8] and fs.images.shape == (5, 48, 64, 3) and fs.fps == 15.0
    fs = F.load_frames(tmp_path, max_frames=3)
    assert fs.indices == [0, 4, 8]
    fs = F.load_frames(tmp_path, max_size=32)
    assert fs.images.shape[1:3] == (24, 32) and fs.scale == 0.5


def test_video_decodes_with_its_frame_rate(tmp_path):
    write_video(tmp_path / "clip.mp4", _frames(6), fps=25.0)
    fs = F.load_frames(tmp_path / "clip.mp4")
    assert len(fs) == 6 and fs.fps == pytest.approx(25.0) and fs.size == (64, 48)


@pytest.mark.parametrize("case", ["missing", "empty_dir", "one_frame", "garbage", "wrong_suffix"])
def test_bad_sources_raise_one_clear_error(tmp_path, case):
    if case == "missing":
        source = tmp_path / "nope.mp4"
    elif case == "empty_dir":
        source = tmp_path / "empty"
        source.mkdir()
    elif case == "one_frame":
        source = tmp_path / "one.mp4"
        write_video(source, _frames(1))
    elif case == "garbage":
        source = tmp_path / "bad.mp4"
        source.write_bytes(b"not a video at all" * 100)
    else:
        source = tmp_path / "clip.txt"
        source.write_text("hello")
    with pytest.raises(InputError) as info:
        F.load_frames(source)
    assert str(source.name) in str(info.value) or "frame" in str(info.value)


def test_crop_and_adapted_K_agree_with_source_projection():
    fs = F.FrameSet(np.zeros((2, 60, 80, 3), np.uint8), [0, 1], 30.0, (160, 120), scale=0.5)
    fs = F.crop_frames(fs, (10, 6, 40, 30))
    K_source = np.array([[150.0, 0, 79.5], [0, 150.0, 59.5], [0, 0, 1]])
    K = I.adapt_K(K_source, fs.scale, fs.crop[:2])
    point = np.array([0.03, -0.02, 0.5])
    uv_source = (K_source @ point)[:2] / point[2]
    uv_out = (K @ point)[:2] / point[2]
    np.testing.assert_allclose(fs.to_output_pixels(uv_source), uv_out, atol=1e-9)
    assert fs.crop_in_source() == [20.0, 12.0, 80.0, 60.0]


def test_motion_box_crops_only_when_it_pays():
    keypoints = np.full((3, 21, 3), np.nan)
    keypoints[:, :, :2] = np.random.default_rng(0).uniform(100, 130, (3, 21, 2))
    box = F.motion_box(keypoints, (640, 480))
    assert box is not None and box[0] < 100 and box[0] + box[2] > 130
    keypoints[:, :, :2] = np.random.default_rng(0).uniform(10, 100, (3, 21, 2))
    assert F.motion_box(keypoints, (120, 120)) is None  # the hand spans the frame: no gain


def test_load_K_formats(tmp_path):
    K = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])
    (tmp_path / "a.json").write_text(json.dumps({"K": K.tolist()}))
    (tmp_path / "b.json").write_text(json.dumps({"fx": 500, "fy": 510, "cx": 320, "cy": 240}))
    (tmp_path / "c.txt").write_text(" ".join(str(v) for v in K.ravel()))
    np.save(tmp_path / "d.npy", K)
    for name in ("a.json", "b.json", "c.txt", "d.npy"):
        np.testing.assert_allclose(I.load_K(tmp_path / name), K)
    (tmp_path / "bad.txt").write_text("1 2 3")
    with pytest.raises(InputError, match="9 numbers"):
        I.load_K(tmp_path / "bad.txt")


def test_prior_focal_matches_the_field_of_view():
    K = I.prior_K(640, 480, 60.0)
    assert K[0, 0] == pytest.approx(320 / np.tan(np.radians(30)))
    assert K[0, 2] == 319.5 and K[1, 2] == 239.5
