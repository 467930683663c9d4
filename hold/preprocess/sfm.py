"""Object poses: pycolmap SfM on the object's pixels (one shared camera), the camera poses
inverted into per-frame object poses, and the hand-attached fallback.

As in HOLD (generator/scripts/colmap_estimation.py), the static camera is treated as if it
moved around a static object: SfM on object-only images gives ``cam_from_world`` per frame,
and with the SfM world taken as the object frame that *is* the object → camera pose (up to the
SfM's unknown scale, fixed later by ``align.align_object_to_hand``). SIFT features are
extracted on the frames with everything but the (eroded) object mask blanked to grey and
masked out, upscaled so that the object spans at least ``MIN_OBJECT_PX`` pixels.

Robustness that HOLD lacks (its most reported failure is bad COLMAP poses):

- the SfM rotations are checked against the hand's motion (the object is held rigidly most of
  the time): an SfM whose median frame disagrees by more than ``MAX_MEDIAN_DISAGREEMENT_DEG``
  is rejected as a whole (e.g. a model of static background leaking through the masks) unless
  the masks side with it: the hand seen from behind the object flips its orientation, and then
  one rigid object explains the masks along the SfM poses, not along the hand's
  (``align.mask_consistency``, ``MASK_CONSISTENCY_MARGIN``); single
  frames that jump more than ``MAX_JUMP_DEG`` away from their registered neighbours are dropped
  (the 2D-only hand is too noisy in orientation to judge single frames: measured);
- gaps between registered frames are interpolated (slerp/lerp), frames before the first / after
  the last registered one follow the hand rigidly from the nearest registered frame;
- when SfM registers too few frames (texture-poor objects), every pose is **hand-attached**:
  the object moves rigidly with the hand's wrist frame.

``import cv2`` must precede ``import pycolmap`` (pycolmap 4.2.1's bundled zlib/libpng breaks
``cv2.imwrite`` of PNGs when it is loaded first; measured, see docs/FRONTEND.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2  # noqa: I001 - must be imported before pycolmap
import numpy as np
from scipy.spatial.transform import Rotation, Slerp

MIN_OBJECT_PX = 240
MAX_UPSCALE = 3.0
MAX_JUMP_DEG = 20.0  # a registered frame this far from the slerp of its neighbours is an outlier
MAX_MEDIAN_DISAGREEMENT_DEG = 30.0  # an SfM whose median frame is further is rejected as a whole
MIN_REGISTERED_FRACTION = 0.3
# An SfM that disagrees with the hand is kept only when the masks' hull along its poses covers
# this much more of the object pixels than along the hand-attached poses (align.mask_consistency).
MASK_CONSISTENCY_MARGIN = 0.1
# SfM runs on at most this many frames evenly spread (the others are interpolated between
# them): its matching and bundle adjustment grow faster than the video (300 frames: 85 s, and
# neighbouring frames of a 30 fps video add views a few tenths of a degree apart).
MAX_KEYFRAMES = 64


class SfmUnavailable(RuntimeError):
    pass


def _pycolmap():
    try:
        import pycolmap  # noqa: PLC0415
    except ImportError as e:
        raise SfmUnavailable(f"pycolmap is not installed ({e}); `pip install pycolmap`") from None
    return pycolmap


def sfm_available() -> bool:
    try:
        _pycolmap()
    except SfmUnavailable:
        return False
    return True


@dataclass
class SfmResult:
    poses: np.ndarray  # [T, 4, 4] object (SfM world) → camera, SfM units; NaN where unregistered
    points: np.ndarray  # [N, 3] SfM points, SfM units
    focal: float | None  # refined focal (output pixels) when asked for
    registered: np.ndarray  # [T] bool
    info: dict = field(default_factory=dict)
    keyframes: np.ndarray | None = None  # [T] bool: the frames given to SfM (None: all)

    def fraction_registered(self, valid: np.ndarray | None = None) -> float:
        """The share of the keyframes that are registered (and ``valid``, when given)."""
        ok = self.registered if valid is None else self.registered & valid
        key = np.ones(len(ok), bool) if self.keyframes is None else self.keyframes
        return float(ok[key].mean())


def keyframe_indices(frames: int, limit: int = MAX_KEYFRAMES) -> np.ndarray:
    """At most ``limit`` frame indices evenly spread over the video, first and last included."""
    if frames <= limit:
        return np.arange(frames)
    return np.unique(np.linspace(0, frames - 1, limit).round().astype(int))


@contextlib.contextmanager
def _quiet_stderr():
    """Silence COLMAP's glog output on fd 2 while the block runs."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run_sfm(images: np.ndarray, object_masks: np.ndarray, K: np.ndarray, refine_focal: bool = False,
            seed: int = 0, workdir: str | os.PathLike | None = None, threads: int = 1,
            quiet: bool = True, max_keyframes: int = MAX_KEYFRAMES) -> SfmResult:
    """SfM on the object pixels of RGB frames [T, H, W, 3] with masks [T, H, W] bool, on at
    most ``max_keyframes`` of them (``keyframe_indices``); the other frames come back
    unregistered (NaN), and ``SfmResult.keyframes`` says which were given to SfM."""
    T = len(images)
    key = keyframe_indices(T, max_keyframes)
    if len(key) == T:
        return _run_sfm(images, object_masks, K, refine_focal, seed, workdir, threads, quiet)
    result = _run_sfm(images[key], object_masks[key], K, refine_focal, seed, workdir, threads, quiet)
    poses = np.full((T, 4, 4), np.nan)
    poses[key] = result.poses
    registered = np.zeros(T, bool)
    registered[key] = result.registered
    keyframes = np.zeros(T, bool)
    keyframes[key] = True
    return SfmResult(poses, result.points, result.focal, registered, {**result.info, "keyframes": len(key)},
                     keyframes)


def _run_sfm(images: np.ndarray, object_masks: np.ndarray, K: np.ndarray, refine_focal: bool, seed: int,
             workdir, threads: int, quiet: bool) -> SfmResult:
    """SfM on the object pixels of RGB frames [T, H, W, 3] with masks [T, H, W] bool.

    ``K`` starts the shared PINHOLE camera; ``refine_focal`` lets bundle adjustment refine the
    focal length (then ``focal`` reports it). Deterministic for a seed with ``threads=1`` (the
    default): COLMAP's global seed is set and the mapper always runs on one thread; with two
    threads in extraction/matching or mapping, runs on the same input gave different models
    (measured). ``threads`` > 1 trades that for speed in extraction and matching.
    """
    pycolmap = _pycolmap()
    pycolmap.set_random_seed(seed)  # COLMAP's global RNG (RANSAC, sampling)
    T, H, W = images.shape[:3]
    extent = []
    for m in object_masks:
        ys, xs = np.nonzero(m)
        if len(xs):
            extent.append(max(xs.max() - xs.min(), ys.max() - ys.min()))
    if not extent:
        return SfmResult(np.full((T, 4, 4), np.nan), np.zeros((0, 3)), None, np.zeros(T, bool),
                         {"status": "no object pixels"})
    up = float(np.clip(MIN_OBJECT_PX / max(1.0, np.median(extent)), 1.0, MAX_UPSCALE))
    # One crop for every frame (the union of the object's boxes, with a margin) keeps a single
    # shared camera (only the principal point moves) and spares SIFT the blank pixels.
    ys, xs = np.nonzero(object_masks.any(0))
    margin = 8
    x0, y0 = max(0, xs.min() - margin), max(0, ys.min() - margin)
    x1, y1 = min(W, xs.max() + margin + 1), min(H, ys.max() + margin + 1)
    images = images[:, y0:y1, x0:x1]
    object_masks = object_masks[:, y0:y1, x0:x1]
    K = np.asarray(K, np.float64).copy()
    K[0, 2] -= x0
    K[1, 2] -= y0
    H, W = y1 - y0, x1 - x0
    owned = workdir is None
    root = Path(tempfile.mkdtemp(prefix="hold-sfm-")) if owned else Path(workdir)
    try:
        image_dir, mask_dir = root / "images", root / "masks"
        image_dir.mkdir(parents=True, exist_ok=True)
        mask_dir.mkdir(parents=True, exist_ok=True)
        names = []
        size = (round(W * up), round(H * up))
        for t in range(T):
            name = f"{t:06d}.png"
            rgb = cv2.resize(images[t], size, interpolation=cv2.INTER_CUBIC) if up > 1 else images[t].copy()
            mask = cv2.resize(object_masks[t].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
            rgb[mask == 0] = 128
            # Features within ~3 source pixels of the mask's edge may see the hand or background.
            radius = max(2, round(3 * up))
            keep = cv2.erode(mask, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) * 255
            cv2.imwrite(str(image_dir / name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(mask_dir / f"{name}.png"), keep)
            names.append(name)
        Ku = np.asarray(K, np.float64).copy()
        Ku[:2] *= up
        Ku[:2, 2] += 0.5 * up - 0.5
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "PINHOLE"
        reader.camera_params = f"{Ku[0, 0]},{Ku[1, 1]},{Ku[0, 2]},{Ku[1, 2]}"
        reader.mask_path = str(mask_dir)
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = threads
        extraction.sift.peak_threshold = 0.004  # small textured regions: keep weaker features
        matching = pycolmap.FeatureMatchingOptions()
        matching.num_threads = threads
        mapping = pycolmap.IncrementalPipelineOptions()
        mapping.num_threads = 1  # multi-threaded bundle adjustment is not reproducible
        mapping.random_seed = seed
        mapping.ba_refine_focal_length = refine_focal
        mapping.ba_refine_principal_point = False
        mapping.ba_refine_extra_params = False
        mapping.mapper.init_min_tri_angle = 4.0
        mapping.min_model_size = 3
        database = root / "database.db"
        if database.exists():
            database.unlink()
        guard = _quiet_stderr() if quiet else contextlib.nullcontext()
        with guard:
            pycolmap.extract_features(database, image_dir, camera_mode=pycolmap.CameraMode.SINGLE,
                                      reader_options=reader, extraction_options=extraction,
                                      device=pycolmap.Device.cpu)
            if T <= 24:
                pycolmap.match_exhaustive(database, matching_options=matching, device=pycolmap.Device.cpu)
            else:  # a video: neighbours in time see the same side of the object
                pairing = pycolmap.SequentialPairingOptions()
                pairing.overlap = 12
                pycolmap.match_sequential(database, matching_options=matching, pairing_options=pairing,
                                          device=pycolmap.Device.cpu)
            (root / "sparse").mkdir(exist_ok=True)
            reconstructions = pycolmap.incremental_mapping(database, image_dir, root / "sparse", options=mapping)
        if not reconstructions:
            return SfmResult(np.full((T, 4, 4), np.nan), np.zeros((0, 3)), None, np.zeros(T, bool),
                             {"status": "no model", "upscale": round(up, 3), "crop": [int(x0), int(y0), int(W), int(H)]})
        best = max(reconstructions.values(), key=lambda r: r.num_reg_images())
        poses = np.full((T, 4, 4), np.nan)
        for image in best.images.values():
            if not image.has_pose:
                continue
            pose = image.cam_from_world()
            matrix = np.eye(4)
            matrix[:3, :3] = pose.rotation.matrix()
            matrix[:3, 3] = pose.translation
            poses[names.index(image.name)] = matrix
        points = np.array([p.xyz for p in best.points3D.values()], np.float64).reshape(-1, 3)
        focal = None
        if refine_focal:
            camera = next(iter(best.cameras.values()))
            focal = float(np.mean(camera.params[:2])) / up
        registered = np.isfinite(poses[:, 0, 0])
        return SfmResult(poses, points, focal, registered,
                         {"status": "ok", "upscale": round(up, 3), "crop": [int(x0), int(y0), int(W), int(H)],
                          "models": len(reconstructions),
                          "registered": int(registered.sum()), "points": len(points),
                          "mean_reprojection_px": round(float(best.compute_mean_reprojection_error()), 3)})
    finally:
        if owned:
            shutil.rmtree(root, ignore_errors=True)


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle [...] in degrees between rotation matrices [..., 3, 3]."""
    relative = np.einsum("...ji,...jk->...ik", a, b)
    cosine = np.clip((np.trace(relative, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
    return np.degrees(np.arccos(cosine))


def hand_disagreement(poses: np.ndarray, wrist_poses: np.ndarray, hand_ok: np.ndarray) -> np.ndarray:
    """[T] angle (degrees, NaN where not comparable) between each registered frame's
    object-in-hand rotation Q_tᵀ R_t and the sequence's typical one (the frame whose grip has
    the smallest median angle to all others). For a rigid grasp and a correct SfM it is the
    hand's own orientation noise; a failed SfM (a static background model, a flipped frame)
    disagrees by tens of degrees."""
    registered = np.isfinite(poses[:, 0, 0])
    candidates = np.flatnonzero(registered & hand_ok)
    out = np.full(len(poses), np.nan)
    if len(candidates) < 2:
        return out
    grip = np.einsum("nji,njk->nik", wrist_poses[candidates, :3, :3], poses[candidates, :3, :3])
    angles = np.stack([rotation_angle_deg(grip, np.broadcast_to(g, grip.shape)) for g in grip])
    reference = int(np.argmin(np.median(angles, axis=1)))
    out[candidates] = angles[reference]
    return out


def temporal_outliers(poses: np.ndarray, max_deg: float = MAX_JUMP_DEG) -> np.ndarray:
    """[T] bool: registered frames whose rotation is more than ``max_deg`` from the slerp of
    their registered neighbours (an SfM frame that flipped or snapped to a wrong model) while
    those neighbours agree with each other within ``max_deg``."""
    registered = np.flatnonzero(np.isfinite(poses[:, 0, 0]))
    out = np.zeros(len(poses), bool)
    for i in range(1, len(registered) - 1):
        a, t, b = registered[i - 1], registered[i], registered[i + 1]
        pair = Rotation.from_matrix(poses[[a, b], :3, :3])
        if rotation_angle_deg(poses[a, :3, :3], poses[b, :3, :3]) > max_deg:
            continue
        middle = Slerp([a, b], pair)([t]).as_matrix()[0]
        out[t] = rotation_angle_deg(middle, poses[t, :3, :3]) > max_deg
    return out


def check_against_hand(poses: np.ndarray, wrist_poses: np.ndarray, hand_ok: np.ndarray,
                       max_deg: float = MAX_JUMP_DEG) -> tuple[np.ndarray, float]:
    """(keep [T] bool, median disagreement with the hand in degrees). The hand judges the SfM as
    a whole (``hand_disagreement``; the caller rejects it above ``MAX_MEDIAN_DISAGREEMENT_DEG``);
    single frames are dropped by the SfM's own temporal consistency (``temporal_outliers``),
    since a 2D-only hand's orientation is too noisy to judge one frame (measured: the per-frame
    hand check dropped good SfM frames, including frame 0, on the occluded-hand sequences)."""
    registered = np.isfinite(poses[:, 0, 0])
    angle = hand_disagreement(poses, wrist_poses, hand_ok)
    compared = np.isfinite(angle)
    keep = registered & ~temporal_outliers(poses, max_deg)
    median = float(np.median(angle[compared])) if compared.any() else float("nan")
    return keep, median


def fill_poses(poses: np.ndarray, valid: np.ndarray, wrist_poses: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Complete poses [T, 4, 4]: frames between valid ones are slerp/lerp-interpolated, frames
    before the first / after the last valid one follow the hand rigidly from it. Returns the
    poses and each frame's provenance ("sfm", "interpolated", "hand-attached")."""
    T = len(poses)
    out = poses.copy()
    provenance = ["sfm" if v else "" for v in valid]
    known = np.flatnonzero(valid)
    if len(known) == 0:
        raise ValueError("fill_poses needs at least one valid pose")
    if len(known) >= 2:
        slerp = Slerp(known, Rotation.from_matrix(poses[known, :3, :3]))
        inside = np.arange(known[0], known[-1] + 1)
        gaps = inside[~valid[inside]]
        if len(gaps):
            out[gaps, :3, :3] = slerp(gaps).as_matrix()
            for axis in range(3):
                out[gaps, axis, 3] = np.interp(gaps, known, poses[known, axis, 3])
            out[gaps, 3] = [0, 0, 0, 1]
            for t in gaps:
                provenance[t] = "interpolated"
    for t in range(T):
        if provenance[t]:
            continue
        ref = known[0] if t < known[0] else known[-1]
        out[t] = attach_to_hand(poses[ref], wrist_poses[ref], wrist_poses[t])
        provenance[t] = "hand-attached"
    return out, provenance


def attach_to_hand(object_pose: np.ndarray, wrist_ref: np.ndarray, wrist_t: np.ndarray) -> np.ndarray:
    """The object pose at t if it moved rigidly with the wrist frame since the reference."""
    return wrist_t @ np.linalg.inv(wrist_ref) @ object_pose
