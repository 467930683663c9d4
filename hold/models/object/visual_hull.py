"""The object's starting geometry from what a video gives: the masks along the initial poses.

A *voting* visual hull in the object frame. Each voxel is projected into every frame with that
frame's object pose; a frame votes "object" when the voxel lands on the object label and
"empty" when it lands on background. Hand and ignore pixels abstain (the hand may hide the
object there; it never carves). A voxel is object when it has a majority of object votes and
enough of them. Unlike a strict hull (the intersection of all silhouettes), a few wrong masks
or a few degrees and centimetres of pose noise cost a thin layer, not the whole object
(Laurentini 1994 for the hull; the voting form follows probabilistic space carving, e.g.
Broadhurst, Drummond & Cipolla, ICCV 2001, reduced to counting).

Where to look: the object's centre is the point that best meets the object-mask centroids' rays
of all frames, expressed in the object frame (triangulation through the initial poses), pulled
weakly towards the fingertips' depth (the hand is metric; an object in the hand is at its
depth). Its size is the masks' apparent size at that depth. The hull is carved once coarsely
in a generous cube around that centre, then again finely in the box of the coarse hull.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hold.io.sequence import LABEL_BACKGROUND, LABEL_OBJECT


@dataclass
class HullSettings:
    coarse_resolution: int = 40  # voxels per axis of the first, generous cube
    resolution: int = 64  # voxels per axis of the final box
    # Object votes / (object + empty votes) needed: a strict hull would ask for all of them;
    # 0.8 lets one frame in five be wrong (a bad mask, a pose off by a few degrees) without
    # carving, while a majority (0.5) keeps everything that half the views cannot rule out.
    majority: float = 0.8
    min_object_votes: int = 2  # … and at least this many object votes (always-hidden voxels are not object)
    min_object_share: float = 0.15  # … in at least this share of the frames that see the voxel at all
    search_radius: float = 2.0  # coarse cube half side, in apparent object radii
    margin: float = 0.15  # final box = hull box enlarged by this (relative) on each side
    depth_prior_weight: float = 0.05  # pull of the fingertips' depth against triangulation
    max_frames: int = 64  # frames that vote (evenly spread): the cost must not grow with T


@dataclass
class VisualHull:
    """occupied [D, H, W] bool over ``bounds`` [2, 3] (object frame, metres; voxel centres at
    bounds[0] + (i + 0.5)·size/res, index order z, y, x), and what it was made from."""

    occupied: np.ndarray
    bounds: np.ndarray
    info: dict

    @property
    def voxel_size(self) -> np.ndarray:
        res = np.array(self.occupied.shape[::-1])
        return (self.bounds[1] - self.bounds[0]) / res

    def centers(self) -> np.ndarray:
        """Centres [D·H·W, 3] (x, y, z) of all voxels in the occupied array's order."""
        return _voxel_centers(self.bounds, self.occupied.shape[0])

    def points(self) -> np.ndarray:
        """Centres [N, 3] of the occupied voxels."""
        return self.centers()[self.occupied.reshape(-1)]

    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo [3], hi [3]) of the occupied voxels' cells."""
        pts = self.points()
        half = self.voxel_size / 2
        return pts.min(0) - half, pts.max(0) + half

    def signed_distance(self, smooth_voxels: float = 1.0) -> np.ndarray:
        """A signed distance [D, H, W] at the voxel centres (negative inside, metres) to the
        hull's surface: Euclidean distance transforms of the voxels inside and outside, lightly
        smoothed so the staircase does not become the shape."""
        from scipy.ndimage import distance_transform_edt, gaussian_filter

        occ = self.occupied
        spacing = self.voxel_size[::-1]  # (z, y, x)
        outside = distance_transform_edt(~occ, sampling=spacing)
        inside = distance_transform_edt(occ, sampling=spacing)
        # Both transforms measure centre to centre: the surface lies half a voxel in between.
        half = 0.5 * float(spacing.mean())
        sdf = np.where(occ, -(inside - half), outside - half)
        if smooth_voxels > 0:
            sdf = gaussian_filter(sdf, smooth_voxels, mode="nearest")
        return sdf.astype(np.float32)


def _voxel_centers(bounds: np.ndarray, res: int) -> np.ndarray:
    axes = [bounds[0][d] + (np.arange(res) + 0.5) * (bounds[1][d] - bounds[0][d]) / res for d in range(3)]
    z, y, x = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    return np.stack([x, y, z], -1).reshape(-1, 3)


def vote(centers: np.ndarray, labels: np.ndarray, poses: np.ndarray, K: np.ndarray,
         frames: np.ndarray, known_empty=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Votes of the frames for points [N, 3] (object frame): object [N], empty [N] and in
    view [N] counts. labels [T, H, W] uint8, poses [T, 4, 4] object → camera.
    known_empty(t, camera_points [N, 3]) → bool [N]: points another body fills in frame t
    (the hand: the object cannot be inside it); they vote empty whatever they project to."""
    T, H, W = labels.shape
    n = len(centers)
    obj = np.zeros(n, np.int32)
    empty = np.zeros(n, np.int32)
    seen = np.zeros(n, np.int32)
    homogeneous = np.concatenate([centers, np.ones((n, 1))], 1).astype(np.float32)
    flat_labels = labels.reshape(T, -1)
    for t in frames:
        projection = (K @ poses[t, :3, :]).astype(np.float32)  # [3, 4] object → pixels
        uvw = homogeneous @ projection.T
        z = uvw[:, 2]
        front = z > 1e-3
        safe = np.where(front, z, 1.0)
        u = np.rint(uvw[:, 0] / safe).astype(np.int64)
        v = np.rint(uvw[:, 1] / safe).astype(np.int64)
        inside = front & (u >= 0) & (u < W) & (v >= 0) & (v < H)
        label = np.where(inside, flat_labels[t][np.where(inside, v * W + u, 0)], 255)
        is_empty = label == LABEL_BACKGROUND
        if known_empty is not None:
            cam = centers @ poses[t, :3, :3].T + poses[t, :3, 3]
            filled = known_empty(int(t), cam)
            is_empty |= filled
            inside |= filled
        obj += (label == LABEL_OBJECT) & ~is_empty
        empty += is_empty
        seen += inside
    return obj, empty, seen


def _decide(obj, empty, seen, settings: HullSettings) -> np.ndarray:
    decided = obj + empty
    return ((obj >= settings.majority * np.maximum(decided, 1)) & (obj >= settings.min_object_votes)
            & (obj >= settings.min_object_share * seen))


def locate_object(labels: np.ndarray, poses: np.ndarray, K: np.ndarray,
                  tips_depth: np.ndarray | None, frames: np.ndarray,
                  depth_prior_weight: float) -> tuple[np.ndarray, float, dict]:
    """The object's centre [3] in the object frame and its apparent radius in metres.

    Minimises Σ_t ‖(I − e_t e_tᵀ)(c − o_t)‖² + λ Σ_t ‖c − q_t‖² over the frames with object
    pixels: o_t, e_t the camera centre and the object-mask centroid's viewing ray in the object
    frame, q_t the centroid back-projected to the fingertips' depth (without a hand, to the
    depth of the pose's origin). Frames whose ray misses the solution by far (a wrong mask, a
    wrong pose) are dropped and the solve repeated. The radius is the 80th percentile over
    frames of the mask's apparent radius (95th-percentile pixel distance to the centroid)
    scaled to metres at the centre's depth in that frame."""
    Kinv = np.linalg.inv(K)
    origins, directions, priors, spreads, used_frames = [], [], [], [], []
    for t in frames:
        ys, xs = np.nonzero(labels[t] == LABEL_OBJECT)
        if len(xs) < 4:
            continue
        cu, cv = xs.mean(), ys.mean()
        spreads.append(float(np.sqrt(np.percentile((xs - cu) ** 2 + (ys - cv) ** 2, 95))))
        R, tr = poses[t, :3, :3], poses[t, :3, 3]
        ray = Kinv @ np.array([cu, cv, 1.0])
        depth = tips_depth[t] if tips_depth is not None and np.isfinite(tips_depth[t]) else tr[2]
        origins.append(-R.T @ tr)
        directions.append(R.T @ (ray / np.linalg.norm(ray)))
        priors.append(R.T @ (ray * depth - tr))
        used_frames.append(int(t))
    if not used_frames:
        raise ValueError("no frame has object pixels")
    o, e, q = np.array(origins), np.array(directions), np.array(priors)
    projectors = np.eye(3)[None] - e[:, :, None] * e[:, None, :]  # [F, 3, 3]
    keep = np.ones(len(o), bool)
    for _ in range(2):
        A = (projectors[keep] + depth_prior_weight * np.eye(3)).sum(0)
        b = (projectors[keep] @ o[keep][:, :, None])[:, :, 0].sum(0) + depth_prior_weight * q[keep].sum(0)
        centre = np.linalg.solve(A, b)
        miss = np.linalg.norm((projectors @ (centre - o)[:, :, None])[:, :, 0], axis=1)
        keep = miss <= 3 * max(float(np.median(miss)), 1e-3)
    frames_used = np.array(used_frames)
    depths = np.einsum("fij,j->fi", poses[frames_used, :3, :3], centre)[:, 2] + poses[frames_used, 2, 3]
    radii = np.array(spreads) * np.abs(depths) / K[0, 0]
    radius = float(np.percentile(radii[keep], 80))
    info = {"frames_with_object": len(used_frames), "frames_agreeing": int(keep.sum()),
            "centre_depth_m": round(float(np.median(depths[keep])), 4),
            "apparent_radius_m": round(radius, 4)}
    return centre, radius, info


def carve(labels: np.ndarray, poses: np.ndarray, K: np.ndarray, frames: np.ndarray,
          bounds: np.ndarray, resolution: int, settings: HullSettings, known_empty=None) -> np.ndarray:
    """occupied [res, res, res] (z, y, x) of the voting hull over ``bounds``."""
    obj, empty, seen = vote(_voxel_centers(bounds, resolution), labels, poses, K, frames, known_empty)
    return _decide(obj, empty, seen, settings).reshape(resolution, resolution, resolution)


def _largest_component(occupied: np.ndarray) -> np.ndarray:
    from scipy.ndimage import label

    components, count = label(occupied)
    if count <= 1:
        return occupied
    sizes = np.bincount(components.reshape(-1))[1:]
    return components == 1 + int(np.argmax(sizes))


def object_hull(labels: np.ndarray, poses: np.ndarray, K: np.ndarray,
                tips_depth: np.ndarray | None = None,
                settings: HullSettings | None = None, known_empty=None) -> VisualHull:
    """The voting visual hull of the object in its frame.

    labels [T, H, W] uint8 mask labels; poses [T, 4, 4] object → camera (rigid, finite);
    K [3, 3]; tips_depth [T] the fingertips' mean depth in metres (NaN where unknown);
    known_empty(t, camera_points) → bool: space the hand fills in frame t (see ``vote``).
    Raises ValueError (with the reason) when no frame shows the object, or when the masks and
    the poses agree on no voxel."""
    settings = settings or HullSettings()
    frames = np.flatnonzero(np.isfinite(poses).all((1, 2)))
    if len(frames) > settings.max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, settings.max_frames).round().astype(int)]
    centre, radius, info = locate_object(labels, poses, K, tips_depth, frames, settings.depth_prior_weight)
    half = settings.search_radius * radius
    bounds = np.stack([centre - half, centre + half])
    coarse = _largest_component(carve(labels, poses, K, frames, bounds, settings.coarse_resolution, settings,
                                      known_empty))
    if not coarse.any():
        raise ValueError("the object masks and the object poses agree on no point: nothing projects "
                         "into the object label in most of the frames that see it")
    rough = VisualHull(coarse, bounds, {})
    lo, hi = rough.extent()
    # One coarse voxel of slack, then the margin: the fine pass may grow where the coarse
    # decision was borderline.
    size = hi - lo
    lo, hi = lo - rough.voxel_size - settings.margin * size, hi + rough.voxel_size + settings.margin * size
    fine_bounds = np.stack([lo, hi])
    occupied = _largest_component(carve(labels, poses, K, frames, fine_bounds, settings.resolution, settings,
                                        known_empty))
    hull = VisualHull(occupied, fine_bounds, info)
    lo, hi = hull.extent()
    info.update(voxels=int(occupied.sum()), extent_m=[round(float(v), 4) for v in hi - lo])
    return hull
