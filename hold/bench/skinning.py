"""Inverse skinning throughput: 2^18 float32 samples uniform in the posed built-in hand's box
(the "cylinder" grasp, the box the hand node uses), weight-volume lookup + closed-form inverse
(ours) against HOLD's K-NN deformer (k = 15, the pure-torch reference) in the same run; the
backward against autograd through the volume reference; and one frame's 32³ weight volume."""

from __future__ import annotations

import torch

from hold.models.hand.builtin import BuiltinHand
from hold.models.hand.poses import named_pose_angles
from hold.ops import inverse_skin_volume, skin_weight_volume
from hold.ops.reference import skinning as ref

from .timing import BenchRow, median_seconds

MARGIN = 0.017  # the hand node's box margin and validity distance (margin + 5 mm)
RESOLUTION = 32


def grasp_frame():
    """Posed vertices [1, V, 3], vertex weights [V, J], bone transforms [1, J, 3, 4] and the
    box [1, 2, 3] of the built-in hand in the cylinder grasp, 0.5 m in front of the camera."""
    hand = BuiltinHand()
    angles = torch.deg2rad(torch.tensor(named_pose_angles("cylinder"), dtype=torch.float32))
    with torch.no_grad():
        out = hand(torch.tensor([[0.3, -0.2, 0.1]]), hand.hand_pose_from_angles(angles[None]),
                   torch.zeros(1, hand.num_betas), torch.tensor([[0.0, 0.0, 0.5]]))
    verts = out.vertices
    bounds = torch.stack([verts[0].min(0).values - MARGIN, verts[0].max(0).values + MARGIN])[None]
    transforms = out.bone_transforms[:, :, :3, :].contiguous()
    return verts, hand.skin_weights.contiguous(), transforms, bounds


def run(n_samples: int = 1 << 18, repeats: int = 11, ref_repeats: int = 3) -> list[BenchRow]:
    verts, weights, transforms, bounds = grasp_frame()
    resolution = (RESOLUTION,) * 3
    volume = skin_weight_volume(verts[0], weights, bounds[0], resolution, backend="native")[None]
    gen = torch.Generator().manual_seed(0)
    x = bounds[0, 0] + torch.rand(n_samples, 3, generator=gen) * (bounds[0, 1] - bounds[0, 0])
    frame = torch.zeros(n_samples, dtype=torch.int64)
    grad = torch.randn(n_samples, 3, generator=gen)
    args = (x, frame, volume, bounds, transforms, MARGIN)

    def ours_fwd():
        return torch.ops.hold.inverse_skin_volume_fwd(*args)

    def ours_fwd_bwd():
        ours_fwd()
        return torch.ops.hold.inverse_skin_volume_bwd(grad, x, frame, volume, bounds, transforms,
                                                      True, True)

    def knn_fwd():
        with torch.no_grad():
            return ref.inverse_skin_knn(x, frame, verts, weights, transforms, k=15)

    def ref_fwd_bwd():
        t = transforms.clone().requires_grad_()
        px = x.clone().requires_grad_()
        ref.inverse_skin_volume(px, frame, volume, bounds, t, MARGIN)[0].backward(grad)
        return t.grad

    # Same numbers as the reference before timing anything.
    x_can, valid = inverse_skin_volume(*args, backend="native")
    x_ref, valid_ref = ref.inverse_skin_volume(*args)
    torch.testing.assert_close(x_can[valid], x_ref[valid], rtol=1e-4, atol=1e-6)
    x_knn, valid_knn = knn_fwd()
    both = valid & valid_knn
    agreement_mm = float((x_can[both] - x_knn[both]).norm(dim=1).median()) * 1000
    t_ours = median_seconds(ours_fwd, repeats)
    t_wrapped = median_seconds(lambda: inverse_skin_volume(*args, backend="native"), repeats)
    workload = (f"built-in hand, cylinder grasp, {n_samples} pts uniform in its box "
                f"({float(valid.float().mean()):.0%} valid), {RESOLUTION}³ volume, float32")
    rows = [
        BenchRow("inverse skinning vs HOLD K-NN (k=15)", workload, "samples", n_samples, t_ours,
                 median_seconds(knn_fwd, ref_repeats),
                 {"with_input_checks_per_s": n_samples / t_wrapped,
                  "median_volume_vs_knn_mm": agreement_mm}),
        BenchRow("inverse skinning fwd+bwd vs volume ref", workload + ", grads to x and bones",
                 "samples", n_samples, median_seconds(ours_fwd_bwd, repeats),
                 median_seconds(ref_fwd_bwd, ref_repeats)),
    ]
    t_volume = median_seconds(
        lambda: skin_weight_volume(verts[0], weights, bounds[0], resolution, backend="native"),
        repeats)
    t_volume_ref = median_seconds(
        lambda: ref.skin_weight_volume(verts[0], weights, bounds[0], resolution), ref_repeats)
    rows.append(BenchRow("skin_weight_volume (one frame)",
                         f"{RESOLUTION}³ voxels, V={verts.shape[1]}, k={ref.VOLUME_K}, float32",
                         "voxels", RESOLUTION**3, t_volume, t_volume_ref,
                         {"ours_ms": t_volume * 1e3, "reference_ms": t_volume_ref * 1e3}))
    return rows
