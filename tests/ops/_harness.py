"""Helpers shared by the op tests: parity against the reference, gradcheck and opcheck."""

from __future__ import annotations

import torch

# float64 parity: the kernels and the references do the same arithmetic in a slightly
# different order; float32 parity follows ARCHITECTURE.md's tolerance guide.
RTOL64, ATOL64 = 1e-10, 1e-12
RTOL32, ATOL32 = 1e-5, 1e-6


def assert_parity(native, reference, *, dtype: torch.dtype, scale_atol: float = 1.0) -> None:
    """native ≈ reference at the tolerance of the dtype (atol scaled for long sums)."""
    if dtype == torch.float64:
        torch.testing.assert_close(native, reference, rtol=RTOL64, atol=ATOL64 * scale_atol)
    else:
        torch.testing.assert_close(native, reference, rtol=RTOL32, atol=ATOL32 * scale_atol)


def opcheck_all(op, args) -> None:
    """torch.library.opcheck: schema, fake kernel, autograd registration, AOT dispatch."""
    torch.library.opcheck(op, args)
