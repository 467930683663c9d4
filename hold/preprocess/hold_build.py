"""Import a HOLD ``build/`` folder (HOLD's generator/scripts/build_dataset.py output) as a
sequence folder.

Layout read (docs/FRONTEND.md; from HOLD's docs/data_doc.md as summarised in the design notes):
``image/%04d.png`` RGB, ``mask/%04d.png`` labels 0/50/150/250 (250, HOLD's left hand, becomes
our "ignore"), and ``data.npy``: a pickled dict with ``cameras`` (``world_mat_i`` = K_pad ·
extrinsic, the same for every frame), ``entities/right`` (``hand_poses`` [T, 48] = global
orientation + 45 articulation, smplx ``flat_hand_mean=False``; ``hand_trans`` [T, 3];
``mean_shape`` [10]) and ``entities/object`` (``object_poses`` [T, 6] axis-angle | translation,
``obj_scale``, ``pts.cano`` [N, 3] normalised points, ``norm_mat`` [4, 4]).

Geometry: ``world_mat`` is decomposed into K and the world → camera transform (R, t); an object
point is ``X_world = [R_o | t_o] · obj_scale · norm_mat⁻¹ · x_cano`` (HOLD's object transform
without the renderer's scene scale), so the object frame here is HOLD's SfM frame in metres and
the poses are ``(R, t) · [R_o | t_o]``. MANO parameters move to the camera frame exactly when
the world is the camera frame; otherwise the root joint of the MANO model is needed
(``mano_dir``), and without it only the object, images, masks and K are imported.

``data.npy`` is a pickle: loading it runs code from the file, so import only build folders you
trust (the CLI asks for ``--trust-pickle``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from hold.io.errors import InputError
from hold.io.images import read_image, read_mask
from hold.io.sequence import LABEL_IGNORE, SequenceInit, SequenceMeta, write_sequence


def _decompose(world_mat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K [3, 3] (fx, fy > 0), R [3, 3] (det +1) and t [3] with P ∝ K [R | t]."""
    import cv2

    P = np.asarray(world_mat, np.float64)[:3, :4]
    K, R, C, *_ = cv2.decomposeProjectionMatrix(P)
    K = K / K[2, 2]
    C = C[:3, 0] / C[3, 0]
    # RQ decomposition fixes signs only up to a diagonal ±1 flip shared by K's columns and R's rows.
    signs = np.diag(np.sign(np.diag(K)))
    K, R = K @ signs, signs @ R
    if np.linalg.det(R) < 0:
        raise InputError("HOLD build: world_mat has a mirrored camera (det R < 0); cannot convert")
    t = -R @ C
    K[1, 0] = K[2, 0] = K[2, 1] = 0.0
    return K, R, t


def import_hold_build(build_dir: str | os.PathLike, out_dir: str | os.PathLike, mano_dir=None,
                      fps: float = 30.0) -> dict:
    """Convert ``build_dir`` into the sequence folder ``out_dir``; returns a summary."""
    build = Path(build_dir)
    data_path = build / "data.npy"
    if not data_path.is_file():
        raise InputError(f"{data_path}: missing (not a HOLD build folder)")
    try:
        data = np.load(data_path, allow_pickle=True)
        data = data.item() if isinstance(data, np.ndarray) else data
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad input
        raise InputError(f"{data_path}: cannot read HOLD's pickled dict ({e})") from None
    image_files = sorted((build / "image").glob("*.png"))
    if not image_files:
        raise InputError(f"{build / 'image'}: no .png frames")
    T = len(image_files)
    if not isinstance(data, dict):
        raise InputError(f"{data_path}: expected HOLD's dict (seq_name, cameras, entities)")
    cameras = data.get("cameras", {})
    if "world_mat_0" not in cameras:
        raise InputError(f"{data_path}: cameras/world_mat_0 missing")
    K, R, t = _decompose(cameras["world_mat_0"])
    world_to_camera = np.eye(4)
    world_to_camera[:3, :3], world_to_camera[:3, 3] = R, t
    images = [read_image(p) for p in image_files]
    H, W = images[0].shape[:2]
    mask_files = sorted((build / "mask").glob("*.png"))
    labels = None
    if mask_files:
        if len(mask_files) != T:
            raise InputError(f"{build / 'mask'}: {len(mask_files)} masks for {T} images")
        labels = []
        for path in mask_files:
            mask = read_mask(path)
            if mask.shape != (H, W):
                raise InputError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]}, the images are {W}x{H}")
            mask = mask.copy()
            mask[mask == 250] = LABEL_IGNORE
            unknown = np.setdiff1d(np.unique(mask), [0, 50, 150, 250])
            if len(unknown):
                raise InputError(f"{path}: label values {unknown.tolist()} are not HOLD's 0/50/150/250")
            labels.append(mask)
    entities = data.get("entities", {})
    init = SequenceInit()
    provenance = {"K": "given", "masks": "imported (HOLD build)", "source": "HOLD build/"}
    obj = entities.get("object")
    if obj is not None:
        pose6 = np.asarray(obj["object_poses"], np.float64).reshape(T, 6)
        object_to_world = np.tile(np.eye(4), (T, 1, 1))
        object_to_world[:, :3, :3] = Rotation.from_rotvec(pose6[:, :3]).as_matrix()
        object_to_world[:, :3, 3] = pose6[:, 3:]
        scale = float(obj["obj_scale"])
        denorm = np.linalg.inv(np.asarray(obj["norm_mat"], np.float64))
        cano = np.asarray(obj["pts.cano"], np.float64).reshape(-1, 3)
        points = scale * (cano @ denorm[:3, :3].T + denorm[:3, 3])
        init.object_poses = (world_to_camera @ object_to_world).astype(np.float32)
        init.object_points = points.astype(np.float32)
        provenance["object_poses"] = "given (HOLD build)"
    right = entities.get("right")
    if right is not None:
        poses = np.asarray(right["hand_poses"], np.float64).reshape(T, 48)
        transl = np.asarray(right["hand_trans"], np.float64).reshape(T, 3)
        betas = np.asarray(right["mean_shape"], np.float64).reshape(10)
        identity = np.allclose(world_to_camera, np.eye(4), atol=1e-9)
        if identity or mano_dir is not None:
            orient = Rotation.from_rotvec(poses[:, :3])
            if not identity:
                from hold.models.hand import load_hand_model
                import torch

                mano = load_hand_model("mano", mano_dir, dtype=torch.float64)
                root = mano.canonical(torch.as_tensor(betas)[None])[1][0, 0].numpy()
                orient = Rotation.from_matrix(R) * orient
                transl = (R @ (root + transl).T).T + t - root
            init.mano = {"global_orient": orient.as_rotvec(), "hand_pose": poses[:, 3:], "transl": transl,
                         "betas": betas}
            provenance["hand"] = "MANO parameters (HOLD build)"
        else:
            provenance["hand"] = "not imported: HOLD's world is not the camera frame and --mano-dir was not given"
    meta = SequenceMeta(num_frames=T, image_size=(W, H), K=K, fps=fps, provenance=provenance,
                        source=f"hold.preprocess.hold_build from {build}")
    write_sequence(out_dir, meta, images, labels, init)
    return {"frames": T, "image_size": [W, H], "provenance": provenance}
