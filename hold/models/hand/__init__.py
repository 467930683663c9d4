"""Hand models: the built-in licence-clean hand (default) and MANO through smplx.

Both implement ``HandModel`` (base.py); see docs/HAND_MODEL.md.
"""

from __future__ import annotations

import os

import torch

from hold.io.errors import InputError
from hold.models.hand.base import (
    KEYPOINTS_FROM_BONES,
    PARENTS,
    TIP_KEYPOINTS,
    HandModel,
    HandOutput,
)
from hold.models.hand.builtin import BuiltinHand

HAND_MODEL_KINDS = ("builtin", "mano")


def load_hand_model(kind: str = "builtin", mano_dir: str | os.PathLike | None = None,
                    dtype: torch.dtype = torch.float32) -> HandModel:
    """The hand model of the given kind.

    ``"mano"`` reads MANO_RIGHT.pkl from ``mano_dir`` (a folder or the file), else from
    $HOLD_MANO_DIR; it raises ``InputError`` naming the path when the file is missing.
    """
    if kind == "builtin":
        return BuiltinHand(dtype=dtype)
    if kind == "mano":
        from hold.models.hand.mano import ManoHand  # imports smplx only when asked for

        return ManoHand(mano_dir, dtype=dtype)
    raise InputError(f"hand model kind {kind!r}: expected one of {HAND_MODEL_KINDS}")


__all__ = ["BuiltinHand", "HAND_MODEL_KINDS", "HandModel", "HandOutput", "KEYPOINTS_FROM_BONES",
           "PARENTS", "TIP_KEYPOINTS", "load_hand_model"]
