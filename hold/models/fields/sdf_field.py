"""A node's neural field: one hash grid feeds an SDF head (prior + learned residual, and a
feature vector) and a colour head (features + per-frame code), as HOLD's ImplicitNet +
RenderingNet but on a hash grid."""

from __future__ import annotations

import torch

from hold.ops import HashGridSpec

from .hashgrid import HashGrid
from .mlp import MLP


class SDFColorField(torch.nn.Module):
    """SDF and colour of one node in its canonical space.

    Args:
        bounds: [2, 3] the node's canonical box (the hash grid covers it).
        prior: module x [N, 3] → SDF [N] the residual is added to (None: zero).
        spec: hash-grid hyper-parameters.
        n_features: geometry features passed from the SDF head to the colour head.
        n_frames, code_dim: a per-frame appearance code for the colour head (0 disables it).
        use_normals: the colour head also sees the surface normal in the camera frame (as
            HOLD's RenderingNet), so fixed lighting on a moving surface can be explained.
    """

    def __init__(self, bounds, prior: torch.nn.Module | None = None,
                 spec: HashGridSpec = HashGridSpec(n_levels=12, n_features=2, log2_table_size=15,
                                                   base_resolution=8, per_level_scale=1.4),
                 hidden: int = 64, n_features: int = 15, n_frames: int = 0, code_dim: int = 0,
                 use_normals: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        self.grid = HashGrid(spec, bounds=bounds, generator=generator)
        self.prior = prior
        self.sdf_head = MLP(3 + spec.out_dim, hidden, 1 + n_features, zero_last=True,
                            generator=generator)
        self.codes = torch.nn.Embedding(n_frames, code_dim) if n_frames and code_dim else None
        if self.codes is not None:
            torch.nn.init.zeros_(self.codes.weight)
        self.use_normals = use_normals
        in_dim = n_features + (code_dim if self.codes is not None else 0) + (3 if use_normals else 0)
        self.color_head = MLP(in_dim, hidden, 3, generator=generator)

    def geometry(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [N, 3] canonical → SDF [N], features [N, n_features]."""
        sdf, _, features = self.geometry_parts(x)
        return sdf, features

    def geometry_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [N, 3] canonical → SDF [N], the learned residual over the prior [N] (the SDF itself
        without a prior), features [N, n_features]."""
        unit = self.grid.normalize(x)
        h = self.sdf_head(torch.cat([unit * 2 - 1, self.grid(x)], dim=1))
        residual = h[:, 0]
        sdf = residual + self.prior(x) if self.prior is not None else residual
        return sdf, residual, h[:, 1:]

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        return self.geometry(x)[0]

    def color(self, features: torch.Tensor, frame: torch.Tensor | None = None,
              normals: torch.Tensor | None = None) -> torch.Tensor:
        """features [N, F], frame [N] int64, normals [N, 3] (when use_normals) → rgb [N, 3]."""
        parts = [features]
        if self.codes is not None:
            parts.append(self.codes(frame))
        if self.use_normals:
            parts.append(normals)
        return torch.sigmoid(self.color_head(torch.cat(parts, dim=1)))
