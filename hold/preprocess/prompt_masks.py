"""The object's masks from prompts (``hold.preprocess.prompts``), as HOLD's SAM clicks: a box or
points seed the object on one or a few frames, and the seed is carried through the video.

On a prompted frame GrabCut (Rother et al. 2004, OpenCV's) starts from the prompts: outside a
box is background, inside it probably object; a point is surely object (a disc around it), a
background point surely not; the hand's pixels are never object. From there each frame takes
the mask of its neighbour towards the nearest prompted frame, carries it along the dense
optical flow between the two frames (DIS, Kroeger et al. 2016), and refines it with GrabCut
in a band around the carried mask: its eroded core is surely object, the band's outside surely
background. The band bounds how far the mask can drift per frame; a refinement that changes
the area by more than ``MAX_AREA_CHANGE`` is not trusted and the carried mask is kept.

Nothing here needs the background to be uncovered, so a white object in front of a white wall
(docs/FRONTEND.md, "Object segmentation and prompts") is segmented where the automatic masks
take it for wall.
"""

from __future__ import annotations

import cv2
import numpy as np

from hold.preprocess.prompts import FramePrompts

POINT_RADIUS_FRACTION = 0.012  # of the frame's longer side: the disc a point marks as object
BAND_FRACTION = 0.04  # of the frame's longer side: how far the mask may move per frame
CORE_FRACTION = 0.015  # erosion of the carried mask that is surely object
MAX_AREA_CHANGE = 0.35  # relative area change beyond which a frame's refinement is rejected
GRABCUT_ITERATIONS = 4
SLIVER_FRACTION = 0.05  # of the hand's length: label slivers thinner than this are opened away
HULL_RING_FRACTION = 0.3  # of the hand's length: how far beyond its hull an automatic seed may grow
WINDOW_MARGIN = 0.5
# The automatic label is replaced by the grown object when it is a fragment of it: the grown
# object is much larger and overlaps the label little. Chosen on 20 benchmark-like videos and the
# bulb clip (docs/FRONTEND.md): the bulb's label has IoU 0.20-0.25 with the grown object, which is
# 1.8-2.9 times its area; every benchmark video's IoU is >= 0.49 but one, whose grown object
# collapsed to 0.6 times the label's area.
GROW_MIN_AREA_RATIO = 1.3
GROW_MAX_IOU = 0.35  # GrabCut's window: the possible object's box grown by this much per side


def _disk(radius: int) -> np.ndarray:
    radius = max(1, int(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _grabcut(image: np.ndarray, seed: np.ndarray, models=None):
    """GrabCut from a GC_* seed map, on a window around what may be object (the background's
    colour model then describes the object's surroundings, not the whole frame: a white bulb
    is told from the wall next to it, not from every white in the room); the object [H, W]
    bool, or None when the seed has too little of either side for colour models; and the
    colour models (background, object) it ended with. Given ``models``, GrabCut keeps them
    (the prompted frame's appearance) instead of learning them from the seed."""
    fg = (seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)
    bg = (seed == cv2.GC_BGD) | (seed == cv2.GC_PR_BGD)
    if fg.sum() < 10 or bg.sum() < 10:
        return None, models
    H, W = seed.shape
    ys, xs = np.nonzero(fg)
    pad_x = round(WINDOW_MARGIN * (xs.max() - xs.min() + 1)) + 2
    pad_y = round(WINDOW_MARGIN * (ys.max() - ys.min() + 1)) + 2
    y0, y1 = max(0, ys.min() - pad_y), min(H, ys.max() + pad_y + 1)
    x0, x1 = max(0, xs.min() - pad_x), min(W, xs.max() + pad_x + 1)
    out = np.zeros((H, W), bool)
    window, models = _grabcut_window(image[y0:y1, x0:x1], seed[y0:y1, x0:x1], models)
    if window is None:
        return None, models
    out[y0:y1, x0:x1] = window
    return out, models


def _grabcut_window(image: np.ndarray, seed: np.ndarray, models):
    if ((seed == cv2.GC_BGD) | (seed == cv2.GC_PR_BGD)).sum() < 10:
        return None, models
    work = np.ascontiguousarray(seed)
    cv2.setRNGSeed(0)
    if models is None:
        bg_model, fg_model = np.zeros((1, 65)), np.zeros((1, 65))
        mode, iterations = cv2.GC_INIT_WITH_MASK, GRABCUT_ITERATIONS
    else:
        bg_model, fg_model = models[0].copy(), models[1].copy()
        mode, iterations = cv2.GC_EVAL_FREEZE_MODEL, 1
    try:
        cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), work, None, bg_model, fg_model, iterations, mode)
    except cv2.error:
        return None, models
    return (work == cv2.GC_FGD) | (work == cv2.GC_PR_FGD), (bg_model, fg_model)


def _keep_connected(mask: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """The components of ``mask`` that touch ``anchor`` (all of it when none does), holes filled."""
    count, comp = cv2.connectedComponents(mask.astype(np.uint8))
    touched = np.unique(comp[anchor & mask])
    touched = touched[touched > 0]
    if len(touched):
        mask = np.isin(comp, touched)
    flood = np.pad(mask.astype(np.uint8), 1)
    cv2.floodFill(flood, None, (0, 0), 1)
    return mask | (flood[1:-1, 1:-1] == 0)


def seed_mask(image: np.ndarray, hand: np.ndarray, prompts: FramePrompts) -> np.ndarray:
    """The object on a prompted frame [H, W] bool (module docstring)."""
    H, W = hand.shape
    v, u = np.mgrid[0:H, 0:W]
    radius = max(2, round(POINT_RADIUS_FRACTION * max(W, H)))
    seed = np.full((H, W), cv2.GC_PR_BGD, np.uint8)
    anchor = np.zeros((H, W), bool)
    if prompts.boxes:
        seed[:] = cv2.GC_BGD
        for x0, y0, x1, y1 in prompts.boxes:
            inside = (u + 0.5 > x0) & (u + 0.5 < x1) & (v + 0.5 > y0) & (v + 0.5 < y1)
            seed[inside] = cv2.GC_PR_FGD
            anchor |= inside
    else:  # points alone: object probably within a generous reach of them
        reach = 0.15 * max(W, H)
        for x, y in prompts.points:
            seed[(u - x) ** 2 + (v - y) ** 2 < reach ** 2] = cv2.GC_PR_FGD
    for x, y in prompts.points:
        disc = (u - x) ** 2 + (v - y) ** 2 <= radius ** 2
        seed[disc] = cv2.GC_FGD
        anchor |= disc
    seed[hand] = cv2.GC_BGD
    for x, y in prompts.background:
        seed[(u - x) ** 2 + (v - y) ** 2 <= radius ** 2] = cv2.GC_BGD
    mask, models = _grabcut(image, seed)
    if mask is None or not (mask & anchor).any():
        mask = (seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)
    return _keep_connected(mask, anchor) & ~hand, models


def _flow_carry(mask: np.ndarray, image_from: np.ndarray, image_to: np.ndarray,
                flow_engine) -> np.ndarray:
    """``mask`` of ``image_from`` carried to ``image_to``: moved by the 2D similarity (rotation,
    scale, shift) that best explains the dense optical flow inside it (RANSAC), so the mask
    keeps its shape where the flow is weak (a white object's plain surface), or along the flow
    itself (backward warp) when no similarity fits."""
    gray_from = cv2.cvtColor(image_from, cv2.COLOR_RGB2GRAY)
    gray_to = cv2.cvtColor(image_to, cv2.COLOR_RGB2GRAY)
    flow = flow_engine.calc(gray_from, gray_to, None)  # where each pixel of image_from goes
    H, W = mask.shape
    ys, xs = np.nonzero(mask)
    if len(xs) >= 10:
        step = max(1, len(xs) // 2000)
        src = np.stack([xs[::step], ys[::step]], 1).astype(np.float32)
        dst = src + flow[ys[::step], xs[::step]]
        similarity, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=2.0)
        if similarity is not None:
            return cv2.warpAffine(mask.astype(np.uint8), similarity, (W, H), flags=cv2.INTER_NEAREST) > 0
    back = flow_engine.calc(gray_to, gray_from, None)
    grid_x, grid_y = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
    carried = cv2.remap(mask.astype(np.float32), grid_x + back[..., 0], grid_y + back[..., 1],
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return carried > 0.5


def refine_carried(image: np.ndarray, carried: np.ndarray, hand: np.ndarray, models=None) -> np.ndarray:
    """GrabCut in a band around a carried mask (module docstring); [H, W] bool, including
    where the hand hides the carried mask (so the hidden part comes back when the hand moves)."""
    H, W = carried.shape
    if carried.sum() < 10:
        return carried
    side = max(W, H)
    band = cv2.dilate(carried.astype(np.uint8), _disk(round(BAND_FRACTION * side))) > 0
    core = cv2.erode(carried.astype(np.uint8), _disk(round(CORE_FRACTION * side))) > 0
    seed = np.full((H, W), cv2.GC_BGD, np.uint8)
    seed[band] = cv2.GC_PR_BGD
    seed[carried] = cv2.GC_PR_FGD
    seed[core] = cv2.GC_FGD
    seed[hand] = cv2.GC_BGD
    refined, _ = _grabcut(image, seed, models)
    visible = carried & ~hand
    if refined is None:
        return carried
    refined = _keep_connected(refined, core if core.any() else carried) & ~hand
    if visible.sum() and abs(refined.sum() / visible.sum() - 1) > MAX_AREA_CHANGE:
        return carried
    return refined | (carried & hand)


def prompted_object_masks(images: np.ndarray, hand: np.ndarray, prompts: dict[int, FramePrompts],
                          progress: bool = False, frozen: bool = True) -> np.ndarray:
    """Object masks [T, H, W] bool from prompts on some frames (``{t: FramePrompts}``, output
    pixels); ``hand`` [T, H, W] bool: the hand's pixels, never object."""
    from tqdm import tqdm

    T = len(images)
    seeds = sorted(prompts)
    if not seeds:
        raise ValueError("prompted_object_masks needs prompts on at least one frame")
    masks = np.zeros(hand.shape, bool)
    models = {}
    for t in seeds:
        masks[t], models[t] = seed_mask(images[t], hand[t], prompts[t])
        if prompts[t].boxes:  # the hidden part of a boxed object: the hand's pixels in the box
            masks[t] |= hand[t] & _boxes_area(prompts[t].boxes, hand[t].shape) & _near(masks[t])
    # Each frame follows its nearest prompted frame (ties: the earlier one), one step at a time.
    nearest = np.array([min(seeds, key=lambda s: (abs(s - t), s)) for t in range(T)])
    order = sorted((t for t in range(T) if t not in prompts), key=lambda t: abs(t - nearest[t]))
    flow_engine = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    for t in tqdm(order, desc="object from prompts", unit="frame", disable=not progress):
        previous = t - 1 if nearest[t] < t else t + 1
        carried = _flow_carry(masks[previous], images[previous], images[t], flow_engine)
        masks[t] = refine_carried(images[t], carried, hand[t], models[nearest[t]] if frozen else None)
    return masks & ~hand


def _boxes_area(boxes, shape) -> np.ndarray:
    H, W = shape
    v, u = np.mgrid[0:H, 0:W]
    area = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        area |= (u + 0.5 > x0) & (u + 0.5 < x1) & (v + 0.5 > y0) & (v + 0.5 < y1)
    return area


def _near(mask: np.ndarray) -> np.ndarray:
    """Within the band of ``mask`` (what a hand in front of it plausibly hides)."""
    return cv2.dilate(mask.astype(np.uint8), _disk(round(BAND_FRACTION * max(mask.shape)))) > 0


def seed_from_automatic(images: np.ndarray, labels_object: np.ndarray, hand: np.ndarray,
                        joints2d: np.ndarray) -> tuple[int, np.ndarray] | None:
    """An automatic prompt: (frame, box [x0, y0, x1, y1]) where the automatic object label is
    most complete, or None without one. Per frame, the object label's component nearest the
    fingertips (thin slivers along the hand's outline opened away) is closed to its convex hull
    (a white object's label is often a crescent along its shaded rim: the hull fills the lit
    side between), and GrabCut decides within a ring around the hull; the frame with the
    largest result gives the box."""
    T, H, W = labels_object.shape
    hand_len = np.nanmedian(np.linalg.norm(joints2d[:, 9] - joints2d[:, 0], axis=-1))
    hand_len = float(hand_len) if np.isfinite(hand_len) and hand_len > 2 else 0.1 * max(W, H)
    best: tuple[int, int, np.ndarray] | None = None
    for t in range(T):
        tips = joints2d[t, [4, 8, 12]]
        if not np.isfinite(tips).all():
            continue
        core = cv2.morphologyEx(labels_object[t].astype(np.uint8), cv2.MORPH_OPEN,
                                _disk(max(1, round(SLIVER_FRACTION * hand_len))))
        count, comp = cv2.connectedComponents(core)
        if count <= 1:
            continue
        centre = tips.mean(0)
        distance = [np.hypot(*(np.stack(np.nonzero(comp == c)[::-1]) - centre[:, None])).min()
                    for c in range(1, count)]
        if min(distance) > hand_len:
            continue
        core = comp == 1 + int(np.argmin(distance))
        hull = np.zeros((H, W), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.stack(np.nonzero(core)[::-1], 1).astype(np.int32)), 1)
        seed = np.full((H, W), cv2.GC_BGD, np.uint8)
        seed[cv2.dilate(hull, _disk(round(HULL_RING_FRACTION * hand_len))) > 0] = cv2.GC_PR_BGD
        seed[hull > 0] = cv2.GC_PR_FGD
        seed[core] = cv2.GC_FGD
        seed[hand[t]] = cv2.GC_BGD
        mask, _ = _grabcut(images[t], seed)
        mask = (hull > 0) if mask is None else _keep_connected(mask, core)
        mask &= ~hand[t]
        if mask.sum() and (best is None or mask.sum() > best[1]):
            ys, xs = np.nonzero(mask)
            best = (t, int(mask.sum()), np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float))
    return None if best is None else (best[0], best[2])


def grow_automatic_object(images: np.ndarray, labels_object: np.ndarray, hand: np.ndarray,
                          joints2d: np.ndarray) -> tuple[np.ndarray | None, dict]:
    """The automatic object label grown by an automatic prompt (``seed_from_automatic`` carried
    through the video like a user's box), when the label looks like a fragment of the object:
    the grown object is at least ``GROW_MIN_AREA_RATIO`` times larger and overlaps it little
    (IoU < ``GROW_MAX_IOU``): what a static-background model leaves of an object it took for
    background (a white bulb turning in front of a white wall). Else None: the label
    is kept. Returns (object masks [T, H, W] bool or None, info for the summary)."""
    seed = seed_from_automatic(images, labels_object, hand, joints2d)
    if seed is None:
        return None, {"used": False, "reason": "no automatic seed (no object label near the fingertips)"}
    frame, box = seed
    grown = prompted_object_masks(images, hand, {frame: FramePrompts([box], [], [])})
    inside = float((grown & labels_object).sum())
    recall = inside / max(1.0, float(labels_object.sum()))
    iou = inside / max(1.0, float((grown | labels_object).sum()))
    ratio = float(grown.sum()) / max(1.0, float(labels_object.sum()))
    used = ratio >= GROW_MIN_AREA_RATIO and iou < GROW_MAX_IOU
    info = {"used": used, "seed_frame": int(frame), "seed_box": [round(float(v), 1) for v in box],
            "label_inside_grown": round(recall, 3), "iou_label_grown": round(iou, 3),
            "area_grown_over_label": round(ratio, 3)}
    return (grown if used else None), info
