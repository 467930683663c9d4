"""Mesh geometry for the synthetic generator: watertight copies, signed distances, normals."""

from __future__ import annotations

import numpy as np
import torch
import trimesh
from scipy.spatial import cKDTree


def watertight_copy(vertices: np.ndarray, faces: np.ndarray) -> trimesh.Trimesh:
    """A trimesh whose duplicated vertices (UV seams of scanned meshes) are merged, so that
    inside/outside tests work. Raises ValueError if the result is still open."""
    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces), process=False)
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    if not mesh.is_watertight:
        raise ValueError("the object mesh is not closed (watertight) even after merging seams")
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def transform(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4×4 transform to [N, 3] points."""
    return rotate(pose[:3, :3], points) + pose[:3, 3]


def rotate(matrix: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """matrix [3, 3] applied to vectors [N, 3]. einsum, not ``@``: a tall [N, 3] × [3, 3] product
    goes through multi-threaded BLAS, which is 5-20× slower on a busy machine."""
    return np.einsum("ij,nj->ni", matrix, vectors)


def closest_points_on_triangles(points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Closest point on triangle (a, b, c) to each point, all [N, 3] (Ericson, Real-Time Collision
    Detection §5.1.5: classify the point against the triangle's Voronoi regions)."""
    ab, ac, ap = b - a, c - a, points - a
    d1, d2 = np.einsum("ij,ij->i", ab, ap), np.einsum("ij,ij->i", ac, ap)
    bp = points - b
    d3, d4 = np.einsum("ij,ij->i", ab, bp), np.einsum("ij,ij->i", ac, bp)
    cp = points - c
    d5, d6 = np.einsum("ij,ij->i", ab, cp), np.einsum("ij,ij->i", ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    result = np.empty_like(points)
    done = np.zeros(len(points), bool)

    def take(mask, value):
        mask = mask & ~done
        result[mask] = value[mask] if value.ndim == 2 else value
        done[mask] = True

    with np.errstate(divide="ignore", invalid="ignore"):
        take((d1 <= 0) & (d2 <= 0), a)  # vertex a
        take((d3 >= 0) & (d4 <= d3), b)  # vertex b
        take((d6 >= 0) & (d5 <= d6), c)  # vertex c
        take((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + (d1 / (d1 - d3))[:, None] * ab)  # edge ab
        take((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + (d2 / (d2 - d6))[:, None] * ac)  # edge ac
        take((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),
             b + ((d4 - d3) / ((d4 - d3) + (d5 - d6)))[:, None] * (c - b))  # edge bc
        denom = 1.0 / (va + vb + vc)
        take(np.ones(len(points), bool), a + (vb * denom)[:, None] * ab + (vc * denom)[:, None] * ac)  # face
    return result


class MeshDistance:
    """Distances to a watertight mesh: exact (for checks) and sampled (fast, for optimisation).

    ``signed``/``unsigned`` are exact point-to-triangle distances; only triangles that can be
    nearest are tested (those whose bounding sphere reaches within the distance to the nearest
    surface sample, an upper bound). ``sampled`` uses the nearest of ``count`` area-uniform
    surface samples near the surface (error below half the sample spacing there) and of ~2000
    of them farther out, and is
    differentiable in torch through ``__call__``: the gradient of |p − q| is the unit vector from
    the nearest sample q, flipped inside. Signs come from an exact inside test (ray parity with
    embree), negative inside.
    """

    def __init__(self, mesh: trimesh.Trimesh, count: int = 100_000, seed: int = 0):
        self.mesh = mesh
        self.samples, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
        self.sample_tree = cKDTree(self.samples)
        # Far from the surface a dense tree is slow and precision does not matter: a coarse
        # one answers there (its spacing is the far-field error).
        self.coarse_samples = self.samples[:: max(1, count // 2000)]
        self.coarse_tree = cKDTree(self.coarse_samples)
        self.near_m = 4 * float(np.sqrt(mesh.area / len(self.coarse_samples)))
        self.triangles = np.asarray(mesh.triangles)
        centroids = self.triangles.mean(axis=1)
        self.centroid_tree = cKDTree(centroids)
        self.max_radius = float(np.linalg.norm(self.triangles - centroids[:, None], axis=2).max())

    def _nearest_sample(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distance [N], nearest sample [N, 3]): dense samples near the surface, coarse far."""
        distance, index = self.coarse_tree.query(points)
        nearest = self.coarse_samples[index]
        near = distance < self.near_m
        if near.any():
            distance[near], index = self.sample_tree.query(points[near])
            nearest[near] = self.samples[index]
        return distance, nearest

    def unsigned(self, points: np.ndarray) -> np.ndarray:
        """Exact distance from each point [N, 3] to the surface, [N]."""
        if len(points) == 0:  # e.g. no hand vertex near the object: nothing to query
            return np.zeros(0)
        upper, _ = self._nearest_sample(points)
        candidates = self.centroid_tree.query_ball_point(points, upper + self.max_radius + 1e-9)
        counts = np.array([len(c) for c in candidates], dtype=np.int64)
        pair_point = np.repeat(np.arange(len(points)), counts)
        pair_face = np.concatenate([np.asarray(c, dtype=np.int64) for c in candidates])
        tri = self.triangles[pair_face]
        closest = closest_points_on_triangles(points[pair_point], tri[:, 0], tri[:, 1], tri[:, 2])
        distance = np.linalg.norm(points[pair_point] - closest, axis=1)
        out = np.full(len(points), np.inf)
        np.minimum.at(out, pair_point, distance)
        return out

    def signed(self, points: np.ndarray) -> np.ndarray:
        """Exact signed distance [N], negative inside."""
        return np.where(self.mesh.contains(points), -1.0, 1.0) * self.unsigned(points)

    def sampled(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Approximate (signed distance [N], gradient [N, 3]) at points [N, 3]."""
        distance, nearest = self._nearest_sample(points)
        sign = np.where(self.mesh.contains(points), -1.0, 1.0)
        direction = (points - nearest) / np.maximum(distance, 1e-9)[:, None]
        return sign * distance, sign[:, None] * direction

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Differentiable sampled signed distance of torch points [N, 3], [N]."""
        return _SDFFunction.apply(points, self)


class _SDFFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, points, sdf):
        value, gradient = sdf.sampled(points.detach().cpu().double().numpy())
        ctx.save_for_backward(torch.as_tensor(gradient, dtype=points.dtype))
        return torch.as_tensor(value, dtype=points.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (gradient,) = ctx.saved_tensors
        return grad_output[:, None] * gradient, None


def corner_normals(vertices: np.ndarray, faces: np.ndarray, crease_deg: float = 40.0) -> np.ndarray:
    """Smooth shading normals per face corner, [F, 3, 3]: the area-weighted mean of the normals
    of the faces around the corner's vertex that bend by less than ``crease_deg`` from the
    corner's own face (sharp box edges stay sharp, curved scans look smooth)."""
    triangles = vertices[faces]
    cross = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    unit = cross / np.maximum(np.linalg.norm(cross, axis=1, keepdims=True), 1e-20)
    corner_vertex = faces.reshape(-1)  # [3F]
    corner_face = np.repeat(np.arange(len(faces)), 3)
    order = np.argsort(corner_vertex, kind="stable")
    incident_faces = corner_face[order]  # faces grouped by vertex
    degree = np.bincount(corner_vertex, minlength=len(vertices))
    starts = np.concatenate([[0], np.cumsum(degree)[:-1]])
    counts = degree[corner_vertex]
    pair_corner = np.repeat(np.arange(len(corner_vertex)), counts)
    offsets = np.arange(len(pair_corner)) - np.repeat(np.cumsum(counts) - counts, counts)
    pair_face = incident_faces[starts[corner_vertex][pair_corner] + offsets]
    keep = np.einsum("ij,ij->i", unit[corner_face[pair_corner]], unit[pair_face]) > np.cos(np.deg2rad(crease_deg))
    normals = np.zeros((len(corner_vertex), 3))
    np.add.at(normals, pair_corner[keep], cross[pair_face[keep]])  # |cross| = 2·area weighting
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-20)
    return normals.reshape(len(faces), 3, 3)
