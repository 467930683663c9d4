"""Backend choice per call: the compiled kernels ("native") or the pure-PyTorch twins ("torch")."""

from __future__ import annotations

import os
import warnings

import torch

from . import _loader

BACKENDS = ("auto", "native", "torch")
_warned: set[str] = set()


def default_backend() -> str:
    """HOLD_BACKEND=auto|native|torch sets the process-wide default (auto when unset)."""
    value = os.environ.get("HOLD_BACKEND", "auto").strip().lower() or "auto"
    if value not in BACKENDS:
        raise ValueError(f"HOLD_BACKEND must be one of {BACKENDS}, got {value!r}")
    return value


def use_native(op: str, device: torch.device, backend: str | None) -> bool:
    """Whether `op` on `device` runs the compiled kernel.

    "auto" falls back to the reference with one warning per process and device type; "native"
    raises instead; "torch" always takes the reference.
    """
    backend = default_backend() if backend is None else backend
    if backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return False
    if _loader.has_native(device):
        return True
    reason = _loader.load_error() or f"the extension was built without {device.type} support"
    if backend == "native":
        raise RuntimeError(
            f"{op}: the compiled kernels are not available on {device.type} ({reason}). "
            "Build them with `pip install --no-build-isolation -e .` (see README)."
        )
    if device.type not in _warned:
        _warned.add(device.type)
        warnings.warn(
            f"hold-fast: compiled kernels unavailable on {device.type} ({reason}); using the "
            "pure-PyTorch reference ops, which are much slower. Build them with "
            "`pip install --no-build-isolation -e .`.",
            RuntimeWarning,
            stacklevel=3,
        )
    return False
