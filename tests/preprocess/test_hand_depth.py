"""The hand's depth against its visible skin (hold/preprocess/hand_depth.py), on analytic cases."""

from __future__ import annotations

import numpy as np

from hold.preprocess import hand_depth


def _rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def test_bounds_follow_the_square_root_of_the_areas():
    bounds = hand_depth.depth_bounds(np.array([400, 400, 900, 0]), np.array([100, 1600, 10, 500]))
    assert np.allclose(bounds[:2], [2.0, 0.5])  # skin 4x the silhouette: at most half as far
    assert np.isnan(bounds[2:]).all()  # too little skin; the fitted hand out of view


def _held_object(frames: int = 24, seed: int = 0):
    """An object turning and moving 0.45–0.6 m from the camera, a hand held at a fixed place in
    its frame; returns (object → camera poses [T, 4, 4], true hand centres [T, 3])."""
    rng = np.random.default_rng(seed)
    poses = np.tile(np.eye(4), (frames, 1, 1))
    grip = np.array([0.03, -0.02, 0.05])
    for t in range(frames):
        poses[t, :3, :3] = _rotation_y(0.8 * np.sin(t / 5)) @ _rotation_y(rng.normal(scale=0.02))
        poses[t, :3, 3] = [0.05 * np.cos(t / 4), 0.02, 0.45 + 0.15 * t / frames]
    hands = np.einsum("tij,j->ti", poses[:, :3, :3], grip) + poses[:, :3, 3]
    return poses, hands


def test_a_squeezed_hand_comes_back_with_its_object():
    """Most frames' keypoints squeezed (the hand fitted 1.7x too far), a few in plain view (1.15x);
    the object poses at the hand's (wrong) scale. The visible skin bounds each frame loosely where
    the hand hides (skin 0.6 of the silhouette at the truth) and tightly where it is in view
    (0.95): the coupled factor brings every frame within 25 % of its true depth."""
    poses, truth = _held_object()
    T = len(truth)
    in_view = np.zeros(T, bool)
    in_view[8:14] = True
    squeeze = np.where(in_view, 1.15, 1.7)
    fitted = truth * squeeze[:, None]  # along the rays: the same image, too far
    visible_fraction = np.where(in_view, 0.95, 0.6)
    # A silhouette at depth z of a hand whose full area at its true depth is A: A (z*/z)^2.
    full_true = 3000.0
    silhouette = full_true / squeeze**2
    skin = full_true * visible_fraction
    bounds = hand_depth.depth_bounds(silhouette, skin)
    scaled = poses.copy()
    scaled[:, :3, 3] *= 1.6  # SfM's scale fitted to the far hand
    observed = np.ones(T, bool)
    factor, targets, info = hand_depth.coupled_scale(bounds, fitted, observed, scaled)
    assert info["coupling"] == "object" and factor < hand_depth.DEADBAND
    ratio = targets / truth[:, 2]
    assert (ratio > 1.0).all() and (ratio < 1.25).all(), ratio  # the bound is one-sided: never nearer
    # Without the object, one factor for the hand's own depths: the in-view frames still bound it.
    factor_hand, targets_hand, info_hand = hand_depth.coupled_scale(bounds, fitted, observed, None)
    assert info_hand["coupling"] == "hand" and factor_hand < hand_depth.DEADBAND
    assert np.allclose(targets_hand, factor_hand * fitted[:, 2])


def test_a_hand_at_its_depth_stays():
    """Fitted at the true depth, every frame's skin is at most its silhouette: nothing moves,
    whatever the occlusion, and unobserved frames or missing poses never make a target."""
    poses, truth = _held_object(seed=1)
    T = len(truth)
    rng = np.random.default_rng(2)
    silhouette = np.full(T, 3000.0)
    skin = silhouette * rng.uniform(0.3, 1.0, T)
    bounds = hand_depth.depth_bounds(silhouette, skin)
    factor, targets, info = hand_depth.coupled_scale(bounds, truth, np.ones(T, bool), poses)
    assert factor == 1.0 and np.isnan(targets).all() and info["status"].startswith("kept")
    few = np.zeros(T, bool)
    few[:3] = True
    factor, targets, info = hand_depth.coupled_scale(bounds / 2, truth, few, poses)
    assert factor == 1.0 and "too few" in info["status"]


def test_an_overcounted_skin_moves_the_hand_at_most_min_factor():
    """Skin 16x the silhouette on every frame (a forearm of the hand's colour joined to it): the
    bounds say a quarter of the depth; one move stops at MIN_FACTOR."""
    poses, truth = _held_object(seed=3)
    T = len(truth)
    bounds = hand_depth.depth_bounds(np.full(T, 500.0), np.full(T, 8000.0))
    factor, targets, info = hand_depth.coupled_scale(bounds, truth, np.ones(T, bool), None)
    assert info["bound_quantile"] == 0.25 and factor == hand_depth.MIN_FACTOR
    assert np.allclose(targets, hand_depth.MIN_FACTOR * truth[:, 2])


def test_frames_that_drift_alone_move_to_where_the_object_holds_the_hand():
    """Frames 3–6 fitted at twice their depth, frame 20 at 1.2x (within STRAY_RATIO), frame 9 at
    3x (beyond MAX_FRAME_MOVE), the rest at the truth, every frame's skin within its silhouette:
    the common factor stays 1, frames 3–6 get the object-held depth (the truth), no other frame
    gets a target. A frame whose skin is overcounted (a forearm joined to it) but whose fit is
    right is not moved: the object holds it where it was fitted."""
    poses, truth = _held_object(seed=4)
    T = len(truth)
    squeeze = np.ones(T)
    squeeze[3:7] = 2.0
    squeeze[20] = 1.2
    squeeze[9] = 3.0
    fitted = truth * squeeze[:, None]
    full_true = 3000.0
    silhouette = full_true / squeeze**2
    skin = silhouette * 0.8
    skin[12] = 4 * silhouette[12]  # bound 0.5 with the fit right
    bounds = hand_depth.depth_bounds(silhouette, skin)
    factor, targets, info = hand_depth.coupled_scale(bounds, fitted, np.ones(T, bool), poses)
    assert factor == 1.0 and info["frames_moved_alone"] == [3, 4, 5, 6]
    assert np.allclose(targets[3:7], truth[3:7, 2], rtol=1e-6)
    assert np.isnan(np.delete(targets, [3, 4, 5, 6])).all()
    # Without object poses the hand's own depths are the coupling: nothing says where they belong.
    factor, targets, info = hand_depth.coupled_scale(bounds, fitted, np.ones(T, bool), None)
    assert factor == 1.0 and np.isnan(targets).all() and "frames_moved_alone" not in info
