"""Loss terms of engine I against closed forms."""

import numpy as np
import pytest
import torch

from hold.models.object import ObjectNode, ObjectStart
from hold.train import losses

RADIUS = 0.05


class Sphere(torch.nn.Module):
    """SDF of a sphere of RADIUS at the origin of the object frame."""

    def forward(self, x):
        return x.norm(dim=-1) - RADIUS


def sphere_node(translation=(0.0, 0.0, 0.5), frames=2):
    poses = torch.eye(4).repeat(frames, 1, 1)
    poses[:, :3, 3] = torch.tensor(translation)
    start = ObjectStart(np.array([[-0.08] * 3, [0.08] * 3]), Sphere(), poses.numpy())
    node = ObjectNode(poses, start, grid_resolution=8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the learned residual starts near zero; make it exactly zero
        node.field.sdf_head.layers[-1].weight.zero_()
    return node


def test_penetration_is_the_mean_squared_depth_in_millimetres():
    """With the learned residual at zero the node's SDF is the sphere's: a point 2 mm inside counts (2 mm / 1 mm)² = 4, points outside the sphere or outside the
    field's box count 0; the loss is the mean over all points."""
    obj = sphere_node()
    centre = torch.tensor([0.0, 0.0, 0.5])
    points = torch.stack([centre + torch.tensor([RADIUS - 0.002, 0.0, 0.0]),  # 2 mm inside
                          centre + torch.tensor([0.0, RADIUS + 0.01, 0.0]),  # outside the sphere
                          centre + torch.tensor([0.0, 0.0, 0.3])])[None]  # outside the box
    loss = losses.penetration(obj, points, torch.tensor([1]))
    assert loss.item() == pytest.approx(4.0 / 3.0, rel=1e-4)


def test_penetration_pushes_the_object_off_the_hand():
    """A gradient step on the object's translation moves it away from the penetrating point."""
    obj = sphere_node()
    point = torch.tensor([[[RADIUS - 0.003, 0.0, 0.5]]])  # inside, on the +x side of the centre
    loss = losses.penetration(obj, point, torch.tensor([0]))
    loss.backward()
    # Moving the object by -grad must move it towards -x (away from the point).
    assert obj.trans_delta.grad[0, 0] > 0 and obj.trans_delta.grad[1].abs().sum() == 0


def test_robust_penetration_stops_pulling_far_inside():
    """With a 5 mm Geman–McClure scale a point 2 mm inside costs 5²·2²/(2² + 5²) = 3.448 (near
    the quadratic 4), and a point 30 mm inside (a wrong hand fit) costs less than 5² = 25
    instead of 900, with almost no gradient left."""
    obj = sphere_node()
    centre = torch.tensor([0.0, 0.0, 0.5])
    shallow = (centre + torch.tensor([RADIUS - 0.002, 0.0, 0.0]))[None, None]
    deep = (centre + torch.tensor([RADIUS - 0.030, 0.0, 0.0]))[None, None]
    frame = torch.tensor([0])
    assert losses.penetration(obj, shallow, frame, robust=0.005).item() == pytest.approx(
        25 * 4 / 29, rel=1e-3)
    deep_cost = losses.penetration(obj, deep, frame, robust=0.005)
    assert 24 < deep_cost.item() < 25
    deep_cost.backward()
    shallow_obj = sphere_node()
    losses.penetration(shallow_obj, shallow, frame, robust=0.005).backward()
    assert obj.trans_delta.grad.abs().sum() < 0.05 * shallow_obj.trans_delta.grad.abs().sum()


def test_laplacian_of_a_quadratic_and_a_sphere_matches_the_closed_form():
    """Central differences are exact on a quadratic: Δ(a x² + b y² + c z²) = 2(a + b + c) at every
    point; on a sphere's SDF Δ(|x| − r) = 2 / |x|, up to the O(h²) truncation."""
    points = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    quadratic = lambda x: 1.5 * x[:, 0] ** 2 - 0.5 * x[:, 1] ** 2 + 3.0 * x[:, 2] ** 2  # noqa: E731
    assert losses.laplacian_l1(quadratic, points, 0.01).item() == pytest.approx(8.0, rel=1e-9)
    on_shell = points / points.norm(dim=1, keepdim=True) * 2 * RADIUS
    value = losses.laplacian_l1(Sphere(), on_shell, 0.001).item()
    assert value == pytest.approx(2 / (2 * RADIUS), rel=1e-3)
    flat = lambda x: x[:, 2] - 0.01  # noqa: E731 - a plane: no curvature
    assert losses.laplacian_l1(flat, points, 0.003).item() == pytest.approx(0.0, abs=1e-9)


def test_laplacian_prior_flattens_a_bump():
    """Gradient descent on the curvature prior alone lowers it (a bump on a plane flattens)."""
    height = torch.nn.Parameter(torch.tensor(0.01))
    field = lambda x: x[:, 2] - height * torch.exp(-(x[:, :2] ** 2).sum(1) / 0.02**2)  # noqa: E731
    points = torch.rand(256, 3, generator=torch.Generator().manual_seed(1)) * 0.1 - 0.05
    before = losses.laplacian_l1(field, points, 0.003)
    before.backward()
    assert height.grad.item() > 0  # descending the prior shrinks the bump
