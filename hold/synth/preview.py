"""A contact sheet of a sequence folder: frames on top, their masks (false colour) below."""

from __future__ import annotations

import os

import numpy as np

from hold.io.images import write_image
from hold.io.sequence import LABEL_HAND, LABEL_IGNORE, LABEL_OBJECT, load_sequence

MASK_COLOURS = {0: (40, 40, 40), LABEL_OBJECT: (60, 140, 255), LABEL_HAND: (255, 190, 60), LABEL_IGNORE: (200, 200, 200)}


def contact_sheet(seq_dir: str | os.PathLike, out_png: str | os.PathLike, count: int = 8) -> np.ndarray:
    """Write ``count`` evenly spaced frames (and masks, when present) side by side as a PNG;
    returns the sheet [H or 2H, count·W, 3] uint8."""
    sequence = load_sequence(seq_dir)
    frames = np.linspace(0, sequence.num_frames - 1, min(count, sequence.num_frames)).round().astype(int)
    rows = [np.concatenate([sequence.image(t) for t in frames], axis=1)]
    if sequence.has_masks:
        palette = np.zeros((256, 3), np.uint8)
        for label, colour in MASK_COLOURS.items():
            palette[label] = colour
        rows.append(np.concatenate([palette[sequence.mask(t)] for t in frames], axis=1))
    sheet = np.concatenate(rows, axis=0)
    write_image(out_png, sheet)
    return sheet
