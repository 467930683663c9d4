"""The scene: HOLD's nodes (object, right hand) and the background of a static camera."""

from __future__ import annotations

import torch


class Scene(torch.nn.Module):
    """object: ObjectNode; hand: HandNode; background: BackgroundImage; K [3, 3];
    image_size (width, height)."""

    def __init__(self, object_node, hand_node, background, K, image_size):
        super().__init__()
        self.object = object_node
        self.hand = hand_node
        self.background = background
        self.register_buffer("K", torch.as_tensor(K, dtype=torch.float32))
        self.image_size = tuple(int(s) for s in image_size)

    @property
    def n_frames(self) -> int:
        return self.hand.n_frames
