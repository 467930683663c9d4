"""Skinning kernels: forward LBS, weight volumes and inverse skinning against the references
(float64 at 1e-10), independent expectations (rigid inverses, brute-force neighbours),
derivatives, determinism, edge cases, input errors and CPU/CUDA parity."""

import pytest
import torch

from hold.ops import inverse_skin_volume, lbs_points, skin_weight_volume
from hold.ops.reference import skinning as ref
from tests.conftest import requires_cuda, requires_native
from tests.ops._harness import assert_parity, opcheck_all

DOUBLE = torch.float64


def rigid(count, gen, dtype=DOUBLE):
    """Random rigid transforms [count, 3, 4] (QR rotation, det +1)."""
    q, r = torch.linalg.qr(torch.randn(count, 3, 3, dtype=DOUBLE, generator=gen))
    q = q * torch.sign(torch.diagonal(r, dim1=1, dim2=2))[:, None, :]
    q[torch.det(q) < 0, :, 0] *= -1
    t = 0.1 * torch.randn(count, 3, 1, dtype=DOUBLE, generator=gen)
    return torch.cat([q, t], 2).to(dtype)


def lbs_inputs(gen, n=40, joints=5, frames=3, dtype=DOUBLE):
    x = torch.randn(n, 3, dtype=DOUBLE, generator=gen)
    weights = torch.rand(n, joints, dtype=DOUBLE, generator=gen)
    weights[weights < 0.4] = 0  # sparse rows, as skinning weights are
    transforms = torch.randn(frames, joints, 3, 4, dtype=DOUBLE, generator=gen)
    frame = torch.randint(0, frames, (n,), generator=gen)
    return x.to(dtype), weights.to(dtype), transforms.to(dtype), frame


def skinned_scene(gen, frames=3, joints=4, resolution=(9, 7, 8), n=60, dtype=DOUBLE):
    """Vertices with smooth weights, posed per frame by random rigid bones; their volumes; and
    query points near the posed vertices (plus two outside every box)."""
    verts = 0.04 * torch.randn(120, 3, dtype=DOUBLE, generator=gen)
    weights = torch.softmax(3 * torch.randn(120, joints, dtype=DOUBLE, generator=gen), 1)
    transforms = rigid(frames * joints, gen).reshape(frames, joints, 3, 4)
    posed = torch.stack([ref.lbs_points(verts, weights, transforms, torch.full((120,), b))
                         for b in range(frames)])
    bounds = torch.stack([torch.stack([p.min(0).values - 0.01, p.max(0).values + 0.01])
                          for p in posed])
    volumes = torch.stack([ref.skin_weight_volume(posed[b], weights, bounds[b], resolution)
                           for b in range(frames)])
    frame = torch.randint(0, frames, (n,), generator=gen)
    pick = torch.randint(0, 120, (n,), generator=gen)
    x = posed[frame, pick] + 0.004 * torch.randn(n, 3, dtype=DOUBLE, generator=gen)
    x[:2] = bounds[frame[:2], 1] + 0.005  # outside the box: clamped lookup, invalid
    cast = lambda t: t.to(dtype).contiguous()  # noqa: E731
    return cast(x), frame, cast(volumes), cast(bounds), cast(transforms), posed, weights


# ---- lbs_points -------------------------------------------------------------------------------


@requires_native
@pytest.mark.parametrize("dtype", [DOUBLE, torch.float32])
def test_lbs_parity(dtype, gen):
    x, w, t, f = lbs_inputs(gen, dtype=dtype)
    assert_parity(lbs_points(x, w, t, f, backend="native"), ref.lbs_points(x, w, t, f),
                  dtype=dtype)


@requires_native
def test_lbs_with_shared_bone_is_that_bone_and_identity_keeps_points(gen):
    x, w, _, f = lbs_inputs(gen)
    w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
    w[w.sum(1) == 0, 0] = 1.0
    bone = rigid(1, gen)[0]
    same = bone.expand(3, 5, 3, 4).contiguous()
    want = x @ bone[:, :3].T + bone[:, 3]
    torch.testing.assert_close(lbs_points(x, w, same, f), want, rtol=0, atol=1e-14)
    identity = torch.eye(3, 4, dtype=DOUBLE).expand(3, 5, 3, 4).contiguous()
    torch.testing.assert_close(lbs_points(x, w, identity, f), x, rtol=0, atol=1e-15)


@requires_native
def test_lbs_gradcheck(gen):
    x, w, t, f = lbs_inputs(gen, n=6, joints=3, frames=2)
    leaves = [v.requires_grad_() for v in (x, w, t)]
    fn = lambda *a: lbs_points(*a, f, backend="native")  # noqa: E731
    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-8)


@requires_native
def test_lbs_gradients_match_reference_autograd_and_are_thread_count_independent(gen):
    x, w, t, f = lbs_inputs(gen, n=5000, joints=16, frames=4)
    g = torch.randn(5000, 3, dtype=DOUBLE, generator=gen)

    def grads(fn):
        leaves = [v.clone().requires_grad_() for v in (x, w, t)]
        return torch.autograd.grad((fn(*leaves, f) * g).sum(), leaves)

    native = grads(lambda *a: lbs_points(*a, backend="native"))
    for a, b in zip(native, grads(ref.lbs_points)):
        assert_parity(a, b, dtype=DOUBLE, scale_atol=100)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = grads(lambda *a: lbs_points(*a, backend="native"))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(native[2], serial[2])  # bitwise: each row is summed in point order


@requires_native
def test_lbs_empty_and_absent_frames(gen):
    x, w, t, f = lbs_inputs(gen)
    assert lbs_points(x[:0], w[:0], t, f[:0]).shape == (0, 3)
    f = torch.ones_like(f)  # frames 0 and 2 have no points
    t = t.clone().requires_grad_()
    lbs_points(x, w, t, f).sum().backward()
    assert bool((t.grad[[0, 2]] == 0).all()) and bool((t.grad[1] != 0).any())


# ---- skin_weight_volume -----------------------------------------------------------------------


@requires_native
@pytest.mark.parametrize("k, sigma", [(8, 0.002), (1, 0.01), (5, 0.02), (32, 0.005)])
def test_weight_volume_parity(k, sigma, gen):
    verts = 0.05 * torch.randn(200, 3, dtype=DOUBLE, generator=gen)
    weights = torch.softmax(torch.randn(200, 6, dtype=DOUBLE, generator=gen), 1)
    bounds = torch.tensor([[-0.16, -0.12, -0.2], [0.12, 0.15, 0.1]], dtype=DOUBLE)
    got = skin_weight_volume(verts, weights, bounds, (9, 6, 7), k, sigma, backend="native")
    assert got.shape == (7, 6, 9, 7)
    assert_parity(got, ref.skin_weight_volume(verts, weights, bounds, (9, 6, 7), k, sigma),
                  dtype=DOUBLE)


@requires_native
def test_weight_volume_of_the_hand_matches_brute_force_neighbours():
    """The binned search against an explicit per-voxel brute force on the built-in hand."""
    from hold.models.hand.builtin import BuiltinHand

    hand = BuiltinHand(dtype=DOUBLE)
    verts, weights = hand.template, hand.skin_weights.contiguous()
    bounds = torch.stack([verts.min(0).values - 0.03, verts.max(0).values + 0.03])
    resolution = (12, 9, 10)
    got = skin_weight_volume(verts, weights, bounds, resolution, backend="native")
    assert_parity(got, ref.skin_weight_volume(verts, weights, bounds, resolution), dtype=DOUBLE)
    centres = ref.voxel_centres(bounds, resolution).reshape(-1, 3)
    for voxel in (0, 517, 1079, 611):  # a box corner, interior and an upper corner
        d2 = ((verts - centres[voxel]) ** 2).sum(1)
        order = torch.argsort(d2)[: ref.VOLUME_K]
        a = torch.exp(-(d2[order] - d2[order[0]]) / ref.VOLUME_SIGMA**2)
        want = torch.cat([(a[:, None] * weights[order]).sum(0) / a.sum(), d2[order[0]].sqrt()[None]])
        torch.testing.assert_close(got.reshape(-1, 17)[voxel], want, rtol=1e-10, atol=1e-12)


@requires_native
@pytest.mark.parametrize("cutoff", [0.02, 0.05, 1.0])
def test_weight_volume_cutoff_parity(cutoff, gen):
    """Far voxels (no vertex within the cutoff: zero weights, distance = cutoff) as the
    reference marks them, every other voxel exact."""
    verts = 0.05 * torch.randn(200, 3, dtype=DOUBLE, generator=gen)
    weights = torch.softmax(torch.randn(200, 6, dtype=DOUBLE, generator=gen), 1)
    bounds = torch.tensor([[-0.16, -0.12, -0.2], [0.12, 0.15, 0.1]], dtype=DOUBLE)
    got = skin_weight_volume(verts, weights, bounds, (9, 6, 7), 8, 0.002, cutoff,
                             backend="native")
    want = ref.skin_weight_volume(verts, weights, bounds, (9, 6, 7), 8, 0.002, cutoff)
    assert_parity(got, want, dtype=DOUBLE)
    exact = ref.skin_weight_volume(verts, weights, bounds, (9, 6, 7), 8, 0.002)
    far = exact[..., -1] > cutoff
    assert (0 < int(far.sum()) < far.numel()) == (cutoff != 1.0)
    assert bool((got[far][:, :-1] == 0).all()) and bool((got[far][:, -1] == cutoff).all())
    torch.testing.assert_close(got[~far], exact[~far], rtol=0, atol=1e-12)


@requires_native
@pytest.mark.parametrize("dtype", [DOUBLE, torch.float32])
def test_inverse_skinning_through_a_cut_off_volume_is_exact(dtype, gen):
    """With safe_cutoff the cut-off volume gives bitwise the exact volume's canonical points
    and validity, on the built-in hand in a bent pose, for points all over its box."""
    from hold.models.hand.builtin import BuiltinHand
    from hold.ops.skinning import safe_cutoff

    hand = BuiltinHand(dtype=dtype)
    pose = 0.4 * torch.randn(1, 45, dtype=DOUBLE, generator=gen).to(dtype)
    out = hand(torch.tensor([[0.3, -0.2, 0.1]], dtype=dtype), pose,
               torch.zeros(1, hand.num_betas, dtype=dtype), torch.zeros(1, 3, dtype=dtype))
    verts, weights = out.vertices[0].detach(), hand.skin_weights.to(dtype).contiguous()
    max_dist, resolution = 0.017, (32, 32, 32)
    bounds = torch.stack([verts.min(0).values - max_dist, verts.max(0).values + max_dist])
    cutoff = safe_cutoff(bounds, resolution, max_dist)
    exact = skin_weight_volume(verts, weights, bounds, resolution)
    cut = skin_weight_volume(verts, weights, bounds, resolution, cutoff=cutoff)
    assert float((exact[..., -1] > cutoff).float().mean()) > 0.1  # the cutoff does cut
    x = bounds[0] + (bounds[1] - bounds[0]) * torch.rand(50000, 3, dtype=DOUBLE,
                                                        generator=gen).to(dtype)
    frame = torch.zeros(len(x), dtype=torch.int64)
    bones = out.bone_transforms[:, :, :3, :].detach().contiguous()
    want = inverse_skin_volume(x, frame, exact[None], bounds[None], bones, max_dist)
    got = inverse_skin_volume(x, frame, cut[None], bounds[None], bones, max_dist)
    assert torch.equal(got[1], want[1]) and 0.05 < float(want[1].float().mean()) < 0.95
    assert torch.equal(got[0][got[1]], want[0][want[1]])


@requires_native
def test_weight_volume_float32_is_close_to_float64(gen):
    verts = 0.5 + 0.05 * torch.randn(300, 3, dtype=DOUBLE, generator=gen)  # 0.5 m from the origin
    weights = torch.softmax(torch.randn(300, 4, dtype=DOUBLE, generator=gen), 1)
    bounds = torch.stack([verts.min(0).values - 0.02, verts.max(0).values + 0.02])
    want = skin_weight_volume(verts, weights, bounds, (8, 8, 8), 4, 0.01)
    got = skin_weight_volume(verts.float(), weights.float(), bounds.float(), (8, 8, 8), 4, 0.01)
    # float32 positions near 0.5 m carry ~6e-8 m of rounding, which moves the Gaussian blend
    # by ~1e-5 at σ = 1 cm.
    torch.testing.assert_close(got.double(), want, rtol=0, atol=2e-5)


@requires_native
def test_weight_volume_edge_cases(gen):
    weights = torch.softmax(torch.randn(5, 3, dtype=DOUBLE, generator=gen), 1)
    far = torch.tensor([[1.0, 1.0, 1.0], [1.3, 1.2, 1.1]], dtype=DOUBLE)  # box far from them
    flat = torch.randn(5, 3, dtype=DOUBLE, generator=gen)
    flat[:, 2] = 0.0  # coplanar vertices: a degenerate bin grid
    for verts in (flat, flat[:, [2, 0, 1]].contiguous()):
        for k in (1, 5):
            got = skin_weight_volume(verts, weights, far, (3, 4, 2), k, 0.5)
            assert_parity(got, ref.skin_weight_volume(verts, weights, far, (3, 4, 2), k, 0.5),
                          dtype=DOUBLE)
    one = skin_weight_volume(flat[:1], weights[:1], far, (2, 2, 2), 1, 0.01)
    torch.testing.assert_close(one[..., :3], weights[0].expand(2, 2, 2, 3))
    # Duplicated vertices tie: the lower vertex id wins.
    twins = torch.cat([flat[:1], flat[:1]])
    tie = skin_weight_volume(twins, weights[[3, 1]].contiguous(), far, (2, 2, 2), 1, 0.01)
    torch.testing.assert_close(tie[..., :3], weights[3].expand(2, 2, 2, 3))


# ---- inverse_skin_volume ----------------------------------------------------------------------


@requires_native
@pytest.mark.parametrize("dtype", [DOUBLE, torch.float32])
def test_inverse_parity(dtype, gen):
    x, frame, volumes, bounds, transforms, _, _ = skinned_scene(gen, dtype=dtype)
    got = inverse_skin_volume(x, frame, volumes, bounds, transforms, 0.03, backend="native")
    want = ref.inverse_skin_volume(x, frame, volumes, bounds, transforms, 0.03)
    assert_parity(got[0], want[0], dtype=dtype, scale_atol=10)
    assert torch.equal(got[1], want[1])
    assert not bool(got[1][:2].any()) and 0.2 < float(got[1].float().mean()) < 0.9


@requires_native
def test_inverse_of_a_single_bone_is_the_exact_rigid_inverse(gen):
    transforms = rigid(6, gen).reshape(2, 3, 3, 4)
    volumes = torch.zeros(2, 4, 5, 6, 4, dtype=DOUBLE)
    volumes[..., 1] = 1.0  # every voxel on bone 1, at distance 0
    bounds = torch.tensor([[[-1.0, -1, -1], [1, 1, 1]]] * 2, dtype=DOUBLE)
    x = torch.rand(50, 3, dtype=DOUBLE, generator=gen) * 1.6 - 0.8
    frame = torch.arange(50) % 2
    x_can, valid = inverse_skin_volume(x, frame, volumes, bounds, transforms, 0.0)
    bone = transforms[frame, 1]
    want = ((x - bone[:, :, 3])[:, None, :] @ bone[:, :, :3])[:, 0]  # Rᵀ(x − t)
    torch.testing.assert_close(x_can, want, rtol=0, atol=1e-14)
    assert bool(valid.all())
    # Forward LBS of the result with the same (one-hot) weights gives x back.
    one_hot = torch.zeros(50, 3, dtype=DOUBLE)
    one_hot[:, 1] = 1
    torch.testing.assert_close(lbs_points(x_can, one_hot, transforms, frame), x, rtol=0,
                               atol=1e-14)


def singular_scene():
    """Weights 0.5/0.5 on R and R·diag(1, 1, −1): the blend has rank 2 (det 0)."""
    gen = torch.Generator().manual_seed(7)
    bone = rigid(1, gen)[0]
    mirrored = bone.clone()
    mirrored[:, 2] *= -1
    transforms = torch.stack([bone, mirrored])[None].contiguous()
    volumes = torch.zeros(1, 3, 3, 3, 3, dtype=DOUBLE)
    volumes[..., :2] = 0.5
    bounds = torch.tensor([[[-1.0, -1, -1], [1, 1, 1]]], dtype=DOUBLE)
    x = torch.rand(8, 3, dtype=DOUBLE, generator=gen) - 0.5
    return x, torch.zeros(8, dtype=torch.int64), volumes, bounds, transforms


@requires_native
def test_singular_blends_are_finite_invalid_and_match_the_reference():
    x, frame, volumes, bounds, transforms = singular_scene()
    got = inverse_skin_volume(x, frame, volumes, bounds, transforms, 1.0)
    want = ref.inverse_skin_volume(x, frame, volumes, bounds, transforms, 1.0)
    assert bool(torch.isfinite(got[0]).all()) and not bool(got[1].any())
    assert_parity(got[0], want[0], dtype=DOUBLE)
    # adj(R)·(x − t) (divided by 1): its derivatives, which autograd takes from the reference.
    g = torch.randn(8, 3, dtype=DOUBLE, generator=torch.Generator().manual_seed(8))

    def grads(fn):
        leaves = [x.clone().requires_grad_(), transforms.clone().requires_grad_()]
        out = fn(leaves[0], frame, volumes, bounds, leaves[1], 1.0)[0]
        return torch.autograd.grad((out * g).sum(), leaves)

    # (No finite differences here: a step of the transforms makes det ≠ 0 and flips the branch.)
    for a, b in zip(grads(inverse_skin_volume), grads(ref.inverse_skin_volume)):
        assert_parity(a, b, dtype=DOUBLE)


@requires_native
def test_inverse_gradcheck(gen):
    x, frame, volumes, bounds, transforms, _, _ = skinned_scene(gen, frames=2, joints=3, n=5,
                                                                resolution=(4, 5, 4))
    t = transforms.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t_: inverse_skin_volume(x, frame, volumes, bounds, t_, 0.01)[0], (t,), eps=1e-6,
        atol=1e-8)
    # The looked-up weights are constants for autograd, so finite differences in x only agree
    # where they do not vary: volumes with one weight vector per frame.
    flat = volumes.clone()
    flat[..., :3] = torch.rand(2, 1, 1, 1, 3, dtype=DOUBLE, generator=gen)
    assert torch.autograd.gradcheck(
        lambda p, t_: inverse_skin_volume(p, frame, flat, bounds, t_, 0.01)[0],
        (x.requires_grad_(), t), eps=1e-6, atol=1e-8)


@requires_native
def test_inverse_gradients_match_reference_autograd_and_are_thread_count_independent(gen):
    x, frame, volumes, bounds, transforms, _, _ = skinned_scene(gen, n=3000)
    g = torch.randn(3000, 3, dtype=DOUBLE, generator=gen)

    def grads(fn):
        leaves = [x.clone().requires_grad_(), transforms.clone().requires_grad_()]
        out = fn(leaves[0], frame, volumes, bounds, leaves[1], 0.01)[0]
        return torch.autograd.grad((out * g).sum(), leaves)

    native = grads(inverse_skin_volume)
    for a, b in zip(native, grads(ref.inverse_skin_volume)):
        assert_parity(a, b, dtype=DOUBLE, scale_atol=100)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = grads(inverse_skin_volume)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(native[1], serial[1])


@requires_native
def test_inverse_empty_inputs_and_absent_frames(gen):
    x, frame, volumes, bounds, transforms, _, _ = skinned_scene(gen)
    x_can, valid = inverse_skin_volume(x[:0], frame[:0], volumes, bounds, transforms, 0.01)
    assert x_can.shape == (0, 3) and valid.shape == (0,) and valid.dtype == torch.bool
    t = transforms.clone().requires_grad_()
    inverse_skin_volume(x, torch.ones_like(frame), volumes, bounds, t, 0.01)[0].sum().backward()
    assert bool((t.grad[[0, 2]] == 0).all()) and bool((t.grad[1] != 0).any())


# ---- registration and inputs ------------------------------------------------------------------


@requires_native
def test_opcheck(gen):
    x, w, t, f = lbs_inputs(gen, n=7, joints=3, frames=2)
    opcheck_all(torch.ops.hold.lbs_points_fwd.default, (x.requires_grad_(), w, t, f))
    opcheck_all(torch.ops.hold.lbs_points_bwd.default,
                (torch.ones(7, 3, dtype=DOUBLE), x.detach(), w, t, f, True, True, True))
    verts = 0.05 * torch.randn(20, 3, dtype=DOUBLE, generator=gen)
    vw = torch.softmax(torch.randn(20, 3, dtype=DOUBLE, generator=gen), 1)
    box = torch.stack([verts.min(0).values, verts.max(0).values])
    opcheck_all(torch.ops.hold.skin_weight_volume.default, (verts, vw, box, [3, 4, 2], 4, 0.01))
    px, frame, volumes, bounds, transforms, _, _ = skinned_scene(gen, n=9, resolution=(3, 4, 3))
    opcheck_all(torch.ops.hold.inverse_skin_volume_fwd.default,
                (px.requires_grad_(), frame, volumes, bounds, transforms.requires_grad_(), 0.01))
    opcheck_all(torch.ops.hold.inverse_skin_volume_bwd.default,
                (torch.ones(9, 3, dtype=DOUBLE), px.detach(), frame, volumes, bounds,
                 transforms.detach(), True, True))


@requires_native
def test_bad_inputs_name_the_argument(gen):
    x, w, t, f = lbs_inputs(gen)
    with pytest.raises(ValueError, match="lbs_points: weights must have shape"):
        lbs_points(x, w[:-1], t, f)
    with pytest.raises(ValueError, match="lbs_points: bone_transforms must have shape"):
        lbs_points(x, w[:, :4].contiguous(), t, f)
    with pytest.raises(TypeError, match="bone_transforms must have dtype"):
        lbs_points(x, w, t.float(), f)
    with pytest.raises(ValueError, match=r"frame values must lie in \[0, 3\)"):
        lbs_points(x, w, t, f + 3)
    with pytest.raises(ValueError, match="contiguous"):
        lbs_points(x, w.T.contiguous().T, t, f)
    verts, box = x[:10].contiguous(), torch.tensor([[-3.0] * 3, [3.0] * 3], dtype=DOUBLE)
    with pytest.raises(ValueError, match="k must be"):
        skin_weight_volume(verts, w[:10], box, (4, 4, 4), k=11)
    with pytest.raises(ValueError, match="resolution must be"):
        skin_weight_volume(verts, w[:10], box, (4, 1, 4))
    with pytest.raises(ValueError, match="bounds must have lo < hi"):
        skin_weight_volume(verts, w[:10], box.flip(0).contiguous(), (4, 4, 4))
    with pytest.raises(ValueError, match="cutoff must be a number"):
        skin_weight_volume(verts, w[:10], box, (4, 4, 4), cutoff=float("nan"))
    with pytest.raises(RuntimeError, match="cutoff must be a number"):  # the op's own check
        torch.ops.hold.skin_weight_volume(verts, w[:10].contiguous(), box, [4, 4, 4], 8, 0.002,
                                          float("nan"))
    px, frame, volumes, bounds, transforms, _, _ = skinned_scene(gen)
    with pytest.raises(ValueError, match="inverse_skin_volume: bone_transforms must have shape"):
        inverse_skin_volume(px, frame, volumes, bounds, transforms[:, :2].contiguous(), 0.01)
    with pytest.raises(ValueError, match="x contains NaN"):
        inverse_skin_volume(px.index_fill(0, torch.tensor([3]), float("nan")), frame, volumes,
                            bounds, transforms, 0.01)
    with pytest.raises(ValueError, match="volumes must be"):
        inverse_skin_volume(px, frame, volumes[:, :1].contiguous(), bounds, transforms, 0.01)


@requires_cuda
def test_cpu_cuda_parity(gen):
    x, frame, volumes, bounds, transforms, posed, weights = skinned_scene(gen, n=2000)
    cuda = lambda *ts: [t.cuda() for t in ts]  # noqa: E731
    vol_cpu = torch.ops.hold.skin_weight_volume(posed[1].contiguous(), weights, bounds[1],
                                                [9, 7, 8], 8, 0.002)
    vol_gpu = torch.ops.hold.skin_weight_volume(*cuda(posed[1].contiguous(), weights, bounds[1]),
                                                [9, 7, 8], 8, 0.002)
    torch.testing.assert_close(vol_gpu.cpu(), vol_cpu, rtol=1e-12, atol=1e-14)
    g = torch.randn(2000, 3, dtype=DOUBLE, generator=gen)
    cpu_out = torch.ops.hold.inverse_skin_volume_fwd(x, frame, volumes, bounds, transforms, 0.01)
    gpu_out = torch.ops.hold.inverse_skin_volume_fwd(*cuda(x, frame, volumes, bounds, transforms),
                                                     0.01)
    torch.testing.assert_close(gpu_out[0].cpu(), cpu_out[0], rtol=1e-12, atol=1e-14)
    assert torch.equal(gpu_out[1].cpu(), cpu_out[1])
    cpu_grads = torch.ops.hold.inverse_skin_volume_bwd(g, x, frame, volumes, bounds, transforms,
                                                       True, True)
    gpu_grads = torch.ops.hold.inverse_skin_volume_bwd(
        *cuda(g, x, frame, volumes, bounds, transforms), True, True)
    for a, b in zip(gpu_grads, cpu_grads):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-11, atol=1e-12)
    xl, wl, tl, fl = lbs_inputs(gen, n=3000, joints=16)
    gl = torch.randn(3000, 3, dtype=DOUBLE, generator=gen)
    torch.testing.assert_close(torch.ops.hold.lbs_points_fwd(*cuda(xl, wl, tl, fl)).cpu(),
                               torch.ops.hold.lbs_points_fwd(xl, wl, tl, fl), rtol=1e-12,
                               atol=1e-14)
    for a, b in zip(torch.ops.hold.lbs_points_bwd(*cuda(gl, xl, wl, tl, fl), True, True, True),
                    torch.ops.hold.lbs_points_bwd(gl, xl, wl, tl, fl, True, True, True)):
        torch.testing.assert_close(a.cpu(), b, rtol=1e-11, atol=1e-12)
