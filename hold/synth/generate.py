"""Synthetic sequences: a hand (with forearm) holding a textured YCB object, rendered on the CPU,
written as a sequence folder (docs/SEQUENCE_FORMAT.md) with ground truth and noisy inputs.

One seed fixes everything: grasp, betas, motion, camera, textures, background, noise. Separate
random streams are spawned from it, so changing a noise option leaves the rendered frames alone.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import trimesh
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from hold.io.errors import InputError
from hold.io.mesh import load_mesh
from hold.io.sequence import (
    LABEL_HAND,
    LABEL_OBJECT,
    GroundTruth,
    SequenceInit,
    SequenceMeta,
    write_sequence,
)
from hold.synth.foreign_hand import ForeignHand, foreign_proportions
from hold.synth.geometry import transform, watertight_copy
from hold.synth.grasp import synthesize_grasp
from hold.synth.render import MeshPart, SceneRenderer
from hold.synth.scene import forearm_mesh, hand_trajectory, intrinsics
from hold.synth.textures import FOREARM_RGB, ObjectTexture, SkinTexture, background_image

YCB_ROOT = Path(__file__).resolve().parents[1] / "data" / "ycb"
FILL_FRACTION = 0.7  # the hand + object's bounding sphere spans this fraction of the short side
SENSOR_NOISE = 1.5 / 255  # Gaussian pixel noise (std) before 8-bit quantisation
FPS = 30.0


@dataclass
class NoiseOptions:
    """How far the ``init/`` inputs and masks are from the truth (defaults: the benchmark's)."""

    joint_sigma_m: float = 0.008  # Gaussian noise per joint coordinate
    joint_missing_fraction: float = 0.05  # frames whose init joints (and 2D keypoints) are NaN
    keypoint_sigma_px: float = 3.0  # Gaussian noise of init/hand_keypoints2d per coordinate
    rotation_deg: float = 5.0  # RMS geodesic angle of the object-pose rotation noise
    translation_sigma_m: float = 0.01  # object-pose translation noise per coordinate
    # init/object_points.npy: N points sampled from the TRUE surface plus noise. No front-end can
    # produce them (SfM gives partial, outlier-ridden points, or none), so the default writes none;
    # set N > 0 only for ablations that say they used oracle points.
    num_object_points: int = 0
    object_point_sigma_m: float = 0.002  # … Gaussian noise per coordinate of those points
    # Boundary jitter + erosion/dilation of the masks (pixels); 0 gives the exact rendered labels,
    # which no segmenter produces.
    mask_noise_px: float = 2.0
    foreign_hand: bool = False  # render a hand outside the built-in model's shape space


def resolve_object(name_or_path: str) -> Path:
    """A bundled YCB object by (part of) its folder name, e.g. ``mustard`` or
    ``006_mustard_bottle``, or a path to a mesh file."""
    path = Path(name_or_path)
    if path.suffix and path.is_file():
        return path
    names = sorted(p.name for p in YCB_ROOT.iterdir() if (p / "mesh.obj").is_file())
    matches = [n for n in names if n == name_or_path] or [n for n in names if name_or_path in n]
    if len(matches) != 1:
        what = "matches several objects" if matches else "is neither a mesh file nor a bundled object"
        raise InputError(f"--object {name_or_path!r} {what}; bundled objects: {', '.join(names)}")
    return YCB_ROOT / matches[0] / "mesh.obj"


def _load_object(path: Path):
    mesh = load_mesh(path)
    try:
        closed = watertight_copy(mesh.vertices, mesh.faces)
    except ValueError:
        raise InputError(f"{path}: the object mesh must be closed (watertight) to synthesise a grasp") from None
    extent = float(closed.extents.max())
    if not 0.01 <= extent <= 0.5:
        raise InputError(f"{path}: the object is {extent:.3g} m across; expected a hand-held object in metres")
    return mesh, closed


def _builtin_hand():
    from hold.models.hand import load_hand_model

    return load_hand_model("builtin")


def _perturb_poses(poses: np.ndarray, rotation_deg: float, translation_m: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Left-multiply each pose by a random rotation exp(ω), ω ~ N(0, σ²I) with σ = rotation/√3
    (so the RMS geodesic angle is ``rotation_deg``), and add N(0, translation²) per axis."""
    noisy = poses.copy()
    omega = rng.normal(size=(len(poses), 3)) * np.deg2rad(rotation_deg) / np.sqrt(3)
    noisy[:, :3, :3] = Rotation.from_rotvec(omega).as_matrix() @ poses[:, :3, :3]
    noisy[:, :3, 3] += rng.normal(size=(len(poses), 3)) * translation_m
    return noisy


def _noisy_masks(labels: np.ndarray, noise_px: float, rng: np.random.Generator) -> np.ndarray:
    """Wobble label boundaries with a smooth random displacement field (std ``noise_px``) and
    erode or dilate hand and object by up to ``noise_px`` pixels, independently per frame."""
    T, H, W = labels.shape
    out = np.empty_like(labels)
    grid_x, grid_y = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    for t in range(T):
        field = [cv2.GaussianBlur(rng.normal(size=(H, W)).astype(np.float32), (0, 0), 4.0) for _ in range(2)]
        field = [f / (f.std() + 1e-9) * noise_px for f in field]
        mask = cv2.remap(labels[t], grid_x + field[0], grid_y + field[1], cv2.INTER_NEAREST,
                         borderMode=cv2.BORDER_REPLICATE)
        for label in (LABEL_OBJECT, LABEL_HAND):
            radius = int(round(rng.uniform(-noise_px, noise_px)))
            if radius == 0:
                continue
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1,) * 2)
            region = (mask == label).astype(np.uint8)
            if radius > 0:
                grown = cv2.dilate(region, kernel).astype(bool)
                mask[grown & (mask != LABEL_HAND)] = label  # the hand stays on top of the object
            else:
                shrunk = cv2.erode(region, kernel).astype(bool)
                mask[(region > 0) & ~shrunk] = 0
        out[t] = mask
    return out


def _fit_focal(vertices_camera: np.ndarray, focal_px: float, width: int, height: int,
               margin_px: float = 4.0) -> float:
    """Shrink the focal length until every point [T, N, 3] projects inside the image."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    x = vertices_camera[..., 0] / vertices_camera[..., 2]
    y = vertices_camera[..., 1] / vertices_camera[..., 2]
    half_x, half_y = cx - margin_px, cy - margin_px
    needed = max(np.abs(x).max() * focal_px / half_x, np.abs(y).max() * focal_px / half_y)
    return focal_px / max(1.0, needed)


def generate_sequence(
    out_dir: str | os.PathLike,
    object: str = "006_mustard_bottle",
    frames: int = 48,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    noise: NoiseOptions | None = None,
    video: bool = True,
    progress: bool = False,
    hand_model=None,
) -> dict:
    """Render a synthetic sequence folder at ``out_dir``; returns a summary dict (timings,
    grasp contact distances, focal length).

    object: a bundled YCB name (or unique part of it) or a path to a closed mesh in metres.
    size: (width, height). hand_model: defaults to ``load_hand_model("builtin")``.
    """
    noise = noise or NoiseOptions()
    width, height = int(size[0]), int(size[1])
    if frames < 1 or width < 16 or height < 16:
        raise InputError(f"need frames >= 1 and a size of at least 16x16, got {frames} frames of {width}x{height}")
    started = time.perf_counter()
    object_path = resolve_object(object)
    object_mesh, closed = _load_object(object_path)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    shape_rng, grasp_rng, motion_rng, texture_rng, init_rng, mask_rng, sensor_rng, foreign_rng = streams

    hand = hand_model if hand_model is not None else _builtin_hand()
    if noise.foreign_hand:
        hand = ForeignHand(hand, *foreign_proportions(foreign_rng))
    betas = np.clip(shape_rng.normal(0, 0.7, hand.num_betas), -1.5, 1.5)
    forearm_vertices, forearm_faces = forearm_mesh()
    grasp = synthesize_grasp(hand, closed, forearm_vertices, seed=int(grasp_rng.integers(1 << 31)), betas=betas)
    grasp_s = time.perf_counter() - started

    # Motion of the rigid hand + object in front of a static camera.
    object_in_hand = transform(grasp.object_to_hand, closed.vertices)
    visible = np.concatenate([grasp.hand_vertices, object_in_hand])
    centre = 0.5 * (visible.min(axis=0) + visible.max(axis=0))
    radius = float(np.linalg.norm(visible - centre, axis=1).max())
    distance = motion_rng.uniform(0.45, 0.55)
    hand_to_camera = hand_trajectory(frames, motion_rng, distance, centre, amplitude_m=0.15 * radius)
    focal = FILL_FRACTION * min(width, height) * distance / (2 * radius)
    posed = np.einsum("tij,nj->tni", hand_to_camera[:, :3, :3], visible) + hand_to_camera[:, None, :3, 3]
    focal = _fit_focal(posed, focal, width, height)
    K = intrinsics(width, height, focal)

    # Render.
    skin = SkinTexture(int(texture_rng.integers(1 << 31)))
    forearm_skin = SkinTexture(int(texture_rng.integers(1 << 31)), FOREARM_RGB)
    object_texture = ObjectTexture(int(texture_rng.integers(1 << 31)))
    background = background_image(width, height, int(texture_rng.integers(1 << 31)))
    renderer = SceneRenderer([
        MeshPart(grasp.hand_vertices, hand.faces.numpy(), LABEL_HAND, skin),
        MeshPart(forearm_vertices, forearm_faces, 0, forearm_skin),
        MeshPart(object_in_hand, np.asarray(closed.faces), LABEL_OBJECT, object_texture,
                 np.linalg.inv(grasp.object_to_hand)),
    ])
    images = np.empty((frames, height, width, 3), np.uint8)
    labels = np.empty((frames, height, width), np.uint8)
    for t in tqdm(range(frames), desc="render", unit="frame", disable=not progress):
        rgb, labels[t] = renderer.render(hand_to_camera[t], K, width, height, background)
        rgb = rgb + sensor_rng.normal(0, SENSOR_NOISE, rgb.shape)
        images[t] = np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)
    render_s = time.perf_counter() - started - grasp_s

    # Ground truth.
    object_poses = hand_to_camera @ grasp.object_to_hand
    joints = np.einsum("tij,nj->tni", hand_to_camera[:, :3, :3], grasp.joints) + hand_to_camera[:, None, :3, 3]
    gt = GroundTruth(joints.astype(np.float32), object_mesh, object_poses.astype(np.float32), np.ones(frames, bool))

    # Noisy inputs.
    init_joints = joints + init_rng.normal(size=joints.shape) * noise.joint_sigma_m
    missing = init_rng.permutation(frames)[: int(round(noise.joint_missing_fraction * frames))]
    init_joints[missing] = np.nan
    projected = joints @ K.T
    keypoints = np.concatenate([
        projected[..., :2] / projected[..., 2:] + init_rng.normal(size=(frames, 21, 2)) * noise.keypoint_sigma_px,
        np.ones((frames, 21, 1)),
    ], axis=-1)
    keypoints[missing] = np.nan
    # Their own stream (seeded even when none are written), so asking for oracle points leaves
    # every other init array unchanged.
    point_rng = np.random.default_rng(int(init_rng.integers(1 << 31)))
    points = None
    if noise.num_object_points > 0:
        points, _ = trimesh.sample.sample_surface(closed, noise.num_object_points,
                                                  seed=int(point_rng.integers(1 << 31)))
        points = (points + point_rng.normal(size=points.shape) * noise.object_point_sigma_m).astype(np.float32)
    init = SequenceInit(
        hand_joints=init_joints.astype(np.float32),
        hand_keypoints2d=keypoints.astype(np.float32),
        object_poses=_perturb_poses(object_poses, noise.rotation_deg, noise.translation_sigma_m, init_rng).astype(np.float32),
        object_points=points,
    )
    masks = labels
    if noise.mask_noise_px > 0:
        masks = _noisy_masks(labels, noise.mask_noise_px, mask_rng)
        gt.masks = labels  # the exact labels, to score a front-end's masks against (not the noisy inputs)

    meta = SequenceMeta(
        num_frames=frames,
        image_size=(width, height),
        K=K,
        fps=FPS,
        provenance={
            "K": "given",
            "masks": "rendered" + (f" + {noise.mask_noise_px:g} px noise" if noise.mask_noise_px > 0 else ""),
            "hand": f"ground truth + {noise.joint_sigma_m * 1000:g} mm noise",
            "object_poses": f"ground truth + {noise.rotation_deg:g} deg / {noise.translation_sigma_m * 100:g} cm noise",
            **({"object_points": f"oracle: {noise.num_object_points} samples of the true surface + "
                                 f"{noise.object_point_sigma_m * 1000:g} mm noise"}
               if points is not None else {}),
            "hand_model": "foreign (outside the built-in shape space)" if noise.foreign_hand else "builtin",
        },
        source=f"hold.synth: object={object_path.parent.name if object_path.name == 'mesh.obj' else object_path.name} "
               f"seed={seed} noise={asdict(noise)}",
    )
    scene = {
        "hand_vertices": grasp.hand_vertices.astype(np.float32),  # [V, 3] hand frame
        "hand_faces": hand.faces.numpy(),
        "forearm_vertices": forearm_vertices.astype(np.float32),
        "forearm_faces": forearm_faces,
        "hand_to_camera": hand_to_camera.astype(np.float32),  # [T, 4, 4]
        "object_to_hand": grasp.object_to_hand.astype(np.float32),
        "hand_pose": grasp.hand_pose.astype(np.float32),
        "betas": grasp.betas.astype(np.float32),
        # The hand frame is the model's canonical frame, so the model's global pose per frame is
        # hand_to_camera itself (wrist at the origin): posed = R·(articulated hand) + transl.
        "global_orient": Rotation.from_matrix(hand_to_camera[:, :3, :3]).as_rotvec().astype(np.float32),
        "transl": hand_to_camera[:, :3, 3].astype(np.float32),
        "tip_distances_m": grasp.tip_distances_m.astype(np.float32),
        "foreign_hand": np.array(noise.foreign_hand),
    }
    write_sequence(out_dir, meta, list(images), list(masks), init, gt, video=video,
                   extra_files={"gt/synth_scene.npz": scene})
    return {
        "grasp_s": grasp_s,
        "render_s": render_s,
        "total_s": time.perf_counter() - started,
        "focal_px": focal,
        "tip_distances_mm": (grasp.tip_distances_m * 1000).round(2).tolist(),
        "max_penetration_mm": round(grasp.max_penetration_m * 1000, 2),
    }
