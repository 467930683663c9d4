"""`hold-fast preprocess`: a video (or a folder of frames) → a sequence folder, automatically."""

from __future__ import annotations

import json


def _ids(text: str | None):
    if text is None:
        return None
    from hold.io.errors import InputError

    try:
        return [int(v, 0) for v in text.split(",")]
    except ValueError:
        raise InputError(f"mask ids must be comma-separated integers, got {text!r}") from None


def add_prompt_arguments(parser) -> None:
    """--object-box / --object-point / --background-point (shared with `reconstruct`)."""
    g = parser.add_argument_group(
        "object prompts (like HOLD's SAM clicks; source pixels, FRAME = source frame number, default 0; "
        "repeatable; docs/FRONTEND.md)")
    g.add_argument("--object-box", action="append", default=[], metavar="X0,Y0,X1,Y1[@FRAME]",
                   help="the object lies in this box on FRAME (seeds the object masks, carried through the video)")
    g.add_argument("--object-point", action="append", default=[], metavar="U,V[@FRAME]",
                   help="this pixel of FRAME is on the object")
    g.add_argument("--background-point", action="append", default=[], metavar="U,V[@FRAME]",
                   help="this pixel of FRAME is not on the object")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "preprocess", help="video or image folder → sequence folder (keypoints, 3D hand, masks, object poses)",
        description=__doc__ + " See docs/FRONTEND.md.",
    )
    p.add_argument("source", nargs="?", metavar="VIDEO_OR_FRAMES_DIR",
                   help="mp4/mov/avi/mkv file or a folder of images (name order)")
    p.add_argument("--out", required=True, metavar="SEQ", help="sequence folder to write")
    p.add_argument("--from-hold-build", metavar="BUILD_DIR",
                   help="instead: convert a HOLD build/ folder (data.npy + image/ + mask/)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow reading HOLD's data.npy (a Python pickle: it can run code)")
    p.add_argument("--mano-dir", help="MANO files, to move a HOLD build's MANO parameters into the camera frame")
    f = p.add_argument_group("frames")
    f.add_argument("--every", type=int, default=1, metavar="N", help="keep every N-th frame (default 1)")
    f.add_argument("--max-frames", type=int, metavar="T", help="then keep at most T frames, evenly spread")
    f.add_argument("--max-size", type=int, default=640, metavar="PX",
                   help="shrink frames whose longer side exceeds PX (default 640; 0 keeps the size)")
    f.add_argument("--fps", type=float, help="frame rate of the source (default: the video's, or 30)")
    f.add_argument("--crop", default="auto", metavar="auto|none|X,Y,W,H",
                   help="crop to where the hand and object move (auto, default), keep whole frames, "
                        "or a box in resized pixels")
    k = p.add_argument_group("intrinsics (of the source frames)")
    k.add_argument("--K", dest="K_file", metavar="FILE", help="3x3 K as JSON/.npy/text")
    k.add_argument("--fx", type=float, help="focal length in pixels (principal point at the centre)")
    k.add_argument("--fov", dest="fov_deg", type=float, default=55.0,
                   help="field-of-view prior across the longer side when no K is given and SfM fails (default 55)")
    i = p.add_argument_group("inputs you may already have")
    i.add_argument("--keypoints", metavar="PATH",
                   help="2D keypoints instead of the detector: OpenPose JSON folder, MediaPipe/OpenPose JSON "
                        "file, or .npy [N, 21, 2|3]")
    i.add_argument("--mano", metavar="FILE", help="per-frame MANO parameters (HaMeR-style .npz/.json) → init/mano.npz")
    i.add_argument("--masks", metavar="DIR",
                   help="mask folder instead of automatic masks: HOLD 0/50/150/250 PNGs, id PNGs, or "
                        "object/ + hand/ binary subfolders")
    i.add_argument("--mask-object-id", metavar="IDS", help="label ids (comma-separated) of the object in --masks")
    i.add_argument("--mask-hand-id", metavar="IDS", help="label ids of the right hand in --masks")
    add_prompt_arguments(p)
    o = p.add_argument_group("method")
    o.add_argument("--hand", default="auto", choices=("right", "left", "auto"),
                   help="which hand the video shows (default auto: the side the detector sees in more frames); "
                        "a named hand the video does not show is an error")
    o.add_argument("--object-poses", default="auto", choices=("auto", "sfm", "hand"),
                   help="SfM with the hand-attached fallback (auto), SfM only, or hand-attached only")
    o.add_argument("--no-grabcut", action="store_true", help="skip the GrabCut refinement of automatic masks")
    o.add_argument("--no-overlay", action="store_true", help="skip debug/overlay.mp4 and overlay.png")
    o.add_argument("--no-video", action="store_true", help="skip video.mp4")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(run=run)


def run(args) -> int:
    from hold.io.errors import InputError

    if args.from_hold_build is not None:
        if args.source is not None:
            raise InputError("give either VIDEO_OR_FRAMES_DIR or --from-hold-build, not both")
        if not args.trust_pickle:
            raise InputError("--from-hold-build reads data.npy, a Python pickle that can run code: "
                             "add --trust-pickle if you trust the folder")
        from hold.preprocess.hold_build import import_hold_build

        summary = import_hold_build(args.from_hold_build, args.out, mano_dir=args.mano_dir,
                                    fps=args.fps or 30.0)
        print(json.dumps(summary))
        return 0
    if args.source is None:
        raise InputError("give VIDEO_OR_FRAMES_DIR (or --from-hold-build BUILD_DIR)")
    from hold.preprocess import PreprocessOptions, preprocess

    options = PreprocessOptions(
        every=args.every, max_frames=args.max_frames, max_size=args.max_size or None, fps=args.fps,
        crop=args.crop, K_file=args.K_file, fx=args.fx, fov_deg=args.fov_deg, keypoints=args.keypoints,
        mano=args.mano, masks=args.masks, mask_object_ids=_ids(args.mask_object_id),
        mask_hand_ids=_ids(args.mask_hand_id), object_poses=args.object_poses, grabcut=not args.no_grabcut,
        overlay=not args.no_overlay, video=not args.no_video, seed=args.seed, progress=not args.quiet,
        hand=args.hand, object_boxes=tuple(args.object_box), object_points=tuple(args.object_point),
        background_points=tuple(args.background_point),
    )
    summary = preprocess(args.source, args.out, options)
    if not args.quiet:
        print(json.dumps({k: summary[k] for k in ("frames", "image_size", "hand", "hand_found_fraction",
                                                  "object_pose_provenance", "provenance", "timings_s")}))
    return 0
