"""Renders a hand–object scene along camera rays: each node marches its own occupancy (the
object's canonical grid through its per-frame pose, the hand's per-frame posed-space masks),
evaluates its field on the kept samples (hand samples inverse-skinned first), the two nodes'
samples are merged in depth order and composited with per-node semantics over the background."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hold.ops import composite, march_rays, merge_samples

# Node order in the compositor: object 0, hand 1 (node_weights columns).
OBJECT, HAND = 0, 1


@dataclass
class RenderOutput:
    rgb: torch.Tensor  # [R, 3]
    opacity: torch.Tensor  # [R]
    node_weights: torch.Tensor  # [R, 2] object, hand
    depth: torch.Tensor  # [R]
    object_points: torch.Tensor  # [S_o, 3] object-frame sample positions (for regularisers)
    object_sdf: torch.Tensor  # [S_o]
    hand_residual: torch.Tensor  # [S_h] learned SDF minus the template prior at hand samples
    counts: dict = field(default_factory=dict)  # samples per node


@dataclass
class RenderSettings:
    object_step: float = 0.004  # metres between samples
    hand_step: float = 0.004
    near: float = 0.05
    far: float = 3.0
    max_samples: int = 512
    eps: float = 1e-4  # early-termination transmittance


def _transform(points: torch.Tensor, tf: torch.Tensor) -> torch.Tensor:
    """points [S, 3] by per-point 3×4 transforms tf [S, 3, 4]."""
    return (tf[:, :, :3] @ points[:, :, None])[:, :, 0] + tf[:, :, 3]


def take(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values[index] along dim 0 for tensors that need gradients. Advanced indexing's backward
    scatters with atomics on multi-threaded CPUs (run-to-run differences); index_select's
    backward (index_add) is deterministic, which keeps CPU training bitwise reproducible."""
    return torch.index_select(values, 0, index)


def render(scene, origins: torch.Tensor, dirs: torch.Tensor, frame: torch.Tensor,
           bg_rgb: torch.Tensor, batch_frames: torch.Tensor, settings: RenderSettings,
           offsets: torch.Tensor | None = None) -> RenderOutput:
    """scene: has ``object`` (ObjectNode) and ``hand`` (HandNode). origins, dirs [R, 3];
    frame [R] int64 (each in batch_frames); bg_rgb [R, 3]; offsets [R] marching jitter."""
    n = origins.shape[0]
    near = torch.full((n,), settings.near, device=origins.device)
    far = torch.full((n,), settings.far, device=origins.device)
    obj, hand = scene.object, scene.hand

    # --- object: canonical grid placed by the per-frame pose --------------------------------
    cam_to_obj = obj.camera_to_node()  # [T, 3, 4], differentiable in the pose corrections
    occ = obj.occupancy
    s_o = march_rays(origins, dirs, near, far, occ.bits, occ.bounds[None], occ.resolution,
                     settings.object_step, max_samples=settings.max_samples, offsets=offsets,
                     frame=frame, transforms=cam_to_obj.detach())
    mid_o = 0.5 * (s_o.t_starts + s_o.t_ends)
    f_o = frame[s_o.ray_indices]
    # Rays into the object frame once per ray, then samples along them (cheaper than one
    # 3×4 transform per sample; the same map).
    ray_tf = take(cam_to_obj, frame)  # [R, 3, 4]
    origins_obj = _transform(origins, ray_tf)
    dirs_obj = (ray_tf[:, :, :3] @ dirs[:, :, None])[:, :, 0]
    x_obj = take(origins_obj, s_o.ray_indices) + mid_o[:, None] * take(dirs_obj, s_o.ray_indices)
    sdf_o, feat_o = obj.field.geometry(x_obj)
    sdf_o = sdf_o * obj.scale  # metres
    normals = None
    if obj.field.use_normals:
        # Surface normals for shading, as constants of the colour head (no second-order
        # terms through the geometry): ∇s in the object frame, rotated into the camera.
        (grad,) = torch.autograd.grad(sdf_o.sum(), x_obj, retain_graph=True) if \
            sdf_o.requires_grad else (torch.zeros_like(x_obj),)
        rot = take(cam_to_obj.detach(), f_o)[:, :, :3]  # camera → object rotation
        normals = torch.nn.functional.normalize((grad[:, None, :] @ rot)[:, 0], dim=1)
    rgb_o = obj.field.color(feat_o, f_o, normals)

    # --- hand: posed-space masks, then inverse skinning of the kept samples -----------------
    hand_out = hand.output(batch_frames)
    s_h = march_rays(origins, dirs, near, far, hand.mask_bits, hand.mask_aabbs,
                     hand.mask_resolution, settings.hand_step, max_samples=settings.max_samples,
                     offsets=offsets, frame=frame)
    mid_h = 0.5 * (s_h.t_starts + s_h.t_ends)
    x_cam_h = origins[s_h.ray_indices] + mid_h[:, None] * dirs[s_h.ray_indices]
    f_h = frame[s_h.ray_indices]
    x_can, valid = hand.canonical_points(x_cam_h, f_h, batch_frames, hand_out.bone_transforms)
    sdf_h, residual_h, feat_h = hand.field.geometry_parts(x_can)
    # Samples the deformation cannot place (too far from the hand) are empty space.
    sdf_h = torch.where(valid, sdf_h, torch.full_like(sdf_h, hand.margin))
    rgb_h = hand.field.color(feat_h)

    # --- merge in depth order and composite -------------------------------------------------
    packed, order = merge_samples(s_o.packed, mid_o, s_h.packed, mid_h)
    cat = lambda a, b: take(torch.cat([a, b]), order)  # noqa: E731
    node = cat(torch.zeros_like(s_o.ray_indices), torch.ones_like(s_h.ray_indices))
    beta = torch.stack([obj.beta(), hand.beta()])
    out = composite(packed, cat(s_o.t_starts, s_h.t_starts), cat(s_o.t_ends, s_h.t_ends),
                    cat(sdf_o, sdf_h).contiguous(), node, beta, cat(rgb_o, rgb_h).contiguous(),
                    bg_rgb.contiguous(), eps=settings.eps)
    return RenderOutput(out.rgb, out.opacity, out.node_weights, out.depth, x_obj, sdf_o,
                        residual_h[valid], {"object": int(mid_o.numel()), "hand": int(mid_h.numel())})
