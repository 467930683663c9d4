"""Object prompts (--object-box / --object-point / --background-point): parsing and checking,
the mapping to output pixels, the masks they seed on a synthetic white-on-white video, and the
CLI (bad prompts exit 2 and write nothing; good ones are recorded in the provenance)."""

import json

import cv2
import numpy as np
import pytest

from hold.cli.main import main
from hold.io.errors import InputError
from hold.io.sequence import LABEL_OBJECT, load_sequence
from hold.preprocess import PreprocessOptions, preprocess
from hold.preprocess.frames import FrameSet
from hold.preprocess.prompt_masks import prompted_object_masks
from hold.preprocess.prompts import (FramePrompts, check_prompts, mirror_prompts, parse_prompt, parse_prompts,
                                     to_frames)


@pytest.mark.parametrize("kind,text,needle", [
    ("box", "1,2,3", "--object-box 1,2,3"),
    ("box", "10,5,10,20", "X0 < X1"),
    ("box", "10,20,30,20", "Y0 < Y1"),
    ("box", "a,b,c,d", "expected X0,Y0,X1,Y1"),
    ("point", "4,5@x", "--object-point 4,5@x"),
    ("point", "4,5@-1", ">= 0"),
    ("background", "nan,3", "--background-point nan,3"),
])
def test_malformed_prompts_name_the_option(kind, text, needle):
    with pytest.raises(InputError) as error:
        parse_prompt(kind, text)
    assert needle in str(error.value)


def test_parse_reads_values_and_frame():
    box, point = parse_prompts(["1,2,30.5,40@7"], ["3,4"])
    assert box.kind == "box" and box.values == (1, 2, 30.5, 40) and box.frame == 7
    assert point.kind == "point" and point.values == (3, 4) and point.frame == 0


@pytest.mark.parametrize("text,kind,needle", [
    ("0,0,101,50", "box", "leaves the 100x80"),
    ("-1,0,10,10", "box", "leaves the 100x80"),
    ("10,10,20,81", "box", "leaves the 100x80"),
    ("100,5", "point", "outside the 100x80"),
    ("5,5@12", "point", "does not exist"),
    ("5,5@3", "point", "not among the frames kept"),
])
def test_prompts_outside_the_video_are_refused(text, kind, needle):
    prompts = [parse_prompt(kind, text)]
    with pytest.raises(InputError) as error:
        check_prompts(prompts, (100, 80), 12, kept=[0, 2, 4, 6, 8, 10])
    assert needle in str(error.value) and prompts[0].option.split()[0] in str(error.value)


def test_to_frames_follows_resize_and_crop():
    frames = FrameSet(np.zeros((3, 40, 50, 3), np.uint8), [0, 5, 10], 30.0, (200, 160), 0.5, (10, 20, 50, 40), 11)
    prompts = parse_prompts(["100,60,140,100@5"], ["99,59@10"], ["0,0@10"])
    out = to_frames(prompts, frames.indices, frames.scale, frames.crop)
    # box edges scale exactly: 100 * 0.5 - 10 = 40, 60 * 0.5 - 20 = 10, ...
    np.testing.assert_allclose(out[1].boxes[0], [40, 10, 60, 30])
    np.testing.assert_allclose(out[2].points[0], frames.to_output_pixels(np.array([99.0, 59.0])))
    np.testing.assert_allclose(out[2].background[0], frames.to_output_pixels(np.array([0.0, 0.0])))
    assert set(out) == {1, 2}


def test_mirrored_prompts_land_on_the_mirrored_pixels():
    W = 40
    image = np.zeros((20, W), np.uint8)
    image[5:9, 3:11] = 1  # columns 3..10: a box 3,5,11,9
    box, point = parse_prompts(["3,5,11,9"], ["3,5"])
    flipped = image[:, ::-1]
    mbox, mpoint = mirror_prompts([box, point], W)
    x0, y0, x1, y1 = (int(v) for v in mbox.values)
    assert flipped[y0:y1, x0:x1].all() and flipped.sum() == (x1 - x0) * (y1 - y0)
    u, v = (int(c) for c in mpoint.values)
    assert flipped[v, u] == 1 and flipped[v, u - 1] == 1 and flipped[v, u + 1] == 0  # the box's last column
    assert mirror_prompts(mirror_prompts([box], W), W)[0].values == box.values


def _white_on_white(T=8, size=96, scale=1.0):
    """A white, softly shaded ellipse turning and moving in front of an off-white wall, a skin
    coloured 'hand' covering its lower end; (images, hand, true object masks)."""
    H = W = size
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    wall = np.stack([200 + 20 * u / W, 198 + 18 * u / W, 190 + 15 * v / H], -1)
    images, hands, objects = [], [], []
    for t in range(T):
        cx, cy, angle = (40 + 2.0 * t) * scale, (42 + 1.0 * t) * scale, np.deg2rad(20 + 4 * t)
        x, y = u - cx, v - cy
        a = (x * np.cos(angle) + y * np.sin(angle)) / (22 * scale)
        b = (-x * np.sin(angle) + y * np.cos(angle)) / (13 * scale)
        inside = a ** 2 + b ** 2 < 1
        shade = 245 - 35 * np.clip(b, -1, 1) ** 2  # a lit side and a greyer edge, like glass
        image = wall.copy()
        image[inside] = np.stack([shade, shade, shade + 5], -1)[inside]
        hand_x, hand_y = cx + 18 * scale * np.cos(angle), cy + 18 * scale * np.sin(angle)
        hand = (np.abs(u - hand_x) < 9 * scale) & (np.abs(v - hand_y) < 9 * scale)
        image[hand] = [190, 130, 110]
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        hands.append(hand)
        objects.append(inside & ~hand)
    return np.stack(images), np.stack(hands), np.stack(objects)


def test_a_box_on_one_frame_segments_a_white_object_through_the_video():
    images, hand, truth = _white_on_white()
    ys, xs = np.nonzero(truth[0] | (hand[0] & (cv2.dilate(truth[0].astype(np.uint8), np.ones((5, 5))) > 0)))
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    masks = prompted_object_masks(images, hand, {0: FramePrompts([box], [], [])})
    iou = [(m & g).sum() / (m | g).sum() for m, g in zip(masks, truth)]
    assert min(iou) > 0.8, np.round(iou, 3)
    assert not (masks & hand).any()


def test_points_alone_seed_the_object():
    images, hand, truth = _white_on_white(T=3)
    ys, xs = np.nonzero(truth[1])
    centre = np.array([xs.mean(), ys.mean()])
    masks = prompted_object_masks(images, hand, {1: FramePrompts([], [centre], [np.array([5.0, 5.0])])})
    iou = [(m & g).sum() / (m | g).sum() for m, g in zip(masks, truth)]
    assert min(iou) > 0.7, np.round(iou, 3)


# ----------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def keypoints_file(tiny_sequence, tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "keypoints.npy"
    np.save(path, load_sequence(tiny_sequence).init.hand_keypoints2d)
    return path


@pytest.mark.parametrize("command", ["preprocess", "reconstruct"])
@pytest.mark.parametrize("args,option", [
    (["--object-box", "10,10,200,50"], "--object-box"),  # leaves the 128x128 frames
    (["--object-box", "60,10,50,50"], "--object-box"),  # x0 >= x1
    (["--object-point", "5,5@8"], "--object-point"),  # the video has frames 0..7
    (["--background-point", "5,-3"], "--background-point"),
])
def test_bad_prompts_exit_2_and_write_nothing(tmp_path, tiny_sequence, keypoints_file, capsys, command,
                                              args, option):
    out = tmp_path / "out"
    extra = ["--keypoints", str(keypoints_file), "--quiet"] if command == "preprocess" else []
    code = main([command, str(tiny_sequence / "images"), "--out", str(out), *extra, *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and option in err[0], err
    assert not out.exists() and not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_a_box_prompt_is_used_and_recorded(tmp_path, tiny_sequence, keypoints_file):
    truth = load_sequence(tiny_sequence).load_masks() == LABEL_OBJECT
    ys, xs = np.nonzero(truth[2])
    box = f"{xs.min()},{ys.min()},{xs.max() + 1},{ys.max() + 1}@2"
    out = tmp_path / "seq"
    preprocess(tiny_sequence / "images", out, PreprocessOptions(
        K_file=str(tiny_sequence / "meta.json"), keypoints=str(keypoints_file), crop="none", max_size=None,
        progress=False, video=False, overlay=False, object_poses="hand", object_boxes=(box,)))
    seq = load_sequence(out)
    assert seq.meta.provenance["prompts"] == f"--object-box {box}"
    assert "from prompts" in seq.meta.provenance["masks"]
    assert json.loads((out / "debug" / "summary.json").read_text())["masks"]["prompts"] == [f"--object-box {box}"]
    predicted = seq.load_masks() == LABEL_OBJECT
    iou = [(p & g).sum() / max(1, (p | g).sum()) for p, g in zip(predicted, truth)]
    assert np.mean(iou) > 0.7 and min(iou) > 0.5, np.round(iou, 3)


def _joints_near(hand, T, hand_length=45.0):
    """Fitted-hand keypoints [T, 21, 2] for the synthetic 'hand': the fingertips and the middle
    MCP on its centre, the wrist below-right (hand length = wrist → middle MCP, about the
    object's length, as in the bulb clip)."""
    joints = np.zeros((T, 21, 2))
    for t in range(T):
        ys, xs = np.nonzero(hand[t])
        joints[t] = [xs.mean(), ys.mean()]
        joints[t, 0] += hand_length / np.sqrt(2)
    return joints


def test_a_fragment_of_an_object_is_grown_to_the_object():
    from hold.preprocess.prompt_masks import grow_automatic_object

    images, hand, truth = _white_on_white(size=144, scale=1.6)
    # What a static-background model leaves of a white object (the bulb clip's label): a 4 px
    # crescent along its shaded rim, away from the hand.
    inner = np.stack([cv2.erode(g.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0 for g in truth])
    H, W = truth.shape[1:]
    v, u = np.mgrid[0:H, 0:W]
    fragment = truth & ~inner & (u < np.array([np.nonzero(g)[1].mean() + 6 for g in truth])[:, None, None])
    grown, info = grow_automatic_object(images, fragment, hand, _joints_near(hand, len(images)))
    assert info["used"] and grown is not None, info
    iou = [(m & g).sum() / (m | g).sum() for m, g in zip(grown, truth)]
    assert min(iou) > 0.85, np.round(iou, 3)


def test_a_whole_object_label_is_kept():
    from hold.preprocess.prompt_masks import grow_automatic_object

    images, hand, truth = _white_on_white(size=144, scale=1.6)
    grown, info = grow_automatic_object(images, truth, hand, _joints_near(hand, len(images)))
    assert grown is None and not info["used"] and info["iou_label_grown"] > 0.8, info
