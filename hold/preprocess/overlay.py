"""The debug overlay: what the front-end understood, drawn on the frames.

Each frame shows the label masks tinted (hand blue, object orange, ignore grey), the detected
keypoints (dots) and the fitted hand's skeleton (lines), the object points projected with the
frame's pose (yellow dots), the object frame's axes, and a caption with the frame number and
where its object pose came from. Written as ``debug/overlay.mp4`` and a contact sheet
``debug/overlay.png`` (evenly spaced frames in a grid).
"""

from __future__ import annotations

import numpy as np

from hold.io.sequence import LABEL_HAND, LABEL_IGNORE, LABEL_OBJECT

# Bones of the 21-keypoint hand (SEQUENCE_FORMAT order).
BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11),
         (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]
FINGER_COLOURS = [(255, 80, 80), (255, 200, 40), (80, 220, 80), (60, 160, 255), (200, 90, 255)]
TINTS = {LABEL_HAND: (40, 120, 255), LABEL_OBJECT: (255, 140, 20), LABEL_IGNORE: (150, 150, 150)}


def _project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    uv = points @ K.T
    return uv[..., :2] / np.maximum(uv[..., 2:], 1e-6)


def draw_frame(rgb: np.ndarray, labels: np.ndarray | None, keypoints: np.ndarray | None,
               joints: np.ndarray | None, object_points: np.ndarray | None, pose: np.ndarray | None,
               K: np.ndarray, caption: str = "", scale: int = 1) -> np.ndarray:
    """One overlay frame [scale·H, scale·W, 3] uint8 RGB."""
    import cv2

    image = rgb.astype(np.float32)
    if labels is not None:
        for label, tint in TINTS.items():
            region = labels == label
            image[region] = 0.55 * image[region] + 0.45 * np.array(tint, np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if scale != 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    if labels is not None:
        for label, tint in TINTS.items():
            region = (labels == label).astype(np.uint8)
            if scale != 1:
                region = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(image, contours, -1, tint, 1)

    def pt(uv):
        return int(round((uv[0] + 0.5) * scale - 0.5)), int(round((uv[1] + 0.5) * scale - 0.5))

    if object_points is not None and pose is not None and np.isfinite(pose).all() and len(object_points):
        cam = object_points @ pose[:3, :3].T + pose[:3, 3]
        uv = _project(cam[cam[:, 2] > 0], K)
        for p in uv[:: max(1, len(uv) // 400)]:
            cv2.circle(image, pt(p), max(1, scale // 2), (255, 235, 0), -1)
    if pose is not None and np.isfinite(pose).all():
        length = 0.03
        origin = _project(pose[:3, 3][None], K)[0]
        for axis, colour in zip(np.eye(3), [(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
            tip = _project((pose[:3, :3] @ (axis * length) + pose[:3, 3])[None], K)[0]
            cv2.line(image, pt(origin), pt(tip), colour, max(1, scale // 2))
    if joints is not None and np.isfinite(joints).all():
        uv = _project(joints, K)
        for i, (a, b) in enumerate(BONES):
            cv2.line(image, pt(uv[a]), pt(uv[b]), FINGER_COLOURS[i // 4], max(1, scale // 2), cv2.LINE_AA)
    if keypoints is not None and np.isfinite(keypoints[:, :2]).all():
        for p in keypoints[:, :2]:
            cv2.circle(image, pt(p), max(2, scale), (255, 255, 255), 1, cv2.LINE_AA)
    if caption:
        font_scale = max(0.45, image.shape[1] / 900)
        origin = (6, int(10 + 22 * font_scale))
        cv2.putText(image, caption, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(image, caption, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1, cv2.LINE_AA)
    return image


def render_overlay(images, labels, keypoints, joints, object_points, poses, K, provenance,
                   scale: int | None = None) -> list[np.ndarray]:
    """Overlay frames for a whole sequence (arrays may be None)."""
    T, H, W = images.shape[:3]
    if scale is None:
        scale = max(1, int(round(512 / max(W, H))))
    frames = []
    for t in range(T):
        caption = f"frame {t}" + (f"  pose: {provenance[t]}" if provenance else "")
        frames.append(draw_frame(images[t], None if labels is None else labels[t],
                                 None if keypoints is None else keypoints[t],
                                 None if joints is None else joints[t], object_points,
                                 None if poses is None else poses[t], K, caption, scale))
    return frames


def contact_sheet(frames: list[np.ndarray], count: int = 8, columns: int = 4) -> np.ndarray:
    """``count`` evenly spaced frames in a grid [rows·H, columns·W, 3]."""
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    H, W = frames[0].shape[:2]
    rows = int(np.ceil(len(picks) / columns))
    sheet = np.full((rows * H, min(columns, len(picks)) * W, 3), 255, np.uint8)
    for k, t in enumerate(picks):
        r, c = divmod(k, columns)
        sheet[r * H:(r + 1) * H, c * W:(c + 1) * W] = frames[t]
    return sheet
