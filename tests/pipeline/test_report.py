"""The report's turntable stands the object on its longest side, whatever its frame."""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from hold.pipeline.report import principal_turn


def test_turntable_stands_the_object_on_its_longest_side_with_the_videos_up_on_top():
    """An 8 × 12 × 4 cm box (longer on one end: a cone on top) turned arbitrarily: after the
    turn its sides lie along x (8), y (12) and z (4); the cone's tip ends up where ``up``
    says (above, −y) and flips with it."""
    body = trimesh.creation.box([0.08, 0.12, 0.04])
    tip = trimesh.creation.cone(0.01, 0.02)
    tip.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))  # +z → +y
    tip.apply_translation([0.0, 0.06, 0.0])
    turn = np.eye(4)
    turn[:3, :3] = Rotation.random(random_state=3).as_matrix()
    vertices = np.concatenate([body.vertices, tip.vertices]) @ turn[:3, :3].T
    tip_direction = turn[:3, :3] @ np.array([0.0, 1.0, 0.0])  # where the cone points, turned

    upright = principal_turn(vertices, up=tip_direction)
    assert np.isclose(np.linalg.det(upright), 1.0)
    placed = vertices @ upright.T
    box = np.ptp(placed[: len(body.vertices)], axis=0)
    np.testing.assert_allclose(box, [0.08, 0.12, 0.04], atol=1e-6)
    assert placed[len(body.vertices):, 1].min() < placed[: len(body.vertices), 1].min()  # tip on top (−y)

    flipped = vertices @ principal_turn(vertices, up=-tip_direction).T
    assert flipped[len(body.vertices):, 1].max() > flipped[: len(body.vertices), 1].max()


def test_the_inputs_table_says_where_each_input_came_from():
    from hold.pipeline.report import inputs_table

    rows = inputs_table({"K": "sfm", "hand": "mediapipe + IK; depth × 0.69 from the visible skin",
                         "masks": "auto <GrabCut> & co"})
    assert rows.count("<tr>") == 3
    assert "<td>K</td><td>sfm</td>" in rows and "depth × 0.69 from the visible skin" in rows
    assert "&lt;GrabCut&gt; &amp; co" in rows and "<GrabCut>" not in rows  # escaped, not markup
    assert inputs_table({}) == ""
