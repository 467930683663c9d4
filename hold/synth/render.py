"""CPU ray casting of a rigid scene (hand, forearm, object) with embree through trimesh.

The scene's meshes are static in their own frame; each frame only the camera rays move (they
are mapped into the scene frame by the inverse of the frame's rigid pose), so one BVH serves a
whole sequence. Shading is Lambertian with one directional light fixed in the camera frame plus
an ambient term; colours come from procedural albedo functions; 2×2 supersampling smooths the
colour edges while the label image comes from the pixel-centre ray alone (a label is what the
pixel centre shows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import trimesh

from hold.synth.geometry import corner_normals, rotate, transform

LIGHT_DIRECTION = np.array([-0.35, -0.6, -0.72])  # towards the light, camera frame (up-left, front)
AMBIENT = 0.35


@dataclass
class MeshPart:
    vertices: np.ndarray  # [V, 3] scene frame, metres
    faces: np.ndarray  # [F, 3]
    label: int  # mask value written where this part is visible
    albedo: Callable[[np.ndarray], np.ndarray]  # [N, 3] points (albedo frame) → [N, 3] RGB in [0, 1]
    albedo_frame: np.ndarray = field(default_factory=lambda: np.eye(4))  # scene → albedo frame


def pixel_rays(K: np.ndarray, width: int, height: int, offsets: np.ndarray) -> np.ndarray:
    """Unit ray directions in the camera frame, [len(offsets), H, W, 3]: one ray per pixel per
    sub-pixel offset [S, 2] (pixel (u, v) is centred at integer coordinates)."""
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    K_inv = np.linalg.inv(K)
    rays = []
    for du, dv in offsets:
        pixels = np.stack([u + du, v + dv, np.ones_like(u)], axis=-1)
        directions = np.einsum("ij,hwj->hwi", K_inv, pixels)
        rays.append(directions / np.linalg.norm(directions, axis=-1, keepdims=True))
    return np.stack(rays)


def _ray_triangle(origin: np.ndarray, directions: np.ndarray, triangles: np.ndarray):
    """Möller–Trumbore for rays known to hit: (distance [N], barycentric u [N], v [N])."""
    e1, e2 = triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
    p = np.cross(directions, e2)
    inv_det = 1.0 / np.einsum("ij,ij->i", e1, p)
    s = origin - triangles[:, 0]
    u = np.einsum("ij,ij->i", s, p) * inv_det
    q = np.cross(s, e1)
    v = np.einsum("ij,ij->i", directions, q) * inv_det
    t = np.einsum("ij,ij->i", e2, q) * inv_det
    return t, u, v


class SceneRenderer:
    """Renders a list of MeshParts seen through a pinhole camera at a given scene pose."""

    def __init__(self, parts: list[MeshPart], light_direction: np.ndarray = LIGHT_DIRECTION,
                 ambient: float = AMBIENT):
        self.parts = parts
        vertices = np.concatenate([p.vertices for p in parts])
        offsets = np.cumsum([0] + [len(p.vertices) for p in parts])
        faces = np.concatenate([p.faces + o for p, o in zip(parts, offsets)])
        self.mesh = trimesh.Trimesh(vertices, faces, process=False)
        self.face_part = np.concatenate([np.full(len(p.faces), i) for i, p in enumerate(parts)])
        self.triangles = np.asarray(self.mesh.triangles)
        self.normals = np.concatenate([corner_normals(p.vertices, p.faces) for p in parts])
        self.labels = np.array([p.label for p in parts], dtype=np.uint8)
        self.light = light_direction / np.linalg.norm(light_direction)
        self.ambient = ambient
        self._rays_key = None

    def shade(self, scene_to_camera: np.ndarray, faces: np.ndarray, directions: np.ndarray,
              origin: np.ndarray) -> np.ndarray:
        """Lambertian colour [N, 3] of hit rays (faces ≥ 0)."""
        triangles = self.triangles[faces]
        t, u, v = _ray_triangle(origin, directions, triangles)
        points = origin + t[:, None] * directions
        corner = self.normals[faces]
        normals = (1 - u - v)[:, None] * corner[:, 0] + u[:, None] * corner[:, 1] + v[:, None] * corner[:, 2]
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        normals *= np.where(np.einsum("ij,ij->i", normals, directions) > 0, -1.0, 1.0)[:, None]
        lambert = np.clip(rotate(scene_to_camera[:3, :3], normals) @ self.light, 0, None)
        albedo = np.empty_like(points)
        part_of = self.face_part[faces]
        for i, part in enumerate(self.parts):
            mine = part_of == i
            if mine.any():
                albedo[mine] = part.albedo(transform(part.albedo_frame, points[mine]))
        return albedo * (self.ambient + (1 - self.ambient) * lambert)[:, None]

    def render(self, scene_to_camera: np.ndarray, K: np.ndarray, width: int, height: int,
               background: np.ndarray, supersample: int = 2) -> tuple[np.ndarray, np.ndarray]:
        """(RGB [H, W, 3] float in [0, 1], labels [H, W] uint8) for one scene pose."""
        key = (K.tobytes(), width, height, supersample)
        if self._rays_key != key:  # the camera is static: build its rays once
            grid = (np.arange(supersample) + 0.5) / supersample - 0.5
            offsets = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
            offsets = np.concatenate([[[0.0, 0.0]], offsets])  # first: pixel centres, for labels
            self._rays = pixel_rays(K, width, height, offsets).reshape(-1, 3)
            self._rays_key = key
        pixels = width * height
        camera_to_scene = np.linalg.inv(scene_to_camera)
        origin = camera_to_scene[:3, 3]
        directions = rotate(camera_to_scene[:3, :3], self._rays)
        faces = self.mesh.ray.intersects_first(np.broadcast_to(origin, directions.shape), directions)
        centre = faces[:pixels]
        labels = np.where(centre >= 0, self.labels[self.face_part[centre]], 0).astype(np.uint8)
        # Colour: mean over the sub-pixel rays; a missed ray shows the background.
        sub_faces = faces[pixels:]
        hit = sub_faces >= 0
        shaded = self.shade(scene_to_camera, sub_faces[hit], directions[pixels:][hit], origin)
        pixel_of = np.tile(np.arange(pixels), supersample**2)[hit]
        hits_per_pixel = np.bincount(pixel_of, minlength=pixels)
        total = np.stack([np.bincount(pixel_of, weights=shaded[:, c], minlength=pixels) for c in range(3)], 1)
        total += (supersample**2 - hits_per_pixel)[:, None] * background.reshape(-1, 3)
        return (total / supersample**2).reshape(height, width, 3), labels.reshape(height, width)
