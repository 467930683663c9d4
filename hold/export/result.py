"""The result folder of a trained scene (docs/SEQUENCE_FORMAT.md): object mesh and rigid
poses, 21 hand joints, posed hand meshes and the hand model's parameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hold.io.atomic import merge_directory
from hold.io.mirror import result_to_original
from hold.io.mesh import Mesh
from hold.io.sequence import write_result

from .mesh import extract_mesh


@torch.no_grad()
def export_result(scene, out_dir, timings_s: dict | None = None, config: dict | None = None,
                  mesh_resolution: int = 256, hands: tuple[str, ...] = ("right",)):
    """Write the result files of `scene` into out_dir and return its path. The files are
    written to a temporary sibling first and moved in one by one, result.json last, so other
    content of out_dir (checkpoints, reports) survives and a crash leaves no half-written
    result behind. ``hands``: the sequence's hand; a left hand's scene was trained on the
    mirrored video (hold.io.mirror.engine_view) and is mirrored back here."""
    obj, hand = scene.object, scene.hand
    verts, faces = extract_mesh(obj.field.sdf, obj.bounds, resolution=mesh_resolution)
    verts = verts * float(obj.scale)  # the object's size lives in its mesh, in metres
    poses = obj.poses().double().numpy()
    out = hand.output()
    params = {"global_orient": hand.global_orient.numpy(), "hand_pose": hand.hand_pose.numpy(),
              "transl": hand.transl.numpy(), "betas": hand.betas.numpy(),
              "model": np.array(type(hand.hand).__name__)}
    out_dir = Path(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.result.tmp"
    (verts, faces), poses, joints, hand_meshes, params = result_to_original(
        hands, (verts, faces), poses, out.joints.numpy(), (out.vertices.numpy(), hand.hand.faces.numpy()), params)
    write_result(staging, Mesh(verts, faces), poses.astype(np.float32), joints,
                 timings_s, config, hand_meshes, params, hands=hands)
    return merge_directory(staging, out_dir, last="result.json")
