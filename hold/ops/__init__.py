"""The Python face of csrc/: each op runs its compiled kernel when built, else its pure-PyTorch
twin in hold.ops.reference (same arguments), with one warning per device type."""

from ._loader import build_info, has_native
from .hashgrid import HashGridSpec, hashgrid_encode, hashgrid_layout
from .march import PackedSamples, march_rays
from .occgrid import occgrid_pack, occgrid_update, sdf_occupancy
from .volrend import DENSITY_MODES, Composited, composite, merge_samples, sdf_density

__all__ = [
    "DENSITY_MODES", "Composited", "HashGridSpec", "PackedSamples", "build_info", "composite",
    "has_native", "hashgrid_encode", "hashgrid_layout", "march_rays", "merge_samples",
    "occgrid_pack", "occgrid_update", "sdf_density", "sdf_occupancy",
]
