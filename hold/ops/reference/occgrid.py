"""Pure-PyTorch occupancy-grid update and packing: the specification of hold::occgrid_*."""

from __future__ import annotations

import torch

HUGE = 3.0e38  # "no fresh value" marker, below any density (matches core::huge_float)


def occgrid_update(density: torch.Tensor, cells: torch.Tensor, values: torch.Tensor,
                   decay: float) -> torch.Tensor:
    """density [C]; cells [M] int64 (duplicates combine by max); values [M] → new density [C]:
    max(density·decay, fresh) where a cell got values, density elsewhere."""
    fresh = torch.full_like(density, -HUGE)
    fresh = fresh.scatter_reduce(0, cells, values, reduce="amax", include_self=True)
    touched = fresh > -HUGE
    return torch.where(touched, torch.maximum(density * decay, fresh), density)


def occgrid_pack(density: torch.Tensor, threshold: float) -> torch.Tensor:
    """density [C] (C % 8 == 0) → uint8 [C / 8]; bit k of byte b = density[8b + k] > threshold."""
    bits = (density > threshold).reshape(-1, 8).to(torch.int32)
    shifts = torch.arange(8, device=density.device, dtype=torch.int32)
    return (bits << shifts).sum(dim=1).to(torch.uint8)
