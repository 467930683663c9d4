"""MANO (Romero, Tzionas & Black, SIGGRAPH Asia 2017) through smplx, behind ``HandModel``.

MANO is not redistributable: the user downloads ``MANO_RIGHT.pkl`` from
https://mano.is.tue.mpg.de (free registration) and points hold-fast at it with ``mano_dir``
or the environment variable ``HOLD_MANO_DIR``. The official pickle stores some arrays as
chumpy objects; ``load_mano_pickle`` reads it without chumpy (a stub class takes their state).

Differences from a bare ``smplx.MANO``, all to fit the ``HandModel`` conventions:

- ``hand_pose`` is the full 45-d axis-angle with ``flat_hand_mean=True`` (zero = flat hand).
  ``from_smplx_params`` converts the smplx ``flat_hand_mean=False`` convention of
  ``init/mano.npz`` (θ_flat = θ_file + hands_mean).
- The mesh is sealed like HOLD's: one extra vertex at the centre of the 16-vertex wrist
  opening (the mean of the ring, also after posing) and a fan of faces, so it is closed.
- ``joints`` are the 21 keypoints: MANO's 16 joints reordered (``KEYPOINTS_FROM_BONES``) plus
  the fingertip vertices of ``smplx.vertex_ids.vertex_ids['mano']``.
- ``bone_transforms`` are smplx's A matrices (rotation about each joint, global orientation
  about the wrist joint) plus ``transl``. MANO adds pose-corrective offsets before skinning, so
  for MANO ``Σ_j w_j A_j v_can`` differs from the posed vertices by those offsets (mm).
"""

from __future__ import annotations

import os
import pathlib
import pickle

import numpy as np
import torch

from hold.io.errors import InputError
from hold.models.hand.base import KEYPOINTS_FROM_BONES, TIP_KEYPOINTS, HandModel, HandOutput

MANO_URL = "https://mano.is.tue.mpg.de"
MANO_DIR_ENV = "HOLD_MANO_DIR"
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")  # the 21-keypoint order of the tips
INIT_KEYS = {"hand_pose": (-1, 45), "global_orient": (-1, 3), "transl": (-1, 3), "betas": (10,)}


def resolve_mano_path(mano_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Path of MANO_RIGHT.pkl from ``mano_dir`` (a folder or the file) or $HOLD_MANO_DIR."""
    source = mano_dir if mano_dir is not None else os.environ.get(MANO_DIR_ENV)
    if source is None:
        raise InputError(
            f"no MANO model given: pass mano_dir or set {MANO_DIR_ENV} to the folder with "
            f"MANO_RIGHT.pkl (download it from {MANO_URL}, registration required)")
    path = pathlib.Path(source).expanduser()
    if path.is_dir():
        path = path / "MANO_RIGHT.pkl"
    if not path.is_file():
        raise InputError(f"MANO model not found at {path}: download MANO_RIGHT.pkl from "
                         f"{MANO_URL} (registration required)")
    return path


class _ChumpyStub:
    """Stands in for chumpy.ch.Ch while unpickling: keeps the pickled state (array in ``x``)."""

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"x": state})


class _NoChumpyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.split(".")[0] == "chumpy":
            return _ChumpyStub
        return super().find_class(module, name)


def load_mano_pickle(path: str | os.PathLike) -> dict:
    """The MANO pickle as a dict of numpy arrays (or scipy.sparse), without needing chumpy."""
    try:
        with open(path, "rb") as file:
            data = _NoChumpyUnpickler(file, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise InputError(f"{path}: not a readable MANO pickle ({error})") from error
    if not isinstance(data, dict) or "v_template" not in data:
        raise InputError(f"{path}: not a MANO model (no 'v_template' key)")
    return {key: np.asarray(value.x) if isinstance(value, _ChumpyStub) else value
            for key, value in data.items()}


def wrist_ring(faces: np.ndarray) -> np.ndarray:
    """The boundary loop of an open mesh as ordered directed edges [L, 2] (face orientation)."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    keys = {tuple(e) for e in directed.tolist()}
    boundary = np.array([e for e in directed.tolist() if (e[1], e[0]) not in keys])
    if len(boundary) == 0 or len(np.unique(boundary[:, 0])) != len(boundary):
        raise InputError("MANO faces: expected exactly one open boundary loop (the wrist)")
    return boundary


class ManoHand(HandModel):
    """MANO right hand (smplx, ``use_pca=False``, ``flat_hand_mean=True``), sealed at the wrist.

    Buffers beyond ``HandModel``'s: ``ring`` [L] (wrist-opening vertices), ``hands_mean`` [45]
    and ``pose_precision_root`` [45, 45] (the prior, see ``pose_prior``).
    """

    num_betas = 10

    def __init__(self, mano_dir: str | os.PathLike | None = None,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        import smplx  # optional dependency: only needed with MANO
        from smplx.vertex_ids import vertex_ids

        path = resolve_mano_path(mano_dir)
        data = load_mano_pickle(path)
        # Our own arrays, not smplx's loader: that one needs chumpy for the official pickle.
        self.mano = smplx.MANO(str(path), data_struct=smplx.utils.Struct(**data), is_rhand=True,
                               use_pca=False, flat_hand_mean=True, dtype=dtype,
                               create_global_orient=False, create_hand_pose=False,
                               create_betas=False, create_transl=False)
        faces = np.asarray(data["f"], dtype=np.int64)
        boundary = wrist_ring(faces)
        centre = len(data["v_template"])
        # Reversed ring edges + the centre: the fan's winding agrees with the open mesh's.
        cap = np.stack([boundary[:, 1], boundary[:, 0], np.full(len(boundary), centre)], 1)
        self.register_buffer("faces", torch.as_tensor(np.concatenate([faces, cap])))
        self.register_buffer("ring", torch.as_tensor(boundary[:, 0]))
        template = self.mano.v_template
        self.register_buffer("template", torch.cat([template, template[self.ring].mean(0)[None]]))
        weights = self.mano.lbs_weights
        self.register_buffer("skin_weights", torch.cat([weights, weights[self.ring].mean(0)[None]]))
        tips = [vertex_ids["mano"][name] for name in TIP_ORDER]  # smplx's MANO fingertips
        self.register_buffer("tip_vertex_ids", torch.tensor(tips))
        # Keypoint maps (constants, not saved): buffers so they move with the model, where
        # tensors made per call would be blocking host → device copies on a GPU.
        self.register_buffer("keypoint_bones", torch.tensor(KEYPOINTS_FROM_BONES).clamp(min=0),
                             persistent=False)
        self.register_buffer("tip_keypoint_rows", torch.tensor(TIP_KEYPOINTS), persistent=False)
        self.register_buffer("hands_mean", torch.as_tensor(np.asarray(data["hands_mean"]),
                                                           dtype=dtype).reshape(45))
        components = torch.as_tensor(np.asarray(data["hands_components"]), dtype=torch.float64)
        # Σ⁺ = L Lᵀ from the eigen-decomposition of Σ = Cᵀ C (pseudo-inverse: C may be rank
        # deficient), so that the prior is ½ |Lᵀ (θ − μ)|².
        values, vectors = torch.linalg.eigh(components.T @ components)
        inverse = torch.where(values > 1e-10 * values.max(), 1 / values, torch.zeros_like(values))
        self.register_buffer("pose_precision_root", (vectors * inverse.sqrt()).to(dtype))

    def _seal(self, verts: torch.Tensor) -> torch.Tensor:
        # The cap vertex follows the ring's mean, so it never drifts from the opening.
        return torch.cat([verts, verts[:, self.ring].mean(1, keepdim=True)], 1)

    def _shaped(self, betas: torch.Tensor):
        from smplx.lbs import blend_shapes, vertices2joints

        verts = self.mano.v_template + blend_shapes(betas, self.mano.shapedirs)
        return verts, vertices2joints(self.mano.J_regressor, verts)

    def canonical(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Canonical (flat, shaped, no pose correctives) vertices [B, V, 3], joints [B, 16, 3]."""
        verts, joints = self._shaped(betas.reshape(-1, self.num_betas))
        return self._seal(verts), joints

    def _pose(self, global_orient, hand_pose, betas, transl):
        """smplx's kinematics without skinning: (shaped vertices [B, 778, 3], rest joints,
        rotations [B, 16, 3, 3], transforms A [B, 16, 4, 4] (before transl), posed joints
        [B, 16, 3] (with transl))."""
        from smplx.lbs import batch_rigid_transform, batch_rodrigues

        batch = global_orient.shape[0]
        verts, rest = self._shaped(betas.reshape(-1, self.num_betas).expand(batch, -1))
        pose = torch.cat([global_orient, hand_pose], 1)
        rotations = batch_rodrigues(pose.reshape(-1, 3)).reshape(batch, 16, 3, 3)
        joints, transforms = batch_rigid_transform(rotations, rest, self.mano.parents,
                                                   dtype=pose.dtype)
        return verts, rest, rotations, transforms, joints + transl[:, None]

    def _keypoints(self, joints16: torch.Tensor, tips: torch.Tensor) -> torch.Tensor:
        """[B, 16, 3] joints + [B, 5, 3] tips → [B, 21, 3] in SEQUENCE_FORMAT order."""
        keypoints = joints16.index_select(1, self.keypoint_bones)
        return keypoints.index_copy(1, self.tip_keypoint_rows, tips)

    def forward(self, global_orient, hand_pose, betas, transl) -> HandOutput:
        batch = global_orient.shape[0]
        output = self.mano(betas=betas.reshape(-1, self.num_betas).expand(batch, -1),
                           global_orient=global_orient, hand_pose=hand_pose, transl=transl)
        _, rest, _, transforms, joints16 = self._pose(global_orient, hand_pose, betas, transl)
        shift = torch.zeros_like(transforms)
        shift[..., :3, 3] = transl[:, None]
        verts = self._seal(output.vertices)
        return HandOutput(verts, self._keypoints(joints16, verts[:, self.tip_vertex_ids]),
                          transforms + shift, rest)

    def keypoints(self, global_orient, hand_pose, betas, transl) -> torch.Tensor:
        """The 21 keypoints [B, 21, 3] skinning only the 5 tip vertices (for fitting).

        Same as ``forward(...).joints``: the tips get MANO's pose correctives and LBS, and
        ``transl`` is added after skinning as smplx does.
        """
        verts, _, rotations, transforms, joints16 = self._pose(global_orient, hand_pose, betas,
                                                               transl)
        batch, tips = len(verts), self.tip_vertex_ids
        # MANO's pose correctives, as in smplx.lbs: offsets linear in (R_j − I) of bones 1..15;
        # smplx stores posedirs as [135, 778·3], so vertex v owns columns 3v .. 3v + 2.
        eye = torch.eye(3, dtype=verts.dtype, device=verts.device)
        pose_feature = (rotations[:, 1:] - eye).reshape(batch, -1)  # [B, 135]
        columns = (3 * tips[:, None] + torch.arange(3, device=tips.device)).reshape(-1)
        corrected = verts[:, tips] + (pose_feature @ self.mano.posedirs[:, columns]).reshape(
            batch, len(tips), 3)
        blended = torch.einsum("vj,bjrc->bvrc", self.mano.lbs_weights[tips],
                               transforms[..., :3, :])
        posed_tips = (blended[..., :3] @ corrected[..., None])[..., 0] + blended[..., 3]
        return self._keypoints(joints16, posed_tips + transl[:, None])

    def pose_prior_residuals(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """Residuals [B, 45] whose half squared norm is ``pose_prior``: Lᵀ (θ − μ), Σ⁺ = L Lᵀ."""
        return (hand_pose - self.hands_mean) @ self.pose_precision_root

    def pose_prior(self, hand_pose: torch.Tensor) -> torch.Tensor:
        """½ (θ − μ)ᵀ Σ⁺ (θ − μ) per sample [B]: Mahalanobis distance from MANO's mean hand.

        μ = ``hands_mean`` and Σ = Cᵀ C from MANO's 45 PCA components C (``hands_components``);
        ≥ 0 and zero at the mean hand.
        """
        return 0.5 * (self.pose_prior_residuals(hand_pose) ** 2).sum(-1)

    def from_smplx_params(self, params: dict) -> dict:
        """smplx ``flat_hand_mean=False`` parameters → this model's (``hand_pose`` + mean).

        ``params`` holds hand_pose [T, 45], global_orient [T, 3], transl [T, 3], betas [10]
        (arrays or tensors); returns tensors, betas as [T, 10].
        """
        out = {key: torch.as_tensor(np.asarray(params[key]), dtype=self.template.dtype)
               for key in INIT_KEYS}
        out["hand_pose"] = out["hand_pose"] + self.hands_mean  # relative to mean → to flat
        out["betas"] = out["betas"].reshape(1, -1).expand(len(out["hand_pose"]), -1)
        return out

    def load_init(self, path: str | os.PathLike) -> dict:
        """Read ``init/mano.npz`` (docs/SEQUENCE_FORMAT.md) and convert it (``from_smplx_params``)."""
        try:
            with np.load(path) as file:
                params = {key: file[key] for key in file.files}
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: not a readable .npz file ({error})") from error
        frames = None  # taken from the first per-frame array, then enforced on the others
        for key, shape in INIT_KEYS.items():
            if key not in params:
                raise InputError(f"{path}: missing '{key}' (expected {INIT_KEYS})")
            value = params[key]
            frames = len(value) if frames is None and shape[0] == -1 else frames
            expected = tuple(frames if s == -1 else s for s in shape)
            if value.shape != expected:
                raise InputError(f"{path}: '{key}' has shape {value.shape}, expected {expected}")
        return self.from_smplx_params(params)
