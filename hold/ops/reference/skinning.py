"""Pure-PyTorch skinning: the specification that the csrc/ skinning kernels must match.

Linear blend skinning (LBS) moves a canonical point x with the weighted sum of its bones'
rigid transforms; inverse skinning takes a posed (observation-space) sample back to the
canonical hand. HOLD (Fan et al. 2024) finds the weights of a posed sample from the K = 15
nearest posed MANO vertices (``inverse_skin_knn``, a copy of its KNNDeformer's formulas);
``skin_weight_volume`` + ``inverse_skin_volume`` replace the per-sample K-NN search by one
per-frame weight volume and a trilinear lookup (the idea of Fast-SNARF, Chen et al. 2023,
without its root finding), which is what the kernels implement.

Conventions for every function here:

- ``bone_transforms`` [B, J, 3, 4] are the top three rows of the canonical → posed 4×4
  matrices of frame b (``HandOutput.bone_transforms[..., :3, :]``).
- ``frame`` [N] int64 says which frame each point belongs to (0 ≤ frame < B).
- A volume over the box ``bounds`` = [lo, hi] with ``resolution`` (rx, ry, rz) is stored as
  [rz, ry, rx, C]; voxel (i, j, k) (x, y, z indices) has its centre at
  ``lo + (i, j, k) · (hi − lo) / (resolution − 1)``: the first and last voxels sit on the box's
  faces ("align corners").

Everything is vectorised over points: Python loops run only over chunks of points (bounded
memory), the 8 corners of a trilinear cell and the frames of a K-NN search.
"""

from __future__ import annotations

import torch

# Points per chunk for the dense K-NN distance tables (chunk × V doubles in memory).
_KNN_CHUNK = 4096
# Determinant below which the blended 3×3 is treated as singular (the point is marked invalid).
DET_EPS = 1e-8
# Length scale σ (m) of the Gaussian exp(−d²/σ²) that blends the K nearest vertices' weights
# in ``skin_weight_volume``, and the volume size per frame: all three chosen by the round-trip
# measurement in docs/HAND_MODEL.md (64³ over the frame's posed box + 1 cm).
VOLUME_SIGMA = 0.002
VOLUME_K = 8
VOLUME_RESOLUTION = (64, 64, 64)


def lbs_points(
    x: torch.Tensor,  # [N, 3] canonical points
    weights: torch.Tensor,  # [N, J] skinning weights (rows normally sum to 1; not renormalised)
    bone_transforms: torch.Tensor,  # [B, J, 3, 4] canonical → posed per frame
    frame: torch.Tensor,  # [N] int64 frame of each point
) -> torch.Tensor:
    """Forward LBS of points: y = (Σ_j w_j T_{frame, j}) · [x; 1], returns [N, 3].

    Written out: M = Σ_j w_j T_{f, j} (a 3×4 matrix), y_r = Σ_c M_{r, c} x_c + M_{r, 3}.
    """
    blended = torch.einsum("nj,njrc->nrc", weights, bone_transforms[frame])
    return (blended[:, :, :3] @ x[:, :, None])[:, :, 0] + blended[:, :, 3]


def _knn(query: torch.Tensor, points: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distances [Q, k] (ascending) and indices [Q, k] of the k nearest points.

    The distance is |q − p|; it is evaluated as sqrt(max(|q'|² + |p'|² − 2 q'·p', 0)) with
    both sets shifted by the points' mean (q' = q − m, p' = p − m), which for hand-sized
    coordinates is within ~1e-14 m of the direct formula in float64.
    """
    centre = points.mean(0)
    query, points = query - centre, points - centre
    distances, indices = [], []
    for start in range(0, len(query), _KNN_CHUNK):
        table = torch.cdist(query[start:start + _KNN_CHUNK], points,
                            compute_mode="use_mm_for_euclid_dist")
        d, i = torch.topk(table, k, dim=1, largest=False, sorted=True)
        distances.append(d)
        indices.append(i)
    return torch.cat(distances), torch.cat(indices)


def voxel_centres(bounds: torch.Tensor, resolution: tuple[int, int, int]) -> torch.Tensor:
    """Centres [rz, ry, rx, 3] (x, y, z coordinates) of an align-corners volume over bounds [2, 3]."""
    axes = [bounds[0, d] + torch.arange(resolution[d], dtype=bounds.dtype, device=bounds.device)
            * ((bounds[1, d] - bounds[0, d]) / (resolution[d] - 1)) for d in range(3)]
    z, y, x = torch.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    return torch.stack([x, y, z], -1)


def skin_weight_volume(
    posed_vertices: torch.Tensor,  # [V, 3] the frame's posed hand vertices
    vertex_weights: torch.Tensor,  # [V, J] their skinning weights
    bounds: torch.Tensor,  # [2, 3] (lo, hi) of the frame's box
    resolution: tuple[int, int, int],  # (rx, ry, rz), each ≥ 2
    k: int = VOLUME_K,
    sigma: float = VOLUME_SIGMA,
    cutoff: float = 0.0,  # > 0: voxels with no vertex within it store weights 0, distance cutoff
) -> torch.Tensor:
    """Per-frame skinning-weight volume [rz, ry, rx, J + 1] for ``inverse_skin_volume``.

    For the voxel centre c (see the module docstring) with its k nearest posed vertices
    v_1..v_k at distances d_1 ≤ … ≤ d_k:

        a_i = exp(−(d_i² − d_1²) / σ²),   channel j < J: Σ_i a_i W[v_i, j] / Σ_i a_i,
        channel J: d_1 (distance to the nearest posed vertex, for the validity test).

    (Subtracting d_1² only rescales every a_i by the same factor: it keeps far voxels from
    underflowing to 0/0.) The result is detached: weights are constants for autograd.
    """
    centres = voxel_centres(bounds, resolution).reshape(-1, 3)
    distances, indices = _knn(centres, posed_vertices.detach(), k)
    squared = distances * distances
    affinity = torch.exp(-(squared - squared[:, :1]) / (sigma * sigma))
    blended = torch.einsum("pk,pkj->pj", affinity, vertex_weights.detach()[indices])
    blended = blended / affinity.sum(1, keepdim=True)
    volume = torch.cat([blended, distances[:, :1]], 1)
    if cutoff > 0:
        far = distances[:, 0] > cutoff
        volume[far] = 0.0
        volume[far, -1] = cutoff
    return volume.reshape(resolution[2], resolution[1], resolution[0], -1)


def _blend_and_invert(
    x: torch.Tensor,  # [N, 3] posed points
    weights: torch.Tensor,  # [N, J] constant weights
    transforms: torch.Tensor,  # [N, J, 3, 4] the points' frames' bone transforms
) -> tuple[torch.Tensor, torch.Tensor]:
    """x_can = R⁻¹ (x − t) for M = [R | t] = Σ_j w_j T_j, with R⁻¹ = adj(R) / det(R).

    adj(R)_{ij} is the (j, i) cofactor; det(R) = R_00 (R_11 R_22 − R_12 R_21)
    − R_01 (R_10 R_22 − R_12 R_20) + R_02 (R_10 R_21 − R_11 R_20). Returns (x_can [N, 3],
    det [N]); where |det| ≤ DET_EPS the division uses 1 instead (finite output, marked invalid
    by the callers).
    """
    blended = torch.einsum("nj,njrc->nrc", weights, transforms)
    r, t = blended[:, :, :3], blended[:, :, 3]
    (a, b, c), (d, e, f), (g, h, i) = [r[:, row].unbind(-1) for row in range(3)]
    cofactor_a, cofactor_b, cofactor_c = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * cofactor_a + b * cofactor_b + c * cofactor_c
    adjugate = torch.stack([
        cofactor_a, c * h - b * i, b * f - c * e,
        cofactor_b, a * i - c * g, c * d - a * f,
        cofactor_c, b * g - a * h, a * e - b * d,
    ], -1).reshape(-1, 3, 3)
    safe_det = torch.where(det.abs() > DET_EPS, det, torch.ones_like(det))
    x_can = (adjugate @ (x - t)[:, :, None])[:, :, 0] / safe_det[:, None]
    return x_can, det


def trilinear(
    volumes: torch.Tensor,  # [B, rz, ry, rx, C]
    bounds: torch.Tensor,  # [B, 2, 3]
    x: torch.Tensor,  # [N, 3]
    frame: torch.Tensor,  # [N] int64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Align-corners trilinear lookup: values [N, C] and inside-the-box flags [N].

    u = (x − lo) / (hi − lo) · (res − 1) per axis (continuous voxel index); inside =
    0 ≤ u ≤ res − 1 on all axes; u is clamped to that range, i0 = min(floor(u), res − 2),
    f = u − i0, and the value is Σ over the 8 corners of Π_d (f_d or 1 − f_d) · V[corner].
    """
    resolution = torch.tensor(volumes.shape[3:0:-1], device=x.device)  # (rx, ry, rz)
    lo, hi = bounds[frame, 0], bounds[frame, 1]
    u = (x - lo) / (hi - lo) * (resolution - 1).to(x.dtype)
    inside = ((u >= 0) & (u <= (resolution - 1).to(x.dtype))).all(1)
    u = torch.minimum(torch.maximum(u, torch.zeros_like(u)), (resolution - 1).to(x.dtype))
    base = torch.minimum(u.floor().long(), resolution - 2)
    fraction = u - base.to(x.dtype)
    flat = volumes.reshape(-1, volumes.shape[-1])
    values = torch.zeros(len(x), volumes.shape[-1], dtype=volumes.dtype, device=x.device)
    for corner in range(8):  # the 8 cell corners; bit d set = upper neighbour on axis d
        bits = torch.tensor([(corner >> d) & 1 for d in range(3)], device=x.device)
        index = base + bits
        weight = torch.where(bits.bool(), fraction, 1 - fraction).prod(1)
        row = ((frame * resolution[2] + index[:, 2]) * resolution[1] + index[:, 1]) \
            * resolution[0] + index[:, 0]
        values = values + weight[:, None] * flat[row]
    return values, inside


def inverse_skin_volume(
    x: torch.Tensor,  # [N, 3] posed points
    frame: torch.Tensor,  # [N] int64
    volumes: torch.Tensor,  # [B, rz, ry, rx, J + 1] from skin_weight_volume
    bounds: torch.Tensor,  # [B, 2, 3]
    bone_transforms: torch.Tensor,  # [B, J, 3, 4]
    max_dist: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical points [N, 3] and validity [N] by a weight-volume lookup + closed-form inverse.

    1. (w, d) = trilinear(volume_frame, x) (``trilinear``; x is detached here: the weights are
       constants, as HOLD detaches its K-NN weights);
    2. w ← w / max(Σ_j w_j, 1e-12);
    3. [R | t] = Σ_j w_j T_{frame, j}; x_can = adj(R) (x − t) / det(R);
    4. valid = inside the box ∧ d ≤ max_dist ∧ |det(R)| > DET_EPS.

    Differentiable with respect to x and bone_transforms.
    """
    values, inside = trilinear(volumes.detach(), bounds, x.detach(), frame)
    joints = volumes.shape[-1] - 1
    weights = values[:, :joints]
    weights = weights / weights.sum(1, keepdim=True).clamp_min(1e-12)
    x_can, det = _blend_and_invert(x, weights, bone_transforms[frame])
    valid = inside & (values[:, joints] <= max_dist) & (det.abs() > DET_EPS)
    return x_can, valid


def inverse_skin_knn(
    x: torch.Tensor,  # [N, 3] posed points
    frame: torch.Tensor,  # [N] int64
    posed_vertices: torch.Tensor,  # [B, V, 3]
    vertex_weights: torch.Tensor,  # [V, J]
    bone_transforms: torch.Tensor,  # [B, J, 3, 4]
    k: int = 15,
    max_dist: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """HOLD's KNNDeformer (code/src/model/mano/deformer.py) as a reference.

    For the k nearest posed vertices of the point's frame at squared distances s_i:
    s_i ← min(s_i, 4); a_i = exp(−s_i) / Σ_i exp(−s_i); w = Σ_i a_i W[v_i] (detached);
    [R | t] = Σ_j w_j T_{frame, j}; x_can = R⁻¹ (x − t) as in ``inverse_skin_volume``;
    valid = √(min_i s_i) ≤ max_dist (HOLD's outlier threshold, 0.1) ∧ |det R| > DET_EPS.
    HOLD works in its scene units (metres × ~2); for hand-sized distances exp(−s) is ≈ 1
    either way, so the blend is close to a plain mean of the k neighbours' weights.
    """
    distances, indices = _knn_per_frame(x.detach(), posed_vertices.detach(), frame, k)
    squared = (distances * distances).clamp(max=4.0)
    affinity = torch.exp(-squared)
    affinity = affinity / affinity.sum(1, keepdim=True)
    weights = torch.einsum("nk,nkj->nj", affinity, vertex_weights.detach()[indices])
    x_can, det = _blend_and_invert(x, weights, bone_transforms[frame])
    valid = (squared[:, 0].sqrt() <= max_dist) & (det.abs() > DET_EPS)
    return x_can, valid


def _knn_per_frame(queries, posed_vertices, frame, k):
    """K-NN of each query [N, 3] among its own frame's vertices (posed_vertices [B, V, 3]).

    Returns distances [N, k] and vertex indices [N, k] into the frame's vertex list.
    """
    distances = torch.empty(len(queries), k, dtype=queries.dtype, device=queries.device)
    indices = torch.empty(len(queries), k, dtype=torch.long, device=queries.device)
    for b in frame.unique().tolist():  # one search per frame present (frames, not points)
        rows = (frame == b).nonzero()[:, 0]
        distances[rows], indices[rows] = _knn(queries[rows], posed_vertices[b], k)
    return distances, indices
