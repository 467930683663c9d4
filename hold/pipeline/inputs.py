"""What `hold-fast reconstruct` and `hold-fast batch` accept as input: a sequence folder
(docs/SEQUENCE_FORMAT.md), a video, or a folder of frames. The last two go through the
front-end (`hold-fast preprocess`, default options) into OUT/sequence once."""

from __future__ import annotations

from pathlib import Path

from hold.io.errors import InputError
from hold.io.sequence import has_ground_truth
from hold.preprocess.frames import VIDEO_SUFFIXES, list_image_files


def input_kind(source: str | Path) -> str:
    """"sequence", "video" or "frames"; one clear error for anything else. A folder with
    meta.json, or without images of its own, counts as a sequence folder (whose loader then
    names what is missing)."""
    source = Path(source)
    if source.is_file():
        if source.suffix.lower() in VIDEO_SUFFIXES:
            return "video"
        raise InputError(f"{source}: not a sequence folder, a folder of frames or a video "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    if source.is_dir():
        if (source / "meta.json").is_file() or not list_image_files(source):
            return "sequence"
        return "frames"
    raise InputError(f"{source}: no such sequence folder, folder of frames or video file")


def sequence_for(source: str | Path, out: str | Path, progress: bool = True, log=print,
                 hand: str = "auto", object_boxes=(), object_points=(), background_points=()) -> Path:
    """The sequence folder to reconstruct for ``source``: itself, or OUT/sequence made by the
    front-end from a video or a folder of frames (skipped when it is already there);
    ``hand``: right | left | auto, the hand the front-end looks for; ``object_boxes``,
    ``object_points``, ``background_points``: object prompts (hold.preprocess.prompts)."""
    source, out = Path(source), Path(out)
    prompted = bool(object_boxes or object_points or background_points)
    if input_kind(source) == "sequence":
        if prompted:
            from hold.io.errors import InputError

            raise InputError(f"--object-box/--object-point/--background-point: {source} is a sequence folder, "
                             f"whose masks are already made; prompts apply to a video or a folder of frames")
        return source
    seq = out / "sequence"
    if not (seq / "meta.json").is_file():
        from hold.preprocess import PreprocessOptions, preprocess

        log(f"preprocessing {source} → {seq} (hold-fast preprocess; see docs/FRONTEND.md)")
        preprocess(source, seq, PreprocessOptions(progress=progress, hand=hand, object_boxes=tuple(object_boxes),
                                                  object_points=tuple(object_points),
                                                  background_points=tuple(background_points)))
    elif prompted:
        log(f"note: {seq} already exists (a resumed run): it is used as it is, the object prompts are not applied "
            f"again (delete it to preprocess with them)")
    return seq



def ground_truth_for(source: str | Path) -> Path | None:
    """The sequence folder to score a reconstruction of ``source`` against: a video that sits
    in a sequence folder with gt/ (`hold-fast synth` writes SEQ/video.mp4) is scored against
    that folder, on the frames the front-end kept (docs/EVALUATION.md); else None (a sequence
    folder is scored against its own gt/ by `reconstruct`)."""
    source = Path(source)
    parent = source.parent
    if source.is_file() and input_kind(source) == "video" and (parent / "meta.json").is_file() \
            and has_ground_truth(parent):
        return parent
    return None
