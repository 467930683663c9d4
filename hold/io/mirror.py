"""Left hands as mirrored right hands: the one place where the mirror x → −x is written.

hold-fast's models are right hands. A left-hand video is processed as its mirror image (every
frame flipped left–right), where the left hand becomes a right hand, and everything is mirrored
back before it is written, so sequence and result folders describe the original video.

The mirror is M = diag(−1, 1, 1) on the OpenCV camera frame. A camera point X projects to
u = fx·x/z + s·y/z + cx; in the flipped image (pixel centres at integers, width W) the same
pixel sits at u' = W − 1 − u = fx·(−x)/z − s·y/z + (W − 1 − cx): the flipped image is the view
of the mirrored scene M·X through K' = K with s → −s and cx → W − 1 − cx.

A mirror has determinant −1, so it never appears inside a pose: a rigid pose T (object frame →
camera) is carried over by conjugation, T' = M T M, which is rigid again (det +1), with the
object's own frame mirrored too (its points and mesh map by M). The same holds for every
rotation: an axis-angle ω maps to −M·ω = (ω_x, −ω_y, −ω_z), the convention that turns a right
hand model's parameters into those of its mirror image (the left hand). Meshes flip their
triangles' winding so that normals still point outwards.

Every function here is its own inverse.
"""

from __future__ import annotations

import numpy as np

MIRROR = np.diag([-1.0, 1.0, 1.0])
AXIS_ANGLE_SIGN = np.array([1.0, -1.0, -1.0])  # −M·ω for an axis-angle ω


def mirror_K(K: np.ndarray, width: int) -> np.ndarray:
    """Intrinsics of the flipped image (width in pixels): skew and cx = W − 1 − cx mirrored."""
    K = np.array(K, dtype=np.float64)
    K[0, 1] = -K[0, 1]
    K[0, 2] = width - 1 - K[0, 2]
    return K


def mirror_images(images: np.ndarray) -> np.ndarray:
    """RGB frames [..., H, W, C] flipped left–right (a contiguous copy)."""
    return np.ascontiguousarray(np.flip(np.asarray(images), axis=-2))


def mirror_masks(masks: np.ndarray) -> np.ndarray:
    """Label images [..., H, W] flipped left–right (a contiguous copy)."""
    return np.ascontiguousarray(np.flip(np.asarray(masks), axis=-1))


def mirror_pixels(uv: np.ndarray, width: int) -> np.ndarray:
    """Pixel rows [..., ≥2] (u, v, ...): u → W − 1 − u; NaN stays NaN."""
    uv = np.array(uv, dtype=np.result_type(np.asarray(uv).dtype, np.float32))
    uv[..., 0] = width - 1 - uv[..., 0]
    return uv


def mirror_points(points: np.ndarray) -> np.ndarray:
    """Points [..., 3] in the camera (or object) frame: x → −x."""
    points = np.array(points, copy=True)
    points[..., 0] = -points[..., 0]
    return points


def mirror_poses(poses: np.ndarray) -> np.ndarray:
    """Rigid poses [..., 4, 4] conjugated by the mirror: M T M (det stays +1)."""
    m = np.diag([-1.0, 1.0, 1.0, 1.0]).astype(np.asarray(poses).dtype)
    return m @ np.asarray(poses) @ m


def mirror_axis_angles(values: np.ndarray) -> np.ndarray:
    """Axis-angle rows [..., 3k] (k rotations per row): each (x, y, z) → (x, −y, −z)."""
    values = np.asarray(values)
    shaped = values.reshape(values.shape[:-1] + (-1, 3)) * AXIS_ANGLE_SIGN.astype(values.dtype)
    return shaped.reshape(values.shape)


def mirror_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A mesh's mirror image: vertices [..., V, 3] x → −x, faces [F, 3] in reversed winding."""
    return mirror_points(vertices), np.ascontiguousarray(np.asarray(faces)[:, ::-1])


def mirror_hand_params(params: dict) -> dict:
    """Hand-model parameters of the mirror image (smplx conventions): global_orient and
    hand_pose axis-angles by ``mirror_axis_angles``, transl x → −x, betas unchanged.

    Exact for a model whose mirror twin has the mirrored template and rest joints (the built-in
    hand's left twin): posed vertices v = R(v_c − J0) + J0 + transl map to M·v. MANO's own left
    model is close to, not exactly, the mirror of its right model.
    """
    out = dict(params)
    for key in ("global_orient", "hand_pose"):
        if key in out:
            out[key] = mirror_axis_angles(np.asarray(out[key]))
    if "transl" in out:
        out["transl"] = mirror_points(np.asarray(out["transl"]))
    return out


# --------------------------------------------------------------------------- the engine's view


def _mirror_init(init, width: int):
    """A SequenceInit of the mirrored video (NaN rows stay NaN)."""
    from hold.io.sequence import SequenceInit

    def maybe(value, function):
        return None if value is None else function(value)

    mano = None
    if init.mano is not None:
        # Exact for the axis-angles; init/mano.npz's flat_hand_mean=False offsets are taken as
        # mirror-symmetric (MANO's left mean pose is the mirrored right one up to the models'
        # small asymmetry).
        mano = mirror_hand_params(init.mano)
    return SequenceInit(
        hand_joints=maybe(init.hand_joints, mirror_points),
        hand_keypoints2d=maybe(init.hand_keypoints2d, lambda kp: mirror_pixels(kp, width)),
        object_poses=maybe(init.object_poses, mirror_poses),
        object_points=maybe(init.object_points, mirror_points),
        mano=mano,
        provenance=init.provenance,
    )


def engine_view(seq):
    """The sequence as the right-handed engine sees it: a right-hand sequence unchanged, a
    left-hand one (``"hands": ["left"]``) as its mirror image, a right-hand sequence whose
    frames, masks, K and init/ are all mirrored (read lazily, frame by frame). Results trained
    on the view go back to the original video with ``result_to_original``."""
    from hold.io.sequence import Sequence

    if tuple(seq.meta.hands) != ("left",):
        return seq
    width = seq.meta.image_size[0]

    class MirroredSequence(Sequence):
        def image(self, t: int) -> np.ndarray:
            return mirror_images(Sequence.image(self, t))

        def mask(self, t: int) -> np.ndarray:
            return mirror_masks(Sequence.mask(self, t))

    from dataclasses import replace

    meta = replace(seq.meta, K=mirror_K(seq.meta.K, width), hands=("right",))
    view = MirroredSequence(seq.root, meta, seq.image_paths, seq.mask_paths, _mirror_init(seq.init, width))
    view.original = seq
    return view


def result_to_original(hands, object_mesh, object_poses, hand_joints, hand_meshes=None, hand_params=None):
    """The engine's outputs for a sequence of ``hands`` in the original video's camera frame:
    unchanged for a right hand; mirrored back for a left hand (meshes with reversed winding,
    poses conjugated, the hand's parameters converted by ``mirror_hand_params`` with
    ``side = "left"`` added). Returns (object_mesh, object_poses, hand_joints, hand_meshes,
    hand_params) with object_mesh and hand_meshes as (vertices, faces) pairs."""
    if tuple(hands) != ("left",):
        return object_mesh, object_poses, hand_joints, hand_meshes, hand_params
    object_mesh = mirror_mesh(*object_mesh)
    if hand_meshes is not None:
        hand_meshes = mirror_mesh(*hand_meshes)
    if hand_params is not None:
        hand_params = dict(mirror_hand_params(hand_params), side=np.array("left"))
    return object_mesh, mirror_poses(object_poses), mirror_points(hand_joints), hand_meshes, hand_params
