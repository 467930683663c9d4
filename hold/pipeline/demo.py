"""`hold-fast reconstruct --demo`: a small synthetic sequence (the YCB mug held and turned by
the built-in hand), reconstructed on the CPU with a short schedule."""

from __future__ import annotations

from pathlib import Path

from hold.refine.refine import RefineConfig
from hold.synth.generate import generate_sequence
from hold.train.config import TrainConfig

from .reconstruct import ReconstructConfig

DEMO_OBJECT = "025_mug"
DEMO_FRAMES = 16
DEMO_SIZE = (160, 160)


def demo_config(seed: int = 0, threads: int = 2) -> ReconstructConfig:
    """A schedule sized for ≤ 5 minutes on a 2-core CPU."""
    common = dict(frames_per_step=4, rays_per_frame=192, object_grid=48, seed=seed,
                  threads=threads, hand_refresh_every=150, log_every=20)
    return ReconstructConfig(coarse=TrainConfig(steps=500, **common),
                             refine=RefineConfig(iterations=100, seed=seed),
                             final=TrainConfig(steps=200, **common), mesh_resolution=160)


def make_demo_sequence(root: Path, seed: int = 0) -> Path:
    """Render the demo sequence into root (skipped when it is already there)."""
    root = Path(root)
    if not (root / "meta.json").is_file():
        generate_sequence(root, object=DEMO_OBJECT, frames=DEMO_FRAMES, size=DEMO_SIZE,
                          seed=seed, video=True)
    return root
