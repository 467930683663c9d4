"""PNG images and label masks: read/write through OpenCV, always RGB channel order in memory.

OpenCV stores colour as BGR; every function here converts so callers only ever see RGB.
``png_size`` reads the PNG header alone, so a folder of 1000 frames can be validated without
decoding a single image.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from hold.io.errors import InputError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types (IHDR byte 25): grey, RGB, palette, grey+alpha, RGBA.
_PNG_COLOUR_TYPES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey+alpha", 6: "RGBA"}


def png_header(path: str | os.PathLike) -> tuple[int, int, int, str]:
    """(width, height, bit_depth, colour_type_name) from a PNG file's IHDR chunk."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise InputError(f"{path}: not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    bit_depth, colour_type = head[24], head[25]
    return width, height, bit_depth, _PNG_COLOUR_TYPES.get(colour_type, f"unknown({colour_type})")


def png_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a PNG without decoding it."""
    width, height, _, _ = png_header(path)
    return width, height


def _decode(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: cannot decode image")
    if image.dtype != np.uint8:
        raise InputError(f"{path}: expected an 8-bit image, got {image.dtype}")
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An 8-bit colour image as RGB, [H, W, 3] uint8. Grey images are expanded to three
    channels; an alpha channel is dropped."""
    image = _decode(Path(path))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """An 8-bit single-channel label image, [H, W] uint8. A three-channel file whose channels
    are equal (some tools save masks that way) is accepted as its first channel."""
    path = Path(path)
    mask = _decode(path)
    if mask.ndim == 3:
        if mask.shape[2] == 3 and (mask[..., 0] == mask[..., 1]).all() and (
            mask[..., 0] == mask[..., 2]
        ).all():
            return np.ascontiguousarray(mask[..., 0])
        raise InputError(f"{path}: a mask must be a single-channel label image")
    return mask


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{path}: PNG encoding failed")
    path.write_bytes(encoded.tobytes())


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB image [H, W, 3] uint8 as PNG."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"write_image expects [H, W, 3] uint8, got {rgb.shape} {rgb.dtype}")
    _write_png(Path(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_mask(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a label image [H, W] uint8 as a single-channel PNG."""
    mask = np.asarray(mask)
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"write_mask expects [H, W] uint8, got {mask.shape} {mask.dtype}")
    _write_png(Path(path), mask)
