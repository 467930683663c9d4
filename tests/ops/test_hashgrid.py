"""Hash-grid encoding: the kernel against its reference, the reference against the documented
index rule, derivatives up to second order, edge cases, determinism and input errors."""

import warnings

import pytest
import torch

from hold.ops import HashGridSpec, hashgrid_encode, hashgrid_layout
from hold.ops import _backend, _loader
from hold.ops.hashgrid import native_hashgrid_layout
from hold.ops.reference import hashgrid as ref
from tests.conftest import requires_cuda, requires_native
from tests.ops._harness import assert_parity, opcheck_all

# Levels 0-1 dense, 2-3 hashed into a 64-row table: both index paths, small enough for gradcheck.
TINY = HashGridSpec(n_levels=4, n_features=2, log2_table_size=6, base_resolution=3,
                    per_level_scale=1.8)
# Exactly representable scales 4, 9, 19, 39 so that cell boundaries can be hit exactly.
EXACT = HashGridSpec(n_levels=4, n_features=2, log2_table_size=8, base_resolution=5,
                     per_level_scale=2.0)
BENCH = HashGridSpec(n_levels=16, n_features=2, log2_table_size=16, base_resolution=16,
                     per_level_scale=1.447)


def _params(spec, dtype, gen, scale=1.0):
    return (torch.rand(spec.n_params, spec.n_features, generator=gen, dtype=dtype) * 2 - 1) * scale


def _points(n, dtype, gen, lo=0.02, hi=0.98):
    return lo + (hi - lo) * torch.rand(n, 3, generator=gen, dtype=dtype)


def test_layout_matches_tcnn_rule_and_native():
    layout = hashgrid_layout(BENCH)
    assert layout.resolutions[0] == 16  # base_resolution counts vertices: scale 15 → 16
    assert layout.hashed == [r**3 > 2**16 for r in layout.resolutions]
    assert layout.n_params == sum(layout.sizes)
    if _loader.native_module() is not None:
        for spec in (TINY, EXACT, BENCH, HashGridSpec(8, 4, 19, 32, 1.3195)):
            native = native_hashgrid_layout(spec)
            py = hashgrid_layout(spec)
            assert native[:, 0].tolist() == py.scales  # bitwise: same libm exp2/log2
            assert native[:, 1].long().tolist() == py.resolutions
            assert native[:, 2].long().tolist() == py.offsets
            assert native[:, 3].long().tolist() == py.sizes
            assert native[:, 4].bool().tolist() == py.hashed


def test_reference_follows_the_documented_index_rule(gen):
    """Python integers with explicit uint32 wrap-around, one point at a time."""
    spec = TINY
    layout = hashgrid_layout(spec)
    params = _params(spec, torch.float64, gen)
    x = _points(5, torch.float64, gen)
    got = ref.hashgrid_encode(x, params, spec)
    for i in range(x.shape[0]):
        for level in range(spec.n_levels):
            scale, res, size = layout.scales[level], layout.resolutions[level], layout.sizes[level]
            pos = [float(x[i, d]) * scale + 0.5 for d in range(3)]
            lower = [int(p // 1) for p in pos]
            frac = [p - g for p, g in zip(pos, lower)]
            want = [0.0, 0.0]
            for corner in range(8):
                v = [lower[d] + ((corner >> d) & 1) for d in range(3)]
                w = 1.0
                for d in range(3):
                    w *= frac[d] if (corner >> d) & 1 else 1.0 - frac[d]
                if res**3 > 2**spec.log2_table_size:
                    h = (v[0] * 1) ^ ((v[1] * 2654435761) & 0xFFFFFFFF) ^ ((v[2] * 805459861) & 0xFFFFFFFF)
                    row = (h & 0xFFFFFFFF) % size
                else:
                    row = (v[0] + v[1] * res + v[2] * res * res) % size
                for f in range(2):
                    want[f] += w * float(params[layout.offsets[level] + row, f])
            torch.testing.assert_close(got[i, 2 * level: 2 * level + 2],
                                       torch.tensor(want, dtype=torch.float64),
                                       rtol=1e-12, atol=1e-14)


@requires_native
@pytest.mark.parametrize("n_features", [1, 2, 4, 8])
def test_forward_parity_float64(n_features, gen):
    spec = HashGridSpec(n_levels=6, n_features=n_features, log2_table_size=10,
                        base_resolution=4, per_level_scale=1.9)
    params = _params(spec, torch.float64, gen)
    x = _points(513, torch.float64, gen, 0.0, 1.0)
    out = hashgrid_encode(x, params, spec, backend="native")
    assert out.shape == (513, spec.out_dim)
    assert_parity(out, ref.hashgrid_encode(x, params, spec), dtype=torch.float64)


@requires_native
def test_forward_parity_float32_bench_config(gen):
    params = _params(BENCH, torch.float32, gen, 1e-2)
    x = _points(4096, torch.float32, gen, 0.0, 1.0)
    out = hashgrid_encode(x, params, BENCH, backend="native")
    expected = ref.hashgrid_encode(x, params, BENCH)
    # 1e-5 relative to the features' magnitude (a feature near 0 is a cancelling sum of 8 terms).
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())


@requires_native
def test_gradcheck_params_and_positions(gen):
    params = _params(TINY, torch.float64, gen).requires_grad_()
    x = _points(12, torch.float64, gen).requires_grad_()
    fn = lambda x_, p_: hashgrid_encode(x_, p_, TINY, backend="native")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, params), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradgradcheck(fn, (x, params), eps=1e-6, atol=1e-6)


@requires_native
def test_backward_parity_with_reference_autograd(gen):
    """First and second derivatives equal those autograd derives from the reference."""
    params = _params(TINY, torch.float64, gen)
    x = _points(300, torch.float64, gen)
    grad_out = torch.randn(300, TINY.out_dim, generator=gen, dtype=torch.float64)
    gg_x = torch.randn(300, 3, generator=gen, dtype=torch.float64)

    def grads(fn):
        p = params.clone().requires_grad_()
        xx = x.clone().requires_grad_()
        y = fn(xx, p)
        gx, gp = torch.autograd.grad(y, (xx, p), grad_out, create_graph=True)
        # An eikonal-like second pass: differentiate <grad_x, gg_x> w.r.t. params and x.
        ggp, ggx = torch.autograd.grad((gx * gg_x).sum(), (p, xx))
        return gx, gp, ggp, ggx

    native = grads(lambda a, b: hashgrid_encode(a, b, TINY, backend="native"))
    expected = grads(lambda a, b: ref.hashgrid_encode(a, b, TINY))
    for got, want in zip(native, expected):
        assert_parity(got, want, dtype=torch.float64, scale_atol=10.0)


@requires_native
def test_opcheck_all_three_ops(gen):
    params = _params(TINY, torch.float64, gen).requires_grad_()
    x = _points(16, torch.float64, gen).requires_grad_()
    cfg = TINY.op_args()
    opcheck_all(torch.ops.hold.hashgrid_encode_fwd.default, (x, params, *cfg))
    grad_out = torch.randn(16, TINY.out_dim, dtype=torch.float64, generator=gen)
    opcheck_all(torch.ops.hold.hashgrid_encode_bwd.default,
                (grad_out.requires_grad_(), x, params, *cfg, True, True))
    gg_x = torch.randn(16, 3, dtype=torch.float64, generator=gen)
    opcheck_all(torch.ops.hold.hashgrid_encode_bwd_bwd.default,
                (gg_x, grad_out.detach(), x.detach(), params.detach(), *cfg, True, True, True))


@requires_native
def test_points_exactly_on_cell_boundaries(gen):
    """pos = x·scale + 0.5 integral on level 0: continuous across the boundary, same as reference."""
    params = _params(EXACT, torch.float64, gen)
    k = torch.arange(1, 4, dtype=torch.float64)
    on = torch.stack([(k - 0.5) / 4.0, torch.full_like(k, 0.3), torch.full_like(k, 0.6)], dim=1)
    assert torch.equal(on[:, 0] * 4.0 + 0.5, k)  # truly on level 0's boundaries
    out = hashgrid_encode(on, params, EXACT, backend="native")
    assert_parity(out, ref.hashgrid_encode(on, params, EXACT), dtype=torch.float64)
    eps = 1e-9
    left = hashgrid_encode(on - torch.tensor([eps, 0, 0], dtype=torch.float64), params, EXACT)
    right = hashgrid_encode(on + torch.tensor([eps, 0, 0], dtype=torch.float64), params, EXACT)
    torch.testing.assert_close(out, 0.5 * (left + right), rtol=0, atol=1e-7)


@requires_native
def test_box_faces_and_out_of_box_points_are_clamped(gen):
    params = _params(TINY, torch.float64, gen)
    faces = torch.tensor([[0.0, 0.5, 0.5], [1.0, 0.5, 0.5], [0.3, 0.0, 1.0], [1.0, 1.0, 1.0],
                          [0.0, 0.0, 0.0]], dtype=torch.float64)
    assert_parity(hashgrid_encode(faces, params, TINY, backend="native"),
                  ref.hashgrid_encode(faces, params, TINY), dtype=torch.float64)
    outside = torch.tensor([[-0.5, 0.4, 0.4], [1.7, 0.2, 0.9], [0.5, -3.0, 2.0]],
                           dtype=torch.float64, requires_grad=True)
    y = hashgrid_encode(outside, params, TINY, backend="native")
    assert torch.equal(y, hashgrid_encode(outside.detach().clamp(0, 1), params, TINY))
    (gx,) = torch.autograd.grad(y.sum(), outside)
    assert gx[0, 0] == 0 and gx[1, 0] == 0 and gx[2, 1] == 0 and gx[2, 2] == 0
    assert gx[0, 1] != 0  # axes inside the box still carry gradient


@requires_native
def test_deliberate_hash_collisions(gen):
    """A 16-row table under 3 hashed levels: distinct vertices share rows, gradients add up."""
    spec = HashGridSpec(n_levels=3, n_features=2, log2_table_size=4, base_resolution=8,
                        per_level_scale=2.0)
    layout = hashgrid_layout(spec)
    assert all(layout.hashed)
    vertices = torch.stack(torch.meshgrid(*[torch.arange(8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    rows = ref.corner_rows(vertices, layout, 0)
    assert rows.unique().numel() == 16 < vertices.shape[0]  # collisions are real
    params = _params(spec, torch.float64, gen).requires_grad_()
    x = _points(2000, torch.float64, gen)
    y = hashgrid_encode(x, params, spec, backend="native")
    (gp,) = torch.autograd.grad(y.sum(), params)
    p2 = params.detach().clone().requires_grad_()
    (gp_ref,) = torch.autograd.grad(ref.hashgrid_encode(x, p2, spec).sum(), p2)
    assert_parity(y, ref.hashgrid_encode(x, params.detach(), spec), dtype=torch.float64)
    assert_parity(gp, gp_ref, dtype=torch.float64, scale_atol=1e3)
    # Every point contributes total weight 1 per level, whichever rows collide.
    torch.testing.assert_close(gp.sum(), torch.tensor(2000.0 * 3 * 2, dtype=torch.float64))


@requires_native
def test_zero_points(gen):
    params = _params(TINY, torch.float64, gen).requires_grad_()
    x = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    y = hashgrid_encode(x, params, TINY, backend="native")
    assert y.shape == (0, TINY.out_dim)
    gx, gp = torch.autograd.grad(y.sum(), (x, params))
    assert gx.shape == (0, 3) and torch.count_nonzero(gp) == 0


@requires_native
def test_cpu_results_are_bitwise_reproducible_across_thread_counts(gen):
    params = _params(BENCH, torch.float32, gen, 1e-2)
    x = _points(20000, torch.float32, gen, 0.0, 1.0)
    grad_out = torch.randn(20000, BENCH.out_dim, generator=gen)
    cfg = BENCH.op_args()
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            y = torch.ops.hold.hashgrid_encode_fwd(x, params, *cfg)
            gp, gx = torch.ops.hold.hashgrid_encode_bwd(grad_out, x, params, *cfg, True, True)
            results.append((y, gp, gx))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a, b)


@pytest.mark.parametrize(
    "make, exc, words",
    [
        (lambda p: (torch.rand(5, 2, dtype=torch.float64), p), ValueError, "x must have shape [N, 3]"),
        (lambda p: (torch.rand(5, 3).to(torch.int32), p), TypeError, "x must be float32 or float64"),
        (lambda p: (torch.rand(5, 3, dtype=torch.float64), p.float()), TypeError, "params must have the dtype"),
        (lambda p: (torch.rand(5, 3, dtype=torch.float64), p[:-1]), ValueError, "params must have shape"),
        (lambda p: (torch.rand(3, 5, dtype=torch.float64).t(), p), ValueError, "x must be contiguous"),
        (lambda p: (torch.tensor([[0.1, float("nan"), 0.2]], dtype=torch.float64), p), ValueError, "NaN"),
        (lambda p: (torch.rand(5, 3, dtype=torch.float64), p.to("meta")), ValueError, "params must be on"),
    ],
)
def test_bad_inputs_raise_one_clear_error(make, exc, words, gen):
    x, params = make(_params(TINY, torch.float64, gen))
    with pytest.raises(exc, match=None) as info:
        hashgrid_encode(x, params, TINY)
    assert words in str(info.value)


@requires_native
def test_native_op_checks_name_the_argument(gen):
    params = _params(TINY, torch.float64, gen)
    with pytest.raises(RuntimeError, match=r"x must have shape \[\*, 3\]"):
        torch.ops.hold.hashgrid_encode_fwd(torch.rand(4, 2, dtype=torch.float64), params,
                                           *TINY.op_args())
    with pytest.raises(RuntimeError, match="params must have .* rows"):
        torch.ops.hold.hashgrid_encode_fwd(torch.rand(4, 3, dtype=torch.float64), params[:3],
                                           *TINY.op_args())
    with pytest.raises(RuntimeError, match="unsupported grid"):
        torch.ops.hold.hashgrid_encode_fwd(torch.rand(4, 3, dtype=torch.float64), params,
                                           40, 6, 3, 1.8)


def test_reference_fallback_warns_once_and_matches(monkeypatch, gen):
    params = _params(TINY, torch.float64, gen)
    x = _points(50, torch.float64, gen)
    expected = ref.hashgrid_encode(x, params, TINY)
    monkeypatch.setattr(_loader, "_load", lambda: (None, "ImportError: simulated"))
    monkeypatch.setattr(_backend, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = hashgrid_encode(x, params, TINY)
        b = hashgrid_encode(x, params, TINY)
    assert len([w for w in caught if "pure-PyTorch reference" in str(w.message)]) == 1
    assert torch.equal(a, expected) and torch.equal(b, expected)
    with pytest.raises(RuntimeError, match="compiled kernels are not available"):
        hashgrid_encode(x, params, TINY, backend="native")


@requires_cuda
def test_cpu_cuda_parity(gen):
    params = _params(BENCH, torch.float64, gen, 1e-2)
    x = _points(10000, torch.float64, gen, 0.0, 1.0)
    grad_out = torch.randn(10000, BENCH.out_dim, generator=gen, dtype=torch.float64)
    cfg = BENCH.op_args()
    cpu = (torch.ops.hold.hashgrid_encode_fwd(x, params, *cfg),
           *torch.ops.hold.hashgrid_encode_bwd(grad_out, x, params, *cfg, True, True))
    cuda = (torch.ops.hold.hashgrid_encode_fwd(x.cuda(), params.cuda(), *cfg),
            *torch.ops.hold.hashgrid_encode_bwd(grad_out.cuda(), x.cuda(), params.cuda(), *cfg,
                                                True, True))
    for a, b in zip(cpu, cuda):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-10, atol=1e-12)
