"""Ray marching: sample sets identical to the step-for-step reference, rigid transforms,
per-frame grids, and the edge cases of rays and grids."""

import math

import pytest
import torch

from hold.ops import PackedSamples, march_rays, occgrid_pack
from hold.ops.reference import march as ref
from tests.conftest import requires_native

RES = 16
BOX = torch.tensor([[[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]], dtype=torch.float64)


def random_bits(gen, fraction=0.5, grids=1):
    density = torch.rand(grids * RES**3, generator=gen, dtype=torch.float64)
    return occgrid_pack(density, 1 - fraction, backend="torch").reshape(grids, -1)


def random_rays(n, gen, radius=3.0):
    """Rays from a sphere of `radius` towards random points of the box (off cell boundaries
    with probability 1)."""
    o = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen, dtype=torch.float64), dim=1)
    o = o * radius
    target = (torch.rand(n, 3, generator=gen, dtype=torch.float64) * 2 - 1) * 0.9
    d = torch.nn.functional.normalize(target - o, dim=1)
    return o, d


def assert_same_samples(a, b):
    assert torch.equal(a.packed, b.packed)
    assert torch.equal(a.ray_indices, b.ray_indices)
    torch.testing.assert_close(a.t_starts, b.t_starts, rtol=0, atol=1e-12)
    torch.testing.assert_close(a.t_ends, b.t_ends, rtol=0, atol=1e-12)


def check(origins, dirs, near, far, bits, aabbs, resolution, step, cone_angle=0.0,
          max_samples=1024, offsets=None, frame=None, transforms=None):
    """March with the kernel, with and without the coarse mip; assert the reference's samples
    are identical in both cases and the mip changes nothing; return the samples."""
    results = []
    for mip_factor in (1, 4):
        got = march_rays(origins, dirs, near, far, bits, aabbs, resolution, step,
                         cone_angle=cone_angle, max_samples=max_samples, offsets=offsets,
                         frame=frame, transforms=transforms, mip_factor=mip_factor,
                         backend="native")
        expected = PackedSamples(*ref.march_rays(origins, dirs, near, far, offsets, frame,
                                                 transforms, bits, aabbs, resolution, step,
                                                 cone_angle, max_samples, mip_factor))
        assert_same_samples(got, expected)
        results.append(got)
    assert_same_samples(results[0], results[1])
    return results[0]


@requires_native
@pytest.mark.parametrize("cone_angle", [0.0, 0.02])
@pytest.mark.parametrize("fraction", [0.5, 0.01])  # sparse: half the coarse mip cells are empty
def test_parity_random_rays_and_grid(cone_angle, fraction, gen):
    o, d = random_rays(200, gen)
    near, far = torch.zeros(200, dtype=torch.float64), torch.full((200,), 10.0, dtype=torch.float64)
    out = check(o, d, near, far, random_bits(gen, fraction), BOX, RES, 0.013,
                cone_angle=cone_angle)
    assert out.t_starts.numel() > (1000 if fraction > 0.1 else 20)  # a non-trivial workload
    counts = out.packed[:, 1]
    assert torch.equal(out.packed[:, 0], torch.cumsum(counts, 0) - counts)
    # Within a ray, samples are in depth order and do not overlap.
    same_ray = out.ray_indices[1:] == out.ray_indices[:-1]
    assert bool((out.t_starts[1:][same_ray] >= out.t_ends[:-1][same_ray] - 1e-12).all())


@requires_native
def test_offsets_near_far_and_cap(gen):
    o, d = random_rays(100, gen)
    near = torch.rand(100, generator=gen, dtype=torch.float64) * 2.5
    far = near + 1.0
    offsets = torch.rand(100, generator=gen, dtype=torch.float64)
    out = check(o, d, near, far, random_bits(gen, 0.8), BOX, RES, 0.02, offsets=offsets,
                max_samples=7)
    assert int(out.packed[:, 1].max()) == 7


@requires_native
def test_rigid_transform_equals_marching_in_node_space(gen):
    """A node placed by a rigid pose: marching camera rays with the camera→node transform gives
    the same t as marching the rays expressed in node space directly."""
    o, d = random_rays(150, gen)
    angle = 0.7
    rot = torch.tensor([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0],
                        [0, 0, 1]], dtype=torch.float64)
    trans = torch.tensor([0.2, -0.1, 0.3], dtype=torch.float64)
    cam_to_node = torch.cat([rot, trans[:, None]], dim=1)
    # Camera-space rays that become o, d in node space.
    o_cam, d_cam = (o - trans) @ rot, d @ rot
    near, far = torch.zeros(150, dtype=torch.float64), torch.full((150,), 9.0, dtype=torch.float64)
    bits = random_bits(gen)
    moved = check(o_cam, d_cam, near, far, bits, BOX, RES, 0.017, transforms=cam_to_node[None])
    direct = march_rays(o, d, near, far, bits, BOX, RES, 0.017)
    assert torch.equal(moved.packed, direct.packed)
    torch.testing.assert_close(moved.t_starts, direct.t_starts, rtol=0, atol=1e-9)


@requires_native
def test_per_frame_grids_and_transforms(gen):
    o, d = random_rays(120, gen)
    frame = torch.randint(0, 3, (120,), generator=gen)
    bits = random_bits(gen, 0.4, grids=3)
    boxes = BOX.repeat(3, 1, 1) * torch.tensor([1.0, 0.8, 1.2], dtype=torch.float64)[:, None, None]
    tf = torch.eye(3, 4, dtype=torch.float64).repeat(3, 1, 1)
    tf[:, :, 3] = torch.randn(3, 3, generator=gen, dtype=torch.float64) * 0.1
    near, far = torch.zeros(120, dtype=torch.float64), torch.full((120,), 9.0, dtype=torch.float64)
    check(o, d, near, far, bits, boxes, RES, 0.015, frame=frame, transforms=tf)
    # Grid g only matters for rays of frame g: emptying grid 1 removes exactly those samples.
    bits_empty = bits.clone()
    bits_empty[1] = 0
    out = march_rays(o, d, near, far, bits_empty, boxes, RES, 0.015, frame=frame, transforms=tf)
    assert bool((out.packed[frame == 1, 1] == 0).all())
    assert int(out.packed[frame != 1, 1].sum()) > 0


@requires_native
def test_edge_cases(gen):
    full = torch.full((1, RES**3 // 8), 255, dtype=torch.uint8)
    step = 0.05
    cases = {
        "misses": ([3.0, 3.0, -5.0], [0.0, 0.0, 1.0]),
        "starts inside": ([0.1, -0.2, 0.3], [0.0, 0.6, 0.8]),
        "grazes an edge": ([1.0, 1.0, -5.0], [0.0, 0.0, 1.0]),
        "parallel to a face, inside the slab": ([-5.0, 0.31, 0.47], [1.0, 0.0, 0.0]),
        "parallel to a face, outside the slab": ([-5.0, 1.5, 0.47], [1.0, 0.0, 0.0]),
        "along a face plane": ([-5.0, -1.0, 0.2], [1.0, 0.0, 0.0]),
    }
    o = torch.tensor([c[0] for c in cases.values()], dtype=torch.float64)
    d = torch.tensor([c[1] for c in cases.values()], dtype=torch.float64)
    near, far = torch.zeros(len(cases), dtype=torch.float64), torch.full((len(cases),), 20.0,
                                                                           dtype=torch.float64)
    out = check(o, d, near, far, full, BOX, RES, step)
    counts = dict(zip(cases, out.packed[:, 1].tolist()))
    assert counts["misses"] == 0
    assert counts["parallel to a face, outside the slab"] == 0
    # A full grid gives dense marching: every step whose midpoint is inside the box.
    assert counts["parallel to a face, inside the slab"] == ref.grid_step_count(4.0, 6.0, step)
    t_exit_inside = min((1.0 - (-0.2)) / 0.6, (1.0 - 0.3) / 0.8)  # leaves through z = 1
    assert counts["starts inside"] == ref.grid_step_count(0.0, t_exit_inside, step)
    # Empty grid: nothing anywhere. Zero rays: empty outputs.
    empty = torch.zeros_like(full)
    assert check(o, d, near, far, empty, BOX, RES, step).t_starts.numel() == 0
    none = check(o[:0], d[:0], near[:0], far[:0], full, BOX, RES, step)
    assert none.packed.shape == (0, 2) and none.t_starts.numel() == 0


@requires_native
def test_float32_matches_float64_counts_on_generic_rays(gen):
    o, d = random_rays(100, gen)
    near, far = torch.zeros(100, dtype=torch.float64), torch.full((100,), 10.0, dtype=torch.float64)
    bits = random_bits(gen)
    a = march_rays(o, d, near, far, bits, BOX, RES, 0.013)
    b = march_rays(o.float(), d.float(), near.float(), far.float(), bits, BOX.float(), RES, 0.013)
    # Rounding can move a midpoint across a cell boundary on a few rays; almost all agree.
    assert (a.packed[:, 1] == b.packed[:, 1]).float().mean() > 0.9


@requires_native
def test_opcheck(gen):
    o, d = random_rays(10, gen)
    near, far = torch.zeros(10, dtype=torch.float64), torch.full((10,), 9.0, dtype=torch.float64)
    args = (o, d, near, far, None, None, None, random_bits(gen), BOX, RES, 0.05, 0.0, 64, 4)
    torch.library.opcheck(torch.ops.hold.march_rays.default, args)


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(resolution=15), "resolution must be even"),
        (dict(step=0.0), "need step > 0"),
        (dict(mip_factor=3), "mip_factor must divide"),
        (dict(dirs=torch.zeros(4, 2, dtype=torch.float64)), "dirs must have shape [4, 3]"),
        (dict(bits=torch.zeros(1, 3, dtype=torch.uint8)), "bits must have shape"),
        (dict(frame=torch.tensor([0, 1, 2, 3])), "frame values must lie in"),
        (dict(origins=torch.full((4, 3), float("nan"), dtype=torch.float64)), "origins contains NaN"),
    ],
)
def test_bad_inputs(change, words):
    args = dict(origins=torch.zeros(4, 3, dtype=torch.float64),
                dirs=torch.tensor([[0, 0, 1.0]] * 4, dtype=torch.float64),
                near=torch.zeros(4, dtype=torch.float64), far=torch.ones(4, dtype=torch.float64),
                bits=torch.zeros(2, RES**3 // 8, dtype=torch.uint8), aabbs=BOX.repeat(2, 1, 1),
                resolution=RES, step=0.1, transforms=torch.eye(3, 4, dtype=torch.float64)[None].repeat(2, 1, 1))
    args.update(change)
    with pytest.raises((ValueError, TypeError)) as info:
        march_rays(**args)
    assert words in str(info.value)
