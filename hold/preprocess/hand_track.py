"""Model-based tracking: the hand model fitted to every frame by render-and-compare against the
hand mask, the detected keypoints and a temporal prior, so that frames the detector missed (or
got wrong) still get a hand.

After the keypoint IK (hand3d.py) and the masks (masks.py), all frames are refitted at once:

    E = Σ_t∈detected Σ_j c ρ(|π(J_tj) − u_tj|²; τ) / σ²          the detector's keypoints
      + λ_out Σ_t∈refit mean_v D_allowed(π(v_tv))² / s²          no skin where the frame has none
      + λ_in  Σ_t∈refit mean_p min(min_v |π(v_tv) − p|, r)² / s²  cover the hand label's pixels
      + λ_time Σ_t |J_{t+1} − 2 J_t + J_{t−1}|² / σ3²             smooth motion
      + λ_pose Σ_t prior(θ_t) + λ_stay Σ_t |x_t − x_t⁰|²            plausible, near the IK's track

D_allowed is the distance (px) to the pixels that may show the hand: the hand label, and the
object and ignore labels (the object may hide it), grown by 2 px. The second silhouette term
(a truncated chamfer from the hand label's pixels to the projected vertices) pulls the model
onto hand pixels it does not cover. "refit" frames are those without detected keypoints and
those whose keypoints disagree with the mask (``mask_disagreement``); detected frames keep
their keypoint term. The silhouette is the model's vertices projected, not a rasterised
render: it is differentiable everywhere and cheap on a CPU (778 points per frame), and the hand
mask is a silhouette of the visible hand, which the projected vertices of an unoccluded hand
fill. Solved with L-BFGS on all frames together (float64).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from hold.io.sequence import LABEL_HAND, LABEL_IGNORE, LABEL_OBJECT

ALLOWED_GROWTH_PX = 2
INSIDE_SAMPLES = 256  # hand-label pixels per frame for the coverage term
INSIDE_TRUNCATION_PX = 30.0


@dataclass
class TrackSettings:
    silhouette_scale_px: float = 4.0  # s: a silhouette residual of s pixels costs like 1σ of a keypoint
    outside_weight: float = 1.0  # λ_out
    inside_weight: float = 0.5  # λ_in
    temporal_weight: float = 1.0  # λ_time (as the IK's)
    joint_sigma_m: float = 0.005  # σ3 of the temporal term
    pose_prior_weight: float = 1.0
    stay_weight: float = 1e-3  # per parameter, keeps unconstrained directions where the IK put them
    iterations: int = 60
    # a detected frame whose fitted silhouette puts more than this fraction of its vertices
    # outside the allowed region is refitted without its keypoints
    max_outside_fraction: float = 0.35


def _distance_to(region: np.ndarray) -> np.ndarray:
    """Euclidean distance (px) of every pixel to the nearest pixel of ``region`` [H, W]."""
    import cv2

    if not region.any():
        return np.full(region.shape, 1e3, np.float32)
    return cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 5)


def _allowed(labels: np.ndarray) -> np.ndarray:
    import cv2

    region = np.isin(labels, (LABEL_HAND, LABEL_OBJECT, LABEL_IGNORE)).astype(np.uint8)
    size = 2 * ALLOWED_GROWTH_PX + 1
    return cv2.dilate(region, np.ones((size, size), np.uint8)) > 0


def _sample(field: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of per-frame images field [T, H, W] at pixels uv [T, N, 2] (outside the
    image: the border value)."""
    T, H, W = field.shape
    grid = torch.stack([(uv[..., 0] + 0.5) / W * 2 - 1, (uv[..., 1] + 0.5) / H * 2 - 1], -1)
    out = F.grid_sample(field[:, None], grid[:, None], mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out[:, 0, 0]


def _project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    image = points @ K.T
    return image[..., :2] / image[..., 2:].clamp_min(1e-4)


def outside_fraction(vertices: np.ndarray, labels: np.ndarray, K: np.ndarray) -> np.ndarray:
    """[T] fraction of each frame's projected vertices farther than 2 px from any pixel that may
    show the hand (hand, object or ignore label)."""
    out = np.zeros(len(vertices))
    for t in range(len(vertices)):
        allowed = _allowed(labels[t])
        uv = vertices[t] @ np.asarray(K).T
        uv = np.round(uv[:, :2] / uv[:, 2:]).astype(int)
        H, W = allowed.shape
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H)
        ok = np.zeros(len(uv), bool)
        ok[inside] = allowed[uv[inside, 1], uv[inside, 0]]
        out[t] = 1.0 - ok.mean()
    return out


def track_hand(model, params: dict, keypoints2d: np.ndarray, labels: np.ndarray, K: np.ndarray,
               keypoint_sigma: float, keypoint_robust: float, refit: np.ndarray,
               settings: TrackSettings | None = None, landmarks=None):
    """Refit the hand track (``params``: global_orient [T,3], hand_pose [T,45], betas [B],
    transl [T,3] from the IK) as the module docstring says. ``refit`` [T] bool marks the frames
    that get the silhouette terms and lose their keypoint term. ``landmarks`` as in
    ``fit_hand`` (where the detector's keypoints sit on the model). Returns (params as numpy
    float64, the model's output for them)."""
    settings = settings or TrackSettings()
    model = model if model.template.dtype == torch.float64 else copy.deepcopy(model).double()
    T = len(labels)
    K_t = torch.as_tensor(np.asarray(K), dtype=torch.float64)
    kp = torch.as_tensor(np.nan_to_num(np.asarray(keypoints2d, np.float64)[..., :2]))
    confidence = np.asarray(keypoints2d, np.float64)[..., 2]
    confidence = np.where(np.isfinite(confidence) & ~refit[:, None], np.clip(confidence, 0, None), 0.0)
    confidence = torch.as_tensor(confidence)
    refit_t = torch.as_tensor(refit)
    allowed_distance = torch.as_tensor(np.stack([_distance_to(_allowed(labels[t])) for t in range(T)]),
                                       dtype=torch.float64)
    rng = np.random.default_rng(0)
    inside_pixels = np.zeros((T, INSIDE_SAMPLES, 2))
    inside_valid = np.zeros((T, INSIDE_SAMPLES))
    for t in np.flatnonzero(refit):
        ys, xs = np.nonzero(labels[t] == LABEL_HAND)
        if len(xs) == 0:
            continue
        pick = rng.choice(len(xs), size=min(INSIDE_SAMPLES, len(xs)), replace=False)
        inside_pixels[t, :len(pick)] = np.stack([xs[pick], ys[pick]], 1)
        inside_valid[t, :len(pick)] = 1.0
    inside_pixels, inside_valid = torch.as_tensor(inside_pixels), torch.as_tensor(inside_valid)

    start = torch.cat([torch.as_tensor(params["global_orient"], dtype=torch.float64),
                       torch.as_tensor(params["hand_pose"], dtype=torch.float64),
                       torch.as_tensor(params["transl"], dtype=torch.float64)], 1)
    betas = torch.as_tensor(params["betas"], dtype=torch.float64).reshape(1, -1).expand(T, -1)
    x = start.clone().requires_grad_(True)
    s = settings

    def energy():
        joints = model.keypoints(x[:, :3], x[:, 3:48], betas, x[:, 48:])
        seen = joints if landmarks is None else landmarks(x[:, :3], joints)
        residual = _project(seen, K_t) - kp
        squared = (residual**2).sum(-1)
        robust = keypoint_robust**2 * squared / (keypoint_robust**2 + squared)
        total = 0.5 * (confidence * robust).sum() / keypoint_sigma**2
        if refit.any():
            # Only the refitted frames are skinned (the mesh is 4x the cost of the keypoints).
            xr = x[refit_t]
            uv = _project(model(xr[:, :3], xr[:, 3:48], betas[refit_t], xr[:, 48:]).vertices, K_t)
            outside = _sample(allowed_distance[refit_t], uv)
            total = total + 0.5 * s.outside_weight * (outside**2).mean(1).sum() / s.silhouette_scale_px**2
            if inside_valid.any():
                gap = torch.cdist(inside_pixels[refit_t], uv).min(-1).values.clamp(max=INSIDE_TRUNCATION_PX)
                weight = inside_valid[refit_t]
                per_frame = (weight * gap**2).sum(1) / weight.sum(1).clamp_min(1)
                total = total + 0.5 * s.inside_weight * per_frame.sum() / s.silhouette_scale_px**2
        if T > 2:
            acceleration = joints[2:] - 2 * joints[1:-1] + joints[:-2]
            total = total + 0.5 * s.temporal_weight * (acceleration**2).sum() / s.joint_sigma_m**2
        total = total + s.pose_prior_weight * model.pose_prior(x[:, 3:48]).sum()
        total = total + 0.5 * s.stay_weight * ((x - start) ** 2).sum()
        return total

    optimizer = torch.optim.LBFGS([x], max_iter=s.iterations, history_size=20, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = energy()
        value.backward()
        return value

    optimizer.step(closure)
    with torch.no_grad():
        out = model(x[:, :3], x[:, 3:48], betas, x[:, 48:])
    fitted = {"global_orient": x[:, :3].detach().numpy(), "hand_pose": x[:, 3:48].detach().numpy(),
              "betas": np.asarray(params["betas"]), "transl": x[:, 48:].detach().numpy()}
    return fitted, out
