"""The hand node (HOLD's MANO node on hash grids): a canonical (flat-hand) SDF + colour field
that starts from the hand template's signed distance, per-frame articulated pose parameters of
the hand model, and a per-frame deformation cache — skinning-weight volumes for inverse
skinning of ray samples and posed-space occupancy masks that cull samples far from the hand
before any skinning is done."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hold.models.fields.priors import VolumeSDF, mesh_sdf_volume
from hold.models.fields.sdf_field import SDFColorField
from hold.models.hand.base import HandModel, HandOutput
from hold.ops import HashGridSpec, inverse_skin_volume, occgrid_pack, skin_weight_volume
from hold.ops.skinning import safe_cutoff


class HandNode(torch.nn.Module):
    """Args:
        hand_model: the HandModel whose parameters are optimised.
        global_orient [T, 3], hand_pose [T, 45], transl [T, 3], betas [num_betas]: start values
            (e.g. from IK on the init joints).
        mask_resolution: cells per axis of the per-frame posed-space marching masks.
        volume_resolution: voxels per axis of the per-frame skinning-weight volumes.
        margin: samples farther than this from the posed hand are culled (metres).
    """

    semantic = "hand"

    def __init__(self, hand_model: HandModel, global_orient, hand_pose, transl, betas,
                 mask_resolution: int = 64, volume_resolution: int = 32, margin: float = 0.012,
                 beta: float = 0.003, generator: torch.Generator | None = None):
        super().__init__()
        self.hand = hand_model
        for p in self.hand.parameters():
            p.requires_grad_(False)
        f32 = dict(dtype=torch.float32)
        self.global_orient = torch.nn.Parameter(torch.as_tensor(global_orient, **f32).clone())
        self.hand_pose = torch.nn.Parameter(torch.as_tensor(hand_pose, **f32).clone())
        self.transl = torch.nn.Parameter(torch.as_tensor(transl, **f32).clone())
        self.betas = torch.nn.Parameter(torch.as_tensor(betas, **f32).reshape(-1).clone())
        self.log_beta = torch.nn.Parameter(torch.tensor(float(np.log(beta))))
        self.mask_resolution, self.volume_resolution, self.margin = (
            mask_resolution, volume_resolution, margin)

        with torch.no_grad():
            template, _ = self.hand.canonical(self.betas[None])
        template = template[0].numpy()
        lo, hi = template.min(0) - 0.02, template.max(0) + 0.02
        bounds = np.stack([lo, hi])
        sdf = mesh_sdf_volume(template, self.hand.faces.numpy(), bounds, 48)
        prior = VolumeSDF(torch.as_tensor(sdf), torch.as_tensor(bounds))
        spec = HashGridSpec(n_levels=8, n_features=2, log2_table_size=14, base_resolution=8,
                            per_level_scale=1.5)
        self.field = SDFColorField(torch.as_tensor(bounds, **f32), prior, spec=spec,
                                   generator=generator)
        n_frames = self.transl.shape[0]
        m, v = mask_resolution, volume_resolution
        self.register_buffer("mask_bits", torch.zeros(n_frames, m**3 // 8, dtype=torch.uint8))
        self.register_buffer("mask_aabbs", torch.zeros(n_frames, 2, 3))
        self.register_buffer("volumes", torch.zeros(n_frames, v, v, v, 17))
        # The keypoints each frame's volume and mask were built from (NaN: never built).
        self.register_buffer("refreshed_joints", torch.full((n_frames, 21, 3), float("nan")))

    @property
    def max_dist(self) -> float:
        """Inverse skinning's validity distance (metres from the posed vertices)."""
        return self.margin + 0.005

    @property
    def n_frames(self) -> int:
        return self.transl.shape[0]

    def beta(self) -> torch.Tensor:
        return self.log_beta.exp().clamp(min=1e-4)

    def output(self, frames: torch.Tensor | None = None) -> HandOutput:
        """The hand model's output for the frames (all when None), differentiable."""
        sel = slice(None) if frames is None else frames
        return self.hand(self.global_orient[sel], self.hand_pose[sel], self.betas[None],
                         self.transl[sel])

    @torch.no_grad()
    def refresh_deformation(self, frames: torch.Tensor | None = None) -> None:
        """Rebuild the skinning-weight volumes and marching masks of the frames from the
        current pose (weights are constants between refreshes, as HOLD detaches them)."""
        frames = torch.arange(self.n_frames, device=self.transl.device) if frames is None else frames
        posed = self.output(frames).vertices
        self.refreshed_joints[frames] = self._keypoints(frames)
        res_m, res_v = self.mask_resolution, self.volume_resolution
        vertex_weights = self.hand.skin_weights.contiguous()
        # Mask cell centres in grid_sample's [-1, 1] (align_corners=True: ±1 = the box faces).
        centres = (torch.arange(res_m, device=posed.device) + 0.5) / res_m * 2 - 1
        zz, yy, xx = torch.meshgrid(centres, centres, centres, indexing="ij")
        grid = torch.stack([xx, yy, zz], -1)[None]
        for i, f in enumerate(frames.tolist()):
            verts = posed[i]
            bounds = torch.stack([verts.min(0).values - self.max_dist,
                                  verts.max(0).values + self.max_dist])
            # The mask keeps cells whose centre is within margin + half a cell diagonal of the
            # hand (trilinear in the volume's last channel): a conservative shell.
            mask_distance = self.margin + float((bounds[1] - bounds[0]).norm()) / res_m / 2
            # Voxels beyond the cutoff are read by no valid sample and no kept mask cell: their
            # k-NN search is skipped (exact for both; hold.ops.skinning.safe_cutoff).
            cutoff = safe_cutoff(bounds, (res_v,) * 3, max(self.max_dist, mask_distance))
            volume = skin_weight_volume(verts, vertex_weights, bounds, (res_v,) * 3,
                                        cutoff=cutoff)
            self.volumes[f] = volume
            self.mask_aabbs[f] = bounds
            distance = F.grid_sample(volume[..., -1][None, None], grid, align_corners=True)
            near = (distance.reshape(-1) < mask_distance).float()
            self.mask_bits[f] = occgrid_pack(near, 0.5)

    def _keypoints(self, frames: torch.Tensor | None = None) -> torch.Tensor:
        """[F, 21, 3] the frames' keypoints (all when None), without skinning the mesh."""
        sel = slice(None) if frames is None else frames
        return self.hand.keypoints(self.global_orient[sel], self.hand_pose[sel], self.betas[None], self.transl[sel])

    @torch.no_grad()
    def refresh_moved(self, tolerance: float) -> int:
        """Refresh only the frames whose keypoints moved more than ``tolerance`` (metres) since
        their volume was built (every frame the first time); returns how many were refreshed.
        A refresh costs ~40 ms per frame on 2 cores, so refreshing all 300 frames of a long
        video every few hundred steps was a quarter of its training time; frames the
        optimiser barely moved keep volumes that still fit them (their cells are ~7 mm)."""
        moved = ~((self._keypoints() - self.refreshed_joints).norm(dim=-1).amax(1) <= tolerance)  # NaN: moved
        frames = torch.nonzero(moved).flatten()
        if len(frames):
            self.refresh_deformation(frames)
        return int(len(frames))

    def canonical_points(self, x: torch.Tensor, frame: torch.Tensor, batch_frames: torch.Tensor,
                         bone_transforms: torch.Tensor):
        """Inverse-skin posed samples. x [S, 3] camera space; frame [S] global frame ids, all in
        batch_frames [B]; bone_transforms [B, 16, 4, 4] of those frames (differentiable).
        Returns canonical points [S, 3] and validity [S]."""
        lookup = torch.full((self.n_frames,), -1, dtype=torch.int64, device=x.device)
        lookup[batch_frames] = torch.arange(batch_frames.numel(), device=x.device)
        local = lookup[frame]
        return inverse_skin_volume(x, local, self.volumes[batch_frames],
                                   self.mask_aabbs[batch_frames],
                                   bone_transforms[:, :, :3, :].contiguous(), self.max_dist)

    @torch.no_grad()
    def template_sdf(self, x: torch.Tensor, frame: int) -> torch.Tensor:
        """Signed distance [N] of the posed hand's starting shape (the template prior, not the
        learned residual) at camera-space points x [N, 3] of one frame; points the deformation
        cannot place (beyond ``max_dist`` of the hand) get +max_dist. Reads the deformation
        cache: call ``refresh_deformation`` first."""
        out = torch.full((len(x),), self.max_dist, dtype=x.dtype, device=x.device)
        lo, hi = self.mask_aabbs[frame]
        near = torch.nonzero(((x >= lo) & (x <= hi)).all(1)).reshape(-1)
        if near.numel():
            frames = torch.tensor([frame], device=x.device)
            bones = self.output(frames).bone_transforms
            canonical, valid = self.canonical_points(x[near], frames.expand(near.numel()), frames, bones)
            sdf = self.field.prior(canonical).to(x.dtype)
            out[near] = torch.where(valid, sdf, out[near])
        return out

