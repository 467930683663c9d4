"""The Python face of csrc/: each op runs its compiled kernel when built, else its pure-PyTorch
twin in hold.ops.reference (same arguments), with one warning per device type."""

from ._checks import data_checks
from ._loader import build_info, has_native
from .hashgrid import HashGridSpec, hashgrid_encode, hashgrid_layout
from .march import PackedSamples, march_rays
from .occgrid import occgrid_pack, occgrid_update, sdf_occupancy
from .skinning import inverse_skin_volume, lbs_points, skin_weight_volume
from .volrend import DENSITY_MODES, Composited, composite, merge_samples, sdf_density

__all__ = [
    "DENSITY_MODES", "Composited", "HashGridSpec", "PackedSamples", "build_info", "composite",
    "data_checks", "has_native", "hashgrid_encode", "hashgrid_layout", "inverse_skin_volume",
    "lbs_points", "march_rays", "merge_samples", "occgrid_pack", "occgrid_update",
    "sdf_density", "sdf_occupancy", "skin_weight_volume",
]
