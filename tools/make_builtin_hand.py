"""Generate the built-in, licence-clean right-hand model ``hold/assets/builtin_hand.npz``.

Nothing here comes from MANO's data: every number below is an anatomical proportion written by
hand (adult hand, ~18.6 cm from the wrist joint to the middle fingertip, ~8.5 cm palm width),
and everything else is derived from it by code. The derivation, in order:

1. **Skeleton.** MANO's 16-bone tree (``PARENTS`` in ``hold/models/hand/base.py``) with joint
   centres placed like MANO's canonical right hand, wrist at the origin: fingers along -x,
   thumb side (radial) +z, palm facing -y, back of the hand +y. Finger bones: MCP → PIP → DIP →
   tip; thumb: CMC → MCP → IP → tip.
2. **Surface.** An implicit surface: tapered, slightly flattened capsules per phalanx, four
   metacarpal capsules + thenar/hypothenar ellipsoids for the palm, and a rounded elliptic
   cylinder as the wrist cap, joined by a polynomial smooth minimum (fingers are joined to the
   palm smoothly, which makes the webs, but never to each other). Marching cubes
   (Lorensen & Cline 1987, scikit-image) on a coarse grid gives a closed genus-0 mesh; it is then
   relaxed (tangential Laplacian smoothing) and projected back onto the zero level set, which
   evens the triangles without a decimation library.
3. **Skinning weights.** Bone heat (Baran & Popović, "Automatic rigging and animation of 3D
   characters", SIGGRAPH 2007): for every bone j solve ``(L + M H) w_j = M H p_j`` on the mesh,
   where L is the cotangent Laplacian, M the lumped vertex areas, ``p_j`` marks the vertices
   whose nearest bone segment is j and ``H = 1 / d²`` (d: distance to that segment). The result
   is smooth along the surface (no leaking across the gap between two fingers), sums to one and
   blends over about one finger radius around each joint.
4. **Shape space.** Four linear blend shapes, each one standard deviation of adult variation,
   defined as per-bone affine maps blended with the skinning weights so that vertices and joints
   move consistently: ``Δv = Σ_j w_j (ΔJ_j + (S_j − I)(v − J_j))``. β0 overall size (+5 %),
   β1 finger and thumb length (+5 % along each phalanx), β2 thickness (+6 % across fingers and
   palm), β3 palm width (+5 % across the palm; fingers move sideways with their MCP joints).
5. **Joint frames and limits.** Per bone a frame (flexion, abduction, twist axes) from the bone
   direction and the palm (thumb: pad) direction; plausible ranges per axis in degrees, used by
   the pose prior in ``hold/models/hand/builtin.py``.

Run ``python tools/make_builtin_hand.py`` to rewrite the asset (deterministic: the same numpy
version gives the same file) and ``--render docs/img`` to draw the pictures in
docs/HAND_MODEL.md.
"""

from __future__ import annotations

import argparse
import heapq
import pathlib

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import skimage.measure
import trimesh

ROOT = pathlib.Path(__file__).resolve().parents[1]
ASSET = ROOT / "hold" / "assets" / "builtin_hand.npz"

# MANO's kinematic tree: parent of each bone; bones 1-3 index, 4-6 middle, 7-9 pinky,
# 10-12 ring, 13-15 thumb.
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
FINGER_BONES = {"index": (1, 2, 3), "middle": (4, 5, 6), "pinky": (7, 8, 9), "ring": (10, 11, 12),
                "thumb": (13, 14, 15)}
TIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")  # order of the 21-keypoint tips

DORSAL = np.array([0.0, 1.0, 0.0])  # back of the hand
RADIAL = np.array([0.0, 0.0, 1.0])  # thumb side
DISTAL = np.array([-1.0, 0.0, 0.0])  # towards the fingertips

# Long fingers: MCP joint (x, y, z) in metres, splay in degrees (+ = towards the thumb),
# phalanx lengths (MCP→PIP, PIP→DIP, DIP→skin tip) and radii at MCP, PIP, DIP, tip.
LONG_FINGERS = {
    "index": dict(mcp=(-0.089, 0.000, 0.024), splay=5.0, lengths=(0.039, 0.023, 0.021),
                  radii=(0.0102, 0.0094, 0.0085, 0.0077)),
    "middle": dict(mcp=(-0.094, 0.001, 0.002), splay=0.0, lengths=(0.044, 0.027, 0.022),
                   radii=(0.0104, 0.0096, 0.0087, 0.0079)),
    "ring": dict(mcp=(-0.088, 0.000, -0.018), splay=-7.0, lengths=(0.041, 0.026, 0.021),
                 radii=(0.0098, 0.0090, 0.0081, 0.0074)),
    "pinky": dict(mcp=(-0.077, -0.002, -0.035), splay=-15.0, lengths=(0.032, 0.020, 0.019),
                  radii=(0.0088, 0.0080, 0.0072, 0.0066)),
}
# Thumb: CMC joint, then per segment the angle from the finger direction towards the thumb side
# (in the palm plane) and the palmar drop (degrees), lengths and radii like the fingers.
THUMB = dict(cmc=(-0.025, -0.013, 0.023), angles=(42.0, 30.0, 22.0), drops=(8.0, 6.0, 4.0),
             lengths=(0.038, 0.030, 0.026), radii=(0.0135, 0.0112, 0.0100, 0.0090))
FINGER_FLATNESS = 0.88  # finger thickness / width
SMOOTH_FINGER = 0.003  # smooth-min radius between the phalanges of one finger (m)
SMOOTH_WEB = 0.007  # between each finger and the palm: forms the interdigital webs
SMOOTH_THUMB_WEB = 0.014  # thumb to palm: the wider first web space
SMOOTH_PALM = 0.012  # between the palm's own parts
VOXEL = 0.0026  # marching-cubes cell (m): about 4-6 k faces after relaxation

# Plausible joint ranges in degrees as (flexion, abduction, twist) lo/hi per bone 1..15.
# Flexion bends towards the palm (thumb: towards its pad); abduction is towards the thumb side.
# Sources: common clinical range-of-motion tables (e.g. Hume et al. 1990 for the fingers,
# the AAOS ranges); PIP/DIP are hinges, so their abduction and twist ranges are a few degrees.
MCP_ABDUCTION = {"index": (-15, 25), "middle": (-15, 15), "ring": (-20, 12), "pinky": (-30, 15)}
FINGER_RANGES = {"mcp": ((-25, 95), None, (-10, 10)), "pip": ((-5, 110), (-4, 4), (-4, 4)),
                 "dip": ((-10, 85), (-4, 4), (-4, 4))}
THUMB_RANGES = (((-25, 55), (-25, 50), (-45, 25)),  # CMC: flexion across the palm, palmar
                ((-15, 70), (-10, 15), (-10, 20)),  # abduction, opposition twist; MCP; IP
                ((-20, 85), (-5, 5), (-5, 5)))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _rotate_about(v: np.ndarray, axis: np.ndarray, degrees: float) -> np.ndarray:
    """Rodrigues rotation of vector v about a unit axis."""
    a = np.radians(degrees)
    return v * np.cos(a) + np.cross(axis, v) * np.sin(a) + axis * (axis @ v) * (1 - np.cos(a))


def build_skeleton() -> dict:
    """Joint centres [16, 3], tip end points [5, 3] (TIP_ORDER) and per-segment geometry.

    Returns a dict with ``joints``, ``tips`` and ``segments``: a list of (bone, start, end,
    r_start, r_end, thickness_axis) for the phalanx capsules (thickness_axis: the direction in
    which the cross-section is flattened).
    """
    joints = np.zeros((16, 3))
    segments = []
    tips = {}
    for name, spec in LONG_FINGERS.items():
        direction = _rotate_about(DISTAL, DORSAL, spec["splay"])  # +splay turns towards +z
        bones = FINGER_BONES[name]
        point = np.array(spec["mcp"], dtype=float)
        for k, bone in enumerate(bones):
            joints[bone] = point
            end = point + spec["lengths"][k] * direction
            r0, r1 = spec["radii"][k], spec["radii"][k + 1]
            # The last capsule ends in a hemisphere whose far side is the skin tip.
            stop = end - r1 * direction if k == 2 else end
            segments.append((bone, point, stop, r0, r1, DORSAL))
            point = end
        tips[name] = point
    point = np.array(THUMB["cmc"], dtype=float)
    for k, bone in enumerate(FINGER_BONES["thumb"]):
        direction = _rotate_about(DISTAL, DORSAL, THUMB["angles"][k])
        side = np.cross(direction, DORSAL)  # in the palm plane, perpendicular to the thumb
        direction = _rotate_about(direction, side, -THUMB["drops"][k])  # dip towards the palm
        joints[bone] = point
        end = point + THUMB["lengths"][k] * direction
        r0, r1 = THUMB["radii"][k], THUMB["radii"][k + 1]
        stop = end - r1 * direction if k == 2 else end
        segments.append((bone, point, stop, r0, r1, thumb_nail_axis(direction)))
        point = end
    tips["thumb"] = point
    return dict(joints=joints, tips=np.stack([tips[n] for n in TIP_ORDER]), segments=segments)


def thumb_nail_axis(direction: np.ndarray) -> np.ndarray:
    """Unit normal of the thumbnail for a thumb segment pointing along ``direction``.

    In a flat hand the thumb is pronated: its pad faces the palm's normal turned ~40° towards
    the index finger, so the nail faces the back of the hand turned ~40° towards the thumb side.
    """
    towards_index = _unit(np.cross(DORSAL, direction))  # in the palm plane, ⟂ to the thumb
    towards_index *= np.sign(towards_index @ -RADIAL)
    pad = np.cos(np.radians(40)) * -DORSAL + np.sin(np.radians(40)) * towards_index
    pad = _unit(pad - (pad @ direction) * direction)
    return -pad


# ---------------------------------------------------------------------------------------------
# Implicit surface
# ---------------------------------------------------------------------------------------------


def smooth_min(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (C1): equals min(a, b) where |a − b| ≥ k, rounds the crease."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def capsule(p, start, end, r_start, r_end, thickness_axis=None, flatness=1.0):
    """Approximate signed distance to a tapered capsule with an elliptic cross-section.

    The cross-section is squeezed to ``flatness`` × the radius along ``thickness_axis``
    (projected ⟂ to the axis); for small tapers and flatness near 1 the value is within a few
    percent of the true distance, which is all the mesher and the projection need.
    """
    axis = end - start
    length = np.linalg.norm(axis)
    axis = axis / length
    rel = p - start
    along = rel @ axis
    t = np.clip(along / length, 0.0, 1.0)
    radial = rel - np.outer(t * length, axis)
    if thickness_axis is not None and flatness != 1.0:
        thick = _unit(thickness_axis - (thickness_axis @ axis) * axis)
        across = radial @ thick
        radial = radial + np.outer(across * (1.0 / flatness - 1.0), thick)
    return np.linalg.norm(radial, axis=1) - (r_start + t * (r_end - r_start))


def ellipsoid(p, centre, axes, radii):
    """Approximate signed distance to an ellipsoid (rows of ``axes`` are its unit axes)."""
    local = (p - centre) @ np.asarray(axes).T / np.asarray(radii)
    scale = np.linalg.norm(local, axis=1)
    return (scale - 1.0) * np.min(radii)


def rounded_cylinder(p, x_range, half_width, half_thickness, rounding):
    """Elliptic cylinder along x (z: width, y: thickness) with rounded rims at both ends."""
    centre_x = 0.5 * (x_range[0] + x_range[1])
    half_length = 0.5 * (x_range[1] - x_range[0])
    # The radial distance is taken in a frame where the ellipse is a circle of radius half_width.
    radial = np.hypot(p[:, 2], p[:, 1] * half_width / half_thickness) - (half_width - rounding)
    axial = np.abs(p[:, 0] - centre_x) - (half_length - rounding)
    outside = np.hypot(np.maximum(radial, 0), np.maximum(axial, 0))
    return outside + np.minimum(np.maximum(radial, axial), 0) - rounding


def palm_sdf(p: np.ndarray, skeleton: dict) -> np.ndarray:
    """The palm: metacarpals fanned from the carpus to the MCP joints, plus the two eminences."""
    joints = skeleton["joints"]
    parts = []
    for name, base_z in (("index", 0.015), ("middle", 0.004), ("ring", -0.008),
                         ("pinky", -0.019)):
        mcp = joints[FINGER_BONES[name][0]]
        base = np.array([-0.020, 0.002, base_z])
        parts.append(capsule(p, base, mcp, 0.0125, 0.0112, DORSAL, 0.95))
    # Thenar eminence (the muscle pad at the thumb's base, palmar side) and hypothenar.
    cmc, thumb_mcp = joints[13], joints[14]
    thenar_axis = _unit(thumb_mcp - cmc)
    thenar_axes = np.stack([thenar_axis, DORSAL, _unit(np.cross(thenar_axis, DORSAL))])
    parts.append(ellipsoid(p, np.array([-0.033, -0.008, 0.020]), thenar_axes,
                           (0.030, 0.013, 0.016)))
    parts.append(ellipsoid(p, np.array([-0.045, -0.006, -0.026]), np.eye(3),
                           (0.032, 0.012, 0.013)))
    palm = parts[0]
    for part in parts[1:]:
        palm = smooth_min(palm, part, SMOOTH_PALM)
    return palm


def hand_sdf(p: np.ndarray, skeleton: dict) -> np.ndarray:
    """Signed distance (approximate, negative inside) of the whole hand at points p [N, 3]."""
    fingers = {}
    for bone, start, end, r0, r1, thick in skeleton["segments"]:
        finger = next(n for n, b in FINGER_BONES.items() if bone in b)
        d = capsule(p, start, end, r0, r1, thick, FINGER_FLATNESS)
        fingers[finger] = d if finger not in fingers else smooth_min(fingers[finger], d,
                                                                      SMOOTH_FINGER)
    palm = palm_sdf(p, skeleton)
    long_fingers = np.minimum.reduce([fingers[n] for n in LONG_FINGERS])
    hand = smooth_min(palm, long_fingers, SMOOTH_WEB)
    hand = smooth_min(hand, fingers["thumb"], SMOOTH_THUMB_WEB)
    wrist = rounded_cylinder(p, (-0.030, 0.022), 0.029, 0.019, 0.009)
    return smooth_min(hand, wrist, SMOOTH_PALM)


# ---------------------------------------------------------------------------------------------
# Meshing
# ---------------------------------------------------------------------------------------------


def extract_mesh(skeleton: dict, voxel: float = VOXEL) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of the implicit surface on a grid padded by two cells on every side."""
    # A box with empty margins around the hand: the extracted surface is then closed.
    lo = np.array([-0.20, -0.040, -0.065])
    hi = np.array([0.035, 0.035, 0.105])
    counts = np.ceil((hi - lo) / voxel).astype(int) + 1
    axes = [lo[i] + voxel * np.arange(counts[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    values = hand_sdf(grid, skeleton).reshape(counts)
    verts, faces, _, _ = skimage.measure.marching_cubes(values, 0.0, spacing=(voxel,) * 3)
    return verts + lo, faces.astype(np.int64)


def _gradient(p: np.ndarray, skeleton: dict, step: float = 1e-5) -> np.ndarray:
    offsets = np.eye(3) * step
    return np.stack([(hand_sdf(p + o, skeleton) - hand_sdf(p - o, skeleton)) / (2 * step)
                     for o in offsets], axis=1)


def project_to_surface(p: np.ndarray, skeleton: dict, steps: int = 4) -> np.ndarray:
    """Newton steps along the gradient onto the zero level set."""
    for _ in range(steps):
        g = _gradient(p, skeleton)
        p = p - (hand_sdf(p, skeleton) / np.maximum((g * g).sum(1), 1e-12))[:, None] * g
    return p


def relax_mesh(verts, faces, skeleton, iterations: int = 30) -> np.ndarray:
    """Even out marching-cubes triangles: tangential umbrella smoothing + reprojection."""
    mesh = trimesh.Trimesh(verts, faces, process=False)
    neighbours = mesh.vertex_neighbors
    rows = np.repeat(np.arange(len(verts)), [len(n) for n in neighbours])
    cols = np.concatenate(neighbours)
    adjacency = scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                                        shape=(len(verts),) * 2)
    degree = np.asarray(adjacency.sum(1)).ravel()
    for _ in range(iterations):
        normals = trimesh.Trimesh(verts, faces, process=False).vertex_normals
        move = adjacency @ verts / degree[:, None] - verts
        move -= (move * normals).sum(1, keepdims=True) * normals  # keep the shape
        # Half steps damp the umbrella operator: no triangle flips between projections.
        verts = project_to_surface(verts + 0.5 * move, skeleton, steps=2)
    return project_to_surface(verts, skeleton)


def decimate(verts: np.ndarray, faces: np.ndarray, target_faces: int):
    """Shortest-edge-first collapse to the midpoint until ``target_faces`` remain.

    A collapse is taken only if it keeps the mesh a closed 2-manifold (the link condition:
    the edge's endpoints share exactly the two opposite vertices) and turns no triangle by more
    than ~60°. Returns compacted (verts, faces); the caller reprojects onto the surface.
    """
    verts = verts.copy()
    faces = faces.copy()
    face_alive = np.ones(len(faces), bool)
    vert_alive = np.ones(len(verts), bool)
    vert_faces = [set() for _ in range(len(verts))]
    for index, face in enumerate(faces):
        for v in face:
            vert_faces[v].add(index)

    def neighbours(v):
        return {u for f in vert_faces[v] for u in faces[f]} - {v}

    def normal(points):
        n = np.cross(points[1] - points[0], points[2] - points[0])
        return n / max(np.linalg.norm(n), 1e-20)

    edges = {tuple(sorted(e)) for e in np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]],
                                                       faces[:, [2, 0]]]).tolist()}
    heap = [(np.linalg.norm(verts[a] - verts[b]), a, b) for a, b in sorted(edges)]
    heapq.heapify(heap)
    face_count = len(faces)
    while face_count > target_faces and heap:
        length, a, b = heapq.heappop(heap)
        if not (vert_alive[a] and vert_alive[b]) or length != np.linalg.norm(verts[a] - verts[b]):
            continue  # stale entry
        shared = vert_faces[a] & vert_faces[b]
        if len(shared) != 2 or len(neighbours(a) & neighbours(b)) != 2:
            continue
        middle = 0.5 * (verts[a] + verts[b])
        moved = (vert_faces[a] | vert_faces[b]) - shared
        flips = False
        for f in moved:
            old = verts[faces[f]]
            new = old.copy()
            new[(faces[f] == a) | (faces[f] == b)] = middle
            flips |= normal(old) @ normal(new) < 0.5
        if flips:
            continue
        verts[a] = middle
        for f in vert_faces[b] - shared:
            faces[f][faces[f] == b] = a
            vert_faces[a].add(f)
        for f in shared:
            face_alive[f] = False
            for v in faces[f]:
                vert_faces[v].discard(f)
        vert_alive[b] = False
        vert_faces[b] = set()
        face_count -= 2
        for u in neighbours(a):
            heapq.heappush(heap, (np.linalg.norm(verts[a] - verts[u]), min(a, u), max(a, u)))
    remap = np.cumsum(vert_alive) - 1
    return verts[vert_alive], remap[faces[face_alive]]


# ---------------------------------------------------------------------------------------------
# Skinning weights
# ---------------------------------------------------------------------------------------------


def bone_segments(skeleton: dict) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """(bone, start, end) line segments that carry each bone's influence.

    The wrist bone (0) owns the metacarpals (wrist → each finger's MCP, wrist → thumb CMC) and
    the forearm stub; every other bone owns the segment from its joint to its child's joint
    (the last phalanx: to the skin tip).
    """
    joints, tips = skeleton["joints"], skeleton["tips"]
    segments = [(0, np.zeros(3), np.array([0.03, 0.0, 0.0]))]
    for name, bones in FINGER_BONES.items():
        segments.append((0, np.zeros(3), joints[bones[0]]))
        ends = [joints[bones[1]], joints[bones[2]], tips[TIP_ORDER.index(name)]]
        segments += [(bone, joints[bone], end) for bone, end in zip(bones, ends)]
    return segments


def distance_to_segments(points: np.ndarray, segments) -> np.ndarray:
    """Euclidean distance [N, S] from each point to each (bone, start, end) segment."""
    out = np.empty((len(points), len(segments)))
    for s, (_, start, end) in enumerate(segments):
        axis = end - start
        t = np.clip((points - start) @ axis / (axis @ axis), 0.0, 1.0)
        out[:, s] = np.linalg.norm(points - start - t[:, None] * axis, axis=1)
    return out


def cotangent_laplacian(verts: np.ndarray, faces: np.ndarray):
    """Cotangent stiffness matrix L (positive semi-definite) and lumped vertex areas M [V]."""
    rows, cols, vals = [], [], []
    for k in range(3):
        i, j, o = faces[:, (k + 1) % 3], faces[:, (k + 2) % 3], faces[:, k]
        u, v = verts[i] - verts[o], verts[j] - verts[o]
        cot = (u * v).sum(1) / np.linalg.norm(np.cross(u, v), axis=1)
        rows += [i, j, i, j]
        cols += [j, i, i, j]
        vals += [-0.5 * cot, -0.5 * cot, 0.5 * cot, 0.5 * cot]
    n = len(verts)
    stiffness = scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    face_area = 0.5 * np.linalg.norm(np.cross(verts[faces[:, 1]] - verts[faces[:, 0]],
                                              verts[faces[:, 2]] - verts[faces[:, 0]]), axis=1)
    area = np.bincount(faces.ravel(), np.repeat(face_area / 3, 3), minlength=n)
    return stiffness, area


def bone_heat_weights(verts, faces, skeleton, heat: float = 1.0) -> np.ndarray:
    """Skinning weights [V, 16] by bone heat diffusion (Baran & Popović 2007).

    Solves ``(L + M H) W = M H P`` with H = heat / d² (d: distance to the nearest bone segment)
    and P the one-hot nearest-bone labels; rows of W then sum to one because L·1 = 0. Tiny
    negative values (cotangent weights of obtuse triangles) are clipped and rows renormalised.
    """
    segments = bone_segments(skeleton)
    distances = distance_to_segments(verts, segments)
    nearest = distances.argmin(1)
    labels = np.zeros((len(verts), 16))
    labels[np.arange(len(verts)), [segments[s][0] for s in nearest]] = 1.0
    stiffness, area = cotangent_laplacian(verts, faces)
    # d floors at 1 mm: a vertex lying on a bone must not make its heat term infinite.
    screen = area * heat / np.maximum(distances.min(1), 1e-3) ** 2
    system = (stiffness + scipy.sparse.diags(screen)).tocsc()
    weights = scipy.sparse.linalg.splu(system).solve(screen[:, None] * labels)  # 16 RHS
    weights = np.clip(weights, 0.0, None)
    return weights / weights.sum(1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# Shape space, joint frames, tips
# ---------------------------------------------------------------------------------------------

BETA_NAMES = ("size", "finger_length", "thickness", "palm_width")
BETA_STEP = {"size": 0.05, "finger_length": 0.05, "thickness": 0.06, "palm_width": 0.05}


def bone_directions(skeleton: dict) -> np.ndarray:
    """Unit direction [16, 3] of each bone towards its child joint (last phalanx: the tip)."""
    joints, tips = skeleton["joints"], skeleton["tips"]
    directions = np.zeros((16, 3))
    directions[0] = DISTAL
    for name, bones in FINGER_BONES.items():
        ends = [joints[bones[1]], joints[bones[2]], tips[TIP_ORDER.index(name)]]
        for bone, end in zip(bones, ends):
            directions[bone] = _unit(end - joints[bone])
    return directions


def shape_blend_shapes(verts, weights, skeleton):
    """Vertex [K, V, 3] and joint [K, 16, 3] offsets for one unit of each beta (BETA_NAMES).

    Each beta is a set of per-bone affine maps x ↦ J_j + ΔJ_j + S_j (x − J_j), blended with the
    skinning weights: Δv = Σ_j w_j (ΔJ_j + (S_j − I)(v − J_j)). Every map is linear in its step,
    so the offsets are exact blend shapes and several betas simply add.
    """
    joints = skeleton["joints"]
    directions = bone_directions(skeleton)
    lengths = np.zeros(16)
    for name, bones in FINGER_BONES.items():
        ends = [joints[bones[1]], joints[bones[2]], skeleton["tips"][TIP_ORDER.index(name)]]
        lengths[list(bones)] = [np.linalg.norm(e - joints[b]) for b, e in zip(bones, ends)]
    vert_dirs, joint_dirs = [], []
    for name in BETA_NAMES:
        step = BETA_STEP[name]
        stretch = np.zeros((16, 3, 3))  # S_j − I
        shift = np.zeros((16, 3))  # ΔJ_j
        if name == "size":
            stretch[:] = step * np.eye(3)
            shift = step * joints
        for chain in FINGER_BONES.values():
            for k, bone in enumerate(chain):
                d = directions[bone]
                if name == "finger_length":
                    stretch[bone] = step * np.outer(d, d)
                    if k > 0:  # each joint moves by its parents' lengthening
                        parent = chain[k - 1]
                        shift[bone] = shift[parent] + step * lengths[parent] * directions[parent]
                elif name == "thickness":
                    stretch[bone] = step * (np.eye(3) - np.outer(d, d))
                elif name == "palm_width":  # the whole finger follows its MCP (CMC) sideways
                    shift[bone] = step * (joints[chain[0]] @ RADIAL) * RADIAL
        if name == "thickness":
            stretch[0] = step * np.outer(DORSAL, DORSAL)
        elif name == "palm_width":
            stretch[0] = step * np.outer(RADIAL, RADIAL)
        per_bone = shift[None] + np.einsum("jab,vjb->vja", stretch, verts[:, None] - joints[None])
        vert_dirs.append(np.einsum("vj,vja->va", weights, per_bone))
        joint_dirs.append(shift)
    return np.stack(vert_dirs), np.stack(joint_dirs)


def joint_axes(skeleton: dict) -> np.ndarray:
    """Per bone 1..15 a rotation [15, 3, 3] whose rows are the flexion, abduction, twist axes.

    twist t = the bone direction; flexion a = t × p, where p is the side the joint bends to (the
    palm for the fingers, the pad for the thumb), so a positive rotation about a moves t towards
    p; abduction b = t × a (positive: towards the thumb side for the fingers).
    """
    directions = bone_directions(skeleton)
    axes = np.zeros((15, 3, 3))
    for bone in range(1, 16):
        t = directions[bone]
        bend = -thumb_nail_axis(t) if bone in FINGER_BONES["thumb"] else -DORSAL
        bend = _unit(bend - (bend @ t) * t)
        a = _unit(np.cross(t, bend))
        axes[bone - 1] = np.stack([a, np.cross(t, a), t])
    return axes


def pose_limits() -> np.ndarray:
    """Plausible ranges [15, 3, 2] in degrees per bone 1..15 and axis (flexion, abduction, twist)."""
    limits = np.zeros((15, 3, 2))
    for name, bones in FINGER_BONES.items():
        for k, bone in enumerate(bones):
            if name == "thumb":
                ranges = THUMB_RANGES[k]
            else:
                ranges = list(FINGER_RANGES[("mcp", "pip", "dip")[k]])
                if k == 0:
                    ranges[1] = MCP_ABDUCTION[name]
            limits[bone - 1] = np.array(ranges, dtype=float)
    return limits


def tip_vertices(verts: np.ndarray, weights: np.ndarray, skeleton: dict) -> np.ndarray:
    """Per finger (TIP_ORDER) the skin vertex furthest along the distal phalanx."""
    directions = bone_directions(skeleton)
    ids = []
    for name in TIP_ORDER:
        bone = FINGER_BONES[name][2]
        reach = (verts - skeleton["joints"][bone]) @ directions[bone]
        reach[weights.argmax(1) != bone] = -np.inf  # only the distal phalanx's own skin
        ids.append(int(reach.argmax()))
    return np.array(ids)


def build(voxel: float = VOXEL, target_faces: int = 6000, heat: float = 1.0) -> dict:
    """The whole model as a dict of arrays (the asset's content)."""
    skeleton = build_skeleton()
    verts, faces = extract_mesh(skeleton, voxel)
    verts, faces = decimate(verts, faces, target_faces)
    verts = relax_mesh(verts, faces, skeleton)
    mesh = trimesh.Trimesh(verts, faces, process=False)
    if not (mesh.is_watertight and mesh.is_winding_consistent and mesh.euler_number == 2
            and mesh.volume > 0):
        raise RuntimeError("the generated hand mesh is not a closed, outward, genus-0 surface")
    weights = bone_heat_weights(verts, faces, skeleton, heat)
    # Drop negligible influences (sparser for the kernels) and renormalise.
    weights[weights < 1e-3] = 0.0
    weights /= weights.sum(1, keepdims=True)
    vert_dirs, joint_dirs = shape_blend_shapes(verts, weights, skeleton)
    return dict(
        template=verts.astype(np.float32),
        faces=faces.astype(np.int32),
        skin_weights=weights.astype(np.float32),
        rest_joints=skeleton["joints"].astype(np.float32),
        tip_vertex_ids=tip_vertices(verts, weights, skeleton),
        shape_dirs=vert_dirs.astype(np.float32),
        joint_shape_dirs=joint_dirs.astype(np.float32),
        beta_names=np.array(BETA_NAMES),
        joint_axes=joint_axes(skeleton).astype(np.float32),
        pose_limits_deg=pose_limits().astype(np.float32),
        parents=np.array(PARENTS),
    )


# ---------------------------------------------------------------------------------------------
# Pictures for docs/HAND_MODEL.md (ray casting with trimesh; needs the model module)
# ---------------------------------------------------------------------------------------------

BONE_COLOURS = np.array([  # per bone: palm grey; each finger one hue, darker towards the tip
    [200, 200, 200], [250, 120, 120], [200, 60, 60], [140, 20, 20],
    [120, 220, 120], [50, 170, 50], [10, 110, 10], [120, 120, 250], [60, 60, 200],
    [20, 20, 140], [250, 220, 100], [210, 170, 30], [150, 110, 0], [230, 130, 240],
    [180, 60, 190], [120, 10, 130]], dtype=float)


def render_view(verts, faces, colours, view, up, size=320, extent=0.12, centre=None):
    """Orthographic, smooth-shaded image [size, size, 3] (uint8 RGB) of a mesh.

    ``view`` is the viewing direction, ``up`` the image's up direction, ``colours`` [V, 3].
    """
    mesh = trimesh.Trimesh(verts, faces, process=False)
    forward = _unit(np.asarray(view, float))
    right = _unit(np.cross(forward, up))
    upward = np.cross(right, forward)
    centre = mesh.bounds.mean(0) if centre is None else centre
    grid = np.linspace(-extent, extent, size)
    u, v = np.meshgrid(grid, -grid)
    origins = centre + u.reshape(-1, 1) * right + v.reshape(-1, 1) * upward - 3 * extent * forward
    directions = np.repeat(forward[None], len(origins), 0)
    tri, ray, hits = mesh.ray.intersects_id(origins, directions, multiple_hits=False,
                                            return_locations=True)
    bary = trimesh.triangles.points_to_barycentric(mesh.triangles[tri], hits)
    corner = faces[tri]
    normal = _unit((bary[:, :, None] * mesh.vertex_normals[corner]).sum(1))
    colour = (bary[:, :, None] * colours[corner]).sum(1)
    light = _unit(-forward + 0.6 * upward + 0.3 * right)
    shade = 0.25 + 0.75 * np.clip(normal @ light, 0, 1)
    image = np.full((size * size, 3), 255.0)
    image[ray] = colour * shade[:, None]
    return image.reshape(size, size, 3).astype(np.uint8)


def render_pictures(folder: pathlib.Path) -> None:
    """Write hand_canonical.png, hand_weights.png, hand_poses.png and hand_shapes.png."""
    import cv2
    import torch

    from hold.models.hand.builtin import BuiltinHand
    from hold.models.hand.poses import POSE_NAMES, named_pose_angles

    folder.mkdir(parents=True, exist_ok=True)
    model = BuiltinHand(dtype=torch.float64)
    faces = model.faces.numpy()
    skin = np.full((model.template.shape[0], 3), [225.0, 185.0, 155.0])
    weights_colour = model.skin_weights.numpy() @ BONE_COLOURS
    views = [((0, -1, 0), (-1, 0, 0)), ((0, 1, 0), (-1, 0, 0)), ((0, 0, -1), (-1, 0, 0)),
             ((0.6, 0.8, -0.6), (-1, 0, 0))]  # back, palm, thumb side, oblique palm

    def posed(hand_pose, betas=None):
        betas = torch.zeros(1, model.num_betas, dtype=torch.float64) if betas is None else betas
        zero = torch.zeros(1, 3, dtype=torch.float64)
        return model(zero, hand_pose[None], betas, zero).vertices[0].numpy()

    def save(name, rows):
        image = np.concatenate([np.concatenate(row, 1) for row in rows], 0)
        cv2.imwrite(str(folder / name), image[:, :, ::-1])

    flat = model.template.numpy()
    save("hand_canonical.png", [[render_view(flat, faces, skin, v, u) for v, u in views]])
    save("hand_weights.png", [[render_view(flat, faces, weights_colour, v, u)
                               for v, u in views[:2]]])
    rows = []
    for name in POSE_NAMES:
        angles = torch.deg2rad(torch.tensor(named_pose_angles(name)))
        verts = posed(model.hand_pose_from_angles(angles))
        rows.append([render_view(verts, faces, skin, v, u, size=240) for v, u in views[1:]])
    save("hand_poses.png", list(map(list, zip(*rows))))  # one column per pose
    shapes = []
    for k in range(model.num_betas):
        row = []
        for value in (-2.0, 2.0):
            betas = torch.zeros(1, model.num_betas, dtype=torch.float64)
            betas[0, k] = value
            verts = posed(torch.zeros(45, dtype=torch.float64), betas)
            row.append(render_view(verts, faces, skin, *views[1], size=240, extent=0.13,
                                   centre=np.array([-0.085, 0.0, 0.01])))
        shapes.append(row)
    save("hand_shapes.png", [list(r) for r in zip(*shapes)])  # rows: β = −2, +2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ASSET)
    parser.add_argument("--render", type=pathlib.Path, default=None,
                        help="also draw the documentation pictures into this folder")
    args = parser.parse_args()
    model = build()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: an interrupted run never leaves a half-written asset.
    temporary = args.out.with_suffix(".tmp.npz")
    np.savez_compressed(temporary, **model)
    temporary.replace(args.out)
    print(f"wrote {args.out}: {len(model['template'])} vertices, {len(model['faces'])} faces, "
          f"{args.out.stat().st_size / 1e3:.0f} kB")
    if args.render is not None:
        render_pictures(args.render)


if __name__ == "__main__":
    main()
