"""The sequence folder and the result folder of docs/SEQUENCE_FORMAT.md (format versions 1 and 2;
version 2 adds left hands, ``"hands": ["left"]``).

Readers validate everything that can be checked without decoding pixels (meta.json, array
shapes and values, image/mask sizes from the PNG headers, pose rigidity) and raise one
``InputError`` naming the file and the field. Pixels are decoded lazily, one frame at a time.
Writers build the folder in a temporary sibling, validate it with the readers, then rename it
into place.

``load_sequence`` never touches ``gt/``: the engine must not read it. Evaluation code calls
``load_ground_truth`` separately.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hold.io.atomic import atomic_directory, save_npy_atomic, write_json_atomic
from hold.io.errors import InputError
from hold.io.images import png_header, read_image, read_mask, write_image, write_mask
from hold.io.mesh import Mesh, load_mesh, save_mesh
from hold.io.video import write_video

SEQUENCE_FORMAT = "hold-fast-sequence"
RESULT_FORMAT = "hold-fast-result"
FORMAT_VERSION = 2  # the newest version this code reads and writes
READABLE_VERSIONS = (1, 2)
HAND_SIDES = ("right", "left")
NUM_JOINTS = 21
RIGID_TOLERANCE = 1e-4

LABEL_BACKGROUND = 0  # background, forearm included
LABEL_OBJECT = 50
LABEL_HAND = 150  # the right hand
LABEL_IGNORE = 250  # e.g. another hand
MASK_LABELS = (LABEL_BACKGROUND, LABEL_OBJECT, LABEL_HAND, LABEL_IGNORE)

MANO_SHAPES = {"hand_pose": (None, 45), "global_orient": (None, 3), "transl": (None, 3), "betas": (10,)}


# --------------------------------------------------------------------------- meta.json


@dataclass
class SequenceMeta:
    """The fields of meta.json (``format`` and ``version`` are implied)."""

    num_frames: int
    image_size: tuple[int, int]  # (width, height) in pixels
    K: np.ndarray  # [3, 3] float64 intrinsics for image_size
    fps: float = 30.0
    hands: tuple[str, ...] = ("right",)
    frame_indices: list[int] | None = None
    crop: list[float] | None = None  # [x0, y0, width, height] in the source frames
    provenance: dict = field(default_factory=dict)
    source: str = ""

    def to_json(self) -> dict:
        out = {
            "format": SEQUENCE_FORMAT,
            "version": version_for(self.hands),
            "num_frames": int(self.num_frames),
            "image_size": [int(self.image_size[0]), int(self.image_size[1])],
            "K": np.asarray(self.K, dtype=np.float64).tolist(),
            "fps": float(self.fps),
            "hands": list(self.hands),
            "provenance": dict(self.provenance),
            "source": self.source,
        }
        if self.frame_indices is not None:
            out["frame_indices"] = [int(i) for i in self.frame_indices]
        if self.crop is not None:
            out["crop"] = [float(c) for c in self.crop]
        return out


def version_for(hands) -> int:
    """The format version a folder of these hands is written with: 1 for a right hand (so that
    readers of version 1 still read it), 2 for a left hand."""
    return 1 if list(hands) == ["right"] else FORMAT_VERSION


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: missing")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object at the top level")
    return data


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x)


def _check_format(data: dict, path: Path, expected_format: str) -> None:
    if data.get("format") != expected_format:
        raise InputError(
            f"{path}: field 'format' is {data.get('format')!r}, expected {expected_format!r}"
        )
    if data.get("version") not in READABLE_VERSIONS:
        raise InputError(
            f"{path}: field 'version' is {data.get('version')!r}; this reader knows versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )


def _check_num_frames(data: dict, path: Path) -> int:
    num_frames = data.get("num_frames")
    if not _is_int(num_frames) or num_frames < 1:
        raise InputError(f"{path}: field 'num_frames' must be a positive integer, got {num_frames!r}")
    return num_frames


def parse_meta(data: dict, path: Path) -> SequenceMeta:
    """Validate a meta.json object (``path`` is only used in messages)."""
    _check_format(data, path, SEQUENCE_FORMAT)
    num_frames = _check_num_frames(data, path)

    size = data.get("image_size")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(s) and s > 0 for s in size)):
        raise InputError(f"{path}: field 'image_size' must be [width, height] in pixels, got {size!r}")

    K = data.get("K")
    try:
        K = np.array(K, dtype=np.float64)
    except (TypeError, ValueError):
        K = None
    if K is None or K.shape != (3, 3) or not np.isfinite(K).all():
        raise InputError(f"{path}: field 'K' must be a 3x3 matrix of numbers")
    if K[0, 0] <= 0 or K[1, 1] <= 0 or K[1, 0] != 0 or not np.array_equal(K[2], [0, 0, 1]):
        raise InputError(
            f"{path}: field 'K' must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0, "
            f"got {K.tolist()}"
        )

    hands = data.get("hands")
    if data["version"] == 1 and hands != ["right"]:
        raise InputError(f"{path}: field 'hands' is {hands!r}; format version 1 supports [\"right\"] only "
                         f"(version 2 also [\"left\"])")
    if not (isinstance(hands, list) and len(hands) == 1 and hands[0] in HAND_SIDES):
        raise InputError(f"{path}: field 'hands' is {hands!r}; expected [\"right\"] or [\"left\"] (one hand)")

    fps = data.get("fps", 30.0)
    if not _is_number(fps) or fps <= 0:
        raise InputError(f"{path}: field 'fps' must be a positive number, got {fps!r}")

    frame_indices = data.get("frame_indices")
    if frame_indices is not None and not (
        isinstance(frame_indices, list)
        and len(frame_indices) == num_frames
        and all(_is_int(i) for i in frame_indices)
    ):
        raise InputError(f"{path}: field 'frame_indices' must be a list of num_frames={num_frames} integers")

    crop = data.get("crop")
    if crop is not None and not (
        isinstance(crop, list) and len(crop) == 4 and all(_is_number(c) for c in crop)
        and crop[2] > 0 and crop[3] > 0
    ):
        raise InputError(f"{path}: field 'crop' must be [x0, y0, width, height], got {crop!r}")

    provenance = data.get("provenance", {})
    if not isinstance(provenance, dict):
        raise InputError(f"{path}: field 'provenance' must be an object")
    source = data.get("source", "")
    if not isinstance(source, str):
        raise InputError(f"{path}: field 'source' must be a string")

    return SequenceMeta(
        num_frames=num_frames,
        image_size=(size[0], size[1]),
        K=K,
        fps=float(fps),
        hands=(hands[0],),
        frame_indices=frame_indices,
        crop=crop,
        provenance=provenance,
        source=source,
    )


def load_meta(seq_dir: str | os.PathLike) -> SequenceMeta:
    seq_dir = _existing_folder(seq_dir, "sequence folder")
    return parse_meta(_read_json(seq_dir / "meta.json"), seq_dir / "meta.json")


def _existing_folder(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: {what} does not exist")
    return path


# --------------------------------------------------------------------------- array checks


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{path}: cannot read as a .npy array ({e})") from None


def _as_float_array(array: np.ndarray, path: Path | str) -> np.ndarray:
    if array.dtype.kind not in "fiu":
        raise InputError(f"{path}: expected a float array, got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def _check_shape(array: np.ndarray, expected: tuple, path: Path | str, num_frames: int | None) -> None:
    """``expected`` uses None for the frame axis (filled from num_frames) and -1 for 'any'."""
    want = tuple(num_frames if d is None else d for d in expected)
    ok = array.ndim == len(want) and all(w == -1 or w == a for w, a in zip(want, array.shape))
    if not ok:
        shown = ", ".join(
            "N" if w == -1 else (f"T={w}" if d is None else str(w)) for d, w in zip(expected, want)
        )
        note = f" (num_frames={num_frames} in meta.json)" if None in expected else ""
        raise InputError(f"{path}: shape {tuple(array.shape)}, expected [{shown}]{note}")


def check_rigid(poses: np.ndarray, path: Path | str, allow_missing: bool) -> None:
    """Every pose [T, 4, 4] must be rigid within RIGID_TOLERANCE. With ``allow_missing`` a frame
    may be a whole matrix of NaN (the producer could not fill it); partial NaN never passes."""
    nan_any = np.isnan(poses).any(axis=(1, 2))
    nan_all = np.isnan(poses).all(axis=(1, 2))
    for t in np.flatnonzero(nan_any):
        if not (allow_missing and nan_all[t]):
            what = "has NaN entries" if allow_missing else "is NaN"
            hint = "; a missing frame must be a whole matrix of NaN" if allow_missing else ""
            raise InputError(f"{path}: frame {t} {what}{hint}")
    if np.isinf(poses).any():
        raise InputError(f"{path}: frame {int(np.flatnonzero(np.isinf(poses).any(axis=(1, 2)))[0])} is infinite")
    filled = np.flatnonzero(~nan_all)
    if len(filled) == 0:
        return
    P = poses[filled].astype(np.float64)
    R = P[:, :3, :3]
    orth = np.abs(np.einsum("tji,tjk->tik", R, R) - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(R)
    bottom = np.abs(P[:, 3] - np.array([0, 0, 0, 1.0])).max(axis=1)
    bad = (orth > RIGID_TOLERANCE) | (np.abs(det - 1) > RIGID_TOLERANCE) | (bottom > RIGID_TOLERANCE)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: frame {filled[i]} is not a rigid transform (max |RᵀR − I| = {orth[i]:.2g}, "
            f"det R = {det[i]:.6g}, last row {P[i, 3].tolist()}; tolerance {RIGID_TOLERANCE})"
        )


def _load_frames_array(path: Path, expected: tuple, num_frames: int) -> np.ndarray:
    array = _as_float_array(_load_npy(path), path)
    _check_shape(array, expected, path, num_frames)
    return array


# --------------------------------------------------------------------------- sequence


@dataclass
class SequenceInit:
    """The optional ``init/`` inputs. A row of NaN marks a frame the producer could not fill."""

    hand_joints: np.ndarray | None = None  # [T, 21, 3] float32, camera frame, metres
    hand_keypoints2d: np.ndarray | None = None  # [T, 21, 3] float32 (u, v, confidence)
    object_poses: np.ndarray | None = None  # [T, 4, 4] float32 object → camera
    object_points: np.ndarray | None = None  # [N, 3] float32, object frame
    mano: dict[str, np.ndarray] | None = None  # hand_pose [T,45], global_orient, transl [T,3], betas [10]
    provenance: dict | None = None  # init/provenance.json


@dataclass
class GroundTruth:
    """The ``gt/`` folder: for evaluation only."""

    hand_joints: np.ndarray  # [T, 21, 3] float32
    object_mesh: Mesh  # object frame, metres
    object_poses: np.ndarray  # [T, 4, 4] float32 object → camera
    valid: np.ndarray  # [T] bool, frames to score
    # [T, H, W] uint8 exact label images (gt/masks/, optional): what the masks/ of a sequence
    # would be without noise; scores a front-end's masks against a clean reference.
    masks: np.ndarray | None = None

    def subset(self, frames: np.ndarray) -> "GroundTruth":
        """The ground truth of the frames ``frames`` (indices into this one's)."""
        return GroundTruth(self.hand_joints[frames], self.object_mesh, self.object_poses[frames], self.valid[frames],
                           None if self.masks is None else self.masks[frames])


def _read_labels(path: Path) -> np.ndarray:
    """A label image [H, W] uint8, refused when it has a value outside MASK_LABELS."""
    mask = read_mask(path)
    unknown = np.setdiff1d(np.unique(mask), MASK_LABELS)
    if len(unknown):
        raise InputError(f"{path}: unknown label values {unknown.tolist()}; allowed {list(MASK_LABELS)}")
    return mask


def _png_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())


class Sequence:
    """A validated sequence folder. Pixels stay on disk until asked for."""

    def __init__(self, root: Path, meta: SequenceMeta, image_paths: list[Path],
                 mask_paths: list[Path] | None, init: SequenceInit):
        self.root = root
        self.meta = meta
        self.image_paths = image_paths
        self.mask_paths = mask_paths
        self.init = init

    @property
    def num_frames(self) -> int:
        return self.meta.num_frames

    def __len__(self) -> int:
        return self.meta.num_frames

    @property
    def has_masks(self) -> bool:
        return self.mask_paths is not None

    def image(self, t: int) -> np.ndarray:
        """Frame t, [H, W, 3] uint8 RGB."""
        return read_image(self.image_paths[t])

    def mask(self, t: int) -> np.ndarray:
        """Label image of frame t, [H, W] uint8 with values in MASK_LABELS."""
        if self.mask_paths is None:
            raise InputError(f"{self.root / 'masks'}: this sequence has no masks")
        return _read_labels(self.mask_paths[t])

    def iter_images(self) -> Iterator[np.ndarray]:
        for t in range(self.num_frames):
            yield self.image(t)

    def load_images(self) -> np.ndarray:
        """All frames, [T, H, W, 3] uint8 (loads everything into memory)."""
        return np.stack(list(self.iter_images()))

    def load_masks(self) -> np.ndarray:
        """All masks, [T, H, W] uint8."""
        return np.stack([self.mask(t) for t in range(self.num_frames)])


def _frame_files(folder: Path, num_frames: int, size: tuple[int, int], what: str) -> list[Path]:
    files = _png_files(folder)
    if len(files) != num_frames:
        raise InputError(
            f"{folder}: {len(files)} .png files, expected num_frames={num_frames} from meta.json"
        )
    for path in files:
        width, height, bit_depth, _ = png_header(path)
        if (width, height) != tuple(size):
            raise InputError(
                f"{path}: {what} is {width}x{height}, expected image_size {size[0]}x{size[1]} from meta.json"
            )
        if bit_depth != 8:
            raise InputError(f"{path}: {what} must be 8-bit, got {bit_depth}-bit")
    return files


def _load_init(init_dir: Path, num_frames: int) -> SequenceInit:
    init = SequenceInit()
    if not init_dir.is_dir():
        return init
    path = init_dir / "hand_joints.npy"
    if path.exists():
        init.hand_joints = _load_frames_array(path, (None, NUM_JOINTS, 3), num_frames)
        if np.isinf(init.hand_joints).any():
            raise InputError(f"{path}: contains infinity (use NaN for unknown frames)")
    path = init_dir / "hand_keypoints2d.npy"
    if path.exists():
        init.hand_keypoints2d = _load_frames_array(path, (None, NUM_JOINTS, 3), num_frames)
        if np.isinf(init.hand_keypoints2d).any():
            raise InputError(f"{path}: contains infinity (use NaN for unknown frames)")
    path = init_dir / "object_poses.npy"
    if path.exists():
        init.object_poses = _load_frames_array(path, (None, 4, 4), num_frames)
        check_rigid(init.object_poses, path, allow_missing=True)
    path = init_dir / "object_points.npy"
    if path.exists():
        points = _as_float_array(_load_npy(path), path)
        _check_shape(points, (-1, 3), path, None)
        if len(points) == 0 or not np.isfinite(points).all():
            raise InputError(f"{path}: expected at least one point and only finite values")
        init.object_points = points
    path = init_dir / "mano.npz"
    if path.exists():
        init.mano = _load_mano(path, num_frames)
    path = init_dir / "provenance.json"
    if path.exists():
        init.provenance = _read_json(path)
    return init


def _load_mano(path: Path, num_frames: int) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{path}: cannot read as .npz ({e})") from None
    out = {}
    for key, shape in MANO_SHAPES.items():
        if key not in arrays:
            raise InputError(f"{path}: missing array '{key}'")
        array = _as_float_array(arrays[key], f"{path}['{key}']")
        _check_shape(array, shape, f"{path}['{key}']", num_frames)
        out[key] = array
    return out


def load_sequence(seq_dir: str | os.PathLike) -> Sequence:
    """Read and validate a sequence folder (never reads ``gt/``)."""
    seq_dir = _existing_folder(seq_dir, "sequence folder")
    meta = load_meta(seq_dir)
    images_dir = seq_dir / "images"
    if not images_dir.is_dir():
        raise InputError(f"{images_dir}: missing (the sequence needs its RGB frames)")
    image_paths = _frame_files(images_dir, meta.num_frames, meta.image_size, "image")
    masks_dir = seq_dir / "masks"
    mask_paths = None
    if masks_dir.is_dir():
        mask_paths = _frame_files(masks_dir, meta.num_frames, meta.image_size, "mask")
    init = _load_init(seq_dir / "init", meta.num_frames)
    return Sequence(seq_dir, meta, image_paths, mask_paths, init)


def has_ground_truth(seq_dir: str | os.PathLike) -> bool:
    return (Path(seq_dir) / "gt").is_dir()


def load_ground_truth(seq_dir: str | os.PathLike) -> GroundTruth:
    """Read and validate ``gt/`` against the sequence's meta.json."""
    seq_dir = _existing_folder(seq_dir, "sequence folder")
    meta = load_meta(seq_dir)
    gt_dir = seq_dir / "gt"
    if not gt_dir.is_dir():
        raise InputError(f"{gt_dir}: missing (this sequence has no ground truth to evaluate against)")
    T = meta.num_frames
    for name in ("hand_joints.npy", "object_mesh.obj", "object_poses.npy"):
        if not (gt_dir / name).is_file():
            raise InputError(f"{gt_dir / name}: missing")
    valid = np.ones(T, dtype=bool)
    path = gt_dir / "valid.npy"
    if path.exists():
        valid = _load_npy(path)
        if valid.dtype != np.bool_:
            raise InputError(f"{path}: expected a bool array, got dtype {valid.dtype}")
        _check_shape(valid, (None,), path, T)
        if not valid.any():
            raise InputError(f"{path}: marks no frame as valid; nothing to score")
    joints = _load_frames_array(gt_dir / "hand_joints.npy", (None, NUM_JOINTS, 3), T)
    if not np.isfinite(joints[valid]).all():
        raise InputError(f"{gt_dir / 'hand_joints.npy'}: NaN or infinity in a valid frame")
    poses = _load_frames_array(gt_dir / "object_poses.npy", (None, 4, 4), T)
    # Invalid frames may be unknown (NaN); the valid ones must be proper rigid poses.
    check_rigid(np.where(valid[:, None, None], poses, np.nan), gt_dir / "object_poses.npy", allow_missing=True)
    mesh = load_mesh(gt_dir / "object_mesh.obj")
    masks = None
    if (gt_dir / "masks").is_dir():
        masks = np.stack([_read_labels(path) for path in
                          _frame_files(gt_dir / "masks", T, meta.image_size, "mask")])
    return GroundTruth(hand_joints=joints, object_mesh=mesh, object_poses=poses, valid=valid, masks=masks)


def write_sequence(
    seq_dir: str | os.PathLike,
    meta: SequenceMeta,
    images: Iterable[np.ndarray],
    masks: Iterable[np.ndarray] | None = None,
    init: SequenceInit | None = None,
    gt: GroundTruth | None = None,
    video: bool = True,
    extra_files: dict[str, np.ndarray | dict[str, np.ndarray]] | None = None,
) -> Path:
    """Write a complete sequence folder atomically and return its path.

    images: T RGB frames [H, W, 3] uint8 (any iterable, consumed once; frames are written as
    they arrive). masks: T label images [H, W] uint8. video: also write ``video.mp4`` (an extra
    file the format ignores; handy for viewing and for front-ends that want a video).
    extra_files: {relative path: array (saved as .npy) or dict of arrays (saved as .npz)}, files
    unknown to the format (e.g. a generator's extra ground truth).
    The folder is validated with ``load_sequence``/``load_ground_truth`` before it appears.
    """
    seq_dir = Path(seq_dir)
    with atomic_directory(seq_dir) as tmp:
        write_json_atomic(tmp / "meta.json", meta.to_json())

        def frames_to_disk() -> Iterator[np.ndarray]:
            for t, rgb in enumerate(images):
                write_image(tmp / "images" / f"{t:06d}.png", rgb)
                yield rgb

        if video:
            write_video(tmp / "video.mp4", frames_to_disk(), fps=meta.fps)
        else:
            for _ in frames_to_disk():
                pass
        if masks is not None:
            for t, mask in enumerate(masks):
                write_mask(tmp / "masks" / f"{t:06d}.png", mask)
        if init is not None:
            _write_init(tmp / "init", init)
        if gt is not None:
            save_npy_atomic(tmp / "gt" / "hand_joints.npy", np.asarray(gt.hand_joints, np.float32))
            save_npy_atomic(tmp / "gt" / "object_poses.npy", np.asarray(gt.object_poses, np.float32))
            save_npy_atomic(tmp / "gt" / "valid.npy", np.asarray(gt.valid, bool))
            save_mesh(tmp / "gt" / "object_mesh.obj", gt.object_mesh.vertices, gt.object_mesh.faces)
            for t, mask in enumerate(gt.masks if gt.masks is not None else ()):
                write_mask(tmp / "gt" / "masks" / f"{t:06d}.png", mask)
        for relative, content in (extra_files or {}).items():
            if isinstance(content, dict):
                (tmp / relative).parent.mkdir(parents=True, exist_ok=True)
                np.savez(tmp / relative, **content)
            else:
                save_npy_atomic(tmp / relative, content)
        load_sequence(tmp)
        if gt is not None:
            load_ground_truth(tmp)
    return seq_dir


def _write_init(init_dir: Path, init: SequenceInit) -> None:
    for name in ("hand_joints", "hand_keypoints2d", "object_poses", "object_points"):
        array = getattr(init, name)
        if array is not None:
            save_npy_atomic(init_dir / f"{name}.npy", np.asarray(array, np.float32))
    if init.mano is not None:
        init_dir.mkdir(parents=True, exist_ok=True)
        np.savez(init_dir / "mano.npz", **{k: np.asarray(v, np.float32) for k, v in init.mano.items()})
    if init.provenance is not None:
        write_json_atomic(init_dir / "provenance.json", init.provenance)


# --------------------------------------------------------------------------- result


@dataclass
class Result:
    """A validated result folder."""

    root: Path
    info: dict  # result.json
    object_mesh: Mesh  # object frame, metres
    object_poses: np.ndarray  # [T, 4, 4] float32 object → camera
    hand_joints: np.ndarray  # [T, 21, 3] float32 camera frame

    @property
    def num_frames(self) -> int:
        return len(self.object_poses)


def _check_result_arrays(object_poses: np.ndarray, hand_joints: np.ndarray, num_frames: int,
                         poses_name: Path | str, joints_name: Path | str) -> None:
    _check_shape(object_poses, (None, 4, 4), poses_name, num_frames)
    _check_shape(hand_joints, (None, NUM_JOINTS, 3), joints_name, num_frames)
    for array, name in ((object_poses, poses_name), (hand_joints, joints_name)):
        bad = ~np.isfinite(array).reshape(num_frames, -1).all(axis=1)
        if bad.any():
            raise InputError(
                f"{name}: frame {int(np.flatnonzero(bad)[0])} has NaN or infinity "
                f"({int(bad.sum())} frames in all); a result may not drop a frame"
            )
    check_rigid(object_poses, poses_name, allow_missing=False)


def load_result(result_dir: str | os.PathLike, num_frames: int | None = None) -> Result:
    """Read and validate a result folder; ``num_frames`` (the sequence's T) is checked when given."""
    result_dir = _existing_folder(result_dir, "result folder")
    info_path = result_dir / "result.json"
    info = _read_json(info_path)
    _check_format(info, info_path, RESULT_FORMAT)
    T = _check_num_frames(info, info_path)
    if num_frames is not None and T != num_frames:
        raise InputError(
            f"{info_path}: field 'num_frames' is {T}, but the sequence has num_frames={num_frames}"
        )
    for name in ("object.obj", "object_poses.npy", "hand_joints.npy"):
        if not (result_dir / name).is_file():
            raise InputError(f"{result_dir / name}: missing (required in a result folder)")
    poses = _as_float_array(_load_npy(result_dir / "object_poses.npy"), result_dir / "object_poses.npy")
    joints = _as_float_array(_load_npy(result_dir / "hand_joints.npy"), result_dir / "hand_joints.npy")
    _check_result_arrays(poses, joints, T, result_dir / "object_poses.npy", result_dir / "hand_joints.npy")
    mesh = load_mesh(result_dir / "object.obj")
    return Result(result_dir, info, mesh, poses, joints)


def write_result(
    result_dir: str | os.PathLike,
    object_mesh: Mesh,
    object_poses: np.ndarray,
    hand_joints: np.ndarray,
    timings_s: dict[str, float] | None = None,
    config: dict | None = None,
    hand_meshes: tuple[np.ndarray, np.ndarray] | None = None,
    hand_params: dict[str, np.ndarray] | None = None,
    hands: tuple[str, ...] = ("right",),
) -> Path:
    """Write a complete result folder atomically and return its path.

    ``hands``: the sequence's hand, recorded in result.json (a left hand makes it version 2).

    object_poses [T, 4, 4], hand_joints [T, 21, 3]: finite, rigid poses (raises InputError
    otherwise). hand_meshes: (vertices [T, V, 3], faces [F, 3]) written as
    hand_meshes/000000.obj …; hand_params: arrays saved in hand_params.npz.
    """
    object_poses = np.asarray(object_poses, np.float32)
    hand_joints = np.asarray(hand_joints, np.float32)
    T = len(object_poses)
    _check_result_arrays(object_poses, hand_joints, T, "object_poses", "hand_joints")
    result_dir = Path(result_dir)
    with atomic_directory(result_dir) as tmp:
        write_json_atomic(tmp / "result.json", {
            "format": RESULT_FORMAT,
            "version": version_for(hands),
            "num_frames": T,
            "hands": list(hands),
            "timings_s": dict(timings_s or {}),
            "config": dict(config or {}),
        })
        save_mesh(tmp / "object.obj", object_mesh.vertices, object_mesh.faces)
        save_npy_atomic(tmp / "object_poses.npy", object_poses)
        save_npy_atomic(tmp / "hand_joints.npy", hand_joints)
        if hand_meshes is not None:
            vertices, faces = hand_meshes
            for t in range(T):
                save_mesh(tmp / "hand_meshes" / f"{t:06d}.obj", np.asarray(vertices[t], np.float32), faces)
        if hand_params is not None:
            np.savez(tmp / "hand_params.npz", **{k: np.asarray(v) for k, v in hand_params.items()})
        load_result(tmp, T)
    return result_dir
