"""Camera rays of pixels and the pixel sampling of a training step."""

from __future__ import annotations

import numpy as np
import torch


def pixel_rays(K: torch.Tensor, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through pixel centres (OpenCV: pixel (u, v) is centred at integer coordinates).

    K [3, 3]; pixels [R, 2] (u, v). Returns origins [R, 3] (the static camera at the origin)
    and unit directions [R, 3] in the camera frame.
    """
    uv1 = torch.cat([pixels.to(K.dtype), torch.ones_like(pixels[:, :1], dtype=K.dtype)], 1)
    dirs = torch.nn.functional.normalize(uv1 @ torch.linalg.inv(K).T, dim=1)
    return torch.zeros_like(dirs), dirs


def label_boxes(masks: np.ndarray, labels=(50, 150), margin: int = 8) -> np.ndarray:
    """Per frame, the bounding box [T, 4] (u0, v0, u1, v1; inclusive, clipped) of the pixels
    carrying any of `labels`, grown by `margin`; the whole image where none does."""
    T, H, W = masks.shape
    boxes = np.tile(np.array([0, 0, W - 1, H - 1]), (T, 1))
    for t in range(T):
        vs, us = np.nonzero(np.isin(masks[t], labels))
        if len(us):
            boxes[t] = [max(us.min() - margin, 0), max(vs.min() - margin, 0),
                        min(us.max() + margin, W - 1), min(vs.max() + margin, H - 1)]
    return boxes


def sample_pixels(boxes: torch.Tensor, frames: torch.Tensor, per_frame: int, width: int,
                  height: int, generator: torch.Generator, in_box: float = 0.9):
    """HOLD's weighted pixel sampling: per frame, ``in_box`` of the rays inside the frame's
    hand+object box, the rest uniform over the image. boxes [T, 4]; frames [B].
    Returns pixels [B·per_frame, 2] int64 (u, v) and their frames [B·per_frame]."""
    n_box = int(round(per_frame * in_box))
    box = boxes[frames]  # [B, 4]
    u = torch.rand(len(frames), per_frame, generator=generator)
    v = torch.rand(len(frames), per_frame, generator=generator)
    span_u = (box[:, 2] - box[:, 0] + 1).float()[:, None]
    span_v = (box[:, 3] - box[:, 1] + 1).float()[:, None]
    pu = torch.where(torch.arange(per_frame) < n_box, box[:, :1] + u * span_u, u * width)
    pv = torch.where(torch.arange(per_frame) < n_box, box[:, 1:2] + v * span_v, v * height)
    pixels = torch.stack([pu.long().clamp(0, width - 1), pv.long().clamp(0, height - 1)], -1)
    return pixels.reshape(-1, 2), frames.repeat_interleave(per_frame)
