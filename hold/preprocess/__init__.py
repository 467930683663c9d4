"""The real-video front-end: a video or image folder → a sequence folder (docs/FRONTEND.md).

Rank 5 (docs/DEVELOPING.md): imports hold.io, hold.models (the hand model and its IK) only.
"""

from hold.preprocess.pipeline import PreprocessOptions, preprocess

__all__ = ["PreprocessOptions", "preprocess"]
