"""Training configuration: every knob of engine I with its default, loadable from YAML/JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from hold.io.errors import InputError


def typed_options(cls, values: dict, where: str) -> dict:
    """``values`` with each option of dataclass ``cls`` converted to its default's type: YAML
    reads ``1e-4`` (no dot) as a string and ``2`` as an int, both meant as numbers. Anything
    else that does not fit is the user's error, named with its option."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING}
    out = dict(values)
    for name, value in values.items():
        kind = type(defaults.get(name))
        if kind not in (int, float):
            continue
        try:
            if isinstance(value, bool):
                raise ValueError(value)
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{where}: option {name}: expected a number, got {value!r}") from None
        if kind is int:
            if not number.is_integer():
                raise InputError(f"{where}: option {name}: expected a whole number, got {value!r}")
            number = int(number)
        out[name] = number
    return out


@dataclass
class TrainConfig:
    steps: int = 2000
    frames_per_step: int = 4
    rays_per_frame: int = 256
    # > 0: instead of a fixed rays_per_frame, adapt the rays per step so that the samples left
    # after culling approach this many per step (instant-NGP); rays_per_frame is the start.
    samples_per_step: int = 0
    max_rays_per_frame: int = 4096
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # "cuda": scene and pixels on the GPU (refinement and export stay on the CPU)
    # learning rates (Adam)
    lr_grid: float = 1e-2
    lr_mlp: float = 2e-3
    lr_background: float = 1e-2
    lr_object_pose: float = 1e-3
    lr_hand_pose: float = 3e-4
    lr_beta: float = 1e-2
    # loss weights
    w_rgb: float = 1.0
    w_semantic: float = 1.0
    w_eikonal: float = 0.05
    w_hand_prior: float = 2.0  # |learned hand SDF − template SDF| at hand samples
    w_hand_joints: float = 1.0  # robust distance of the model joints to the init joints
    w_pose_prior: float = 1e-4
    w_smooth: float = 10.0  # temporal smoothness of the pose corrections
    # The object may not fill the hand: hand surface points inside the object's SDF are
    # penalised ((depth / 1 mm)², mean over the points), which carves what the masks cannot
    # (the hand hides it) and keeps the object from sliding into the hand. The hand is not
    # moved by this term.
    w_penetration: float = 0.1
    penetration_points: int = 256  # hand vertices per frame (a fixed random subset)
    # Its weight ramps up over these steps: from the first steps, while the colours are still
    # wrong, it erased a thin object's hull (a banana at 96², 8 frames) within 20 steps.
    penetration_warmup: int = 200
    # Geman–McClure scale (m) of the penetration penalty: a fitted finger far inside the object
    # is a wrong hand fit, not a wrong object, and must not drill a tunnel through it (the
    # cracker box over two seeds: CD 2.05 / 2.62 → 1.85 / 1.39 cm²; the drill unchanged).
    penetration_robust: float = 0.005
    eikonal_points: int = 1024
    # Curvature prior: mean |Laplacian of the SDF| (1/m) at the eikonal points, by central
    # differences of curvature_step metres.
    w_curvature: float = 0.0
    curvature_step: float = 0.003
    # Revolution prior, for objects the user knows are surfaces of revolution (a bulb, a
    # bottle, a can): mean |s(x) − s(x turned about the object's axis)| (m) at the eikonal
    # points, the axis fitted to the SDF when the stage starts (hold.models.object.symmetry).
    # The side the images see lends its shape to the side no frame sees. 0: off.
    w_revolution: float = 0.0
    # Mirror prior (the product's final stage has it, hold.pipeline.reconstruct.MIRROR_WEIGHT):
    # mean |s(x) − s(x mirrored)| (m) at the eikonal points, in the planes fitted to the surface
    # the images see when the stage starts (each point in one of them, drawn at random; none
    # found: no term). The seen side lends its shape to the side no frame sees. 0: off.
    w_mirror: float = 0.0
    # schedule
    occupancy_every: int = 16
    occupancy_warmup: int = 64
    # The occupancy test uses β_occ = max(β, floor), the floor annealed from start to end over
    # the first occupancy_anneal steps: wide bands while the surface still moves a lot.
    occupancy_beta_start: float = 0.01
    occupancy_beta_end: float = 0.003
    occupancy_anneal: int = 400
    occupancy_threshold: float = 0.01
    hand_refresh_every: int = 200
    # ... and then only the frames whose hand keypoints moved more than this (m) since their
    # last refresh (0: every frame that moved at all, the full refresh's result)
    hand_refresh_tolerance: float = 0.001
    log_every: int = 50
    # rendering
    object_step: float = 0.004
    hand_step: float = 0.004
    object_grid: int = 64
    checkpoint_every_s: float = 120.0
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides) -> "TrainConfig":
        values: dict = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise InputError(f"{path}: config file not found")
            text = path.read_text()
            try:
                if path.suffix in (".yaml", ".yml"):
                    import yaml

                    values = yaml.safe_load(text) or {}
                else:
                    values = json.loads(text)
            except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
                raise InputError(f"{path}: cannot parse config ({exc})") from exc
            if not isinstance(values, dict):
                raise InputError(f"{path}: expected a mapping of option: value")
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{path or 'config'}: unknown option(s) {unknown}; known: {sorted(known)}")
        return cls(**typed_options(cls, values, str(path or "config")))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
