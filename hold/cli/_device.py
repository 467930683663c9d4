"""The check behind every command's `--device cuda`: a GPU torch can see, and a hold._C built
with the CUDA kernels; otherwise one clear message."""

from __future__ import annotations


def require_cuda() -> None:
    import torch

    from hold.io.errors import InputError
    from hold.ops import _loader

    if not torch.cuda.is_available():
        raise InputError("--device cuda: torch sees no CUDA device (torch "
                         f"{torch.__version__}); install a CUDA build of torch (README, "
                         "'Installing with CUDA') or use --device cpu")
    if not _loader.has_native("cuda"):
        raise InputError("--device cuda: hold._C was built without CUDA kernels; rebuild with "
                         "HOLD_WITH_CUDA=1 (README, 'Installing with CUDA')")
