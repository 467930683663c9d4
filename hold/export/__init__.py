"""Meshes and result folders of a trained scene."""

from .mesh import extract_mesh
from .result import export_result

__all__ = ["export_result", "extract_mesh"]
