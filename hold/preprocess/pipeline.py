"""The front-end as one call: a video or image folder → a sequence folder (SEQUENCE_FORMAT.md).

    frames → hand keypoints (detector or file) → crop → intrinsics → 3D hand (IK)
           → masks (automatic or imported) → object poses (SfM or hand-attached)
           → hand–object scale → sequence folder + debug overlay

Nothing is written until everything succeeded: the folder is assembled in a temporary sibling
and renamed into place (``hold.io.atomic.atomic_directory``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hold.io.atomic import atomic_directory, write_json_atomic
from hold.io.errors import InputError
from hold.io import mirror
from hold.io.images import write_image
from hold.io.sequence import LABEL_HAND, LABEL_OBJECT, SequenceInit, SequenceMeta, write_sequence
from hold.io.video import write_video
from hold.preprocess import align, detector, frames as frames_mod, hand3d, hand_depth, handedness, importers, intrinsics, masks, sfm
from hold.preprocess import prompt_masks, prompts as prompts_mod
from hold.preprocess.overlay import contact_sheet, render_overlay


@dataclass
class PreprocessOptions:
    """What ``hold-fast preprocess`` can be told (defaults: fully automatic)."""

    every: int = 1  # keep every n-th source frame
    max_frames: int | None = None  # then at most this many (evenly spread)
    max_size: int | None = 640  # longer side in pixels (None: keep)
    fps: float | None = None  # override the source frame rate
    crop: str = "auto"  # "auto" | "none" | "x0,y0,w,h" (pixels of the resized frames)
    K_file: str | None = None  # intrinsics of the source frames
    fx: float | None = None  # focal length of the source frames in pixels (centred principal point)
    fov_deg: float = intrinsics.PRIOR_FOV_DEG  # the prior when neither is given and SfM fails
    keypoints: str | None = None  # 2D keypoints file/folder instead of the detector
    mano: str | None = None  # MANO parameters file (written to init/mano.npz)
    masks: str | None = None  # mask folder instead of the automatic masks
    mask_object_ids: list[int] | None = None
    mask_hand_ids: list[int] | None = None
    object_poses: str = "auto"  # "auto" (SfM, hand-attached fallback) | "sfm" | "hand"
    grabcut: bool = True
    overlay: bool = True
    video: bool = True
    seed: int = 0
    detector_complexity: int = 1
    detector_backends: tuple[str, ...] | None = None  # MediaPipe models to fuse (None: legacy + tasks)
    refit_hand_with_masks: bool = False  # model-based tracking of undetected frames (measured: no gain yet)
    hand: str = "auto"  # right | left | auto (the side the detector sees more; with --keypoints: right)
    object_boxes: tuple[str, ...] = ()  # "x0,y0,x1,y1[@frame]" in source pixels (prompts.py)
    object_points: tuple[str, ...] = ()  # "u,v[@frame]": on the object
    background_points: tuple[str, ...] = ()  # "u,v[@frame]": not on the object
    progress: bool = True


def _log(options: PreprocessOptions, message: str) -> None:
    if options.progress:
        print(f"[preprocess] {message}", flush=True)


def _parse_crop(text: str) -> tuple[int, int, int, int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise InputError(f"--crop must be auto, none or x0,y0,width,height; got {text!r}")
    return tuple(values)


def _reference_frame(labels: np.ndarray, observed: np.ndarray) -> int:
    """The hand-attached object frame's reference: the frame with a detected hand that shows
    the most object pixels."""
    shown = [(labels[t] == LABEL_OBJECT).sum() if observed[t] else -1 for t in range(len(labels))]
    return int(np.argmax(shown))


def _trim_points(points: np.ndarray) -> np.ndarray:
    """HOLD's trim: keep points within 1.5 × the 80th-percentile distance from the median."""
    if len(points) < 10:
        return points
    distance = np.linalg.norm(points - np.median(points, axis=0), axis=1)
    return points[distance <= 1.5 * np.percentile(distance, 80)]


def preprocess(source: str | os.PathLike, out_dir: str | os.PathLike,
               options: PreprocessOptions | None = None) -> dict:
    """Run the front-end on ``source`` and write the sequence folder ``out_dir``; returns a
    summary (also written to ``out_dir/debug/summary.json``)."""
    options = options or PreprocessOptions()
    if options.object_poses not in ("auto", "sfm", "hand"):
        raise InputError(f"--object-poses must be auto, sfm or hand, got {options.object_poses!r}")
    if options.K_file is not None and options.fx is not None:
        raise InputError("give either --K or --fx, not both")
    handedness.check_choice(options.hand)
    prompts = prompts_mod.parse_prompts(options.object_boxes, options.object_points, options.background_points)
    typed_prompts = [p.option for p in prompts]  # as given, in the source's own pixels
    if prompts and options.masks is not None:
        raise InputError(f"{prompts[0].option}: object prompts and --masks exclude each other (the masks "
                         f"already say where the object is)")
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 3)
        return now

    # 1. frames
    clock = time.perf_counter()
    fs = frames_mod.load_frames(source, options.every, options.max_frames, options.max_size, options.fps)
    _log(options, f"{len(fs)} frames of {fs.size[0]}x{fs.size[1]} from {source}")
    prompts_mod.check_prompts(prompts, fs.source_size, fs.source_count, fs.indices)
    imported_masks = None
    if options.masks is not None:  # check early: a wrong-size mask folder fails before any work
        imported_masks = masks.import_masks(options.masks, fs.indices, fs.source_count, fs.source_size,
                                            options.mask_object_ids, options.mask_hand_ids)
    clock = lap("decode", clock)

    # 2. keypoints
    provenance: dict[str, str] = {}
    side = "left" if options.hand == "left" else "right"
    if options.keypoints is not None:
        rows = importers.load_keypoints(options.keypoints, fs.source_size)
        rows = importers.pick_frames(rows, fs.indices, fs.source_count, f"--keypoints {options.keypoints}")
        if side == "left":
            rows = handedness.mirror_source_keypoints(rows, fs.source_size[0])
        keypoints = rows.copy()
        keypoints[..., :2] = fs.to_output_pixels(rows[..., :2])
        provenance["hand"] = f"keypoints from {Path(options.keypoints).name} + IK ({'builtin'} hand)"
        rejected: dict[int, str] = {}
        how = ["file"] * len(fs)
        landmarks = False  # a file's keypoints are taken as the hand model's keypoints
    else:
        side, detections = handedness.detect_hand(fs.images, options.hand, complexity=options.detector_complexity,
                                                  backends=options.detector_backends, progress=options.progress)
        keypoints, rejected, how = detections.keypoints, detections.rejected, detections.source
        landmarks = True  # MediaPipe's landmarks: the IK models their offsets (landmarks.py)
        provenance["hand"] = f"mediapipe {detector.MEDIAPIPE_VERSION} hands (tracked, mirrored, zoomed) + IK (builtin hand)"
    if side == "left":  # from here on the front-end works on the mirrored video (handedness.py)
        fs = handedness.mirrored_frames(fs)
        imported_masks = None if imported_masks is None else mirror.mirror_masks(imported_masks)
        prompts = prompts_mod.mirror_prompts(prompts, fs.source_size[0])
        provenance["hand"] += "; left hand, processed as the right hand of the mirrored frames"
    found = np.isfinite(keypoints[..., :2]).all(-1).sum(-1) >= 4
    if not found.any():
        raise InputError(f"{source}: no hand found in any of the {len(fs)} frames (a {side} hand must be visible; "
                         f"or give --keypoints)")
    _log(options, f"hand keypoints on {int(found.sum())}/{len(fs)} frames")
    clock = lap("keypoints", clock)

    # 3. crop
    if options.crop == "auto":
        box = frames_mod.motion_box(keypoints, fs.size, include=prompts_mod.extent_in_resized(prompts, fs.scale))
    elif options.crop == "none":
        box = None
    else:
        box = _parse_crop(options.crop)
        prompts_mod.check_inside_crop(prompts, fs.scale, box)
    if box is not None:
        fs = frames_mod.crop_frames(fs, box)
        keypoints = keypoints.copy()
        keypoints[..., 0] -= box[0]
        keypoints[..., 1] -= box[1]
        _log(options, f"cropped to {box[2]}x{box[3]} at ({box[0]}, {box[1]})")
    W, H = fs.size
    if imported_masks is not None:
        imported_masks = masks.resize_labels(imported_masks, fs.scale, fs.crop)

    # 4. intrinsics (source frames → output frames)
    crop_xy = fs.crop[:2] if fs.crop is not None else None
    sw, sh = fs.source_size
    if options.K_file is not None:
        K_source = intrinsics.load_K(options.K_file)
        provenance["K"] = "given"
    elif options.fx is not None:
        K_source = intrinsics.focal_K(options.fx, sw, sh)
        provenance["K"] = "given"
    else:
        K_source = intrinsics.prior_K(sw, sh, options.fov_deg)
        provenance["K"] = "prior"
    if side == "left":
        K_source = mirror.mirror_K(K_source, sw)
    K = intrinsics.adapt_K(K_source, fs.scale, crop_xy)
    K_prior = K.copy()

    # 5. 3D hand
    track, joints_track = _lift(keypoints, K, (W, H), landmarks)
    clock = lap("hand_ik", clock)

    # 6. masks
    labels, mask_info, skin_area, silhouettes = _labels(fs, track, K, options, prompts, typed_prompts,
                                                        imported_masks, provenance)
    object_masks = labels == LABEL_OBJECT
    refit = np.zeros(len(fs), bool)
    if options.refit_hand_with_masks:
        joints_track, refit = hand3d.track_with_masks(joints_track, keypoints, labels, K, (W, H),
                                                      detector_landmarks=landmarks)
    clock = lap("masks", clock)

    # 7. object poses
    sfm_info: dict = {"status": "not run"}
    pose_provenance: list[str]
    poses = points = None
    hand_attached = None  # (poses, points) of the hand-attached fallback, once made
    if options.object_poses in ("auto", "sfm") and sfm.sfm_available():
        refine_focal = provenance["K"] == "prior"
        result = sfm.run_sfm(fs.images, object_masks, K, refine_focal=refine_focal, seed=options.seed)
        sfm_info = dict(result.info)
        if refine_focal and result.focal is not None and result.fraction_registered() >= 0.5 \
                and 0.5 < result.focal / K[0, 0] < 2.0:
            # SfM converged on a focal length: adopt it and refit the hand with it.
            depth_scale = result.focal / K[0, 0]
            K = K.copy()
            K[0, 0] = K[1, 1] = result.focal
            provenance["K"] = "sfm"
            track, joints_track = _lift(keypoints, K, (W, H), landmarks, (track, joints_track), depth_scale)
            sfm_info["focal_prior_px"] = round(float(K_prior[0, 0]), 3)
            sfm_info["focal_sfm_px"] = round(result.focal, 3)
        keep, disagreement = sfm.check_against_hand(result.poses, track.wrist_poses, track.observed)
        sfm_info["dropped_disagreeing_with_hand"] = int((result.registered & ~keep).sum())
        sfm_info["median_hand_disagreement_deg"] = None if np.isnan(disagreement) else round(disagreement, 2)
        if result.fraction_registered(keep) >= sfm.MIN_REGISTERED_FRACTION:
            raw = np.where(keep[:, None, None], result.poses, np.nan)
            pts = _trim_points(result.points)
            scale, scale_info = align.fit_object_scale(raw, pts, track.joints, keep & track.observed)
            sfm_info["alignment"] = scale_info
            raw, pts = align.apply_scale(raw, pts, scale)
            sfm_poses, sfm_provenance = sfm.fill_poses(raw, keep, track.wrist_poses)
            if disagreement > sfm.MAX_MEDIAN_DISAGREEMENT_DEG:
                # One of the two turns the wrong way: an SfM of leaked static background, or a
                # hand seen from behind the object it holds, whose 2D-only orientation flips
                # (the built-in-hand drill video: hand 46 deg median off, SfM 0.5 deg). The
                # masks judge: the poses under which one rigid object explains them win.
                hand_attached = align.hand_attached_object(labels, track.joints, track.wrist_poses, K,
                                                           _reference_frame(labels, track.observed),
                                                           track.observed)
                explained = {"sfm": align.mask_consistency(labels, sfm_poses, K),
                             "hand-attached": align.mask_consistency(labels, hand_attached[0], K)}
                sfm_info["mask_consistency"] = {k: round(v, 3) for k, v in explained.items()}
                verdict = (f"SfM disagrees with the hand's motion (median {disagreement:.0f} deg); the masks' "
                           f"hull covers {explained['sfm']:.2f} of the object pixels along the SfM poses, "
                           f"{explained['hand-attached']:.2f} along the hand's")
                if explained["sfm"] < explained["hand-attached"] + sfm.MASK_CONSISTENCY_MARGIN:
                    sfm_info["status"] = "rejected: " + verdict
                    sfm_poses = None
                else:
                    sfm_info["status"] = "kept: " + verdict
            if sfm_poses is not None:
                poses, pose_provenance, points = sfm_poses, sfm_provenance, pts
        elif disagreement > sfm.MAX_MEDIAN_DISAGREEMENT_DEG:
            sfm_info["status"] = f"rejected: SfM disagrees with the hand's motion (median {disagreement:.0f} deg)"
    elif options.object_poses == "sfm":
        raise InputError("--object-poses sfm needs pycolmap (`pip install pycolmap`)")
    if poses is None:
        if options.object_poses == "sfm":
            raise InputError(f"SfM could not register enough frames ({sfm_info}); use --object-poses auto or hand")
        if hand_attached is None:
            hand_attached = align.hand_attached_object(labels, track.joints, track.wrist_poses, K,
                                                       _reference_frame(labels, track.observed), track.observed)
        poses, points = hand_attached
        pose_provenance = ["hand-attached"] * len(fs)
        provenance["object_poses"] = "hand-attached (object rigid in the wrist frame; SfM: " \
            + str(sfm_info.get("status")) + ")"
    else:
        counts = {k: pose_provenance.count(k) for k in ("sfm", "interpolated", "hand-attached")}
        provenance["object_poses"] = "sfm (pycolmap) + " + ", ".join(f"{v} {k}" for k, v in counts.items() if k != "sfm" and v) \
            if counts["interpolated"] or counts["hand-attached"] else "sfm (pycolmap)"
    # 7b. the hand's depth against its visible skin, tied across frames by the object's poses
    # (hand_depth.py): a detector that squeezes the hand's keypoints puts it too far, and the
    # object's scale with it; both move towards the camera together.
    bounds = hand_depth.depth_bounds(silhouettes.sum((1, 2)), skin_area)
    factor, depth_targets, depth_info = hand_depth.coupled_scale(
        bounds, track.joints.mean(1), track.observed, poses if "sfm" in pose_provenance else None)
    stray = np.isfinite(depth_targets) if factor >= 1.0 else np.zeros(len(fs), bool)
    if factor < 1.0:
        scale = np.where(np.isfinite(depth_targets), depth_targets / track.joints[:, :, 2].mean(1), 1.0)
        track, joints_track = _lift(keypoints, K, (W, H), landmarks, (track, joints_track), scale, depth_targets)
        poses = poses.copy()
        poses[:, :3, 3] *= factor
        points = None if points is None else points * factor
        provenance["hand"] += f"; depth × {factor:.2f} from the visible skin"
    elif stray.any():
        # A hand far from where the object holds it (hand_depth.stray_frames): its keypoints
        # are squeezed or drifted, and a fit pulled to the object's depth through them bends
        # the hand (measured: the object's CD 0.57 -> 1.75 cm^2 on the potted meat can). They
        # are dropped; the frames are carried with the object like undetected ones (step 8).
        ratio = track.joints[:, :, 2].mean(1) / depth_targets
        for t in np.flatnonzero(stray):
            rejected[int(t)] = f"hand at {ratio[t]:.2f}x the depth where the object holds it"
        keypoints = keypoints.copy()
        keypoints[stray] = np.nan
        found = found & ~stray
        track, joints_track = _lift(keypoints, K, (W, H), landmarks, (track, joints_track))
        provenance["hand"] += f"; {int(stray.sum())} frame(s) far from where the object holds the hand dropped"
    if factor < 1.0 or stray.any():
        if imported_masks is None:  # the hand label follows the fitted silhouette: redo it (the
            # object's growth check again only if it was used: it is a third of the masks' time)
            growth = mask_info.get("grown_object")
            grow = bool(growth and growth.get("used"))
            labels, mask_info, _, silhouettes = _labels(fs, track, K, options, prompts, typed_prompts, None,
                                                        provenance, grow=grow)
            if growth is not None and not grow:
                mask_info["grown_object"] = growth
    clock = lap("object_poses", clock)
    if imported_masks is None:  # where the fingers meet the object neither label is sure (a user's masks are kept)
        projected = track.joints @ K.T
        projected = projected[..., :2] / projected[..., 2:]
        hand_len = float(np.nanmedian(np.linalg.norm(projected[:, 9] - projected[:, 0], axis=-1)))
        labels, mask_info["contact_band"] = masks.contact_band(labels, hand_len)
        provenance["masks"] += "; background where hand and object meet: ignore"

    # 8. write
    # Every frame gets a hand. Frames without keypoints are "filled" by the IK's temporal prior
    # between the detected frames, or "carried" with the object where its poses come from SfM
    # (the hand's pose in the object's frame, align.carry_hand_with_object).
    from_images = np.isin(pose_provenance, ("sfm", "interpolated"))
    joints_out, carried = align.carry_hand_with_object(joints_track.joints, track.observed | refit, poses,
                                                       from_images)
    joints_out = joints_out.astype(np.float32)
    if landmarks:  # written in the hand model's keypoint convention (SEQUENCE_FORMAT.md)
        keypoints = hand3d.to_model_keypoints(keypoints, joints_track, K)
    keypoints_out = np.where(found[:, None, None], keypoints, np.nan).astype(np.float32)
    out = handedness.Outputs(fs.images, labels, K, joints_out, joints_out, keypoints_out, poses, points,
                             fs.crop_in_source())
    if side == "left":
        out = handedness.to_original(out, sw)
    frame_provenance = {
        "object_poses": pose_provenance,
        "hand": ["refit-masks" if r else "detected" if o else "carried" if c else "filled"
                 for o, r, c in zip(track.observed, refit, carried)],
        "keypoints": how,
        "rejected_keypoints": {str(k): v for k, v in rejected.items()},
        "sfm": sfm_info,
        "masks": mask_info,
        "hand_depth": depth_info,
        "K": provenance["K"],
    }
    init = SequenceInit(hand_joints=out.joints.astype(np.float32), hand_keypoints2d=out.keypoints.astype(np.float32),
                        object_poses=out.object_poses.astype(np.float32),
                        object_points=(out.object_points.astype(np.float32)
                                       if out.object_points is not None and len(out.object_points) else None),
                        provenance=frame_provenance)
    if options.mano is not None:
        mano = importers.load_mano_params(options.mano)
        for key in ("global_orient", "hand_pose", "transl"):
            mano[key] = importers.pick_frames(mano[key], fs.indices, fs.source_count, f"--mano {options.mano}")
        init.mano = mano
        provenance["hand"] += f"; MANO parameters from {Path(options.mano).name}"
    meta = SequenceMeta(num_frames=len(fs), image_size=(W, H), K=out.K, fps=fs.fps, hands=(side,),
                        frame_indices=fs.indices, crop=out.crop, provenance=provenance,
                        source=f"hold.preprocess from {Path(source).name} ({json.dumps(_options_json(options))})")
    summary = {
        "frames": len(fs), "image_size": [W, H], "K": out.K.round(3).tolist(), "hand": side, "provenance": provenance,
        "hand_found_fraction": round(float(found.mean()), 4),
        "object_pose_provenance": {k: pose_provenance.count(k) for k in sorted(set(pose_provenance))},
        "object_points": 0 if points is None else int(len(points)),
        "sfm": sfm_info, "masks": mask_info, "hand_depth": depth_info, "timings_s": timings,
    }
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as staging:
        inner = staging / "sequence"
        write_sequence(inner, meta, list(out.images), list(out.labels), init, video=options.video)
        if options.overlay:
            frames = render_overlay(out.images, out.labels, out.keypoints, out.fitted_joints, out.object_points,
                                    out.object_poses, out.K, pose_provenance)
            write_video(inner / "debug" / "overlay.mp4", frames, fps=fs.fps)
            write_image(inner / "debug" / "overlay.png", contact_sheet(frames))
        timings["total"] = round(time.perf_counter() - started, 3)
        write_json_atomic(inner / "debug" / "summary.json", summary)
        for entry in inner.iterdir():
            os.rename(entry, staging / entry.name)
        inner.rmdir()
    _log(options, f"wrote {out_dir} in {timings['total']:.1f} s")
    return summary


def _labels(fs, track: hand3d.HandTrack, K: np.ndarray, options: PreprocessOptions, prompts: list,
            typed_prompts: list[str], imported_masks: np.ndarray | None, provenance: dict[str, str],
            grow: bool = True):
    """The sequence's labels [T, H, W] from the fitted hand ``track`` (or the imported masks),
    with the masks' info, the visible skin per frame [T] (hand_depth.py) and the fitted hand's
    silhouettes [T, H, W]; sets ``provenance["masks"]`` (and ``["prompts"]``). ``grow``: check
    whether the automatic object label is a fragment to grow (prompt_masks)."""
    W, H = fs.size
    silhouettes = np.stack([hand3d.rasterize_mesh(track.vertices[t], track.faces, K, (W, H)) for t in range(len(fs))])
    joints2d = track.joints @ K.T
    joints2d = joints2d[..., :2] / joints2d[..., 2:]
    mask_info: dict = {}
    skin_area = None  # [T] visible skin pixels (hand_depth.py)
    if imported_masks is not None:
        labels = imported_masks
        skin_area = (labels == LABEL_HAND).sum((1, 2))  # a user's hand label is the visible hand
        provenance["masks"] = f"imported from {Path(options.masks).name}"
    else:
        result = masks.auto_masks(fs.images, silhouettes, joints2d, refine=options.grabcut, progress=options.progress)
        labels, mask_info, skin_area = result.labels, result.info, result.hand_skin_area
        provenance["masks"] = "auto (static-camera background model, fitted hand + skin colour, GrabCut)" \
            if options.grabcut else "auto (static-camera background model, fitted hand + skin colour)"
        if not prompts and grow:
            grown, mask_info["grown_object"] = prompt_masks.grow_automatic_object(
                fs.images, labels == LABEL_OBJECT, labels == LABEL_HAND, joints2d)
            if grown is not None:
                labels = np.where(labels == LABEL_HAND, LABEL_HAND, np.where(grown, LABEL_OBJECT, 0)).astype(np.uint8)
                provenance["masks"] += "; object: the automatic label was a fragment, grown from it by an automatic " \
                                       "box prompt (docs/FRONTEND.md)"
        if prompts:  # the object from the prompts; the hand stays the automatic one
            hand_pixels = labels == LABEL_HAND
            per_frame = prompts_mod.to_frames(prompts, fs.indices, fs.scale, fs.crop)
            obj = prompt_masks.prompted_object_masks(fs.images, hand_pixels, per_frame, progress=options.progress)
            labels = np.where(hand_pixels, LABEL_HAND, np.where(obj, LABEL_OBJECT, 0)).astype(np.uint8)
            provenance["masks"] = provenance["masks"].replace("auto (", "hand: auto (", 1) \
                + "; object: from prompts (GrabCut on the prompted frames, carried by optical flow, GrabCut)"
            provenance["prompts"] = "; ".join(typed_prompts)
            mask_info["prompts"] = typed_prompts
    return labels, mask_info, skin_area, silhouettes


def _lift(keypoints: np.ndarray, K: np.ndarray, size: tuple[int, int], landmarks: bool,
          previous: tuple | None = None, depth_scale: float | np.ndarray = 1.0,
          depth: np.ndarray | None = None):
    """(track for the masks and object poses, track whose joints are written). The masks and the
    SfM checks were tuned on the hand fitted straight to the detector's landmarks; the written
    joints come from the fit that models the landmarks' offsets (landmarks.py), which is closer
    to the truth (docs/FRONTEND.md, "Landmark offsets") but moves the silhouette by ~1 cm.

    Only the first fit searches each frame's pose from scratch: the second starts from the first,
    and a refit under a new focal length (``previous`` tracks, ``depth_scale`` = f'/f) from the
    previous ones (hand3d.lift_keypoints's ``start``), which is most of the front-end's IK time
    saved on a long video (docs/PERFORMANCE.md). ``depth`` [T]: target hand depths for both
    fits (hand_depth.py)."""
    old_track, old_joints = previous if previous is not None else (None, None)
    track = hand3d.lift_keypoints(keypoints, K, size, start=old_track, depth_scale=depth_scale, depth=depth)
    if not landmarks:
        return track, track
    start, scale = (old_joints, depth_scale) if old_joints is not None else (track, 1.0)
    return track, hand3d.lift_keypoints(keypoints, K, size, detector_landmarks=True, start=start, depth_scale=scale,
                                        depth=depth)


def _options_json(options: PreprocessOptions) -> dict:
    return {k: v for k, v in asdict(options).items() if v is not None and k != "progress"}
