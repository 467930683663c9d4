"""Parity figures of the kernels between two backends on one workload each: the largest
absolute difference of every output (and of the gradients where an op has a backward), for the
GPU check (tools/gpu_check.py): the CPU kernels against the CUDA kernels. On a machine without a
GPU the same code compares the compiled CPU kernels with the pure-PyTorch references.

    python -m hold.bench.parity --json parity.json          # cpu/native against cuda/native
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

import torch

from hold.ops import (HashGridSpec, composite, hashgrid_encode, lbs_points, march_rays,
                      occgrid_pack, occgrid_update)


@dataclass
class ParityRow:
    op: str
    output: str
    dtype: str
    max_abs_diff: float
    max_abs_value: float  # of the first side's output: the scale of the difference
    elements: int


class Side:
    """Where one side of the comparison runs: a device and an op backend."""

    def __init__(self, device: str, backend: str):
        self.device, self.backend = torch.device(device), backend

    def put(self, *tensors):
        return [None if t is None else t.to(self.device) for t in tensors]


def _rows(op, dtype, named_a: dict, named_b: dict) -> list[ParityRow]:
    rows = []
    for name, a in named_a.items():
        b = named_b[name].detach().cpu()
        a = a.detach().cpu()
        if a.shape != b.shape:
            raise RuntimeError(f"parity {op}: {name} shapes differ: {list(a.shape)} vs "
                               f"{list(b.shape)}")
        diff = (a.double() - b.double()).abs().max() if a.numel() else torch.tensor(0.0)
        scale = a.double().abs().max() if a.numel() else torch.tensor(0.0)
        rows.append(ParityRow(op, name, str(dtype).replace("torch.", ""), float(diff),
                              float(scale), a.numel()))
    return rows


def _hashgrid(gen, dtype, sides, quick):
    spec = HashGridSpec(n_levels=12, n_features=2, log2_table_size=15, base_resolution=8,
                        per_level_scale=1.4)
    x = torch.rand(1 << (10 if quick else 16), 3, generator=gen, dtype=dtype)
    params = (torch.rand(spec.n_params, 2, generator=gen, dtype=dtype) - 0.5) * 1e-2
    grad_out = torch.randn(x.shape[0], spec.out_dim, generator=gen, dtype=dtype)
    results = []
    for side in sides:
        xs, ps, g = side.put(x, params, grad_out)
        xs, ps = xs.requires_grad_(True), ps.requires_grad_(True)
        out = hashgrid_encode(xs, ps, spec, backend=side.backend)
        gx, gp = torch.autograd.grad(out, (xs, ps), g)
        results.append({"features": out, "grad_x": gx, "grad_params": gp})
    return _rows("hashgrid_encode", dtype, *results)


def _rays(gen, n, dtype):
    origins = torch.randn(n, 3, generator=gen, dtype=dtype)
    origins = torch.nn.functional.normalize(origins, dim=1) * 3
    target = (torch.rand(n, 3, generator=gen, dtype=dtype) * 2 - 1) * 0.9
    return origins, torch.nn.functional.normalize(target - origins, dim=1)


def _march(gen, dtype, sides, quick):
    res, n = 64, 256 if quick else 4096
    density = torch.rand(res**3, generator=gen, dtype=dtype)
    origins, dirs = _rays(gen, n, dtype)
    near, far = torch.zeros(n, dtype=dtype), torch.full((n,), 6.0, dtype=dtype)
    offsets = torch.rand(n, generator=gen, dtype=dtype)
    aabbs = torch.tensor([[[-1.0] * 3, [1.0] * 3]], dtype=dtype)
    results = []
    for side in sides:
        d, o, dr, ne, fa, off, ab = side.put(density, origins, dirs, near, far, offsets, aabbs)
        bits = occgrid_pack(d, 0.7, backend=side.backend)[None]
        s = march_rays(o, dr, ne, fa, bits, ab, res, 2.0 / res / 2, offsets=off,
                       max_samples=1024, backend=side.backend)
        results.append(s)
    # A sample whose midpoint lies on a cell face up to rounding may be kept on one side only:
    # count the rays where that happened, compare the samples of the others.
    a, b = (PackedSamplesOnCpu(s) for s in results)
    same = a.counts == b.counts
    row = ParityRow("march_rays", "rays with other counts", str(dtype).replace("torch.", ""),
                    float((~same).sum()), float(len(same)), len(same))
    return [row] + _rows("march_rays", dtype, a.on_rays(same), b.on_rays(same))


class PackedSamplesOnCpu:
    """One side's marching output on the CPU, selectable by ray."""

    def __init__(self, samples):
        self.counts = samples.packed[:, 1].cpu()
        self.ray = samples.ray_indices.cpu()
        self.t_starts, self.t_ends = samples.t_starts.cpu(), samples.t_ends.cpu()

    def on_rays(self, keep: torch.Tensor) -> dict:
        pick = keep[self.ray]
        return {"t_starts": self.t_starts[pick], "t_ends": self.t_ends[pick]}


def _composite(gen, dtype, sides, quick):
    n_rays = 128 if quick else 2048
    counts = torch.randint(0, 64, (n_rays,), generator=gen)
    packed = torch.stack([torch.cumsum(counts, 0) - counts, counts], 1)
    n = int(counts.sum())
    ray = torch.repeat_interleave(torch.arange(n_rays), counts)
    lengths = torch.rand(n, generator=gen, dtype=dtype) * 0.01 + 0.002
    ends = torch.cumsum(lengths, 0)
    first = (ends - lengths)[packed[:, 0].clamp(max=max(n - 1, 0))]  # each ray's first start
    t_ends = 1.0 + ends - first[ray]  # every ray starts at t = 1
    t_starts = t_ends - lengths
    sdf = torch.rand(n, generator=gen, dtype=dtype) * 0.06 - 0.02
    node = torch.randint(0, 2, (n,), generator=gen)
    beta = torch.tensor([0.004, 0.003], dtype=dtype)
    rgb = torch.rand(n, 3, generator=gen, dtype=dtype)
    bg = torch.rand(n_rays, 3, generator=gen, dtype=dtype)
    grad_rgb = torch.randn(n_rays, 3, generator=gen, dtype=dtype)
    results = []
    for side in sides:
        args = side.put(packed, t_starts, t_ends, sdf, node, beta, rgb, bg, grad_rgb)
        p, ts, te, s, nd, b, c, k, g = args
        s, b, c = (t.requires_grad_(True) for t in (s, b, c))
        out = composite(p, ts, te, s, nd, b, c, k, backend=side.backend)
        gs, gb, gc = torch.autograd.grad(out.rgb, (s, b, c), g)
        results.append({"rgb": out.rgb, "opacity": out.opacity, "weights": out.weights,
                        "grad_sdf": gs, "grad_beta": gb, "grad_rgb": gc})
    return _rows("composite", dtype, *results)


def _lbs(gen, dtype, sides, quick):
    n, joints, frames = 1 << (10 if quick else 16), 16, 4
    x = torch.rand(n, 3, generator=gen, dtype=dtype)
    w = torch.softmax(torch.randn(n, joints, generator=gen, dtype=dtype) * 3, 1)
    angle = torch.randn(frames, joints, 3, generator=gen, dtype=dtype) * 0.3
    skew = torch.zeros(frames, joints, 3, 3, dtype=dtype)
    skew[..., 0, 1], skew[..., 0, 2] = -angle[..., 2], angle[..., 1]
    skew[..., 1, 2] = -angle[..., 0]
    rot = torch.linalg.matrix_exp(skew - skew.transpose(-1, -2))
    tf = torch.cat([rot, torch.randn(frames, joints, 3, 1, generator=gen, dtype=dtype) * 0.1], -1)
    frame = torch.randint(0, frames, (n,), generator=gen)
    results = []
    for side in sides:
        xs, ws, ts, fs = side.put(x, w, tf, frame)
        xs = xs.requires_grad_(True)
        y = lbs_points(xs, ws, ts, fs, backend=side.backend)
        (gx,) = torch.autograd.grad(y.sum(), xs)
        results.append({"posed": y, "grad_x": gx})
    return _rows("lbs_points", dtype, *results)


def _occgrid(gen, dtype, sides, quick):
    res = 32 if quick else 64
    density = torch.rand(res**3, generator=gen, dtype=dtype)
    cells = torch.randint(0, res**3, (100_000,), generator=gen)  # duplicates: max wins
    values = torch.rand(100_000, generator=gen, dtype=dtype)
    results = []
    for side in sides:
        d, c, v = side.put(density, cells, values)
        updated = occgrid_update(d, c, v, 0.6, backend=side.backend)
        results.append({"density": updated,
                        "bits": occgrid_pack(updated, 0.5, backend=side.backend)})
    return _rows("occgrid_update+pack", dtype, *results)


CASES = {"hashgrid": _hashgrid, "march": _march, "composite": _composite, "lbs": _lbs,
         "occgrid": _occgrid}


def run_parity(a: tuple[str, str] = ("cpu", "native"), b: tuple[str, str] = ("cuda", "native"),
               dtypes=(torch.float32, torch.float64), seed: int = 0,
               quick: bool = False) -> list[ParityRow]:
    """Every case on sides a and b (device, backend), the same seeded inputs on both; ``quick``
    shrinks every workload (tests)."""
    sides = (Side(*a), Side(*b))
    rows = []
    for case in CASES.values():
        for dtype in dtypes:
            rows += case(torch.Generator().manual_seed(seed), dtype, sides, quick)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", default="cpu:native", help="device:backend (default cpu:native)")
    parser.add_argument("--b", default="cuda:native", help="device:backend (default cuda:native)")
    parser.add_argument("--json", help="write the rows here as JSON")
    args = parser.parse_args(argv)
    a, b = tuple(args.a.split(":")), tuple(args.b.split(":"))
    rows = run_parity(a, b)
    for r in rows:
        print(f"{r.op:20s} {r.output:12s} {r.dtype:8s} max |diff| {r.max_abs_diff:.3e} "
              f"(max |value| {r.max_abs_value:.3e}, {r.elements} values)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"a": args.a, "b": args.b, "rows": [asdict(r) for r in rows]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
