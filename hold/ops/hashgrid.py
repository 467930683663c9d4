"""Multiresolution hash-grid encoding (instant-NGP) with first and second derivatives.

``hashgrid_encode(x, params, spec)`` runs the compiled kernel (hold::hashgrid_encode_fwd) when
available and its pure-PyTorch twin (hold.ops.reference.hashgrid) otherwise. Gradients flow to
``params`` and ``x``; second derivatives too (the eikonal term differentiates the SDF's position
gradient with respect to the table), through hold::hashgrid_encode_bwd_bwd.
"""

from __future__ import annotations

import torch

from . import _backend, _checks, _loader
from .reference import hashgrid as _ref
from .reference.hashgrid import HashGridSpec, hashgrid_layout

__all__ = ["HashGridSpec", "hashgrid_encode", "hashgrid_layout", "native_hashgrid_layout"]

_OP = "hashgrid_encode"


def _validate(x: torch.Tensor, params: torch.Tensor, spec: HashGridSpec) -> None:
    """Raise one clear error naming the argument; runs before either backend."""
    if not isinstance(x, torch.Tensor) or not isinstance(params, torch.Tensor):
        raise TypeError(f"{_OP}: x and params must be torch.Tensor")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{_OP}: x must be float32 or float64, got {x.dtype}")
    if params.dtype != x.dtype:
        raise TypeError(f"{_OP}: params must have the dtype of x ({x.dtype}), got {params.dtype}")
    if params.device != x.device:
        raise ValueError(f"{_OP}: params must be on {x.device} like x, got {params.device}")
    if x.dim() != 2 or x.shape[1] != 3:
        raise ValueError(f"{_OP}: x must have shape [N, 3], got {list(x.shape)}")
    layout = hashgrid_layout(spec)
    if params.dim() != 2 or params.shape != (layout.n_params, spec.n_features):
        raise ValueError(
            f"{_OP}: params must have shape [{layout.n_params}, {spec.n_features}] for {spec}, "
            f"got {list(params.shape)}"
        )
    if not x.is_contiguous():
        raise ValueError(f"{_OP}: x must be contiguous (call .contiguous())")
    if not params.is_contiguous():
        raise ValueError(f"{_OP}: params must be contiguous (call .contiguous())")
    # A NaN position has no cell. The check costs one pass over x (a sync on CUDA); set
    # HOLD_SKIP_INPUT_CHECKS=1 or hold.ops.data_checks(False) drops it (_checks.py).
    if _checks.data_checks_enabled() and x.numel() and not torch.isfinite(x).all():
        raise ValueError(f"{_OP}: x contains NaN or Inf positions")


def hashgrid_encode(
    x: torch.Tensor, params: torch.Tensor, spec: HashGridSpec, *, backend: str | None = None
) -> torch.Tensor:
    """Encode points with a multiresolution hash grid.

    Args:
        x: [N, 3] positions in the unit cube; points outside are clamped to it (their position
            gradient is zero outside, as torch.clamp's).
        params: [P, F] table, P = ``hashgrid_layout(spec).n_params``, F = ``spec.n_features``;
            level l owns rows ``offsets[l] : offsets[l] + sizes[l]``.
        spec: the grid's hyper-parameters.
        backend: "auto" (default: compiled when built), "native" or "torch".

    Returns:
        [N, L·F] features, level-major (level l's F features at columns l·F … l·F + F − 1).
    """
    _validate(x, params, spec)
    if _backend.use_native(_OP, x.device, backend):
        return torch.ops.hold.hashgrid_encode_fwd(x, params, *spec.op_args())
    return _ref.hashgrid_encode(x, params, spec)


def native_hashgrid_layout(spec: HashGridSpec) -> torch.Tensor:
    """The compiled core's layout of `spec`: [L, 5] float64 rows (scale, resolution, offset,
    size, hashed). Must equal ``hashgrid_layout(spec)``, which the tests check."""
    return torch.ops.hold.hashgrid_layout(spec.n_levels, spec.n_features, spec.log2_table_size,
                                          spec.base_resolution, spec.per_level_scale)


# ---- autograd and fake-tensor registration of the native ops ---------------------------------


def _none_if_empty(t):
    return None if t is None or t.numel() == 0 else t


def _fwd_setup(ctx, inputs, output):
    x, params, *cfg = inputs
    ctx.save_for_backward(x, params)
    ctx.cfg = cfg


def _fwd_backward(ctx, grad_out):
    x, params = ctx.saved_tensors
    need_x, need_params = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    grad_params, grad_x = torch.ops.hold.hashgrid_encode_bwd(
        grad_out.contiguous(), x, params, *ctx.cfg, need_params, need_x
    )
    return (
        grad_x if need_x else None,
        grad_params if need_params else None,
        *([None] * len(ctx.cfg)),
    )


def _bwd_setup(ctx, inputs, output):
    grad_out, x, params, *cfg = inputs
    ctx.save_for_backward(grad_out, x, params)
    ctx.cfg = cfg[:4]
    ctx.produced = (cfg[4], cfg[5])  # (grad_params, grad_x) were computed


def _bwd_backward(ctx, gg_params, gg_x):
    """Second order: gg_params / gg_x are ∂L/∂grad_params and ∂L/∂grad_x."""
    grad_out, x, params = ctx.saved_tensors
    need_gout, need_x, need_params = ctx.needs_input_grad[:3]
    gg_params = _none_if_empty(gg_params) if ctx.produced[0] else None
    gg_x = _none_if_empty(gg_x) if ctx.produced[1] else None
    d_gout = d_x = d_params = None

    def add(a, b):
        return b if a is None else a + b

    if gg_x is not None and (need_gout or need_x or need_params):
        ggo, gp, gx = torch.ops.hold.hashgrid_encode_bwd_bwd(
            gg_x.contiguous(), grad_out, x, params, *ctx.cfg, need_gout, need_params, need_x
        )
        d_gout = ggo if need_gout else None
        d_params = gp if need_params else None
        d_x = gx if need_x else None
    if gg_params is not None:
        # grad_params = Σ w_c(x) grad_out, linear in grad_out: its adjoint is the forward
        # applied to gg_params, and its x-derivative is the position backward with θ = gg_params.
        gg_params = gg_params.contiguous()
        if need_gout:
            d_gout = add(d_gout, torch.ops.hold.hashgrid_encode_fwd(x, gg_params, *ctx.cfg))
        if need_x:
            _, gx = torch.ops.hold.hashgrid_encode_bwd(
                grad_out, x, gg_params, *ctx.cfg, False, True
            )
            d_x = add(d_x, gx)
    return d_gout, d_x, d_params, None, None, None, None, None, None


def _register() -> None:
    if _loader.native_module() is None or not hasattr(torch.ops.hold, "hashgrid_encode_fwd"):
        return
    lib = "hold::"

    @torch.library.register_fake(lib + "hashgrid_encode_fwd")
    def _(x, params, n_levels, log2_table_size, base_resolution, per_level_scale):
        return x.new_empty(x.shape[0], n_levels * params.shape[1])

    @torch.library.register_fake(lib + "hashgrid_encode_bwd")
    def _(grad_out, x, params, n_levels, log2_table_size, base_resolution, per_level_scale,
          need_grad_params, need_grad_x):
        gp = params.new_empty(params.shape) if need_grad_params else x.new_empty(0)
        gx = x.new_empty(x.shape) if need_grad_x else x.new_empty(0)
        return gp, gx

    @torch.library.register_fake(lib + "hashgrid_encode_bwd_bwd")
    def _(grad_grad_x, grad_out, x, params, n_levels, log2_table_size, base_resolution,
          per_level_scale, need_grad_grad_out, need_grad_params, need_grad_x):
        ggo = grad_out.new_empty(grad_out.shape) if need_grad_grad_out else x.new_empty(0)
        gp = params.new_empty(params.shape) if need_grad_params else x.new_empty(0)
        gx = x.new_empty(x.shape) if need_grad_x else x.new_empty(0)
        return ggo, gp, gx

    torch.library.register_autograd(
        lib + "hashgrid_encode_fwd", _fwd_backward, setup_context=_fwd_setup
    )
    torch.library.register_autograd(
        lib + "hashgrid_encode_bwd", _bwd_backward, setup_context=_bwd_setup
    )


_register()
