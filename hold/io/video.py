"""MP4 video: H.264 writing through PyAV (OpenCV's wheels have no H.264 encoder), reading
through PyAV. Frames are RGB [H, W, 3] uint8 in memory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from hold.io.errors import InputError


def write_video(
    path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float = 30.0, crf: int = 18
) -> int:
    """Encode RGB frames [H, W, 3] uint8 as an H.264 (yuv420p) MP4; returns the frame count.

    yuv420p needs even sides, so odd-sized frames get one replicated column/row (the decoded
    video is then one pixel wider/taller). The file appears atomically when encoding ends.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    count = 0
    try:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf)}
            for frame in frames:
                frame = np.asarray(frame)
                if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                    raise ValueError(f"write_video expects [H, W, 3] uint8 frames, got {frame.shape}")
                height, width = frame.shape[:2]
                pad = ((0, height % 2), (0, width % 2), (0, 0))
                frame = np.pad(frame, pad, mode="edge") if any(p[1] for p in pad) else frame
                if count == 0:
                    stream.width, stream.height = frame.shape[1], frame.shape[0]
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
                count += 1
            if count == 0:
                raise ValueError("write_video: no frames")
            for packet in stream.encode():
                container.mux(packet)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return count


def iter_video(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Decode a video file frame by frame as RGB [H, W, 3] uint8."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise InputError(f"{path}: cannot open video ({e})") from None
    with container:
        if not container.streams.video:
            raise InputError(f"{path}: no video stream")
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def read_video(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video, [T, H, W, 3] uint8 RGB."""
    frames = list(iter_video(path))
    if not frames:
        raise InputError(f"{path}: the video has no frames")
    return np.stack(frames)
