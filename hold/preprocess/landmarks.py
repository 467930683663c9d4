"""MediaPipe's landmarks are not the hand model's keypoints: fixed offsets between the two.

MediaPipe's wrist landmark sits at the wrist crease, distal to the model's wrist joint (its root
bone's rotation centre); its thumb CMC, knuckles and tips sit where its annotators put them. Left
alone, the IK bends and tilts the model to put its joints on the landmarks. SEQUENCE_FORMAT.md
leaves this to whoever converts detector output: here, each palm landmark (wrist, thumb CMC, the
four MCPs) is its keypoint J_j moved by a 3D offset d_j fixed in the hand's root frame,
J_j + R_root · d_j; the finger landmarks are taken as the keypoints themselves.

The offsets were fitted by ``tools/fit_landmark_offsets.py`` on synthetic sequences that are not
the benchmark's (``OFFSETS_SOURCE``), for the built-in hand; the largest is the wrist's, 1.1 cm
(MediaPipe's wrist sits at the crease). The tool also fits signed lengths along the finger
bones for the other landmarks; they are not used: on three benchmark sequences they changed
the MPJPE by < 1 mm either way, and they moved the real clip's fitted hand enough to break a
mask bar (docs/FRONTEND.md, "Landmark offsets"). The IK fits the landmarks (``landmark_positions``) to the detections, and
the sequence folder receives the detections moved onto the model's keypoints
(``to_model_keypoints``), the convention of init/hand_keypoints2d.
"""

from __future__ import annotations

import numpy as np
import torch

from hold.models.hand.kinematics import axis_angle_to_matrix

PALM_LANDMARKS = (0, 1, 5, 9, 13, 17)

# Fitted with tools/fit_landmark_offsets.py (metres; see the module docstring).
OFFSETS_SOURCE = ("python tools/fit_landmark_offsets.py on 7 built-in-hand sequences, hold-fast synth --seed 101..107 "
                  "(mug, banana, cracker box, mustard bottle, sugar box, scissors, bleach cleanser), detector: "
                  "legacy + tasks fused")
PALM_OFFSETS = {0: (-0.0102, 0.0026, -0.0029),
                1: (-0.008, -0.0046, 0.0031),
                5: (-0.0045, -0.0023, -0.0013),
                9: (0.0032, -0.0024, -0.0003),
                13: (0.0016, -0.0037, 0.0005),
                17: (-0.004, -0.0048, -0.0003)}


def landmark_positions(global_orient: torch.Tensor, keypoints: torch.Tensor) -> torch.Tensor:
    """Where MediaPipe's landmarks sit [M, 21, 3] for the model's keypoints [M, 21, 3] posed with
    root orientation ``global_orient`` [M, 3] (axis-angle), camera frame."""
    offsets = torch.zeros(21, 3, dtype=keypoints.dtype, device=keypoints.device)
    for j, value in PALM_OFFSETS.items():
        offsets[j] = torch.tensor(value, dtype=keypoints.dtype)
    return keypoints + torch.einsum("mij,nj->mni", axis_angle_to_matrix(global_orient), offsets)


def to_model_keypoints(detected: np.ndarray, global_orient: np.ndarray, keypoints: np.ndarray,
                       K: np.ndarray) -> np.ndarray:
    """Detections [T, 21, 3] (u, v, confidence) moved by the image displacement between the
    fitted model's landmarks and its keypoints (``global_orient`` [T, 3], ``keypoints`` [T, 21, 3]):
    the detector's 2D evidence in the model's keypoint convention. NaN rows stay NaN."""
    orient = torch.as_tensor(np.asarray(global_orient, np.float64))
    joints = torch.as_tensor(np.asarray(keypoints, np.float64))
    marks = landmark_positions(orient, joints).numpy()
    K = np.asarray(K, np.float64)

    def project(points):
        image = points @ K.T
        return image[..., :2] / image[..., 2:]

    out = np.array(detected, np.float64, copy=True)
    out[..., :2] -= project(marks) - project(joints.numpy())
    return out
