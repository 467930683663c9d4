"""Occupancy grids: the decay-then-max update of a dense density grid and its bitfield.

A grid is res³ cells over a box, cell index x + y·res + z·res² (see core/ray.h). The update
follows instant-NGP / nerfacc: fresh values at chosen cells, ``max(old·decay, fresh)``; the
marcher reads the packed bitfield ``density > threshold``.
"""

from __future__ import annotations

import torch

from . import _backend, _checks, _loader
from .reference import occgrid as _ref

__all__ = ["occgrid_pack", "occgrid_update", "sdf_occupancy"]


def occgrid_update(density: torch.Tensor, cells: torch.Tensor, values: torch.Tensor,
                   decay: float = 0.95, *, backend: str | None = None) -> torch.Tensor:
    """New densities [C]: max(density·decay, max of the values at that cell) where ``cells``
    [M] int64 received ``values`` [M] (duplicates allowed), unchanged elsewhere."""
    op = "occgrid_update"
    _checks.tensor(op, "density", density, shape=(-1,), floating=True)
    _checks.tensor(op, "cells", cells, shape=(-1,), dtype=torch.int64, device=density.device)
    _checks.tensor(op, "values", values, shape=(cells.shape[0],), dtype=density.dtype,
                   device=density.device)
    _checks.index_range(op, "cells", cells, density.shape[0])
    _checks.finite(op, "values", values)
    if _backend.use_native(op, density.device, backend):
        return torch.ops.hold.occgrid_update(density, cells, values, float(decay))
    return _ref.occgrid_update(density, cells, values, decay)


def occgrid_pack(density: torch.Tensor, threshold: float, *,
                 backend: str | None = None) -> torch.Tensor:
    """uint8 bitfield [C / 8] of ``density > threshold`` (bit k of byte b is cell 8b + k)."""
    op = "occgrid_pack"
    _checks.tensor(op, "density", density, shape=(-1,), floating=True)
    if density.shape[0] % 8:
        raise ValueError(f"{op}: density must have a multiple of 8 cells, got {density.shape[0]}")
    if _backend.use_native(op, density.device, backend):
        return torch.ops.hold.occgrid_pack(density, float(threshold))
    return _ref.occgrid_pack(density, threshold)


def _register() -> None:
    if _loader.native_module() is None or not hasattr(torch.ops.hold, "occgrid_update"):
        return

    @torch.library.register_fake("hold::occgrid_update")
    def _(density, cells, values, decay):
        return torch.empty_like(density)

    @torch.library.register_fake("hold::occgrid_pack")
    def _(density, threshold):
        return density.new_empty(density.shape[0] // 8, dtype=torch.uint8)


_register()


def sdf_occupancy(sdf: torch.Tensor, half_diagonal: float, beta: float, step: float) -> torch.Tensor:
    """Conservative "can this cell be visible" value of an SDF cell for the occupancy grid.

    ``sdf`` [C] is sampled at the cell centres. Any point of the cell lies within
    ``half_diagonal`` of the centre, so (for an SDF with |∇s| ≤ 1) its distance to the surface
    is at least ``max(|s| − half_diagonal, 0)``. The value is the opacity of one marching step
    of VolSDF's Laplace density at that distance, ``1 − exp(−σ_β(d)·step)`` with
    ``σ_β(d) = e^{−d/β} / (2β)``: cells a thin surface passes through score as a surface
    (nothing thin is culled), while cells deep inside a solid — which rays only reach after the
    surface has made them opaque — score as empty, like free space (the same two-sided test as
    the NeuS alpha of NeuS2 / instant-nsr-pl).
    """
    distance = (sdf.abs() - half_diagonal).clamp(min=0.0)
    sigma = torch.exp(-distance / beta) / (2.0 * beta)
    return -torch.expm1(-sigma * step)
