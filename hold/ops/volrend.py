"""Volume rendering of packed samples: SDF → density, compositing with per-node (semantic)
accumulation and early termination, and the depth-ordered merge of two nodes' samples.

Formulas: csrc/core/volrend.h and docs/KERNELS.md. ``composite`` is differentiable with respect
to ``sdf``, ``beta``, ``rgb`` and ``bg`` (not the sample intervals); its outputs ``rgb``,
``depth``, ``opacity``, ``node_weights`` and ``weights`` carry gradients, ``trans`` does not.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from . import _backend, _checks, _loader
from .reference import volrend as _ref

__all__ = ["DENSITY_MODES", "Composited", "composite", "merge_samples", "sdf_density"]

DENSITY_MODES = {"laplace": 0, "logistic": 1, "raw": 2}
sdf_density = _ref.sdf_density


class Composited(NamedTuple):
    rgb: torch.Tensor  # [R, 3] Σ w c + T_N · bg
    depth: torch.Tensor  # [R] Σ w t_mid
    opacity: torch.Tensor  # [R] Σ w
    node_weights: torch.Tensor  # [R, K] Σ w per node (semantic accumulation)
    weights: torch.Tensor  # [S] w_i
    trans: torch.Tensor  # [S] T_i (not differentiable)


def composite(packed: torch.Tensor, t_starts: torch.Tensor, t_ends: torch.Tensor,
              sdf: torch.Tensor, node: torch.Tensor, beta: torch.Tensor, rgb: torch.Tensor,
              bg: torch.Tensor | None = None, *, mode: str = "laplace", eps: float = 1e-4,
              backend: str | None = None) -> Composited:
    """Composite packed samples front to back.

    Args:
        packed: [R, 2] int64 (start, count) per ray; samples of a ray in depth order.
        t_starts, t_ends: [S] sample intervals.
        sdf: [S] SDF values (densities when mode="raw").
        node: [S] int64 node of each sample in [0, K).
        beta: [K] per-node density scale β (VolSDF's learnable β).
        rgb: [S, 3] sample colours.
        bg: [R, 3] background colour seen through the remaining transmittance, or None.
        mode: "laplace" (VolSDF/HOLD), "logistic", or "raw".
        eps: early termination once the transmittance drops below eps (0 disables it).
    """
    op = "composite"
    _checks.tensor(op, "sdf", sdf, shape=(-1,), floating=True)
    n, dev, dt = sdf.shape[0], sdf.device, sdf.dtype
    _checks.tensor(op, "packed", packed, shape=(-1, 2), dtype=torch.int64, device=dev)
    for name, t, shape in (("t_starts", t_starts, (n,)), ("t_ends", t_ends, (n,)),
                           ("beta", beta, (-1,)), ("rgb", rgb, (n, 3))):
        _checks.tensor(op, name, t, shape=shape, dtype=dt, device=dev)
    _checks.tensor(op, "node", node, shape=(n,), dtype=torch.int64, device=dev)
    if not 1 <= beta.shape[0] <= 8:
        raise ValueError(f"{op}: beta must hold 1 to 8 nodes, got {beta.shape[0]}")
    if bg is not None:
        _checks.tensor(op, "bg", bg, shape=(packed.shape[0], 3), dtype=dt, device=dev)
    if mode not in DENSITY_MODES:
        raise ValueError(f"{op}: mode must be one of {sorted(DENSITY_MODES)}, got {mode!r}")
    _checks.index_range(op, "node", node, beta.shape[0])
    _checks.finite(op, "sdf", sdf)
    args = (packed, t_starts, t_ends, sdf, node, beta, rgb, bg, DENSITY_MODES[mode], float(eps))
    if _backend.use_native(op, dev, backend):
        return Composited(*torch.ops.hold.composite_fwd(*args))
    return Composited(*_ref.composite(*args))


def merge_samples(packed_a: torch.Tensor, t_mid_a: torch.Tensor, packed_b: torch.Tensor,
                  t_mid_b: torch.Tensor, *, backend: str | None = None):
    """Merge two nodes' samples per ray in depth order.

    Intervals of different nodes may overlap (a hand sample can straddle an object sample), so
    samples are ordered by their **midpoints**; ties keep node a first. Returns (packed [R, 2],
    order [S_a + S_b]) where ``order`` indexes ``torch.cat([a, b])`` of any per-sample tensor.
    """
    op = "merge_samples"
    _checks.tensor(op, "t_mid_a", t_mid_a, shape=(-1,), floating=True)
    dev, dt = t_mid_a.device, t_mid_a.dtype
    _checks.tensor(op, "packed_a", packed_a, shape=(-1, 2), dtype=torch.int64, device=dev)
    _checks.tensor(op, "packed_b", packed_b, shape=(packed_a.shape[0], 2), dtype=torch.int64,
                   device=dev)
    _checks.tensor(op, "t_mid_b", t_mid_b, shape=(-1,), dtype=dt, device=dev)
    if _backend.use_native(op, dev, backend):
        return torch.ops.hold.merge_samples(packed_a, t_mid_a, packed_b, t_mid_b)
    return _ref.merge_samples(packed_a, t_mid_a, packed_b, t_mid_b)


# ---- autograd and fake-tensor registration ------------------------------------------------


def _setup(ctx, inputs, output):
    packed, t_starts, t_ends, sdf, node, beta, rgb, bg, mode, eps = inputs
    weights, trans = output[4], output[5]
    ctx.save_for_backward(packed, t_starts, t_ends, sdf, node, beta, rgb, bg, weights, trans)
    ctx.mode, ctx.eps, ctx.has_bg = mode, eps, bg is not None
    ctx.mark_non_differentiable(trans)


def _backward(ctx, g_rgb, g_depth, g_opacity, g_node, g_weights, _g_trans):
    packed, t_starts, t_ends, sdf, node, beta, rgb, bg, weights, trans = ctx.saved_tensors
    n_rays, n_nodes = packed.shape[0], beta.shape[0]

    def grad_or_zeros(g, shape):
        return g.contiguous() if g is not None else sdf.new_zeros(shape)

    grad_sdf, grad_beta, grad_rgb, grad_bg = torch.ops.hold.composite_bwd(
        grad_or_zeros(g_rgb, (n_rays, 3)), grad_or_zeros(g_depth, (n_rays,)),
        grad_or_zeros(g_opacity, (n_rays,)), grad_or_zeros(g_node, (n_rays, n_nodes)),
        None if g_weights is None else g_weights.contiguous(), packed, t_starts, t_ends, sdf, node,
        beta, rgb, bg if ctx.has_bg else None, ctx.mode, ctx.eps, weights, trans)
    return (None, None, None, grad_sdf, None, grad_beta, grad_rgb,
            grad_bg if ctx.has_bg else None, None, None)


def _register() -> None:
    if _loader.native_module() is None or not hasattr(torch.ops.hold, "composite_fwd"):
        return

    @torch.library.register_fake("hold::composite_fwd")
    def _(packed, t_starts, t_ends, sdf, node, beta, rgb, bg, mode, eps):
        n_rays, n = packed.shape[0], sdf.shape[0]
        return (sdf.new_empty(n_rays, 3), sdf.new_empty(n_rays), sdf.new_empty(n_rays),
                sdf.new_empty(n_rays, beta.shape[0]), sdf.new_empty(n), sdf.new_empty(n))

    @torch.library.register_fake("hold::composite_bwd")
    def _(g_rgb, g_depth, g_opacity, g_node, g_weights, packed, t_starts, t_ends, sdf, node, beta,
          rgb, bg, mode, eps, weights, trans):
        grad_bg = sdf.new_empty(packed.shape[0], 3) if bg is not None else sdf.new_empty(0)
        return (torch.empty_like(sdf), torch.empty_like(beta), torch.empty_like(rgb), grad_bg)

    @torch.library.register_fake("hold::merge_samples")
    def _(packed_a, t_mid_a, packed_b, t_mid_b):
        return (torch.empty_like(packed_a),
                packed_a.new_empty(t_mid_a.shape[0] + t_mid_b.shape[0]))

    torch.library.register_autograd("hold::composite_fwd", _backward, setup_context=_setup)


_register()
