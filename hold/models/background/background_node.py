"""The background of a static camera: one learned image, started from the per-pixel median of
the frames' background pixels (HOLD's NeRF++ background is needed only for a moving camera)."""

from __future__ import annotations

import warnings

import numpy as np
import torch


MEDIAN_FRAMES = 64


def median_background(images: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
    """[H, W, 3] float in [0, 1]: per pixel, the median over frames where the pixel shows
    background (label 0); where no frame does, the median over all frames. Of a long video,
    MEDIAN_FRAMES frames evenly spread: the median is a start the training refines, and over
    all 300 frames of a 640×360 video it took 18 s and 2 GB."""
    if len(images) > MEDIAN_FRAMES:
        pick = np.linspace(0, len(images) - 1, MEDIAN_FRAMES).round().astype(int)
        images, masks = images[pick], None if masks is None else masks[pick]
    images = images.astype(np.float32) / 255.0
    if masks is None:
        return np.median(images, axis=0)
    bg = np.where((masks == 0)[..., None], images, np.nan)
    with warnings.catch_warnings():  # all-NaN pixels (never background) are filled below
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(bg, axis=0)
    return np.where(np.isnan(median), np.median(images, axis=0), median)


class BackgroundImage(torch.nn.Module):
    """Colour [R, 3] of the background behind pixel (u, v); a learnable [H, W, 3] image."""

    def __init__(self, init: np.ndarray):
        super().__init__()
        init = np.clip(init, 1e-3, 1 - 1e-3)
        self.logits = torch.nn.Parameter(torch.logit(torch.as_tensor(init, dtype=torch.float32)))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [R, 2] int64 (u, v) → rgb [R, 3]."""
        width = self.logits.shape[1]
        # index_select: deterministic backward on multi-threaded CPUs (advanced indexing is not)
        flat = self.logits.reshape(-1, 3)
        return torch.sigmoid(torch.index_select(flat, 0, pixels[:, 1] * width + pixels[:, 0]))
