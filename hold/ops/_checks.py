"""Argument validation shared by the op wrappers: one clear error naming the op and argument."""

from __future__ import annotations

import contextlib
import os

import torch

# HOLD_SKIP_INPUT_CHECKS=1 drops the data-dependent checks (NaN scans, index ranges), which cost
# a pass over the data and a sync on CUDA; shape/dtype/device checks always run.
# `data_checks(False)` drops them for a block of code (the trainer's steps on a GPU).
_data_checks = [os.environ.get("HOLD_SKIP_INPUT_CHECKS") != "1"]


def data_checks_enabled() -> bool:
    return _data_checks[-1]


@contextlib.contextmanager
def data_checks(enabled: bool):
    """Turn the data-dependent input checks of every op on or off inside the block."""
    _data_checks.append(bool(enabled))
    try:
        yield
    finally:
        _data_checks.pop()


def tensor(op: str, name: str, t, *, shape: tuple | None = None, dtype=None, device=None,
           floating: bool = False) -> None:
    """Raise TypeError/ValueError unless `t` is a contiguous tensor of the given shape (-1 = any
    size), dtype and device."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if floating and t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{op}: {name} must be float32 or float64, got {t.dtype}")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{op}: {name} must have dtype {dtype}, got {t.dtype}")
    if device is not None and t.device != device:
        raise ValueError(f"{op}: {name} must be on {device}, got {t.device}")
    if shape is not None:
        ok = t.dim() == len(shape) and all(s < 0 or t.shape[i] == s for i, s in enumerate(shape))
        if not ok:
            want = "[" + ", ".join("*" if s < 0 else str(s) for s in shape) + "]"
            raise ValueError(f"{op}: {name} must have shape {want}, got {list(t.shape)}")
    if not t.is_contiguous():
        raise ValueError(f"{op}: {name} must be contiguous (call .contiguous())")


def finite(op: str, name: str, t: torch.Tensor) -> None:
    if data_checks_enabled() and t.numel() and not torch.isfinite(t).all():
        raise ValueError(f"{op}: {name} contains NaN or Inf")


def index_range(op: str, name: str, t: torch.Tensor, upper: int) -> None:
    """Raise unless every value of the int64 tensor t lies in [0, upper)."""
    if data_checks_enabled() and t.numel() and (int(t.min()) < 0 or int(t.max()) >= upper):
        raise ValueError(f"{op}: {name} values must lie in [0, {upper}), "
                         f"got [{int(t.min())}, {int(t.max())}]")
