"""The object node: a canonical SDF + colour field in the object frame, placed in the camera by
a per-frame rigid pose (init pose ∘ learned correction), with its own occupancy grid."""

from __future__ import annotations

import numpy as np
import torch

from hold.models.fields.occupancy import OccupancyGrid
from hold.models.fields.sdf_field import SDFColorField
from hold.models.geometry import axis_angle_to_matrix, invert_rigid

from .start import ObjectStart


class ObjectNode(torch.nn.Module):
    """Args:
        init_poses: [T, 4, 4] object → camera (rigid) starting poses.
        start: the field's box and starting shape (``object_start``: from the masks).
        grid_resolution: occupancy cells per axis.
    """

    semantic = "object"

    def __init__(self, init_poses: torch.Tensor, start: ObjectStart, grid_resolution: int = 64,
                 beta: float = 0.004, code_dim: int = 8, use_normals: bool = True,
                 generator: torch.Generator | None = None):
        super().__init__()
        bounds = torch.tensor(start.bounds, dtype=torch.float32)
        n_frames = init_poses.shape[0]
        self.field = SDFColorField(bounds, start.prior, n_frames=n_frames, code_dim=code_dim,
                                   use_normals=use_normals, generator=generator)
        self.occupancy = OccupancyGrid(bounds, grid_resolution)
        self.register_buffer("init_rot", init_poses[:, :3, :3].float().clone())
        self.register_buffer("init_trans", init_poses[:, :3, 3].float().clone())
        self.rot_delta = torch.nn.Parameter(torch.zeros(n_frames, 3))  # object-frame axis-angle
        self.trans_delta = torch.nn.Parameter(torch.zeros(n_frames, 3))  # camera-frame metres
        self.log_beta = torch.nn.Parameter(torch.tensor(float(np.log(beta))))
        # Metres per unit of the field's coordinates (the refinement may rescale the object;
        # the scale lives here and in the exported mesh, never in the rigid poses).
        self.register_buffer("scale", torch.tensor(1.0))
        # The poses' constant last row, kept on the node's device: made per call from a Python
        # list it was a blocking host → device copy every step (not saved in checkpoints).
        self.register_buffer("bottom_row", torch.tensor([[0.0, 0.0, 0.0, 1.0]]), persistent=False)

    @property
    def bounds(self) -> torch.Tensor:
        return self.occupancy.bounds

    def beta(self) -> torch.Tensor:
        return self.log_beta.exp().clamp(min=1e-4)

    def poses(self, frames: torch.Tensor | None = None) -> torch.Tensor:
        """Object → camera [B, 4, 4] of the frames (all when None): R = R_init · exp(δω),
        t = t_init + δt (the correction rotates about the object frame's origin)."""
        sel = slice(None) if frames is None else frames
        rot = self.init_rot[sel] @ axis_angle_to_matrix(self.rot_delta[sel])
        trans = self.init_trans[sel] + self.trans_delta[sel]
        bottom = self.bottom_row.to(rot.dtype).expand(rot.shape[0], 1, 4)
        return torch.cat([torch.cat([rot, trans[:, :, None]], 2), bottom], 1)

    def camera_to_node(self) -> torch.Tensor:
        """[T, 3, 4] camera → field coordinates for every frame (differentiable): the inverse
        rigid pose, divided by the object scale. Marching handles the similarity: sample
        parameters t stay camera-space metres."""
        return invert_rigid(self.poses()) / self.scale

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance in metres at field coordinates x [N, 3]."""
        return self.field.sdf(x) * self.scale

    @torch.no_grad()
    def set_poses(self, rot: torch.Tensor, trans: torch.Tensor) -> None:
        """Make rot [T, 3, 3], trans [T, 3] the new starting poses (corrections reset to 0)."""
        self.init_rot.copy_(rot)
        self.init_trans.copy_(trans)
        self.rot_delta.zero_()
        self.trans_delta.zero_()

    @torch.no_grad()
    def set_scale(self, scale: float) -> None:
        self.scale.fill_(scale)
