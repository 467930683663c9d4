"""Measure a front-end sequence or a reconstruction of the real bulb clip against its hand-drawn
bulb boxes (tests/data/core50_bulb_clip/bulb_boxes.json; docs/FRONTEND.md, issue 17).

- a sequence folder (``hold-fast preprocess``): per boxed frame, the box IoU of the object
  mask's bounding box, and the fractions of the bulb box labelled object and hand;
- a result folder (``hold-fast reconstruct``; its sequence is OUT/sequence unless ``--sequence``
  names it): per boxed frame, the box IoU of the object mesh projected with the result's pose
  and the sequence's K, and the object's largest extent (the longest side of its oriented
  bounding box, cm) against the bulb's (about 10 cm).

Boxes are in the source frames' pixels; the sequence's ``crop`` and ``frame_indices`` (meta.json)
map them to its frames (a resized video needs ``--source-width``).

Usage:
    python tools/measure_bulb.py FOLDER [--sequence SEQ] [--boxes FILE] [--source-width PX] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hold.io.sequence import LABEL_HAND, LABEL_OBJECT, load_result, load_sequence

BOXES = Path(__file__).resolve().parents[1] / "tests" / "data" / "core50_bulb_clip" / "bulb_boxes.json"
BULB_EXTENT_CM = 10.0  # a standard A60 bulb: 6 cm across, ~10.5 cm long


def box_iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def source_to_sequence(meta, source_width: float | None):
    """(scale, x0, y0): sequence pixel = scale · (source pixel edge) − (x0, y0), for box edges."""
    W = meta.image_size[0]
    if meta.crop is not None:
        x0, y0, w, _ = meta.crop
        scale = W / w
        return scale, x0 * scale, y0 * scale
    scale = W / source_width if source_width else 1.0
    return scale, 0.0, 0.0


def mask_box(mask: np.ndarray):
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def projected_box(vertices: np.ndarray, pose: np.ndarray, K: np.ndarray, size) -> tuple | None:
    """Bounding box of the posed mesh's projection (vertices in front of the camera), clipped to
    the image; pixel-edge coordinates like ``mask_box``."""
    camera = vertices @ pose[:3, :3].T + pose[:3, 3]
    camera = camera[camera[:, 2] > 1e-6]
    if len(camera) == 0:
        return None
    uv = camera @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    W, H = size
    x0, y0 = np.clip(uv.min(0) + 0.5, 0, [W, H])
    x1, y1 = np.clip(uv.max(0) + 0.5, 0, [W, H])
    return (float(x0), float(y0), float(x1), float(y1))


def extents_cm(vertices: np.ndarray) -> np.ndarray:
    """Side lengths [3] (cm, longest first) of the vertices' [N, 3] minimum-volume oriented
    bounding box. (Not ``bounding_box_oriented.extents``: that is the axis-aligned extent of the
    turned box, up to √3 times larger; it reported this clip's 9 cm object as 11.4 cm.)"""
    import trimesh

    _, sides = trimesh.bounds.oriented_bounds(np.asarray(vertices, np.float64))
    return np.sort(100 * np.asarray(sides))[::-1]


def largest_extent_cm(vertices: np.ndarray) -> float:
    return float(extents_cm(vertices)[0])


def measure(folder: Path, sequence: Path | None = None, boxes_file: Path = BOXES,
            source_width: float | None = None) -> dict:
    is_result = (folder / "result.json").is_file()
    seq = load_sequence(sequence or (folder / "sequence" if is_result else folder))
    boxes = json.loads(Path(boxes_file).read_text())["boxes"]
    scale, dx, dy = source_to_sequence(seq.meta, source_width)
    indices = seq.meta.frame_indices or list(range(seq.num_frames))
    result = load_result(folder, seq.num_frames) if is_result else None
    out: dict = {"folder": str(folder), "kind": "result" if is_result else "sequence", "frames": {}}
    for name, (x0, y0, x1, y1) in sorted(boxes.items()):
        if int(name) not in indices:
            continue
        t = indices.index(int(name))
        truth = (x0 * scale - dx, y0 * scale - dy, x1 * scale - dx, y1 * scale - dy)
        if is_result:
            box = projected_box(result.object_mesh.vertices, result.object_poses[t].astype(np.float64),
                                seq.meta.K, seq.meta.image_size)
            row = {"box": None if box is None else [round(v, 1) for v in box],
                   "iou": 0.0 if box is None else round(box_iou(box, truth), 3)}
        else:
            labels = seq.mask(t)
            box = mask_box(labels == LABEL_OBJECT)
            inside = labels[max(0, round(truth[1])):round(truth[3]), max(0, round(truth[0])):round(truth[2])]
            row = {"box": box, "iou": 0.0 if box is None else round(box_iou(box, truth), 3),
                   "object_in_box": round(float((inside == LABEL_OBJECT).mean()), 3),
                   "hand_in_box": round(float((inside == LABEL_HAND).mean()), 3)}
        out["frames"][name] = row
    ious = [r["iou"] for r in out["frames"].values()]
    out["min_iou"] = min(ious) if ious else float("nan")
    if is_result:
        sides = extents_cm(result.object_mesh.vertices)
        extent = float(sides[0])
        out["extents_cm"] = [round(float(v), 2) for v in sides]
        out["largest_extent_cm"] = round(extent, 2)
        out["extent_error_percent"] = round(100 * (extent - BULB_EXTENT_CM) / BULB_EXTENT_CM, 1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="sequence folder or result folder")
    parser.add_argument("--sequence", type=Path, help="the result's sequence (default: FOLDER/sequence)")
    parser.add_argument("--boxes", type=Path, default=BOXES)
    parser.add_argument("--source-width", type=float, help="width of the source frames when the sequence "
                                                           "was resized without a crop")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    out = measure(args.folder, args.sequence, args.boxes, args.source_width)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
