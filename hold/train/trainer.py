"""Engine I: trains the compositional hash-grid model on a sequence folder.

One step: pick a few frames, sample pixels (mostly inside the hand/object box), render them
(hold.render), and take an Adam step on RGB L1 + segmentation + eikonal + hand-template prior +
pose terms. The occupancy grid of the object is refreshed on instant-NGP's schedule and the
hand's per-frame deformation cache as its pose moves. Fields, background, object poses, hand
pose/shape and the density scales β are optimised jointly.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from hold.models.object.symmetry import (MirrorPlanes, RevolutionAxis, fit_mirror_planes,
                                         fit_revolution_axis, reflect, revolution_l1,
                                         seen_surface_points, seen_volume, surface_normals,
                                         symmetry_l1)
from hold.ops import data_checks
from hold.render.rays import pixel_rays, sample_pixels
from hold.render.renderer import RenderSettings, render

from . import losses
from .config import TrainConfig

# Pairs of the seen surface closer than this many cells of the seen-surface grid (64³ over the
# field's box) agree on a mirror plane (fit_mirror_planes' tolerance).
MIRROR_TOLERANCE = 1.5


@dataclass
class TrainData:
    """The pixels of a sequence in memory."""

    images: torch.Tensor  # [T, H, W, 3] float in [0, 1]
    labels: torch.Tensor  # [T, H, W] uint8 mask labels
    boxes: torch.Tensor  # [T, 4] hand+object box per frame (u0, v0, u1, v1)
    init_joints: torch.Tensor  # [T, 21, 3] init hand joints (NaN rows where missing)


@dataclass
class History:
    steps: list = field(default_factory=list)  # (step, seconds, {loss: value})
    samples: int = 0
    seconds: float = 0.0

    def add(self, step: int, seconds: float, values: dict) -> None:
        self.steps.append((step, seconds, values))


def _param_groups(scene, cfg: TrainConfig) -> list[dict]:
    groups = {"grid": [], "mlp": [], "background": [], "object_pose": [], "hand_pose": [],
              "beta": []}
    for name, p in scene.named_parameters():
        if not p.requires_grad:
            continue
        if name.endswith("grid.params"):
            groups["grid"].append(p)
        elif name.startswith("background"):
            groups["background"].append(p)
        elif name.startswith("object.") and ("rot_delta" in name or "trans_delta" in name):
            groups["object_pose"].append(p)
        elif name.startswith("hand.") and name.split(".")[1] in (
                "global_orient", "hand_pose", "transl", "betas"):
            groups["hand_pose"].append(p)
        elif "log_beta" in name:
            groups["beta"].append(p)
        else:
            groups["mlp"].append(p)
    lrs = {"grid": cfg.lr_grid, "mlp": cfg.lr_mlp, "background": cfg.lr_background,
           "object_pose": cfg.lr_object_pose, "hand_pose": cfg.lr_hand_pose, "beta": cfg.lr_beta}
    return [{"params": ps, "lr": lrs[k], "name": k} for k, ps in groups.items() if ps]


class Trainer:
    """Owns the optimiser and the schedule; ``run`` trains for ``cfg.steps`` steps."""

    def __init__(self, scene, data: TrainData, cfg: TrainConfig):
        self.device = torch.device(cfg.device)
        # The scene and the pixels move to the device; the boxes (pixel sampling) and the
        # random generator stay on the CPU, so a seed means the same rays on every device.
        self.scene = scene.to(self.device)
        self.data = TrainData(data.images.to(self.device), data.labels.to(self.device),
                              data.boxes, data.init_joints.to(self.device))
        self.cfg = cfg
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.optimizer = torch.optim.Adam(_param_groups(scene, cfg), eps=1e-15)
        self.settings = RenderSettings(object_step=cfg.object_step, hand_step=cfg.hand_step)
        self.step_count = 0
        self.history = History()
        self.hand_frames_refreshed = 0  # frames whose skinning volume was rebuilt (maybe_refresh)
        self.rays_per_frame = cfg.rays_per_frame  # adapted when cfg.samples_per_step > 0
        self.samples_per_ray = 0.0  # running mean after culling (0: not measured yet)
        self.axis: RevolutionAxis | None = None  # cfg.w_revolution's axis (revolution_axis)
        self.mirror: MirrorPlanes | None = None  # cfg.w_mirror's planes (mirror_planes)
        joints = self.data.init_joints
        # The frames with init joints as indices, found once: a boolean mask per step would
        # read its count back from the GPU.
        self.joint_frames = torch.nonzero(torch.isfinite(joints).all(-1).all(-1)).reshape(-1)
        self.init_joints = torch.nan_to_num(joints)
        # A fixed random subset of the hand's vertices for the penetration term (a fresh
        # 1024 each step measured no better: cracker box CD 1.70 against 1.42 cm²).
        self.penetration_vertices = torch.randperm(
            scene.hand.hand.template.shape[0],
            generator=torch.Generator().manual_seed(cfg.seed))[:cfg.penetration_points].to(self.device)
        # The ops' NaN and index-range checks each read a value back from the GPU (about 15 per
        # step); on a GPU the step skips them and checks its loss instead (docs/ENGINE.md §8).
        self.check_op_inputs = self.device.type == "cpu"

    def seen_surface(self) -> torch.Tensor:
        """The points of the object's current surface that some frame sees, [M, 3] field
        coordinates (seen_surface_points)."""
        obj = self.scene.object
        with torch.no_grad():
            poses = obj.poses()
        return seen_surface_points(obj.field.sdf, obj.bounds.detach(), poses, self.scene.K,
                                   self.data.labels == losses.LABEL_OBJECT, float(obj.scale))

    def revolution_axis(self) -> RevolutionAxis:
        """The object's axis of revolution, fitted to its SDF at the stage's first step (a
        resumed run takes the one its checkpoint saved, so that it ends as if never stopped)."""
        if self.axis is None:
            # Only the surface some frame sees votes for the axis: the side none sees is
            # where the start from the masks left it (flat, or loose material).
            bounds = self.scene.object.bounds.detach()
            seen = self.seen_surface()
            self.axis = fit_revolution_axis(self.scene.object.field.sdf, bounds, seen)
            self.axis.seen = seen_volume(seen, bounds)
        return self.axis

    def mirror_planes(self) -> MirrorPlanes:
        """The object's mirror planes, fitted to the surface the images see at the stage's
        first step (saved in checkpoints like the revolution axis). No plane found: the prior
        adds no term (the pipeline reports the planes, docs/ENGINE.md §2)."""
        if self.mirror is None:
            obj = self.scene.object
            bounds = obj.bounds.detach()
            seen = self.seen_surface()
            cell = float((bounds[1] - bounds[0]).max()) / 64  # seen_surface_points' grid
            self.mirror = fit_mirror_planes(seen, surface_normals(obj.field.sdf, seen), MIRROR_TOLERANCE * cell)
            self.mirror.seen = seen_volume(seen, bounds)
        return self.mirror

    # -- schedule ------------------------------------------------------------------------------

    def refresh_object_occupancy(self) -> None:
        cfg, obj = self.cfg, self.scene.object
        progress = min(self.step_count / max(cfg.occupancy_anneal, 1), 1.0)
        floor = cfg.occupancy_beta_start + (cfg.occupancy_beta_end - cfg.occupancy_beta_start) * progress
        beta = max(float(obj.beta().detach()), floor)
        obj.occupancy.threshold = cfg.occupancy_threshold
        obj.occupancy.refresh(obj.sdf, beta, cfg.object_step, self.step_count, self.generator,
                              warmup_steps=cfg.occupancy_warmup, unit=float(obj.scale))

    def maybe_refresh(self) -> None:
        cfg, s = self.cfg, self.step_count
        if s % cfg.occupancy_every == 0:
            self.refresh_object_occupancy()
        if s % cfg.hand_refresh_every == 0:
            self.hand_frames_refreshed += self.scene.hand.refresh_moved(cfg.hand_refresh_tolerance)

    # -- one step ------------------------------------------------------------------------------

    def step(self) -> dict:
        checks = contextlib.nullcontext() if self.check_op_inputs else data_checks(False)
        with checks:
            values = self._step()
        if not math.isfinite(values["loss"]):
            raise RuntimeError(f"training diverged at step {self.step_count}: the loss is "
                               f"{values['loss']} ({values})")
        return values

    def _step(self) -> dict:
        cfg, scene, data = self.cfg, self.scene, self.data
        self.maybe_refresh()
        T = scene.n_frames
        width, height = scene.image_size
        frames = torch.randperm(T, generator=self.generator)[: cfg.frames_per_step].sort().values
        pixels, ray_frame = sample_pixels(data.boxes, frames, self.rays_per_frame, width,
                                          height, self.generator)
        # Host → device copies of the CPU generator's draws: non_blocking, so that torch does
        # not synchronise the stream after each (pageable memory is staged at once).
        dev = self.device
        frames, pixels, ray_frame = (t.to(dev, non_blocking=True)
                                     for t in (frames, pixels, ray_frame))
        origins, dirs = pixel_rays(scene.K, pixels)
        target = data.images[ray_frame, pixels[:, 1], pixels[:, 0]]
        labels = data.labels[ray_frame, pixels[:, 1], pixels[:, 0]]
        keep = (labels != losses.LABEL_IGNORE).float()
        offsets = torch.rand(len(origins), generator=self.generator).to(dev, non_blocking=True)
        out = render(scene, origins, dirs, ray_frame, scene.background(pixels), frames,
                     self.settings, offsets)

        terms = {
            "rgb": cfg.w_rgb * losses.rgb_l1(out.rgb, target, keep),
            "semantic": cfg.w_semantic * losses.semantic_l2(out.opacity, out.node_weights,
                                                            labels, keep),
        }
        obj = scene.object
        if cfg.w_eikonal > 0:
            n = cfg.eikonal_points
            lo, hi = obj.bounds[0], obj.bounds[1]
            uniform = lo + (hi - lo) * torch.rand(n // 2, 3, generator=self.generator).to(
                dev, non_blocking=True)
            near = out.object_points
            if len(near):
                pick = torch.randint(0, len(near), (n - n // 2,), generator=self.generator)
                near = near[pick.to(dev, non_blocking=True)]
            points = torch.cat([uniform, near])
            terms["eikonal"] = cfg.w_eikonal * losses.eikonal(obj.field.sdf, points)
            if cfg.w_curvature > 0:
                # In field units, then per metre (a field unit is obj.scale metres; a tensor,
                # so that no value is read back from the device).
                terms["curvature"] = cfg.w_curvature / obj.scale * losses.laplacian_l1(
                    obj.field.sdf, points, cfg.curvature_step / obj.scale)
            if cfg.w_revolution > 0:
                axis = self.revolution_axis()
                angles = torch.rand(len(points), generator=self.generator).to(
                    dev, non_blocking=True) * (2 * math.pi)
                terms["revolution"] = cfg.w_revolution * obj.scale * revolution_l1(
                    obj.field.sdf, points, axis.centre, axis.direction, angles, obj.bounds, axis.seen)
            if cfg.w_mirror > 0 and len(self.mirror_planes().normals):
                planes = self.mirror
                which = torch.randint(0, len(planes.normals), (len(points),), generator=self.generator).to(
                    dev, non_blocking=True)
                images = reflect(points, planes.centres[which], planes.normals[which])
                terms["mirror"] = cfg.w_mirror * obj.scale * symmetry_l1(
                    obj.field.sdf, points, images, obj.bounds, planes.seen)
        if cfg.w_hand_prior > 0 and len(out.hand_residual):
            terms["hand_prior"] = cfg.w_hand_prior * out.hand_residual.abs().mean() * 100
        hand = scene.hand
        all_joints = hand.hand.keypoints(hand.global_orient, hand.hand_pose, hand.betas[None],
                                         hand.transl)
        if cfg.w_penetration > 0:
            # The hand is held by its keypoints: penetration carves the object and moves its
            # pose, it does not articulate the fingers (that bent them into knots on the box).
            hand_points = hand.output(frames).vertices[:, self.penetration_vertices].detach()
            ramp = min(1.0, (self.step_count + 1) / max(cfg.penetration_warmup, 1))
            terms["penetration"] = cfg.w_penetration * ramp * losses.penetration(
                obj, hand_points, frames, robust=cfg.penetration_robust)
        if cfg.w_hand_joints > 0 and self.joint_frames.numel():
            sq = ((all_joints - self.init_joints) ** 2).sum(-1).index_select(0, self.joint_frames)
            terms["hand_joints"] = cfg.w_hand_joints * losses.geman_mcclure(sq, 0.01).mean()
        if cfg.w_pose_prior > 0:
            terms["pose_prior"] = cfg.w_pose_prior * hand.hand.pose_prior(hand.hand_pose).mean()
        if cfg.w_smooth > 0:
            poses = obj.poses()
            terms["smooth"] = cfg.w_smooth * (
                losses.second_difference(poses[:, :3, :3]) * 0.01
                + losses.second_difference(poses[:, :3, 3])
                + losses.second_difference(all_joints))
        loss = sum(terms.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        samples = out.counts["object"] + out.counts["hand"]
        self.history.samples += samples
        self.adapt_rays(samples, len(pixels))
        # One read back from the device for every logged value.
        read = torch.stack([v.detach() for v in terms.values()] + [loss.detach()]).tolist()
        values = dict(zip(list(terms) + ["loss"], read))
        values["samples"] = samples
        return values

    def adapt_rays(self, samples: int, rays: int) -> None:
        """With cfg.samples_per_step > 0: set the next step's rays per frame from a running
        mean of the samples per ray, so that a step costs about the same however much the
        occupancy grids cull (instant-NGP's fixed sample budget)."""
        cfg = self.cfg
        if cfg.samples_per_step <= 0 or rays == 0:
            return
        per_ray = samples / rays
        self.samples_per_ray = (per_ray if self.samples_per_ray == 0.0
                                else 0.9 * self.samples_per_ray + 0.1 * per_ray)
        wanted = cfg.samples_per_step / (cfg.frames_per_step * max(self.samples_per_ray, 1e-3))
        self.rays_per_frame = int(min(max(round(wanted), 16), cfg.max_rays_per_frame))

    def run(self, until_step: int | None = None, progress: bool = True, log=None,
            callback=None, desc: str = "train") -> History:
        """Train until step ``until_step`` (default cfg.steps; a resumed trainer continues from
        its step). ``log(step, seconds, values)`` every cfg.log_every steps; ``callback(step)``
        after every step (e.g. checkpoints)."""
        until_step = self.cfg.steps if until_step is None else until_step
        torch.set_num_threads(self.cfg.threads)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=until_step, initial=self.step_count, desc=desc, unit="step",
                       dynamic_ncols=True)
        start = time.perf_counter()
        seconds_before = self.history.seconds
        while self.step_count < until_step:
            values = self.step()
            self.history.seconds = seconds_before + time.perf_counter() - start
            if self.step_count % self.cfg.log_every == 0 or self.step_count == 1:
                self.history.add(self.step_count, self.history.seconds, values)
                if log:
                    log(self.step_count, self.history.seconds, values)
            if bar:
                bar.update(1)
                bar.set_postfix(loss=f"{values['loss']:.4f}", rgb=f"{values['rgb']:.4f}")
            if callback:
                callback(self.step_count)
        if bar:
            bar.close()
        return self.history


def nan_to_interpolated(values: np.ndarray) -> np.ndarray:
    """Fill NaN rows of values [T, ...] by linear interpolation over time (nearest at ends)."""
    values = np.array(values, dtype=np.float64)
    T = values.shape[0]
    flat = values.reshape(T, -1)
    ok = np.isfinite(flat).all(1)
    if ok.all() or not ok.any():
        return values
    idx = np.arange(T)
    for c in range(flat.shape[1]):
        flat[~ok, c] = np.interp(idx[~ok], idx[ok], flat[ok, c])
    return flat.reshape(values.shape)
