"""Engine I as one call: train the hash-grid model on a sequence folder and write the result.

    from hold.train import TrainConfig, train_sequence
    summary = train_sequence("seq/", "out/", TrainConfig(steps=2000))

The run checkpoints to OUT/.work/train.ckpt every cfg.checkpoint_every_s seconds; with
``resume=True`` a killed run continues from there.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hold.export import export_result
from hold.io.mirror import engine_view
from hold.io.sequence import load_sequence

from .checkpoint import run_with_checkpoints
from .config import TrainConfig
from .setup import build_scene
from .trainer import Trainer


def train_sequence(seq_dir, out_dir, cfg: TrainConfig, hand_kind: str = "builtin",
                   mano_dir=None, resume: bool = False, progress: bool = True,
                   mesh_resolution: int = 256, log=None) -> dict:
    """Train on seq_dir and write the result folder out_dir. Returns a summary dict."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    seq = load_sequence(seq_dir)
    out_dir = Path(out_dir)
    work = out_dir / ".work"
    work.mkdir(parents=True, exist_ok=True)
    scene, data, info = build_scene(engine_view(seq), cfg, hand_kind, mano_dir)
    trainer = Trainer(scene, data, cfg)
    timings["setup"] = time.perf_counter() - start
    run_with_checkpoints(trainer, work / "train.ckpt", resume, progress, log)
    timings["train"] = trainer.history.seconds
    t = time.perf_counter()
    export_result(scene, out_dir, timings, cfg.to_dict(), mesh_resolution=mesh_resolution,
                  hands=seq.meta.hands)
    timings["export"] = time.perf_counter() - t
    summary = {"steps": trainer.step_count, "samples": trainer.history.samples,
               "samples_per_s": trainer.history.samples / max(trainer.history.seconds, 1e-9),
               "timings_s": timings, "init": info}
    (work / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return summary
