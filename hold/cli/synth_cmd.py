"""`hold-fast synth`: render a synthetic hand-object sequence folder (or the whole benchmark)."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "synth", help="render a synthetic sequence folder with ground truth and noisy inputs",
        description=__doc__ + " Defaults give the benchmark's noise (see docs/EVALUATION.md).",
    )
    p.add_argument("out_seq", nargs="?", metavar="OUT_SEQ", help="sequence folder to write")
    p.add_argument("--benchmark", metavar="OUT_ROOT",
                   help="instead: write every sequence of hold/data/benchmark.yaml under OUT_ROOT")
    p.add_argument("--object", default="006_mustard_bottle",
                   help="bundled YCB object (name or unique part of it) or a closed mesh file in metres")
    p.add_argument("--frames", type=int, default=48, metavar="T")
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("W", "H"))
    p.add_argument("--seed", type=int, default=0, metavar="S")
    noise = p.add_argument_group("noise of the init/ inputs and masks")
    noise.add_argument("--joint-noise-mm", type=float, default=8.0, help="per joint coordinate (default 8)")
    noise.add_argument("--missing-joints", type=float, default=0.05, metavar="FRACTION",
                       help="fraction of frames without init joints (default 0.05)")
    noise.add_argument("--keypoint-noise-px", type=float, default=3.0, help="2D keypoints (default 3)")
    noise.add_argument("--rotation-noise-deg", type=float, default=5.0, help="RMS object-pose angle (default 5)")
    noise.add_argument("--translation-noise-cm", type=float, default=1.0, help="per axis (default 1)")
    noise.add_argument("--object-points", type=int, default=0, metavar="N",
                       help="write N ORACLE object points sampled from the true surface (default 0: "
                            "none, as from a video; for ablations only)")
    noise.add_argument("--point-noise-mm", type=float, default=2.0, help="of the oracle points (default 2)")
    noise.add_argument("--mask-noise-px", type=float, default=2.0,
                       help="boundary jitter and erosion/dilation of the masks (default 2; 0: exact)")
    noise.add_argument("--foreign-hand", action="store_true",
                       help="render a hand outside the built-in model's shape space")
    p.add_argument("--no-video", action="store_true", help="skip video.mp4")
    p.set_defaults(run=run)


def run(args) -> int:
    from hold.io.errors import InputError
    from hold.synth.benchmark import generate_benchmark
    from hold.synth.generate import NoiseOptions, generate_sequence

    if (args.out_seq is None) == (args.benchmark is None):
        raise InputError("give either OUT_SEQ or --benchmark OUT_ROOT")
    if args.benchmark is not None:
        summaries = generate_benchmark(args.benchmark, progress=True)
        for name, summary in summaries.items():
            print(f"{name}: {summary['total_s']:.1f} s, fingertips at {summary['tip_distances_mm']} mm")
        return 0
    for name in ("joint_noise_mm", "keypoint_noise_px", "rotation_noise_deg", "translation_noise_cm",
                 "point_noise_mm", "mask_noise_px"):
        if getattr(args, name) < 0:
            raise InputError(f"--{name.replace('_', '-')} must be >= 0")
    if args.object_points < 0:
        raise InputError("--object-points must be >= 0")
    if not 0 <= args.missing_joints < 1:
        raise InputError("--missing-joints must be in [0, 1)")
    noise = NoiseOptions(
        joint_sigma_m=args.joint_noise_mm / 1000,
        joint_missing_fraction=args.missing_joints,
        keypoint_sigma_px=args.keypoint_noise_px,
        rotation_deg=args.rotation_noise_deg,
        translation_sigma_m=args.translation_noise_cm / 100,
        num_object_points=args.object_points,
        object_point_sigma_m=args.point_noise_mm / 1000,
        mask_noise_px=args.mask_noise_px,
        foreign_hand=args.foreign_hand,
    )
    summary = generate_sequence(args.out_seq, object=args.object, frames=args.frames, size=tuple(args.size),
                                seed=args.seed, noise=noise, video=not args.no_video, progress=True)
    print(f"wrote {args.out_seq}: {json.dumps(summary)}")
    return 0
