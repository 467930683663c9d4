"""Decoding the input (a video file or a folder of images), subsampling, resizing, cropping.

Every frame that leaves this module is RGB [H, W, 3] uint8. The transform from source pixels to
output pixels is kept (``FrameSet.scale`` and ``FrameSet.crop``) so intrinsics and imported
keypoints given for the source frames can follow the frames (``to_output_pixels``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hold.io.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DEFAULT_FPS = 30.0


@dataclass
class FrameSet:
    """Frames ready for the front-end and how they map to the source."""

    images: np.ndarray  # [T, H, W, 3] uint8 RGB (after resize and crop)
    indices: list[int]  # source frame number of each kept frame
    fps: float  # of the kept frames (source fps / stride)
    source_size: tuple[int, int]  # (width, height) of the source frames
    scale: float = 1.0  # output = scale * source pixel (before the crop)
    crop: tuple[int, int, int, int] | None = None  # (x0, y0, w, h) in resized pixels
    source_count: int = 0  # frames in the source

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the output frames."""
        return int(self.images.shape[2]), int(self.images.shape[1])

    def __len__(self) -> int:
        return len(self.images)

    def to_output_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Source-frame pixel coordinates [..., 2] (OpenCV centres) → output-frame pixels."""
        uv = (np.asarray(uv, np.float64) + 0.5) * self.scale - 0.5
        if self.crop is not None:
            uv = uv - np.array(self.crop[:2], np.float64)
        return uv

    def crop_in_source(self) -> list[float] | None:
        """meta.json's ``crop`` [x0, y0, w, h] in source pixels (None when not cropped)."""
        if self.crop is None:
            return None
        x0, y0, w, h = self.crop
        return [x0 / self.scale, y0 / self.scale, w / self.scale, h / self.scale]


def _select(count: int, every: int, max_frames: int | None) -> list[int]:
    """Source frame numbers to keep: every ``every``-th, then thinned evenly (a larger
    stride) until at most ``max_frames`` remain."""
    kept = list(range(0, count, every))
    if max_frames is not None and len(kept) > max_frames:
        stride = math.ceil(len(kept) / max_frames)
        kept = kept[::stride][:max_frames]
    return kept


def _decode_video(path: Path) -> tuple[list[np.ndarray], float]:
    """All frames of a video (RGB) and its frame rate; PyAV first, OpenCV as the fallback."""
    frames: list[np.ndarray] = []
    fps = None
    try:
        import av

        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: no video stream in the file")
            stream = container.streams.video[0]
            if stream.average_rate:
                fps = float(stream.average_rate)
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - any decoder failure: try OpenCV before giving up
        frames = []
        capture = cv2.VideoCapture(str(path))
        if capture.isOpened():
            fps = capture.get(cv2.CAP_PROP_FPS) or None
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        capture.release()
        if not frames:
            raise InputError(f"{path}: cannot decode the video (not a video file, or a codec "
                             f"neither PyAV nor OpenCV can read)") from None
    return frames, (fps if fps and fps > 0 else DEFAULT_FPS)


def _read_any_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: cannot decode image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def list_image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def load_frames(
    source: str | os.PathLike,
    every: int = 1,
    max_frames: int | None = None,
    max_size: int | None = None,
    fps: float | None = None,
) -> FrameSet:
    """Decode ``source`` (a video file or a folder of images in name order), keep every
    ``every``-th frame (then at most ``max_frames``, evenly spread), and shrink frames whose
    longer side exceeds ``max_size``. ``fps`` overrides the video's rate (folders: 30)."""
    source = Path(source)
    if every < 1:
        raise InputError(f"--every must be >= 1, got {every}")
    if max_frames is not None and max_frames < 2:
        raise InputError(f"--max-frames must be >= 2, got {max_frames}")
    if max_size is not None and max_size < 32:
        raise InputError(f"--max-size must be >= 32 pixels, got {max_size}")
    if source.is_dir():
        files = list_image_files(source)
        count = len(files)
        if count == 0:
            raise InputError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        kept = _select(count, every, max_frames)
        raw = [_read_any_image(files[i]) for i in kept]
        source_fps = fps or DEFAULT_FPS
    elif source.is_file():
        if source.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(f"{source}: expected a video ({', '.join(VIDEO_SUFFIXES)}) or a folder of images")
        decoded, video_fps = _decode_video(source)
        count = len(decoded)
        if count == 0:
            raise InputError(f"{source}: the video has no frames")
        kept = _select(count, every, max_frames)
        raw = [decoded[i] for i in kept]
        source_fps = fps or video_fps
    else:
        raise InputError(f"{source}: no such video file or image folder")
    if len(raw) < 2:
        raise InputError(f"{source}: {count} frame(s) (after --every {every}: {len(raw)}); the front-end "
                         f"needs at least 2 frames of a moving hand and object")
    height, width = raw[0].shape[:2]
    for i, frame in zip(kept, raw):
        if frame.shape[:2] != (height, width):
            raise InputError(f"{source}: frame {i} is {frame.shape[1]}x{frame.shape[0]}, the first is "
                             f"{width}x{height}; all frames must have the same size")
    scale = 1.0
    if max_size is not None and max(width, height) > max_size:
        scale = max_size / max(width, height)
        new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        raw = [cv2.resize(f, new_size, interpolation=cv2.INTER_AREA) for f in raw]
        scale = new_size[0] / width  # the exact factor after rounding
    stride = kept[1] - kept[0] if len(kept) > 1 else 1
    return FrameSet(np.stack(raw), kept, source_fps / stride, (width, height), scale, None, count)


def crop_frames(frames: FrameSet, box: tuple[int, int, int, int]) -> FrameSet:
    """Cut every frame to ``box`` (x0, y0, w, h) in output pixels."""
    x0, y0, w, h = (int(v) for v in box)
    H, W = frames.images.shape[1:3]
    if w < 16 or h < 16 or x0 < 0 or y0 < 0 or x0 + w > W or y0 + h > H:
        raise InputError(f"crop {list(box)} must lie inside the {W}x{H} frames and be at least 16x16")
    previous = frames.crop or (0, 0, W, H)
    return FrameSet(np.ascontiguousarray(frames.images[:, y0:y0 + h, x0:x0 + w]), frames.indices, frames.fps,
                    frames.source_size, frames.scale, (previous[0] + x0, previous[1] + y0, w, h),
                    frames.source_count)


def motion_box(keypoints: np.ndarray, size: tuple[int, int], margin: float = 1.2,
               min_gain: float = 0.25, include: np.ndarray | None = None) -> tuple[int, int, int, int] | None:
    """Where the hand (and the object it holds) moves: the union of the per-frame keypoint
    boxes, each grown by ``margin`` × the hand's size on every side (an object held in the hand
    lies within about a hand's length of it). None when cropping would save less than
    ``min_gain`` of the frame area or no keypoint was found. ``include`` [x0, y0, x1, y1]: a
    box the crop must also hold (the object prompts), grown by 8 pixels."""
    W, H = size
    boxes = []
    for frame in keypoints:
        uv = frame[:, :2][np.isfinite(frame[:, :2]).all(1)]
        if len(uv) < 4:
            continue
        lo, hi = uv.min(0), uv.max(0)
        extent = float(max(hi - lo))
        boxes.append(np.concatenate([lo - margin * extent, hi + margin * extent]))
    if not boxes:
        return None
    if include is not None:
        boxes.append(np.asarray(include, np.float64) + [-8, -8, 8, 8])
    boxes = np.array(boxes)
    x0, y0 = np.maximum(boxes[:, :2].min(0), 0)
    x1, y1 = np.minimum(boxes[:, 2:].max(0), [W, H])
    x0, y0, x1, y1 = int(math.floor(x0)), int(math.floor(y0)), int(math.ceil(x1)), int(math.ceil(y1))
    w, h = x1 - x0, y1 - y0
    w, h = w - w % 2, h - h % 2  # even sides keep the H.264 preview exact
    if w < 32 or h < 32 or w * h > (1 - min_gain) * W * H:
        return None
    return x0, y0, w, h
