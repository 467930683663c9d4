"""The built-in hand model: mesh, skinning, kinematics, keypoints, shape space and pose prior."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh
from scipy.spatial.transform import Rotation

from hold.io.errors import InputError
from hold.models.hand import PARENTS, BuiltinHand, load_hand_model
from hold.models.hand.builtin import ASSET
from hold.models.hand.kinematics import axis_angle_to_matrix
from hold.models.hand.poses import POSE_NAMES, evaluation_poses, named_pose_angles

DOUBLE = torch.float64


@pytest.fixture(scope="module")
def hand():
    return BuiltinHand(dtype=DOUBLE)


def zeros(count, width):
    return torch.zeros(count, width, dtype=DOUBLE)


def random_params(hand, count, seed):
    g = torch.Generator().manual_seed(seed)
    return dict(global_orient=torch.randn(count, 3, dtype=DOUBLE, generator=g),
                hand_pose=0.3 * torch.randn(count, 45, dtype=DOUBLE, generator=g),
                betas=torch.randn(count, hand.num_betas, dtype=DOUBLE, generator=g),
                transl=torch.randn(count, 3, dtype=DOUBLE, generator=g))


def test_asset_is_small_and_the_mesh_closed_manifold_genus_zero(hand):
    assert ASSET.stat().st_size < 1_000_000
    mesh = trimesh.Trimesh(hand.template.numpy(), hand.faces.numpy(), process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.euler_number == 2 and mesh.volume > 0  # a sphere's topology, outward normals
    assert 2000 <= len(hand.faces) <= 10000
    edges = np.sort(mesh.edges, axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # every edge shared by exactly two triangles


def test_realistic_dimensions(hand):
    verts, joints = hand.template.numpy(), hand.rest_joints.numpy()
    assert np.abs(joints[0]).max() == 0  # wrist joint at the origin
    middle_tip = hand.template[hand.tip_vertex_ids[2]].numpy()
    assert 0.18 <= np.linalg.norm(middle_tip) <= 0.19
    # Palm width across the knuckles: long-finger skin between the MCP joints' x range.
    thumb = hand.skin_weights[:, 13:16].sum(1).numpy() > 0.5
    band = (verts[:, 0] > -0.09) & (verts[:, 0] < -0.075) & ~thumb
    width = verts[band, 2].max() - verts[band, 2].min()
    assert 0.08 <= width <= 0.09
    # Orientation: fingers along −x, thumb on +z, palm towards −y (pads below the knuckles).
    assert verts[:, 0].min() < -0.18 and verts[:, 0].max() < 0.04
    assert joints[14:16, 2].min() > joints[[1, 4, 7, 10], 2].max()  # thumb MCP, IP
    # The index finger's middle phalanx: its skin is centred on the bone, flattened slightly.
    index = hand.skin_weights[:, 2].numpy() > 0.6
    assert abs(verts[index, 1].mean() - joints[2, 1]) < 0.002


def test_skinning_weights_normalised_and_smooth(hand):
    weights = hand.skin_weights
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(1), torch.ones(len(weights), dtype=DOUBLE))
    mesh = trimesh.Trimesh(hand.template.numpy(), hand.faces.numpy(), process=False)
    edges = torch.as_tensor(np.array(mesh.edges_unique))
    jump = (weights[edges[:, 0]] - weights[edges[:, 1]]).abs().max(1).values
    assert jump.max() < 0.5  # ~4 mm edges: no edge carries half a bone's influence change
    # Each phalanx's middle is dominated by its own bone.
    for bone in range(1, 16):
        if bone % 3 != 0:  # not a distal phalanx: the segment to the child joint
            middle = 0.5 * (hand.rest_joints[bone] + hand.rest_joints[bone + 1])
            nearest = (hand.template - middle).norm(dim=1).argsort()[:10]
            assert weights[nearest].argmax(1).eq(bone).all(), bone


def test_bending_stretches_no_edge(hand):
    """A fist: no edge tears (weights smooth across joints); only creases compress a lot."""
    angles = torch.deg2rad(torch.tensor(named_pose_angles("fist")))[None]
    out = hand(zeros(1, 3), hand.hand_pose_from_angles(angles), zeros(1, hand.num_betas),
               zeros(1, 3))
    mesh = trimesh.Trimesh(hand.template.numpy(), hand.faces.numpy(), process=False)
    edges = torch.as_tensor(np.array(mesh.edges_unique))
    rest = (hand.template[edges[:, 0]] - hand.template[edges[:, 1]]).norm(dim=1)
    posed = (out.vertices[0, edges[:, 0]] - out.vertices[0, edges[:, 1]]).norm(dim=1)
    ratio = posed / rest
    assert ratio.max() < 2.0 and torch.quantile(ratio, 0.01) > 0.4


def test_zero_pose_is_the_template(hand):
    out = hand(zeros(2, 3), zeros(2, 45), zeros(2, hand.num_betas), zeros(2, 3))
    torch.testing.assert_close(out.vertices[0], hand.template, rtol=0, atol=1e-15)
    eye = torch.eye(4, dtype=DOUBLE).expand(2, 16, 4, 4)
    assert torch.equal(out.bone_transforms, eye)
    assert torch.equal(out.rest_joints[0], hand.rest_joints)


def test_keypoint_order_follows_the_anatomy(hand):
    """The 21 keypoints in SEQUENCE_FORMAT order, checked against the flat hand's geometry."""
    out = hand(zeros(1, 3), zeros(1, 45), zeros(1, hand.num_betas), zeros(1, 3))
    k = out.joints[0]
    assert torch.equal(k[0], torch.zeros(3, dtype=DOUBLE))  # wrist
    chains = {"thumb": [1, 2, 3, 4], "index": [5, 6, 7, 8], "middle": [9, 10, 11, 12],
              "ring": [13, 14, 15, 16], "pinky": [17, 18, 19, 20]}
    for chain in chains.values():  # each chain moves away from the wrist
        reach = k[chain].norm(dim=1)
        assert (reach[1:] > reach[:-1]).all()
    mcp_side = [float(k[chains[n][0], 2]) for n in ("index", "middle", "ring", "pinky")]
    assert mcp_side == sorted(mcp_side, reverse=True)  # index → pinky from the thumb side
    assert k[[2, 3, 4], 2].min() > k[[5, 9, 13, 17], 2].max()  # the thumb is outermost
    assert int(k[:, 0].argmin()) == 12  # the middle fingertip reaches furthest
    # Tips are skin vertices at the ends of the fingers.
    torch.testing.assert_close(k[[4, 8, 12, 16, 20]], hand.template[hand.tip_vertex_ids])


def test_bone_transforms_match_joints_and_skinning(hand):
    params = random_params(hand, 3, seed=1)
    out = hand(**params)
    verts, rest = hand.canonical(params["betas"])
    a = out.bone_transforms
    moved = (a[..., :3, :3] @ rest[..., None])[..., 0] + a[..., :3, 3]
    order = [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3]  # bone → keypoint
    torch.testing.assert_close(moved, out.joints[:, order], rtol=0, atol=1e-12)
    # LBS written out vertex by vertex for a few vertices.
    for v in (0, 777, 2000, int(hand.tip_vertex_ids[1])):
        blended = sum(hand.skin_weights[v, j] * a[:, j] for j in range(16))
        expected = (blended[:, :3, :3] @ verts[:, v, :, None])[..., 0] + blended[:, :3, 3]
        torch.testing.assert_close(out.vertices[:, v], expected, rtol=0, atol=1e-12)
    # Rotations are proper and compose along the tree: R_j = R_parent · R_local(θ_j).
    local = axis_angle_to_matrix(params["hand_pose"].reshape(3, 15, 3))
    for j in range(1, 16):
        torch.testing.assert_close(a[:, j, :3, :3], a[:, PARENTS[j], :3, :3] @ local[:, j - 1],
                                   rtol=0, atol=1e-12)


def test_global_pose_is_a_rigid_motion_about_the_wrist(hand):
    params = random_params(hand, 2, seed=2)
    out = hand(**params)
    local = hand(zeros(2, 3), params["hand_pose"], params["betas"], zeros(2, 3))
    rotation = torch.tensor(Rotation.from_rotvec(params["global_orient"].numpy()).as_matrix())
    expected = local.vertices @ rotation.transpose(1, 2) + params["transl"][:, None]
    torch.testing.assert_close(out.vertices, expected, rtol=0, atol=1e-12)


def test_fast_keypoints_equal_the_full_forward(hand):
    params = random_params(hand, 4, seed=3)
    torch.testing.assert_close(hand.keypoints(**params), hand(**params).joints, rtol=0,
                               atol=1e-14)


def test_rodrigues_matches_scipy_and_is_smooth_at_zero():
    vectors = torch.randn(50, 3, dtype=DOUBLE, generator=torch.Generator().manual_seed(4))
    vectors[0] = 0
    vectors[1] = 1e-6
    expected = torch.tensor(Rotation.from_rotvec(vectors.numpy()).as_matrix())
    torch.testing.assert_close(axis_angle_to_matrix(vectors), expected, rtol=0, atol=1e-14)
    zero = torch.zeros(3, dtype=DOUBLE, requires_grad=True)
    axis_angle_to_matrix(zero)[0, 1].backward()
    torch.testing.assert_close(zero.grad, torch.tensor([0.0, 0.0, -1.0], dtype=DOUBLE))


def test_shape_space_does_what_its_names_say(hand):
    assert hand.beta_names == ("size", "finger_length", "thickness", "palm_width")
    base_verts, base_joints = hand.canonical(zeros(1, hand.num_betas))

    def shaped(index, value=1.0):
        betas = zeros(1, hand.num_betas)
        betas[0, index] = value
        return hand.canonical(betas)

    verts, joints = shaped(0)  # size: +5 % about the wrist, exactly
    torch.testing.assert_close(verts, 1.05 * base_verts, rtol=0, atol=1e-7)
    torch.testing.assert_close(joints, 1.05 * base_joints, rtol=0, atol=1e-7)

    def finger_length(j):  # MCP → PIP → DIP of the middle finger, + tip
        chain = torch.cat([j[0, [4, 5, 6]], verts_tip(j)], 0)
        return (chain[1:] - chain[:-1]).norm(dim=1)

    verts, joints = shaped(1)  # finger length: phalanges +5 %, palm unchanged

    def verts_tip(_):
        return verts[0, hand.tip_vertex_ids[2]][None]

    lengthened = finger_length(joints)
    verts = base_verts

    base = finger_length(base_joints)
    torch.testing.assert_close(lengthened[:2], 1.05 * base[:2], rtol=1e-6, atol=0)
    torch.testing.assert_close(joints[0, [1, 4, 7, 10, 13]], base_joints[0, [1, 4, 7, 10, 13]])

    verts, joints = shaped(2)  # thickness: joints fixed, the proximal phalanx +6 % in girth
    torch.testing.assert_close(joints, base_joints)
    skin = hand.skin_weights[:, 4] > 0.7  # middle finger, proximal phalanx
    axis = (base_joints[0, 5] - base_joints[0, 4]) / (base_joints[0, 5] - base_joints[0, 4]).norm()

    def radius(points):
        offset = points - base_joints[0, 4]
        return (offset - (offset @ axis)[:, None] * axis).norm(dim=1).mean()

    assert 1.05 < float(radius(verts[0, skin]) / radius(base_verts[0, skin])) < 1.07

    verts, joints = shaped(3)  # palm width: MCPs spread sideways by 5 %, no change along x
    spread = joints[0, 1, 2] - joints[0, 7, 2]
    torch.testing.assert_close(spread, 1.05 * (base_joints[0, 1, 2] - base_joints[0, 7, 2]))
    torch.testing.assert_close(joints[..., :2], base_joints[..., :2])

    two = zeros(1, hand.num_betas)
    two[0, :2] = torch.tensor([0.7, -1.3], dtype=DOUBLE)  # linear: offsets add
    combined, _ = hand.canonical(two)
    separate = 0.7 * (shaped(0)[0] - base_verts) - 1.3 * (shaped(1)[0] - base_verts)
    torch.testing.assert_close(combined - base_verts, separate, rtol=0, atol=1e-12)


def test_gradients_reach_every_parameter(hand):
    params = {k: v.requires_grad_(True) for k, v in random_params(hand, 2, seed=5).items()}
    out = hand(**params)
    (out.vertices.square().sum() + out.joints.square().sum()).backward()
    for name, value in params.items():
        assert value.grad is not None and torch.isfinite(value.grad).all(), name
        assert value.grad.abs().sum() > 0, name
    small = {k: v.detach()[:1].clone().requires_grad_(True) for k, v in params.items()}
    torch.autograd.gradcheck(lambda g, p, b, t: hand.keypoints(g, p, b, t), tuple(small.values()))


def test_angles_are_hinges_that_bend_towards_the_palm(hand):
    angles = zeros(15, 3)
    angles[1, 0] = math.radians(60)  # index PIP flexion
    pose = hand.hand_pose_from_angles(angles)
    torch.testing.assert_close(hand.angles_from_hand_pose(pose), angles)
    flexed = hand.keypoints(zeros(1, 3), pose[None], zeros(1, hand.num_betas), zeros(1, 3))[0]
    flat = hand.keypoints(zeros(1, 3), zeros(1, 45), zeros(1, hand.num_betas), zeros(1, 3))[0]
    assert flexed[8, 1] < flat[8, 1] - 0.02  # the tip moves towards the palm (−y)
    # A hinge: the bone keeps its length and the rotation is 60° about the flexion axis.
    torch.testing.assert_close((flexed[7] - flexed[6]).norm(), (flat[7] - flat[6]).norm())
    before, after = flat[7] - flat[6], flexed[7] - flexed[6]
    cosine = (before @ after) / (before.norm() * after.norm())
    torch.testing.assert_close(cosine, torch.tensor(0.5, dtype=DOUBLE))


def test_pose_prior_is_low_for_hands_and_high_for_contortions(hand):
    named = torch.stack([hand.hand_pose_from_angles(torch.deg2rad(torch.tensor(
        named_pose_angles(n)))) for n in POSE_NAMES])
    plausible = hand.pose_prior(named)
    _, perturbed, _ = evaluation_poses(hand, 20, seed=1)
    assert (plausible >= 0).all() and plausible.max() < 10
    assert hand.pose_prior(perturbed).max() < 30
    bent_back = zeros(15, 3)
    bent_back[1, 0] = math.radians(-60)  # index PIP hyperextended by 60°
    twisted = zeros(15, 3)
    twisted[4, 2] = math.radians(45)  # middle PIP twisted by 45°
    sideways = zeros(15, 3)
    sideways[5, 1] = math.radians(40)  # middle DIP bent sideways
    contortions = hand.pose_prior(hand.hand_pose_from_angles(torch.stack(
        [bent_back, twisted, sideways])))
    assert contortions.min() > 20 * plausible.max()
    random = 0.5 * torch.randn(100, 45, dtype=DOUBLE, generator=torch.Generator().manual_seed(6))
    assert (hand.pose_prior(random) >= 0).all()
    torch.testing.assert_close(hand.pose_prior(named), 0.5 * (hand.pose_prior_residuals(
        named) ** 2).sum(1))


def test_pose_whitening_maps_the_prior_to_unit_gaussian(hand):
    mean, scale = hand.pose_whitening()
    z = torch.randn(5, 45, dtype=DOUBLE, generator=torch.Generator().manual_seed(7)) * 0.3
    pose = mean + z @ scale.T
    gaussian = hand.pose_prior_residuals(pose)[:, :45]
    torch.testing.assert_close(gaussian.square().sum(1), z.square().sum(1))


def test_load_hand_model():
    assert isinstance(load_hand_model("builtin"), BuiltinHand)
    assert load_hand_model().template.dtype == torch.float32
    with pytest.raises(InputError, match="smpl"):
        load_hand_model("smpl")
