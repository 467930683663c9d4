#!/usr/bin/env python
"""Sequences made independently of ``hold.synth``: a hand built from capsules, objects built from
analytic shapes, other trajectories, backgrounds, renderer, mask noise and input noise. They check
that the engine is general rather than tuned to its own generator (issue 15).

    python tools/independent_scene.py OUT_SEQ --variant N [--frames 48 --size 256 256 --seed S]
                                      [--mask-noise-px 2] [--no-video] [--sheet SHEET.png]

Only the sequence folder's reader/writer (``hold.io``, the format contract) is shared with
hold-fast; nothing comes from ``hold.synth``, ``hold.models`` or the built-in hand.

- Hand: a palm slab (rounded box) and one capsule per phalanx, with its own 21 joints in the
  documented order (tips are points on the skin at the finger's end, 30° palmar of its axis).
  Each variant has its own proportions. The grasp is solved finger by finger: joint angles
  (abduction, three flexions) minimise the fingertip's distance to the object's surface plus
  penalties for capsules inside the object, the palm or fingers already placed.
- Objects: analytic signed distance functions (capsule bottle, can with a handle, torus ring)
  meshed by marching cubes, 12-17 cm, coloured procedurally from the object-frame
  position (stripes, 3D checker, blotches).
- Motion: the hand + object are rigid; a variant turns them about the camera's optical axis, about
  the vertical, or pitches them, and moves them in depth, 0.36-0.7 m from a camera whose focal
  length comes from a field of view (34-56°).
- Backgrounds: a gradient with large discs, tiles, or broad diagonal stripes; a cylindrical
  forearm (label 0).
- Rendering: rays cast with trimesh/embree against the scene in the hand frame (it is rigid, so
  one BVH serves all frames), 2×2 supersampled Lambertian shading, Gaussian sensor noise; labels
  from each pixel centre's first hit, then the mask boundaries moved by a smooth random field of
  at most ``--mask-noise-px`` pixels.
- init/: joints + 8 mm per coordinate (5 % of frames NaN, the 2D keypoints too), 2D keypoints
  + 3 px, object poses = truth ∘ a 5° RMS rotation about the object's origin, + 1 cm per axis;
  no object points. gt/ holds the truth and ``gt/independent_scene.npz`` (hand and forearm meshes
  in the hand frame, hand→camera poses) for independent checks.

Deterministic per (variant, seed, frames, size).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import trimesh
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation
from skimage.measure import marching_cubes

from hold.io.errors import InputError
from hold.io.images import read_image, read_mask
from hold.io.mesh import Mesh
from hold.io.sequence import (
    LABEL_HAND,
    LABEL_OBJECT,
    GroundTruth,
    SequenceInit,
    SequenceMeta,
    write_sequence,
)

MM = 1e-3
TIP_TILT = np.deg2rad(30)  # the tip point: on the distal cap, 30° palmar of the finger's axis
PALM_GAP_M = 0.004  # the object's closest approach to the palm
GOOD_ENERGY = 0.3  # a finger's solve stops trying other starts below this (~0.5 mm tip gap)
GOOD_GRASP_M = 0.0015  # worst tip gap + penetration that ends the search over object offsets
SENSOR_SIGMA = 2.0 / 255
LIGHT_DIRECTION = np.array([0.35, -0.55, -0.76])  # camera frame, towards the light
AMBIENT, DIFFUSE = 0.3, 0.7


# --------------------------------------------------------------------------- analytic shapes


def sdf_capsule(p, a, b, r):
    pa, ba = p - a, np.asarray(b, float) - a
    h = np.clip((pa @ ba) / (ba @ ba), 0.0, 1.0)
    return np.linalg.norm(pa - h[:, None] * ba, axis=1) - r


def sdf_round_box(p, half, rounding):
    q = np.abs(p) - (np.asarray(half, float) - rounding)
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
    inside = np.minimum(q.max(axis=1), 0.0)
    return outside + inside - rounding


def sdf_torus(p, major, minor):
    """A torus about the z axis."""
    q = np.stack([np.linalg.norm(p[:, :2], axis=1) - major, p[:, 2]], axis=1)
    return np.linalg.norm(q, axis=1) - minor


def sdf_round_cylinder(p, radius, half_height, rounding):
    """A cylinder about the z axis with rounded rims."""
    d = np.stack([np.linalg.norm(p[:, :2], axis=1) - radius + rounding,
                  np.abs(p[:, 2]) - half_height + rounding], axis=1)
    return np.minimum(d.max(axis=1), 0.0) + np.linalg.norm(np.maximum(d, 0.0), axis=1) - rounding


def smooth_union(a, b, k):
    """Polynomial smooth minimum (a fillet of size ~k where two shapes meet)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def mesh_from_sdf(sdf, lower, upper, voxel) -> trimesh.Trimesh:
    """The zero level set of ``sdf`` in the box [lower, upper], by marching cubes."""
    lower, upper = np.asarray(lower, float) - 2 * voxel, np.asarray(upper, float) + 2 * voxel
    counts = np.ceil((upper - lower) / voxel).astype(int) + 1
    axes = [lower[i] + voxel * np.arange(counts[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    values = sdf(grid).reshape(counts)
    vertices, faces, _, _ = marching_cubes(values, level=0.0, spacing=(voxel,) * 3)
    # skimage orients faces towards increasing values (outside): keep the outward winding.
    mesh = trimesh.Trimesh(vertices + lower, faces[:, ::-1], process=True)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


# --------------------------------------------------------------------------- objects and textures


@dataclass
class ObjectShape:
    name: str
    sdf: object  # points [N, 3] (object frame) → signed distance [N], metres
    lower: tuple
    upper: tuple
    texture: str  # "stripes" | "checker" | "blotches"
    colours: tuple  # two RGB colours in [0, 1]


def bottle_shape() -> ObjectShape:
    def sdf(p):
        body = sdf_capsule(p, np.array([0, 0, -0.048]), [0, 0, 0.030], 0.026)
        neck = sdf_capsule(p, np.array([0, 0, 0.040]), [0, 0, 0.080], 0.011)
        return smooth_union(body, neck, 0.012)
    return ObjectShape("capsule bottle", sdf, (-0.03, -0.03, -0.08), (0.03, 0.03, 0.095),
                       "stripes", ((0.15, 0.35, 0.75), (0.92, 0.88, 0.80)))


def can_with_handle_shape() -> ObjectShape:
    def sdf(p):
        body = sdf_round_cylinder(p, 0.040, 0.052, 0.006)
        q = p - np.array([0.046, 0.0, 0.0])
        handle = sdf_torus(q[:, [0, 2, 1]], 0.030, 0.0075)  # the handle's ring lies in the xz plane
        return np.minimum(body, handle)
    return ObjectShape("can with a handle", sdf, (-0.045, -0.045, -0.06), (0.09, 0.045, 0.06),
                       "checker", ((0.80, 0.25, 0.15), (0.95, 0.85, 0.35)))


def ring_shape() -> ObjectShape:
    def sdf(p):
        return sdf_torus(p, 0.052, 0.013)
    return ObjectShape("torus ring", sdf, (-0.068, -0.068, -0.016), (0.068, 0.068, 0.016),
                       "blotches", ((0.20, 0.60, 0.35), (0.95, 0.95, 0.90)))


def object_albedo(shape: ObjectShape, points: np.ndarray, rng_seed: int) -> np.ndarray:
    """Procedural colour [N, 3] from object-frame positions (metres)."""
    c0, c1 = np.asarray(shape.colours[0]), np.asarray(shape.colours[1])
    if shape.texture == "stripes":
        # Bands around the bottle's axis plus a thin helical line, so rotations about it show.
        band = 0.5 + 0.5 * np.tanh(6 * np.sin(2 * np.pi * points[:, 2] / 0.022))
        angle = np.arctan2(points[:, 1], points[:, 0])
        helix = np.cos(angle * 2 + points[:, 2] / 0.01) > 0.85
        w = np.where(helix, 0.15, band)
    elif shape.texture == "checker":
        cells = np.floor(points / 0.016).astype(np.int64)
        w = (cells.sum(axis=1) % 2).astype(float)
    else:
        rng = np.random.default_rng(rng_seed)
        directions = rng.normal(size=(8, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        freqs = rng.uniform(80, 200, size=8)
        phases = rng.uniform(0, 2 * np.pi, size=8)
        value = np.sin((points @ directions.T) * freqs + phases).sum(axis=1) / np.sqrt(8)
        w = 0.5 + 0.5 * np.tanh(2.5 * value)
    return c0[None] * (1 - w[:, None]) + c1[None] * w[:, None]


def skin_albedo(base_rgb, points: np.ndarray) -> np.ndarray:
    """Skin: a base tone with soft, low-frequency variation (hand-frame positions)."""
    variation = 0.06 * np.sin(points[:, 0] * 90 + 1.3) * np.cos(points[:, 1] * 70 - 0.4) \
        + 0.04 * np.sin(points[:, 2] * 150)
    return np.clip(np.asarray(base_rgb)[None] * (1 + variation[:, None]), 0, 1)


def background_image(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A static background, float RGB [H, W, 3] in [0, 1]."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = u / width, v / height
    if kind == "discs":
        top, bottom = rng.uniform(0.55, 0.85, 3), rng.uniform(0.2, 0.45, 3)
        image = top[None, None] * (1 - v[..., None]) + bottom[None, None] * v[..., None]
        for _ in range(6):
            centre, radius = rng.uniform(0, 1, 2), rng.uniform(0.12, 0.3)
            colour = rng.uniform(0.15, 0.85, 3)
            inside = np.clip((radius - np.hypot(u - centre[0], v - centre[1])) * 60, 0, 1)
            image = image * (1 - inside[..., None]) + colour[None, None] * inside[..., None]
    elif kind == "tiles":
        size = 1 / 5
        i, j = np.floor(u / size), np.floor(v / size)
        palette = rng.uniform(0.35, 0.8, (2, 3))
        jitter = rng.uniform(-0.06, 0.06, (7, 7, 3))
        tile = palette[((i + j) % 2).astype(int)] + jitter[i.astype(int) % 7, j.astype(int) % 7]
        grout = (np.minimum(u % size, v % size) < 0.012)[..., None]
        image = np.where(grout, 0.9, tile)
    elif kind == "stripes":
        angle = rng.uniform(0.3, 1.2)
        s = (u * np.cos(angle) + v * np.sin(angle)) / 0.14
        w = 0.5 + 0.5 * np.tanh(4 * np.sin(2 * np.pi * s))
        a, b = rng.uniform(0.25, 0.55, 3), rng.uniform(0.6, 0.9, 3)
        image = a[None, None] * (1 - w[..., None]) + b[None, None] * w[..., None]
        image *= (0.8 + 0.3 * u)[..., None]
    else:
        raise ValueError(kind)
    return np.clip(image, 0, 1)


# --------------------------------------------------------------------------- the hand


def _ry(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


@dataclass
class Finger:
    """One kinematic chain in the hand frame (x distal, y radial, z dorsal; right hand).

    ``frame`` columns: distal direction, flexion axis (a positive flexion turns the distal
    direction palmar), dorsal direction. Angles: abduction about the dorsal axis, then three
    flexions."""

    base: np.ndarray
    frame: np.ndarray
    lengths: tuple
    radii: tuple
    bounds: tuple  # ((lo, hi) × 4) radians

    def chain(self, angles):
        """Joints [4, 3] (base, two inner joints, tip on the skin) and the three segments'
        axes as (start, end, radius)."""
        abduction, f1, f2, f3 = angles
        F = self.frame @ _rz(abduction) @ _ry(f1)
        points, frames = [self.base], []
        for k, flex in enumerate((None, f2, f3)):
            if flex is not None:
                F = F @ _ry(flex)
            frames.append(F)
            points.append(points[-1] + self.lengths[k] * F[:, 0])
        tip_direction = np.cos(TIP_TILT) * F[:, 0] - np.sin(TIP_TILT) * F[:, 2]
        tip = points[-1] + self.radii[2] * tip_direction
        segments = [(points[k], points[k + 1], self.radii[k]) for k in range(3)]
        return np.stack([points[0], points[1], points[2], tip]), segments


@dataclass
class HandShape:
    name: str
    scale: float
    palm_length: float  # wrist joint → middle MCP, before scaling
    palm_width: float
    palm_thickness: float
    finger_length: float  # multiplies the segment lengths below
    finger_radius: float  # multiplies the radii below
    skin_rgb: tuple
    forearm_rgb: tuple

    # Proximal, middle, distal lengths (m) and base radius (m) of an adult-sized hand.
    FINGERS = {
        "index": ((0.041, 0.024, 0.019), 0.0092),
        "middle": ((0.045, 0.028, 0.020), 0.0095),
        "ring": ((0.042, 0.027, 0.020), 0.0088),
        "pinky": ((0.033, 0.019, 0.018), 0.0078),
    }
    THUMB = ((0.044, 0.031, 0.025), 0.0108)


def build_fingers(shape: HandShape) -> dict[str, Finger]:
    s = shape.scale
    L, W, h = shape.palm_length * s, shape.palm_width * s, shape.palm_thickness * s
    fingers = {}
    layout = {"index": (-0.004, 0.375, 0.10), "middle": (0.0, 0.125, 0.02),
              "ring": (-0.005, -0.125, -0.06), "pinky": (-0.014, -0.375, -0.16)}
    for name, (dx, y, splay) in layout.items():
        lengths, radius = HandShape.FINGERS[name]
        fingers[name] = Finger(
            base=np.array([L + dx * s, y * W, 0.0]),
            frame=_rz(splay),
            lengths=tuple(l * s * shape.finger_length for l in lengths),
            radii=tuple(radius * s * shape.finger_radius * f for f in (1.0, 0.93, 0.86)),
            bounds=((-0.25, 0.25), (-0.2, 1.6), (0.0, 1.9), (0.0, 1.5)),
        )
    # The thumb: from the CMC on the radial side near the wrist, pointing mostly palmar, curling
    # distally round what the palm holds, towards the fingers (opposition).
    distal = np.array([0.3, 0.45, -0.85])
    distal /= np.linalg.norm(distal)
    palmar = np.array([1.0, -0.3, 0.0])
    palmar -= distal * (palmar @ distal)
    palmar /= np.linalg.norm(palmar)
    axis = np.cross(distal, palmar)
    frame = np.stack([distal, axis, -palmar], axis=1)
    lengths, radius = HandShape.THUMB
    fingers["thumb"] = Finger(
        base=np.array([0.2 * L, 0.28 * W, -0.25 * h]),
        frame=frame,
        lengths=tuple(l * s * shape.finger_length for l in lengths),
        radii=tuple(radius * s * shape.finger_radius * f for f in (1.0, 0.92, 0.85)),
        bounds=((-0.9, 0.6), (-0.4, 1.1), (0.0, 1.2), (0.0, 1.4)),
    )
    return fingers


def palm_sdf(shape: HandShape):
    s = shape.scale
    L, W, h = shape.palm_length * s, shape.palm_width * s, shape.palm_thickness * s
    centre = np.array([0.5 * L, 0.0, 0.0])
    half = np.array([0.5 * L, 0.5 * W + 0.004 * s, 0.5 * h])
    return lambda p: sdf_round_box(p - centre, half, 0.45 * h), centre, half


# --------------------------------------------------------------------------- grasp


def _axis_samples(segments, skip_first=0.0, count=9):
    """Points along the phalanges' axes [N, 3] and the capsule radius at each [N]."""
    t = np.linspace(0.0, 1.0, count)[:, None]
    points, radii = [], []
    for k, (a, b, r) in enumerate(segments):
        tk = skip_first + (1 - skip_first) * t if k == 0 else t
        points.append(a[None] + tk * (b - a)[None])
        radii.append(np.full(count, r))
    return np.concatenate(points), np.concatenate(radii)


def solve_finger(finger: Finger, object_sdf, palm, others, start_curls):
    """Joint angles that put the tip on the object's surface without the capsules entering the
    object, the palm or the fingers placed before (``others``: (points, radii))."""

    def energy(angles):
        joints, segments = finger.chain(angles)
        tip_gap = object_sdf(joints[3:4])[0]
        points, radii = _axis_samples(segments)
        inside_object = np.maximum(radii - object_sdf(points), 0.0)
        # The proximal segment starts inside the palm by construction; later ones may not enter it.
        later, later_radii = _axis_samples(segments[1:]) if len(segments) > 1 else (points, radii)
        inside_palm = np.maximum(later_radii - 0.001 - palm(later), 0.0)
        e = (tip_gap / MM) ** 2 + 30 * ((inside_object / MM) ** 2).sum() + 10 * ((inside_palm / MM) ** 2).sum()
        for other_points, other_radii in others:
            gap = np.linalg.norm(points[:, None] - other_points[None], axis=2) - radii[:, None] - other_radii[None]
            e += 10 * ((np.maximum(-gap - 0.0005, 0.0) / MM) ** 2).sum()
        abduction, f1, f2, f3 = angles
        return e + 2.0 * ((f3 - 0.75 * f2) ** 2 + abduction ** 2)

    best = None
    for curl in start_curls:
        x0 = [0.0, curl[0], curl[1], 0.75 * curl[1]]
        x0 = [float(np.clip(x, lo, hi)) for x, (lo, hi) in zip(x0, finger.bounds)]
        result = minimize(energy, x0, method="L-BFGS-B", bounds=finger.bounds,
                          options={"maxiter": 200, "eps": 1e-6})
        if best is None or result.fun < best.fun:
            best = result
        if best.fun < GOOD_ENERGY:
            break
    return best.x, best.fun


@dataclass
class Grasp:
    object_to_hand: np.ndarray  # 4×4
    angles: dict
    joints_hand: np.ndarray  # [21, 3]
    segments: list  # (start, end, radius) per phalanx
    tip_gaps_m: np.ndarray  # [5] signed distance of each tip to the object
    max_penetration_m: float  # deepest capsule or palm point inside the object


JOINT_ORDER = ("thumb", "index", "middle", "ring", "pinky")


def synthesize_grasp(shape: HandShape, obj: ObjectShape, object_rotation: np.ndarray,
                     offsets: list) -> Grasp:
    """Place the object against the palm (``PALM_GAP_M`` away) and close the fingers onto it;
    of the candidate offsets (hand frame, along x and y) keep the one whose worst fingertip gap
    and penetration are smallest."""
    fingers = build_fingers(shape)
    palm, palm_centre, palm_half = palm_sdf(shape)
    probe = mesh_from_sdf(obj.sdf, obj.lower, obj.upper, 0.003).vertices  # object-frame points
    best = None
    for offset in offsets:
        def placed(depth):
            return (object_rotation @ probe.T).T + palm_centre + np.array([offset[0], offset[1], -depth])
        lo, hi = 0.0, 0.3  # bisection on the depth below the palm that leaves PALM_GAP_M
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if palm(placed(mid)).min() < PALM_GAP_M:
                lo = mid
            else:
                hi = mid
        object_to_hand = np.eye(4)
        object_to_hand[:3, :3] = object_rotation
        object_to_hand[:3, 3] = palm_centre + np.array([offset[0], offset[1], -hi])

        def object_sdf(p, T=object_to_hand):
            return obj.sdf((p - T[:3, 3]) @ T[:3, :3])

        others, angles, energies = [], {}, {}
        for name in ("middle", "index", "ring", "pinky", "thumb"):
            curls = [(0.3, 0.6), (0.8, 1.0), (1.2, 1.4), (0.1, 1.6)]
            angles[name], energies[name] = solve_finger(fingers[name], object_sdf, palm, others, curls)
            _, segments = fingers[name].chain(angles[name])
            others.append(_axis_samples(segments, skip_first=0.3))
        grasp = _make_grasp(shape, fingers, angles, object_to_hand, object_sdf, palm_centre, palm_half)
        score = np.abs(grasp.tip_gaps_m).max() + grasp.max_penetration_m
        if best is None or score < best[0]:
            best = (score, grasp)
        if score < GOOD_GRASP_M:
            break
    return best[1]


def _make_grasp(shape, fingers, angles, object_to_hand, object_sdf, palm_centre, palm_half) -> Grasp:
    joints = np.zeros((21, 3))
    segments, tips = [], []
    for k, name in enumerate(JOINT_ORDER):
        chain, segs = fingers[name].chain(angles[name])
        joints[1 + 4 * k: 5 + 4 * k] = chain
        segments += segs
        tips.append(chain[3])
    points, radii = _axis_samples(segments, count=17)
    penetration = float(np.maximum(radii - object_sdf(points), 0.0).max())
    palm_points = hand_mesh(shape, segments, palm_only=True).vertices
    penetration = max(penetration, float(np.maximum(-object_sdf(palm_points), 0.0).max()))
    return Grasp(object_to_hand, angles, joints, segments, object_sdf(np.array(tips)), penetration)


def hand_mesh(shape: HandShape, segments, palm_only: bool = False) -> trimesh.Trimesh:
    """Palm slab + one capsule per phalanx, concatenated (rendered together; never a union)."""
    palm, centre, half = palm_sdf(shape)
    parts = [mesh_from_sdf(palm, centre - half, centre + half, 0.002)]
    if not palm_only:
        for a, b, r in segments:
            length = float(np.linalg.norm(b - a))
            capsule = trimesh.creation.capsule(height=length, radius=r, count=[18, 18])
            z = (b - a) / length
            x = np.cross(z, [0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.cross(z, [1.0, 0, 0])
            x /= np.linalg.norm(x)
            T = np.eye(4)
            T[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
            T[:3, 3] = 0.5 * (a + b)
            capsule.apply_transform(T)
            parts.append(capsule)
    return trimesh.util.concatenate(parts)


def forearm_mesh(shape: HandShape) -> trimesh.Trimesh:
    """A cylinder along the hand's −x from just inside the palm's proximal edge."""
    s = shape.scale
    radius, length = 0.34 * shape.palm_width * s, 0.27
    cylinder = trimesh.creation.cylinder(radius=radius, height=length, sections=40)
    T = np.eye(4)
    T[:3, :3] = np.array([[0, 0, -1.0], [0, 1, 0], [1, 0, 0]])  # cylinder z → hand −x
    T[:3, 3] = [0.012 * s - 0.5 * length, 0.0, 0.0]
    cylinder.apply_transform(T)
    return cylinder


# --------------------------------------------------------------------------- motion and camera


@dataclass
class Motion:
    kind: str  # "roll" (about the optical axis), "yaw" (vertical axis), "pitch"
    distance_m: tuple  # (far, near) for the approach/retreat
    fov_deg: float
    view_from_hand: tuple  # hand-frame direction from the grip towards the camera
    up_in_hand: tuple  # hand-frame direction that points up in the image at rest


def look_rotation(view_from_hand, up_in_hand) -> np.ndarray:
    """Rotation hand → camera that puts ``view_from_hand`` towards the camera (camera −z) and
    ``up_in_hand`` as close as possible to image up (camera −y)."""
    z = -np.asarray(view_from_hand, float)
    z /= np.linalg.norm(z)
    up = np.asarray(up_in_hand, float)
    y = -(up - z * (up @ z))
    y /= np.linalg.norm(y)
    x = np.cross(y, z)
    return np.stack([x, y, z])  # rows: camera axes in hand coordinates


def trajectory(motion: Motion, frames: int, pivot_hand: np.ndarray, rng: np.random.Generator):
    """hand → camera poses [T, 4, 4]: the grip turns about ``pivot_hand`` (the object's centre)."""
    t = np.linspace(0.0, 1.0, frames)
    phase = rng.uniform(0, 2 * np.pi, 4)
    if motion.kind == "roll":
        motions = [("z", 65 * np.sin(2 * np.pi * 0.8 * t + phase[0])),
                   ("x", 14 * np.sin(2 * np.pi * 1.3 * t + phase[1]))]
    elif motion.kind == "yaw":
        motions = [("y", 70 * np.sin(np.pi * (t - 0.5) * 1.1)),
                   ("x", 8 * np.sin(2 * np.pi * t + phase[1]))]
    elif motion.kind == "pitch":
        motions = [("x", 38 * np.sin(2 * np.pi * t + phase[0])),
                   ("z", 30 * np.sin(2 * np.pi * 0.5 * t + phase[1]))]
    else:
        raise ValueError(motion.kind)
    far, near = motion.distance_m
    depth = far - (far - near) * np.sin(np.pi * t)  # approach, then retreat
    lateral = 0.012 * np.stack([np.sin(2 * np.pi * 0.7 * t + phase[2]),
                                np.sin(2 * np.pi * 0.9 * t + phase[3])], axis=1)
    base = look_rotation(motion.view_from_hand, motion.up_in_hand)
    poses = np.tile(np.eye(4), (frames, 1, 1))
    for i in range(frames):
        R = Rotation.identity()
        for axis, degrees in motions:
            R = R * Rotation.from_euler(axis, degrees[i], degrees=True)
        rotation = R.as_matrix() @ base
        centre = np.array([lateral[i, 0], lateral[i, 1], depth[i]])
        poses[i, :3, :3] = rotation
        poses[i, :3, 3] = centre - rotation @ pivot_hand
    return poses


# --------------------------------------------------------------------------- variants


@dataclass
class Variant:
    hand: HandShape
    object: ObjectShape
    object_rotation: np.ndarray  # object → hand
    offsets: list  # candidate object offsets along the hand's (x, y)
    motion: Motion
    background: str
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _rotation_from_columns(*columns) -> np.ndarray:
    R = np.stack([np.asarray(c, float) for c in columns], axis=1)
    u, _, vt = np.linalg.svd(R)
    if np.linalg.det(u @ vt) < 0:
        raise ValueError("the columns form a left-handed frame")
    return u @ vt


def variant(index: int) -> Variant:
    if index == 0:
        # A child's hand (~0.78 × adult) around a small capsule bottle lying diagonally in the palm;
        # turned about the optical axis while it comes closer and goes back.
        hand = HandShape("child", 0.78, 0.086, 0.080, 0.027, 1.0, 1.0, (0.93, 0.74, 0.62), (0.91, 0.72, 0.60))
        axis = np.array([np.sin(np.deg2rad(20)), np.cos(np.deg2rad(20)), 0.0])
        rotation = _rotation_from_columns(np.cross([0, 0, 1.0], axis), [0, 0, 1.0], axis)
        motion = Motion("roll", (0.55, 0.42), 42.0, (0.25, -0.45, -0.86), (1.0, 0.0, 0.0))
        return Variant(hand, bottle_shape(), rotation, [(0.0, 0.0), (0.008, 0.01), (-0.008, 0.0)],
                       motion, "discs")
    if index == 1:
        # A large, broad hand with thick fingers around a can with a handle; the handle points
        # away from the palm and towards the wrist. Turned about the vertical axis, far away.
        hand = HandShape("large", 1.15, 0.088, 0.086, 0.030, 0.95, 1.12, (0.62, 0.43, 0.32), (0.20, 0.24, 0.35))
        handle = np.array([-0.45, 0.0, -0.9])
        handle /= np.linalg.norm(handle)
        rotation = _rotation_from_columns(handle, np.cross([0, 1.0, 0], handle), [0, 1.0, 0])
        motion = Motion("yaw", (0.70, 0.60), 34.0, (0.1, -0.35, -0.93), (1.0, 0.2, 0.0))
        return Variant(hand, can_with_handle_shape(), rotation, [(0.0, 0.0), (0.01, 0.0), (-0.01, 0.0)],
                       motion, "tiles")
    if index == 2:
        # A slender adult hand with long thin fingers holding a torus ring by its rim; the ring
        # sticks out of the palm. Pitched and rolled close to a wide-angle camera.
        hand = HandShape("slender", 1.0, 0.090, 0.072, 0.025, 1.12, 0.85, (0.85, 0.64, 0.52), (0.84, 0.63, 0.52))
        tilt = np.deg2rad(15)
        x = np.array([np.sin(tilt), 0.0, np.cos(tilt)])  # ring centre → rim point at the palm
        rotation = _rotation_from_columns(x, [0, 1.0, 0], np.cross(x, [0, 1.0, 0]))
        motion = Motion("pitch", (0.42, 0.36), 56.0, (0.75, -0.3, -0.6), (0.4, 0.0, 0.9))
        return Variant(hand, ring_shape(), rotation, [(0.0, 0.0), (0.01, 0.0), (-0.01, 0.0)],
                       motion, "stripes")
    raise InputError(f"--variant {index}: expected 0, 1 or 2")


NUM_VARIANTS = 3


# --------------------------------------------------------------------------- rendering


class RigidSceneRenderer:
    """Ray casting against meshes that move together (the hand frame): one BVH for all frames."""

    def __init__(self, parts: list, background: np.ndarray, K: np.ndarray):
        vertices, faces, part_of_face = [], [], []
        offset = 0
        for k, (mesh, _label, _albedo) in enumerate(parts):
            vertices.append(mesh.vertices)
            faces.append(mesh.faces + offset)
            part_of_face.append(np.full(len(mesh.faces), k))
            offset += len(mesh.vertices)
        self.mesh = trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False)
        self.part_of_face = np.concatenate(part_of_face)
        self.labels = np.array([label for _, label, _ in parts], dtype=np.uint8)
        self.albedos = [albedo for _, _, albedo in parts]
        self.vertex_normals = np.concatenate([m.vertex_normals for m, _, _ in parts])
        self.intersector = trimesh.ray.ray_pyembree.RayMeshIntersector(self.mesh)
        self.background = background
        self.K = K

    def _cast(self, hand_to_camera, u, v):
        """First hits of the rays through pixels (u, v): face [N] (−1: none), hand-frame points."""
        K, R, t = self.K, hand_to_camera[:3, :3], hand_to_camera[:3, 3]
        directions = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], axis=1)
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        origin = -R.T @ t
        faces, rays, points = self.intersector.intersects_id(
            np.repeat(origin[None], len(u), axis=0), directions @ R, multiple_hits=False,
            return_locations=True)
        face = np.full(len(u), -1)
        location = np.zeros((len(u), 3))
        face[rays] = faces
        location[rays] = points
        return face, location, directions @ R

    def render(self, hand_to_camera):
        """RGB [H, W, 3] float (2×2 supersampled) and labels [H, W] (pixel-centre rays)."""
        H, W = self.background.shape[:2]
        v, u = np.mgrid[0:H, 0:W].astype(np.float64)
        face, _, _ = self._cast(hand_to_camera, u.ravel(), v.ravel())
        labels = np.zeros(H * W, np.uint8)
        hit = face >= 0
        labels[hit] = self.labels[self.part_of_face[face[hit]]]
        colour = np.zeros((H * W, 3))
        light = LIGHT_DIRECTION / np.linalg.norm(LIGHT_DIRECTION)
        for du, dv in ((-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)):
            face, location, direction = self._cast(hand_to_camera, u.ravel() + du, v.ravel() + dv)
            sample = self.background.reshape(-1, 3).copy()
            hit = np.flatnonzero(face >= 0)
            triangles = self.mesh.triangles[face[hit]]
            bary = trimesh.triangles.points_to_barycentric(triangles, location[hit])
            normals = np.einsum("nk,nkd->nd", bary, self.vertex_normals[self.mesh.faces[face[hit]]])
            normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
            facing = np.einsum("nd,nd->n", normals, direction[hit])
            normals[facing > 0] *= -1  # seen from inside (a part's hidden face): shade its front
            normals_camera = normals @ hand_to_camera[:3, :3].T
            shade = AMBIENT + DIFFUSE * np.maximum(normals_camera @ light, 0.0)
            parts = self.part_of_face[face[hit]]
            for k, albedo in enumerate(self.albedos):
                mine = parts == k
                sample[hit[mine]] = albedo(location[hit[mine]]) * shade[mine, None]
            colour += 0.25 * sample
        return colour.reshape(H, W, 3), labels.reshape(H, W)


def jitter_mask_boundaries(labels: np.ndarray, noise_px: float, rng: np.random.Generator) -> np.ndarray:
    """Move each label's boundary by a smooth random field bounded by ``noise_px`` pixels.

    Each of object and hand gets a signed distance to its boundary (positive inside); a smooth
    Gaussian field (clipped to ±noise_px) is added and the region re-thresholded; where both grow
    over a pixel, the label whose shifted distance is larger keeps it."""
    if noise_px <= 0:
        return labels.copy()
    H, W = labels.shape
    shifted = {}
    for label in (LABEL_OBJECT, LABEL_HAND):
        region = (labels == label).astype(np.uint8)
        if not region.any():
            continue
        inside = cv2.distanceTransform(region, cv2.DIST_L2, 5)
        outside = cv2.distanceTransform(1 - region, cv2.DIST_L2, 5)
        signed = np.where(region > 0, inside - 0.5, 0.5 - outside)
        field_ = cv2.GaussianBlur(rng.normal(size=(H, W)).astype(np.float32), (0, 0), 6.0)
        field_ *= 0.7 * noise_px / (field_.std() + 1e-9)
        field_ += rng.uniform(-0.4, 0.4) * noise_px  # a per-frame dilation or erosion
        shifted[label] = signed + np.clip(field_, -noise_px, noise_px)
    out = np.zeros_like(labels)
    best = np.zeros((H, W), np.float32)
    for label, value in shifted.items():
        wins = value > best
        out[wins] = label
        best = np.maximum(best, value)
    out[labels == 250] = 250
    return out


# --------------------------------------------------------------------------- the sequence


def random_rotations(count: int, rms_deg: float, rng: np.random.Generator) -> np.ndarray:
    omega = rng.normal(size=(count, 3)) * np.deg2rad(rms_deg) / np.sqrt(3)
    return Rotation.from_rotvec(omega).as_matrix()


@functools.lru_cache(maxsize=None)
def variant_grasp(variant_index: int) -> Grasp:
    """The variant's grasp (a deterministic optimisation that depends on the variant alone;
    cached because it costs seconds)."""
    spec = variant(variant_index)
    return synthesize_grasp(spec.hand, spec.object, spec.object_rotation, spec.offsets)


def make_scene(variant_index: int, frames: int, size: tuple, seed: int):
    """Everything but the noise: shapes, grasp, motion, camera. Returns a dict."""
    spec = variant(variant_index)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([variant_index, seed]).spawn(6)]
    motion_rng, texture_rng = streams[0], streams[1]
    grasp = variant_grasp(variant_index)
    object_mesh = mesh_from_sdf(spec.object.sdf, spec.object.lower, spec.object.upper, 0.0015)
    hand = hand_mesh(spec.hand, grasp.segments)
    forearm = forearm_mesh(spec.hand)
    pivot = grasp.object_to_hand[:3, 3]
    hand_to_camera = trajectory(spec.motion, frames, pivot, motion_rng)
    width, height = size
    focal = 0.5 * width / np.tan(np.deg2rad(spec.motion.fov_deg) / 2)
    K = np.array([[focal, 0, 0.5 * width + 0.03 * width], [0, focal, 0.5 * height - 0.02 * height], [0, 0, 1.0]])
    return dict(spec=spec, streams=streams, grasp=grasp, object_mesh=object_mesh, hand=hand,
                forearm=forearm, hand_to_camera=hand_to_camera, K=K, texture_seed=int(texture_rng.integers(1 << 31)),
                background=background_image(spec.background, width, height, texture_rng))


def generate(out_dir, variant_index: int, frames: int = 48, size=(256, 256), seed: int = 0,
             mask_noise_px: float = 2.0, video: bool = True, progress: bool = True) -> dict:
    width, height = int(size[0]), int(size[1])
    if frames < 2 or width < 32 or height < 32:
        raise InputError(f"need at least 2 frames of 32×32, got {frames} frames of {width}×{height}")
    started = time.perf_counter()
    scene = make_scene(variant_index, frames, (width, height), seed)
    spec, grasp = scene["spec"], scene["grasp"]
    _, _, init_rng, mask_rng, sensor_rng, _ = scene["streams"]
    hand_to_camera, K = scene["hand_to_camera"], scene["K"]
    object_to_hand = grasp.object_to_hand
    hand_to_object = np.linalg.inv(object_to_hand)
    texture_seed = scene["texture_seed"]
    renderer = RigidSceneRenderer([
        (scene["hand"], LABEL_HAND, lambda p: skin_albedo(spec.hand.skin_rgb, p)),
        (scene["forearm"], 0, lambda p: skin_albedo(spec.hand.forearm_rgb, p)),
        (scene["object_mesh"].copy().apply_transform(object_to_hand), LABEL_OBJECT,
         lambda p: object_albedo(spec.object, p @ hand_to_object[:3, :3].T + hand_to_object[:3, 3], texture_seed)),
    ], scene["background"], K)

    images, labels = [], []
    for t in range(frames):
        rgb, label = renderer.render(hand_to_camera[t])
        rgb = rgb + sensor_rng.normal(0, SENSOR_SIGMA, rgb.shape)
        images.append(np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8))
        labels.append(label)
        if progress:
            print(f"\rrendered {t + 1}/{frames}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    masks = [jitter_mask_boundaries(label, mask_noise_px, mask_rng) for label in labels]

    object_poses = hand_to_camera @ object_to_hand
    joints = np.einsum("tij,nj->tni", hand_to_camera[:, :3, :3], grasp.joints_hand) + hand_to_camera[:, None, :3, 3]
    uvw = joints @ K.T
    keypoints = uvw[..., :2] / uvw[..., 2:3]
    init_joints = joints + init_rng.normal(0, 0.008, joints.shape)
    init_keypoints = np.concatenate([keypoints + init_rng.normal(0, 3.0, keypoints.shape),
                                     np.ones((frames, 21, 1))], axis=2)
    missing = init_rng.random(frames) < 0.05
    init_joints[missing] = np.nan
    init_keypoints[missing] = np.nan
    init_poses = object_poses.copy()
    init_poses[:, :3, :3] = object_poses[:, :3, :3] @ random_rotations(frames, 5.0, init_rng)
    init_poses[:, :3, 3] += init_rng.normal(0, 0.01, (frames, 3))

    meta = SequenceMeta(
        num_frames=frames, image_size=(width, height), K=K, fps=25.0,
        provenance={"K": "given", "masks": f"rendered labels, boundaries moved ≤ {mask_noise_px} px",
                    "hand": "truth + 8 mm noise", "object_poses": "truth ∘ 5° + 1 cm noise"},
        source=f"tools/independent_scene.py --variant {variant_index} --seed {seed} "
               f"({spec.hand.name} hand, {spec.object.name}, {spec.motion.kind} motion, "
               f"{spec.background} background; independent of hold.synth)",
    )
    init = SequenceInit(hand_joints=init_joints.astype(np.float32),
                        hand_keypoints2d=init_keypoints.astype(np.float32),
                        object_poses=init_poses.astype(np.float32))
    gt = GroundTruth(hand_joints=joints.astype(np.float32),
                     object_mesh=Mesh(np.asarray(scene["object_mesh"].vertices, np.float32),
                                      np.asarray(scene["object_mesh"].faces, np.int64)),
                     object_poses=object_poses.astype(np.float32), valid=np.ones(frames, bool))
    extra = {"gt/independent_scene.npz": {
        "hand_vertices": np.asarray(scene["hand"].vertices, np.float32),
        "hand_faces": np.asarray(scene["hand"].faces, np.int64),
        "forearm_vertices": np.asarray(scene["forearm"].vertices, np.float32),
        "forearm_faces": np.asarray(scene["forearm"].faces, np.int64),
        "hand_to_camera": hand_to_camera.astype(np.float64),
        "object_to_hand": object_to_hand.astype(np.float64),
        "tip_gaps_m": grasp.tip_gaps_m,
    }}
    write_sequence(out_dir, meta, images, masks, init, gt, video=video, extra_files=extra)
    extent = scene["object_mesh"].extents
    return {
        "variant": variant_index, "hand": spec.hand.name, "object": spec.object.name,
        "object_extent_cm": [round(float(e) * 100, 1) for e in extent],
        "tip_gaps_mm": [round(float(g) * 1000, 2) for g in grasp.tip_gaps_m],
        "max_penetration_mm": round(grasp.max_penetration_m * 1000, 2),
        "focal_px": round(float(K[0, 0]), 1), "seconds": round(time.perf_counter() - started, 1),
    }


def contact_sheet(seq_dirs, png_path, columns: int = 6) -> None:
    """One row of frames per sequence, and under it the same frames with the mask labels tinted
    (object blue, hand red)."""
    rows = []
    for seq in seq_dirs:
        seq = Path(seq)
        images = sorted((seq / "images").glob("*.png"))
        picks = np.linspace(0, len(images) - 1, columns).round().astype(int)
        plain, tinted = [], []
        for i in picks:
            rgb = read_image(images[i]).astype(np.float32)
            mask = read_mask(seq / "masks" / images[i].name)
            tint = rgb.copy()
            tint[mask == LABEL_OBJECT] = 0.5 * tint[mask == LABEL_OBJECT] + [0, 40, 127]
            tint[mask == LABEL_HAND] = 0.5 * tint[mask == LABEL_HAND] + [127, 20, 0]
            plain.append(rgb)
            tinted.append(tint)
        rows += [np.concatenate(plain, axis=1), np.concatenate(tinted, axis=1)]
    sheet = np.clip(np.concatenate(rows, axis=0), 0, 255).astype(np.uint8)
    Path(png_path).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(png_path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_seq")
    parser.add_argument("--variant", type=int, required=True, help=f"0..{NUM_VARIANTS - 1}")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mask-noise-px", type=float, default=2.0)
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--sheet", help="also write a contact sheet PNG of the frames and masks")
    args = parser.parse_args(argv)
    try:
        summary = generate(args.out_seq, args.variant, args.frames, tuple(args.size), args.seed,
                           args.mask_noise_px, video=not args.no_video)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.sheet:
        contact_sheet([args.out_seq], args.sheet)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
