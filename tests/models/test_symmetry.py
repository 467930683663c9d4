"""The revolution prior's pieces against independent expectations: Rodrigues' turn against
scipy's rotations, the term zero on an analytic surface of revolution and not on a box, the
normal-line residual, the z-buffered seen surface of a sphere, and the fitted axis of tilted
analytic solids (elongated, flat, and seen from one side only)."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hold.models.object.symmetry import (fit_revolution_axis, normal_line_residual, revolution_l1,
                                         rotate_about_axis, seen_surface_points)

BOUNDS = torch.tensor([[-0.08] * 3, [0.08] * 3])
TILTED = torch.nn.functional.normalize(torch.tensor([0.3, 0.2, 1.0]), dim=0)
CENTRE = torch.tensor([0.01, -0.02, 0.005])


def wavy_capsule(x: torch.Tensor, centre=CENTRE, axis=TILTED) -> torch.Tensor:
    """Signed distance (approximately) of a 6 cm capsule whose radius varies along its axis."""
    r = x - centre
    h = (r * axis).sum(1)
    radial = (r - h[:, None] * axis).norm(dim=1)
    return torch.sqrt(radial**2 + torch.relu(h.abs() - 0.03) ** 2) - (0.02 + 0.005 * torch.cos(h * 40))


def flat_disc(x: torch.Tensor, centre=CENTRE, axis=TILTED) -> torch.Tensor:
    """A disc 10 cm across and 2 cm thick (a plate): its axis is its shortest direction."""
    r = x - centre
    h = (r * axis).sum(1)
    radial = (r - h[:, None] * axis).norm(dim=1)
    return torch.maximum(radial - 0.05, h.abs() - 0.01)


def test_turn_matches_scipy_rotation_about_the_line():
    gen = torch.Generator().manual_seed(0)
    points = torch.rand(50, 3, generator=gen, dtype=torch.float64) - 0.5
    angles = torch.rand(50, generator=gen, dtype=torch.float64) * 2 * math.pi
    centre, axis = CENTRE.double(), torch.nn.functional.normalize(TILTED.double(), dim=0)
    turned = rotate_about_axis(points, centre, axis, angles)
    expected = [Rotation.from_rotvec(a * axis.numpy()).apply(p - centre.numpy()) + centre.numpy()
                for p, a in zip(points.numpy(), angles.numpy())]
    np.testing.assert_allclose(turned.numpy(), np.array(expected), atol=1e-12)


def test_term_is_zero_on_a_solid_of_revolution_and_not_on_a_box():
    gen = torch.Generator().manual_seed(1)
    # in a ball about the axis' centre, so that every turned copy stays in the box
    points = CENTRE + torch.nn.functional.normalize(torch.randn(2000, 3, generator=gen), dim=1) * (
        0.05 * torch.rand(2000, 1, generator=gen))
    angles = torch.rand(2000, generator=gen) * 2 * math.pi
    assert float(revolution_l1(wavy_capsule, points, CENTRE, TILTED, angles, BOUNDS)) < 1e-6
    # the same capsule about a wrong axis, and a box about its own long axis: not zero
    assert float(revolution_l1(wavy_capsule, points, CENTRE, torch.tensor([1.0, 0, 0]), angles, BOUNDS)) > 1e-3

    def box(x):  # 4 × 4 × 12 cm, centred, long along z
        q = x.abs() - torch.tensor([0.02, 0.02, 0.06])
        return q.clamp(min=0).norm(dim=1) + q.max(1).values.clamp(max=0)

    assert float(revolution_l1(box, points, torch.zeros(3), torch.tensor([0, 0, 1.0]), angles, BOUNDS)) > 1e-3


def test_a_turned_copy_outside_the_box_is_empty_space():
    sdf = lambda x: x[:, 0]  # noqa: E731 - not symmetric at all
    axis = torch.tensor([0, 0, 1.0])
    # (0.07, 0, 0) turned by π about z: (-0.07, 0, 0), inside the box: |0.07 - (-0.07)|
    inside = revolution_l1(sdf, torch.tensor([[0.07, 0.0, 0.0]]), torch.zeros(3), axis,
                           torch.tensor([math.pi]), BOUNDS)
    assert float(inside) == pytest.approx(0.14, abs=1e-6)
    # a surface point (s = 0) at radius 0.1 turned by π/2 lands 0.02 beyond the box's side:
    # there the value is at least that distance, so the term sees the object leave its box
    surface = lambda x: x.norm(dim=1) - 0.1  # noqa: E731 - a sphere larger than the box
    far = revolution_l1(surface, torch.tensor([[0.0, -0.1, 0.0]]), torch.zeros(3), axis,
                        torch.tensor([math.pi / 2]), BOUNDS)
    # the turned copy (0.1, 0, 0) clamps to (0.08, 0, 0): s = -0.02, raised to its distance 0.02
    assert float(far) == pytest.approx(0.02, abs=1e-6)


def test_normal_lines_of_a_solid_of_revolution_meet_its_axis():
    gen = torch.Generator().manual_seed(2)
    points = ((torch.rand(3000, 3, generator=gen) - 0.5) * 0.12).requires_grad_(True)
    (gradient,) = torch.autograd.grad(wavy_capsule(points).sum(), points)
    normals = torch.nn.functional.normalize(gradient, dim=1)
    points = points.detach()
    assert float(normal_line_residual(points, normals, CENTRE, TILTED)) < 1e-9
    wrong = torch.nn.functional.normalize(torch.tensor([1.0, 0.0, 0.2]), dim=0)
    assert float(normal_line_residual(points, normals, CENTRE, wrong)) > 1e-5
    assert float(normal_line_residual(points, normals, CENTRE + torch.tensor([0.02, 0, 0]), TILTED)) > 1e-6


def look_at_origin_from(distance: float) -> torch.Tensor:
    """Object → camera [1, 4, 4] of a camera on the object's -z side looking along +z."""
    pose = torch.eye(4)
    pose[2, 3] = distance
    return pose[None]


K = torch.tensor([[200.0, 0, 64], [0, 200.0, 64], [0, 0, 1]])


def test_seen_surface_of_a_sphere_is_the_hemisphere_facing_the_camera():
    sphere = lambda x: x.norm(dim=1) - 0.05  # noqa: E731
    masks = torch.ones(1, 128, 128, dtype=torch.bool)
    seen = seen_surface_points(sphere, BOUNDS, look_at_origin_from(0.5), K, masks)
    cell = 0.16 / 64
    assert len(seen) > 500
    assert float(seen[:, 2].max()) < 3 * cell  # nothing behind the equator (+z is away)
    # and the cap within 45° of the camera is all there: every band cell with z < -0.035
    cells = torch.stack(torch.meshgrid(*[(torch.arange(64) + 0.5) / 64 * 0.16 - 0.08] * 3, indexing="ij"), -1).reshape(-1, 3)
    cap = cells[(sphere(cells).abs() < cell) & (cells[:, 2] < -0.035)]
    assert int((seen[:, 2] < -0.035).sum()) == len(cap)
    # a frame whose mask shows no object sees nothing
    assert len(seen_surface_points(sphere, BOUNDS, look_at_origin_from(0.5), K, ~masks)) == 0


@pytest.mark.parametrize("solid", [wavy_capsule, flat_disc], ids=["elongated", "flat"])
def test_fitted_axis_is_the_solids_axis(solid):
    axis = fit_revolution_axis(solid, BOUNDS)
    angle = math.degrees(math.acos(min(1.0, abs(float(axis.direction @ TILTED)))))
    assert angle < 2.0
    # the fitted line passes within 2 mm of the true centre
    offset = axis.centre - CENTRE
    assert float((offset - (offset @ axis.direction) * axis.direction).norm()) < 0.002


def test_axis_from_the_seen_half_ignores_loose_material_behind():
    """The capsule seen from one side, with a slab of loose material stuck to its unseen back
    (what a start from the masks leaves where no frame looks): the seen points still give the
    capsule's axis, the whole surface does not."""
    camera_side = torch.nn.functional.normalize(torch.cross(TILTED, torch.tensor([1.0, 0, 0]), dim=0), dim=0)

    def capsule_with_fin(x):
        slab_centre = CENTRE + 0.035 * camera_side  # behind the capsule, seen from -camera_side
        r = x - slab_centre
        across = torch.nn.functional.normalize(torch.cross(TILTED, camera_side, dim=0), dim=0)
        slab = torch.stack([(r * TILTED).sum(1).abs() - 0.03, (r * camera_side).sum(1).abs() - 0.012,
                            (r * across).sum(1).abs() - 0.012], 1).max(1).values  # hidden behind
        return torch.minimum(wavy_capsule(x), slab)

    # a camera 0.5 m away on the -camera_side, looking at the centre
    z = camera_side
    x_axis = torch.nn.functional.normalize(torch.cross(torch.tensor([0, 0, 1.0]), z, dim=0), dim=0)
    y_axis = torch.cross(z, x_axis, dim=0)
    rotation = torch.stack([x_axis, y_axis, z])  # rows: camera axes in object coordinates
    pose = torch.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = -rotation @ CENTRE + torch.tensor([0, 0, 0.5])
    masks = torch.ones(1, 128, 128, dtype=torch.bool)
    seen = seen_surface_points(capsule_with_fin, BOUNDS, pose[None], K, masks)
    from_seen = fit_revolution_axis(capsule_with_fin, BOUNDS, seen)
    from_all = fit_revolution_axis(capsule_with_fin, BOUNDS)
    angle = lambda axis: math.degrees(math.acos(min(1.0, abs(float(axis.direction @ TILTED)))))  # noqa: E731
    assert angle(from_seen) < 1.0
    assert angle(from_all) > 2.0  # the loose material tilts the axis of the whole surface (3.4°)


def test_fitting_raises_without_an_inside():
    with pytest.raises(ValueError, match="no inside"):
        fit_revolution_axis(lambda x: x.norm(dim=1) + 1.0, BOUNDS)


def test_the_seen_side_teaches_the_unseen_side_and_does_not_learn_from_it():
    from hold.models.object.symmetry import seen_volume

    seen_param, unseen_param = torch.tensor(1.0, requires_grad=True), torch.tensor(2.0, requires_grad=True)

    def sdf(x):  # one parameter for each half of the box (x < 0 is the half some frame sees)
        return torch.where(x[:, 0] < 0, seen_param * x[:, 0], unseen_param * x[:, 0])

    cells = torch.stack(torch.meshgrid(*[(torch.arange(64) + 0.5) / 64 * 0.16 - 0.08] * 3, indexing="ij"), -1).reshape(-1, 3)
    seen = seen_volume(cells[cells[:, 0] < -0.01], BOUNDS)  # dilated by a cell: up to x < -0.0075
    points = torch.tensor([[-0.05, 0.01, 0.0]])  # turned by π about z: (0.05, -0.01, 0), unseen
    axis, angle = torch.tensor([0, 0, 1.0]), torch.tensor([math.pi])
    loss = revolution_l1(sdf, points, torch.zeros(3), axis, angle, BOUNDS, seen)
    assert float(loss.detach()) == pytest.approx(abs(-0.05 - 2.0 * 0.05))
    loss.backward()
    assert seen_param.grad is None or float(seen_param.grad) == 0.0
    assert float(unseen_param.grad) != 0.0
    # without the split both sides learn
    seen_param.grad = unseen_param.grad = None
    revolution_l1(sdf, points, torch.zeros(3), axis, angle, BOUNDS).backward()
    assert float(seen_param.grad) != 0.0 and float(unseen_param.grad) != 0.0
