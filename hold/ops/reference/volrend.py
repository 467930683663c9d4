"""Pure-PyTorch volume rendering of packed samples: the specification of hold::composite_* and
hold::merge_samples. Vectorised over samples with segmented sums; differentiable by autograd."""

from __future__ import annotations

import torch

LAPLACE, LOGISTIC, RAW = 0, 1, 2


def sdf_density(sdf: torch.Tensor, beta: torch.Tensor, mode: int) -> torch.Tensor:
    """σ per sample. sdf [S]; beta [S] (the sample's node scale)."""
    if mode == RAW:
        return sdf
    u = sdf / beta
    e = torch.exp(-u.abs())
    if mode == LAPLACE:
        shape = torch.where(u >= 0, 0.5 * e, 1.0 - 0.5 * e)
    else:
        shape = e / (1.0 + e) ** 2
    return shape / beta


def _segment_sum(values: torch.Tensor, ray: torch.Tensor, n_rays: int) -> torch.Tensor:
    out = values.new_zeros((n_rays,) + values.shape[1:])
    return out.index_add(0, ray, values)


def _exclusive_cumsum_per_ray(values: torch.Tensor, ray: torch.Tensor, slot: torch.Tensor,
                              n_rays: int) -> torch.Tensor:
    """Σ of the earlier samples of the same ray, per sample. Scattered into a padded [R, M]
    matrix so the sums stay per ray (a global cumsum would lose precision on long batches)."""
    width = int(slot.max()) + 1 if slot.numel() else 1
    dense = values.new_zeros(n_rays, width).index_put((ray, slot), values)
    incl = torch.cumsum(dense, dim=1)[ray, slot]
    return incl - values


def composite(packed, t_starts, t_ends, sdf, node, beta, rgb, bg=None, mode=LAPLACE, eps=0.0):
    """Same arguments and outputs as hold.ops.composite: (rgb [R, 3], depth [R], opacity [R],
    node_weights [R, K], weights [S], trans [S])."""
    n_rays, n_nodes = packed.shape[0], beta.shape[0]
    ray = torch.repeat_interleave(torch.arange(n_rays, device=packed.device), packed[:, 1])
    slot = torch.arange(ray.shape[0], device=packed.device) - packed[ray, 0]  # index within ray
    sigma = sdf_density(sdf, beta[node], mode)
    tau = sigma * (t_ends - t_starts)  # optical depth of each sample
    trans = torch.exp(-_exclusive_cumsum_per_ray(tau, ray, slot, n_rays))
    # Early termination: the first sample with T < eps and every later one drop out.
    below = (trans < eps).to(tau.dtype)
    alive = (_exclusive_cumsum_per_ray(below, ray, slot, n_rays) + below) == 0
    zeros = torch.zeros_like(tau)
    weights = torch.where(alive, trans * -torch.expm1(-tau), zeros)
    t_final = torch.exp(-_segment_sum(torch.where(alive, tau, zeros), ray, n_rays))
    trans = torch.where(alive, trans, t_final[ray])
    mid = 0.5 * (t_starts + t_ends)
    out_rgb = _segment_sum(weights[:, None] * rgb, ray, n_rays)
    if bg is not None:
        out_rgb = out_rgb + t_final[:, None] * bg
    depth = _segment_sum(weights * mid, ray, n_rays)
    opacity = _segment_sum(weights, ray, n_rays)
    node_w = weights.new_zeros(n_rays * n_nodes).index_add(0, ray * n_nodes + node, weights)
    return out_rgb, depth, opacity, node_w.reshape(n_rays, n_nodes), weights, trans


def merge_samples(packed_a, t_mid_a, packed_b, t_mid_b):
    """Merge two nodes' packed samples per ray by midpoint (ties: node a first) → (packed [R, 2],
    order [S_a + S_b] indexing cat(a, b))."""
    n_rays = packed_a.shape[0]
    rays = torch.arange(n_rays, device=packed_a.device)
    ray = torch.cat([torch.repeat_interleave(rays, packed_a[:, 1]),
                     torch.repeat_interleave(rays, packed_b[:, 1])])
    mid = torch.cat([t_mid_a, t_mid_b])
    by_mid = torch.sort(mid, stable=True).indices
    order = by_mid[torch.sort(ray[by_mid], stable=True).indices]
    counts = packed_a[:, 1] + packed_b[:, 1]
    packed = torch.stack([torch.cumsum(counts, 0) - counts, counts], dim=1)
    return packed, order
