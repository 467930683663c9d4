"""`hold-fast reconstruct SEQ_DIR|VIDEO|FRAMES_DIR --out OUT`: coarse training → pose refinement →
final training → result folder, overlay video, turntable, loss plot and an HTML report. A video
or a folder of images goes through the front-end (`hold-fast preprocess`) first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ._device import require_cuda
from .preprocess_cmd import add_prompt_arguments


def add_parser(sub) -> None:
    p = sub.add_parser("reconstruct", help="reconstruct hand and object from a sequence or video",
                       description=__doc__)
    p.add_argument("input", nargs="?",
                   help="sequence folder (docs/SEQUENCE_FORMAT.md), video or folder of frames")
    p.add_argument("--out", help="output folder (result, report, checkpoints in .work/)")
    p.add_argument("--config", help="YAML/JSON with sections coarse:, refine:, final:")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train")
    p.add_argument("--seed", type=int, help="random seed (CPU runs reproduce with the same threads)")
    p.add_argument("--threads", type=int, help="CPU threads (default 2)")
    p.add_argument("--resume", nargs="?", const=True, metavar="OUT",
                   help="continue a killed run (optionally: the OUT folder to continue)")
    p.add_argument("--demo", action="store_true",
                   help="render a synthetic sequence (the mug, 48 frames of 256²) and reconstruct it "
                        "(about 3 min on 2 cores)")
    add_preset_arguments(p)
    add_object_shape_argument(p)
    p.add_argument("--no-report", action="store_true", help="skip the videos and HTML report")
    p.add_argument("--hand", default="auto", choices=["right", "left", "auto", "builtin", "mano"],
                   help="which hand a video or image folder shows: right, left or auto (default: the "
                        "detector's handedness over the video); builtin|mano: the older spelling of "
                        "--hand-model")
    p.add_argument("--hand-model", choices=["builtin", "mano"], help="hand model (default builtin)")
    p.add_argument("--mano-dir", help="folder with MANO_RIGHT.pkl (or $HOLD_MANO_DIR)")
    add_prompt_arguments(p)
    p.set_defaults(run=run)


def add_object_shape_argument(p) -> None:
    """--object-shape: what the user knows of the object (ReconstructConfig.set_object_shape)."""
    p.add_argument("--object-shape", choices=["mirror", "revolution", "any"],
                   help="what the side no frame sees is like (docs/ENGINE.md §2). By default it is "
                        "completed by mirroring the seen side in its mirror planes where the seen "
                        "surface has any (a box, a tin, a jug), and left to the images elsewhere. "
                        "mirror: that, even if --config turned it off. revolution: the object is a "
                        "surface of revolution (a bulb, a bottle, a can): complete it by turning the "
                        "seen side about the object's axis instead. any: assume no symmetry")


def add_preset_arguments(p) -> None:
    """--fast / --quality: the schedule's presets (ReconstructConfig.preset)."""
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--fast", dest="preset", action="store_const", const="fast",
                       help="half the training steps and refinement iterations, a coarser mesh: "
                            "half the engine's time, a coarser object (docs/PERFORMANCE.md)")
    speed.add_argument("--quality", dest="preset", action="store_const", const="quality",
                       help="twice the training steps and refinement iterations, a finer mesh: for "
                            "sequences whose loss is still falling at the end (the report's plot); "
                            "no better than the default on the benchmark's drill and mug "
                            "(docs/PERFORMANCE.md)")
    p.set_defaults(preset="default")


def _resolve(args):
    """(input, out, resume) from the arguments, with one clear error for each misuse."""
    from hold.io.errors import InputError

    out = args.out
    resume = bool(args.resume)
    if isinstance(args.resume, str):
        if out and Path(out) != Path(args.resume):
            raise InputError(f"--resume {args.resume} and --out {out} name different folders")
        out = args.resume
    if args.demo:
        out = out or "hold_fast_demo"
        return None, Path(out), resume
    if out is None:
        raise InputError("--out is required (the folder to write the result to)")
    source = args.input
    if source is None and resume:
        state = Path(out) / ".work" / "state.json"
        if not state.is_file():
            raise InputError(f"{state}: no run to resume in {out}")
        source = json.loads(state.read_text()).get("input")
    if source is None:
        raise InputError("give the sequence folder or video to reconstruct (or --demo)")
    return Path(source), Path(out), resume


def run(args) -> int:
    from hold.pipeline import ReconstructConfig, reconstruct
    from hold.pipeline.inputs import ground_truth_for, sequence_for

    source, out, resume = _resolve(args)
    if args.device == "cuda":
        require_cuda()
        print("note: --device cuda is experimental in this version: every kernel passes its "
              "CPU/CUDA parity tests on a GPU, but no whole reconstruction has been run on one "
              "yet (docs/ENGINE.md §8)", file=sys.stderr)
    truth = None
    if args.demo:
        from hold.pipeline.demo import demo_config, make_demo_sequence

        seq = make_demo_sequence(out / "demo_sequence", seed=args.seed or 0)
        cfg = demo_config(seed=args.seed or 0, threads=args.threads or 2, preset=args.preset)
    else:
        side = args.hand if args.hand in ("right", "left", "auto") else "auto"
        seq = sequence_for(source, out, hand=side, object_boxes=args.object_box, object_points=args.object_point,
                           background_points=args.background_point)
        truth = ground_truth_for(source)
        cfg = ReconstructConfig.load(args.config, preset=args.preset, seed=args.seed, threads=args.threads)
    cfg.set_object_shape(args.object_shape)
    if args.device == "cuda":
        cfg.coarse.device = cfg.final.device = "cuda"
    model = args.hand_model or (args.hand if args.hand in ("builtin", "mano") else None)
    if model:
        cfg.hand = model
    if args.mano_dir:
        cfg.mano_dir = args.mano_dir
    if args.no_report:
        cfg.report = False
    summary = reconstruct(seq, out, cfg, resume=resume, input_path=str(source or seq),
                          ground_truth_dir=truth)
    print(_summary_text(summary, out, _front_end_seconds(seq) if source is not None and Path(seq) != source else None))
    return 0


def _front_end_seconds(seq: Path) -> float | None:
    """The front-end's time on the sequence it made (its debug/summary.json), if recorded."""
    try:
        return float(json.loads((Path(seq) / "debug" / "summary.json").read_text())["timings_s"]["total"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _summary_text(summary: dict, out: Path, front_end_s: float | None = None) -> str:
    t = summary["timings_s"]
    front = f"front-end {front_end_s:.0f} s + " if front_end_s is not None else ""
    lines = [f"done in {front}{sum(t.values()):.0f} s (" + ", ".join(
        f"{k} {v:.0f} s" for k, v in t.items()) + ")"]
    rates = summary.get("samples_per_s") or {}
    if rates:
        lines.append("training: " + ", ".join(f"{k} {v / 1e3:.0f} k samples/s"
                                                for k, v in rates.items()))
    lines.append(f"result: {out}")
    if "report" in summary:
        lines.append(f"report: {summary['report']}")
    m = summary.get("metrics")
    if m:
        lines.append("metrics: " + ", ".join(f"{k} {m[k]:.2f}" for k in
                                             ("mpjpe_mm", "cd_cm2", "f10_percent", "cd_h_cm2") if k in m))
    return "\n".join(lines)
