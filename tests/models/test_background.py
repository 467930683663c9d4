"""The background's start: the per-pixel median of the frames' background pixels."""

import numpy as np

from hold.models.background import background_node
from hold.models.background import median_background


def test_the_median_of_a_long_video_uses_spread_frames_and_finds_the_background():
    T, H, W = 200, 12, 16
    rng = np.random.default_rng(0)
    wall = rng.integers(0, 256, (H, W, 3))
    images = np.clip(wall + rng.normal(0, 3, (T, H, W, 3)), 0, 255).astype(np.uint8)
    masks = np.zeros((T, H, W), np.uint8)
    for t in range(T):  # a bright "hand" sweeping across, labelled, over a third of the frames
        x = (t * 3) % W
        images[t, :, x:x + 4] = 255
        masks[t, :, x:x + 4] = 150
    assert T > background_node.MEDIAN_FRAMES
    median = median_background(images, masks)
    assert np.abs(median * 255 - wall).max() < 8.0  # the wall within its noise
    unlabelled = median_background(images, None)  # without masks: the median still sees the wall
    assert np.median(np.abs(unlabelled * 255 - wall)) < 8.0
