"""`hold-fast reconstruct`: HOLD's schedule as one resumable job.

    coarse training → pose refinement with interaction constraints → final training → export

Working state lives in OUT/.work/: ``state.json`` (the stage reached), ``coarse.ckpt`` /
``final.ckpt`` (trainer checkpoints, written at stage boundaries and every few minutes) and
``refine.json``. ``resume=True`` rebuilds the scene deterministically from the sequence and
continues from the last checkpoint; with the same seed and thread count a resumed CPU run ends
where an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hold.eval.protocol import evaluate_result
from hold.export import export_result
from hold.io.errors import InputError
from hold.io.mirror import engine_view
from hold.io.sequence import has_ground_truth, load_sequence
from hold.refine.refine import RefineConfig, refine_poses
from hold.train.checkpoint import load_checkpoint, run_with_checkpoints, save_checkpoint
from hold.train.config import TrainConfig, typed_options
from hold.train.setup import build_scene
from hold.train.trainer import Trainer

STAGES = ("coarse", "refine", "final", "export", "done")
SAMPLES_PER_STEP = 33_000
# Weight of the coarse stage's curvature prior (TrainConfig.w_curvature): the ten benchmark
# sequences, given inputs, mean CD 0.97 → 0.82 cm², F10 87.6 → 91.7 % (docs/ENGINE.md §2).
COARSE_CURVATURE = 5e-4

# Weight of the revolution prior (TrainConfig.w_revolution) in the final stage when the user
# says the object is a surface of revolution (--object-shape revolution; docs/ENGINE.md §2).
# Final stage only: its axis is fitted to the shape training made, not to the start from the
# masks, which is flat in the depth no frame sees (the real bulb's start picked the viewing
# direction as its axis and trained a disc).
REVOLUTION_WEIGHT = 5.0
# Weight of the mirror prior (TrainConfig.w_mirror) in the final stage, on by default: it
# completes the side no frame sees by mirroring the seen side in the planes that map at least
# 60 % of the seen surface onto itself, and is off where none does (docs/ENGINE.md §2; given
# inputs, the ten benchmark sequences' mean CD 0.82 → 0.61 cm², F10 91.7 → 94.4 %). Final
# stage only, as the revolution prior.
MIRROR_WEIGHT = 5.0
OBJECT_SHAPES = ("mirror", "revolution", "any")

# preset → (factor on the training steps and refinement iterations, mesh resolution)
PRESETS = {"fast": (0.5, 192), "default": (1.0, 256), "quality": (2.0, 320)}


@dataclass
class ReconstructConfig:
    """The schedule. ``coarse``/``final`` are TrainConfigs (the final stage continues training
    the coarse model with the refined poses); ``refine`` the refinement's settings."""

    # A budget of ~33 k samples after culling per step (rays adapted, about 2× the fixed
    # 1024 rays) and fewer steps: the same wall time as 1200 + 500 fixed-ray steps, better
    # objects on the benchmark (docs/ENGINE.md §5). The coarse stage smooths the object with
    # the curvature prior; the final stage trains without it, so that the images re-open the
    # holes and thin parts it closed (docs/ENGINE.md §2, "The curvature prior").
    coarse: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=860, samples_per_step=SAMPLES_PER_STEP,
                                            w_curvature=COARSE_CURVATURE))
    refine: RefineConfig = field(default_factory=RefineConfig)
    final: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=360, samples_per_step=SAMPLES_PER_STEP,
                                            w_mirror=MIRROR_WEIGHT))
    mesh_resolution: int = 256
    report: bool = True
    hand: str = "builtin"
    mano_dir: str | None = None

    @classmethod
    def preset(cls, name: str = "default") -> "ReconstructConfig":
        """The schedule of a preset: ``fast`` (half the training steps and refinement
        iterations, a coarser mesh), ``default``, ``quality`` (twice the steps, a finer mesh).
        Their measured trade-off: docs/PERFORMANCE.md."""
        if name not in PRESETS:
            raise InputError(f"--preset: expected one of {', '.join(PRESETS)}, got {name!r}")
        cfg = cls()
        factor, mesh = PRESETS[name]
        cfg.coarse.steps = round(cfg.coarse.steps * factor)
        cfg.final.steps = round(cfg.final.steps * factor)
        cfg.refine.iterations = round(cfg.refine.iterations * factor)
        cfg.mesh_resolution = mesh
        return cfg

    @classmethod
    def load(cls, path=None, preset: str = "default", **overrides) -> "ReconstructConfig":
        """From a YAML/JSON file with optional sections coarse/refine/final and top-level keys,
        over the ``preset``'s schedule. ``overrides`` (seed, threads) apply to both training
        stages."""
        values: dict = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise InputError(f"{path}: config file not found")
            try:
                import yaml

                values = yaml.safe_load(path.read_text()) or {}
            except Exception as exc:  # noqa: BLE001 - the user's file
                raise InputError(f"{path}: cannot parse config ({exc})") from exc
            if not isinstance(values, dict):
                raise InputError(f"{path}: expected a mapping of option: value")
        cfg = cls.preset(preset)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{path}: unknown option(s) {unknown}; known: {sorted(known)}")
        train_overrides = {k: v for k, v in overrides.items() if v is not None}
        for name in ("coarse", "final"):
            section = typed_options(TrainConfig, {**values.get(name, {}), **train_overrides},
                                    f"{path}: {name}")
            base = dataclasses.asdict(getattr(cfg, name))
            setattr(cfg, name, TrainConfig.load(None, **{**base, **section}))
        refine = values.get("refine", {})
        unknown = sorted(set(refine) - {f.name for f in dataclasses.fields(RefineConfig)})
        if unknown:
            raise InputError(f"{path}: unknown refine option(s) {unknown}")
        refine = typed_options(RefineConfig, refine, f"{path}: refine")
        cfg.refine = RefineConfig(**{**dataclasses.asdict(cfg.refine), **refine,
                                     **({"seed": train_overrides["seed"]}
                                        if "seed" in train_overrides else {})})
        for key in ("mesh_resolution", "report", "hand", "mano_dir"):
            if key in values:
                setattr(cfg, key, values[key])
        return cfg

    def set_object_shape(self, shape: str | None) -> None:
        """What the user says of the object's shape. None: nothing (the schedule as it is: by
        default the mirror prior, which stays off where the seen surface has no mirror plane);
        ``mirror`` (a box, a tin, a jug: the mirror prior, even if a config file turned it off);
        ``revolution`` (a bulb, a bottle, a can: the revolution prior instead of the mirror
        prior; a config file's weight wins); ``any`` (no symmetry at all: both priors off)."""
        if shape is None:
            return
        if shape not in OBJECT_SHAPES:
            raise InputError(f"--object-shape: expected one of {', '.join(OBJECT_SHAPES)}, got {shape!r}")
        if shape == "revolution":
            self.final.w_revolution = self.final.w_revolution or REVOLUTION_WEIGHT
            self.final.w_mirror = 0.0
        elif shape == "mirror":
            self.final.w_mirror = self.final.w_mirror or MIRROR_WEIGHT
        else:
            self.final.w_mirror = self.final.w_revolution = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class _Work:
    """OUT/.work: the stage reached and the checkpoints."""

    def __init__(self, out_dir: Path):
        self.dir = out_dir / ".work"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "state.json"

    def state(self) -> dict:
        if self.state_path.is_file():
            return json.loads(self.state_path.read_text())
        return {"stage": "coarse", "timings_s": {}}

    def save_state(self, state: dict) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)


def _check_writable(out_dir: Path) -> None:
    """Fail early on an output folder that cannot be written, creating nothing: the nearest
    existing folder on the path must be a writable directory."""
    existing = out_dir.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{out_dir}: output folder is not writable ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{out_dir}: output folder is not writable (no write permission on {existing})")


def reconstruct(seq_dir, out_dir, cfg: ReconstructConfig | None = None, resume: bool = False,
                progress: bool = True, log=print, input_path: str | None = None,
                ground_truth_dir=None) -> dict:
    """Run (or continue) the whole schedule on a sequence folder; returns the run summary.
    ``input_path`` (what the user gave, e.g. a video) is recorded for ``--resume OUT``.
    The result is scored against ``ground_truth_dir`` (default: the sequence folder) when that
    folder holds gt/ (for a video inside a synthetic sequence folder: that folder)."""
    cfg = cfg or ReconstructConfig()
    seq = load_sequence(seq_dir)  # validates the folder before anything is written
    hands = seq.meta.hands
    view = engine_view(seq)  # a left hand is trained as the right hand of the mirrored video
    out_dir = Path(out_dir)
    _check_writable(out_dir)
    # The scene is built before OUT is touched: inputs it rejects (masks that cannot place the
    # object, …) leave nothing behind.
    start = time.perf_counter()
    scene, data, init_info = build_scene(view, cfg.coarse, cfg.hand, cfg.mano_dir)
    setup_seconds = time.perf_counter() - start
    work = _Work(out_dir)
    state = work.state() if resume else {"stage": "coarse", "timings_s": {}}
    if not resume and (out_dir / "result.json").exists():
        log(f"note: {out_dir} holds an earlier result; it is replaced when this run finishes")
    state["input"] = input_path or str(seq_dir)
    work.save_state(state)  # from the start, so that `--resume OUT` finds the input
    timings = state["timings_s"]

    timings.setdefault("setup", setup_seconds)
    history: list = state.get("history", [])
    throughput: dict = state.setdefault("samples_per_s", {})  # per training stage
    refreshed: dict = state.setdefault("hand_frames_refreshed", {})  # per training stage (of a run not resumed)

    def run_training(stage: str, tcfg: TrainConfig) -> None:
        trainer = Trainer(scene, data, tcfg)
        run_with_checkpoints(trainer, work.dir / f"{stage}.ckpt", resume, progress, desc=stage,
                             announce=log)
        timings[stage] = trainer.history.seconds
        throughput[stage] = trainer.history.samples / max(trainer.history.seconds, 1e-9)
        refreshed[stage] = trainer.hand_frames_refreshed
        if trainer.mirror is not None:  # what the mirror prior found (field coordinates)
            state["mirror_planes"] = [
                {"centre": [round(float(v), 5) for v in c], "normal": [round(float(v), 4) for v in n],
                 "inliers": round(float(share), 3)}
                for c, n, share in zip(trainer.mirror.centres, trainer.mirror.normals, trainer.mirror.inliers)]
            planes = len(state["mirror_planes"])
            log(f"{stage}: mirror prior with {planes} plane(s) of the seen surface" if planes else
                f"{stage}: the seen surface has no mirror plane; the mirror prior is off")
        offset = history[-1][0] if history else 0  # the final stage's steps follow the coarse's
        history.extend((step + offset, seconds, values)
                       for step, seconds, values in trainer.history.steps)

    stage = state["stage"]
    if stage == "coarse":
        run_training("coarse", cfg.coarse)
        state.update(stage="refine", timings_s=timings, history=history)
        work.save_state(state)
    elif stage in ("refine", "final", "export"):
        # Rebuild the model as it was at the end of the previous stage.
        load_checkpoint(work.dir / ("coarse.ckpt" if stage == "refine" else "refined.ckpt"),
                        Trainer(scene, data, cfg.coarse))
    if state["stage"] == "refine":
        t = time.perf_counter()
        scene.cpu()  # refinement runs on the CPU (small dense problems, numpy masks)
        info = refine_poses(scene, data.labels.numpy(), view.init.hand_keypoints2d, cfg.refine,
                            progress=progress)
        timings["refine"] = time.perf_counter() - t
        (work.dir / "refine.json").write_text(json.dumps(info, indent=2))
        save_checkpoint(work.dir / "refined.ckpt", Trainer(scene, data, cfg.final))
        state.update(stage="final", timings_s=timings, history=history)
        work.save_state(state)
    if state["stage"] == "final":
        run_training("final", cfg.final)
        state.update(stage="export", timings_s=timings, history=history)
        work.save_state(state)
    elif state["stage"] == "export" and (work.dir / "final.ckpt").is_file():
        load_checkpoint(work.dir / "final.ckpt", Trainer(scene, data, cfg.final))

    t = time.perf_counter()
    summary = {"init": init_info, "config": cfg.to_dict()}
    scene.cpu()
    export_result(scene, out_dir, timings, cfg.to_dict(), mesh_resolution=cfg.mesh_resolution, hands=hands)
    timings["export"] = time.perf_counter() - t
    truth = seq_dir if ground_truth_dir is None else ground_truth_dir
    if has_ground_truth(truth):
        summary["metrics"] = evaluate_result(out_dir, truth)
    summary["timings_s"] = timings
    summary["samples_per_s"] = throughput
    summary["hand_frames_refreshed"] = refreshed
    if "mirror_planes" in state:
        summary["mirror_planes"] = state["mirror_planes"]
    summary["total_s"] = sum(timings.values())
    if cfg.report:
        from .report import write_report

        t = time.perf_counter()
        summary["report"] = str(write_report(seq, out_dir, history, summary))
        timings["report"] = time.perf_counter() - t
    # summary.json before the state says "done": a run killed in between resumes at export.
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    state.update(stage="done", timings_s=timings, history=history)
    work.save_state(state)
    torch.set_num_threads(cfg.coarse.threads)
    return summary
