"""Each refinement term on a constructed case: penetration pushes a hand out of a box,
contact pulls a hand 2 cm away onto it, silhouettes move a shifted hand back."""

import numpy as np
import pytest
import torch

from hold.models.fields.priors import VolumeSDF
from hold.models.hand.builtin import BuiltinHand
from hold.refine import terms

BOX_HALF = torch.tensor([0.04, 0.04, 0.04])


@pytest.fixture(autouse=True)
def one_thread():
    """Hundreds of tiny optimisation steps: one thread is faster than two here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def box_sdf_volume(center: torch.Tensor, res: int = 48) -> VolumeSDF:
    lo, hi = center - 0.12, center + 0.12
    axes = [torch.linspace(float(lo[d]), float(hi[d]), res) for d in range(3)]
    z, y, x = torch.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    q = (torch.stack([x, y, z], -1) - center).abs() - BOX_HALF
    sdf = q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)
    return VolumeSDF(sdf, torch.stack([lo, hi]))


def hand_vertices(hand, transl):
    zero = torch.zeros(1, 3)
    return hand(zero, torch.zeros(1, 45), torch.zeros(1, hand.num_betas), transl[None]).vertices[0]


def place_below_palm(hand, gap: float):
    """A box centre so that the box's top face is `gap` below the palm's lowest contact vertex
    (palm faces −y: the box lies on the palmar side). Negative gap = penetration."""
    verts = hand_vertices(hand, torch.zeros(3)).detach()
    zone = verts[terms.contact_zone(hand)]
    palm = zone[zone[:, 1].argmin()]
    return torch.tensor([float(palm[0]), float(palm[1]) - gap - BOX_HALF[1], float(palm[2])])


def optimise_translation(loss_fn, steps=150, lr=1e-3):
    transl = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([transl], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(transl).backward()
        opt.step()
    return transl.detach()


def test_penetration_pushes_a_hand_1cm_inside_a_box_out():
    hand = BuiltinHand()
    sdf = box_sdf_volume(place_below_palm(hand, -0.01))
    depth0 = -sdf(hand_vertices(hand, torch.zeros(3)).detach()).min()
    assert 0.008 < depth0 < 0.012  # the constructed case: 1 cm inside
    transl = optimise_translation(
        lambda t: terms.penetration_penalty(sdf(hand_vertices(hand, t))[None]))
    depth = -sdf(hand_vertices(hand, transl).detach()).min()
    assert depth < 0.0015, f"still {depth * 1000:.2f} mm inside"


def test_contact_pulls_a_hand_2cm_away_into_contact():
    hand = BuiltinHand()
    ids = terms.contact_zone(hand)
    sdf = box_sdf_volume(place_below_palm(hand, 0.02))
    gap0 = sdf(hand_vertices(hand, torch.zeros(3))[ids].detach()).min()
    assert 0.018 < gap0 < 0.022
    transl = optimise_translation(
        lambda t: terms.contact_penalty(sdf(hand_vertices(hand, t)[ids])[None]), steps=200)
    gap = sdf(hand_vertices(hand, transl)[ids].detach()).abs().min()
    assert gap < 0.002, f"nearest contact vertex still {gap * 1000:.2f} mm away"
    assert transl[1] < -0.015  # it moved towards the box (−y), not elsewhere


def _hand_mask(hand, transl, K, size):
    """Label image of the hand mesh by ray casting (150 = hand)."""
    import trimesh

    verts = hand_vertices(hand, transl).detach().numpy()
    mesh = trimesh.Trimesh(verts, hand.faces.numpy(), process=False)
    v, u = np.mgrid[0:size, 0:size]
    dirs = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u, float)], -1)
    hit = mesh.ray.intersects_any(np.zeros((size * size, 3)), dirs.reshape(-1, 3))
    return np.where(hit.reshape(size, size), 150, 0).astype(np.uint8)


def test_silhouette_terms_move_a_shifted_hand_back():
    hand = BuiltinHand()
    K = torch.tensor([[300.0, 0, 64], [0, 300.0, 64], [0, 0, 1]])
    true_t = torch.tensor([0.05, 0.0, 0.45])  # hand in front of the camera
    labels = _hand_mask(hand, true_t, K.numpy(), 128)[None]
    outside = torch.from_numpy(terms.distance_outside(labels == 150))
    targets = terms.mask_targets(labels, 150, 400, seed=0)
    start = true_t + torch.tensor([0.01, -0.008, 0.0])  # shifted by ~1.3 cm in the image plane

    def loss(t):
        uv = terms.project(hand_vertices(hand, start + t)[None], K)
        return terms.outside_penalty(uv, outside) + terms.coverage_penalty(uv, *targets)

    delta = optimise_translation(loss, steps=200, lr=5e-4)
    error = (start + delta - true_t)[:2].norm()
    assert error < 0.002, f"{error * 1000:.2f} mm from the true position"
