"""Scene pieces besides the hand and the object: the forearm, the camera and the motion."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# Forearm: an elliptical tube along the hand frame's +x (away from the fingers), starting inside
# the hand's wrist (whose cross-section there is ~38 × 58 mm in y × z) and widening to the elbow.
FOREARM_LENGTH_M = 0.26
FOREARM_START_RADII_M = (0.0175, 0.027)  # (y, z) semi-axes at the wrist
FOREARM_END_RADII_M = (0.026, 0.035)  # at the far end


def forearm_mesh(segments: int = 40, rings: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """A closed tapered elliptical tube in the hand frame: vertices [V, 3], faces [F, 3]
    (outward-facing)."""
    x = np.linspace(0.0, FOREARM_LENGTH_M, rings)
    s = x / FOREARM_LENGTH_M
    ry = FOREARM_START_RADII_M[0] + s * (FOREARM_END_RADII_M[0] - FOREARM_START_RADII_M[0])
    rz = FOREARM_START_RADII_M[1] + s * (FOREARM_END_RADII_M[1] - FOREARM_START_RADII_M[1])
    angle = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring_points = np.stack([
        np.repeat(x, segments),
        (ry[:, None] * np.cos(angle)).reshape(-1),
        (rz[:, None] * np.sin(angle)).reshape(-1),
    ], axis=1)
    vertices = np.concatenate([ring_points, [[0.0, 0, 0], [FOREARM_LENGTH_M, 0, 0]]])
    start_cap, end_cap = len(ring_points), len(ring_points) + 1
    faces = []
    for r in range(rings - 1):
        for k in range(segments):
            a, b = r * segments + k, r * segments + (k + 1) % segments
            c, d = a + segments, b + segments
            faces += [[a, c, b], [b, c, d]]
    for k in range(segments):
        faces.append([start_cap, k, (k + 1) % segments])
        last = (rings - 1) * segments
        faces.append([end_cap, last + (k + 1) % segments, last + k])
    return vertices, np.array(faces, dtype=np.int64)


def intrinsics(width: int, height: int, focal_px: float) -> np.ndarray:
    """Pinhole K [3, 3] with the principal point at the image centre."""
    return np.array([[focal_px, 0, (width - 1) / 2], [0, focal_px, (height - 1) / 2], [0, 0, 1.0]])


def hand_trajectory(num_frames: int, rng: np.random.Generator, distance_m: float,
                    scene_centre_hand: np.ndarray, amplitude_m: float) -> np.ndarray:
    """Smooth rigid motions [T, 4, 4] of the hand frame in the camera frame.

    The forearm (hand +x) points down in the image and a little away from the camera, like a
    person holding something up to the camera; the hand turns about the forearm
    (pronation/supination) through ~±50° around a side view, nods and tilts ±12°, and the
    scene centre drifts on a smooth path at ``distance_m``. Angles and paths are sums of a few
    sinusoids with seeded phases, so a sequence is smooth and reproducible.
    """
    t = np.linspace(0.0, 1.0, num_frames)
    # Base orientation: hand x → camera +y tilted 20° away, palm normal (−y) → camera ±x side.
    tilt = np.deg2rad(20)
    forearm_dir = np.array([0.0, np.cos(tilt), np.sin(tilt)])
    side = rng.choice([-1.0, 1.0])
    palm_dir = np.array([side, 0.0, 0.0])
    thumb_dir = np.cross(forearm_dir, -palm_dir)  # hand z = x × y with y = −palm
    base = np.stack([forearm_dir, -palm_dir, thumb_dir], axis=1)  # columns: images of hand x, y, z
    twist_phase, nod_phase, roll_phase = rng.uniform(0, 2 * np.pi, 3)
    twist = np.deg2rad(rng.uniform(-15, 15) + 50 * np.sin(2 * np.pi * t + twist_phase))
    nod = np.deg2rad(12 * np.sin(2 * np.pi * 1.5 * t + nod_phase))
    roll = np.deg2rad(12 * np.sin(2 * np.pi * 1.0 * t + roll_phase))
    poses = np.tile(np.eye(4), (num_frames, 1, 1))
    path_phase = rng.uniform(0, 2 * np.pi, 3)
    drift = amplitude_m * np.stack([
        np.sin(2 * np.pi * t + path_phase[0]),
        0.6 * np.sin(2 * np.pi * 0.75 * t + path_phase[1]),
        0.8 * np.sin(2 * np.pi * 0.5 * t + path_phase[2]),
    ], axis=1)
    for i in range(num_frames):
        R = (Rotation.from_rotvec(nod[i] * np.array([1.0, 0, 0]))
             * Rotation.from_rotvec(roll[i] * np.array([0, 0, 1.0]))
             * Rotation.from_matrix(base)
             * Rotation.from_rotvec(twist[i] * np.array([1.0, 0, 0]))).as_matrix()  # twist about hand x
        centre = np.array([0.0, 0.0, distance_m]) + drift[i]
        poses[i, :3, :3] = R
        poses[i, :3, 3] = centre - R @ scene_centre_hand
    return poses
