"""Camera intrinsics for the front-end: given (a file or ``--fx``), from SfM, or a prior.

Every K here is for pixels with OpenCV centres (SEQUENCE_FORMAT.md). A K given by the user is for
the *source* frames; ``adapt_K`` moves it to the resized, cropped output frames.

The prior (used when nothing is given and SfM does not converge): a pinhole whose horizontal
field of view across the longer image side is ``PRIOR_FOV_DEG`` (55°), principal point at the
centre. 55° sits between phone main cameras (~65-70°) and COLMAP's own start value
(f = 1.2 · max(W, H), ~45°); with a hand at arm's length the error it causes is mostly a depth
scale, which the hand model's metric size absorbs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from hold.io.errors import InputError

PRIOR_FOV_DEG = 55.0


def prior_K(width: int, height: int, fov_deg: float = PRIOR_FOV_DEG) -> np.ndarray:
    """The field-of-view prior [3, 3] for a width × height image."""
    if not 1.0 < fov_deg < 179.0:
        raise InputError(f"--fov must be between 1 and 179 degrees, got {fov_deg}")
    focal = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2)
    return focal_K(focal, width, height)


def focal_K(focal: float, width: int, height: int) -> np.ndarray:
    """fx = fy = ``focal``, principal point at the image centre ((W − 1)/2, (H − 1)/2)."""
    if not focal > 0:
        raise InputError(f"focal length must be positive, got {focal}")
    return np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1.0]])


def adapt_K(K: np.ndarray, scale: float, crop_xy: tuple[float, float] | None) -> np.ndarray:
    """K of the source frames → K of frames resized by ``scale`` then cropped at ``crop_xy``."""
    out = np.asarray(K, np.float64).copy()
    out[:2, :] *= scale
    out[:2, 2] += 0.5 * scale - 0.5  # pixel centres: u' + 0.5 = scale · (u + 0.5)
    if crop_xy is not None:
        out[0, 2] -= crop_xy[0]
        out[1, 2] -= crop_xy[1]
    return out


def _as_K(value, path: Path) -> np.ndarray:
    try:
        K = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        K = None
    if K is None or K.shape != (3, 3) or not np.isfinite(K).all():
        raise InputError(f"{path}: expected a 3x3 intrinsics matrix")
    if K[0, 0] <= 0 or K[1, 1] <= 0 or K[1, 0] != 0 or not np.allclose(K[2], [0, 0, 1]):
        raise InputError(f"{path}: K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0")
    return K


def load_K(path: str | os.PathLike) -> np.ndarray:
    """K [3, 3] from a file: JSON ({"K": 3x3}, {"fx", "fy", "cx", "cy"} or a bare 3x3 list,
    e.g. a sequence's meta.json), .npy, or text with 9 numbers."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--K {path}: file not found")
    if path.suffix.lower() == ".npy":
        try:
            return _as_K(np.load(path, allow_pickle=False), path)
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: cannot read ({e})") from None
    text = path.read_text(errors="replace")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: not valid JSON ({e.msg})") from None
        if isinstance(data, dict) and "K" in data:
            return _as_K(data["K"], path)
        if isinstance(data, dict) and {"fx", "cx", "cy"} <= data.keys():
            fy = data.get("fy", data["fx"])
            return _as_K([[data["fx"], 0, data["cx"]], [0, fy, data["cy"]], [0, 0, 1]], path)
        return _as_K(data, path)
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise InputError(f"{path}: expected 9 numbers (a 3x3 K)") from None
    if len(values) != 9:
        raise InputError(f"{path}: expected 9 numbers (a 3x3 K), found {len(values)}")
    return _as_K(np.array(values).reshape(3, 3), path)
