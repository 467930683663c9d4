"""ManoHand against smplx itself, on a synthetic pickle with MANO's exact layout.

No MANO data is used or stored: the test writes random arrays with the official keys and shapes
(and chumpy-like objects, to exercise the chumpy-free unpickler) into a temporary folder.
"""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch
import trimesh

smplx = pytest.importorskip("smplx")

from hold.io.errors import InputError  # noqa: E402
from hold.models.hand import load_hand_model  # noqa: E402
from hold.models.hand.mano import ManoHand, load_mano_pickle  # noqa: E402

DOUBLE = torch.float64
# MANO's joint names (smplx order) and the SEQUENCE_FORMAT 21-keypoint names, written out
# independently of the index tables in hold.models.hand.base.
MANO_JOINTS = ["wrist", "index1", "index2", "index3", "middle1", "middle2", "middle3", "pinky1",
               "pinky2", "pinky3", "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3"]
KEYPOINTS = ["wrist", "thumb1", "thumb2", "thumb3", "thumb_tip", "index1", "index2", "index3",
             "index_tip", "middle1", "middle2", "middle3", "middle_tip", "ring1", "ring2",
             "ring3", "ring_tip", "pinky1", "pinky2", "pinky3", "pinky_tip"]


def tube_with_wrist_hole(rng: np.random.Generator):
    """778 vertices / 1538 faces like MANO: a tube of 48 rings × 16, closed by a pole at the
    fingertip end, open at the wrist end (a 16-vertex ring), with 9 faces split in three."""
    rings, around = 48, 16
    angle = 2 * np.pi * np.arange(around) / around
    x = np.linspace(0.1, -0.08, rings)
    verts = [np.stack([np.full(around, xi), 0.02 * np.sin(angle), 0.03 * np.cos(angle)], 1)
             for xi in x]
    verts = np.concatenate(verts + [np.array([[-0.09, 0.0, 0.0]])])
    faces = []
    for r in range(rings - 1):
        for a in range(around):
            i, j = r * around + a, r * around + (a + 1) % around
            faces += [[i, j, i + around], [j, j + around, i + around]]
    pole = rings * around
    last = (rings - 1) * around
    faces += [[last + a, last + (a + 1) % around, pole] for a in range(around)]
    faces = np.array(faces)
    for f in rng.choice(len(faces), 9, replace=False):  # split: +1 vertex, +2 faces each
        a, b, c = faces[f]
        centre = len(verts)
        verts = np.concatenate([verts, verts[[a, b, c]].mean(0, keepdims=True)])
        faces[f] = [a, b, centre]
        faces = np.concatenate([faces, [[b, c, centre], [c, a, centre]]])
    return verts + 0.002 * rng.normal(size=verts.shape), faces


class _FakeCh:
    """Pickles like chumpy.ch.Ch: module 'chumpy.ch', state = {'x': array, ...}."""

    def __init__(self, x):
        self.x = x
        self.dterms = ("x",)


@pytest.fixture(scope="module")
def mano_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    verts, faces = tube_with_wrist_hole(rng)
    assert verts.shape == (778, 3) and faces.shape == (1538, 3)
    regressor = rng.uniform(size=(16, 778)) * (rng.uniform(size=(16, 778)) < 0.05)
    regressor /= regressor.sum(1, keepdims=True)
    weights = rng.uniform(size=(778, 16)) ** 4
    weights /= weights.sum(1, keepdims=True)
    components, _ = np.linalg.qr(rng.normal(size=(45, 45)))
    data = {
        "v_template": _FakeCh(verts),
        "shapedirs": _FakeCh(0.01 * rng.normal(size=(778, 3, 10))),
        "posedirs": 0.001 * rng.normal(size=(778, 3, 135)),
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "weights": _FakeCh(weights),
        "kintree_table": np.array([[4294967295, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14],
                                   list(range(16))], dtype=np.int64),
        "f": faces.astype(np.uint32),
        "hands_components": components * np.linspace(1.0, 0.1, 45)[:, None],
        "hands_mean": 0.2 * rng.normal(size=45),
        "bs_style": "lbs",
    }
    folder = tmp_path_factory.mktemp("mano")
    fake = types.ModuleType("chumpy.ch")
    _FakeCh.__module__, _FakeCh.__qualname__ = "chumpy.ch", "Ch"
    fake.Ch = _FakeCh
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = types.ModuleType("chumpy"), fake
    try:
        with open(folder / "MANO_RIGHT.pkl", "wb") as file:
            pickle.dump(data, file, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
        _FakeCh.__module__, _FakeCh.__qualname__ = __name__, "_FakeCh"
    return folder


@pytest.fixture(scope="module")
def hand(mano_dir):
    return ManoHand(mano_dir, dtype=DOUBLE)


def reference_mano(mano_dir, flat_hand_mean: bool):
    data = load_mano_pickle(mano_dir / "MANO_RIGHT.pkl")
    return smplx.MANO(str(mano_dir), data_struct=smplx.utils.Struct(**data), use_pca=False,
                      flat_hand_mean=flat_hand_mean, dtype=DOUBLE)


def random_params(count, seed):
    g = torch.Generator().manual_seed(seed)
    return dict(global_orient=torch.randn(count, 3, dtype=DOUBLE, generator=g),
                hand_pose=0.4 * torch.randn(count, 45, dtype=DOUBLE, generator=g),
                betas=torch.randn(count, 10, dtype=DOUBLE, generator=g),
                transl=torch.randn(count, 3, dtype=DOUBLE, generator=g))


def test_missing_model_names_the_path_and_where_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("HOLD_MANO_DIR", raising=False)
    with pytest.raises(InputError, match="mano.is.tue.mpg.de"):
        load_hand_model("mano")
    with pytest.raises(InputError, match=str(tmp_path / "MANO_RIGHT.pkl")):
        load_hand_model("mano", mano_dir=tmp_path)
    monkeypatch.setenv("HOLD_MANO_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="nowhere"):
        load_hand_model("mano")


def test_environment_variable_and_chumpy_free_loading(mano_dir, monkeypatch):
    monkeypatch.setenv("HOLD_MANO_DIR", str(mano_dir))
    model = load_hand_model("mano")
    assert isinstance(model, ManoHand)
    data = load_mano_pickle(mano_dir / "MANO_RIGHT.pkl")
    assert isinstance(data["v_template"], np.ndarray) and data["v_template"].shape == (778, 3)


def test_sealed_mesh_is_closed_with_normalised_weights(hand):
    assert hand.template.shape == (779, 3) and hand.faces.shape == (1538 + 16, 3)
    mesh = trimesh.Trimesh(hand.template.numpy(), hand.faces.numpy(), process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent
    torch.testing.assert_close(hand.skin_weights.sum(1), torch.ones(779, dtype=DOUBLE))


def test_forward_matches_smplx_and_maps_the_21_keypoints(hand, mano_dir):
    params = random_params(4, seed=1)
    out = hand(**params)
    expected = reference_mano(mano_dir, flat_hand_mean=True)(**params)
    torch.testing.assert_close(out.vertices[:, :778], expected.vertices, rtol=0, atol=1e-12)
    ring = hand.ring
    torch.testing.assert_close(out.vertices[:, 778], expected.vertices[:, ring].mean(1))
    tips = {"thumb_tip": 744, "index_tip": 320, "middle_tip": 443, "ring_tip": 554,
            "pinky_tip": 671}
    for k, name in enumerate(KEYPOINTS):
        if name in tips:
            target = expected.vertices[:, tips[name]]
        else:
            target = expected.joints[:, MANO_JOINTS.index(name)]
        torch.testing.assert_close(out.joints[:, k], target, rtol=0, atol=1e-12)


def test_bone_transforms_move_rest_joints_and_skin_without_correctives(hand, mano_dir):
    params = random_params(3, seed=2)
    out = hand(**params)
    _, rest = hand.canonical(params["betas"])
    moved = (out.bone_transforms[..., :3, :3] @ rest[..., None])[..., 0] \
        + out.bone_transforms[..., :3, 3]
    expected = reference_mano(mano_dir, flat_hand_mean=True)(**params).joints
    torch.testing.assert_close(moved, expected, rtol=0, atol=1e-12)
    # Without MANO's pose correctives, LBS of the canonical mesh is the posed mesh (up to smplx
    # storing the weights through float32: rows sum to 1 ± 1e-7, times |x| ≲ 3 m here).
    original = hand.mano.posedirs.clone()
    hand.mano.posedirs.zero_()
    try:
        verts, _ = hand.canonical(params["betas"])
        skinned = torch.einsum("vj,bjrc->bvrc", hand.skin_weights, out.bone_transforms[..., :3, :])
        skinned = (skinned[..., :3] @ verts[..., None])[..., 0] + skinned[..., 3]
        torch.testing.assert_close(skinned[:, :778], hand(**params).vertices[:, :778], rtol=0,
                                   atol=1e-6)
    finally:
        hand.mano.posedirs.copy_(original)


def test_init_file_conversion_reproduces_the_flat_hand_mean_false_convention(hand, mano_dir,
                                                                            tmp_path):
    params = random_params(5, seed=3)
    betas = params["betas"][0]
    np.savez(tmp_path / "mano.npz", hand_pose=params["hand_pose"].numpy(),
             global_orient=params["global_orient"].numpy(), transl=params["transl"].numpy(),
             betas=betas.numpy())
    converted = hand.load_init(tmp_path / "mano.npz")
    ours = hand(**converted).vertices[:, :778]
    theirs = reference_mano(mano_dir, flat_hand_mean=False)(
        global_orient=params["global_orient"], hand_pose=params["hand_pose"],
        betas=betas.expand(5, -1), transl=params["transl"]).vertices
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    np.savez(tmp_path / "bad.npz", hand_pose=np.zeros((5, 44)), global_orient=np.zeros((5, 3)),
             transl=np.zeros((5, 3)), betas=np.zeros(10))
    with pytest.raises(InputError, match="hand_pose"):
        hand.load_init(tmp_path / "bad.npz")


def test_gradients_and_pose_prior(hand):
    params = {k: v.clone().requires_grad_(True) for k, v in random_params(2, seed=4).items()}
    out = hand(**params)
    out.joints.square().sum().backward()
    for key, value in params.items():
        assert value.grad is not None and value.grad.abs().sum() > 0, key
    prior = hand.pose_prior(params["hand_pose"].detach())
    assert (prior > 0).all()
    assert hand.pose_prior(hand.hands_mean[None]).abs().max() < 1e-12


def test_inverse_kinematics_recovers_mano_poses(hand):
    """The generic IK path (no whitened coordinates, MANO's own prior) on MANO's joints."""
    from hold.models.hand.fitting import FitSettings, fit_hand

    params = random_params(2, seed=11)
    params["hand_pose"] = hand.hands_mean + 0.2 * params["hand_pose"]
    params["betas"] = 0.5 * params["betas"][:1].expand(2, -1)
    params["transl"] = 0.05 * params["transl"] + torch.tensor([0.0, 0.0, 0.5], dtype=DOUBLE)
    truth = hand(**params).joints
    fit = fit_hand(hand, joints3d=truth, settings=FitSettings(coarse_iterations=5, iterations=8))
    assert (fit.joints - truth).norm(dim=-1).mean() < 0.002


def test_fast_keypoints_equal_the_full_forward(hand):
    params = random_params(3, seed=12)
    torch.testing.assert_close(hand.keypoints(**params), hand(**params).joints, rtol=0,
                               atol=1e-12)
