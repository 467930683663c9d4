"""Forward kinematics and linear blend skinning shared by the hand models (pure torch).

The conventions are smplx's (``smplx/lbs.py``), written out here so that the built-in hand does
not need smplx: per-bone rotations act in the canonical frame's axes, the root rotation is about
the root joint, and ``bone_transforms`` map canonical points to posed points.
"""

from __future__ import annotations

import torch

_SMALL_ANGLE = 1e-4  # below this the Rodrigues coefficients use their Taylor series


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] from axis-angle vectors [..., 3] (Rodrigues' formula).

    R = I + (sin θ / θ) K + ((1 − cos θ) / θ²) K², K = [r]×, θ = |r|. Exact at r = 0 and with
    finite gradients there (the coefficients switch to their series below 1e-4 rad).
    """
    theta2 = (axis_angle * axis_angle).sum(-1)
    small = theta2 < _SMALL_ANGLE**2
    # Both branches of torch.where are differentiated: keep the unused one finite.
    safe_theta2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = torch.sqrt(safe_theta2)
    sin_term = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    cos_term = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / safe_theta2)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(
        axis_angle.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sin_term[..., None, None] * skew + cos_term[..., None, None] * (skew @ skew)


def bone_transforms(
    rotations: torch.Tensor,  # [B, J, 3, 3] per-bone rotation (bone 0: global orientation)
    rest_joints: torch.Tensor,  # [B, J, 3] bone origins of the canonical hand
    parents: tuple[int, ...],  # J entries, parents[0] = -1, parents[j] < j
    translation: torch.Tensor | None = None,  # [B, 3] added after the rotations
) -> tuple[torch.Tensor, torch.Tensor]:
    """World transforms of the bones and the canonical → posed skinning transforms.

    G_0 = [R_0 | J_0], G_j = G_parent(j) · [R_j | J_j − J_parent(j)]; A_j = G_j · [I | −J_j]
    (then + translation), so A_j maps a canonical point rigidly attached to bone j to its posed
    position. Returns (A [B, J, 4, 4], posed joints [B, J, 3] = translation + G_j's origin).
    """
    count = rest_joints.shape[1]
    # Out-of-place throughout, so that torch.func transforms (vmap, jacfwd) apply.
    offsets = torch.cat([rest_joints[:, :1],
                         rest_joints[:, 1:] - rest_joints[:, list(parents[1:])]], 1)
    bottom = torch.zeros_like(rotations[..., :1, :]).expand(*rotations.shape[:-2], 1, 3)
    one = torch.ones_like(rotations[..., :1, :1])
    local = torch.cat([torch.cat([rotations, offsets[..., None]], -1),
                       torch.cat([bottom, one], -1)], -2)
    world = [local[:, 0]]
    for j in range(1, count):  # the tree has 16 bones: a loop over bones, not over points
        world.append(world[parents[j]] @ local[:, j])
    world = torch.stack(world, 1)
    posed_joints = world[..., :3, 3]
    if translation is not None:
        posed_joints = posed_joints + translation[:, None]
    # A_j = G_j · [I | −J_j]: rotation R_j, translation (posed joint) − R_j J_j.
    rotation = world[..., :3, :3]
    shift = posed_joints - (rotation @ rest_joints[..., None])[..., 0]
    skinning = torch.cat([torch.cat([rotation, shift[..., None]], -1), world[..., 3:, :]], -2)
    return skinning, posed_joints


def skin(
    points: torch.Tensor,  # [B, V, 3] canonical points
    weights: torch.Tensor,  # [V, J] rows sum to 1
    transforms: torch.Tensor,  # [B, J, 4, 4] canonical → posed (from bone_transforms)
) -> torch.Tensor:
    """Linear blend skinning: x_posed = (Σ_j w_j A_j) [x; 1], returns [B, V, 3]."""
    blended = torch.einsum("vj,bjrc->bvrc", weights, transforms[..., :3, :])
    return (blended[..., :3] @ points[..., None])[..., 0] + blended[..., 3]
