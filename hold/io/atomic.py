"""Write-then-rename helpers: a crash never leaves a half-written file or folder in place."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary sibling of ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs should be as readable as open()'s
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | os.PathLike, obj: object) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def save_npy_atomic(path: str | os.PathLike, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary sibling folder; on normal exit it replaces ``target``.

    An existing ``target`` is moved aside first and deleted only after the new folder is in
    place, so at every instant ``target`` is either the old complete folder or the new one.
    On an exception the temporary folder is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    os.chmod(tmp, 0o755)  # mkdtemp creates 0700
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rmdir(old)
        os.rename(target, old)
    os.rename(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def merge_directory(source: str | os.PathLike, target: str | os.PathLike,
                    last: str | None = None) -> Path:
    """Move every entry of ``source`` into ``target`` (created if needed), each by one rename
    that replaces the entry of the same name, then remove ``source``. Entries of ``target`` that
    ``source`` lacks are kept (e.g. a training run's checkpoints). ``last`` names the entry
    moved at the end (a marker such as result.json that readers check for completeness)."""
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in source.iterdir())
    if last in names:
        names.remove(last)
        names.append(last)
    for name in names:
        dst = target / name
        if dst.is_dir() and not dst.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".old", dir=target))
            os.rmdir(old)
            os.rename(dst, old)
            os.rename(source / name, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(source / name, dst)
    shutil.rmtree(source, ignore_errors=True)
    return target
