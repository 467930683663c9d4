"""A few named articulations of the built-in hand (open hand, fist, pinch, two grasps).

They are written as anatomical angles (``BuiltinHand.hand_pose_from_angles``): per bone 1..15
(MANO order) the flexion, abduction and twist in degrees. They serve as test and measurement
poses (tests/models, tools/measure_ik.py) and as plausible hands for synthetic sequences.
"""

from __future__ import annotations

import numpy as np
import torch

# Per long finger: (MCP flexion, MCP abduction, PIP flexion, DIP flexion); per thumb:
# (CMC flexion, CMC abduction, CMC twist, MCP flexion, IP flexion). Degrees.
_POSES = {
    "open": dict(index=(5, 8, 5, 3), middle=(5, 0, 5, 3), ring=(5, -6, 5, 3),
                 pinky=(5, -12, 5, 3), thumb=(0, 5, 0, 5, 5)),
    "fist": dict(index=(85, 0, 100, 60), middle=(88, 0, 100, 60), ring=(90, 0, 100, 60),
                 pinky=(90, 0, 100, 60), thumb=(10, 5, -15, 58, 58)),
    "pinch": dict(index=(40, 0, 55, 35), middle=(25, 0, 35, 20), ring=(30, 0, 40, 25),
                  pinky=(35, -5, 40, 25), thumb=(32, 13, -25, 18, 19)),
    "cylinder": dict(index=(50, 0, 70, 40), middle=(52, 0, 72, 42), ring=(55, 0, 75, 45),
                     pinky=(60, -5, 75, 45), thumb=(30, 0, -40, 25, 25)),
    "box": dict(index=(55, 0, 25, 10), middle=(57, 0, 25, 10), ring=(58, 0, 25, 10),
                pinky=(60, -5, 25, 10), thumb=(45, 20, -30, 10, 5)),
}
POSE_NAMES = tuple(_POSES)
# MANO bone indices of each finger's three joints (see base.PARENTS).
_FINGER_BONES = {"index": (1, 2, 3), "middle": (4, 5, 6), "pinky": (7, 8, 9), "ring": (10, 11, 12),
                 "thumb": (13, 14, 15)}


def named_pose_angles(name: str) -> np.ndarray:
    """Angles [15, 3] in degrees (flexion, abduction, twist) of bones 1..15 for a named pose."""
    spec = _POSES[name]
    angles = np.zeros((15, 3))
    for finger, bones in _FINGER_BONES.items():
        values = spec[finger]
        if finger == "thumb":
            angles[bones[0] - 1] = values[:3]
            angles[bones[1] - 1, 0], angles[bones[2] - 1, 0] = values[3], values[4]
        else:
            angles[bones[0] - 1, :2] = values[:2]
            angles[bones[1] - 1, 0], angles[bones[2] - 1, 0] = values[2], values[3]
    return angles


def perturbed_angles(base_deg: np.ndarray, count: int, rng: np.random.Generator,
                     lower_deg: np.ndarray, upper_deg: np.ndarray,
                     spread_deg=(12.0, 5.0, 3.0)) -> np.ndarray:
    """``count`` variations [count, 15, 3] (degrees) of ``base_deg`` [15, 3].

    Gaussian noise with a standard deviation per axis (flexion, abduction, twist), clipped to
    the plausible ranges [lower_deg, upper_deg] ([15, 3] each).
    """
    noise = rng.normal(size=(count, 15, 3)) * np.asarray(spread_deg)
    return np.clip(base_deg + noise, lower_deg, upper_deg)


def uniform_angles(count: int, rng: np.random.Generator, lower_deg: np.ndarray,
                   upper_deg: np.ndarray, fraction: float = 0.8) -> np.ndarray:
    """Random articulations [count, 15, 3] (degrees), uniform in the central ``fraction`` of
    each joint's plausible range (the extremes of several joints at once look unnatural)."""
    middle, half = 0.5 * (lower_deg + upper_deg), 0.5 * fraction * (upper_deg - lower_deg)
    return middle + half * rng.uniform(-1.0, 1.0, size=(count, 15, 3))


def evaluation_poses(model, count: int, seed: int = 0, distance: float = 0.5):
    """A fixed, reproducible pose set: the named poses, then perturbations of them.

    ``model`` is a ``BuiltinHand`` (its joint frames and ranges are used). Returns float64
    tensors (global_orient [count, 3], hand_pose [count, 45], transl [count, 3]): pose i < 5 is
    ``POSE_NAMES[i]``, the rest cycle through the named poses with ``perturbed_angles`` noise.
    Global orientations are uniformly random rotations; the wrist lies about ``distance`` m in
    front of the camera (z), within ±5 cm sideways.
    """
    rng = np.random.default_rng(seed)
    lower = np.rad2deg(model.pose_lower.double().cpu().numpy())
    upper = np.rad2deg(model.pose_upper.double().cpu().numpy())
    angles = [named_pose_angles(n) for n in POSE_NAMES][:count]
    for i in range(len(angles), count):
        base = named_pose_angles(POSE_NAMES[i % len(POSE_NAMES)])
        angles.append(perturbed_angles(base, 1, rng, lower, upper)[0])
    angles = torch.deg2rad(torch.tensor(np.stack(angles)))
    hand_pose = model.hand_pose_from_angles(angles.to(model.joint_axes.dtype)).double()
    # Uniform random rotations: normalised Gaussian quaternions → axis-angle.
    quaternion = rng.normal(size=(count, 4))
    quaternion /= np.linalg.norm(quaternion, axis=1, keepdims=True)
    quaternion *= np.sign(quaternion[:, :1])
    half = np.arccos(np.clip(quaternion[:, 0], -1.0, 1.0))
    axis = quaternion[:, 1:] / np.maximum(np.sin(half), 1e-12)[:, None]
    global_orient = torch.tensor(axis * (2 * half)[:, None])
    transl = torch.tensor(rng.uniform(-0.05, 0.05, size=(count, 3)) + [0.0, 0.0, distance])
    return global_orient, hand_pose, transl
