"""Label masks (0 background incl. forearm, 50 object, 150 right hand, 250 ignore).

Automatic masks for a static camera (``auto_masks``):

1. **Background model**: the per-pixel median colour over the frames where the pixel is not
   probably foreground (the fitted hand's silhouette, grown, and a first pass of change
   detection); pixels that are covered in every frame are inpainted from their surroundings
   (their change is a guess: step 5 does not take it as sure).
2. **Change**: the colour distance (CIELAB) of each frame to the background, thresholded at a
   multiple of the noise level measured on pixels far from the hand.
3. **Skin**: a Gaussian colour model (CIELAB a, b, and L loosely) learnt from the pixels inside
   the fitted hand's silhouette that changed; on the forearm's side, shaded skin too.
4. **Labels**: hand = skin-coloured pixels near the fitted hand silhouette on the fingers' side
   of the wrist; forearm (background) = skin-coloured change on the other side; object =
   changed, non-skin pixels in regions touching the hand (what moves with the hand).
5. **Refinement**: GrabCut (``cv2.grabCut``) of foreground vs background seeded with those
   labels, then the foreground split by the skin model: skin connected to the fitted hand is
   hand (a little beyond its silhouette, which carries the detector's error), skin is never
   object.

``import_masks`` reads a user's mask folder instead (HOLD's 0/50/150/250 PNGs, SAM/SAM-Track
label or colour PNGs, or per-class binary folders).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from hold.io.errors import InputError
from hold.io.sequence import LABEL_BACKGROUND, LABEL_HAND, LABEL_IGNORE, LABEL_OBJECT
from hold.preprocess.frames import list_image_files

MAX_BACKGROUND_FRAMES = 64
SKIN_THRESHOLD = 2.75  # Mahalanobis distance to the skin colour model
# Skin beyond the fitted silhouette joins the hand only when this close to the model (a stricter
# test: a skin-toned object part next to the fingers, e.g. a bulb's metal base, stays out).
SKIN_EXTENSION_THRESHOLD = 2.0
SKIN_EXTENSION_REACH = 0.5  # hand lengths beyond the grown silhouette that skin may join the hand
REACH_EXCLUSION = 0.9  # hand lengths around the fingertips kept out of the first background estimate
MIN_THRESHOLD = 4.0  # CIELAB units: the smallest colour change that counts as foreground
# Background within this many hand lengths of both the hand and the object label is marked
# ignore (``contact_band``): about half a finger's width.
CONTACT_BAND = 0.1


@dataclass
class MaskResult:
    labels: np.ndarray  # [T, H, W] uint8
    background: np.ndarray  # [H, W, 3] uint8 RGB background model
    info: dict
    # [T] pixels of visible skin: skin-coloured change connected to the fitted hand, on the
    # fingers' side of the wrist, not limited to the fitted silhouette (hand_depth.py)
    hand_skin_area: np.ndarray | None = None


def _lab(images: np.ndarray) -> np.ndarray:
    """RGB uint8 [..., H, W, 3] → CIELAB float32 (L in 0..100, a/b about −128..127)."""
    shape = images.shape
    flat = images.reshape(-1, shape[-3], shape[-2], 3)
    out = np.stack([cv2.cvtColor(f.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab) for f in flat])
    return out.reshape(shape).astype(np.float32)


def _disk(radius: int) -> np.ndarray:
    radius = max(1, int(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def background_model(images: np.ndarray, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median colour [H, W, 3] (float32 Lab) over frames where ``exclude`` [T, H, W] is False,
    and the mask [H, W] of pixels never seen uncovered (inpainted)."""
    T = len(images)
    pick = np.linspace(0, T - 1, min(T, MAX_BACKGROUND_FRAMES)).round().astype(int)
    lab = _lab(images[pick])
    masked = np.where(exclude[pick][..., None], np.nan, lab)
    seen = (~exclude[pick]).sum(0)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(masked, axis=0)
    unseen = seen < max(2, len(pick) // 10)
    fallback = np.median(lab, axis=0)
    median = np.where(np.isfinite(median), median, fallback)
    if unseen.any():
        rgb = (np.clip(cv2.cvtColor(median, cv2.COLOR_Lab2RGB), 0, 1) * 255).astype(np.uint8)
        filled = cv2.inpaint(rgb, unseen.astype(np.uint8), 7, cv2.INPAINT_TELEA)
        median = np.where(unseen[..., None], _lab(filled[None])[0], median)
    return median.astype(np.float32), unseen


def _change(lab: np.ndarray, background: np.ndarray, far: np.ndarray) -> tuple[np.ndarray, float]:
    """Colour distance [T, H, W] to the background (lightly blurred) and its noise level,
    measured on the pixels ``far`` [T, H, W] from the hand."""
    diff = lab - background[None]
    # Cast shadows darken without changing the hue: a pixel darkened by less than half of its
    # background lightness counts by its chroma change alone; a brighter one (a white object in
    # front of a grey wall) or a much darker one counts fully.
    shadow_like = (diff[..., 0] < 0) & (lab[..., 0] > 0.5 * background[None, ..., 0])
    lightness = np.where(shadow_like, 0.0, diff[..., 0])
    distance = np.sqrt(lightness**2 + diff[..., 1] ** 2 + diff[..., 2] ** 2)
    distance = np.stack([cv2.GaussianBlur(d, (0, 0), 1.0) for d in distance])
    sample = distance[far]
    noise = float(np.median(sample) * 1.4826) if sample.size else 2.0
    return distance, max(noise, 0.5)


class SkinModel:
    """Gaussian in CIELAB (a, b, L/3) fitted to hand pixels; ``distance`` is Mahalanobis.

    ``shade_distance`` is for skin in shadow: for a pixel darker than the typical skin, the
    Mahalanobis distance of its chromaticity (a/L, b/L: constant when the chroma falls with
    the lightness) to the skin's, a second Gaussian; infinite for the others. It is used where
    a false "skin" costs little (the forearm's side of the wrist, e.g. a shaded forearm that
    would otherwise be labelled object) and not for the hand itself (a dark, warm-toned object
    part would join it).
    """

    def __init__(self, samples: np.ndarray):
        if len(samples) < 50:
            raise InputError("too few hand pixels to learn the skin colour (is the hand visible?)")
        x = self._features(samples)
        self.mean = np.median(x, axis=0)
        spread = x - self.mean
        inliers = spread[np.linalg.norm(spread, axis=1) < 3 * np.median(np.linalg.norm(spread, axis=1)) + 1e-6]
        cov = np.cov(inliers.T) + np.eye(3) * 1.0
        self.inverse = np.linalg.inv(cov)
        self.lightness = float(np.median(samples.reshape(-1, 3)[:, 0]))
        y = self._chromaticity(samples)
        self.shade_mean = np.median(y, axis=0)
        spread = y - self.shade_mean
        norms = np.linalg.norm(spread, axis=1)
        inliers = spread[norms < 3 * np.median(norms) + 1e-6]
        self.shade_inverse = np.linalg.inv(np.cov(inliers.T) + np.eye(2) * 0.25)

    @staticmethod
    def _features(lab: np.ndarray) -> np.ndarray:
        lab = lab.reshape(-1, 3)
        return np.stack([lab[:, 1], lab[:, 2], lab[:, 0] / 3.0], axis=1)

    @staticmethod
    def _chromaticity(lab: np.ndarray) -> np.ndarray:
        """(a, b) rescaled to lightness 50: constant under shading."""
        lab = lab.reshape(-1, 3)
        scale = 50.0 / np.maximum(lab[:, 0], 10.0)
        return lab[:, 1:] * scale[:, None]

    def distance(self, lab: np.ndarray) -> np.ndarray:
        x = self._features(lab) - self.mean
        d = np.sqrt(np.einsum("ni,ij,nj->n", x, self.inverse, x))
        return d.reshape(lab.shape[:-1])

    def shade_distance(self, lab: np.ndarray) -> np.ndarray:
        y = self._chromaticity(lab) - self.shade_mean
        d = np.sqrt(np.einsum("ni,ij,nj->n", y, self.shade_inverse, y))
        darker = lab.reshape(-1, 3)[:, 0] < self.lightness
        return np.where(darker, d, np.inf).reshape(lab.shape[:-1])


def _forearm_side(joints2d: np.ndarray, size: tuple[int, int],
                  silhouette: np.ndarray | None = None) -> np.ndarray:
    """[H, W] bool: pixels on the forearm's side of a line across the wrist → middle-finger-
    knuckle axis, where the fitted hand model's silhouette [H, W] ends (the hand label should
    cover what the model renders, its wrist included), kept 0.25–0.5 hand lengths below the
    wrist joint (0.25 without a silhouette)."""
    W, H = size
    wrist, knuckle = joints2d[0], joints2d[9]
    axis = knuckle - wrist
    length = float(np.linalg.norm(axis))
    if not np.isfinite(length) or length < 1:
        return np.zeros((H, W), bool)
    axis /= length
    v, u = np.mgrid[0:H, 0:W]
    along = (u - wrist[0]) * axis[0] + (v - wrist[1]) * axis[1]
    cut = -0.25
    if silhouette is not None and silhouette.any():
        cut = float(np.clip(along[silhouette].min() / length, -0.5, -0.25))
    return along < cut * length


def _largest_components_near(binary: np.ndarray, anchor: np.ndarray, min_area: int) -> np.ndarray:
    """Connected components of ``binary`` that overlap ``anchor`` and have ≥ min_area pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    touching = np.unique(labels[anchor & binary])
    keep[touching] = True
    keep[0] = False
    keep &= stats[:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def _reach(joints2d: np.ndarray, hand_len: float, size: tuple[int, int]) -> np.ndarray:
    """[H, W] bool: discs around the thumb, index and middle fingertips (0.6 hand lengths)."""
    W, H = size
    canvas = np.zeros((H, W), np.uint8)
    for tip in joints2d[[4, 8, 12]]:
        if np.isfinite(tip).all():
            cv2.circle(canvas, (int(round(tip[0])), int(round(tip[1]))), max(2, int(round(0.6 * hand_len))), 1, -1)
    return canvas > 0


def _fill_holes(binary: np.ndarray) -> np.ndarray:
    H, W = binary.shape
    flood = np.pad(binary.astype(np.uint8), 1)
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return binary | holes


def contact_band(labels: np.ndarray, hand_len: float) -> tuple[np.ndarray, dict]:
    """Mark as ignore the background pixels within ``CONTACT_BAND`` hand lengths (``hand_len``,
    pixels) of both the hand and the object label, per frame; returns (labels [T, H, W] uint8,
    a copy; info for the summary).

    Where the fingers hold the object the labels are least sure: the object's part between and
    under the fingers is shaded, often a different material (a bulb's grey neck and metal base
    taken for wall on the real clip), and a "background" there tells the engine that nothing
    is where the fingers hold something, so training carves the held part away. Ignored pixels
    neither carve nor support (the visual hull abstains; training skips their colour and
    semantic terms): the hand–object contact and the views where that part is seen decide."""
    radius = max(1.0, CONTACT_BAND * hand_len)
    out = labels.copy()
    marked = 0
    for t in range(len(labels)):
        obj, hand = labels[t] == LABEL_OBJECT, labels[t] == LABEL_HAND
        if not obj.any() or not hand.any():
            continue
        # on the window around both labels (the band lies within it): distance of each pixel
        # to the nearest object / hand pixel
        ys, xs = np.nonzero(obj | hand)
        pad = int(np.ceil(radius)) + 1
        y0, y1 = max(0, ys.min() - pad), ys.max() + pad + 1
        x0, x1 = max(0, xs.min() - pad), xs.max() + pad + 1
        window = labels[t, y0:y1, x0:x1]
        near_obj = cv2.distanceTransform((window != LABEL_OBJECT).astype(np.uint8), cv2.DIST_L2, 5) <= radius
        near_hand = cv2.distanceTransform((window != LABEL_HAND).astype(np.uint8), cv2.DIST_L2, 5) <= radius
        band = near_obj & near_hand & (window == LABEL_BACKGROUND)
        out[t, y0:y1, x0:x1][band] = LABEL_IGNORE
        marked += int(band.sum())
    return out, {"contact_band_px": round(radius, 2), "contact_band_pixels_per_frame": round(marked / max(1, len(labels)), 1)}


def auto_masks(images: np.ndarray, hand_silhouettes: np.ndarray, joints2d: np.ndarray,
               refine: bool = True, progress: bool = False) -> MaskResult:
    """Automatic labels [T, H, W] for a static camera (module docstring).

    images [T, H, W, 3] uint8 RGB; hand_silhouettes [T, H, W] bool (the fitted hand model);
    joints2d [T, 21, 2] fitted keypoints in pixels.
    """
    T, H, W = images.shape[:3]
    hand_len = np.nanmedian(np.linalg.norm(joints2d[:, 9] - joints2d[:, 0], axis=-1))
    hand_len = float(hand_len) if np.isfinite(hand_len) and hand_len > 2 else 0.1 * max(W, H)
    grow = _disk(round(0.35 * hand_len))
    near_hand = np.stack([cv2.dilate(s.astype(np.uint8), _disk(round(1.5 * hand_len))) > 0 for s in hand_silhouettes])
    forearm = np.stack([_forearm_side(j, (W, H), s) for j, s in zip(joints2d, hand_silhouettes)])

    # 1-2: background (two passes: exclude the grown hand and the reach of its fingertips, where
    # the held object must be; then everything that changed).
    lab = _lab(images)
    exclude = np.stack([cv2.dilate(s.astype(np.uint8), grow) > 0 for s in hand_silhouettes])
    v, u = np.mgrid[0:H, 0:W]
    for t in range(T):
        tips = joints2d[t, [4, 8, 12]]
        if np.isfinite(tips).all():
            centre = tips.mean(0)
            exclude[t] |= (u - centre[0]) ** 2 + (v - centre[1]) ** 2 < (REACH_EXCLUSION * hand_len) ** 2
    background, _ = background_model(images, exclude)
    distance, noise = _change(lab, background, ~near_hand)
    threshold = max(4.0 * noise, MIN_THRESHOLD)
    changed = distance > threshold
    background, unseen = background_model(images, exclude | np.stack([cv2.dilate(c.astype(np.uint8), _disk(2)) > 0
                                                                         for c in changed]))
    distance, noise = _change(lab, background, ~near_hand)
    threshold = max(4.0 * noise, MIN_THRESHOLD)
    changed = distance > threshold

    # 3: skin colour from changed pixels well inside the fitted silhouette.
    core = np.stack([cv2.erode(s.astype(np.uint8), _disk(max(1, round(0.08 * hand_len)))) > 0
                     for s in hand_silhouettes]) & ~forearm
    samples = lab[core & changed]
    if len(samples) < 200:
        samples = lab[core]
    skin_model = SkinModel(samples)
    skin_distance = skin_model.distance(lab)
    skin = skin_distance < SKIN_THRESHOLD
    arm_skin = skin | (skin_model.shade_distance(lab) < SKIN_THRESHOLD)

    def label_frame(t: int) -> tuple[np.ndarray, int]:
        silhouette = hand_silhouettes[t]
        touching = cv2.dilate(silhouette.astype(np.uint8), _disk(3)) > 0
        skin_area = int(_largest_components_near(skin[t] & changed[t] & ~forearm[t], touching, 10).sum())
        sil_grown = cv2.dilate(silhouette.astype(np.uint8), _disk(max(2, round(0.12 * hand_len)))) > 0
        fg = cv2.morphologyEx(changed[t].astype(np.uint8), cv2.MORPH_OPEN, _disk(1)) > 0
        fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, _disk(2)) > 0
        hand = skin[t] & sil_grown & ~forearm[t] & (fg | silhouette)
        arm = arm_skin[t] & forearm[t] & (fg | sil_grown)
        candidate = fg & ~skin[t] & ~arm & near_hand[t]
        # What moves with the hand is held by the fingertips: object regions must reach them.
        anchor = _reach(joints2d[t], hand_len, (W, H))
        obj = _largest_components_near(candidate, anchor, max(10, int(0.02 * hand_len**2)))
        if refine:
            hand, obj = _grabcut(images[t], hand, obj, arm, skin_distance[t], arm_skin[t], sil_grown,
                                 forearm[t], anchor, hand_len, unseen)
        obj = _fill_holes(obj) & ~hand
        frame = np.zeros((H, W), np.uint8)
        frame[obj] = LABEL_OBJECT
        frame[hand] = LABEL_HAND
        return frame, skin_area

    # Frames are independent and OpenCV releases the GIL (GrabCut is most of the time): a thread
    # per core. Each GrabCut seeds its thread's own RNG (cv2.setRNGSeed is per thread), so the
    # labels do not depend on the thread count.
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        done = list(tqdm(pool.map(label_frame, range(T)), total=T, desc="masks", unit="frame",
                         disable=not progress))
    labels = np.stack([frame for frame, _ in done])
    skin_area = np.array([area for _, area in done], np.int64)
    info = {"method": "auto: background median + change + skin model + GrabCut" if refine
            else "auto: background median + change + skin model",
            "noise_lab": round(noise, 3), "threshold_lab": round(threshold, 3),
            "never_uncovered_fraction": round(float(unseen.mean()), 4),
            "skin_mean_ab": [round(float(v), 2) for v in skin_model.mean[:2]]}
    rgb_background = (np.clip(cv2.cvtColor(background, cv2.COLOR_Lab2RGB), 0, 1) * 255).round().astype(np.uint8)
    return MaskResult(labels, rgb_background, info, skin_area)


def _grabcut(image, hand, obj, arm, skin_distance, arm_skin, sil_grown, forearm, reach, hand_len,
             guessed=None):
    """GrabCut of hand ∪ object against the background, seeded by the first labels; the
    result is split by skin colour: skin next to the fitted hand is hand, skin is never object.
    ``guessed`` [H, W]: pixels whose background was never seen (inpainted); their "change" is a
    guess, so object seeds there are only probable and GrabCut's colour models decide.
    Returns (hand, object) [H, W] bool."""
    union = hand | obj
    if union.sum() < 20:
        return hand, obj
    H, W = union.shape
    seed = np.full((H, W), cv2.GC_BGD, np.uint8)
    region = cv2.dilate(union.astype(np.uint8), _disk(max(3, round(0.25 * hand_len)))) > 0
    seed[region] = cv2.GC_PR_BGD
    seed[union] = cv2.GC_PR_FGD
    sure = cv2.erode(union.astype(np.uint8), _disk(2)) > 0
    if guessed is not None:
        sure &= hand | ~guessed
    seed[sure] = cv2.GC_FGD
    seed[arm & ~sil_grown] = cv2.GC_BGD
    ys, xs = np.nonzero(region)
    pad = 4
    y0, y1 = max(0, ys.min() - pad), min(H, ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(W, xs.max() + pad + 1)
    sub = np.ascontiguousarray(seed[y0:y1, x0:x1])
    bgr = np.ascontiguousarray(image[y0:y1, x0:x1, ::-1])
    if (sub == cv2.GC_BGD).sum() < 20 or ((sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)).sum() < 20:
        return hand, obj
    cv2.setRNGSeed(0)
    bg_model, fg_model = np.zeros((1, 65)), np.zeros((1, 65))
    try:
        cv2.grabCut(bgr, sub, None, bg_model, fg_model, 3, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return hand, obj
    out = np.zeros((H, W), bool)
    out[y0:y1, x0:x1] = (sub == cv2.GC_FGD) | (sub == cv2.GC_PR_FGD)
    out = cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_OPEN, _disk(1)) > 0
    skin = skin_distance < SKIN_THRESHOLD
    new_hand = out & skin & sil_grown & ~forearm
    # The fitted silhouette is off by the detector's error (a few pixels, a palm where the
    # detector was wrong): clearly skin-coloured pixels connected to the hand join it, up to
    # SKIN_EXTENSION_REACH hand lengths beyond the silhouette.
    beyond = _disk(max(2, round(SKIN_EXTENSION_REACH * hand_len)))
    reach_out = cv2.dilate(sil_grown.astype(np.uint8), beyond) > 0
    extension = out & (skin_distance < SKIN_EXTENSION_THRESHOLD) & ~forearm & reach_out
    new_hand |= _largest_components_near(extension | new_hand, new_hand, 1)
    # Skin left over (wrist, forearm, knuckles beyond the reach) is background, never object.
    new_obj = out & ~new_hand & ~skin & ~(forearm & arm_skin)
    new_obj = _largest_components_near(new_obj, obj & reach,
                                       max(10, int(0.02 * hand_len**2)))
    return new_hand, new_obj


# ------------------------------------------------------------------------------------ import


def _read_gray(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: cannot decode mask image")
    if image.dtype != np.uint8:
        image = (image > 0).astype(np.uint8) * 255
    return image


def _to_labels(image: np.ndarray, path: Path, object_ids, hand_ids) -> np.ndarray:
    """One mask image → labels. HOLD grey labels pass through; other label images (SAM-Track's
    id PNGs) use ``object_ids``/``hand_ids``; colour images map each colour to an id first."""
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = image[..., :3]
        if (image[..., 0] == image[..., 1]).all() and (image[..., 0] == image[..., 2]).all():
            image = image[..., 0]
        else:
            # Colour-coded ids (SAM-Track's palette PNGs saved as RGB): id = packed colour.
            packed = image[..., 0].astype(np.int64) | (image[..., 1].astype(np.int64) << 8) | (image[..., 2].astype(np.int64) << 16)
            colours = [c for c in np.unique(packed) if c != 0]
            if object_ids is None or hand_ids is None:
                raise InputError(f"{path}: a colour mask needs --mask-object-id and --mask-hand-id "
                                 f"(colours as 0xBBGGRR ids: {[hex(c) for c in colours[:6]]})")
            image = packed
    values = set(np.unique(image).tolist())
    labels = np.zeros(image.shape[:2], np.uint8)
    if object_ids is None and hand_ids is None:
        if values <= {0, 50, 150, 250}:
            return image.astype(np.uint8)
        if values <= {0, 1, 2, 3}:  # SAM-Track style ids in HOLD's order: 1 object, 2 right, 3 left
            labels[image == 1] = LABEL_OBJECT
            labels[image == 2] = LABEL_HAND
            labels[image == 3] = LABEL_IGNORE
            return labels
        raise InputError(f"{path}: label values {sorted(values)[:8]} are not HOLD's 0/50/150/250 nor ids "
                         f"0..3; say which ids are the object and the hand with --mask-object-id/--mask-hand-id")
    for value in object_ids or []:
        labels[image == value] = LABEL_OBJECT
    for value in hand_ids or []:
        labels[image == value] = LABEL_HAND
    return labels


def import_masks(folder: str | os.PathLike, indices: list[int], source_count: int,
                 source_size: tuple[int, int], object_ids=None, hand_ids=None) -> np.ndarray:
    """Labels [T, H, W] (source size) for the kept source frames ``indices`` from a folder:

    - one image per source frame (or per kept frame): HOLD's 0/50/150/250 label PNGs, id PNGs
      (0 background, 1 object, 2 right hand, 3 other hand, or ids given explicitly), or colour
      id PNGs with explicit ids;
    - or per-class subfolders ``object/`` and ``hand/`` (``right/`` also accepted) of binary
      masks (non-zero = in the class), e.g. SAM outputs saved per prompt.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--masks {folder}: not a folder")
    per_class = {name: folder / name for name in ("object", "hand", "right") if (folder / name).is_dir()}
    if "object" in per_class and ("hand" in per_class or "right" in per_class):
        obj_files = list_image_files(per_class["object"])
        hand_files = list_image_files(per_class.get("hand", per_class.get("right")))
        files = list(zip(obj_files, hand_files))
        if len(obj_files) != len(hand_files):
            raise InputError(f"{folder}: object/ has {len(obj_files)} masks, hand/ has {len(hand_files)}")
    else:
        files = list_image_files(folder)
    if len(files) == source_count:
        chosen = [files[i] for i in indices]
    elif len(files) == len(indices):
        chosen = files
    else:
        raise InputError(f"--masks {folder}: {len(files)} masks, expected one per source frame ({source_count}) "
                         f"or per kept frame ({len(indices)})")
    W, H = source_size
    out = np.zeros((len(chosen), H, W), np.uint8)
    for t, entry in enumerate(chosen):
        if isinstance(entry, tuple):
            obj, hand = (_read_gray(p) for p in entry)
            for image, path in ((obj, entry[0]), (hand, entry[1])):
                if image.shape[:2] != (H, W):
                    raise InputError(f"{path}: mask is {image.shape[1]}x{image.shape[0]}, the frames are {W}x{H}")
            labels = np.zeros((H, W), np.uint8)
            labels[(obj.reshape(H, W, -1) > 0).any(-1)] = LABEL_OBJECT
            labels[(hand.reshape(H, W, -1) > 0).any(-1)] = LABEL_HAND
        else:
            image = _read_gray(entry)
            if image.shape[:2] != (H, W):
                raise InputError(f"{entry}: mask is {image.shape[1]}x{image.shape[0]}, the frames are {W}x{H}")
            labels = _to_labels(image, entry, object_ids, hand_ids)
        out[t] = labels
    return out


def resize_labels(labels: np.ndarray, scale: float, crop) -> np.ndarray:
    """Source-size labels → output frames (nearest neighbour, then the crop)."""
    if scale != 1.0:
        H, W = labels.shape[1:]
        size = (max(1, round(W * scale)), max(1, round(H * scale)))
        labels = np.stack([cv2.resize(m, size, interpolation=cv2.INTER_NEAREST) for m in labels])
    if crop is not None:
        x0, y0, w, h = crop
        labels = labels[:, y0:y0 + h, x0:x0 + w]
    return np.ascontiguousarray(labels)


__all__ = ["LABEL_BACKGROUND", "MaskResult", "SkinModel", "auto_masks", "background_model", "import_masks",
           "resize_labels"]
