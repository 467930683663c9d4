"""Lazy access to the compiled extension ``hold._C``. Never compiles anything."""

from __future__ import annotations

import functools
import importlib

import torch


@functools.lru_cache(maxsize=1)
def _load():
    """(module, None) when hold._C imports, else (None, reason)."""
    try:
        return importlib.import_module("hold._C"), None
    except ImportError as exc:  # not built, or built against another torch
        return None, f"{type(exc).__name__}: {exc}"


def native_module():
    """The extension module, or None when it is missing."""
    return _load()[0]


def load_error() -> str | None:
    """Why the extension could not be loaded (None when it loaded)."""
    return _load()[1]


def build_info() -> dict:
    """What was compiled: {"available", "cuda", "cuda_archs", "openmp", ...}."""
    module, error = _load()
    if module is None:
        return {"available": False, "error": error}
    return {"available": True, **module.build_info()}


def has_native(device: torch.device | str | None = None) -> bool:
    """True when the compiled kernels can run on `device` (default: the CPU)."""
    module = native_module()
    if module is None:
        return False
    kind = torch.device(device).type if device is not None else "cpu"
    if kind == "cpu":
        return True
    if kind == "cuda":
        return bool(module.build_info()["cuda"])
    return False
