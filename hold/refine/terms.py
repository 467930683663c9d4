"""The differentiable terms of hand–object pose refinement (engine II).

HOLD refines poses with PyTorch3D soft silhouettes and a contact term (HOLD_METHOD.md §4,
stage 2). Here every term is cheap enough for a CPU:

- silhouettes: the projected vertices of each mesh must lie on pixels their mask allows
  (a distance transform of the disallowed region, sampled bilinearly), and each mask pixel of a
  label must lie near a projected vertex of its mesh (a chamfer coverage term) — the two halves
  of a silhouette IoU, without rasterising;
- contact: the hand's contact-zone vertices nearest the object are pulled onto its surface;
- penetration: hand vertices inside the object (negative object SDF) are pushed out;
- 2D keypoints: robust reprojection error when init/hand_keypoints2d.npy exists;
- temporal smoothness of both trajectories (second differences).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


# -- silhouettes ----------------------------------------------------------------------------------


def distance_outside(allowed: np.ndarray) -> np.ndarray:
    """[T, H, W] float32: per pixel, the distance (pixels) to the nearest allowed pixel; 0 on
    allowed pixels. allowed [T, H, W] bool."""
    from scipy.ndimage import distance_transform_edt

    out = np.zeros(allowed.shape, np.float32)
    for t in range(len(allowed)):
        if allowed[t].any():
            out[t] = distance_transform_edt(~allowed[t])
    return out


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Camera-frame points [..., 3] → pixels [..., 2] (u, v); depth clamped to 1 mm."""
    z = points[..., 2:3].clamp(min=1e-3)
    uv = points[..., :2] / z
    return uv * torch.stack([K[0, 0], K[1, 1]]) + torch.stack([K[0, 2], K[1, 2]])


def sample_image(image: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of image [T, H, W] at pixels uv [T, N, 2] → [T, N] (border clamped)."""
    T, H, W = image.shape
    grid = torch.stack([uv[..., 0] / (W - 1) * 2 - 1, uv[..., 1] / (H - 1) * 2 - 1], -1)
    return F.grid_sample(image[:, None], grid[:, :, None, :], mode="bilinear",
                         padding_mode="border", align_corners=True)[:, 0, :, 0]


def outside_penalty(uv: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
    """Mean distance (pixels) of projected vertices uv [T, N, 2] from their allowed region."""
    return sample_image(distance, uv).mean()


def coverage_penalty(uv: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean distance (pixels) from each target pixel of a label's masks to the nearest projected
    vertex of its mesh. uv [T, N, 2]; targets [T, M, 2] with valid [T, M] marking real
    (unpadded) targets. The nearest vertex is found without gradients and the loss pulls exactly
    that vertex (the usual chamfer trick: a gather in the backward, not a distance table)."""
    with torch.no_grad():
        nearest = torch.cdist(targets, uv).argmin(dim=2)  # [T, M]
    picked = torch.gather(uv, 1, nearest[..., None].expand(-1, -1, 2))
    distance = (picked - targets).norm(dim=-1)
    return (distance * valid).sum() / valid.sum().clamp(min=1)


def mask_targets(labels: np.ndarray, label: int, count: int,
                 seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per frame, up to `count` pixels (u, v) of the label, drawn with a fixed seed: targets
    [T, count, 2] (padded with zeros) and valid [T, count]."""
    rng = np.random.default_rng(seed)
    targets = torch.zeros(len(labels), count, 2)
    valid = torch.zeros(len(labels), count)
    for t in range(len(labels)):
        vs, us = np.nonzero(labels[t] == label)
        if len(us):
            pick = rng.choice(len(us), min(count, len(us)), replace=False)
            targets[t, :len(pick)] = torch.tensor(np.stack([us[pick], vs[pick]], 1),
                                                  dtype=torch.float32)
            valid[t, :len(pick)] = 1
    return targets, valid


# -- hand–object interaction ------------------------------------------------------------------


def contact_zone(hand_model, min_palmar: float = 0.5) -> torch.Tensor:
    """Indices of the hand's contact-zone vertices: the palmar side (canonical normal against
    the palm direction −y) of the fingers' middle and distal segments and of the palm — where
    a grasping hand touches an object (the ObMan/HOLD contact zones play this role for MANO)."""
    import trimesh

    verts = hand_model.template.detach().numpy()
    faces = hand_model.faces.numpy()
    normals = trimesh.Trimesh(verts, faces, process=False).vertex_normals
    palmar = -normals[:, 1] > min_palmar
    bone = hand_model.skin_weights.argmax(1).numpy()
    segments = {0, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15}  # palm + middle/distal segments
    return torch.tensor(np.nonzero(palmar & np.isin(bone, list(segments)))[0])


def contact_penalty(sdf: torch.Tensor, fraction: float = 0.1, reach: float = 0.03) -> torch.Tensor:
    """Contact: per frame, the `fraction` of contact-zone vertices nearest to the object surface
    (smallest |sdf|; sdf [T, C] in metres) are pulled onto it — mean sdf² in mm² — when the
    nearest lies within `reach`. A grasping hand then touches the object with its closest
    contact region without every contact vertex being forced onto it (HOLD pulls all of them)."""
    k = max(1, int(round(fraction * sdf.shape[1])))
    nearest = sdf.abs().topk(k, dim=1, largest=False).indices
    close = torch.gather(sdf, 1, nearest)  # [T, k]
    active = close.abs().min(dim=1).values < reach
    if not bool(active.any()):
        return sdf.new_zeros(())
    return ((close[active] * 1000) ** 2).mean()


def penetration_penalty(sdf: torch.Tensor) -> torch.Tensor:
    """Mean squared depth (mm²) of hand vertices inside the object (sdf < 0), over all."""
    return ((sdf.clamp(max=0) * 1000) ** 2).mean()


def second_difference(x: torch.Tensor) -> torch.Tensor:
    """Mean squared second temporal difference of x [T, ...]."""
    if x.shape[0] < 3:
        return x.new_zeros(())
    return ((x[2:] - 2 * x[1:-1] + x[:-2]) ** 2).flatten(1).sum(1).mean()


def keypoint_penalty(uv: torch.Tensor, observed: torch.Tensor, sigma: float = 10.0) -> torch.Tensor:
    """Geman–McClure reprojection error of joints uv [T, 21, 2] against observed [T, 21, 3]
    (u, v, confidence; NaN = missing)."""
    valid = torch.isfinite(observed).all(-1)
    if not bool(valid.any()):
        return uv.new_zeros(())
    obs = torch.nan_to_num(observed)
    sq = ((uv - obs[..., :2]) ** 2).sum(-1)
    rho = sq * sigma**2 / (sq + sigma**2)
    return (rho * obs[..., 2] * valid).sum() / valid.sum()
