"""The Python face of csrc/: each op runs its compiled kernel when built, else its pure-PyTorch
twin in hold.ops.reference (same signature), with one warning per device type."""

from ._loader import build_info, has_native
from .hashgrid import HashGridSpec, hashgrid_encode, hashgrid_layout

__all__ = ["HashGridSpec", "build_info", "has_native", "hashgrid_encode", "hashgrid_layout"]
