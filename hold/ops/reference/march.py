"""Pure-Python/PyTorch occupancy-culled ray marching: the specification of hold::march_rays.

A loop over rays in Python floats (float64), step for step the algorithm of csrc/core/march.h,
so float64 parity is exact up to rounding. Slow by design: it is the test oracle, not a
fallback for real workloads (hold.ops.march_rays warns when it has to use it).
"""

from __future__ import annotations

import math

import torch

HUGE = 1e30


def _transform(m, p, with_translation: bool):
    return [m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + (m[r][3] if with_translation else 0.0)
            for r in range(3)]


def _ray_aabb(o, d, lo, hi):
    t0, t1 = -HUGE, HUGE
    for a in range(3):
        if d[a] == 0.0:
            if o[a] < lo[a] or o[a] > hi[a]:
                return None
            continue
        inv = 1.0 / d[a]
        ta, tb = (lo[a] - o[a]) * inv, (hi[a] - o[a]) * inv
        if ta > tb:
            ta, tb = tb, ta
        t0, t1 = max(t0, ta), min(t1, tb)
    return (t0, t1) if t0 <= t1 else None


def _cell(p, lo, inv_cell, res):
    cell = []
    for a in range(3):
        u = (p[a] - lo[a]) * inv_cell[a]
        c = int(u) if u > 0.0 else 0
        cell.append(min(c, res - 1))
    return cell


def _exit_distance(cell, p, d, lo, size, res):
    best = HUGE
    for a in range(3):
        if d[a] == 0.0:
            continue
        boundary = lo[a] + size[a] / res * (cell[a] + 1 if d[a] > 0.0 else cell[a])
        best = min(best, (boundary - p[a]) / d[a])
    return max(best, 0.0)


def _bit(bits, index):
    return (bits[index >> 3] >> (index & 7)) & 1


def mip_bits(bits, res, factor):
    """Coarse bitfield (list of ints) of one grid: coarse cell set iff any fine cell is."""
    coarse = res // factor
    out = [0] * ((coarse**3 + 7) // 8)
    for c in range(coarse**3):
        cx, cy, cz = c % coarse, (c // coarse) % coarse, c // coarse // coarse
        if any(_bit(bits, x + res * (y + res * z))
               for z in range(cz * factor, (cz + 1) * factor)
               for y in range(cy * factor, (cy + 1) * factor)
               for x in range(cx * factor, (cx + 1) * factor)):
            out[c >> 3] |= 1 << (c & 7)
    return out


def march_ray(o, d, near, far, offset, transform, bits, mip, lo, size, res, mip_factor, step,
              cone_angle, max_samples):
    """Samples [(t_start, t_end), ...] of one ray (all arguments plain Python values; mip is
    the coarse bitfield or None)."""
    if transform is not None:
        o, d = _transform(transform, o, True), _transform(transform, d, False)
    hi = [lo[a] + size[a] for a in range(3)]
    hit = _ray_aabb(o, d, lo, hi)
    if hit is None:
        return []
    inv_fine = [res / size[a] for a in range(3)]
    coarse = res // mip_factor
    inv_coarse = [coarse / size[a] for a in range(3)]
    t_end = min(far, hit[1])
    t_first = max(near, hit[0]) + offset * step
    lattice = not cone_angle > 0.0
    k, t = 0, t_first
    out = []
    while len(out) < max_samples:
        dt = max(step, t * cone_angle)
        t_mid = t + 0.5 * dt
        if not t_mid < t_end:
            break
        p = [o[a] + t_mid * d[a] for a in range(3)]
        target = None
        if mip is not None:
            cell = _cell(p, lo, inv_coarse, coarse)
            if not _bit(mip, cell[0] + coarse * (cell[1] + coarse * cell[2])):
                target = t_mid + _exit_distance(cell, p, d, lo, size, coarse)
        if target is None:
            cell = _cell(p, lo, inv_fine, res)
            if _bit(bits, cell[0] + res * (cell[1] + res * cell[2])):
                out.append((t, t + dt))
                k += 1
                t = t_first + k * step if lattice else t + dt
                continue
            target = t_mid + _exit_distance(cell, p, d, lo, size, res)
        if lattice:
            k = max(k + 1, math.ceil((target - t_first) / step - 0.5))
            t = t_first + k * step
        else:
            while True:
                t += dt
                dt = max(step, t * cone_angle)
                if not t + 0.5 * dt < target:
                    break
    return out


def march_rays(origins, dirs, near, far, offsets, frame, transforms, bits, aabbs, resolution,
               step, cone_angle, max_samples, mip_factor=1):
    """Same arguments and outputs as hold.ops.march_rays: (packed [R, 2], ray_indices [S],
    t_starts [S], t_ends [S])."""
    n_rays = origins.shape[0]
    o_l, d_l = origins.tolist(), dirs.tolist()
    near_l, far_l = near.tolist(), far.tolist()
    off_l = offsets.tolist() if offsets is not None else [0.0] * n_rays
    frame_l = frame.tolist() if frame is not None else [0] * n_rays
    tf_l = transforms.tolist() if transforms is not None else None
    bits_l = bits.tolist()
    mips = [mip_bits(b, resolution, mip_factor) if mip_factor > 1 else None for b in bits_l]
    boxes = aabbs.tolist()
    starts, counts, rays, t0s, t1s = [], [], [], [], []
    for r in range(n_rays):
        f = frame_l[r]
        tf = None if tf_l is None else tf_l[f if len(tf_l) > 1 else 0]
        g = f if len(bits_l) > 1 else 0
        lo = boxes[g][0]
        size = [boxes[g][1][a] - boxes[g][0][a] for a in range(3)]
        samples = march_ray(o_l[r], d_l[r], near_l[r], far_l[r], off_l[r], tf, bits_l[g],
                            mips[g], lo, size, resolution, mip_factor, step, cone_angle,
                            max_samples)
        starts.append(len(t0s))
        counts.append(len(samples))
        for t0, t1 in samples:
            rays.append(r)
            t0s.append(t0)
            t1s.append(t1)
    long = dict(dtype=torch.int64, device=origins.device)
    flt = dict(dtype=origins.dtype, device=origins.device)
    packed = torch.tensor([starts, counts], **long).t().contiguous().reshape(n_rays, 2)
    return (packed, torch.tensor(rays, **long), torch.tensor(t0s, **flt),
            torch.tensor(t1s, **flt))


def grid_step_count(near: float, far: float, step: float) -> int:
    """Samples dense marching takes over [near, far) at a constant step (midpoint rule)."""
    return max(0, math.ceil((far - near) / step - 0.5))
