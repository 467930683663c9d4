"""Hand–object alignment: give the SfM object the hand's metric scale (HOLD's alignment step,
generator/scripts/align_hands_object.py, reduced to what a static camera leaves unknown).

With a static camera, SfM's camera-frame geometry is right up to one global scale ``s`` about
the camera centre: scaling every SfM point and translation by ``s`` leaves every reprojection
unchanged. So instead of HOLD's per-frame translations + scale optimised by Adam, ``s`` is found
by a robust 1-D search that puts the object where the hand holds it:

    E(s) = Σ_t median_tips ρ( min_i |s·(R_t X_i + t_t) − tip_t| )   (contact of the fingertips)
         + w · Σ_t ρ( |s·c_t − h_t| − r )                            (coarse centroid term)

with X the SfM points, c_t / h_t the object-point / hand-joint centroids, r a hand-sized
allowance, ρ a truncated quadratic. A golden-section search refines the best of a log grid.

For the hand-attached fallback (no SfM), ``hand_attached_object`` builds the object frame at a
reference frame from the object mask (centroid back-projected to the fingertips' depth) and
carves coarse object points from the masks (a visual hull in the hand's frame).
"""

from __future__ import annotations

import numpy as np

from hold.io.sequence import LABEL_HAND, LABEL_OBJECT
from hold.models.object.visual_hull import HullSettings, object_hull
from hold.preprocess.sfm import attach_to_hand

TIPS = (4, 8, 12, 16, 20)


def _cost(scale: float, points_t: list[np.ndarray], tips: np.ndarray, joints: np.ndarray, frames) -> float:
    total = 0.0
    cap = 0.05  # m: beyond 5 cm a fingertip is not touching anything
    for k, t in enumerate(frames):
        P = scale * points_t[k]
        d = np.sqrt(((P[None] - tips[t][:, None]) ** 2).sum(-1)).min(1)
        total += float(np.median(np.minimum(d, cap) ** 2))
        gap = np.linalg.norm(P.mean(0) - joints[t].mean(0))
        total += 0.1 * min(max(gap - 0.08, 0.0), cap) ** 2
    return total / max(1, len(frames))


def fit_object_scale(poses: np.ndarray, points: np.ndarray, joints: np.ndarray, use: np.ndarray,
                     max_points: int = 2000, seed: int = 0) -> tuple[float, dict]:
    """Scale s (metres per SfM unit) for SfM poses [T, 4, 4] and points [N, 3], given metric
    hand joints [T, 21, 3] and the frames ``use`` [T] bool with both. Returns (s, info)."""
    frames = np.flatnonzero(use & np.isfinite(poses[:, 0, 0]) & np.isfinite(joints[:, 0, 0]))
    if len(frames) == 0 or len(points) == 0:
        raise ValueError("fit_object_scale: no frame with both an object pose and a hand")
    rng = np.random.default_rng(seed)
    if len(points) > max_points:
        points = points[rng.choice(len(points), max_points, replace=False)]
    if len(frames) > 24:
        frames = frames[np.linspace(0, len(frames) - 1, 24).round().astype(int)]
    points_t = [points @ poses[t, :3, :3].T + poses[t, :3, 3] for t in frames]
    tips = joints[:, list(TIPS)]
    # Scale that puts the object's median depth at the hand's: the grid's centre.
    depth_sfm = np.median([p[:, 2].mean() for p in points_t])
    depth_hand = np.median(joints[frames, :, 2].mean(-1))
    centre = depth_hand / depth_sfm if depth_sfm > 0 else 1.0
    grid = centre * np.exp(np.linspace(np.log(0.4), np.log(2.5), 41))
    costs = [_cost(s, points_t, tips, joints, frames) for s in grid]
    i = int(np.argmin(costs))
    lo, hi = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    golden = (np.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - golden * (b - a), a + golden * (b - a)
    fc, fd = _cost(c, points_t, tips, joints, frames), _cost(d, points_t, tips, joints, frames)
    for _ in range(20):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - golden * (b - a)
            fc = _cost(c, points_t, tips, joints, frames)
        else:
            a, c, fc = c, d, fd
            d = a + golden * (b - a)
            fd = _cost(d, points_t, tips, joints, frames)
    scale = float((a + b) / 2)
    residual = _cost(scale, points_t, tips, joints, frames)
    return scale, {"scale_m_per_sfm_unit": scale, "depth_ratio_start": float(centre),
                   "contact_rms_mm": round(1000 * float(np.sqrt(residual)), 2), "frames": len(frames)}


def apply_scale(poses: np.ndarray, points: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """SfM poses/points → metric: translations and points × scale (rotations unchanged)."""
    out = poses.copy()
    out[:, :3, 3] *= scale
    return out, points * scale


def hand_attached_object(labels: np.ndarray, hand_joints: np.ndarray, wrist_poses: np.ndarray,
                         K: np.ndarray, reference: int, observed: np.ndarray,
                         voxels: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Object poses [T, 4, 4] that move rigidly with the wrist, and carved object points [N, 3]
    (object frame, metres).

    The object frame at ``reference`` is camera-aligned with its origin at the object mask's
    centroid back-projected to the depth of the fingertips. Points: centres of voxels (a cube
    of twice the object's apparent size) that project into the object mask in every frame where
    they are in view (object or hand label: the hand may hide the object), kept when they fall
    on the object label in at least one frame (a visual hull)."""
    import cv2

    T, H, W = labels.shape
    Kinv = np.linalg.inv(K)
    mask = labels[reference] == LABEL_OBJECT
    ys, xs = np.nonzero(mask)
    depth = float(np.median(hand_joints[reference, list(TIPS), 2]))
    if len(xs) == 0:
        centre_px = np.array([W / 2, H / 2])
        radius_px = 0.1 * max(W, H)
    else:
        centre_px = np.array([xs.mean(), ys.mean()])
        radius_px = 0.5 * max(xs.max() - xs.min(), ys.max() - ys.min()) + 2
    centre = depth * (Kinv @ np.array([centre_px[0], centre_px[1], 1.0]))
    object_ref = np.eye(4)
    object_ref[:3, 3] = centre
    poses = np.stack([attach_to_hand(object_ref, wrist_poses[reference], wrist_poses[t]) for t in range(T)])
    half = 1.3 * radius_px * depth / K[0, 0]
    axis = np.linspace(-half, half, voxels)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    inside = np.ones(len(grid), bool)
    on_object = np.zeros(len(grid), bool)
    kernel = np.ones((5, 5), np.uint8)
    used = 0
    for t in np.flatnonzero(observed):
        obj = labels[t] == LABEL_OBJECT
        if not obj.any():
            continue
        m = cv2.dilate(((labels[t] == LABEL_OBJECT) | (labels[t] == LABEL_HAND)).astype(np.uint8), kernel) > 0
        cam = grid @ poses[t, :3, :3].T + poses[t, :3, 3]
        uv = cam @ K.T
        u = np.round(uv[:, 0] / uv[:, 2]).astype(int)
        v = np.round(uv[:, 1] / uv[:, 2]).astype(int)
        visible = (u >= 0) & (u < W) & (v >= 0) & (v < H) & (cam[:, 2] > 0)
        hit = np.zeros(len(grid), bool)
        hit[visible] = m[v[visible], u[visible]]
        inside &= hit | ~visible
        on_object[visible] |= obj[v[visible], u[visible]]
        used += 1
    points = grid[inside & on_object] if used else np.zeros((0, 3))
    return poses, points


def carry_hand_with_object(joints: np.ndarray, seen: np.ndarray, object_poses: np.ndarray,
                           from_images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joints for the frames without a detected hand, carried by the object.

    A hand the detector misses is usually hidden behind the object it holds, and moves with it.
    The IK fills such frames by smoothing in the camera frame, which holds the hand still while
    the object turns. Here a missed frame takes the hand's joints in the object's frame,
    interpolated linearly between the nearest detected frames before and after it (the nearest
    one at the ends), and moves them with that frame's object pose.

    Only the object poses that come from the images can carry a hand. A hand-attached pose was
    made from the hand itself.

    joints [T, 21, 3] camera frame; seen [T] bool (the frame's hand was seen: detected keypoints);
    object_poses [T, 4, 4] object → camera; from_images [T] bool (the pose is from SfM or
    interpolated between SfM frames). Returns the new joints and [T] bool, the frames changed.
    """
    joints = np.asarray(joints, np.float64)
    rotations, translations = object_poses[:, :3, :3], object_poses[:, :3, 3]
    in_object = np.einsum("tji,tnj->tni", rotations, joints - translations[:, None])  # Rᵀ(x − t)
    anchors = np.flatnonzero(seen & from_images)
    out, carried = joints.copy(), np.zeros(len(joints), bool)
    if len(anchors) == 0:
        return out, carried
    for t in np.flatnonzero(~seen & from_images):
        before, after = anchors[anchors < t], anchors[anchors > t]
        if len(before) and len(after):
            a, b = before[-1], after[0]
            w = (t - a) / (b - a)
            hand = (1 - w) * in_object[a] + w * in_object[b]
        else:
            hand = in_object[before[-1] if len(before) else after[0]]
        out[t] = hand @ rotations[t].T + translations[t]
        carried[t] = True
    return out, carried


def mask_consistency(labels: np.ndarray, poses: np.ndarray, K: np.ndarray) -> float:
    """How well one rigid object explains the masks along the poses [T, 4, 4] (object → camera):
    the share of the object pixels that the voting visual hull carved along these poses covers
    when projected back (``visual_hull.mask_coverage``, mean over frames, as ``object_hull``
    reports it; 0 when the masks and the poses agree on no point). Poses that follow the object keep a hull that reprojects onto
    every mask; poses that turn the wrong way carve it down to what all frames happen to share.
    A global scale of the translations does not change it. labels [T, H, W] uint8; K [3, 3]."""
    try:
        hull = object_hull(labels, poses, K, None, HullSettings(align_rounds=0))
    except ValueError:
        return 0.0
    return float(hull.info["mask_coverage"])  # object_hull measured it (3 decimals)
