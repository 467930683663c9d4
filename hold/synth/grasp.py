"""Grasp synthesis: a hand articulation and an object placement with plausible contact.

The hand stays at the origin of its canonical frame (zero global pose); the optimisation moves
the object and bends the fingers, starting from a named grasp of the built-in hand, so that

- the index, middle and ring fingertips lie on the object's surface, the thumb opposes them
  (its pad usually touches; its tip is pulled in less strongly), the pinky is pulled loosely,
- no hand vertex is inside the object and the forearm keeps clear of it,
- the articulation stays likely under the hand model's pose prior.

Signed distances come from dense surface samples during the optimisation (fast,
differentiable) and from exact point-to-triangle distances for the final acceptance test:
≥ 3 fingertips within ``CONTACT_ACCEPT_M`` of the surface, no hand vertex deeper than
``PENETRATION_ACCEPT_M``, no forearm vertex inside. The acceptance thresholds are stricter than
the published guarantees (3 mm contact, 2 mm penetration) so that checks with approximate
distances (dense surface samples) still see the guarantees hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh

from hold.models.hand.base import TIP_KEYPOINTS
from hold.models.hand.kinematics import axis_angle_to_matrix
from hold.models.hand.poses import named_pose_angles
from hold.synth.geometry import MeshDistance, transform

CONTACT_TOLERANCE_M = 0.003  # guaranteed: ≥ 3 fingertips at most this far from the surface
PENETRATION_TOLERANCE_M = 0.002  # guaranteed: no hand vertex deeper inside than this
CONTACT_ACCEPT_M = 0.0025
PENETRATION_ACCEPT_M = 0.0017
TARGET_GAP_MM = 0.8  # where the optimisation puts the contact tips (just outside the surface)
CLEARANCE_MM = 0.5  # hand vertices are pushed out to this distance
FOREARM_CLEARANCE_MM = 10.0
# Weights of the fingertip contact terms (TIP_KEYPOINTS order: thumb, index, middle, ring,
# pinky). The thumb usually presses with its pad, which keeps its tip end a few mm off the
# surface, so the guaranteed contacts are asked of index, middle and ring; the thumb is pulled
# in to oppose them; the pinky only loosely.
TIP_WEIGHTS = (1.0, 2.0, 2.0, 2.0, 0.1)
# Bones whose angles the optimisation may change, per axis (flexion, abduction, twist): the long
# fingers bend and spread, the thumb's CMC joint moves freely, its MCP/IP joints bend.
_FREE_AXES = np.zeros((15, 3), bool)
_FREE_AXES[:12, 0] = True
_FREE_AXES[[0, 3, 6, 9], 1] = True
_FREE_AXES[12, :] = True
_FREE_AXES[13:, 0] = True


@dataclass
class Grasp:
    hand_pose: np.ndarray  # [45] axis-angle articulation (model convention)
    betas: np.ndarray  # [num_betas]
    object_to_hand: np.ndarray  # [4, 4] object frame → hand frame (rigid)
    hand_vertices: np.ndarray  # [V, 3] posed hand, hand frame
    joints: np.ndarray  # [21, 3] hand frame
    tip_distances_m: np.ndarray  # [5] exact signed distances of the tips to the surface
    max_penetration_m: float  # deepest hand vertex inside the object (≥ 0)
    candidate: int  # which initial placement succeeded


def _principal_axes(points: np.ndarray) -> np.ndarray:
    """Rows: principal axes of a point set, longest extent first, right-handed [3, 3]."""
    centred = points - points.mean(axis=0)
    _, _, Vt = np.linalg.svd(centred, full_matrices=False)
    if np.linalg.det(Vt) < 0:
        Vt[2] *= -1
    return Vt


def _initial_placements(mesh: trimesh.Trimesh, rng: np.random.Generator) -> list[np.ndarray]:
    """Candidate object→hand rotations [3, 3]: the object's longest axis across the palm (hand
    z) and its shortest or middle axis along the palm normal (hand y), both signs, in a seeded
    random order, each with a few degrees of jitter."""
    axes = _principal_axes(mesh.sample(4000, seed=int(rng.integers(1 << 31))))
    long_axis, middle_axis, short_axis = axes
    candidates = []
    for normal_axis in (short_axis, -short_axis, middle_axis, -middle_axis):
        across = long_axis
        third = np.cross(normal_axis, across)
        # Object-frame axes that should become hand x, y, z.
        object_axes = np.stack([third, normal_axis, across])
        candidates.append(object_axes)  # rows map object → hand: R = object_axes
    order = rng.permutation(len(candidates))
    jitter = [trimesh.transformations.rotation_matrix(np.deg2rad(rng.normal(0, 8)), rng.normal(size=3))[:3, :3]
              for _ in candidates]
    return [jitter[i] @ candidates[i] for i in order]


def _forearm_points(forearm_vertices: np.ndarray, count: int = 300) -> np.ndarray:
    step = max(1, len(forearm_vertices) // count)
    return forearm_vertices[::step]


def synthesize_grasp(
    hand_model,
    object_mesh: trimesh.Trimesh,
    forearm_vertices: np.ndarray,
    seed: int,
    betas: np.ndarray | None = None,
    iterations: int = 150,
    rounds: int = 2,
    start_pose: str = "cylinder",
) -> Grasp:
    """Find a grasp of a watertight object mesh (object frame, metres) by the built-in hand.

    forearm_vertices [N, 3] (hand frame) must keep clear of the object. Tries the candidate
    placements in a seeded order, each for up to ``rounds`` × ``iterations`` optimisation steps
    (checked after every round), and returns the first grasp that passes the exact checks;
    raises RuntimeError when none does.
    """
    rng = np.random.default_rng(seed)
    distance = MeshDistance(object_mesh, count=30_000, seed=int(rng.integers(1 << 31)))
    betas_t = torch.zeros(1, hand_model.num_betas) if betas is None else torch.as_tensor(betas, dtype=torch.float32)[None]
    forearm = torch.as_tensor(_forearm_points(forearm_vertices), dtype=torch.float32)
    start_angles = torch.as_tensor(np.deg2rad(named_pose_angles(start_pose)), dtype=torch.float32)
    object_centre = 0.5 * (object_mesh.bounds[0] + object_mesh.bounds[1])
    failures = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # hundreds of tiny ops: threading only adds overhead and contention
    try:
        for index, rotation in enumerate(_initial_placements(object_mesh, rng)):
            # Start with the object's near face 12 mm in front of the palm (hand y < 0),
            # centred on the palm (x ≈ -7 cm, between wrist and knuckles).
            half_y = np.abs((object_mesh.vertices - object_centre) @ rotation[1]).max()
            start_t = np.array([-0.07, -0.02 - 0.012 - half_y, 0.0]) - rotation @ object_centre
            problem = _GraspProblem(hand_model, distance, rotation, start_t, start_angles, betas_t, forearm)
            for _ in range(rounds):
                problem.run(iterations)
                grasp = problem.grasp()
                verdict = _check(grasp, distance, forearm_vertices)
                if verdict is None:
                    grasp.candidate = index
                    return grasp
            failures.append(f"placement {index}: {verdict}")
    finally:
        torch.set_num_threads(threads)
    raise RuntimeError("grasp synthesis failed: " + "; ".join(failures))


class _GraspProblem:
    """The optimisation state of one candidate placement (see the module docstring)."""

    def __init__(self, hand_model, distance, rotation, start_t, start_angles, betas, forearm):
        self.hand_model, self.distance, self.betas, self.forearm = hand_model, distance, betas, forearm
        self.start_angles = start_angles
        self.free = torch.as_tensor(_FREE_AXES)
        self.R0 = torch.as_tensor(rotation, dtype=torch.float32)
        self.delta_angles = torch.zeros(15, 3, requires_grad=True)
        self.delta_rotation = torch.zeros(3, requires_grad=True)
        self.translation = torch.tensor(start_t, dtype=torch.float32, requires_grad=True)
        self.optimiser = torch.optim.Adam([
            {"params": [self.delta_angles], "lr": 0.02},
            {"params": [self.delta_rotation], "lr": 0.01},
            {"params": [self.translation], "lr": 0.001},
        ])
        self.tip_weights = torch.tensor(TIP_WEIGHTS)

    def evaluate(self):
        zero3 = torch.zeros(1, 3)
        angles = self.start_angles + self.delta_angles * self.free
        hand_pose = self.hand_model.hand_pose_from_angles(angles)[None]
        out = self.hand_model(zero3, hand_pose, self.betas, zero3)
        R = axis_angle_to_matrix(self.delta_rotation) @ self.R0  # object → hand
        points = torch.cat([out.vertices[0], out.joints[0, list(TIP_KEYPOINTS)], self.forearm])
        in_object = (points - self.translation) @ R  # p_obj = Rᵀ (p − t), as row vectors
        d_vertices, d_tips, d_forearm = (self.distance(in_object) * 1000.0).split(
            [out.vertices.shape[1], len(TIP_KEYPOINTS), len(self.forearm)])
        energy = (
            (self.tip_weights * (d_tips - TARGET_GAP_MM) ** 2).sum()
            + 5.0 * (torch.relu(CLEARANCE_MM - d_vertices) ** 2).sum()
            + (torch.relu(FOREARM_CLEARANCE_MM - d_forearm) ** 2).sum()
            + 2.0 * self.hand_model.pose_prior(hand_pose).sum()
        )
        return energy, hand_pose, out, R

    def run(self, iterations: int) -> None:
        for _ in range(iterations):
            self.optimiser.zero_grad()
            energy, *_ = self.evaluate()
            energy.backward()
            self.optimiser.step()

    def grasp(self) -> Grasp:
        with torch.no_grad():
            _, hand_pose, out, R = self.evaluate()
        object_to_hand = np.eye(4)
        object_to_hand[:3, :3] = _orthonormal(R.double().numpy())
        object_to_hand[:3, 3] = self.translation.detach().double().numpy()
        return Grasp(
            hand_pose=hand_pose[0].numpy().astype(np.float64),
            betas=self.betas[0].numpy().astype(np.float64),
            object_to_hand=object_to_hand,
            hand_vertices=out.vertices[0].numpy().astype(np.float64),
            joints=out.joints[0].numpy().astype(np.float64),
            tip_distances_m=np.zeros(5),
            max_penetration_m=0.0,
            candidate=-1,
        )


def _orthonormal(R: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(R)
    return U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt


def _check(grasp: Grasp, distance: MeshDistance, forearm_vertices: np.ndarray) -> str | None:
    """Exact acceptance test; fills in the grasp's distances. Returns None or why it failed."""
    hand_to_object = np.linalg.inv(grasp.object_to_hand)
    tips = transform(hand_to_object, grasp.joints[list(TIP_KEYPOINTS)])
    grasp.tip_distances_m = distance.signed(tips)
    vertices = transform(hand_to_object, grasp.hand_vertices)
    near = distance.sampled(vertices)[0] < 0.005  # every vertex inside is among these
    grasp.max_penetration_m = float(max(0.0, -distance.signed(vertices[near]).min(initial=0.0)))
    forearm_inside = distance.mesh.contains(transform(hand_to_object, forearm_vertices)).any()
    touching = int((np.abs(grasp.tip_distances_m) <= CONTACT_ACCEPT_M).sum())
    if touching < 3:
        return f"{touching} fingertips touch (tip distances {np.round(grasp.tip_distances_m * 1000, 1)} mm)"
    if grasp.max_penetration_m > PENETRATION_ACCEPT_M:
        return f"a hand vertex is {grasp.max_penetration_m * 1000:.1f} mm inside the object"
    if forearm_inside:
        return "the forearm passes through the object"
    return None
