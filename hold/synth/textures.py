"""Procedural colours: an object texture fixed in the object's own frame, skin, a background.

Everything is a deterministic function of (position, seed), so a surface point keeps its colour
in every frame (photometric and SfM features have real signal) and a seed reproduces the bytes.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

SKIN_RGB = np.array([0.87, 0.66, 0.54])  # linear-ish albedo of light skin
FOREARM_RGB = np.array([0.84, 0.63, 0.52])


def _plane_waves(rng: np.random.Generator, count: int, cycles_per_m: tuple[float, float]):
    """Random plane waves: frequency vectors [count, 3] (cycles/m) and phases [count]."""
    directions = rng.normal(size=(count, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    frequencies = directions * rng.uniform(*cycles_per_m, size=(count, 1))
    return frequencies, rng.uniform(0, 2 * np.pi, count)


def _wave_field(points: np.ndarray, frequencies: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """Mean of sin(2π f·p + φ) over the waves, [N], roughly in [-1, 1]."""
    return np.sin(2 * np.pi * np.einsum("kj,nj->nk", frequencies, points) + phases).mean(axis=1)


class ObjectTexture:
    """Colour regions of a few random saturated colours (blob scale ~3-10 cm) with a fine
    brightness pattern (~5-12 mm) on top; a function of object-frame position only."""

    def __init__(self, seed: int, num_colours: int = 4):
        rng = np.random.default_rng(seed)
        hues = (rng.uniform() + np.arange(num_colours) / num_colours + rng.uniform(-0.06, 0.06, num_colours)) % 1
        self.palette = np.array([
            colorsys.hsv_to_rgb(h, rng.uniform(0.45, 0.9), rng.uniform(0.55, 0.95)) for h in hues
        ])
        self.coarse = _plane_waves(rng, 6, (10.0, 30.0))
        self.fine = _plane_waves(rng, 6, (80.0, 200.0))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Albedo [N, 3] in [0, 1] at object-frame points [N, 3] (metres)."""
        coarse = _wave_field(points, *self.coarse)  # ~N(0, 0.29)
        bins = np.clip(((coarse / 0.6 + 0.5) * len(self.palette)).astype(int), 0, len(self.palette) - 1)
        fine = _wave_field(points, *self.fine)
        return np.clip(self.palette[bins] * (1 + 0.5 * fine)[:, None], 0, 1)


class SkinTexture:
    """Skin albedo with a faint large-scale mottling (a function of hand-frame position)."""

    def __init__(self, seed: int, base_rgb: np.ndarray = SKIN_RGB):
        rng = np.random.default_rng(seed)
        self.base = base_rgb * rng.uniform(0.9, 1.05)
        self.waves = _plane_waves(rng, 5, (15.0, 60.0))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return np.clip(self.base * (1 + 0.12 * _wave_field(points, *self.waves))[:, None], 0, 1)


def background_image(width: int, height: int, seed: int) -> np.ndarray:
    """A static textured backdrop [H, W, 3] float in [0, 1]: a smooth colour field, a few
    rectangles (furniture-like edges) and fine grain, so the background is not featureless."""
    rng = np.random.default_rng(seed)
    field = cv2.resize(rng.uniform(0.25, 0.75, (4, 4, 3)), (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(width // 8, width // 2), rng.integers(height // 8, height // 2)
        colour = rng.uniform(0.15, 0.85, 3)
        alpha = rng.uniform(0.4, 0.9)
        field[y0:y0 + h, x0:x0 + w] = (1 - alpha) * field[y0:y0 + h, x0:x0 + w] + alpha * colour
    field = 0.5 * field + 0.5 * field.mean(axis=2, keepdims=True)  # muted, room-like colours
    grain = cv2.GaussianBlur(rng.normal(0, 1, (height, width)), (0, 0), max(0.8, width / 256))
    field *= 1 + 0.08 * (grain / grain.std())[..., None]
    return np.clip(field, 0, 1)
