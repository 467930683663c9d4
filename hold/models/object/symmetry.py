"""The axis of an object that is (close to) a surface of revolution — a bulb, a bottle, a can,
a cup without its handle — found from its current SDF, for the revolution prior of training
(TrainConfig.w_revolution, docs/ENGINE.md §2)."""

from __future__ import annotations

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
    [N]. A turned copy outside the field's box bounds [2, 3] is empty space: its value is at least
    its distance to the box (so that an axis that turns the object out of its box is not
    mistaken for one that turns it into itself).

    With ``seen`` ([R³] bool over bounds, ``seen_volume``) the side some frame sees
    teaches the side none sees and does not learn from it (its value is detached in that pair);
    pairs on the same side of the split both learn. Without it both sides always learn."""
    turned = rotate_about_axis(points, centre, direction, angles)
    clamped = torch.minimum(torch.maximum(turned, bounds[0]), bounds[1])
    values = sdf_fn(torch.cat([points, clamped]))
    n = points.shape[0]
    outside = (turned - clamped).norm(dim=1)
    here, there = values[:n], torch.where(outside > 0, torch.maximum(values[n:], outside), values[n:])
    if seen is not None:
        seen_here, seen_there = lookup(seen, bounds, points), lookup(seen, bounds, clamped) & (outside == 0)
        here = torch.where(seen_here & ~seen_there, here.detach(), here)
        there = torch.where(seen_there & ~seen_here, there.detach(), there)
    return (here - there).abs().mean()


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
    probe = points.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(sdf_fn(probe).sum(), probe)
    normals = torch.nn.functional.normalize(gradient, dim=1).detach()
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
