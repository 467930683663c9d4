"""Engine II: hand–object pose refinement with interaction constraints (HOLD's stage 2).

From the coarse model: the object's SDF sampled on a grid (for contact and penetration) and
points on its surface (for its silhouette), and the posed hand mesh. Optimised jointly over all
frames with Adam: per-frame object pose corrections, one object scale, per-frame hand
translation (global orientation and articulation optional; HOLD freezes both), against silhouettes,
contact, penetration, 2D keypoints (when given), temporal smoothness and weak anchors to the
coarse poses. The result is written back into the scene for the final training stage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from hold.models.fields.priors import VolumeSDF
from hold.models.geometry import axis_angle_to_matrix

from . import terms

LABEL_OBJECT, LABEL_HAND, LABEL_IGNORE = 50, 150, 250


@dataclass
class RefineConfig:
    iterations: int = 150
    lr: float = 2e-3
    lr_scale: float = 5e-3
    # HOLD freezes the hand's orientation and articulation here (HOLD_METHOD.md §4, stage 2);
    # measured on the mug, refining the orientation raised MPJPE (2.59 → 3.02 mm).
    hand_orientation: bool = False
    articulation: bool = False  # also refine the 45 finger angles (with the pose prior)
    sdf_resolution: int = 64
    object_points: int = 1000  # surface points of the object (and hand vertices) projected
    target_pixels: int = 200  # mask pixels per frame and label for the coverage term
    w_outside: float = 1.0  # pixels
    w_coverage: float = 1.0  # pixels
    w_contact: float = 0.01  # mm²
    contact_fraction: float = 0.02  # of the contact zone pulled onto the object per frame
    w_penetration: float = 0.5  # mm²
    w_scale: float = 10.0  # (log scale)²: the masks, not contact alone, should resize the object
    w_keypoints: float = 0.05
    w_smooth: float = 1e5  # m² / rad² second differences
    w_anchor: float = 1e3
    w_pose_prior: float = 1e-3
    seed: int = 0


@torch.no_grad()
def object_geometry(obj, resolution: int, n_points: int, seed: int):
    """The coarse object as a VolumeSDF over its box and n_points on its zero level set."""
    from skimage.measure import marching_cubes

    lo, hi = obj.bounds[0], obj.bounds[1]
    axes = [torch.linspace(float(lo[d]), float(hi[d]), resolution) for d in range(3)]
    z, y, x = torch.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    points = torch.stack([x, y, z], -1).reshape(-1, 3)
    sdf = torch.cat([obj.field.sdf(points[i:i + 65536]) for i in range(0, len(points), 65536)])
    volume = sdf.reshape(resolution, resolution, resolution)
    if not float(volume.min()) < 0.0 < float(volume.max()):
        raise RuntimeError("refinement: the object's SDF has no surface inside its box (the object "
                           "was lost in the coarse stage; check the object masks in the report)")
    verts, _, _, _ = marching_cubes(volume.numpy(), 0.0)
    spacing = ((hi - lo) / (resolution - 1)).numpy()
    verts = verts[:, ::-1] * spacing + lo.numpy()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(verts), min(n_points, len(verts)), replace=False)
    return VolumeSDF(volume, torch.stack([lo, hi])), torch.tensor(verts[pick], dtype=torch.float32)


def _rigid(rot_delta, trans_delta, base_rot, base_trans):
    rot = base_rot @ axis_angle_to_matrix(rot_delta)
    return rot, base_trans + trans_delta


def refine_poses(scene, labels: np.ndarray, keypoints2d: np.ndarray | None = None,
                 cfg: RefineConfig | None = None, progress: bool = False) -> dict:
    """Refine the scene's object poses/scale and hand poses in place. labels [T, H, W] uint8.
    Returns before/after values of each term and the time taken."""
    cfg = cfg or RefineConfig()
    start = time.perf_counter()
    obj, hand = scene.object, scene.hand
    K = scene.K
    T = scene.n_frames
    sdf_fn, surface = object_geometry(obj, cfg.sdf_resolution, cfg.object_points, cfg.seed)
    contact_ids = terms.contact_zone(hand.hand)

    # Where each mesh may project: its own label, the other node's (occluder) and ignore.
    allowed = np.isin(labels, [LABEL_OBJECT, LABEL_HAND, LABEL_IGNORE])
    outside = torch.from_numpy(terms.distance_outside(allowed))
    hand_targets = terms.mask_targets(labels, LABEL_HAND, cfg.target_pixels, cfg.seed)
    object_targets = terms.mask_targets(labels, LABEL_OBJECT, cfg.target_pixels, cfg.seed + 1)
    # Silhouettes need only a subset of the hand's vertices (it is ~3k dense).
    hand_subset = torch.randperm(hand.hand.template.shape[0],
                                 generator=torch.Generator().manual_seed(cfg.seed))[:cfg.object_points]
    observed = None if keypoints2d is None else torch.as_tensor(keypoints2d, dtype=torch.float32)

    with torch.no_grad():
        base = obj.poses()
        base_rot, base_trans = base[:, :3, :3].clone(), base[:, :3, 3].clone()
        hand_orient0 = hand.global_orient.detach().clone()
        hand_transl0 = hand.transl.detach().clone()
        hand_pose0 = hand.hand_pose.detach().clone()
        hand_rot0 = axis_angle_to_matrix(hand_orient0)
    obj_rot = torch.zeros(T, 3, requires_grad=True)
    obj_trans = torch.zeros(T, 3, requires_grad=True)
    log_scale = torch.zeros((), requires_grad=True)
    h_orient = hand_orient0.clone().requires_grad_(cfg.hand_orientation)
    h_transl = hand_transl0.clone().requires_grad_(True)
    h_pose = hand_pose0.clone().requires_grad_(cfg.articulation)
    params = [{"params": [obj_rot, obj_trans, h_transl], "lr": cfg.lr},
              {"params": [log_scale], "lr": cfg.lr_scale}]
    if cfg.hand_orientation:
        params.append({"params": [h_orient], "lr": cfg.lr})
    if cfg.articulation:
        params.append({"params": [h_pose], "lr": cfg.lr})
    optimizer = torch.optim.Adam(params)

    scale0 = float(obj.scale)
    # With the orientation and articulation frozen (HOLD's default) only the translation moves
    # the hand, and the posed mesh moves with it: skinned once, not every iteration.
    moving_shape = cfg.hand_orientation or cfg.articulation
    if not moving_shape:
        with torch.no_grad():
            rest = hand.hand(h_orient, h_pose, hand.betas.detach()[None], hand_transl0)

    def posed_hand():
        """(vertices [T, V, 3], joints [T, 21, 3]) in the camera frame."""
        if moving_shape:
            out = hand.hand(h_orient, h_pose, hand.betas.detach()[None], h_transl)
            return out.vertices, out.joints
        shift = (h_transl - hand_transl0)[:, None]
        return rest.vertices + shift, rest.joints + shift

    def evaluate() -> dict[str, torch.Tensor]:
        rot, trans = _rigid(obj_rot, obj_trans, base_rot, base_trans)
        hand_rot = axis_angle_to_matrix(h_orient)
        scale = scale0 * log_scale.exp()  # metres per unit of the object's field
        verts, joints = posed_hand()  # camera frame
        obj_cam = scale * surface @ rot.transpose(1, 2) + trans[:, None]  # [T, P, 3]
        # Hand vertices in the object frame (inverse similarity), SDF back in metres.
        local = ((verts - trans[:, None]) @ rot) / scale
        sdf = scale * sdf_fn(local.reshape(-1, 3)).reshape(T, -1)
        uv_hand = terms.project(verts[:, hand_subset], K)
        uv_obj = terms.project(obj_cam, K)
        values = {
            "outside": cfg.w_outside * (terms.outside_penalty(uv_hand, outside)
                                        + terms.outside_penalty(uv_obj, outside)),
            "coverage": cfg.w_coverage * (terms.coverage_penalty(uv_hand, *hand_targets)
                                          + terms.coverage_penalty(uv_obj, *object_targets)),
            "contact": cfg.w_contact * terms.contact_penalty(sdf[:, contact_ids],
                                                             cfg.contact_fraction),
            "penetration": cfg.w_penetration * terms.penetration_penalty(sdf),
            # Rotations compared as matrices (axis-angle vectors jump near π).
            "smooth": cfg.w_smooth * (terms.second_difference(trans)
                                      + terms.second_difference(rot) * 0.01
                                      + terms.second_difference(h_transl)
                                      + terms.second_difference(hand_rot) * 0.01),
            "anchor": cfg.w_anchor * ((obj_trans**2).sum(1).mean() + (obj_rot**2).sum(1).mean() * 0.01
                                      + ((h_transl - hand_transl0) ** 2).sum(1).mean()
                                      + ((hand_rot - hand_rot0) ** 2).sum((1, 2)).mean() * 0.01),
            "scale": cfg.w_scale * log_scale**2,
        }
        if observed is not None and cfg.w_keypoints > 0:
            values["keypoints"] = cfg.w_keypoints * terms.keypoint_penalty(
                terms.project(joints, K), observed)
        if cfg.articulation:
            values["pose_prior"] = cfg.w_pose_prior * hand.hand.pose_prior(h_pose).mean()
        values["penetration_mm"] = (-sdf.clamp(max=0)).mean().detach() * 1000
        return values

    def total(values):
        return sum(v for k, v in values.items() if not k.endswith("_mm"))

    with torch.no_grad():
        before = {k: float(v) for k, v in evaluate().items()}
    iterator = range(cfg.iterations)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="refine", unit="it", dynamic_ncols=True)
    for _ in iterator:
        values = evaluate()
        optimizer.zero_grad(set_to_none=True)
        total(values).backward()
        optimizer.step()
    with torch.no_grad():
        after = {k: float(v) for k, v in evaluate().items()}
        rot, trans = _rigid(obj_rot, obj_trans, base_rot, base_trans)
        obj.set_poses(rot, trans)
        obj.set_scale(scale0 * float(log_scale.exp()))
        hand.global_orient.copy_(h_orient)
        hand.transl.copy_(h_transl)
        hand.hand_pose.copy_(h_pose)
    hand.refresh_deformation()
    return {"before": before, "after": after, "scale": float(obj.scale),
            "seconds": time.perf_counter() - start}
