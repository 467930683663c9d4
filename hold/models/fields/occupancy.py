"""A node's occupancy grid in its own (canonical) coordinates: densities, bitfield, and the
instant-NGP refresh (all cells during warm-up, then a uniform plus an occupied subset)."""

from __future__ import annotations

from typing import Callable

import torch

from hold.ops import occgrid_pack, occgrid_update, sdf_occupancy


def cell_centres(bounds: torch.Tensor, resolution: int, cells: torch.Tensor) -> torch.Tensor:
    """Centres [M, 3] of cells [M] (index x + y·res + z·res²) of a res³ grid over bounds [2, 3]."""
    res = resolution
    ijk = torch.stack([cells % res, (cells // res) % res, cells // (res * res)], 1).float()
    return bounds[0] + (ijk + 0.5) * ((bounds[1] - bounds[0]) / res)


def cell_of(bounds: torch.Tensor, resolution: int, points: torch.Tensor) -> torch.Tensor:
    """Index [N] (x + y·res + z·res², as ``cell_centres``) of the cell holding each of points
    [N, 3]; points outside bounds [2, 3] take the nearest cell."""
    ijk = ((points - bounds[0]) / (bounds[1] - bounds[0]) * resolution).long().clamp(0, resolution - 1)
    return ijk[:, 0] + (ijk[:, 1] + ijk[:, 2] * resolution) * resolution


class OccupancyGrid(torch.nn.Module):
    """res³ cells over ``bounds`` [2, 3]; ``bits`` [1, res³/8] feeds hold.ops.march_rays.

    The stored value of a cell is the conservative one-step opacity of the SDF there
    (hold.ops.sdf_occupancy); a cell is occupied while the value exceeds ``threshold``. SDF
    values are bounded and calibrated, so a fixed threshold replaces instant-NGP's
    ``min(0.01, mean)`` (which guards unbounded NeRF densities), and a faster decay (0.6
    instead of 0.95) lets a cell the surface has left be culled within ~10 refreshes: the SDF
    is evaluated exactly at the cell centre, there is no sampling noise to average out.
    """

    def __init__(self, bounds, resolution: int = 64, decay: float = 0.6,
                 threshold: float = 1e-3):
        super().__init__()
        if resolution % 8:
            raise ValueError(f"OccupancyGrid: resolution must be a multiple of 8, got {resolution}")
        bounds = torch.as_tensor(bounds, dtype=torch.float32)
        self.resolution, self.decay, self.threshold = resolution, decay, threshold
        self.register_buffer("bounds", bounds)
        n = resolution**3
        # Densities start at 0 (the first refresh evaluates every cell); the bitfield starts all
        # occupied so that nothing is culled before that first refresh.
        self.register_buffer("density", torch.zeros(n))
        self.register_buffer("bits", torch.full((1, n // 8), 255, dtype=torch.uint8))

    @property
    def cell_size(self) -> torch.Tensor:
        return (self.bounds[1] - self.bounds[0]) / self.resolution

    def cell_centers(self, cells: torch.Tensor) -> torch.Tensor:
        """Centres [M, 3] of cells [M] (index x + y·res + z·res²)."""
        return cell_centres(self.bounds, self.resolution, cells)

    def occupied_fraction(self) -> float:
        return float((self.density > self.threshold).float().mean())

    @torch.no_grad()
    def refresh(self, sdf_fn: Callable[[torch.Tensor], torch.Tensor], beta: float, step: float,
                step_count: int, generator: torch.Generator, warmup_steps: int = 256,
                chunk: int = 65536, unit: float = 1.0) -> None:
        """Re-evaluate the SDF (canonical points [M, 3] → metres [M]) at a set of cells and
        update; ``unit`` is metres per grid unit (the object's scale).

        Warm-up: all cells. Afterwards: res³/4 uniformly drawn cells plus res³/4 drawn among the
        occupied ones (instant-NGP's schedule). The SDF is read at the cell centres: with the
        half-diagonal margin of sdf_occupancy that bounds the whole cell (no jitter needed).
        """
        n, device = self.resolution**3, self.density.device
        # Random draws come from the (CPU) generator, so runs reproduce on any device.
        if step_count < warmup_steps:
            cells = torch.arange(n, device=device)
        else:
            uniform = torch.randint(0, n, (n // 4,), generator=generator).to(device)
            occupied = torch.nonzero(self.density > self.threshold).reshape(-1)
            if occupied.numel():
                pick = torch.randint(0, occupied.numel(), (n // 4,), generator=generator).to(device)
                cells = torch.cat([uniform, occupied[pick]])
            else:
                cells = uniform
        points = self.cell_centers(cells)
        sdf = torch.cat([sdf_fn(points[i:i + chunk]) for i in range(0, len(points), chunk)])
        half_diagonal = float(self.cell_size.norm()) / 2 * unit
        values = sdf_occupancy(sdf.float(), half_diagonal, beta, step)
        self.density = occgrid_update(self.density, cells, values, self.decay)
        self.bits = occgrid_pack(self.density, self.threshold)[None]
