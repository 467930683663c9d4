"""--hand right|left|auto: which hand the front-end processes, with a scripted detector (which
frames show a right hand is written into the frames), and on the real clip mirrored."""

import numpy as np
import pytest

from hold.cli.main import main
from hold.io.errors import InputError
from hold.io.images import read_image, write_image
from hold.io.sequence import load_sequence
from hold.preprocess import detector, handedness

from .conftest import REAL_CLIP, requires_detector

T, SIZE = 6, 32


def _video(side: str) -> np.ndarray:
    """Frames whose left half is bright where a right hand is seen (as shot): a left hand is a
    right hand of the mirrored frames, so its frames are bright on the right half."""
    images = np.zeros((T, SIZE, SIZE, 3), np.uint8)
    half = slice(0, SIZE // 2) if side == "right" else slice(SIZE // 2, SIZE)
    images[:, :, half] = 200
    return images


def _scripted(images, **_):
    """Finds a right hand in frames bright on the left half, counts a left hand otherwise."""
    right = images[:, :, : SIZE // 2].mean((1, 2, 3)) > 100
    keypoints = np.full((len(images), 21, 3), np.nan)
    keypoints[right] = 5.0
    return detector.Detections(keypoints, right, {}, ["tracked" if r else "-" for r in right], ~right)


@pytest.fixture
def scripted(monkeypatch):
    monkeypatch.setattr(detector, "detect_keypoints", _scripted)


@pytest.mark.parametrize("shown", ["right", "left"])
def test_auto_takes_the_hand_the_video_shows(scripted, shown):
    side, found = handedness.detect_hand(_video(shown), "auto")
    assert side == shown and found.found.all()


@pytest.mark.parametrize("shown, asked", [("right", "left"), ("left", "right")])
def test_naming_the_other_hand_is_an_error(scripted, shown, asked):
    with pytest.raises(InputError) as info:
        handedness.detect_hand(_video(shown), asked)
    message = str(info.value)
    assert f"--hand {asked}" in message and f"shows a {shown} hand ({T} of {T} frames" in message


def test_named_hand_that_is_shown(scripted):
    assert handedness.detect_hand(_video("left"), "left")[0] == "left"
    with pytest.raises(InputError, match="--hand must be one of"):
        handedness.detect_hand(_video("left"), "both")


def test_cli_wrong_hand_exits_2_and_writes_nothing(scripted, tmp_path, capsys):
    frames = tmp_path / "frames"
    for t, image in enumerate(_video("right")):
        write_image(frames / f"{t:03d}.png", image)
    out = tmp_path / "seq"
    assert main(["preprocess", str(frames), "--out", str(out), "--quiet", "--hand", "left"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--hand left" in err[0] and "right hand" in err[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


@requires_detector
def test_real_clip_mirrored_is_a_left_hand(tmp_path, capsys):
    """The bulb clip flipped left–right: auto finds a left hand; the folder describes the
    flipped video (its keypoints are the mirror of the detector's on the original frames);
    --hand right on it is refused."""
    frames = tmp_path / "mirrored"
    files = sorted((REAL_CLIP / "frames").iterdir())[:6]
    originals = np.stack([read_image(f) for f in files])
    for f, image in zip(files, originals):
        write_image(frames / f.name, image[:, ::-1])
    out = tmp_path / "left"
    assert main(["preprocess", str(frames), "--out", str(out), "--quiet", "--object-poses", "hand",
                 "--no-video", "--no-overlay", "--crop", "none"]) == 0
    seq = load_sequence(out)
    assert seq.meta.hands == ("left",) and np.isfinite(seq.init.hand_joints).all()
    assert (seq.image(2) == originals[2][:, ::-1]).all()
    # The hand's knuckles are where the original frames' detections put them, mirrored.
    original = detector.detect_keypoints(originals, zoom=False)
    W = originals.shape[2]
    assert np.nanmedian(np.abs((W - 1 - original.keypoints[:, 9, 0]) - seq.init.hand_keypoints2d[:, 9, 0])) < 10
    assert main(["preprocess", str(frames), "--out", str(tmp_path / "no"), "--quiet", "--hand", "right"]) == 2
    assert "--hand right" in capsys.readouterr().err and not (tmp_path / "no").exists()
