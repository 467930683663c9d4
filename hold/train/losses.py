"""Loss terms of engine I (HOLD_METHOD.md §3, on hash-grid fields)."""

from __future__ import annotations

import torch

# Mask label values (docs/SEQUENCE_FORMAT.md) → semantic class: background, object, hand.
LABEL_BG, LABEL_OBJECT, LABEL_HAND, LABEL_IGNORE = 0, 50, 150, 250


def rgb_l1(pred: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean absolute colour error over rays that are not ignored. pred, target [R, 3]."""
    return ((pred - target).abs().sum(1) * keep).sum() / keep.sum().clamp(min=1)


def semantic_l2(opacity: torch.Tensor, node_weights: torch.Tensor, labels: torch.Tensor,
                keep: torch.Tensor) -> torch.Tensor:
    """HOLD's segmentation loss: squared error between the composited class probabilities
    (background = 1 − opacity, object, hand) and the one-hot mask label."""
    pred = torch.stack([1 - opacity, node_weights[:, 0], node_weights[:, 1]], 1)
    target = torch.stack([labels == LABEL_BG, labels == LABEL_OBJECT, labels == LABEL_HAND],
                         1).to(pred.dtype)
    return (((pred - target) ** 2).sum(1) * keep).sum() / keep.sum().clamp(min=1)


def eikonal(sdf_fn, points: torch.Tensor) -> torch.Tensor:
    """mean (|∇s| − 1)² at points [N, 3] (differentiable through the gradient: the hash grid's
    double backward)."""
    points = points.detach().requires_grad_(True)
    sdf = sdf_fn(points)
    (grad,) = torch.autograd.grad(sdf.sum(), points, create_graph=True)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def laplacian_l1(sdf_fn, points: torch.Tensor, step: float | torch.Tensor) -> torch.Tensor:
    """mean |Δs| at points [N, 3] by central differences of ``step`` (in the unit of the points
    and the SDF; the result is per that unit). Neuralangelo's curvature prior (Li et al., CVPR
    2023), with its numerical second derivatives: the hash grid needs no third-order backward."""
    n = points.shape[0]
    offsets = torch.eye(3, device=points.device, dtype=points.dtype) * step
    shifted = torch.cat([points, (points[:, None] + offsets).reshape(-1, 3),
                         (points[:, None] - offsets).reshape(-1, 3)])
    values = sdf_fn(shifted)
    centre, plus, minus = values[:n], values[n:4 * n].reshape(n, 3), values[4 * n:].reshape(n, 3)
    return ((plus + minus - 2 * centre[:, None]).sum(1) / (step * step)).abs().mean()


def geman_mcclure(sq: torch.Tensor, sigma: float) -> torch.Tensor:
    """Robust ρ(r) = r² / (r² + σ²) of squared residuals."""
    return sq / (sq + sigma * sigma)


def second_difference(x: torch.Tensor) -> torch.Tensor:
    """Mean squared second temporal difference of x [T, ...] (a constant-velocity prior)."""
    if x.shape[0] < 3:
        return x.new_zeros(())
    acc = x[2:] - 2 * x[1:-1] + x[:-2]
    return (acc**2).flatten(1).sum(1).mean()


def penetration(obj, points: torch.Tensor, frames: torch.Tensor, unit: float = 0.001,
                robust: float = 0.0) -> torch.Tensor:
    """Mean of (depth / unit)² of camera-space points [B, P, 3] of frames [B] inside the object
    node's SDF (0 outside); with ``robust`` > 0 (metres) the Geman–McClure penalty of that
    scale instead, so points far inside (a wrong hand fit, not a wrong object) stop pulling.
    Differentiable in the points, the object's poses and its field."""
    to_node = obj.camera_to_node()[frames]  # [B, 3, 4]
    local = points @ to_node[:, :, :3].transpose(1, 2) + to_node[:, None, :, 3]
    lo, hi = obj.bounds[0], obj.bounds[1]
    local = local.reshape(-1, 3)
    # Outside the field's box the object is empty; evaluating clamped points keeps the step
    # free of data-dependent shapes (no host sync).
    inside_box = ((local > lo) & (local < hi)).all(-1)
    sdf = obj.sdf(torch.minimum(torch.maximum(local, lo), hi))
    depth = torch.relu(-sdf) * inside_box / unit
    if robust > 0:
        scale = robust / unit
        return (scale**2 * geman_mcclure(depth**2, scale)).mean()
    return (depth**2).mean()

