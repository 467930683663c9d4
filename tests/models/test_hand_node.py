"""The hand node's per-frame skinning volumes: rebuilt only for the frames whose hand moved."""

import torch

from hold.models.hand.builtin import BuiltinHand
from hold.models.hand.hand_node import HandNode


def test_only_the_frames_that_moved_are_refreshed_and_they_match_a_full_refresh():
    torch.manual_seed(0)
    T = 4
    orient = torch.tensor([[0.3, -0.2, 0.1]]).repeat(T, 1)
    transl = torch.tensor([[0.0, 0.0, 0.5]]).repeat(T, 1) + 0.03 * torch.arange(T)[:, None]
    node = HandNode(BuiltinHand(), orient, torch.zeros(T, 45), transl, torch.zeros(4), mask_resolution=16,
                    volume_resolution=8)
    assert node.refresh_moved(0.001) == T  # nothing was built yet
    assert node.refresh_moved(0.001) == 0
    built = node.volumes.clone()
    with torch.no_grad():
        node.transl[2, 0] += 0.005  # 5 mm: beyond the tolerance
        node.transl[3, 1] += 0.0002  # 0.2 mm: within it
    assert node.refresh_moved(0.001) == 1
    assert torch.equal(node.volumes[[0, 1, 3]], built[[0, 1, 3]])  # untouched
    assert not torch.equal(node.volumes[2], built[2])
    fresh = node.volumes.clone()
    node.refresh_deformation()  # everything, from the current poses
    assert torch.equal(node.volumes[2], fresh[2])  # frame 2 is what a full refresh builds
    assert node.refresh_moved(0.0) == 0  # a full refresh leaves nothing stale
