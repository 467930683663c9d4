"""The CUDA launch of the occupancy, marching and compositing kernels against the CPU launch
of the same per-element bodies (the hash grid and skinning have their own parity tests).
Needs a GPU and a CUDA build of hold._C; skipped otherwise."""

import torch

from hold.ops import composite, march_rays, merge_samples, occgrid_pack, occgrid_update
from tests.conftest import requires_cuda

RES = 32


def _rays(n, gen, dtype):
    origins = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen, dtype=dtype), dim=1) * 3
    target = (torch.rand(n, 3, generator=gen, dtype=dtype) * 2 - 1) * 0.9
    dirs = torch.nn.functional.normalize(target - origins, dim=1)
    return origins, dirs


def _cuda(*tensors):
    return [None if t is None else t.cuda() for t in tensors]


@requires_cuda
def test_occgrid_update_and_pack(gen):
    density = torch.rand(RES**3, generator=gen)
    cells = torch.randint(0, RES**3, (50_000,), generator=gen)  # duplicates: atomic max
    values = torch.rand(50_000, generator=gen)
    cpu = occgrid_update(density, cells, values, 0.6, backend="native")
    gpu = occgrid_update(*_cuda(density, cells, values), 0.6, backend="native").cpu()
    assert torch.equal(cpu, gpu)
    assert torch.equal(occgrid_pack(cpu, 0.5, backend="native"),
                       occgrid_pack(cpu.cuda(), 0.5, backend="native").cpu())


@requires_cuda
def test_march_rays(gen):
    for dtype in (torch.float32, torch.float64):
        density = torch.rand(2 * RES**3, generator=gen, dtype=dtype)
        bits = occgrid_pack(density, 0.7, backend="native").reshape(2, -1)
        aabbs = torch.tensor([[[-1.0] * 3, [1.0] * 3]] * 2, dtype=dtype)
        n = 4096
        origins, dirs = _rays(n, gen, dtype)
        near, far = torch.zeros(n, dtype=dtype), torch.full((n,), 6.0, dtype=dtype)
        offsets = torch.rand(n, generator=gen, dtype=dtype)
        frame = torch.randint(0, 2, (n,), generator=gen)
        angle = torch.randn(2, 3, generator=gen, dtype=dtype) * 0.3
        rot = torch.linalg.matrix_exp(torch.cross(
            angle[:, :, None].expand(2, 3, 3), torch.eye(3, dtype=dtype).expand(2, 3, 3), dim=1))
        transforms = torch.cat([rot, torch.randn(2, 3, 1, generator=gen, dtype=dtype) * 0.1], 2)
        args = (origins, dirs, near, far, bits, aabbs)
        kw = dict(cone_angle=0.004, max_samples=256, offsets=offsets, frame=frame,
                  transforms=transforms, backend="native")
        cpu = march_rays(*args, RES, 0.02, **kw)
        gpu_kw = {**kw, **dict(zip(("offsets", "frame", "transforms"),
                                   _cuda(offsets, frame, transforms)))}
        gpu = march_rays(*_cuda(*args), RES, 0.02, **gpu_kw)
        assert len(cpu.t_starts) > 10 * n  # a real workload, not an empty grid
        assert torch.equal(cpu.packed, gpu.packed.cpu())
        assert torch.equal(cpu.ray_indices, gpu.ray_indices.cpu())
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(cpu.t_starts, gpu.t_starts.cpu(), rtol=0, atol=tol)
        torch.testing.assert_close(cpu.t_ends, gpu.t_ends.cpu(), rtol=0, atol=tol)


def _samples(gen, n_rays, dtype):
    counts = torch.randint(0, 40, (n_rays,), generator=gen)
    starts = torch.cumsum(counts, 0) - counts
    packed = torch.stack([starts, counts], 1)
    n = int(counts.sum())
    lengths = torch.rand(n, generator=gen, dtype=dtype) * 0.05 + 0.01
    t_ends = torch.zeros(n, dtype=dtype)
    for r in range(n_rays):  # increasing t along each ray
        s, c = int(starts[r]), int(counts[r])
        t_ends[s:s + c] = 1.0 + torch.cumsum(lengths[s:s + c], 0)
    return packed, t_ends - lengths, t_ends


@requires_cuda
def test_composite_forward_backward_and_merge(gen):
    dtype = torch.float64
    n_rays = 512
    packed, t_starts, t_ends = _samples(gen, n_rays, dtype)
    n = len(t_starts)
    sdf = torch.randn(n, generator=gen, dtype=dtype) * 0.05
    node = torch.randint(0, 2, (n,), generator=gen)
    beta = torch.tensor([0.01, 0.02], dtype=dtype)
    rgb = torch.rand(n, 3, generator=gen, dtype=dtype)
    bg = torch.rand(n_rays, 3, generator=gen, dtype=dtype)
    results = []
    for device in ("cpu", "cuda"):
        leaves = [t.to(device).requires_grad_(True) for t in (sdf, beta, rgb)]
        out = composite(packed.to(device), t_starts.to(device), t_ends.to(device), leaves[0],
                        node.to(device), leaves[1], leaves[2], bg.to(device), backend="native")
        loss = (out.rgb.pow(2).sum() + out.depth.sum() + out.opacity.sum()
                + out.node_weights[:, 1].sum())
        grads = torch.autograd.grad(loss, leaves)
        results.append([t.detach().cpu() for t in (*out[:5], *grads)])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)

    mid = (t_starts + t_ends) / 2
    half = n_rays // 2
    a = (packed[:half], mid[: int(packed[half - 1].sum())])
    other_packed, other_starts, other_ends = _samples(gen, half, dtype)
    b = (other_packed, (other_starts + other_ends) / 2)
    cpu = merge_samples(*a, *b, backend="native")
    gpu = merge_samples(*_cuda(*a, *b), backend="native")
    for x, y in zip(cpu, gpu):
        assert torch.equal(x, y.cpu())
