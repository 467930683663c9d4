"""3D hand from 2D keypoints: the hand model's IK (``hold.models.hand.fitting.fit_hand``) at
metric scale, plus the fitted mesh for silhouettes and hand-attached object poses.

2D keypoints alone fix a hand's pose up to its size-depth ambiguity; the hand model's metric
size (betas at the prior mean unless given) resolves it, so the joints come out in metres in the
camera frame. Frames without keypoints are interpolated inside the fit (used for masks and
poses) but reported as not observed, so ``init/`` gets NaN rows there.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from hold.io.errors import InputError
from hold.models.hand import load_hand_model
from hold.models.hand.fitting import FitSettings, HandFit, fit_hand
from hold.preprocess.landmarks import landmark_positions
from hold.preprocess.landmarks import to_model_keypoints as landmarks_to_model


@dataclass
class HandTrack:
    joints: np.ndarray  # [T, 21, 3] fitted keypoints (every frame; interpolated where unobserved)
    vertices: np.ndarray  # [T, V, 3] posed mesh, camera frame
    faces: np.ndarray  # [F, 3]
    wrist_poses: np.ndarray  # [T, 4, 4] the hand's root frame → camera (rigid)
    observed: np.ndarray  # [T] bool: the frame had keypoints
    params: dict[str, np.ndarray]  # global_orient [T,3], hand_pose [T,45], betas [K], transl [T,3]
    reprojection_px: np.ndarray  # [T] mean keypoint reprojection error (NaN where unobserved)


def default_settings(image_size: tuple[int, int]) -> FitSettings:
    """IK settings for detector keypoints: noise and robust scales grow with the image (a
    detector's error is a fraction of the hand's size), temporal smoothing on."""
    side = max(image_size)
    sigma = max(2.0, 1.5 * side / 256)
    return FitSettings(keypoint_sigma=sigma, keypoint_robust=5 * sigma, temporal_weight=1.0,
                       temporal_iterations=60)


def lift_keypoints(keypoints2d: np.ndarray, K: np.ndarray, image_size: tuple[int, int],
                   model=None, betas=None, settings: FitSettings | None = None,
                   detector_landmarks: bool = False, start: HandTrack | None = None,
                   depth_scale: float | np.ndarray = 1.0, depth: np.ndarray | None = None) -> HandTrack:
    """Fit the hand model to keypoints [T, 21, 3] (u, v, confidence; NaN rows = missing).
    ``detector_landmarks``: the keypoints are MediaPipe's landmarks, not the model's keypoints
    (the fit uses landmarks.landmark_positions). ``start``: a track of the same keypoints to
    start from, skipping the IK's per-frame search (``fit_hand``'s stage 1, most of its cost),
    moved away from the camera by ``depth_scale`` (a new focal length f' = depth_scale · f
    sees the same hand, the same size, at depth_scale × its distance; or [T], per frame).
    ``depth`` [T]: target mean keypoint depths (m, NaN = none) that the fit follows within
    ``FitSettings.depth_sigma`` (hand_depth.py)."""
    keypoints2d = np.asarray(keypoints2d, np.float64)
    observed = np.isfinite(keypoints2d[..., :2]).all(-1).sum(-1) >= 4
    if not observed.any():
        raise InputError("no hand keypoints in any frame: nothing to fit the hand model to")
    model = model if model is not None else load_hand_model("builtin")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small batched ops: one thread is faster and deterministic
    try:
        fit = fit_hand(model, keypoints2d=keypoints2d, camera=K,
                       settings=settings or default_settings(image_size), betas=betas,
                       landmarks=landmark_positions if detector_landmarks else None,
                       start=None if start is None else _as_start(start, depth_scale), depth=depth)
        with torch.no_grad():
            double = model if model.template.dtype == torch.float64 else copy.deepcopy(model).double()
            out = double(fit.global_orient, fit.hand_pose, fit.betas.expand(len(fit.transl), -1), fit.transl)
    finally:
        torch.set_num_threads(threads)
    joints = fit.joints.numpy()
    wrist = _wrist_poses(out.bone_transforms, joints)
    seen = joints if not detector_landmarks else landmark_positions(fit.global_orient, fit.joints).numpy()
    projected = seen @ np.asarray(K).T
    projected = projected[..., :2] / projected[..., 2:]
    error = np.linalg.norm(projected - keypoints2d[..., :2], axis=-1)
    reprojection = np.full(len(joints), np.nan)
    for t in np.flatnonzero(observed):
        reprojection[t] = float(error[t][np.isfinite(error[t])].mean())
    params = {"global_orient": fit.global_orient.numpy(), "hand_pose": fit.hand_pose.numpy(),
              "betas": fit.betas.numpy(), "transl": fit.transl.numpy()}
    return HandTrack(joints, out.vertices.numpy(), model.faces.numpy(), wrist, observed, params, reprojection)


def _as_start(track: HandTrack, depth_scale: float | np.ndarray) -> HandFit:
    """A track as fit_hand's start, the whole hand moved along the rays through its wrist
    (``depth_scale``: one factor, or [T] per frame)."""
    wrist = torch.from_numpy(track.joints[:, 0]).double()
    factor = torch.as_tensor(np.asarray(depth_scale, np.float64)).reshape(-1, 1)
    transl = torch.from_numpy(track.params["transl"]).double() + (factor - 1.0) * wrist
    return HandFit(torch.from_numpy(track.params["global_orient"]).double(),
                   torch.from_numpy(track.params["hand_pose"]).double(),
                   torch.from_numpy(track.params["betas"]).double(), transl,
                   torch.from_numpy(track.joints).double(), torch.from_numpy(~track.observed), float("nan"))


def to_model_keypoints(keypoints2d: np.ndarray, track: HandTrack, K: np.ndarray) -> np.ndarray:
    """Detector landmarks [T, 21, 3] moved into the hand model's keypoint convention
    (landmarks.to_model_keypoints with the track's root orientations and keypoints)."""
    return landmarks_to_model(keypoints2d, track.params["global_orient"], track.joints, K)


def track_with_masks(track: HandTrack, keypoints2d: np.ndarray, labels: np.ndarray, K: np.ndarray,
                     image_size: tuple[int, int], model=None, detector_landmarks: bool = False):
    """Model-based tracking (hand_track.py): the frames without keypoints, and those whose
    fitted hand lies mostly where the masks show no hand (``TrackSettings.max_outside_fraction``:
    a wrong detection), refitted against the masks with the temporal prior. Returns the new
    track (``observed`` unchanged) and [T] bool: the frames refitted from the masks."""
    from hold.preprocess import hand_track

    settings = hand_track.TrackSettings()
    outside = hand_track.outside_fraction(track.vertices, labels, K)
    refit = ~track.observed | (outside > settings.max_outside_fraction)
    if not refit.any():
        return track, refit
    model = model if model is not None else load_hand_model("builtin")
    fit_settings = default_settings(image_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        params, out = hand_track.track_hand(model, track.params, keypoints2d, labels, K,
                                            fit_settings.keypoint_sigma, fit_settings.keypoint_robust, refit,
                                            settings, landmarks=landmark_positions if detector_landmarks else None)
    finally:
        torch.set_num_threads(threads)
    joints = out.joints.numpy()
    return HandTrack(joints, out.vertices.numpy(), track.faces, _wrist_poses(out.bone_transforms, joints),
                     track.observed, params, track.reprojection_px), refit


def _wrist_poses(bone_transforms: torch.Tensor, joints: np.ndarray) -> np.ndarray:
    """[T, 4, 4] the hand's root frame → camera. The root bone transform maps canonical points
    to posed ones: rotation R_global about the wrist joint; as a frame it sits at the posed wrist."""
    wrist = bone_transforms[:, 0].numpy().copy()
    wrist[:, :3, 3] = joints[:, 0]
    wrist[:, 3] = [0, 0, 0, 1]
    return wrist


def rasterize_mesh(vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Silhouette [H, W] bool of a camera-frame mesh: every projected triangle filled."""
    import cv2

    W, H = size
    z = vertices[:, 2]
    uv = vertices @ np.asarray(K).T
    uv = uv[:, :2] / np.maximum(uv[:, 2:], 1e-6)
    keep = (z[faces] > 1e-3).all(1)
    triangles = np.round(uv[faces[keep]] * 4).astype(np.int32)  # 2 bits of sub-pixel precision
    canvas = np.zeros((H, W), np.uint8)
    cv2.fillPoly(canvas, list(triangles), 1, lineType=cv2.LINE_8, shift=2)
    return canvas.astype(bool)
