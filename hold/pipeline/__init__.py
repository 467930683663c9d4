"""The product: HOLD's coarse → refine → final schedule as one resumable job."""

from .reconstruct import ReconstructConfig, reconstruct

__all__ = ["ReconstructConfig", "reconstruct"]
