"""Rigid-transform helpers shared by the nodes."""

from __future__ import annotations

import torch

from hold.models.hand.kinematics import axis_angle_to_matrix

__all__ = ["axis_angle_to_matrix", "interpolate_poses", "invert_rigid", "matrix_to_axis_angle"]


def invert_rigid(pose: torch.Tensor) -> torch.Tensor:
    """[..., 4, 4] or [..., 3, 4] rigid [R | t] → its inverse as [..., 3, 4] = [Rᵀ | −Rᵀt]."""
    rot, trans = pose[..., :3, :3], pose[..., :3, 3:]
    rot_t = rot.transpose(-1, -2)
    return torch.cat([rot_t, -rot_t @ trans], dim=-1)


def matrix_to_axis_angle(rot: torch.Tensor) -> torch.Tensor:
    """[..., 3, 3] rotation matrices → [..., 3] axis-angle (via quaternions, stable near 0 and π)."""
    m = rot
    w = torch.sqrt(torch.clamp(1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2], min=1e-12)) / 2
    x = torch.sqrt(torch.clamp(1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2], min=0)) / 2
    y = torch.sqrt(torch.clamp(1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2], min=0)) / 2
    z = torch.sqrt(torch.clamp(1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2], min=0)) / 2
    x = torch.copysign(x, m[..., 2, 1] - m[..., 1, 2])
    y = torch.copysign(y, m[..., 0, 2] - m[..., 2, 0])
    z = torch.copysign(z, m[..., 1, 0] - m[..., 0, 1])
    vec = torch.stack([x, y, z], -1)
    sin_half = vec.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(sin_half, w[..., None])
    return vec / sin_half.clamp(min=1e-12) * angle


def interpolate_poses(poses: torch.Tensor) -> torch.Tensor:
    """Fill frames of poses [T, 4, 4] that contain NaN: rotations by SLERP (through axis-angle of
    the relative rotation) and translations linearly between the nearest valid frames; nearest
    valid frame at the ends. Raises ValueError when no frame is valid."""
    poses = poses.clone()
    valid = torch.isfinite(poses).flatten(1).all(1)
    if bool(valid.all()):
        return poses
    idx = torch.nonzero(valid).reshape(-1)
    if not idx.numel():
        raise ValueError("interpolate_poses: no valid pose to interpolate from")
    for t in torch.nonzero(~valid).reshape(-1).tolist():
        before, after = idx[idx < t], idx[idx > t]
        if not before.numel() or not after.numel():
            poses[t] = poses[int(after[0] if after.numel() else before[-1])]
            continue
        a, b = int(before[-1]), int(after[0])
        w = (t - a) / (b - a)
        rel = matrix_to_axis_angle(poses[a, :3, :3].T @ poses[b, :3, :3])
        poses[t, :3, :3] = poses[a, :3, :3] @ axis_angle_to_matrix(rel * w)
        poses[t, :3, 3] = (1 - w) * poses[a, :3, 3] + w * poses[b, :3, 3]
        poses[t, 3] = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=poses.dtype)
    return poses
