"""Checks an installed CUDA build of hold._C on a machine without a GPU: it imports, says it was
built with CUDA, registers its ops, and its CPU path matches the pure-PyTorch reference."""

import sys

import torch

import hold.ops as ops
from hold.ops.reference import hashgrid as ref

info = ops.build_info()
print("build_info:", info)
if not info.get("available") or not info.get("cuda"):
    sys.exit("check_cuda_extension: hold._C is missing or was built without CUDA")
spec = ops.HashGridSpec(4, 2, 8, 4, 1.6)
gen = torch.Generator().manual_seed(0)
x = torch.rand(1000, 3, generator=gen, dtype=torch.float64)
params = torch.rand(spec.n_params, 2, generator=gen, dtype=torch.float64)
torch.testing.assert_close(ops.hashgrid_encode(x, params, spec, backend="native"),
                           ref.hashgrid_encode(x, params, spec), rtol=1e-10, atol=1e-12)
if torch.cuda.is_available():
    y = ops.hashgrid_encode(x.cuda(), params.cuda(), spec, backend="native").cpu()
    torch.testing.assert_close(y, ref.hashgrid_encode(x, params, spec), rtol=1e-10, atol=1e-12)
    print("check_cuda_extension: CUDA path matches the reference")
print("check_cuda_extension: ok (CPU path of the CUDA build matches the reference)")
