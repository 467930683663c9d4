"""Where the object's field lives, what shape it starts from and at what scale (``ObjectStart``).

From the masks along the initial poses (``visual_hull.object_hull``), never from a fixed-size
box: the hull's box with a margin is the field's box and occupancy grid, and the hull's signed
distance is the starting SDF the learned residual sits on. Object points a front-end gives (SfM)
are checked against the hull, not trusted: points far outside it are dropped, and when most of
them are outside, all are ignored (they belong to another object, or to another scale). The
inliers widen the box where the hull is thin (a part the hand always hides).

Scale. Masks and poses fix the object only up to a similarity about the camera centre: an
object s times larger and s times farther projects exactly the same. The hand is metric, and
it holds the object: ``hand_scale`` picks the s that puts the object's surface at the
fingertips (HOLD aligns its SfM object to the hand the same way), and the poses' translations
and the hull are rescaled when it differs from 1 by more than ``SCALE_TOLERANCE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hold.models.fields.priors import VolumeSDF

from .visual_hull import HullSettings, VisualHull, object_hull

POINT_TOLERANCE_M = 0.01  # a given point farther than this outside the hull is an outlier
SCALE_TOLERANCE = 0.08  # |log s| below this: the poses' scale already agrees with the hand
CONTACT_CAP_M = 0.03  # a fingertip farther than this from the surface touches nothing
MIN_INLIER_SHARE = 0.5  # fewer inliers than this share: the points disagree with the masks
MIN_HALF_EXTENT_M = 0.01


@dataclass
class ObjectStart:
    """bounds [2, 3]: the field's box (object frame, metres); prior: x [N, 3] → SDF [N]."""

    bounds: np.ndarray
    prior: torch.nn.Module
    poses: np.ndarray  # [T, 4, 4] the starting poses (translations rescaled to the hand's scale)
    info: dict = field(default_factory=dict)


def _hull_prior(hull: VisualHull) -> VolumeSDF:
    """The hull's smoothed signed distance as a trilinear volume. Its samples sit at voxel
    centres, so the volume's (align-corners) bounds are the centres' range."""
    half = hull.voxel_size / 2
    centres = np.stack([hull.bounds[0] + half, hull.bounds[1] - half])
    return VolumeSDF(torch.from_numpy(hull.signed_distance()), torch.from_numpy(centres).float())


def check_points(points: np.ndarray, prior: VolumeSDF) -> tuple[np.ndarray, dict]:
    """Given object points [N, 3] → (inliers [M, 3], info). Empty when they disagree."""
    finite = points[np.isfinite(points).all(1)]
    with torch.no_grad():
        distance = prior(torch.from_numpy(finite).float()).numpy()
    inlier = distance <= POINT_TOLERANCE_M
    share = float(inlier.mean()) if len(finite) else 0.0
    info = {"given_points": int(len(points)), "inlier_share": round(share, 3)}
    if share < MIN_INLIER_SHARE or inlier.sum() < 8:
        info["points_used"] = 0
        info["points_note"] = (f"ignored: only {share:.0%} of init/object_points.npy lie within "
                               f"{POINT_TOLERANCE_M * 100:g} cm of the masks' hull")
        return finite[:0], info
    info["points_used"] = int(inlier.sum())
    return finite[inlier], info


def hand_scale(prior: VolumeSDF, poses: np.ndarray, tips: np.ndarray,
               search: tuple[float, float] = (0.5, 2.0)) -> tuple[float, dict]:
    """The scale s of the object frame (and of the poses' translations) that puts the object's
    surface at the fingertips: minimises the mean over frames of the median over the five tips
    of min(|surface distance|, cap)², the distance measured in the scaled scene, by a log grid
    and a golden-section refinement. poses [T, 4, 4]; tips [T, 5, 3] camera frame, metres
    (NaN rows are skipped). Returns (s, info)."""
    frames = np.flatnonzero(np.isfinite(tips).all((1, 2)) & np.isfinite(poses).all((1, 2)))
    if len(frames) == 0:
        return 1.0, {"hand_scale": "no frame with fingertips"}
    R, t, c = poses[frames, :3, :3], poses[frames, :3, 3], tips[frames]

    def cost(scale: float) -> float:
        local = np.einsum("fji,fkj->fki", R, c - scale * t[:, None]) / scale  # [F, 5, 3]
        with torch.no_grad():
            distance = prior(torch.from_numpy(local.reshape(-1, 3)).float()).numpy().reshape(local.shape[:2])
        metric = np.minimum(np.abs(distance) * scale, CONTACT_CAP_M)
        return float(np.mean(np.median(metric**2, axis=1)))

    grid = np.exp(np.linspace(np.log(search[0]), np.log(search[1]), 41))
    costs = [cost(v) for v in grid]
    i = int(np.argmin(costs))
    a, b = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    golden = (np.sqrt(5) - 1) / 2
    for _ in range(20):
        x1, x2 = b - golden * (b - a), a + golden * (b - a)
        if cost(x1) < cost(x2):
            b = x2
        else:
            a = x1
    scale = float((a + b) / 2)
    return scale, {"hand_scale": round(scale, 4), "tip_distance_mm_at_1": round(1000 * float(np.sqrt(cost(1.0))), 2),
                   "tip_distance_mm": round(1000 * float(np.sqrt(cost(scale))), 2)}


def object_start(labels: np.ndarray, poses: np.ndarray, K: np.ndarray,
                 tips: np.ndarray | None = None, points: np.ndarray | None = None,
                 margin: float = 0.15, settings: HullSettings | None = None,
                 known_empty=None) -> ObjectStart:
    """The object's box, starting shape and scale from the masks labels [T, H, W] along the
    poses [T, 4, 4] (object → camera), K [3, 3], the fingertips tips [T, 5, 3] (camera frame,
    metres; NaN where unknown) and optional given points [N, 3] (object frame);
    known_empty(t, camera_points) → bool says where the hand is (``visual_hull.vote``). Raises
    ValueError when the masks and poses cannot locate the object (the message says why)."""
    poses = np.array(poses, np.float64)
    tips_depth = None if tips is None else tips[..., 2].mean(1)
    hull = object_hull(labels, poses, K, tips_depth, settings, known_empty)
    poses = hull.poses.copy()  # aligned to the silhouettes
    info = {"hull": hull.info}
    if tips is not None:
        scale, scale_info = hand_scale(_hull_prior(hull), poses, tips)
        info.update(scale_info)
        if abs(np.log(scale)) > SCALE_TOLERANCE:
            # The object is s times larger and farther than the poses say: rescale them (and
            # any given points with them) and carve again at the hand's scale.
            poses[:, :3, 3] *= scale
            points = None if points is None else np.asarray(points, np.float64) * scale
            first = hull.info
            hull = object_hull(labels, poses, K, tips_depth, settings, known_empty)
            poses = hull.poses.copy()
            info.update(hull=hull.info, rescaled=True, hull_before_rescale=first)
    prior = _hull_prior(hull)
    lo, hi = hull.extent()
    if points is not None and len(points):
        inliers, point_info = check_points(np.asarray(points, np.float64), prior)
        info.update(point_info)
        if len(inliers):
            lo = np.minimum(lo, np.percentile(inliers, 1, axis=0))
            hi = np.maximum(hi, np.percentile(inliers, 99, axis=0))
    centre = (lo + hi) / 2
    half = np.maximum((hi - lo) / 2, MIN_HALF_EXTENT_M) * (1 + margin)
    bounds = np.stack([centre - half, centre + half])
    info["box_m"] = [round(float(v), 4) for v in 2 * half]
    return ObjectStart(bounds, prior, poses, info)
