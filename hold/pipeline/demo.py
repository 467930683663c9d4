"""`hold-fast reconstruct --demo`: the YCB mug held and turned by the built-in hand (48 frames of
256², rendered by `hold-fast synth` with its defaults: noisy hand, poses and masks, no object
points), reconstructed with the default schedule, so that the first result a user sees is
what the product does (about 3 min on 2 cores; docs/PERFORMANCE.md)."""

from __future__ import annotations

from pathlib import Path

from hold.synth.generate import generate_sequence

from .reconstruct import ReconstructConfig

DEMO_OBJECT = "025_mug"
DEMO_FRAMES = 48
DEMO_SIZE = (256, 256)


def demo_config(seed: int = 0, threads: int = 2, preset: str = "default") -> ReconstructConfig:
    """The product's schedule (default: a 48-frame sequence takes under 3 min on 2 cores)."""
    return ReconstructConfig.load(None, preset=preset, seed=seed, threads=threads)


def make_demo_sequence(root: Path, seed: int = 0) -> Path:
    """Render the demo sequence into root (skipped when it is already there)."""
    root = Path(root)
    if not (root / "meta.json").is_file():
        generate_sequence(root, object=DEMO_OBJECT, frames=DEMO_FRAMES, size=DEMO_SIZE,
                          seed=seed, video=True)
    return root
