"""Object-pose filling, the hand agreement check, hand-object scale, HOLD build import, overlay."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hold.io.images import write_image, write_mask
from hold.io.sequence import load_sequence
from hold.preprocess import align, sfm
from hold.preprocess.hold_build import import_hold_build
from hold.preprocess.overlay import contact_sheet, render_overlay


def _poses(T, seed=0):
    rng = np.random.default_rng(seed)
    poses = np.tile(np.eye(4), (T, 1, 1))
    poses[:, :3, :3] = Rotation.from_rotvec(np.cumsum(rng.normal(0, 0.05, (T, 3)), 0)).as_matrix()
    poses[:, :3, 3] = [0.02, 0.0, 0.5] + np.cumsum(rng.normal(0, 0.002, (T, 3)), 0)
    return poses


def test_fill_poses_interpolates_inside_and_attaches_at_the_ends():
    T = 10
    wrist = _poses(T, 1)
    grip = np.eye(4)
    grip[:3, 3] = [0.05, 0.01, 0.0]
    truth = wrist @ grip  # the object rigid in the hand
    valid = np.ones(T, bool)
    valid[[0, 1, 5, 9]] = False
    filled, provenance = sfm.fill_poses(np.where(valid[:, None, None], truth, np.nan), valid, wrist)
    assert provenance[0] == provenance[9] == "hand-attached" and provenance[5] == "interpolated"
    assert provenance[3] == "sfm"
    np.testing.assert_allclose(filled[[0, 1, 9]], truth[[0, 1, 9]], atol=1e-9)  # exact for a rigid grip
    assert sfm.rotation_angle_deg(filled[5, :3, :3], truth[5, :3, :3]) < 5.0  # a random walk, slerped


def _object_turning(T: int) -> np.ndarray:
    poses = np.tile(np.eye(4), (T, 1, 1))
    poses[:, :3, :3] = Rotation.from_rotvec(np.outer(np.linspace(0, 1.2, T), [0.3, 1.0, 0.2])).as_matrix()
    poses[:, :3, 3] = np.stack([np.linspace(-0.05, 0.05, T), np.zeros(T), np.full(T, 0.5)], 1)
    return poses


def test_a_hand_held_still_in_the_object_is_carried_exactly_through_a_gap():
    """A hand rigid in the object's frame, seen on some frames: the missed frames get the exact
    joints (the object's turn carries them), except where the object's pose is not from images."""
    T = 12
    poses = _object_turning(T)
    hand = np.random.default_rng(0).normal(scale=0.03, size=(21, 3))
    truth = np.einsum("tij,nj->tni", poses[:, :3, :3], hand) + poses[:, None, :3, 3]
    seen = np.zeros(T, bool)
    seen[[2, 3, 9]] = True
    from_images = np.ones(T, bool)
    from_images[11] = False  # e.g. hand-attached: left as the IK filled it
    held_still = np.where(seen[:, None, None], truth, truth[2])  # the IK's guess: the hand frozen
    joints, carried = align.carry_hand_with_object(held_still, seen, poses, from_images)
    np.testing.assert_array_equal(carried, ~seen & from_images)
    np.testing.assert_allclose(joints[:11], truth[:11], atol=1e-12)  # gap, both ends
    np.testing.assert_array_equal(joints[11], held_still[11])


def test_a_carried_hand_blends_its_grip_between_the_frames_around_the_gap():
    T = 5
    poses = _object_turning(T)
    grip_a, grip_b = np.zeros((21, 3)), np.full((21, 3), 0.04)
    in_object = np.stack([grip_a, grip_a, grip_a, grip_a, grip_b])
    seen = np.array([True, False, False, False, True])
    joints = np.einsum("tij,tnj->tni", poses[:, :3, :3], in_object) + poses[:, None, :3, 3]
    carried, _ = align.carry_hand_with_object(joints, seen, poses, np.ones(T, bool))
    back = np.einsum("tji,tnj->tni", poses[:, :3, :3], carried - poses[:, None, :3, 3])
    np.testing.assert_allclose(back[2], 0.5 * (grip_a + grip_b), atol=1e-12)
    np.testing.assert_allclose(back[1], 0.75 * grip_a + 0.25 * grip_b, atol=1e-12)


def test_sfm_outliers_are_dropped_and_a_wrong_sfm_disagrees_with_the_hand():
    T = 12
    wrist = _poses(T, 2)
    poses = wrist.copy()
    poses[4, :3, :3] = Rotation.from_rotvec([0.0, 0.0, 1.4]).as_matrix() @ poses[4, :3, :3]
    keep, median = sfm.check_against_hand(poses, wrist, np.ones(T, bool))
    assert not keep[4] and keep.sum() == T - 1 and median < 1e-6  # one frame off: median unaffected
    static = np.tile(np.eye(4), (T, 1, 1))  # a model of static background: no rotation at all
    wrist_turning = wrist.copy()
    wrist_turning[:, :3, :3] = Rotation.from_rotvec(np.linspace(0, 2.5, T)[:, None] * [0, 1, 0]).as_matrix()
    _, median = sfm.check_against_hand(static, wrist_turning, np.ones(T, bool))
    assert median > sfm.MAX_MEDIAN_DISAGREEMENT_DEG


def test_the_masks_judge_which_poses_follow_the_object():
    """When SfM and the hand disagree, the pipeline keeps the poses under which one rigid object
    explains the masks (align.mask_consistency). An L-shaped chain turning ±40° about its own
    axis: along the true poses the masks' hull covers nearly all of them; along poses that turn
    the other way (a hand whose orientation flipped) or not at all (SfM of static background)
    it covers much less; scaling the translations (the SfM's unknown scale) changes nothing."""
    from tests.models.test_visual_hull import BIG_K, chain_masks, chain_poses

    truth = chain_poses()
    labels = chain_masks(truth)
    mirrored = truth.copy()  # each frame's turn from the middle frame applied the other way
    middle = truth[len(truth) // 2, :3, :3]
    for t in range(len(truth)):
        turn = Rotation.from_matrix(truth[t, :3, :3] @ middle.T).as_rotvec()
        mirrored[t, :3, :3] = Rotation.from_rotvec(-turn).as_matrix() @ middle
    static = np.repeat(truth[len(truth) // 2][None], len(truth), 0)
    right = align.mask_consistency(labels, truth, BIG_K)
    assert right > 0.9, right
    for wrong in (mirrored, static):
        assert align.mask_consistency(labels, wrong, BIG_K) < right - 2 * sfm.MASK_CONSISTENCY_MARGIN
    scaled = truth.copy()
    scaled[:, :3, 3] *= 3.0
    assert abs(align.mask_consistency(labels, scaled, BIG_K) - right) < 0.03


def test_object_scale_puts_the_object_in_the_fingers():
    rng = np.random.default_rng(0)
    T, true_scale = 6, 0.07  # metres per SfM unit
    poses = _poses(T, 3)
    points_m = rng.normal(0, 0.03, (400, 3))  # an object blob, metres, object frame
    joints = np.zeros((T, 21, 3))
    for t in range(T):
        surface = points_m[np.argsort(points_m[:, 0])[-5:]]  # fingertips on the object's +x side
        joints[t] = (np.concatenate([surface, rng.normal(0.05, 0.01, (16, 3))]) @ poses[t, :3, :3].T + poses[t, :3, 3])
        joints[t, list(align.TIPS)] = surface @ poses[t, :3, :3].T + poses[t, :3, 3]
    sfm_poses = poses.copy()
    sfm_poses[:, :3, 3] /= true_scale
    scale, info = align.fit_object_scale(sfm_poses, points_m / true_scale, joints, np.ones(T, bool))
    assert scale == pytest.approx(true_scale, rel=0.05), info


def test_hold_build_round_trip(tmp_path):
    T, H, W = 3, 24, 32
    build = tmp_path / "build"
    K = np.array([[40.0, 0, 15.5], [0, 40.0, 11.5], [0, 0, 1]])
    world_to_cam = np.eye(4)
    world_to_cam[:3, :3] = Rotation.from_rotvec([0.1, -0.2, 0.05]).as_matrix()
    world_to_cam[:3, 3] = [0.01, 0.02, 0.3]
    K_pad = np.eye(4)
    K_pad[:3, :3] = K
    object_to_world = _poses(T, 4)
    norm = np.diag([2.0, 2.0, 2.0, 1.0])
    norm[:3, 3] = [0.1, 0.0, -0.1]
    cano = np.random.default_rng(0).normal(0, 0.3, (50, 3))
    data = {"seq_name": "x", "cameras": {f"world_mat_{i}": K_pad @ world_to_cam for i in range(T)},
            "entities": {"object": {"object_poses": np.concatenate(
                [Rotation.from_matrix(object_to_world[:, :3, :3]).as_rotvec(), object_to_world[:, :3, 3]], 1),
                "obj_scale": 0.05, "pts.cano": cano, "norm_mat": norm}}}
    (build / "image").mkdir(parents=True)
    (build / "mask").mkdir()
    for t in range(T):
        write_image(build / "image" / f"{t:04d}.png", np.full((H, W, 3), 100, np.uint8))
        write_mask(build / "mask" / f"{t:04d}.png", np.full((H, W), 250, np.uint8))
    np.save(build / "data.npy", data, allow_pickle=True)  # as HOLD's build_dataset.py does
    import_hold_build(build, tmp_path / "seq")
    seq = load_sequence(tmp_path / "seq")
    np.testing.assert_allclose(seq.meta.K, K, atol=1e-6)
    # the same world point lands at the same camera point both ways
    points_world = object_to_world[1] @ np.c_[0.05 * (cano @ np.linalg.inv(norm)[:3, :3].T + np.linalg.inv(norm)[:3, 3]),
                                              np.ones(50)].T
    expected = (world_to_cam @ points_world)[:3].T
    got = seq.init.object_points @ seq.init.object_poses[1, :3, :3].T + seq.init.object_poses[1, :3, 3]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert (seq.mask(0) == 250).all()


def test_overlay_frames_and_sheet():
    T, H, W = 3, 40, 50
    images = np.full((T, H, W, 3), 128, np.uint8)
    labels = np.zeros((T, H, W), np.uint8)
    labels[:, 5:15, 5:15] = 50
    K = np.array([[60.0, 0, 24.5], [0, 60.0, 19.5], [0, 0, 1]])
    joints = np.tile(np.random.default_rng(0).normal([0, 0, 0.5], 0.02, (21, 3)), (T, 1, 1))
    frames = render_overlay(images, labels, None, joints, np.zeros((5, 3)), _poses(T), K, ["sfm"] * T, scale=2)
    assert len(frames) == T and frames[0].shape == (80, 100, 3)
    assert (frames[0] != 128).any()
    assert contact_sheet(frames, count=3, columns=2).shape == (160, 200, 3)


def test_keyframes_spread_evenly_and_keep_the_ends():
    assert list(sfm.keyframe_indices(10, 64)) == list(range(10))
    key = sfm.keyframe_indices(300, 64)
    assert len(key) == 64 and key[0] == 0 and key[-1] == 299
    assert np.diff(key).max() - np.diff(key).min() <= 1  # even spacing


def test_a_long_video_gives_sfm_its_keyframes_and_interpolates_the_rest(monkeypatch):
    T = 100
    truth = np.tile(np.eye(4), (T, 1, 1))  # turning at 2° per frame about a fixed axis
    truth[:, :3, :3] = Rotation.from_rotvec(np.radians(2.0) * np.arange(T)[:, None] * [0.6, 0.0, 0.8]).as_matrix()
    truth[:, :3, 3] = np.linspace([0.0, 0.0, 0.5], [0.1, 0.0, 0.5], T)
    given = []

    def fake_sfm(images, masks, K, *args):  # registers all it is given but the second frame
        given.append(len(images))
        index = images[:, 0, 0, 0].astype(int)  # each image carries its frame number
        registered = np.ones(len(images), bool)
        registered[1] = False
        poses = np.where(registered[:, None, None], truth[index], np.nan)
        return sfm.SfmResult(poses, np.zeros((5, 3)), None, registered, {"status": "ok"})

    monkeypatch.setattr(sfm, "_run_sfm", fake_sfm)
    images = np.zeros((T, 4, 4, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(T)
    result = sfm.run_sfm(images, np.ones((T, 4, 4), bool), np.eye(3), max_keyframes=20)
    key = sfm.keyframe_indices(T, 20)
    assert given == [20] and result.info["keyframes"] == 20
    assert result.keyframes.sum() == 20 and result.registered.sum() == 19
    assert np.allclose(result.poses[key[2]], truth[key[2]]) and np.isnan(result.poses[key[1]]).all()
    assert np.isnan(result.poses[1]).all()  # not a keyframe
    assert result.fraction_registered() == pytest.approx(19 / 20)  # of the keyframes, not of T
    filled, provenance = sfm.fill_poses(result.poses, result.registered, truth)
    assert provenance.count("sfm") == 19 and provenance.count("interpolated") == T - 19
    # a constant turn and a straight path: slerp and lerp between keyframes are exact
    inside = slice(key[2], key[-1] + 1)  # after the unregistered second keyframe
    assert sfm.rotation_angle_deg(filled[inside, :3, :3], truth[inside, :3, :3]).max() < 1e-3
    assert np.abs(filled[inside, :3, 3] - truth[inside, :3, 3]).max() < 1e-9
