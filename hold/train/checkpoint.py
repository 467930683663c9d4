"""Training checkpoints: everything needed to continue a killed run as if it never stopped
(scene and optimiser state, step, RNG state, history, the adapted rays per step), written
atomically."""

from __future__ import annotations

import io
import time
from pathlib import Path

import torch

from hold.io.atomic import write_bytes_atomic


def save_checkpoint(path: str | Path, trainer, extra: dict | None = None) -> None:
    state = {
        "scene": trainer.scene.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "step": trainer.step_count,
        "generator": trainer.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": trainer.history,
        "rays": (trainer.rays_per_frame, trainer.samples_per_ray),
        "revolution_axis": trainer.axis,
        "mirror_planes": trainer.mirror,
        "extra": extra or {},
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path, trainer) -> dict:
    """Restore trainer (whose scene was built the same way) from path; returns `extra`."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    trainer.scene.load_state_dict(state["scene"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.step_count = state["step"]
    trainer.generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    trainer.history = state["history"]
    if "rays" in state:  # absent in checkpoints written before the rays were adapted
        trainer.rays_per_frame, trainer.samples_per_ray = state["rays"]
    axis = state.get("revolution_axis")  # absent before the revolution prior
    trainer.axis = None if axis is None else axis.to(trainer.device)  # saved from any device
    planes = state.get("mirror_planes")  # absent before the mirror prior
    trainer.mirror = None if planes is None else planes.to(trainer.device)
    return state["extra"]


def run_with_checkpoints(trainer, path: str | Path, resume: bool = False, progress: bool = True,
                         log=None, desc: str = "train", announce=None) -> None:
    """Run ``trainer`` to its cfg.steps, first restoring ``path`` when ``resume`` and it exists
    (``announce(message)`` says so), saving it every cfg.checkpoint_every_s seconds and at the
    end. ``log`` is Trainer.run's per-step log."""
    if resume and Path(path).is_file():
        load_checkpoint(path, trainer)
        if announce:
            announce(f"{desc}: resumed at step {trainer.step_count}/{trainer.cfg.steps}")
    last_save = [time.perf_counter()]

    def checkpoint(step: int) -> None:
        if time.perf_counter() - last_save[0] >= trainer.cfg.checkpoint_every_s:
            save_checkpoint(path, trainer)
            last_save[0] = time.perf_counter()

    trainer.run(progress=progress, log=log, callback=checkpoint, desc=desc)
    save_checkpoint(path, trainer)
