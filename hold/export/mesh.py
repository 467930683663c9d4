"""Mesh extraction from an SDF field: marching cubes over the occupied region only.

A coarse pass (the node's occupancy resolution) finds the blocks the surface can cross; the
fine grid (256³ by default) is evaluated only inside them and filled elsewhere with the coarse
values (far from the surface, so marching cubes produces no triangles there). The largest
connected component is kept, as HOLD does.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


@torch.no_grad()
def extract_mesh(sdf_fn: Callable[[torch.Tensor], torch.Tensor], bounds: torch.Tensor,
                 resolution: int = 256, coarse: int = 32, chunk: int = 262144,
                 keep_largest: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Vertices [V, 3] and faces [F, 3] of the zero level set of sdf_fn inside bounds [2, 3].

    sdf_fn maps points [N, 3] (float32) to SDF values [N].
    """
    from skimage.measure import marching_cubes

    lo, hi = bounds[0].double(), bounds[1].double()

    def grid_points(res: int, idx: torch.Tensor) -> torch.Tensor:
        ijk = torch.stack([idx % res, (idx // res) % res, idx // (res * res)], 1).double()
        return (lo + ijk * (hi - lo) / (res - 1)).float()

    def evaluate(points: torch.Tensor) -> torch.Tensor:
        return torch.cat([sdf_fn(points[i:i + chunk]).float() for i in range(0, len(points), chunk)])

    # Coarse pass: SDF at (coarse)³ vertices, trilinearly upsampled as the fill value.
    c_idx = torch.arange(coarse**3)
    coarse_sdf = evaluate(grid_points(coarse, c_idx)).reshape(coarse, coarse, coarse)
    fine = torch.nn.functional.interpolate(coarse_sdf[None, None], size=(resolution,) * 3,
                                           mode="trilinear", align_corners=True)[0, 0]
    # Fine vertices near the surface: where the coarse value is within a coarse cell diagonal.
    coarse_cell = float(((hi - lo) / (coarse - 1)).norm())
    near = (fine.abs() < 1.5 * coarse_cell).reshape(-1)
    idx = torch.nonzero(near).reshape(-1)
    if idx.numel():
        fine.view(-1)[idx] = evaluate(grid_points(resolution, idx))
    volume = fine.numpy()  # [z, y, x]
    if not (volume.min() < 0 < volume.max()):
        raise RuntimeError("extract_mesh: the SDF has no zero crossing inside the box")
    verts, faces, _, _ = marching_cubes(volume, level=0.0)
    spacing = ((hi - lo) / (resolution - 1)).numpy()
    verts = verts[:, ::-1] * spacing + lo.numpy()  # (z, y, x) index → (x, y, z) metres
    faces = faces[:, ::-1].copy()  # keep outward normals after the axis swap
    if keep_largest:
        verts, faces = largest_component(verts, faces)
    return verts.astype(np.float32), faces.astype(np.int64)


def largest_component(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    mesh = trimesh.Trimesh(verts, faces, process=False)
    parts = mesh.split(only_watertight=False)
    if len(parts) <= 1:
        return verts, faces
    best = max(parts, key=lambda m: len(m.faces))
    return np.asarray(best.vertices), np.asarray(best.faces)
