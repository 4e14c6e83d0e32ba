"""Writing output files atomically, and guarding inputs from being overwritten.

Every output is first written to a temporary file in the folder of its
target, named ``.<target name>.<random>.partial<suffix>``, then flushed to
disk and renamed over the target with ``os.replace``. Readers therefore see
the old file or the complete new one, never a part. When the writer raises,
the temporary file is removed. When the process is killed (SIGKILL, power
loss), the temporary file can remain. The target is then absent or unchanged,
and the ``.partial`` file may be deleted.
"""

from __future__ import annotations

import errno
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
    folder = path.parent
    if not folder.exists():
        raise OutputPathError(Problem(f"folder {str(folder)!r} does not exist.", source=str(path),
                                      hint="Create it first."))
    if not folder.is_dir():
        raise OutputPathError(Problem(f"{str(folder)!r} is a file, not a folder.", source=str(path)))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(Problem(f"folder {str(folder)!r} is not writable.", source=str(path),
                                      hint="Choose a folder you can write to."))
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


# Errors of the file system rather than of this program: they become an OutputPathError.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO, errno.EACCES,
                           errno.EPERM})


class atomic_path:
    """Context manager yielding a temporary path beside ``path``.

    On success the temporary file is flushed to disk and renamed to ``path``.
    On error it is removed, and ``path`` is left as it was.

    Use it for writers that take a file name (``model.save``, ``savefig``).
    The temporary name keeps the last two suffixes of ``path``
    (``.weights.h5``, ``.keras``), which some Keras writers require.

    Raises:
        OutputPathError: the folder cannot be written, or the disk is full or
            read-only (instead of the ``OSError`` behind it).
    """

    def __init__(self, path, suffix: str | None = None):
        self.path = Path(path)
        self.suffix = suffix if suffix is not None else "".join(self.path.suffixes[-2:]) or ".tmp"

    def __enter__(self) -> Path:
        try:
            fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial" + self.suffix,
                                        dir=self.path.parent or ".")
        except OSError as error:
            raise _write_error(self.path, error) from error
        os.close(fd)
        # The name is reserved; the writer creates the file itself (some refuse to open an existing one).
        os.unlink(name)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                _fsync_file(self.tmp)
                os.replace(self.tmp, self.path)
            except OSError as error:
                self._remove_tmp()
                raise _write_error(self.path, error) from error
            _fsync_folder(self.path.parent)
            return False
        self._remove_tmp()
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise _write_error(self.path, exc) from exc
        return False

    def _remove_tmp(self):
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Flush the rename to disk where the platform allows opening a folder."""
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_error(path: Path, error: OSError) -> OutputPathError:
    reason = error.strerror or str(error)
    return OutputPathError(Problem(f"could not be written: {reason}.", source=str(path),
                                   hint="Check the free space and permissions of its folder."))
