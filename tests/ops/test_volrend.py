"""Volume rendering: compositing and merging against the references, derivatives, early
termination and edge cases."""

import pytest
import torch

from hold.ops import composite, merge_samples
from hold.ops.reference import volrend as ref
from tests.conftest import requires_native
from tests.ops._harness import assert_parity


def make_scene(gen, counts=(3, 0, 6, 2, 9, 1), n_nodes=2, dtype=torch.float64, sdf_scale=0.05):
    counts = torch.tensor(counts)
    packed = torch.stack([torch.cumsum(counts, 0) - counts, counts], dim=1)
    n = int(counts.sum())
    ray = torch.repeat_interleave(torch.arange(len(counts)), counts)
    # Sorted, non-overlapping intervals per ray.
    lengths = 0.01 + 0.04 * torch.rand(n, generator=gen, dtype=dtype)
    cum = torch.cumsum(lengths, 0)
    ray_base = (cum - lengths)[packed[ray, 0]]  # length of the rays before this one
    t_ends = 1.0 + cum - ray_base
    t_starts = t_ends - lengths
    sdf = torch.randn(n, generator=gen, dtype=dtype) * sdf_scale
    node = torch.randint(0, n_nodes, (n,), generator=gen)
    beta = torch.linspace(0.02, 0.05, n_nodes, dtype=dtype)
    rgb = torch.rand(n, 3, generator=gen, dtype=dtype)
    bg = torch.rand(len(counts), 3, generator=gen, dtype=dtype)
    return packed, t_starts, t_ends, sdf, node, beta, rgb, bg


@requires_native
@pytest.mark.parametrize("mode", ["laplace", "logistic", "raw"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_forward_parity(mode, dtype, gen):
    packed, t0, t1, sdf, node, beta, rgb, bg = make_scene(gen, dtype=dtype)
    if mode == "raw":
        sdf = sdf.abs() * 100
    got = composite(packed, t0, t1, sdf, node, beta, rgb, bg, mode=mode, eps=0.0, backend="native")
    want = ref.composite(packed, t0, t1, sdf, node, beta, rgb, bg,
                         {"laplace": 0, "logistic": 1, "raw": 2}[mode], 0.0)
    for a, b in zip(got, want):
        assert_parity(a, b, dtype=dtype, scale_atol=10)
    # Conservation: opacity + final transmittance = 1; node weights sum to the opacity.
    torch.testing.assert_close(got.node_weights.sum(1), got.opacity)
    assert bool((got.opacity <= 1 + 1e-6).all())


@requires_native
@pytest.mark.parametrize("mode", ["laplace", "logistic"])
def test_gradcheck(mode, gen):
    packed, t0, t1, sdf, node, beta, rgb, bg = make_scene(gen, counts=(3, 0, 4, 2))
    sdf.requires_grad_(), beta.requires_grad_(), rgb.requires_grad_(), bg.requires_grad_()

    def fn(sdf_, beta_, rgb_, bg_):
        out = composite(packed, t0, t1, sdf_, node, beta_, rgb_, bg_, mode=mode, eps=0.0,
                        backend="native")
        return out.rgb, out.depth, out.opacity, out.node_weights, out.weights

    assert torch.autograd.gradcheck(fn, (sdf, beta, rgb, bg), eps=1e-6, atol=1e-7)


@requires_native
def test_gradients_match_reference_autograd_with_early_termination(gen):
    packed, t0, t1, sdf, node, beta, rgb, bg = make_scene(gen, counts=(5, 12, 0, 30), sdf_scale=0.02)
    sdf = sdf - 0.05  # mostly inside: opaque rays that terminate early
    weights_up = torch.randn(int(packed[:, 1].sum()), generator=gen, dtype=torch.float64)

    def grads(fn):
        leaves = [t.clone().requires_grad_() for t in (sdf, beta, rgb, bg)]
        out = fn(*leaves)
        loss = (out[0] * torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)).sum() + \
            out[1].sum() * 0.7 + out[2].sum() - out[3][:, 1].sum() + (out[4] * weights_up).sum()
        return torch.autograd.grad(loss, leaves)

    native = grads(lambda *a: composite(packed, t0, t1, a[0], node, a[1], a[2], a[3], eps=1e-3,
                                        backend="native"))
    expected = grads(lambda *a: ref.composite(packed, t0, t1, a[0], node, a[1], a[2], a[3], 0, 1e-3))
    for a, b in zip(native, expected):
        assert_parity(a, b, dtype=torch.float64, scale_atol=100)


@requires_native
def test_early_termination_changes_the_image_by_less_than_1e_4(gen):
    packed, t0, t1, sdf, node, beta, rgb, bg = make_scene(gen, counts=(40, 80, 5, 60), sdf_scale=0.01)
    sdf = sdf - 0.03
    full = composite(packed, t0, t1, sdf, node, beta, rgb, bg, eps=0.0)
    early = composite(packed, t0, t1, sdf, node, beta, rgb, bg, eps=1e-4)
    assert int((early.weights == 0).sum()) > int((full.weights == 0).sum())  # it did terminate
    assert (early.rgb - full.rgb).abs().max() < 1e-4
    assert (early.opacity - full.opacity).abs().max() < 1e-4


@requires_native
def test_empty_rays_and_absent_nodes(gen):
    packed, t0, t1, sdf, node, beta, rgb, bg = make_scene(gen, counts=(0, 4, 0))
    node = torch.zeros_like(node)  # node 1 has no samples at all
    out = composite(packed, t0, t1, sdf, node, beta, rgb, bg)
    torch.testing.assert_close(out.rgb[[0, 2]], bg[[0, 2]])  # nothing in front of the background
    assert out.opacity[0] == 0 and out.depth[0] == 0
    assert bool((out.node_weights[:, 1] == 0).all())
    zero = composite(packed[:0], t0[:0], t1[:0], sdf[:0], node[:0], beta, rgb[:0], bg[:0])
    assert zero.rgb.shape == (0, 3)


@requires_native
def test_merge_orders_overlapping_intervals_by_midpoint(gen):
    # Ray 0: a = [1.0, 1.4], [1.4, 1.8]; b = [1.1, 1.2] (inside a's first interval) and a tie.
    packed_a = torch.tensor([[0, 2], [2, 0], [2, 3]])
    mid_a = torch.tensor([1.2, 1.6, 0.5, 0.7, 0.9], dtype=torch.float64)
    packed_b = torch.tensor([[0, 2], [2, 1], [3, 2]])
    mid_b = torch.tensor([1.15, 1.6, 0.3, 0.6, 1.0], dtype=torch.float64)
    packed, order = merge_samples(packed_a, mid_a, packed_b, mid_b, backend="native")
    assert order.tolist() == [5, 0, 1, 6, 7, 2, 8, 3, 4, 9]  # tie at 1.6: node a first
    assert packed.tolist() == [[0, 4], [4, 1], [5, 5]]
    ref_packed, ref_order = ref.merge_samples(packed_a, mid_a, packed_b, mid_b)
    assert torch.equal(order, ref_order) and torch.equal(packed, ref_packed)


@requires_native
def test_merge_parity_random(gen):
    counts_a = torch.randint(0, 6, (50,), generator=gen)
    counts_b = torch.randint(0, 6, (50,), generator=gen)

    def packed_mids(counts):
        packed = torch.stack([torch.cumsum(counts, 0) - counts, counts], dim=1)
        ray = torch.repeat_interleave(torch.arange(50), counts)
        mids = torch.rand(int(counts.sum()), generator=gen, dtype=torch.float64) + ray * 10.0
        return packed, mids.sort().values

    pa, ma = packed_mids(counts_a)
    pb, mb = packed_mids(counts_b)
    got = merge_samples(pa, ma, pb, mb, backend="native")
    want = ref.merge_samples(pa, ma, pb, mb)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    merged = torch.cat([ma, mb])[got[1]]
    assert bool((merged[1:] >= merged[:-1]).all())  # rays are 10 apart: globally sorted


@requires_native
def test_opcheck(gen):
    packed, t0, t1, sdf, node, beta, rgb, bg = make_scene(gen, counts=(2, 0, 3))
    args = (packed, t0, t1, sdf.requires_grad_(), node, beta, rgb, bg, 0, 1e-4)
    torch.library.opcheck(torch.ops.hold.composite_fwd.default, args)
    out = torch.ops.hold.composite_fwd(*[a.detach() if isinstance(a, torch.Tensor) else a for a in args])
    grads = (torch.ones(3, 3, dtype=torch.float64), torch.ones(3, dtype=torch.float64),
             torch.ones(3, dtype=torch.float64), torch.ones(3, 2, dtype=torch.float64), None)
    torch.library.opcheck(torch.ops.hold.composite_bwd.default,
                          (*grads, packed, t0, t1, sdf.detach(), node, beta, rgb, bg, 0, 1e-4,
                           out[4], out[5]))
    torch.library.opcheck(torch.ops.hold.merge_samples.default,
                          (packed, t0, packed, t1))


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(node=torch.tensor([0, 5, 0])), "node values must lie in"),
        (dict(mode="volsdf"), "mode must be one of"),
        (dict(rgb=torch.zeros(3, 4, dtype=torch.float64)), "rgb must have shape [3, 3]"),
        (dict(beta=torch.ones(9, dtype=torch.float64)), "beta must hold 1 to 8 nodes"),
        (dict(sdf=torch.tensor([0.0, float("nan"), 0.1], dtype=torch.float64)), "sdf contains NaN"),
    ],
)
def test_bad_inputs(change, words):
    args = dict(packed=torch.tensor([[0, 3]]), t_starts=torch.zeros(3, dtype=torch.float64),
                t_ends=torch.ones(3, dtype=torch.float64), sdf=torch.zeros(3, dtype=torch.float64),
                node=torch.zeros(3, dtype=torch.int64), beta=torch.ones(2, dtype=torch.float64),
                rgb=torch.zeros(3, 3, dtype=torch.float64))
    args.update(change)
    with pytest.raises((ValueError, TypeError)) as info:
        composite(**args)
    assert words in str(info.value)


def test_data_checks_can_be_dropped_for_a_block():
    """hold.ops.data_checks(False) skips the NaN and index checks inside the block only (the
    trainer's steps on a GPU); shape checks stay."""
    from hold.ops import data_checks

    args = dict(packed=torch.tensor([[0, 3]]), t_starts=torch.zeros(3, dtype=torch.float64),
                t_ends=torch.ones(3, dtype=torch.float64),
                sdf=torch.tensor([0.0, float("nan"), 0.1], dtype=torch.float64),
                node=torch.zeros(3, dtype=torch.int64), beta=torch.ones(2, dtype=torch.float64),
                rgb=torch.zeros(3, 3, dtype=torch.float64), backend="torch")
    with data_checks(False):
        assert torch.isnan(composite(**args).rgb).any()  # ran without the NaN scan
        with pytest.raises(ValueError, match="rgb must have shape"):
            composite(**{**args, "rgb": torch.zeros(3, 4, dtype=torch.float64)})
    with pytest.raises(ValueError, match="sdf contains NaN"):
        composite(**args)
