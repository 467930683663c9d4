"""An analytic SDF scene (a sphere and a box) rendered three ways: exact analytic ray casting
(ground truth), occupancy-culled marching + compositing (our kernels), and dense marching with
every sample evaluated and composited in vectorised PyTorch (the baseline of `hold-fast bench`).

Used by the rendering test of the marching/compositing kernels and by the benchmark, so both
measure the same scene. The scene lives in the box [-1, 1]³ (size 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hold.ops import composite, march_rays, occgrid_pack, sdf_occupancy

BOX = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))
SPHERE_CENTER, SPHERE_RADIUS = (-0.35, 0.05, 0.1), 0.45
CUBE_CENTER, CUBE_HALF = (0.45, -0.1, -0.05), (0.3, 0.45, 0.35)
SPHERE_RGB, CUBE_RGB, BG_RGB = (0.9, 0.3, 0.2), (0.2, 0.4, 0.9), (1.0, 1.0, 1.0)


def sdf_parts(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact signed distances [N] of p [N, 3] to the sphere and to the box."""
    sphere = (p - p.new_tensor(SPHERE_CENTER)).norm(dim=-1) - SPHERE_RADIUS
    q = (p - p.new_tensor(CUBE_CENTER)).abs() - p.new_tensor(CUBE_HALF)
    cube = q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)
    return sphere, cube


def sdf(p: torch.Tensor) -> torch.Tensor:
    sphere, cube = sdf_parts(p)
    return torch.minimum(sphere, cube)


def color(p: torch.Tensor) -> torch.Tensor:
    """[N, 3]: the colour of the nearer primitive."""
    sphere, cube = sdf_parts(p)
    return torch.where((sphere < cube)[:, None], p.new_tensor(SPHERE_RGB), p.new_tensor(CUBE_RGB))


def camera_rays(size: int = 128, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A pinhole camera 3.5 units from the origin, looking at it from an oblique direction.
    Returns origins, unit directions [size², 3] (row-major pixels)."""
    eye = torch.tensor([1.2, -1.0, -3.1], dtype=torch.float64)
    forward = -eye / eye.norm()
    right = torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), forward)
    right = right / right.norm()
    down = torch.linalg.cross(forward, right)
    focal = 0.5 * size / math.tan(math.radians(20.0))
    v, u = torch.meshgrid(torch.arange(size, dtype=torch.float64),
                          torch.arange(size, dtype=torch.float64), indexing="ij")
    x, y = (u.reshape(-1) - (size - 1) / 2) / focal, (v.reshape(-1) - (size - 1) / 2) / focal
    dirs = torch.nn.functional.normalize(forward + x[:, None] * right + y[:, None] * down, dim=1)
    return eye.expand_as(dirs).to(dtype).contiguous(), dirs.to(dtype).contiguous()


def ray_cast(origins: torch.Tensor, dirs: torch.Tensor):
    """Exact first-hit depth [R] and hit mask [R] by analytic ray–sphere and ray–box
    intersection (float64); depth is 0 where the ray misses."""
    o, d = origins.double(), dirs.double()
    oc = o - o.new_tensor(SPHERE_CENTER)
    b = (oc * d).sum(1)
    disc = b * b - ((oc * oc).sum(1) - SPHERE_RADIUS**2)
    t_sphere = -b - disc.clamp(min=0).sqrt()
    t_sphere = torch.where((disc >= 0) & (t_sphere > 0), t_sphere, torch.full_like(b, torch.inf))
    lo = o.new_tensor(CUBE_CENTER) - o.new_tensor(CUBE_HALF)
    hi = o.new_tensor(CUBE_CENTER) + o.new_tensor(CUBE_HALF)
    ta, tb = (lo - o) / d, (hi - o) / d
    t_in = torch.minimum(ta, tb).max(1).values
    t_out = torch.maximum(ta, tb).min(1).values
    t_cube = torch.where((t_in <= t_out) & (t_in > 0), t_in, torch.full_like(b, torch.inf))
    depth = torch.minimum(t_sphere, t_cube)
    hit = torch.isfinite(depth)
    return torch.where(hit, depth, torch.zeros_like(depth)), hit


@dataclass
class Grid:
    bits: torch.Tensor  # [1, res³/8]
    aabb: torch.Tensor  # [1, 2, 3]
    resolution: int
    occupied_fraction: float


def occupancy_grid(resolution: int, beta: float, step: float, dtype=torch.float32,
                   threshold: float = 1e-5) -> Grid:
    """Conservative occupancy of the analytic SDF, sampled at the cell centres."""
    lo, hi = torch.tensor(BOX[0], dtype=torch.float64), torch.tensor(BOX[1], dtype=torch.float64)
    cell = (hi - lo) / resolution
    idx = torch.arange(resolution, dtype=torch.float64)
    z, y, x = torch.meshgrid(idx, idx, idx, indexing="ij")  # cell index x + y·res + z·res²
    centers = lo + (torch.stack([x, y, z], -1).reshape(-1, 3) + 0.5) * cell
    value = sdf_occupancy(sdf(centers), float(cell.norm() / 2), beta, step)
    bits = occgrid_pack(value, threshold)
    occupied = float((value > threshold).double().mean())
    aabb = torch.stack([lo, hi]).to(dtype)[None]
    return Grid(bits[None].contiguous(), aabb, resolution, occupied)


def render_culled(origins, dirs, grid: Grid, beta: float, step: float, eps: float = 1e-4,
                  backend: str | None = None):
    """Our path: march the occupancy grid, evaluate the SDF on kept samples, composite.
    Returns (rgb [R, 3], depth [R], opacity [R], number of evaluated samples)."""
    n = origins.shape[0]
    near = torch.zeros(n, dtype=origins.dtype)
    far = torch.full((n,), 10.0, dtype=origins.dtype)
    samples = march_rays(origins, dirs, near, far, grid.bits, grid.aabb, grid.resolution, step,
                         max_samples=4096, backend=backend)
    mid = 0.5 * (samples.t_starts + samples.t_ends)
    p = origins[samples.ray_indices] + mid[:, None] * dirs[samples.ray_indices]
    out = composite(samples.packed, samples.t_starts, samples.t_ends, sdf(p),
                    torch.zeros_like(samples.ray_indices), origins.new_tensor([beta]), color(p),
                    origins.new_tensor(BG_RGB).expand(n, 3).contiguous(), eps=eps,
                    backend=backend)
    return out.rgb, out.depth, out.opacity, int(mid.shape[0])


def render_dense(origins, dirs, beta: float, step: float, chunk: int = 4096):
    """Baseline: the same rays and step lattice over the whole box, every sample evaluated and
    composited with vectorised PyTorch ([rays, steps] tensors). Returns (rgb, depth, opacity,
    number of evaluated samples)."""
    lo, hi = origins.new_tensor(BOX[0]), origins.new_tensor(BOX[1])
    outs, total = [], 0
    for start in range(0, origins.shape[0], chunk):
        o, d = origins[start:start + chunk], dirs[start:start + chunk]
        inv = 1.0 / d
        t0 = torch.minimum((lo - o) * inv, (hi - o) * inv).max(dim=1).values.clamp(min=0)
        t1 = torch.maximum((lo - o) * inv, (hi - o) * inv).min(dim=1).values
        n_steps = torch.ceil((t1 - t0) / step - 0.5).clamp(min=0)  # midpoints inside the box
        width = int(n_steps.max()) if n_steps.numel() else 0
        k = torch.arange(width, dtype=o.dtype)
        t_start = t0[:, None] + k * step
        valid = k[None, :] < n_steps[:, None]
        mid = t_start + 0.5 * step
        p = o[:, None, :] + mid[..., None] * d[:, None, :]
        s = sdf(p.reshape(-1, 3)).reshape(mid.shape)
        c = color(p.reshape(-1, 3)).reshape(*mid.shape, 3)
        u = s / beta
        e = torch.exp(-u.abs())
        sigma = torch.where(u >= 0, 0.5 * e, 1 - 0.5 * e) / beta
        alpha = torch.where(valid, -torch.expm1(-sigma * step), torch.zeros_like(sigma))
        trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
        w = trans * alpha
        t_final = trans[:, -1] * (1 - alpha[:, -1]) if width else torch.ones_like(t0)
        rgb = (w[..., None] * c).sum(1) + t_final[:, None] * o.new_tensor(BG_RGB)
        outs.append((rgb, (w * mid).sum(1), w.sum(1)))
        total += int(n_steps.sum())
    rgb, depth, opacity = (torch.cat(x) for x in zip(*outs))
    return rgb, depth, opacity, total
