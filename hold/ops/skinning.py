"""Skinning of hand samples: forward LBS of points, per-frame skinning-weight volumes, and inverse
skinning of posed samples through those volumes.

Same signatures as the references in hold.ops.reference.skinning (plus ``backend=``); formulas
in csrc/core/skinning.h and docs/KERNELS.md. ``lbs_points`` is differentiable with respect to
``x``, ``weights`` and ``bone_transforms``; ``inverse_skin_volume`` with respect to ``x`` and
``bone_transforms`` (the looked-up weights are constants, as HOLD detaches its K-NN weights);
``skin_weight_volume`` is not differentiable (its inputs are detached).
"""

from __future__ import annotations

import torch

from . import _backend, _checks, _loader
from .reference import skinning as _ref
from .reference.skinning import DET_EPS, VOLUME_K, VOLUME_SIGMA

__all__ = ["DET_EPS", "VOLUME_K", "VOLUME_SIGMA", "inverse_skin_volume", "lbs_points",
           "skin_weight_volume"]

# Sizes of the kernels' stack arrays (core::kSkinMaxNeighbours, core::kSkinMaxJoints).
MAX_NEIGHBOURS = 32
MAX_JOINTS = 64


def _box(op: str, name: str, bounds: torch.Tensor) -> None:
    """bounds [..., 2, 3] must be finite with lo < hi on every axis (a data check)."""
    _checks.finite(op, name, bounds)
    if _checks.data_checks_enabled() and bounds.numel() and \
            not bool((bounds[..., 1, :] > bounds[..., 0, :]).all()):
        raise ValueError(f"{op}: {name} must have lo < hi on every axis")


def lbs_points(x: torch.Tensor, weights: torch.Tensor, bone_transforms: torch.Tensor,
               frame: torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
    """Forward LBS: y = (Σ_j w_j T_{frame, j}) · [x; 1].

    Args:
        x: [N, 3] canonical points.
        weights: [N, J] skinning weights (used as given, not renormalised).
        bone_transforms: [B, J, 3, 4] canonical → posed per frame.
        frame: [N] int64 frame of each point, in [0, B).

    Returns:
        [N, 3] posed points.
    """
    op = "lbs_points"
    _checks.tensor(op, "x", x, shape=(-1, 3), floating=True)
    n, dev, dt = x.shape[0], x.device, x.dtype
    _checks.tensor(op, "weights", weights, shape=(n, -1), dtype=dt, device=dev)
    _checks.tensor(op, "bone_transforms", bone_transforms, shape=(-1, weights.shape[1], 3, 4),
                   dtype=dt, device=dev)
    _checks.tensor(op, "frame", frame, shape=(n,), dtype=torch.int64, device=dev)
    _checks.index_range(op, "frame", frame, bone_transforms.shape[0])
    _checks.finite(op, "bone_transforms", bone_transforms)
    if _backend.use_native(op, dev, backend):
        return torch.ops.hold.lbs_points_fwd(x, weights, bone_transforms, frame)
    return _ref.lbs_points(x, weights, bone_transforms, frame)


def skin_weight_volume(posed_vertices: torch.Tensor, vertex_weights: torch.Tensor,
                       bounds: torch.Tensor, resolution: tuple[int, int, int], k: int = VOLUME_K,
                       sigma: float = VOLUME_SIGMA, cutoff: float = 0.0, *,
                       backend: str | None = None) -> torch.Tensor:
    """One frame's skinning-weight volume [rz, ry, rx, J + 1] for ``inverse_skin_volume``.

    Voxel centres lie on an align-corners lattice over ``bounds``; each blends the weights of
    its k nearest posed vertices with a Gaussian of σ = ``sigma`` (channels 0..J−1) and stores
    the distance to the nearest vertex (channel J). The search is exact (ties by vertex id).

    With ``cutoff`` > 0, a voxel with no vertex within ``cutoff`` stores weights 0 and distance
    ``cutoff``, and its search stops there. ``inverse_skin_volume`` with
    ``max_dist ≤ cutoff − 2·(voxel diagonal)`` then gives exactly the results of the exact
    volume (see ``safe_cutoff``): most of a hand's box is far from it, and that is where the
    search is slowest.

    Args:
        posed_vertices: [V, 3] the frame's posed vertices.
        vertex_weights: [V, J] their skinning weights.
        bounds: [2, 3] (lo, hi) of the box, lo < hi.
        resolution: (rx, ry, rz), each ≥ 2.
        k: neighbours, 1 ≤ k ≤ min(V, 32).
        sigma: blend width in metres, > 0.
        cutoff: metres; ≤ 0 searches every voxel exactly.
    """
    op = "skin_weight_volume"
    _checks.tensor(op, "posed_vertices", posed_vertices, shape=(-1, 3), floating=True)
    n, dev, dt = posed_vertices.shape[0], posed_vertices.device, posed_vertices.dtype
    _checks.tensor(op, "vertex_weights", vertex_weights, shape=(n, -1), dtype=dt, device=dev)
    _checks.tensor(op, "bounds", bounds, shape=(2, 3), dtype=dt, device=dev)
    resolution = tuple(resolution)
    if len(resolution) != 3 or not all(isinstance(r, int) and r >= 2 for r in resolution):
        raise ValueError(f"{op}: resolution must be 3 integers >= 2, got {resolution}")
    if not isinstance(k, int) or not 1 <= k <= min(n, MAX_NEIGHBOURS):
        raise ValueError(f"{op}: k must be an integer in [1, min(V, {MAX_NEIGHBOURS})] with "
                         f"V = {n}, got {k!r}")
    if not sigma > 0:
        raise ValueError(f"{op}: sigma must be > 0, got {sigma}")
    if not cutoff == cutoff:
        raise ValueError(f"{op}: cutoff must be a number (<= 0: none), got {cutoff}")
    _checks.finite(op, "posed_vertices", posed_vertices)
    _box(op, "bounds", bounds)
    posed_vertices, vertex_weights = posed_vertices.detach(), vertex_weights.detach()
    if _backend.use_native(op, dev, backend):
        return torch.ops.hold.skin_weight_volume(posed_vertices, vertex_weights, bounds.detach(),
                                                 list(resolution), k, float(sigma),
                                                 float(cutoff))
    return _ref.skin_weight_volume(posed_vertices, vertex_weights, bounds, resolution, k, sigma,
                                   cutoff)


def safe_cutoff(bounds: torch.Tensor, resolution: tuple[int, int, int], max_dist: float) -> float:
    """The smallest ``cutoff`` of ``skin_weight_volume`` over ``bounds`` [2, 3] at
    ``resolution`` (rx, ry, rz) that leaves ``inverse_skin_volume(..., max_dist)`` exact:
    max_dist + 2δ, δ the voxel diagonal. (A valid sample's cell corners are within δ of it and
    it within max_dist + δ of a vertex, the distance to the nearest vertex being 1-Lipschitz;
    and a cell with a corner beyond the cutoff interpolates a distance above max_dist either
    way.) A 1e-4 relative margin covers rounding."""
    spacing = (bounds[1] - bounds[0]).double() / (torch.tensor(resolution, dtype=torch.float64,
                                                               device=bounds.device) - 1)
    return float(max_dist + 2 * spacing.norm()) * (1 + 1e-4)


def inverse_skin_volume(x: torch.Tensor, frame: torch.Tensor, volumes: torch.Tensor,
                        bounds: torch.Tensor, bone_transforms: torch.Tensor, max_dist: float, *,
                        backend: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical points [N, 3] and validity [N] (bool) by a weight-volume lookup + closed-form
    inverse of the blended transform.

    Args:
        x: [N, 3] posed points.
        frame: [N] int64, in [0, B).
        volumes: [B, rz, ry, rx, J + 1] from ``skin_weight_volume`` (constants).
        bounds: [B, 2, 3] their boxes, lo < hi.
        bone_transforms: [B, J, 3, 4] canonical → posed.
        max_dist: a point is valid when inside its box, its interpolated distance to the posed
            hand is ≤ max_dist and |det R| > DET_EPS (singular blends divide by 1 instead).
    """
    op = "inverse_skin_volume"
    _checks.tensor(op, "x", x, shape=(-1, 3), floating=True)
    n, dev, dt = x.shape[0], x.device, x.dtype
    _checks.tensor(op, "frame", frame, shape=(n,), dtype=torch.int64, device=dev)
    _checks.tensor(op, "volumes", volumes, shape=(-1, -1, -1, -1, -1), dtype=dt, device=dev)
    b, rz, ry, rx, channels = volumes.shape
    if min(rx, ry, rz) < 2 or not 2 <= channels <= MAX_JOINTS + 1:
        raise ValueError(f"{op}: volumes must be [B, rz, ry, rx, J + 1] with every resolution "
                         f">= 2 and 1 <= J <= {MAX_JOINTS}, got {list(volumes.shape)}")
    _checks.tensor(op, "bounds", bounds, shape=(b, 2, 3), dtype=dt, device=dev)
    _checks.tensor(op, "bone_transforms", bone_transforms, shape=(b, channels - 1, 3, 4),
                   dtype=dt, device=dev)
    _checks.index_range(op, "frame", frame, b)
    _checks.finite(op, "x", x)
    _checks.finite(op, "bone_transforms", bone_transforms)
    _box(op, "bounds", bounds)
    if _backend.use_native(op, dev, backend):
        return tuple(torch.ops.hold.inverse_skin_volume_fwd(
            x, frame, volumes.detach(), bounds.detach(), bone_transforms, float(max_dist)))
    return _ref.inverse_skin_volume(x, frame, volumes, bounds, bone_transforms, max_dist)


# ---- autograd and fake-tensor registration of the native ops ---------------------------------


def _lbs_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _lbs_backward(ctx, grad_out):
    x, weights, bone_transforms, frame = ctx.saved_tensors
    need_x, need_w, need_t = ctx.needs_input_grad[:3]
    grad_x, grad_w, grad_t = torch.ops.hold.lbs_points_bwd(
        grad_out.contiguous(), x, weights, bone_transforms, frame, need_x, need_w, need_t)
    return (grad_x if need_x else None, grad_w if need_w else None,
            grad_t if need_t else None, None)


def _inverse_setup(ctx, inputs, output):
    x, frame, volumes, bounds, bone_transforms, _max_dist = inputs
    ctx.save_for_backward(x, frame, volumes, bounds, bone_transforms)
    ctx.mark_non_differentiable(output[1])


def _inverse_backward(ctx, grad_x_can, _grad_valid):
    x, frame, volumes, bounds, bone_transforms = ctx.saved_tensors
    need_x, need_t = ctx.needs_input_grad[0], ctx.needs_input_grad[4]
    if grad_x_can is None:
        return None, None, None, None, None, None
    grad_x, grad_t = torch.ops.hold.inverse_skin_volume_bwd(
        grad_x_can.contiguous(), x, frame, volumes, bounds, bone_transforms, need_x, need_t)
    return (grad_x if need_x else None, None, None, None, grad_t if need_t else None, None)


def _register() -> None:
    if _loader.native_module() is None or not hasattr(torch.ops.hold, "lbs_points_fwd"):
        return
    lib = "hold::"

    @torch.library.register_fake(lib + "lbs_points_fwd")
    def _(x, weights, bone_transforms, frame):
        return torch.empty_like(x)

    @torch.library.register_fake(lib + "lbs_points_bwd")
    def _(grad_out, x, weights, bone_transforms, frame, need_x, need_w, need_t):
        none = x.new_empty(0)
        return (torch.empty_like(x) if need_x else none,
                torch.empty_like(weights) if need_w else none,
                torch.empty_like(bone_transforms) if need_t else none)

    @torch.library.register_fake(lib + "skin_weight_volume")
    def _(posed_vertices, vertex_weights, bounds, resolution, k, sigma):
        rx, ry, rz = resolution
        return posed_vertices.new_empty(rz, ry, rx, vertex_weights.shape[1] + 1)

    @torch.library.register_fake(lib + "inverse_skin_volume_fwd")
    def _(x, frame, volumes, bounds, bone_transforms, max_dist):
        return torch.empty_like(x), x.new_empty(x.shape[0], dtype=torch.bool)

    @torch.library.register_fake(lib + "inverse_skin_volume_bwd")
    def _(grad_x_can, x, frame, volumes, bounds, bone_transforms, need_x, need_t):
        none = x.new_empty(0)
        return (torch.empty_like(x) if need_x else none,
                torch.empty_like(bone_transforms) if need_t else none)

    torch.library.register_autograd(lib + "lbs_points_fwd", _lbs_backward,
                                    setup_context=_lbs_setup)
    torch.library.register_autograd(lib + "inverse_skin_volume_fwd", _inverse_backward,
                                    setup_context=_inverse_setup)


_register()
