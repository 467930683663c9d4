"""The mirror prior's pieces against independent expectations: the reflection against the
Householder matrix, the planes of an analytic box (tilted, off-centre) found from its whole
surface and from the side one camera sees, none for an irregular tetrahedron, and the term's
value and gradients on a box."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hold.models.object.symmetry import fit_mirror_planes, reflect, seen_volume, symmetry_l1

ROTATION = torch.tensor(Rotation.from_euler("xyz", [20, -35, 50], degrees=True).as_matrix(), dtype=torch.float32)
CENTRE = torch.tensor([0.01, -0.02, 0.005])
HALF = torch.tensor([0.02, 0.035, 0.05])  # a 4 × 7 × 10 cm box
BOUNDS = torch.tensor([[-0.08] * 3, [0.08] * 3])


def box_surface(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points [count, 3] uniform by area on the tilted box, and their outward unit normals."""
    gen = torch.Generator().manual_seed(seed)
    areas = torch.stack([HALF[1] * HALF[2], HALF[0] * HALF[2], HALF[0] * HALF[1]])
    axis = torch.multinomial(areas.repeat(2), count, replacement=True, generator=gen)
    sign = torch.where(axis < 3, 1.0, -1.0)
    axis = axis % 3
    local = (torch.rand(count, 3, generator=gen) * 2 - 1) * HALF
    local[torch.arange(count), axis] = sign * HALF[axis]
    normals = torch.zeros(count, 3)
    normals[torch.arange(count), axis] = sign
    return local @ ROTATION.T + CENTRE, normals @ ROTATION.T


def box_sdf(x: torch.Tensor) -> torch.Tensor:
    q = ((x - CENTRE) @ ROTATION).abs() - HALF
    return q.clamp(min=0).norm(dim=1) + q.max(1).values.clamp(max=0)


def angle_to(normal: torch.Tensor, axis: torch.Tensor) -> float:
    return math.degrees(math.acos(min(1.0, abs(float(normal @ axis)))))


def test_reflection_matches_the_householder_matrix():
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(20, 3, generator=gen, dtype=torch.float64)
    normal = torch.nn.functional.normalize(torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64), dim=0)
    centre = torch.tensor([0.1, 0.2, -0.3], dtype=torch.float64)
    householder = torch.eye(3, dtype=torch.float64) - 2 * torch.outer(normal, normal)
    expected = (points - centre) @ householder.T + centre
    torch.testing.assert_close(reflect(points, centre, normal), expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(reflect(expected, centre, normal), points, atol=1e-12, rtol=0)


def check_box_planes(planes, count: int = 3) -> None:
    assert len(planes.normals) == count
    for axis in ROTATION.T[:count] if count < 3 else ROTATION.T:
        match = min(range(len(planes.normals)), key=lambda i: angle_to(planes.normals[i], axis))
        assert angle_to(planes.normals[match], axis) < 1.0
        # the plane passes within 1 mm of the box's centre
        assert abs(float((planes.centres[match] - CENTRE) @ planes.normals[match])) < 0.001


def test_the_three_planes_of_a_box():
    points, normals = box_surface(3000)
    check_box_planes(fit_mirror_planes(points, normals, tolerance=0.003))


@pytest.mark.parametrize("loose", [0, 200], ids=["clean", "loose-material"])
def test_planes_from_the_seen_side_of_a_box_ignore_its_hidden_end(loose):
    """Seen without its -z end (what a camera that never looks at the far end gives), with or
    without loose material seen past it (side faces continued 3 cm, as a start from the masks
    leaves behind): the z-plane keeps its direction, since the mirror image of the seen +z end
    lands where nothing was seen and does not vote, and lies within 6 mm of the box's middle
    (the side faces mirror onto themselves wherever it lies: it stays near its start)."""
    points, normals = box_surface(4000)
    local = (points - CENTRE) @ ROTATION
    keep = local[:, 2] > -HALF[2] + 1e-6
    strip = keep & (local[:, 2] < -0.02)
    extra_local = local[strip].clone()
    extra_local[:, 2] -= 0.03
    seen_points = torch.cat([points[keep], (extra_local @ ROTATION.T + CENTRE)[:loose]])
    seen_normals = torch.cat([normals[keep], normals[strip][:loose]])
    planes = fit_mirror_planes(seen_points, seen_normals, tolerance=0.003)
    z_axis = ROTATION[:, 2]
    match = min(range(len(planes.normals)), key=lambda i: angle_to(planes.normals[i], z_axis))
    assert angle_to(planes.normals[match], z_axis) < 1.0
    offset = abs(float((planes.centres[match] - CENTRE) @ planes.normals[match]))
    assert offset < 0.006


def test_an_irregular_tetrahedron_has_no_mirror_plane():
    corners = torch.tensor([[0.0, 0, 0], [0.06, 0, 0], [0.01, 0.04, 0], [0.016, 0.012, 0.034]])
    gen = torch.Generator().manual_seed(1)
    points, normals = [], []
    for face in ([0, 1, 2], [0, 1, 3], [1, 2, 3], [0, 2, 3]):
        a, b, c = corners[face]
        opposite = corners[[i for i in range(4) if i not in face][0]]
        normal = torch.nn.functional.normalize(torch.cross(b - a, c - a, dim=0), dim=0)
        normal = normal if float(normal @ (a - opposite)) > 0 else -normal
        r1, r2 = torch.rand(1500, generator=gen), torch.rand(1500, generator=gen)
        s = r1.sqrt()
        points.append((1 - s)[:, None] * a + (s * (1 - r2))[:, None] * b + (s * r2)[:, None] * c)
        normals.append(normal.expand(1500, 3))
    planes = fit_mirror_planes(torch.cat(points), torch.cat(normals), tolerance=0.002)
    assert len(planes.normals) == 0


def test_mirror_term_is_zero_on_a_box_in_its_plane_and_not_in_a_tilted_one():
    gen = torch.Generator().manual_seed(2)
    points = (torch.rand(4000, 3, generator=gen) * 2 - 1) * 0.07
    for axis in ROTATION.T:
        images = reflect(points, CENTRE, axis)
        inside = ((images > BOUNDS[0]) & (images < BOUNDS[1])).all(1)  # an image past the box
        points, images = points[inside], images[inside]  # counts as empty (tested elsewhere)
        assert float(symmetry_l1(box_sdf, points, images, BOUNDS)) < 1e-6
    tilted = torch.nn.functional.normalize(ROTATION[:, 0] + 0.3 * ROTATION[:, 1], dim=0)
    assert float(symmetry_l1(box_sdf, points, reflect(points, CENTRE, tilted), BOUNDS)) > 1e-3


def test_the_seen_end_teaches_the_hidden_end():
    seen_param, hidden_param = torch.tensor(1.0, requires_grad=True), torch.tensor(2.0, requires_grad=True)

    def sdf(x):  # one parameter for each half (z > 0 is the half some frame sees)
        return torch.where(x[:, 2] > 0, seen_param * (x[:, 2] - 0.05), hidden_param * (-x[:, 2] - 0.05))

    cells = torch.stack(torch.meshgrid(*[(torch.arange(64) + 0.5) / 64 * 0.16 - 0.08] * 3, indexing="ij"), -1).reshape(-1, 3)
    seen = seen_volume(cells[cells[:, 2] > 0.01], BOUNDS)
    points = torch.tensor([[0.0, 0.0, -0.06]])  # hidden, 1 cm outside the hidden end
    images = reflect(points, torch.zeros(3), torch.tensor([0, 0, 1.0]))
    loss = symmetry_l1(sdf, points, images, BOUNDS, seen)
    assert float(loss.detach()) == pytest.approx(abs(2.0 * 0.01 - 1.0 * 0.01))
    loss.backward()
    assert seen_param.grad is None or float(seen_param.grad) == 0.0
    assert float(hidden_param.grad) != 0.0
