"""The axis of an object that is (close to) a surface of revolution — a bulb, a bottle, a can,
a cup without its handle — found from its current SDF, for the revolution prior of training
(TrainConfig.w_revolution, docs/ENGINE.md §2)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hold.models.fields.occupancy import cell_centres, cell_of


@dataclass
class RevolutionAxis:
    centre: torch.Tensor  # [3] a point on the axis (field coordinates)
    direction: torch.Tensor  # [3] unit vector along it
    # [R³] bool over the field's box: cells of the surface some frame sees (seen_volume);
    # None: every point is treated alike
    seen: torch.Tensor | None = None

    def to(self, device) -> "RevolutionAxis":
        return RevolutionAxis(self.centre.to(device), self.direction.to(device),
                              None if self.seen is None else self.seen.to(device))


def rotate_about_axis(points: torch.Tensor, centre: torch.Tensor, direction: torch.Tensor,
                      angles: torch.Tensor) -> torch.Tensor:
    """points [N, 3] turned by angles [N] (radians) about the line through centre [3] along the
    unit vector direction [3] (Rodrigues' formula)."""
    r = points - centre
    cos, sin = torch.cos(angles)[:, None], torch.sin(angles)[:, None]
    k = direction.expand_as(r)
    along = (r * k).sum(1, keepdim=True) * k
    return centre + r * cos + torch.cross(k, r, dim=1) * sin + along * (1 - cos)


def revolution_l1(sdf_fn, points: torch.Tensor, centre: torch.Tensor, direction: torch.Tensor,
                  angles: torch.Tensor, bounds: torch.Tensor, seen: torch.Tensor | None = None) -> torch.Tensor:
    """mean |s(x) − s(x turned about the axis)| over points [N, 3]: zero exactly for a surface
    of revolution about the axis (centre [3], unit direction [3]); each point by its own angle
    [N]. See ``symmetry_l1`` for bounds and seen."""
    turned = rotate_about_axis(points, centre, direction, angles)
    return symmetry_l1(sdf_fn, points, turned, bounds, seen)


def symmetry_l1(sdf_fn, points: torch.Tensor, images: torch.Tensor, bounds: torch.Tensor,
                seen: torch.Tensor | None = None) -> torch.Tensor:
    """mean |s(x) − s(x')| over points x [N, 3] and their images x' [N, 3] under a symmetry of
    the object (a turn about its axis, a reflection in its plane). An image outside the field's
    box bounds [2, 3] is empty space: its value is at least its distance to the box (so that a
    symmetry that maps the object out of its box is not mistaken for one that maps it into
    itself).

    With ``seen`` ([R³] bool over bounds, ``seen_volume``) the side some frame sees
    teaches the side none sees and does not learn from it (its value is detached in that pair);
    pairs on the same side of the split both learn. Without it both sides always learn."""
    clamped = torch.minimum(torch.maximum(images, bounds[0]), bounds[1])
    values = sdf_fn(torch.cat([points, clamped]))
    n = points.shape[0]
    outside = (images - clamped).norm(dim=1)
    here, there = values[:n], torch.where(outside > 0, torch.maximum(values[n:], outside), values[n:])
    if seen is not None:
        seen_here, seen_there = lookup(seen, bounds, points), lookup(seen, bounds, clamped) & (outside == 0)
        here = torch.where(seen_here & ~seen_there, here.detach(), here)
        there = torch.where(seen_there & ~seen_here, there.detach(), there)
    return (here - there).abs().mean()


def reflect(points: torch.Tensor, centre: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """points [N, 3] mirrored in the plane through centre with unit normal: one plane ([3]
    each) or a plane per point ([N, 3] each)."""
    return points - 2 * ((points - centre) * normal).sum(-1, keepdim=True) * normal


def seen_volume(points: torch.Tensor, bounds: torch.Tensor, resolution: int = 64) -> torch.Tensor:
    """[res³] bool over bounds [2, 3], indexed as the occupancy grid's cells (``cell_of``): the
    cells holding one of points [M, 3] (the seen surface, ``seen_surface_points``) and their 26
    neighbours."""
    volume = torch.zeros(resolution ** 3, device=points.device)
    volume[cell_of(bounds, resolution, points)] = 1.0
    volume = torch.nn.functional.max_pool3d(volume.reshape(1, 1, *(resolution,) * 3), 3, 1, 1)
    return volume.reshape(-1) > 0


def lookup(volume: torch.Tensor, bounds: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """volume [res³] (bool, ``seen_volume``) at points [N, 3] inside bounds [2, 3] → [N] bool."""
    return volume[cell_of(bounds, round(volume.numel() ** (1 / 3)), points)]


def _grid(bounds: torch.Tensor, resolution: int) -> torch.Tensor:
    """Cell centres [resolution³, 3] of a regular grid over bounds [2, 3]."""
    return cell_centres(bounds, resolution, torch.arange(resolution ** 3, device=bounds.device))


def principal_axes(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean [3] of points [N, 3] and their principal directions [3, 3] (rows)."""
    centre = points.mean(0)
    _, vectors = torch.linalg.eigh(torch.cov((points - centre).T.double()))
    return centre, vectors.T.float()


def seen_surface_points(sdf_fn, bounds: torch.Tensor, poses: torch.Tensor, K: torch.Tensor,
                        object_masks: torch.Tensor, scale: float = 1.0, resolution: int = 64,
                        pixel_cell: int = 2) -> torch.Tensor:
    """The points of the object's surface that some frame sees, [M, 3] field coordinates.

    Grid cells within one cell of the surface of ``sdf_fn`` over bounds [2, 3] are projected
    into every frame (poses [T, 4, 4] object → camera in metres, field units × ``scale`` =
    metres; K [3, 3]); a cell is seen in a frame when it lands on the object's label
    (object_masks [T, H, W] bool) and is no more than three cells behind the nearest cell that
    lands in the same ``pixel_cell``² block (a z-buffer of the surface band, whose depth along
    a ray grows as the surface turns away from the camera)."""
    with torch.no_grad():
        cells = _grid(bounds.float(), resolution)
        values = torch.cat([sdf_fn(chunk) for chunk in cells.split(65536)])
        cell = float((bounds[1] - bounds[0]).max()) / resolution
        band = cells[values.abs() < cell]
        metres = band * scale
        height, width = object_masks.shape[1:]
        blocks_x = (width + pixel_cell - 1) // pixel_cell
        seen = torch.zeros(len(band), dtype=torch.bool, device=band.device)
        for pose, mask in zip(poses, object_masks):
            cam = metres @ pose[:3, :3].T + pose[:3, 3]
            depth = cam[:, 2]
            uv = (cam @ K.T)[:, :2] / depth.clamp(min=1e-6)[:, None]
            u, v = uv[:, 0].floor().long(), uv[:, 1].floor().long()
            ok = (depth > 0) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
            ok[ok.clone()] = mask[v[ok], u[ok]]
            if not ok.any():
                continue
            key = (v[ok] // pixel_cell) * blocks_x + u[ok] // pixel_cell
            nearest = torch.full((int(key.max()) + 1,), float("inf"), device=band.device)
            nearest.scatter_reduce_(0, key, depth[ok], reduce="amin")
            front = depth[ok] <= nearest[key] + 3 * cell * scale
            seen[ok.nonzero().squeeze(1)[front]] = True
    return band[seen]


def surface_normals(sdf_fn, points: torch.Tensor) -> torch.Tensor:
    """Unit normals [N, 3] of the SDF ``sdf_fn`` at points [N, 3] (its normalised gradient)."""
    with torch.enable_grad():
        probe = points.detach().clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(sdf_fn(probe).sum(), probe)
    return torch.nn.functional.normalize(gradient, dim=1).detach()


def normal_line_residual(points: torch.Tensor, normals: torch.Tensor, centre: torch.Tensor,
                         direction: torch.Tensor) -> torch.Tensor:
    """mean ((n × (p − c)) · d)² over points [N, 3] with unit normals [N, 3]: zero when every
    normal line meets the axis (c [3], unit d [3]), which a surface of revolution's normals do
    (Pottmann & Randrup, "Rotational and helical surface approximation for reverse
    engineering", Computing 1998). Local: it needs no part of the surface the points miss."""
    return ((torch.cross(normals, points - centre, dim=1) * direction).sum(1) ** 2).mean()


def fit_revolution_axis(sdf_fn, bounds: torch.Tensor, points: torch.Tensor | None = None,
                        resolution: int = 40, steps: int = 150) -> RevolutionAxis:
    """The axis of revolution that best explains the surface of ``sdf_fn`` (field coordinates
    [N, 3] → SDF [N]) at points [M, 3] (default: every grid cell near the surface; the trainer
    passes ``seen_surface_points``, so that what no frame sees cannot vote): from each of the
    three principal directions of the SDF's inside through its mean, Adam on the normal-line
    residual (``normal_line_residual``, normals from the SDF's gradient); the lowest wins.
    bounds [2, 3]: the field's box. Raises ValueError when the SDF has no inside."""
    with torch.no_grad():
        cells = _grid(bounds.float(), resolution)
        values = torch.cat([sdf_fn(chunk) for chunk in cells.split(65536)])
    inside = cells[values < 0]
    if len(inside) < 16:
        raise ValueError("the object's SDF has no inside to find a symmetry axis in")
    cell = float((bounds[1] - bounds[0]).max()) / resolution
    if points is None or len(points) < 16:
        points = cells[values.abs() < 2 * cell]
    normals = surface_normals(sdf_fn, points)
    points = points.detach()
    size = float((bounds[1] - bounds[0]).norm())
    centre0, directions = principal_axes(inside)
    best, best_residual = None, float("inf")
    for start in directions:
        centre = centre0.clone().requires_grad_(True)
        direction = start.clone().requires_grad_(True)
        # steps of ~1 % of the object's size for the centre, ~0.6° for the direction
        optimiser = torch.optim.Adam([{"params": [centre], "lr": 0.01 * size},
                                      {"params": [direction], "lr": 0.01}])
        for _ in range(steps):
            residual = normal_line_residual(points, normals, centre, direction / direction.norm())
            centre.grad, direction.grad = torch.autograd.grad(residual, [centre, direction])
            optimiser.step()
        with torch.no_grad():
            unit = direction / direction.norm()
            residual = float(normal_line_residual(points, normals, centre, unit))
        if residual < best_residual:
            best, best_residual = RevolutionAxis(centre.detach().clone(), unit.detach().clone()), residual
    return best


@dataclass
class MirrorPlanes:
    centres: torch.Tensor  # [P, 3] a point on each plane (field coordinates)
    normals: torch.Tensor  # [P, 3] unit normals
    inliers: torch.Tensor  # [P] share of the seen surface each plane maps onto itself
    seen: torch.Tensor | None = None  # as RevolutionAxis.seen

    def to(self, device) -> "MirrorPlanes":
        return MirrorPlanes(self.centres.to(device), self.normals.to(device), self.inliers.to(device),
                            None if self.seen is None else self.seen.to(device))


def _nearest(queries: torch.Tensor, points: torch.Tensor, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of queries [N, 3] its nearest of points [M, 3]: (distances [N], indices [N])."""
    found = [torch.cdist(part, points).min(1) for part in queries.split(chunk)]
    return torch.cat([f.values for f in found]), torch.cat([f.indices for f in found])


def fit_mirror_planes(points: torch.Tensor, normals: torch.Tensor, tolerance: float,
                      min_inliers: float = 0.6, iterations: int = 30, max_points: int = 4000,
                      seed: int = 0) -> MirrorPlanes:
    """The mirror planes of the surface that some frame sees, points [M, 3] with unit normals
    [M, 3] (field coordinates).

    From each of the three principal planes of the points (through their mean), an ICP of the
    surface with its own mirror image (Combès et al., "Automatic symmetry plane estimation of
    bilateral objects in point clouds", CVPR 2008): each point's mirror image is paired with
    its nearest point; pairs closer than ``tolerance`` with normals that agree (within 30°)
    are inliers; the plane becomes the perpendicular bisector of the inlier pairs. Mirror
    images that land where no frame sees (the hidden side) find no partner and do not vote,
    so that the side the prior is to complete cannot bend the plane. Planes whose inliers are
    at least ``min_inliers`` of the points are kept (a box keeps three, a mug one, a shoe
    none); two starts that end on the same plane count once.

    A face that runs across a plane mirrors onto itself wherever the plane lies along it, so
    when the faces across it are all the pairs there are (a box whose far end no frame sees),
    the plane stays near where it started, the mean of the seen points (tested: within 6 mm
    of the middle of a 10 cm box without its far end)."""
    if len(points) > max_points:
        pick = torch.randperm(len(points), generator=torch.Generator().manual_seed(seed))[:max_points]
        points, normals = points[pick.to(points.device)], normals[pick.to(points.device)]
    centre0, directions = principal_axes(points)
    kept_centres, kept_normals, kept_inliers = [], [], []
    for start in directions:
        centre, normal = centre0.clone(), start.clone()
        share = 0.0
        for _ in range(iterations):
            images = reflect(points, centre, normal)
            image_normals = normals - 2 * (normals @ normal)[:, None] * normal  # directions: no centre
            distance, index = _nearest(images, points)
            partner, partner_normal = points[index], normals[index]
            inlier = (distance < tolerance) & ((image_normals * partner_normal).sum(1) > math.cos(math.radians(30)))
            share = float(inlier.float().mean())
            if int(inlier.sum()) < 8:
                break
            chords = points[inlier] - partner[inlier]
            # Pairs far from the plane fix its direction best; a pair's chord points along ±normal.
            chords = chords * torch.sign(chords @ normal)[:, None]
            new_normal = torch.nn.functional.normalize(chords.sum(0), dim=0)
            new_centre = 0.5 * (points[inlier] + partner[inlier]).mean(0)
            # The centre moves only along the normal (the plane is what matters).
            new_centre = centre + ((new_centre - centre) @ new_normal) * new_normal
            moved = float((new_normal - normal).norm()) + float(((new_centre - centre) @ new_normal).abs())
            centre, normal = new_centre, new_normal
            if moved < 1e-6:
                break
        if share < min_inliers:
            continue
        duplicate = any(abs(float(normal @ n)) > math.cos(math.radians(10))
                        and abs(float((centre - c) @ n)) < tolerance
                        for c, n in zip(kept_centres, kept_normals))
        if not duplicate:
            kept_centres.append(centre), kept_normals.append(normal), kept_inliers.append(share)
    if not kept_centres:
        empty = points.new_zeros((0, 3))
        return MirrorPlanes(empty, empty.clone(), points.new_zeros(0))
    return MirrorPlanes(torch.stack(kept_centres), torch.stack(kept_normals), points.new_tensor(kept_inliers))
