"""The hand's depth checked against its skin.

From 2D keypoints alone a hand's depth rests on their spread: the hand model has a metric size,
so a smaller keypoint skeleton means a farther hand. A detector squeezes the skeleton when the
hand is partly hidden (the built-in-hand drill video: the wrist bent under the grip, the wrist
landmark on the knuckles, the skeleton 0.6–0.8 of the true one) and the hand is fitted up to
twice as far as it is; the object's scale follows the hand (align.fit_object_scale).

The skin does not depend on the landmarks. The hand's visible skin (skin-coloured pixels that
changed, connected to the fitted hand, on the fingers' side of the wrist: masks.auto_masks's
``hand_skin_area``) cannot cover more of the image than the whole hand projects to. A fitted
silhouette of area A_fit at depth z under A_skin visible skin pixels puts the hand at most

    b · z,   b = sqrt(A_fit / A_skin)

away (the area of a projection falls with the square of the depth). The bound is one-sided: an
occluded hand shows less skin than its silhouette (b > 1, no information), and a skin estimate
that misses pixels only loosens it.

One frame's bound is loose where the hand hides behind the object; the frames where it is tight
are those where the hand is in plain view. The frames are tied by the object: a held object
keeps the hand at one place in its frame, so the object's poses give every frame's hand depth up
to one common factor (``coupled_scale``), and that factor must satisfy the tight frames' bounds.
Without object poses from the images the hand's own depths are the coupling (one factor for all
frames). A factor above ``DEADBAND`` is left alone: on the ten benchmark videos (hands fitted
within about 15 % of their depth) the chosen quantile is 0.91–1.08, on the real bulb clip
0.93–0.97 (docs/FRONTEND.md, "The hand's depth from its skin").

One factor cannot repair a few frames that drift while the rest are right. From 2D keypoints
the hand's depth is weakly held (by its size), and the IK's temporal prior (on accelerations)
lets it ramp for free: the potted meat can's video has the hand at 1.14 m on frame 1 while the
object that holds it is at 0.53 m, falling linearly to the truth by frame 15. The skin does
not see it (it is counted near the fitted hand, which is small when far). The object does: a
held hand stays at one place in the object's frame, and a frame more than ``STRAY_RATIO`` off
the depth that place gives is flagged (``stray_frames``). The front-end drops that frame's
keypoints and carries the hand there with the object, as on a frame the detector missed: pulling
the fit to the right depth through the same squeezed keypoints bent the hand instead
(hold/preprocess/pipeline.py, step 7b; docs/FRONTEND.md, "A hand far from where the object holds
it").
"""

from __future__ import annotations

import numpy as np

DEADBAND = 0.9  # factors above this are noise of the skin estimate: the hand stays
QUANTILE = 0.25  # of the frames' bounds: the tight frames decide, a few overcounts do not
MIN_SKIN_PIXELS = 50  # fewer visible skin pixels say nothing about the hand's size
MIN_FRAMES = 4  # frames with a bound needed before the hand is moved
# The nearest one move may bring the hand: the bound is one-sided only while the skin count holds
# hand alone. A forearm or a skin-toned surrounding that joins the blob makes it arbitrarily
# tight (an independent scene's capsule hand and forearm, one colour: 0.46 where about 0.65 was
# right). The worst squeeze measured (the drill video's hidden-wrist frames) is 0.58-0.7 of the
# skeleton: a detector that squeezes a hand more than that has lost it.
MIN_FACTOR = 0.6
# A frame whose fitted depth is off the object-held depth by more than this factor (either way)
# is moved there alone: far beyond a regrasp or fingers turning the object (a hand moves a few
# cm in the object's frame, 5–10 % of its depth), well within the drift measured (2.15x).
STRAY_RATIO = 1.25
MAX_FRAME_MOVE = 2.5  # … and by at most this factor: beyond it the coupling itself is suspect


def depth_bounds(silhouette_area: np.ndarray, skin_area: np.ndarray) -> np.ndarray:
    """[T] b = sqrt(A_fit / A_skin): the hand is at most b × its fitted depth away; NaN where the
    skin is too small to measure or the fitted hand is out of view."""
    silhouette_area = np.asarray(silhouette_area, np.float64)
    skin_area = np.asarray(skin_area, np.float64)
    ok = (skin_area >= MIN_SKIN_PIXELS) & (silhouette_area > 0)
    bounds = np.full(len(skin_area), np.nan)
    bounds[ok] = np.sqrt(silhouette_area[ok] / skin_area[ok])
    return bounds


def coupled_scale(bounds: np.ndarray, hand_centres: np.ndarray, observed: np.ndarray,
                  object_poses: np.ndarray | None = None) -> tuple[float, np.ndarray, dict]:
    """(factor c ≤ 1, target hand depths [T] (NaN where none), info).

    ``hand_centres`` [T, 3]: the fitted hand's mean keypoint, camera frame; ``observed`` [T] the
    frames whose hand came from keypoints; ``object_poses`` [T, 4, 4] object → camera from the
    images (SfM), NaN rows where missing, or None. The coupled depths ẑ_t are the depths of the
    hand held at its median place in the object's frame (or the fitted depths without object
    poses); frame t allows at most the factor b_t z_t / ẑ_t of them, and c is the ``QUANTILE`` of
    those, at least ``MIN_FACTOR``. The targets are c ẑ_t on the observed frames when
    c < ``DEADBAND``; else ẑ_t on the frames that stray from it (``stray_frames``; object
    coupling only), none elsewhere."""
    T = len(hand_centres)
    depth = hand_centres[:, 2].astype(np.float64)
    coupled = depth.copy()
    how = "hand"
    if object_poses is not None:
        have = observed & np.isfinite(object_poses[:, 0, 0]) & np.isfinite(depth)
        if have.sum() >= MIN_FRAMES:
            inverse = np.linalg.inv(object_poses[have])
            local = np.einsum("tij,tj->ti", inverse[:, :3, :3], hand_centres[have]) + inverse[:, :3, 3]
            grip = np.median(local, axis=0)  # the hand's place in the object's frame
            placed = np.einsum("tij,j->ti", object_poses[:, :3, :3], grip) + object_poses[:, :3, 3]
            coupled = placed[:, 2]  # NaN where the object has no pose
            how = "object"
    allowed = bounds * depth / coupled
    use = observed & np.isfinite(allowed) & (coupled > 0)
    info = {"coupling": how, "frames_with_bound": int(use.sum())}
    targets = np.full(T, np.nan)
    if use.sum() < MIN_FRAMES:
        info["status"] = "too few frames with a skin measurement"
        return 1.0, targets, info
    factor = float(np.quantile(allowed[use], QUANTILE))
    info["bound_quantile"] = round(factor, 4)
    factor = max(factor, MIN_FACTOR)
    info["bounds_q10_q50_q90"] = [round(float(q), 4) for q in np.quantile(allowed[use], (0.1, 0.5, 0.9))]
    if factor >= DEADBAND:
        info["status"] = "kept: the skin agrees with the fitted depth"
        if how == "object":
            stray = stray_frames(depth, coupled, observed & np.isfinite(coupled) & np.isfinite(depth))
            if stray.any():
                targets[stray] = coupled[stray]
                info["frames_moved_alone"] = [int(t) for t in np.flatnonzero(stray)]
                info["status"] += (f"; {int(stray.sum())} frame(s) over {STRAY_RATIO}x off the depth "
                                   "where the object holds the hand")
        return 1.0, targets, info
    targets = np.where(observed & np.isfinite(coupled), factor * coupled, np.nan)
    info["status"] = f"moved: the visible skin puts the hand at {factor:.2f} of its coupled depth"
    info["median_depth_change"] = round(float(np.nanmedian(targets / depth)), 4)
    return factor, targets, info


def stray_frames(depth: np.ndarray, coupled: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """[T] bool: frames whose fitted hand is far from where the object holds it.

    ``depth`` [T] the fitted depths z_t, ``coupled`` [T] the depths ẑ_t of the hand held at its
    median place in the object's frame (from the images' object poses), ``usable`` [T] the
    observed frames with both. A frame strays when z_t / ẑ_t lies outside [1/STRAY_RATIO,
    STRAY_RATIO] but within [1/MAX_FRAME_MOVE, MAX_FRAME_MOVE]."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.abs(np.log(depth / coupled))
        return usable & (ratio > np.log(STRAY_RATIO)) & (ratio <= np.log(MAX_FRAME_MOVE))
