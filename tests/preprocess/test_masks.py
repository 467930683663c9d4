"""The automatic masks' skin colour model on analytic colours."""

import cv2
import numpy as np

from hold.preprocess.masks import SKIN_THRESHOLD, SkinModel


def _lab(rgb) -> np.ndarray:
    """RGB triples in 0..1 → CIELAB float32 [N, 3]."""
    rgb = np.asarray(rgb, np.float32).reshape(1, -1, 3)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def test_shaded_skin_is_skin_only_when_asked_and_only_darker():
    rng = np.random.default_rng(0)
    skin_rgb = np.array([0.85, 0.62, 0.50])
    samples = _lab(np.clip(skin_rgb + rng.normal(0, 0.01, (500, 3)), 0, 1))
    model = SkinModel(samples)
    lit, shaded, bright = _lab([skin_rgb, 0.5 * skin_rgb, np.minimum(1, 1.15 * skin_rgb)])
    blue_shadow = _lab([0.5 * np.array([0.50, 0.62, 0.85])])[0]
    grey = _lab([[0.45, 0.45, 0.45]])[0]
    plain = model.distance(np.stack([lit, shaded, bright, blue_shadow, grey]))
    with_shade = model.distance(np.stack([lit, shaded, bright, blue_shadow, grey]), shaded=True)
    assert plain[0] < 1.0 and with_shade[0] <= plain[0]
    # Half the light: the lightness term rejects it, the chromaticity (a/L, b/L) accepts it.
    assert plain[1] > SKIN_THRESHOLD > with_shade[1]
    # Only darker pixels may use the shading test: brighter ones keep the plain distance.
    assert with_shade[2] == plain[2]
    # A shadow of another hue, or a grey, is not skin either way.
    assert min(plain[3], with_shade[3], plain[4], with_shade[4]) > SKIN_THRESHOLD
