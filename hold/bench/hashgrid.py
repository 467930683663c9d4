"""Hash-grid encoding throughput: the issue's fixed workload (L=16, F=2, T=2^16, base 16,
per-level scale 1.447, float32 points clustered 64 per ray: 2^18 on the CPU, 2^21 on a GPU,
where 2^18 is too little work to time), against the reference on the same device."""

from __future__ import annotations

import torch

from hold.ops import HashGridSpec, hashgrid_encode
from hold.ops.reference import hashgrid as ref

from .timing import BenchRow, median_seconds

SPEC = HashGridSpec(n_levels=16, n_features=2, log2_table_size=16, base_resolution=16,
                    per_level_scale=1.447)


def clustered_points(n_rays: int, per_ray: int, seed: int = 0) -> torch.Tensor:
    """[n_rays·per_ray, 3] points in the unit cube, `per_ray` consecutive samples along each of
    n_rays random rays (the access pattern of ray marching)."""
    gen = torch.Generator().manual_seed(seed)
    origins = torch.rand(n_rays, 1, 3, generator=gen)
    dirs = torch.nn.functional.normalize(torch.randn(n_rays, 1, 3, generator=gen), dim=-1)
    t = torch.linspace(0.0, 0.5, per_ray)[None, :, None]
    return (origins + dirs * t).reshape(-1, 3).clamp(0.0, 1.0).contiguous()


def run(n_points: int | None = None, repeats: int = 11, ref_repeats: int = 3,
        device: str = "cpu") -> list[BenchRow]:
    n_points = n_points or (1 << 21 if device == "cuda" else 1 << 18)
    per_ray = 64
    x = clustered_points(n_points // per_ray, per_ray).to(device)
    gen = torch.Generator().manual_seed(1)
    params = (torch.rand(SPEC.n_params, SPEC.n_features, generator=gen) * 2e-4 - 1e-4).to(device)
    grad_out = torch.randn(x.shape[0], SPEC.out_dim, generator=gen).to(device)
    cfg = SPEC.op_args()
    workload = f"L16 F2 T=2^16 base16 b1.447, {x.shape[0]} pts (64/ray), float32, {device}"

    def ours_fwd():
        return torch.ops.hold.hashgrid_encode_fwd(x, params, *cfg)

    def ours_fwd_bwd():
        torch.ops.hold.hashgrid_encode_fwd(x, params, *cfg)
        return torch.ops.hold.hashgrid_encode_bwd(grad_out, x, params, *cfg, True, False)

    def ref_fwd():
        with torch.no_grad():
            return ref.hashgrid_encode(x, params, SPEC)

    def ref_fwd_bwd():
        table = params.clone().requires_grad_()
        ref.hashgrid_encode(x, table, SPEC).backward(grad_out)
        return table.grad

    # Same numbers from both paths before timing anything.
    torch.testing.assert_close(ours_fwd(), ref_fwd(), rtol=1e-5, atol=1e-9)
    hashgrid_encode(x, params, SPEC, backend="native")  # raises clearly if not built
    return [
        BenchRow("hashgrid forward", workload, "samples", x.shape[0],
                 median_seconds(ours_fwd, repeats, device=device),
                 median_seconds(ref_fwd, ref_repeats, device=device)),
        BenchRow("hashgrid forward+backward", workload + ", grad to table", "samples", x.shape[0],
                 median_seconds(ours_fwd_bwd, repeats, device=device),
                 median_seconds(ref_fwd_bwd, ref_repeats, device=device)),
    ]
