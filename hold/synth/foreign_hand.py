"""A hand outside the built-in model's shape space, for harder synthetic sequences.

The built-in hand's shape space changes all fingers together (length, thickness, palm width,
about 5 % per standard deviation). ``ForeignHand`` wraps it and applies, on top of any betas,
per-finger bone-length factors (some fingers much longer, some much shorter) and a finger
thickness factor well beyond that range. The deformation is a per-bone affine map blended with
the skinning weights, like the model's own blend shapes, so joints and skin stay consistent:

    J'_j = J'_parent(j) + S_parent(j) (J_j − J_parent(j)),   v' = Σ_j w_j (J'_j + S_j (v − J_j)),

where S_j scales bone j's axis by its length factor and the two directions across it by the
thickness factor (the wrist bone is left unchanged). Posing uses the same kinematics as the
built-in hand, so a fitted built-in hand cannot reproduce these proportions.
"""

from __future__ import annotations

import numpy as np
import torch

from hold.models.hand.base import KEYPOINTS_FROM_BONES, PARENTS, TIP_KEYPOINTS, HandModel, HandOutput
from hold.models.hand.kinematics import axis_angle_to_matrix, bone_transforms, skin

# MANO bone indices per finger (base.PARENTS order).
FINGER_BONES = {"index": (1, 2, 3), "middle": (4, 5, 6), "pinky": (7, 8, 9), "ring": (10, 11, 12),
                "thumb": (13, 14, 15)}


def foreign_proportions(rng: np.random.Generator) -> tuple[dict[str, float], float]:
    """Per-finger length factors and one finger thickness factor (1.2-1.3).

    Neighbouring long fingers alternate between 15-25 % longer and 12-18 % shorter (which of
    index/middle is long is random), the thumb is either: 3-5 standard deviations of the model's
    shape space and non-uniform across fingers, which its single finger-length direction cannot
    express (e.g. the index/middle length ratio moves by at least 1.15 / 0.88)."""
    long_first = rng.random() < 0.5
    lengths = {}
    for i, finger in enumerate(("index", "middle", "ring", "pinky")):
        longer = (i % 2 == 0) == long_first
        lengths[finger] = rng.uniform(1.15, 1.25) if longer else rng.uniform(0.82, 0.88)
    lengths["thumb"] = rng.uniform(1.15, 1.25) if rng.random() < 0.5 else rng.uniform(0.82, 0.88)
    return lengths, float(rng.uniform(1.2, 1.3))


class ForeignHand(HandModel):
    """The built-in hand with foreign proportions; same parameters, faces and skinning."""

    def __init__(self, base: HandModel, finger_lengths: dict[str, float], thickness: float):
        super().__init__()
        self.base = base
        self.num_betas = base.num_betas
        self.register_buffer("faces", base.faces)
        self.register_buffer("skin_weights", base.skin_weights)
        self.register_buffer("tip_vertex_ids", base.tip_vertex_ids)
        # Per-bone scale matrices S_j in the canonical frame, [16, 3, 3]; bone j's axis is the
        # twist axis of its joint frame (row 2 of joint_axes[j - 1]).
        scales = torch.eye(3).repeat(16, 1, 1)
        for finger, bones in FINGER_BONES.items():
            for bone in bones:
                axis = base.joint_axes[bone - 1, 2]
                along = torch.outer(axis, axis)
                scales[bone] = finger_lengths[finger] * along + thickness * (torch.eye(3) - along)
        self.register_buffer("bone_scales", scales)
        self.finger_lengths = dict(finger_lengths)
        self.thickness = thickness

    def canonical(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vertices, joints = self.base.canonical(betas)
        new_joints = [joints[:, 0]]
        for j in range(1, 16):
            p = PARENTS[j]
            new_joints.append(new_joints[p] + (joints[:, j] - joints[:, p]) @ self.bone_scales[p].T)
        new_joints = torch.stack(new_joints, 1)  # [B, 16, 3]
        # v' = Σ_j w_j (J'_j + S_j (v − J_j))
        local = vertices[:, None] - joints[:, :, None]  # [B, 16, V, 3]
        per_bone = new_joints[:, :, None] + torch.einsum("jrc,bjvc->bjvr", self.bone_scales, local)
        return torch.einsum("vj,bjvc->bvc", self.skin_weights, per_bone), new_joints

    def forward(self, global_orient, hand_pose, betas, transl) -> HandOutput:
        batch = global_orient.shape[0]
        vertices, rest = self.canonical(betas.reshape(-1, self.num_betas).expand(batch, -1))
        pose = torch.cat([global_orient, hand_pose], -1).reshape(-1, 16, 3)
        transforms, joints16 = bone_transforms(axis_angle_to_matrix(pose), rest, PARENTS, transl)
        posed = skin(vertices, self.skin_weights, transforms)
        order = torch.tensor(KEYPOINTS_FROM_BONES).clamp(min=0)
        keypoints = joints16[:, order].clone()
        keypoints[:, list(TIP_KEYPOINTS)] = posed[:, self.tip_vertex_ids]
        return HandOutput(posed, keypoints, transforms, rest)

    def hand_pose_from_angles(self, angles: torch.Tensor) -> torch.Tensor:
        return self.base.hand_pose_from_angles(angles)

    def pose_prior(self, hand_pose: torch.Tensor) -> torch.Tensor:
        return self.base.pose_prior(hand_pose)
