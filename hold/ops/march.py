"""Occupancy-culled ray marching into a packed sample layout (nerfacc's layout).

``march_rays`` returns, for R rays, ``packed`` [R, 2] (first sample, sample count per ray),
``ray_indices`` [S], ``t_starts`` [S], ``t_ends`` [S]; samples are in ray order and, within a
ray, in depth order. The algorithm is written out in csrc/core/march.h and docs/KERNELS.md.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from . import _backend, _checks, _loader
from .reference import march as _ref

__all__ = ["PackedSamples", "march_rays"]


class PackedSamples(NamedTuple):
    packed: torch.Tensor  # [R, 2] int64: start, count
    ray_indices: torch.Tensor  # [S] int64
    t_starts: torch.Tensor  # [S]
    t_ends: torch.Tensor  # [S]


def march_rays(origins: torch.Tensor, dirs: torch.Tensor, near: torch.Tensor, far: torch.Tensor,
               bits: torch.Tensor, aabbs: torch.Tensor, resolution: int, step: float, *,
               cone_angle: float = 0.0, max_samples: int = 1024,
               offsets: torch.Tensor | None = None, frame: torch.Tensor | None = None,
               transforms: torch.Tensor | None = None, mip_factor: int | None = None,
               backend: str | None = None) -> PackedSamples:
    """March rays through an occupancy grid and keep the samples that fall in occupied cells.

    Args:
        origins, dirs: [R, 3] rays in camera space (unit directions: t in metres).
        near, far: [R] the part of each ray to march.
        bits: [G, res³/8] uint8 occupancy bitfields (hold.ops.occgrid_pack); G = 1 for one
            canonical grid or G = B per-frame grids (the hand's posed-space masks).
        aabbs: [G, 2, 3] each grid's box (min, max corner) in node space.
        resolution: cells per axis (even).
        step: sample length; with ``cone_angle`` > 0 the step is max(step, t·cone_angle).
        max_samples: cap per ray.
        offsets: [R] optional start jitter in units of ``step``, in [0, 1).
        frame: [R] int64 frame of each ray (selects the transform and, when G > 1, the grid).
        transforms: [B, 3, 4] rigid camera → node transforms (e.g. the inverse object pose), or
            None for a node that lives in camera space.
        mip_factor: empty-space skipping through a coarse grid of (res/f)³ cells (each set iff
            any of its f³ cells is); default 8 when it divides the resolution, else 1 (off).
            The samples are the same with or without it, up to rounding at cell boundaries.
    """
    op = "march_rays"
    _checks.tensor(op, "origins", origins, shape=(-1, 3), floating=True)
    n_rays, dev, dt = origins.shape[0], origins.device, origins.dtype
    for name, t, shape in (("dirs", dirs, (n_rays, 3)), ("near", near, (n_rays,)),
                           ("far", far, (n_rays,)), ("aabbs", aabbs, (-1, 2, 3))):
        _checks.tensor(op, name, t, shape=shape, dtype=dt, device=dev)
    if resolution < 2 or resolution % 2:
        raise ValueError(f"{op}: resolution must be even and >= 2, got {resolution}")
    _checks.tensor(op, "bits", bits, shape=(aabbs.shape[0], resolution**3 // 8),
                   dtype=torch.uint8, device=dev)
    if not step > 0 or cone_angle < 0 or max_samples < 1:
        raise ValueError(f"{op}: need step > 0, cone_angle >= 0, max_samples >= 1")
    if offsets is not None:
        _checks.tensor(op, "offsets", offsets, shape=(n_rays,), dtype=dt, device=dev)
    n_frames = None
    if transforms is not None:
        _checks.tensor(op, "transforms", transforms, shape=(-1, 3, 4), dtype=dt, device=dev)
        n_frames = transforms.shape[0]
    if frame is not None:
        _checks.tensor(op, "frame", frame, shape=(n_rays,), dtype=torch.int64, device=dev)
        limits = [n for n in (n_frames, aabbs.shape[0]) if n and n > 1]
        if limits:
            _checks.index_range(op, "frame", frame, min(limits))
    if mip_factor is None:
        mip_factor = 8 if resolution % 8 == 0 else 1
    if mip_factor < 1 or resolution % mip_factor:
        raise ValueError(f"{op}: mip_factor must divide the resolution {resolution}, "
                         f"got {mip_factor}")
    _checks.finite(op, "origins", origins)
    _checks.finite(op, "dirs", dirs)
    args = (origins, dirs, near, far, offsets, frame, transforms, bits, aabbs, int(resolution),
            float(step), float(cone_angle), int(max_samples), int(mip_factor))
    if _backend.use_native(op, dev, backend):
        return PackedSamples(*torch.ops.hold.march_rays(*args))
    return PackedSamples(*_ref.march_rays(*args))


def _register() -> None:
    if _loader.native_module() is None or not hasattr(torch.ops.hold, "march_rays"):
        return

    @torch.library.register_fake("hold::march_rays")
    def _(origins, dirs, near, far, offsets, frame, transforms, bits, aabbs, resolution, step,
          cone_angle, max_samples, mip_factor):
        n_samples = torch.library.get_ctx().new_dynamic_size()
        n_rays = origins.shape[0]
        return (origins.new_empty(n_rays, 2, dtype=torch.int64),
                origins.new_empty(n_samples, dtype=torch.int64),
                origins.new_empty(n_samples), origins.new_empty(n_samples))


_register()
