#!/usr/bin/env python
"""CUDA throughput of the hash-grid encoding (the issue's workload of `hold-fast bench
hashgrid`, scaled up) against the pure-PyTorch reference on the same GPU, timed with CUDA
events (median of repeats after a warm-up). Needs a GPU and a CUDA build of hold._C:

    python tools/bench_cuda_ops.py [--points 2097152] [--repeats 21]
"""

from __future__ import annotations

import argparse
import statistics

import torch


def cuda_median_ms(fn, repeats: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1 << 21)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_cuda_ops: no CUDA device")

    from hold.bench.hashgrid import SPEC, clustered_points
    from hold.ops import _loader
    from hold.ops.reference import hashgrid as ref

    if not _loader.has_native("cuda"):
        raise SystemExit("bench_cuda_ops: hold._C was built without CUDA (HOLD_WITH_CUDA=1)")
    x = clustered_points(args.points // 64, 64).cuda()
    gen = torch.Generator().manual_seed(1)
    params = (torch.rand(SPEC.n_params, SPEC.n_features, generator=gen) * 2e-4 - 1e-4).cuda()
    grad_out = torch.randn(x.shape[0], SPEC.out_dim, generator=gen).cuda()
    cfg = SPEC.op_args()

    def ours_fwd():
        torch.ops.hold.hashgrid_encode_fwd(x, params, *cfg)

    def ours_fwd_bwd():
        torch.ops.hold.hashgrid_encode_fwd(x, params, *cfg)
        torch.ops.hold.hashgrid_encode_bwd(grad_out, x, params, *cfg, True, False)

    def ref_fwd():
        ref.hashgrid_encode(x, params, SPEC)

    def ref_fwd_bwd():
        p = params.detach().requires_grad_(True)
        out = ref.hashgrid_encode(x, p, SPEC)
        torch.autograd.grad(out, p, grad_out)

    print(f"{torch.cuda.get_device_name()}, {x.shape[0]} points, L16 F2 T=2^16, float32")
    for name, ours, reference in (("forward", ours_fwd, ref_fwd),
                                  ("forward+backward", ours_fwd_bwd, ref_fwd_bwd)):
        a, b = cuda_median_ms(ours, args.repeats), cuda_median_ms(reference, max(args.repeats // 3, 3))
        print(f"{name:18s} ours {a:8.3f} ms ({x.shape[0] / a / 1e6:7.1f} G pts/s)   "
              f"torch reference {b:8.3f} ms   ratio {b / a:5.1f}x")


if __name__ == "__main__":
    main()
