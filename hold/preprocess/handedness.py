"""Which hand a video shows, and left hands as mirrored right hands in the front-end.

The front-end's detector and hand model are right-handed. ``--hand left`` (or ``auto`` when the
detector sees a left hand in more frames than a right one) runs the whole front-end on the
frames flipped left–right, where the left hand is a right hand, and ``to_original`` mirrors
every output back (hold/io/mirror.py) before the sequence folder is written: the folder
describes the original video, with ``"hands": ["left"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hold.io import mirror
from hold.io.errors import InputError
from hold.preprocess import detector
from hold.preprocess.frames import FrameSet

HAND_CHOICES = ("right", "left", "auto")
OTHER = {"right": "left", "left": "right"}


def check_choice(hand: str) -> None:
    if hand not in HAND_CHOICES:
        raise InputError(f"--hand must be one of {', '.join(HAND_CHOICES)}, got {hand!r}")


def detect_hand(images: np.ndarray, hand: str, **detector_options) -> tuple[str, detector.Detections]:
    """(side, detections) for frames [T, H, W, 3]: the keypoints are those of the right hand of
    the frames as the front-end will see them (for ``side == "left"``, the mirrored frames).

    ``hand`` is right, left or auto. A named hand that the video does not show, i.e. the other
    hand is seen in more frames (``Detections.other_hand``) than the named one is found, is an
    InputError naming both; ``auto`` takes the side seen in more frames (right on a tie).
    """
    check_choice(hand)
    first = "left" if hand == "left" else "right"
    frames = mirror.mirror_images(images) if first == "left" else images
    found = detector.detect_keypoints(frames, **detector_options)
    named, other = int(found.found.sum()), int(found.other_hand.sum())
    if other <= named:
        return first, found
    T = len(images)
    if hand == "auto":
        second = detector.detect_keypoints(mirror.mirror_images(images), **detector_options)
        if int(second.found.sum()) > named:
            return "left", second
        return first, found
    raise InputError(f"--hand {hand}: the video shows a {OTHER[hand]} hand ({other} of {T} frames; a "
                     f"{hand} hand was found in {named}); use --hand {OTHER[hand]} or --hand auto")


def mirrored_frames(frames: FrameSet) -> FrameSet:
    """The frame set flipped left–right (before any crop: the crop box is then chosen there)."""
    if frames.crop is not None:
        raise ValueError("mirror the frames before cropping them")
    return replace(frames, images=mirror.mirror_images(frames.images))


def mirror_source_keypoints(rows: np.ndarray, source_width: int) -> np.ndarray:
    """Keypoint rows [T, 21, 2|3] given for the source frames, in the flipped source frames."""
    return mirror.mirror_pixels(rows, source_width)


@dataclass
class Outputs:
    """What the front-end writes, in one frame of reference (original or mirrored)."""

    images: np.ndarray  # [T, H, W, 3]
    labels: np.ndarray  # [T, H, W]
    K: np.ndarray  # [3, 3]
    joints: np.ndarray  # [T, 21, 3] (NaN rows allowed)
    fitted_joints: np.ndarray  # [T, 21, 3] every frame (for the overlay)
    keypoints: np.ndarray  # [T, 21, 3] (u, v, confidence)
    object_poses: np.ndarray  # [T, 4, 4]
    object_points: np.ndarray | None  # [N, 3]
    crop: list[float] | None  # [x0, y0, w, h] in source pixels


def to_original(out: Outputs, source_width: int) -> Outputs:
    """The mirrored front-end's outputs mirrored back onto the original video (width W of the
    output frames for pixels and K, the source width for the crop box)."""
    W = out.images.shape[2]
    crop = None
    if out.crop is not None:
        x0, y0, w, h = out.crop
        crop = [source_width - x0 - w, y0, w, h]  # a box's edges [x0, x0 + w) mirror to [W − x0 − w, W − x0)
    return Outputs(
        images=mirror.mirror_images(out.images),
        labels=mirror.mirror_masks(out.labels),
        K=mirror.mirror_K(out.K, W),
        joints=mirror.mirror_points(out.joints),
        fitted_joints=mirror.mirror_points(out.fitted_joints),
        keypoints=mirror.mirror_pixels(out.keypoints, W),
        object_poses=mirror.mirror_poses(out.object_poses),
        object_points=None if out.object_points is None else mirror.mirror_points(out.object_points),
        crop=crop,
    )
