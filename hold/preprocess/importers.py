"""Inputs a user may already have: 2D keypoint JSON (OpenPose, MediaPipe), MANO parameters
(HaMeR-style), and a whole HOLD ``build/`` folder.

Keypoints and MANO parameters are given per *source* frame (one entry per frame of the video or
image folder, or exactly one per kept frame); the front-end picks the kept frames and moves the
pixels through the resize and crop.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hold.io.errors import InputError


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def _openpose_frame(data: dict, path: Path) -> np.ndarray:
    """The right hand [21, 3] (u, v, confidence) of the most confident person, NaN if none."""
    best, best_score = None, 0.0
    for person in data.get("people", []):
        flat = person.get("hand_right_keypoints_2d")
        if not flat:
            continue
        values = np.asarray(flat, np.float64)
        if values.size != 63:
            raise InputError(f"{path}: hand_right_keypoints_2d has {values.size} numbers, expected 63")
        values = values.reshape(21, 3)
        score = float(values[:, 2].mean())
        if score > best_score:
            best, best_score = values, score
    if best is None:
        return np.full((21, 3), np.nan)
    out = best.copy()
    out[out[:, 2] <= 0] = np.nan  # OpenPose writes (0, 0, 0) for undetected keypoints
    return out


def _mediapipe_frame(entry, path: Path, size: tuple[int, int]) -> np.ndarray:
    """One MediaPipe frame entry: None, a list of 21 {x, y[, z][, visibility]} landmarks or
    [x, y] pairs (normalised to the image, MediaPipe's convention), or {"landmarks": [...],
    "handedness": "Right"|"Left", "normalized": bool}."""
    if entry is None:
        return np.full((21, 3), np.nan)
    normalized = True
    if isinstance(entry, dict):
        normalized = bool(entry.get("normalized", True))
        entry = entry.get("landmarks")
    if not isinstance(entry, list) or len(entry) != 21:
        raise InputError(f"{path}: a MediaPipe frame must have 21 landmarks")
    out = np.ones((21, 3))
    for j, landmark in enumerate(entry):
        if isinstance(landmark, dict):
            out[j, :2] = landmark["x"], landmark["y"]
            out[j, 2] = landmark.get("visibility", landmark.get("score", 1.0)) or 1.0
        else:
            out[j, :2] = landmark[:2]
            if len(landmark) > 2 and not normalized:
                out[j, 2] = landmark[2]
    if normalized:  # MediaPipe: x ∈ [0, 1] across the image; OpenCV pixel centres sit at +0.5
        out[:, 0] = out[:, 0] * size[0] - 0.5
        out[:, 1] = out[:, 1] * size[1] - 0.5
    return out


def load_keypoints(path: str | os.PathLike, source_size: tuple[int, int]) -> np.ndarray:
    """Keypoints [N, 21, 3] (u, v, confidence) in source pixels, one row per frame, NaN rows
    where the file has no right hand. Accepted:

    - a folder of OpenPose JSON files (``*_keypoints.json``, one per frame, name order);
    - one JSON file: {"frames": [...]} or a list, each entry a MediaPipe frame (see
      ``_mediapipe_frame``) or an OpenPose frame ({"people": [...]});
    - a .npy array [N, 21, 2] or [N, 21, 3] in pixels.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json")
        if not files:
            raise InputError(f"--keypoints {path}: no .json files in the folder")
        return np.stack([_openpose_frame(_read_json(f), f) for f in files])
    if not path.is_file():
        raise InputError(f"--keypoints {path}: no such file or folder")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False).astype(np.float64)
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: cannot read ({e})") from None
        if array.ndim != 3 or array.shape[1] != 21 or array.shape[2] not in (2, 3):
            raise InputError(f"{path}: expected [N, 21, 2] or [N, 21, 3], got {list(array.shape)}")
        if array.shape[2] == 2:
            array = np.concatenate([array, np.ones(array.shape[:2] + (1,))], -1)
        return array
    data = _read_json(path)
    frames = data.get("frames") if isinstance(data, dict) else data
    if not isinstance(frames, list) or not frames:
        raise InputError(f"{path}: expected a list of frames (or {{\"frames\": [...]}})")
    if isinstance(data, dict) and "image_size" in data:
        source_size = tuple(data["image_size"])
    out = []
    for entry in frames:
        if isinstance(entry, dict) and "people" in entry:
            out.append(_openpose_frame(entry, path))
        else:
            out.append(_mediapipe_frame(entry, path, source_size))
    return np.stack(out)


def pick_frames(rows: np.ndarray, indices: list[int], source_count: int, what: str) -> np.ndarray:
    """Rows per source frame (or per kept frame) → rows of the kept frames."""
    if len(rows) == source_count:
        return rows[indices]
    if len(rows) == len(indices):
        return rows
    raise InputError(f"{what}: {len(rows)} frames, expected one per source frame ({source_count}) "
                     f"or per kept frame ({len(indices)})")


def _rotmat_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    shape = matrix.shape[:-2]
    return Rotation.from_matrix(matrix.reshape(-1, 3, 3)).as_rotvec().reshape(*shape, 3)


def load_mano_params(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """HaMeR-style MANO parameters per frame → smplx conventions (flat_hand_mean=False):
    {"global_orient" [N, 3], "hand_pose" [N, 45], "betas" [10], "transl" [N, 3]}.

    Accepted: .npz or .json with ``global_orient`` ([N, 3] axis-angle or [N, 1, 3, 3] /
    [N, 3, 3] rotation matrices, HaMeR's ``pred_mano_params``), ``hand_pose`` ([N, 45] or
    [N, 15, 3, 3]), ``betas`` ([10] or [N, 10], averaged), and ``transl`` or ``cam_t`` /
    ``pred_cam_t_full`` ([N, 3], camera frame). A ``flat_hand_mean`` flag that is true is
    rejected: the conversion needs the MANO files' mean pose (not shipped), so convert first.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--mano {path}: file not found")
    if path.suffix.lower() == ".json":
        raw = {k: np.asarray(v, np.float64) for k, v in _read_json(path).items() if isinstance(v, (list, int, float, bool))}
    else:
        try:
            with np.load(path, allow_pickle=False) as data:
                raw = {k: np.asarray(data[k]) for k in data.files}
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: cannot read as .npz ({e})") from None
    if bool(np.asarray(raw.get("flat_hand_mean", False)).any()):
        raise InputError(f"{path}: flat_hand_mean=True parameters; hold-fast stores smplx's "
                         f"flat_hand_mean=False convention (add MANO's hands_mean to hand_pose first)")
    for key in ("global_orient", "hand_pose", "betas"):
        if key not in raw:
            raise InputError(f"{path}: missing '{key}'")
    orient = raw["global_orient"].astype(np.float64)
    if orient.shape[-2:] == (3, 3):
        orient = _rotmat_to_axis_angle(orient).reshape(len(orient), 3)
    pose = raw["hand_pose"].astype(np.float64)
    if pose.shape[-2:] == (3, 3):
        pose = _rotmat_to_axis_angle(pose).reshape(len(pose), 45)
    frames = len(orient)
    if orient.shape != (frames, 3) or pose.shape != (frames, 45):
        raise InputError(f"{path}: global_orient {list(orient.shape)} / hand_pose {list(pose.shape)}: expected "
                         f"[N, 3] and [N, 45] (or rotation matrices)")
    betas = raw["betas"].astype(np.float64)
    betas = betas.reshape(-1, betas.shape[-1]).mean(0) if betas.ndim > 1 else betas
    if betas.shape != (10,):
        raise InputError(f"{path}: betas must have 10 values, got {list(betas.shape)}")
    transl = next((raw[k] for k in ("transl", "cam_t", "pred_cam_t_full") if k in raw), None)
    if transl is None:
        raise InputError(f"{path}: missing 'transl' (or HaMeR's 'pred_cam_t_full')")
    transl = np.asarray(transl, np.float64).reshape(frames, 3)
    return {"global_orient": orient, "hand_pose": pose, "betas": betas, "transl": transl}
