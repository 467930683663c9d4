"""The object's motion in the image, from its masks alone, where SfM has nothing to match.

A textureless object (a white bulb, a plain cup) gives SfM no features, and the hand is a poor
proxy for it: fingers turn an object in the hand (the bulb clip's bulb tilts ~40° one way while
the wrist turns ~20° the other). Its mask still moves with it. ``mask_track`` reads, per frame,
the object mask's centroid and principal axis (second moments; the axis only where the mask is
elongated enough to have one); ``similarity`` turns two frames' readings into the 2D similarity
that carries one frame's mask onto the other (used to propagate a prompt's template,
``hold.preprocess.masks``); ``follow_masks`` corrects hand-attached 3D poses so that the object
turns in the image plane with its mask's axis and sits at its mask's centroid, keeping the
hand's out-of-plane rotation and depth.

Partial masks (the lit side of a white object) bias the centroid and axis, but the bias moves
with the object from frame to frame, so the relative motion it gives is sound.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

MIN_ELONGATION = 1.3  # major/minor axis ratio below which a mask has no reliable axis
MIN_AREA_PX = 30


@dataclass
class MaskTrack:
    centroid: np.ndarray  # [T, 2] pixels (NaN where there is no mask)
    angle: np.ndarray  # [T] principal-axis angle in radians (image x right, y down), unwrapped
    # over time mod π, interpolated where the mask has no axis; NaN when no frame has one
    area: np.ndarray  # [T] pixels
    has_axis: np.ndarray  # [T] bool: the frame's own mask gave the angle

    @property
    def reliable(self) -> bool:
        """Most frames have a mask, and most of those an axis."""
        present = self.area >= MIN_AREA_PX
        return bool(present.mean() >= 0.6 and self.has_axis[present].mean() >= 0.6)


def _moments(mask: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """(centroid [2], angle, elongation, area) of a boolean mask."""
    m = cv2.moments(mask.astype(np.uint8), binaryImage=True)
    area = m["m00"]
    if area < 1:
        return np.full(2, np.nan), np.nan, 0.0, 0.0
    centroid = np.array([m["m10"] / area, m["m01"] / area])
    a, b, c = m["mu20"] / area, m["mu11"] / area, m["mu02"] / area
    spread = np.sqrt(max((a - c) ** 2 + 4 * b * b, 0.0))
    major, minor = (a + c + spread) / 2, max((a + c - spread) / 2, 1e-9)
    return centroid, 0.5 * np.arctan2(2 * b, a - c), float(np.sqrt(major / minor)), float(area)


def _smooth(values: np.ndarray, known: np.ndarray, window: int = 3) -> np.ndarray:
    """Median over a sliding window of the known values, then linear interpolation between them
    (held constant beyond the first and last)."""
    T = len(values)
    out = np.full(T, np.nan)
    index = np.flatnonzero(known)
    if len(index) == 0:
        return out
    half = window // 2
    filtered = np.array([np.median(values[index[max(0, i - half):i + half + 1]]) for i in range(len(index))])
    return np.interp(np.arange(T), index, filtered)


def mask_track(object_masks: np.ndarray) -> MaskTrack:
    """Centroid and axis of the object masks [T, H, W] bool per frame."""
    T = len(object_masks)
    centroid = np.full((T, 2), np.nan)
    raw = np.full(T, np.nan)
    area = np.zeros(T)
    has_axis = np.zeros(T, bool)
    for t, mask in enumerate(object_masks):
        c, angle, elongation, a = _moments(mask)
        area[t] = a
        if a >= MIN_AREA_PX:
            centroid[t] = c
            if elongation >= MIN_ELONGATION:
                raw[t] = angle
                has_axis[t] = True
    # An axis has no direction: unwrap mod π so that the angle changes continuously.
    angle = raw.copy()
    previous = None
    for t in np.flatnonzero(has_axis):
        if previous is not None:
            angle[t] = previous + (raw[t] - previous + np.pi / 2) % np.pi - np.pi / 2
        previous = angle[t]
    angle = _smooth(angle, has_axis)
    present = area >= MIN_AREA_PX
    for axis in range(2):
        centroid[:, axis] = _smooth(centroid[:, axis], present)
    return MaskTrack(centroid, angle, area, has_axis)


def similarity(track: MaskTrack, source: int, target: int, scale: float = 1.0) -> np.ndarray:
    """[2, 3] affine map of frame ``source``'s pixels onto frame ``target``'s: turn by the axis'
    change about the source centroid, scale, and move the centroid onto the target's."""
    turn = 0.0
    if np.isfinite(track.angle[[source, target]]).all():
        turn = track.angle[target] - track.angle[source]
    c, s = np.cos(turn) * scale, np.sin(turn) * scale
    linear = np.array([[c, -s], [s, c]])
    shift = track.centroid[target] - linear @ track.centroid[source]
    return np.hstack([linear, shift[:, None]])


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    return Rotation.from_rotvec(axis * angle).as_matrix()


def _project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    uv = points @ K.T
    return uv[..., :2] / uv[..., 2:]


def follow_masks(poses: np.ndarray, track: MaskTrack, K: np.ndarray, reference: int) -> tuple[np.ndarray, dict]:
    """Hand-attached poses [T, 4, 4] (object → camera, object origin at the object) corrected to
    the masks: each frame's pose is turned about its viewing ray so that the object's axis
    (the reference frame's mask axis, carried by the pose) projects along the frame's mask
    axis, and moved, at its depth, so that the origin keeps its offset from the mask centroid
    (turned with the axis). The hand keeps the rotation out of the image plane and the depth.
    Returns (poses, info); the poses unchanged when the track is not ``reliable``."""
    info = {"applied": False}
    if not track.reliable or not np.isfinite(track.angle[reference]):
        info["reason"] = "the object masks have no stable axis or are missing in many frames"
        return poses, info
    out = poses.copy()
    Kinv = np.linalg.inv(K)
    R_ref, c_ref = poses[reference, :3, :3], poses[reference, :3, 3]
    axis_ref = np.array([np.cos(track.angle[reference]), np.sin(track.angle[reference])])
    # The reference's image-plane axis as a 3D direction at the object, in the object frame.
    tip = Kinv @ np.r_[_project(c_ref, K) + axis_ref, 1.0] * c_ref[2]
    axis_object = R_ref.T @ (tip - c_ref)
    offset_ref = _project(c_ref, K) - track.centroid[reference]
    turns = []
    for t in range(len(poses)):
        R, c = poses[t, :3, :3], poses[t, :3, 3]
        predicted = _project(c + R @ axis_object, K) - _project(c, K)
        turn = track.angle[t] - np.arctan2(predicted[1], predicted[0])
        turn = (turn + np.pi / 2) % np.pi - np.pi / 2  # an axis: the nearer of the two directions
        ray = c / np.linalg.norm(c)
        # Image-plane angles grow clockwise on screen (y down); so does a rotation about the
        # viewing ray (camera z forward).
        R_new = _rotation_about(ray, turn) @ R
        change = track.angle[t] - track.angle[reference]
        rot2 = np.array([[np.cos(change), -np.sin(change)], [np.sin(change), np.cos(change)]])
        pixel = track.centroid[t] + rot2 @ offset_ref
        c_new = Kinv @ np.r_[pixel, 1.0] * c[2]
        out[t, :3, :3], out[t, :3, 3] = R_new, c_new
        turns.append(np.degrees(turn))
    info.update(applied=True, reference=int(reference),
                median_turn_deg=round(float(np.median(np.abs(turns))), 2),
                max_turn_deg=round(float(np.max(np.abs(turns))), 2))
    return out, info
