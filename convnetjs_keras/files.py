"""Writing output files atomically, and guarding inputs from being overwritten."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convnetjs_keras.errors import OutputPathError, Problem


def check_output_path(path, *, inputs=(), overwrite: bool = False) -> Path:
    """Raise ``OutputPathError`` if writing ``path`` would overwrite one of
    ``inputs`` or, unless ``overwrite``, any existing file."""
    path = Path(path)
    for item in inputs:
        if item is None:
            continue
        try:
            same = Path(item).exists() and path.exists() and os.path.samefile(path, item)
        except OSError:
            same = False
        if same or Path(item).resolve() == path.resolve():
            raise OutputPathError(Problem("is also an input; refusing to write over it.", source=str(path),
                                          hint="Choose another output path."))
    if path.is_dir():
        raise OutputPathError(Problem("is a folder, expected a file path.", source=str(path)))
    if path.exists() and not overwrite:
        raise OutputPathError(Problem("already exists.", source=str(path),
                                      hint="Pass --force to replace it, or choose another path."))
    if not path.parent.exists():
        raise OutputPathError(Problem(f"folder {str(path.parent)!r} does not exist.", source=str(path),
                                      hint="Create it first."))
    return path


def atomic_write_bytes(path, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into
    place, so an interrupted run leaves the old file or the new one."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputPathError(Problem("already exists.", source=str(path),
                                      hint="Pass --force to replace it, or choose another path."))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


class atomic_path:
    """Context manager yielding a temporary path beside ``path``; on success
    the temporary file is renamed to ``path``, on error it is removed.

    Use it for writers that take a file name (``model.save``, ``savefig``)."""

    def __init__(self, path, suffix: str | None = None):
        self.path = Path(path)
        self.suffix = suffix if suffix is not None else "".join(self.path.suffixes[-2:]) or ".tmp"

    def __enter__(self) -> Path:
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial" + self.suffix,
                                    dir=self.path.parent or ".")
        os.close(fd)
        os.unlink(name)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            try:
                self.tmp.unlink()
            except FileNotFoundError:
                pass
        return False
