"""Triangle meshes as OBJ files, in metres, through trimesh with all processing switched off.

Loading keeps the file's vertices exactly, in file order (no merging, no UV-seam splitting, no
re-centring, no unit guessing); texture coordinates and materials are ignored. Saving writes
positions and faces only, losslessly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from hold.io.atomic import write_bytes_atomic
from hold.io.errors import InputError


@dataclass
class Mesh:
    vertices: np.ndarray  # [V, 3] float64, metres
    faces: np.ndarray  # [F, 3] int64 vertex indices

    def to_trimesh(self) -> trimesh.Trimesh:
        return trimesh.Trimesh(self.vertices, self.faces, process=False)


def load_mesh(path: str | os.PathLike) -> Mesh:
    """Read a triangle mesh (OBJ or any format trimesh knows). Raises InputError when the file
    is missing, unreadable, not a triangle mesh, empty, or holds non-finite coordinates."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        loaded = trimesh.load(
            path, force="mesh", process=False, maintain_order=True, skip_materials=True
        )
    except Exception as e:  # trimesh raises many types for malformed files
        raise InputError(f"{path}: cannot read mesh ({type(e).__name__}: {e})") from None
    if not isinstance(loaded, trimesh.Trimesh):
        raise InputError(f"{path}: not a triangle mesh")
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int64)
    if len(faces) == 0 or faces.ndim != 2 or faces.shape[1] != 3:
        raise InputError(f"{path}: the mesh has no triangles")
    if not np.isfinite(vertices).all():
        raise InputError(f"{path}: vertices contain NaN or infinity")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise InputError(f"{path}: a face refers to a vertex that does not exist")
    return Mesh(vertices, faces)


def save_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write positions [V, 3] (metres) and faces [F, 3] as OBJ, atomically.

    Coordinates are written so they read back bit-exactly: float32 arrays with 9 significant
    digits, anything else as float64 in Python's shortest round-trip form.
    """
    vertices = np.asarray(vertices)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"save_mesh expects [V, 3] and [F, 3], got {vertices.shape}, {faces.shape}")
    if not np.isfinite(vertices).all():
        raise ValueError("save_mesh: vertices contain NaN or infinity")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("save_mesh: a face refers to a vertex that does not exist")
    if vertices.dtype == np.float32:
        vertex_lines = ["v %.9g %.9g %.9g\n" % tuple(v) for v in vertices.tolist()]
    else:
        vertex_lines = ["v %r %r %r\n" % tuple(v) for v in vertices.astype(np.float64).tolist()]
    face_lines = ["f %d %d %d\n" % tuple(f) for f in (faces + 1).tolist()]
    write_bytes_atomic(path, "".join(vertex_lines + face_lines).encode())
