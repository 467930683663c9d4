"""tools/measure_bulb.py: the object's extents are the sides of its tightest turned box."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("measure_bulb", ROOT / "tools" / "measure_bulb.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["measure_bulb"] = module
    spec.loader.exec_module(module)
    return module


def test_extents_of_a_turned_box_are_its_sides():
    """A 10 × 6 × 4 cm box turned arbitrarily measures 10 × 6 × 4 cm, not the axis-aligned
    extent of its turned bounding box (which is what the tool reported before: ~12 cm)."""
    tool = _tool()
    box = trimesh.creation.box([0.06, 0.10, 0.04])
    turn = np.eye(4)
    turn[:3, :3] = Rotation.random(random_state=1).as_matrix()
    box.apply_transform(turn)
    points = np.asarray(trimesh.sample.sample_surface(box, 4000, seed=0)[0])
    np.testing.assert_allclose(tool.extents_cm(points), [10.0, 6.0, 4.0], atol=0.15)
    assert abs(tool.largest_extent_cm(points) - 10.0) < 0.15
