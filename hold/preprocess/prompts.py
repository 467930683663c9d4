"""Object prompts, as HOLD's SAM clicks: a box or points that say where the object is on one or a
few frames (docs/FRONTEND.md, "Prompts").

    --object-box X0,Y0,X1,Y1[@FRAME]   the object lies inside this box (its edges touch the object)
    --object-point U,V[@FRAME]         this pixel is on the object
    --background-point U,V[@FRAME]     this pixel is not on the object (wall, table, the other hand)

Coordinates are pixels of the **source** video or frames, before any resizing or cropping:
x to the right, y down. A point (U, V) is the pixel at column U, row V; a box's (X0, Y0) is the
top-left corner of its first pixel and (X1, Y1) the bottom-right corner of its last one, so a
box covering columns 97…149 is X0 = 97, X1 = 150 (the convention of image editors and of
tests/data/core50_bulb_clip/bulb_boxes.json). FRAME is the source frame number, counted from 0
(default 0); it must be one of the frames the front-end keeps (``--every``, ``--max-frames``).

Every option may be repeated. Prompts are checked before any work: a malformed value, a prompt
outside the image, a frame the source does not have (or that is not kept), or a box with
X0 >= X1 or Y0 >= Y1 is one ``InputError`` naming the option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hold.io.errors import InputError

KINDS = {"box": "--object-box", "point": "--object-point", "background": "--background-point"}


@dataclass(frozen=True)
class Prompt:
    """One prompt in source pixels: ``values`` is (x0, y0, x1, y1) for a box, (u, v) for a point."""

    kind: str  # "box" | "point" | "background"
    values: tuple[float, ...]
    frame: int  # source frame number

    @property
    def option(self) -> str:
        """The prompt as it would be typed, for messages and the provenance."""
        numbers = ",".join(f"{v:g}" for v in self.values)
        return f"{KINDS[self.kind]} {numbers}@{self.frame}"


@dataclass
class FramePrompts:
    """The prompts of one kept frame, in that frame's (output) pixels."""

    boxes: list[np.ndarray]  # each [4] x0, y0, x1, y1 (pixel edges)
    points: list[np.ndarray]  # each [2] u, v (pixel centres)
    background: list[np.ndarray]  # each [2]


def parse_prompt(kind: str, text: str) -> Prompt:
    """``"x0,y0,x1,y1[@frame]"`` (box) or ``"u,v[@frame]"`` (points) → a Prompt; InputError
    naming the option when the text is malformed."""
    option = KINDS[kind]
    body, _, frame_text = str(text).partition("@")
    count = 4 if kind == "box" else 2
    shape = "X0,Y0,X1,Y1[@FRAME]" if kind == "box" else "U,V[@FRAME]"
    try:
        values = tuple(float(v) for v in body.split(","))
        frame = int(frame_text) if frame_text else 0
    except ValueError:
        raise InputError(f"{option} {text}: expected {shape} (numbers in source pixels, FRAME a whole "
                         f"number)") from None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise InputError(f"{option} {text}: expected {shape} ({count} finite numbers)")
    if frame < 0:
        raise InputError(f"{option} {text}: the frame number must be >= 0")
    if kind == "box" and (values[0] >= values[2] or values[1] >= values[3]):
        raise InputError(f"{option} {text}: a box needs X0 < X1 and Y0 < Y1 (top-left corner first)")
    return Prompt(kind, values, frame)


def parse_prompts(boxes=(), points=(), background=()) -> list[Prompt]:
    """The CLI's repeatable options → prompts (in the order given, boxes first)."""
    return ([parse_prompt("box", b) for b in boxes or ()] + [parse_prompt("point", p) for p in points or ()]
            + [parse_prompt("background", p) for p in background or ()])


def check_prompts(prompts: list[Prompt], source_size: tuple[int, int], source_count: int,
                  kept: list[int]) -> None:
    """InputError naming the option when a prompt lies outside the source frames (W, H), on a
    frame the source does not have, or on a frame that is not kept."""
    W, H = source_size
    for prompt in prompts:
        if prompt.frame >= source_count:
            raise InputError(f"{prompt.option}: frame {prompt.frame} does not exist (the source has "
                             f"{source_count} frames, numbered 0 to {source_count - 1})")
        if prompt.frame not in kept:
            shown = ", ".join(str(i) for i in kept[:6]) + (", …" if len(kept) > 6 else "")
            raise InputError(f"{prompt.option}: frame {prompt.frame} is not among the frames kept "
                             f"(--every/--max-frames keep {shown}); put the prompt on a kept frame")
        if prompt.kind == "box":
            x0, y0, x1, y1 = prompt.values
            if x0 < 0 or y0 < 0 or x1 > W or y1 > H:
                raise InputError(f"{prompt.option}: the box leaves the {W}x{H} source frame "
                                 f"(0 <= X0 < X1 <= {W}, 0 <= Y0 < Y1 <= {H})")
        else:
            u, v = prompt.values
            if not (0 <= u <= W - 1 and 0 <= v <= H - 1):
                raise InputError(f"{prompt.option}: the point is outside the {W}x{H} source frame "
                                 f"(0 <= U <= {W - 1}, 0 <= V <= {H - 1})")


def mirror_prompts(prompts: list[Prompt], source_width: int) -> list[Prompt]:
    """Prompts for the horizontally flipped source frames (a left hand is processed mirrored,
    ``hold.preprocess.handedness``): a point's column U → W − 1 − U, a box's edges X → W − X."""
    out = []
    for prompt in prompts:
        if prompt.kind == "box":
            x0, y0, x1, y1 = prompt.values
            values = (source_width - x1, y0, source_width - x0, y1)
        else:
            u, v = prompt.values
            values = (source_width - 1 - u, v)
        out.append(Prompt(prompt.kind, values, prompt.frame))
    return out


def to_frames(prompts: list[Prompt], kept: list[int], scale: float,
              crop: tuple[int, int, int, int] | None) -> dict[int, FramePrompts]:
    """Prompts per kept frame index t, in output pixels (after resizing by ``scale``, then the
    crop (x0, y0, w, h) of the resized frames)."""
    dx, dy = (crop[0], crop[1]) if crop is not None else (0, 0)
    out: dict[int, FramePrompts] = {}
    for prompt in prompts:
        t = kept.index(prompt.frame)
        entry = out.setdefault(t, FramePrompts([], [], []))
        if prompt.kind == "box":
            x0, y0, x1, y1 = prompt.values
            entry.boxes.append(np.array([x0 * scale - dx, y0 * scale - dy, x1 * scale - dx, y1 * scale - dy]))
        else:
            u, v = prompt.values
            uv = np.array([(u + 0.5) * scale - 0.5 - dx, (v + 0.5) * scale - 0.5 - dy])
            (entry.points if prompt.kind == "point" else entry.background).append(uv)
    return out


def extent_in_resized(prompts: list[Prompt], scale: float) -> np.ndarray | None:
    """[x0, y0, x1, y1] around every prompt in resized (uncropped) pixels, or None without
    prompts: an automatic crop must keep them."""
    if not prompts:
        return None
    corners = []
    for prompt in prompts:
        values = np.array(prompt.values, np.float64) * scale
        corners.append(values.reshape(-1, 2))
    corners = np.concatenate(corners)
    return np.concatenate([corners.min(0), corners.max(0)])


def check_inside_crop(prompts: list[Prompt], scale: float, crop: tuple[int, int, int, int]) -> None:
    """InputError when a prompt falls outside a crop the user gave (``--crop X,Y,W,H``)."""
    x0, y0, w, h = crop
    for prompt in prompts:
        values = np.array(prompt.values, np.float64).reshape(-1, 2) * scale
        if (values[:, 0] < x0).any() or (values[:, 1] < y0).any() or (values[:, 0] > x0 + w).any() \
                or (values[:, 1] > y0 + h).any():
            raise InputError(f"{prompt.option}: outside the --crop {x0},{y0},{w},{h} (in resized pixels)")
