"""nerfacc (Li et al., 2023; the package hold-fast's packed layout follows) as an outside oracle
for the compositing: weights, transmittance, accumulated colour, depth, opacity and per-node
weights, forward and backward, at float64 tolerance.

The maths is compared where it is the same: given densities σ and intervals [t_start, t_end],
both compute α = 1 − exp(−σδ), T_i = exp(−Σ_{j<i} σ_j δ_j), w_i = T_i α_i. hold-fast's own parts
are checked around that: VolSDF's Laplace density with a β per node is written out here
independently of hold.ops, and merged node samples are compared with nerfacc on each ray's
union sorted by midpoint. Convention differences (docs/KERNELS.md, "Volume compositing"):

- background: hold adds T_N · bg, nerfacc's `rendering` adds (1 − opacity) · bg; equal, since
  Σ w_i = 1 − T_N;
- early termination: hold drops the first sample with T_i < eps and every later one, and gives
  those samples the transmittance at which the ray stopped; nerfacc's visibility mask keeps
  T_i ≥ eps (the same samples: T falls along a ray) and leaves T_i as computed;
- nerfacc's `render_weight_from_alpha` takes T from a product of (1 − α), hold from a sum of σδ.

nerfacc's batched (dense [rays, samples]) operations are pure PyTorch and run here; its packed
operations and its occupancy-grid traversal need its CUDA build (compiled on first use) and run
in the GPU-only tests at the end.
"""

import pytest
import torch

from hold.ops import composite, march_rays, merge_samples, occgrid_pack
from tests.conftest import requires_cuda, requires_native

nerfacc = pytest.importorskip("nerfacc", reason="nerfacc is not installed (pip install "
                              "'.[dev]' installs it)")

F64 = dict(rtol=1e-10, atol=1e-12)
BACKENDS = ["torch", pytest.param("native", marks=requires_native)]


def _dense_rays(gen, n_rays=48, max_samples=20, device="cpu"):
    """Random rays in the dense layout nerfacc's batched ops take, and the same samples packed.
    Returns (packed [R, 2], mask [R, M] of real samples, t_starts [R, M], t_ends [R, M]):
    padding sits after each ray's last sample with zero length (so it changes no weight)."""
    counts = torch.randint(0, max_samples + 1, (n_rays,), generator=gen)
    counts[0], counts[1] = 0, max_samples  # an empty ray and a full one
    mask = torch.arange(max_samples)[None, :] < counts[:, None]
    lengths = torch.rand(n_rays, max_samples, generator=gen, dtype=torch.float64) * 0.05 + 0.005
    gaps = torch.rand(n_rays, max_samples, generator=gen, dtype=torch.float64) * 0.02
    lengths = torch.where(mask, lengths, torch.zeros_like(lengths))
    gaps = torch.where(mask, gaps, torch.zeros_like(gaps))
    t_ends = 0.5 + torch.cumsum(lengths + gaps, dim=1)
    t_starts = t_ends - lengths
    packed = torch.stack([torch.cumsum(counts, 0) - counts, counts], 1)
    return tuple(t.to(device) for t in (packed, mask, t_starts, t_ends))


def _laplace_density(sdf, beta):
    """VolSDF: σ = Ψ_β(−s)/β with Ψ_β the CDF of a zero-mean Laplace distribution of scale β."""
    cdf = torch.where(sdf > 0, 0.5 * torch.exp(-sdf / beta), 1 - 0.5 * torch.exp(sdf / beta))
    return cdf / beta


def _nerfacc_render(t_starts, t_ends, sigmas, rgb, bg, node, n_nodes, mask, eps=0.0):
    """nerfacc's batched ops on the dense layout → (rgb, depth, opacity, node weights, weights,
    transmittance, visibility), with hold's early termination expressed as nerfacc's mask."""
    sigmas = torch.where(mask, sigmas, torch.zeros_like(sigmas))
    weights, trans, _ = nerfacc.render_weight_from_density(t_starts, t_ends, sigmas)
    visible = mask
    if eps > 0:
        visible = mask & nerfacc.render_visibility_from_density(t_starts, t_ends, sigmas,
                                                                early_stop_eps=eps)
        weights = torch.where(visible, weights, torch.zeros_like(weights))
    opacity = nerfacc.accumulate_along_rays(weights, None)[:, 0]
    colour = nerfacc.accumulate_along_rays(weights, rgb) + (1 - opacity)[:, None] * bg
    depth = nerfacc.accumulate_along_rays(weights, (0.5 * (t_starts + t_ends))[..., None])[:, 0]
    node_w = torch.stack([nerfacc.accumulate_along_rays(weights * (node == k), None)[:, 0]
                          for k in range(n_nodes)], 1)
    return colour, depth, opacity, node_w, weights, trans, visible


def _scene(gen, n_rays=48, max_samples=20, device="cpu"):
    packed, mask, t_starts, t_ends = _dense_rays(gen, n_rays, max_samples, device)
    shape = mask.shape
    sdf = (torch.rand(shape, generator=gen, dtype=torch.float64) * 0.07 - 0.02).to(device)
    node = torch.randint(0, 2, shape, generator=gen).to(device)
    rgb = torch.rand(shape + (3,), generator=gen, dtype=torch.float64).to(device)
    bg = torch.rand(shape[0], 3, generator=gen, dtype=torch.float64).to(device)
    beta = torch.tensor([0.004, 0.0025], dtype=torch.float64, device=device)
    return packed, mask, t_starts, t_ends, sdf, node, rgb, bg, beta


def _assert_matches(hold_out, expected, mask):
    colour, depth, opacity, node_w, weights, trans, visible = expected
    torch.testing.assert_close(hold_out.rgb, colour, **F64)
    torch.testing.assert_close(hold_out.depth, depth, **F64)
    torch.testing.assert_close(hold_out.opacity, opacity, **F64)
    torch.testing.assert_close(hold_out.node_weights, node_w, **F64)
    torch.testing.assert_close(hold_out.weights, weights[mask], **F64)
    alive = visible[mask]
    torch.testing.assert_close(hold_out.trans[alive], trans[mask][alive], **F64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_raw_densities_match_render_weight_from_density(gen, backend):
    packed, mask, t_starts, t_ends, _, node, rgb, bg, _ = _scene(gen)
    sigmas = torch.rand(mask.shape, generator=gen, dtype=torch.float64) * 60
    out = composite(packed, t_starts[mask], t_ends[mask], sigmas[mask], node[mask],
                    torch.ones(2, dtype=torch.float64), rgb[mask], bg, mode="raw", eps=0.0,
                    backend=backend)
    expected = _nerfacc_render(t_starts, t_ends, sigmas, rgb, bg, node, 2, mask)
    assert expected[2].min() < 0.5 < expected[2].max()  # both thin and opaque rays
    _assert_matches(out, expected, mask)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_match_render_weight_from_alpha(gen, backend):
    """nerfacc's transmittance from the product of (1 − α) against hold's exp(−Σ σδ)."""
    packed, mask, t_starts, t_ends, _, node, rgb, bg, _ = _scene(gen)
    sigmas = torch.rand(mask.shape, generator=gen, dtype=torch.float64) * 60 * mask
    alphas = 1 - torch.exp(-sigmas * (t_ends - t_starts))
    weights, trans = nerfacc.render_weight_from_alpha(alphas)
    out = composite(packed, t_starts[mask], t_ends[mask], sigmas[mask], node[mask],
                    torch.ones(2, dtype=torch.float64), rgb[mask], bg, mode="raw", eps=0.0,
                    backend=backend)
    torch.testing.assert_close(out.weights, weights[mask], **F64)
    torch.testing.assert_close(out.trans, trans[mask], **F64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_laplace_density_per_node_beta_forward_and_backward(gen, backend):
    """SDF → VolSDF density with each sample's node β, composited by hold, against the density
    written out here and nerfacc; gradients of a random loss with respect to the SDF, β, the
    colours and the background: hold's analytic backward against autograd through nerfacc."""
    packed, mask, t_starts, t_ends, sdf, node, rgb, bg, beta = _scene(gen)
    g = [torch.randn(s, generator=gen, dtype=torch.float64)
         for s in ((mask.shape[0], 3), (mask.shape[0],), (mask.shape[0],), (mask.shape[0], 2))]

    def loss(outputs):
        return sum((o * gi).sum() for o, gi in zip(outputs, g))

    leaves = [t.clone().requires_grad_(True) for t in (sdf, beta, rgb, bg)]
    s, b, c, k = leaves
    out = composite(packed, t_starts[mask], t_ends[mask], s[mask], node[mask], b, c[mask], k,
                    mode="laplace", eps=0.0, backend=backend)
    ours = torch.autograd.grad(loss(out[:4]), leaves)

    leaves_ref = [t.clone().requires_grad_(True) for t in (sdf, beta, rgb, bg)]
    s, b, c, k = leaves_ref
    expected = _nerfacc_render(t_starts, t_ends, _laplace_density(s, b[node]), c, k, node, 2, mask)
    reference = torch.autograd.grad(loss(expected[:4]), leaves_ref)

    _assert_matches(out, [e.detach() for e in expected[:6]] + [expected[6]], mask)
    for name, a, e in zip(("sdf", "beta", "rgb", "bg"), ours, reference):
        torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-10, msg=f"gradient of {name}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_termination_matches_visibility_mask(gen, backend):
    eps = 1e-2
    packed, mask, t_starts, t_ends, _, node, rgb, bg, _ = _scene(gen)
    sigmas = torch.rand(mask.shape, generator=gen, dtype=torch.float64) * 80
    out = composite(packed, t_starts[mask], t_ends[mask], sigmas[mask], node[mask],
                    torch.ones(2, dtype=torch.float64), rgb[mask], bg, mode="raw", eps=eps,
                    backend=backend)
    expected = _nerfacc_render(t_starts, t_ends, sigmas, rgb, bg, node, 2, mask, eps=eps)
    visible = expected[6]
    assert (mask & ~visible).sum() > 20  # the test terminates rays early
    _assert_matches(out, expected, mask)
    # After termination hold reports the transmittance at which the ray stopped: 1 − opacity.
    ray = torch.repeat_interleave(torch.arange(mask.shape[0]), packed[:, 1])
    dead = ~visible[mask]
    torch.testing.assert_close(out.trans[dead], (1 - expected[2])[ray][dead], **F64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_merged_nodes_match_nerfacc_on_the_sorted_union(gen, backend):
    """Two nodes' samples, merged by hold (merge_samples) and composited, against nerfacc on
    each ray's union of samples sorted by midpoint (a per-ray dense sort written here)."""
    n_rays = 40
    packed_a, mask_a, ts_a, te_a = _dense_rays(gen, n_rays, 12)
    packed_b, mask_b, ts_b, te_b = _dense_rays(gen, n_rays, 9)
    ts_b, te_b = ts_b + 0.013, te_b + 0.013  # interleave with node a's samples
    sdf_a = torch.rand(mask_a.shape, generator=gen, dtype=torch.float64) * 0.06 - 0.02
    sdf_b = torch.rand(mask_b.shape, generator=gen, dtype=torch.float64) * 0.06 - 0.02
    rgb_a = torch.rand(mask_a.shape + (3,), generator=gen, dtype=torch.float64)
    rgb_b = torch.rand(mask_b.shape + (3,), generator=gen, dtype=torch.float64)
    bg = torch.rand(n_rays, 3, generator=gen, dtype=torch.float64)
    beta = torch.tensor([0.004, 0.0025], dtype=torch.float64)

    mid_a, mid_b = 0.5 * (ts_a + te_a)[mask_a], 0.5 * (ts_b + te_b)[mask_b]
    packed, order = merge_samples(packed_a, mid_a, packed_b, mid_b, backend=backend)
    cat = lambda a, b: torch.cat([a[mask_a], b[mask_b]])[order]  # noqa: E731
    node = cat(torch.zeros_like(mask_a, dtype=torch.int64),
               torch.ones_like(mask_b, dtype=torch.int64))
    out = composite(packed, cat(ts_a, ts_b), cat(te_a, te_b), cat(sdf_a, sdf_b).contiguous(), node,
                    beta, cat(rgb_a, rgb_b).contiguous(), bg, mode="laplace", eps=0.0,
                    backend=backend)

    # The union per ray, padding (mask False) sorted last by an infinite midpoint.
    join = lambda a, b: torch.cat([a, b], 1)  # noqa: E731
    mask = join(mask_a, mask_b)
    infinite = torch.full(mask.shape, float("inf"), dtype=torch.float64)
    mid = torch.where(mask, 0.5 * join(ts_a + te_a, ts_b + te_b), infinite)
    idx = torch.sort(mid, dim=1, stable=True).indices

    def pick(t):
        return torch.gather(t, 1, idx if t.dim() == 2 else idx[..., None].expand(-1, -1, 3))

    mask, node_d = pick(mask), pick(join(torch.zeros_like(ts_a, dtype=torch.int64),
                                         torch.ones_like(ts_b, dtype=torch.int64)))
    sigmas = _laplace_density(pick(join(sdf_a, sdf_b)), beta[node_d])
    expected = _nerfacc_render(pick(join(ts_a, ts_b)), pick(join(te_a, te_b)), sigmas,
                               pick(join(rgb_a, rgb_b)), bg, node_d, 2, mask)
    assert torch.equal(packed[:, 1], mask.sum(1))
    _assert_matches(out, expected, mask)


# ---- on a GPU: nerfacc's packed operations and its occupancy-grid traversal ---------------------


def _nerfacc_cuda():
    """nerfacc's CUDA build (compiled on first use); skip with the reason when it cannot load.
    HOLD_NERFACC_CUDA=0 (set by tools/gpu_check.py when its build of nerfacc failed or ran out
    of time) skips without compiling again."""
    import os

    if os.environ.get("HOLD_NERFACC_CUDA") == "0":
        pytest.skip("nerfacc's CUDA extension did not build in the GPU check (gpu_check.log)")
    try:
        from nerfacc.cuda import _backend
    except Exception as error:  # noqa: BLE001 - any build failure is reported as the reason
        pytest.skip(f"nerfacc's CUDA extension did not build: {error}")
    if _backend._C is None:
        pytest.skip("nerfacc's CUDA extension is not available (no nvcc?)")


@requires_cuda
def test_packed_compositing_matches_nerfacc_packed_ops_on_cuda(gen):
    """nerfacc's packed scans take float32 only: float32 tolerances here."""
    _nerfacc_cuda()
    packed, mask, *values = _scene(gen, 512, 64, "cuda")
    t_starts, t_ends, sdf, node, rgb, bg, beta = (
        v.float() if v.is_floating_point() else v for v in values)
    ts, te, n, c = t_starts[mask], t_ends[mask], node[mask], rgb[mask]
    sigmas = _laplace_density(sdf[mask], beta[n])
    weights, trans, _ = nerfacc.render_weight_from_density(ts, te, sigmas, packed_info=packed)
    ray = torch.repeat_interleave(torch.arange(len(packed), device="cuda"), packed[:, 1])
    n_rays = len(packed)
    opacity = nerfacc.accumulate_along_rays(weights, None, ray, n_rays)[:, 0]
    colour = nerfacc.accumulate_along_rays(weights, c, ray, n_rays) + (1 - opacity)[:, None] * bg
    out = composite(packed, ts, te, sdf[mask], n, beta, c, bg, mode="laplace", eps=0.0,
                    backend="native")
    f32 = dict(rtol=1e-4, atol=1e-5)
    assert opacity.min() < 0.5 < opacity.max()
    torch.testing.assert_close(out.weights, weights, **f32)
    torch.testing.assert_close(out.trans, trans, **f32)
    torch.testing.assert_close(out.opacity, opacity, **f32)
    torch.testing.assert_close(out.rgb, colour, **f32)


@requires_cuda
def test_marching_matches_nerfacc_traverse_grids_on_cuda(gen):
    """The same occupancy grid marched by hold (march_rays) and by nerfacc (traverse_grids),
    both from t = 0 with a constant step: nerfacc walks its steps from the near plane, hold from
    max(near, box entry), so the rays start inside the box. Rays along the axes with the step a
    quarter cell keep every midpoint ≥ 1/8 cell from a cell face: they must agree sample for
    sample. Oblique rays may differ where a midpoint lies on a face up to float32 rounding
    (nerfacc accumulates t, hold computes t_0 + k·step)."""
    from nerfacc.grid import traverse_grids

    _nerfacc_cuda()
    res = 32
    density = torch.rand(res**3, generator=gen)
    bits = occgrid_pack(density.cuda(), 0.6)[None]
    # hold's cell index x + y·res + z·res² is nerfacc's binaries[x, y, z] (x slowest there).
    binaries = (density > 0.6).reshape(res, res, res).permute(2, 1, 0).contiguous()[None].cuda()
    lo, hi = torch.tensor([-1.0, -1.0, -1.0]), torch.tensor([1.0, 1.0, 1.0])
    cell = (hi - lo) / res
    step = float(cell[0]) / 4
    n = 600
    centres = lo + (torch.randint(0, res, (n, 3), generator=gen) + 0.5) * cell
    axis = torch.randint(0, 3, (n,), generator=gen)
    sign = torch.randint(0, 2, (n,), generator=gen) * 2 - 1
    dirs_axis = torch.nn.functional.one_hot(axis, 3).float() * sign[:, None]
    dirs_oblique = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=1)
    aabb = torch.cat([lo, hi])[None].cuda()
    for dirs, exact in ((dirs_axis, True), (dirs_oblique, False)):
        o, d = centres.cuda(), dirs.cuda()
        near, far = torch.zeros(n, device="cuda"), torch.full((n,), 10.0, device="cuda")
        ours = march_rays(o, d, near, far, bits, torch.stack([lo, hi])[None].cuda(), res, step,
                          max_samples=100_000, mip_factor=1, backend="native")
        intervals, samples, _ = traverse_grids(o, d, binaries, aabb, near_planes=near,
                                               far_planes=far, step_size=step, cone_angle=0.0)
        t_starts = intervals.vals[intervals.is_left]
        ray_indices = samples.ray_indices
        counts = torch.bincount(ray_indices, minlength=n)
        same = counts == ours.packed[:, 1]
        assert ours.t_starts.numel() > 20 * n  # a real workload
        if exact:  # float32 t accumulated over ≤ 128 steps: far below the 1/8-cell margin
            assert bool(same.all()), int((~same).sum())
            torch.testing.assert_close(ours.t_starts, t_starts, rtol=0, atol=1e-4)
        else:  # a midpoint within rounding of a face between cells of unlike occupancy
            assert same.float().mean() > 0.9, float(same.float().mean())
            assert abs(ours.t_starts.numel() / t_starts.numel() - 1) < 0.01
