"""The interface every hand model implements (built-in hand, MANO through smplx).

Conventions shared by all hand models:

- Right hand, metres, the parameters act in the camera frame (OpenCV) like smplx's MANO:
  ``posed = R_global · (LBS of the articulated canonical hand about the wrist) + transl``.
- The canonical frame is MANO's: the flat hand with the fingers along −x, the thumb side
  towards +z and the palm facing −y.
- 16 bones in MANO's kinematic order: 0 wrist (root); index 1-3; middle 4-6; pinky 7-9;
  ring 10-12; thumb 13-15 (MANO's order, parents ``PARENTS``).
- ``hand_pose`` is [B, 45]: axis-angle of bones 1..15 relative to their parent, **zero = the
  flat canonical hand** (for MANO this means ``flat_hand_mean=True`` semantics; the MANO
  wrapper converts from/to the smplx ``flat_hand_mean=False`` files in ``init/mano.npz``).
- ``joints`` are the 21 keypoints in the order of docs/SEQUENCE_FORMAT.md (MediaPipe/OpenPose):
  0 wrist; thumb 1-4; index 5-8; middle 9-12; ring 13-16; pinky 17-20. ``KEYPOINTS_FROM_BONES``
  maps the 16 bone origins to that order; tips come from skin vertices.
- ``bone_transforms`` [B, 16, 4, 4] map canonical (flat hand, shape applied, zero global pose,
  zero translation) points to posed points: ``x_posed = Σ_j w_j · A_j · x_can`` (LBS; global
  orientation and translation included). MANO's own vertices add pose-corrective offsets on
  top, so for MANO this holds up to those (mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# MANO kinematic tree: parent of each of the 16 bones (-1 for the wrist).
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

# Index into the 16 bone origins for each of the 21 keypoints that is a joint (tips are -1).
# 21-order: wrist, thumb CMC/MCP/IP/tip, index MCP/PIP/DIP/tip, middle…, ring…, pinky….
KEYPOINTS_FROM_BONES = (0, 13, 14, 15, -1, 1, 2, 3, -1, 4, 5, 6, -1, 10, 11, 12, -1, 7, 8, 9, -1)
# Positions of the fingertips in the 21-keypoint order: thumb, index, middle, ring, pinky.
TIP_KEYPOINTS = (4, 8, 12, 16, 20)


@dataclass
class HandOutput:
    vertices: torch.Tensor  # [B, V, 3] posed skin vertices
    joints: torch.Tensor  # [B, 21, 3] keypoints in the SEQUENCE_FORMAT order
    bone_transforms: torch.Tensor  # [B, 16, 4, 4] canonical → posed
    rest_joints: torch.Tensor  # [B, 16, 3] bone origins of the canonical (flat, shaped) hand


class HandModel(torch.nn.Module):
    """Abstract hand model. Subclasses register these buffers:

    - ``faces`` [F, 3] long: a closed (watertight) triangle mesh;
    - ``template`` [V, 3]: canonical vertices at zero shape (flat hand; the built-in hand's
      wrist joint is at the origin, MANO's template keeps its own, J0 ≈ (0.096, 0.006, 0.006));
    - ``skin_weights`` [V, 16]: LBS weights, rows sum to 1;
    - ``tip_vertex_ids`` [5] long: skin vertices used as the tips (thumb, index, middle, ring,
      pinky).
    """

    num_bones = 16
    num_keypoints = 21
    num_betas: int

    def forward(
        self,
        global_orient: torch.Tensor,  # [B, 3] axis-angle
        hand_pose: torch.Tensor,  # [B, 45] axis-angle, zero = flat hand
        betas: torch.Tensor,  # [B, num_betas]
        transl: torch.Tensor,  # [B, 3]
    ) -> HandOutput:
        raise NotImplementedError

    def canonical(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Canonical (flat, shaped) vertices [B, V, 3] and bone origins [B, 16, 3]."""
        raise NotImplementedError

    def pose_prior(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """Per-sample negative log-prior of the articulation, [B]; differentiable, ≥ 0."""
        raise NotImplementedError

    def pose_prior_residuals(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """Residuals [B, R] with ``pose_prior = ½ Σ r²`` (for least-squares solvers)."""
        raise NotImplementedError

    def keypoints(self, global_orient, hand_pose, betas, transl) -> torch.Tensor:
        """The 21 posed keypoints [B, 21, 3]; models may skip skinning the whole mesh."""
        batch = global_orient.shape[0]
        return self.forward(global_orient, hand_pose,
                            betas.reshape(-1, self.num_betas).expand(batch, -1), transl).joints
