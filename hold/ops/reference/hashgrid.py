"""Pure-PyTorch multiresolution hash-grid encoding: the specification of hold::hashgrid_encode.

The index rule (tiny-cuda-nn's HashGrid, Müller et al. 2022) is written out in
csrc/core/hashgrid.h and docs/KERNELS.md. Vectorised over points (loops over levels and corners); its
gradients, including second order, come from autograd.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch

PRIME_Y = 2654435761
PRIME_Z = 805459861

@dataclass(frozen=True)
class HashGridSpec:
    """Hyper-parameters of one hash grid (tiny-cuda-nn's HashGrid encoding config)."""

    n_levels: int = 16
    n_features: int = 2
    log2_table_size: int = 16
    base_resolution: int = 16
    per_level_scale: float = 1.447

    @property
    def out_dim(self) -> int:
        return self.n_levels * self.n_features

    @property
    def layout(self) -> "HashGridLayout":
        return hashgrid_layout(self)

    @property
    def n_params(self) -> int:
        return self.layout.n_params

    def op_args(self) -> tuple[int, int, int, float]:
        """The scalar arguments of the torch.ops.hold.hashgrid_* schemas."""
        return (self.n_levels, self.log2_table_size, self.base_resolution, self.per_level_scale)


@dataclass(frozen=True)
class HashGridLayout:
    scales: list[float] = field(default_factory=list)  # b^l · base − 1
    resolutions: list[int] = field(default_factory=list)  # ceil(scale) + 1
    offsets: list[int] = field(default_factory=list)  # first table row of each level
    sizes: list[int] = field(default_factory=list)  # rows of each level
    hashed: list[bool] = field(default_factory=list)  # resolution³ > T
    n_params: int = 0


@functools.lru_cache(maxsize=64)
def hashgrid_layout(spec: HashGridSpec) -> HashGridLayout:
    """Per-level geometry, the same numbers as core::hashgrid_make_layout (libm exp2/log2)."""
    if not 1 <= spec.n_levels <= 32:
        raise ValueError(f"hashgrid: n_levels must be in [1, 32], got {spec.n_levels}")
    if spec.n_features not in (1, 2, 4, 8):
        raise ValueError(f"hashgrid: n_features must be 1, 2, 4 or 8, got {spec.n_features}")
    if not 4 <= spec.log2_table_size <= 24:
        raise ValueError(f"hashgrid: log2_table_size must be in [4, 24], got {spec.log2_table_size}")
    if spec.base_resolution < 2 or not spec.per_level_scale >= 1.0:
        raise ValueError("hashgrid: base_resolution must be >= 2 and per_level_scale >= 1")
    table = 1 << spec.log2_table_size
    layout = HashGridLayout()
    offset = 0
    for level in range(spec.n_levels):
        scale = math.exp2(level * math.log2(spec.per_level_scale)) * spec.base_resolution - 1.0
        resolution = int(math.ceil(scale)) + 1
        dense = resolution**3
        hashed = dense > table
        size = table if hashed else (dense + 7) // 8 * 8
        layout.scales.append(scale)
        layout.resolutions.append(resolution)
        layout.offsets.append(offset)
        layout.sizes.append(size)
        layout.hashed.append(hashed)
        offset += size
    object.__setattr__(layout, "n_params", offset)
    return layout


def corner_rows(vertices: torch.Tensor, layout: HashGridLayout, level: int) -> torch.Tensor:
    """Table rows (within the level) of integer vertices [..., 3] int64 → [...] int64."""
    vx, vy, vz = vertices.unbind(-1)
    size = layout.sizes[level]
    if layout.hashed[level]:
        # uint32 products wrap mod 2^32; only the low log2(T) ≤ 24 bits survive the mask.
        return (vx ^ (vy * PRIME_Y) ^ (vz * PRIME_Z)) & (size - 1)
    res = layout.resolutions[level]
    return (vx + vy * res + vz * res * res) % size


def hashgrid_encode(x: torch.Tensor, params: torch.Tensor, spec: HashGridSpec) -> torch.Tensor:
    """Encode points. x [N, 3] in the unit cube (clamped to it); params [P, F] → [N, L·F].

    Vectorised over points; loops over levels and the 8 corners (accumulating corners in the
    kernel's order, so float64 results agree to rounding).
    """
    layout = hashgrid_layout(spec)
    clamped = x.clamp(0.0, 1.0)
    levels = []
    for level in range(spec.n_levels):
        pos = clamped * layout.scales[level] + 0.5
        lower = torch.floor(pos)
        upper_w = pos - lower  # [N, 3] weight of the upper vertex per axis
        lower_w = 1.0 - upper_w
        lower_i = lower.long()
        acc = None
        for corner in range(8):
            bits = [(corner >> d) & 1 for d in range(3)]
            w = [upper_w[:, d] if bits[d] else lower_w[:, d] for d in range(3)]
            weight = w[0] * w[1] * w[2]  # [N]
            vertex = lower_i + lower_i.new_tensor(bits)  # [N, 3]
            rows = corner_rows(vertex, layout, level) + layout.offsets[level]
            term = weight[:, None] * params[rows]  # [N, F]
            acc = term if acc is None else acc + term
        levels.append(acc)
    return torch.cat(levels, dim=1)
