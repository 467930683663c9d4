"""HashGrid: a trainable multiresolution hash-grid encoding over an axis-aligned box.

On a CUDA device with tiny-cuda-nn importable (and ``backend="auto"`` or ``"tcnn"``) the encoding
runs through ``tinycudann.Encoding`` (same HashGrid index rule and table layout, reading this
module's own table, cast to its precision); everywhere else it runs hold-fast's own kernel
(hold.ops.hashgrid_encode: compiled CPU/CUDA, or the pure-PyTorch reference when the extension is
not built). The tiny-cuda-nn path has not been run yet (no GPU with tinycudann so far).
"""

from __future__ import annotations

import importlib.util

import torch

from hold.ops import HashGridSpec, hashgrid_encode, hashgrid_layout


def tcnn_available() -> bool:
    return importlib.util.find_spec("tinycudann") is not None


class HashGrid(torch.nn.Module):
    """Encode positions inside ``bounds`` ([2, 3]: min and max corner) into [N, L·F] features.

    Args:
        spec: grid hyper-parameters (levels, features, table size, resolutions).
        bounds: [2, 3] box; positions outside it are clamped to its faces.
        init_range: parameters start uniform in ±init_range (instant-NGP uses 1e-4).
        backend: "auto" | "native" | "torch" (hold-fast's kernel or its reference) | "tcnn".
        generator: seeds the initial table (reproducible CPU runs).
    """

    def __init__(self, spec: HashGridSpec = HashGridSpec(), bounds=((0.0,) * 3, (1.0,) * 3),
                 init_range: float = 1e-4, backend: str = "auto",
                 generator: torch.Generator | None = None):
        super().__init__()
        if backend not in ("auto", "native", "torch", "tcnn"):
            raise ValueError(f"HashGrid: backend must be auto|native|torch|tcnn, got {backend!r}")
        self.spec = spec
        self.backend = backend
        bounds = torch.as_tensor(bounds, dtype=torch.float32)
        if bounds.shape != (2, 3) or not bool((bounds[1] > bounds[0]).all()):
            raise ValueError(f"HashGrid: bounds must be [2, 3] with max > min, got {bounds.tolist()}")
        self.register_buffer("bounds", bounds)
        table = torch.rand(hashgrid_layout(spec).n_params, spec.n_features, generator=generator)
        self.params = torch.nn.Parameter(table * (2 * init_range) - init_range)

    @property
    def out_dim(self) -> int:
        return self.spec.out_dim

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """World positions [N, 3] → unit-cube coordinates [N, 3]."""
        lo, hi = self.bounds[0].to(x.dtype), self.bounds[1].to(x.dtype)
        return (x - lo) / (hi - lo)

    def use_tcnn(self, x: torch.Tensor) -> bool:
        """Whether ``forward(x)`` runs through tiny-cuda-nn."""
        return x.is_cuda and self.backend in ("auto", "tcnn") and tcnn_available()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unit = self.normalize(x).contiguous()
        if self.use_tcnn(unit):
            return self._tcnn_encode(unit)
        if self.backend == "tcnn":
            raise RuntimeError("HashGrid: backend='tcnn' needs tinycudann and a CUDA tensor")
        return hashgrid_encode(unit, self.params.to(unit.dtype), self.spec, backend=self.backend)

    def _tcnn_encode(self, unit: torch.Tensor) -> torch.Tensor:
        # tiny-cuda-nn's module reads its table from its attribute ``params``, made on first
        # use. That attribute is set to OUR parameter (same flat layout), so the optimizer built
        # before the first step trains it, checkpoints keep one table, and the CPU path (export,
        # refinement) reads the trained values. The module itself is kept off the module tree
        # (object.__setattr__): it holds no state of its own, and it exists only on a GPU.
        # Inputs outside [0, 1] are clamped as in our kernel.
        if self.__dict__.get("_tcnn") is None:
            import tinycudann as tcnn

            s = self.spec
            encoding = tcnn.Encoding(3, {
                "otype": "HashGrid", "n_levels": s.n_levels, "n_features_per_level": s.n_features,
                "log2_hashmap_size": s.log2_table_size, "base_resolution": s.base_resolution,
                "per_level_scale": s.per_level_scale,
            })
            if encoding.params.numel() != self.params.numel():
                raise RuntimeError(f"HashGrid: tiny-cuda-nn's table has {encoding.params.numel()} "
                                   f"values, ours {self.params.numel()}: layouts differ")
            del encoding._parameters["params"]
            object.__setattr__(self, "_tcnn", encoding)
        # Read through __dict__ on every call: the parameter may have been replaced (loading a
        # checkpoint with assign=True, moving the module) since the first call.
        object.__setattr__(self._tcnn, "params", self.params.reshape(-1))
        return self._tcnn(unit.clamp(0.0, 1.0)).float()
