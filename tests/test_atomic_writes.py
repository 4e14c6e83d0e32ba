"""Outputs are written to a temporary file and renamed into place.

The contract of ``convnetjs_keras.files``: a writer that raises leaves the
target as it was and no temporary file behind. A process killed while writing
leaves the target absent or unchanged, and at most one
``.<name>.<random>.partial<suffix>`` file, which may be deleted. The tool
never writes over one of its inputs, and replaces an existing output only
with ``--force``.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from snapshot_samples import conv_net, dumps

from convnetjs_keras import cli
from convnetjs_keras.errors import OutputPathError
from convnetjs_keras.files import atomic_path, atomic_write_bytes, check_output_path

REPO_ROOT = Path(__file__).resolve().parent.parent
PARTIAL_NAME = re.compile(r"^\.(?P<target>.+)\.[^.]+\.partial(?P<suffix>\..+)$")


def names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


class WriterFailed(RuntimeError):
    pass


def write_half_then_fail(path: Path, data: bytes, error: Exception) -> None:
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    raise error


def test_atomic_write_bytes_writes_file(tmp_path):
    target = tmp_path / "net.json"

    atomic_write_bytes(target, b'{"layers": []}')

    assert target.read_bytes() == b'{"layers": []}'
    assert names(tmp_path) == {"net.json"}


def test_failed_writer_leaves_no_file(tmp_path):
    target = tmp_path / "model.keras"

    with pytest.raises(WriterFailed):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path
            assert PARTIAL_NAME.match(tmp.name).group("suffix") == ".keras"
            write_half_then_fail(tmp, b"x" * 1000, WriterFailed("boom"))

    assert names(tmp_path) == set()


def test_failed_writer_keeps_old_file(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old contents")

    with pytest.raises(WriterFailed):
        with atomic_path(target) as tmp:
            write_half_then_fail(tmp, b"new contents" * 100, WriterFailed("boom"))

    assert target.read_bytes() == b"old contents"
    assert names(tmp_path) == {"model.keras"}


def test_disk_full_becomes_output_path_error(tmp_path):
    target = tmp_path / "net.json"
    target.write_bytes(b"old")

    with pytest.raises(OutputPathError) as raised:
        with atomic_path(target) as tmp:
            write_half_then_fail(tmp, b"new" * 100, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    assert str(raised.value) == (f"{target}: could not be written: No space left on device. "
                                 "Check the free space and permissions of its folder.")
    assert isinstance(raised.value.__cause__, OSError)
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == {"net.json"}


def test_failed_rename_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "net.json"

    def refuse_rename(source, destination):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(os, "replace", refuse_rename)
    with pytest.raises(OutputPathError) as raised:
        atomic_write_bytes(target, b"{}")

    assert "could not be written: Permission denied" in str(raised.value)
    assert names(tmp_path) == set()


def test_unwritable_folder_becomes_output_path_error(tmp_path, monkeypatch):
    import tempfile

    def refuse_create(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(tempfile, "mkstemp", refuse_create)
    with pytest.raises(OutputPathError) as raised:
        atomic_write_bytes(tmp_path / "net.json", b"{}")

    assert "net.json: could not be written: Permission denied" in str(raised.value)


def test_no_overwrite_keeps_existing_file(tmp_path):
    target = tmp_path / "net.json"
    target.write_bytes(b"old")

    with pytest.raises(OutputPathError) as raised:
        atomic_write_bytes(target, b"new", overwrite=False)

    assert "already exists" in str(raised.value)
    assert target.read_bytes() == b"old"


def test_check_output_path_rejects_input_via_links(tmp_path):
    source = tmp_path / "net.json"
    source.write_bytes(b"{}")
    (tmp_path / "link.keras").symlink_to(source)
    os.link(source, tmp_path / "hard.keras")

    for name in ("link.keras", "hard.keras"):
        with pytest.raises(OutputPathError) as raised:
            check_output_path(tmp_path / name, inputs=[source], overwrite=True)
        assert "is also an input" in str(raised.value)


@pytest.fixture
def snapshot_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("net.json").write_bytes(dumps(conv_net()))
    return Path("net.json")


def test_convert_refuses_existing_output(snapshot_file, capsys):
    Path("out.keras").write_bytes(b"old")

    status = cli.main(["convert", "net.json", "out.keras"])

    assert status == 3
    assert capsys.readouterr().err == ("error: out.keras: already exists. Pass --force to replace it, or choose "
                                       "another path.\n")
    assert Path("out.keras").read_bytes() == b"old"


def test_convert_never_writes_over_input(snapshot_file, capsys):
    os.link("net.json", "same.keras")
    before = Path("net.json").read_bytes()

    status = cli.main(["convert", "net.json", "same.keras", "--force"])

    assert status == 3
    assert "same.keras: is also an input" in capsys.readouterr().err
    assert Path("net.json").read_bytes() == before


def test_convert_force_replaces_output(snapshot_file, capsys):
    Path("out.keras").write_bytes(b"old")

    status = cli.main(["convert", "net.json", "out.keras", "--force"])

    assert status == 0
    assert Path("out.keras").read_bytes()[:4] == b"PK\x03\x04"
    assert names(Path(".")) == {"net.json", "out.keras"}


def test_convert_failing_save_keeps_old_output(snapshot_file, capsys, monkeypatch):
    """A disk that fills up while the .keras file is written leaves the old file and no debris."""
    import keras

    Path("out.keras").write_bytes(b"old")

    def save_half(self, filepath, *args, **kwargs):
        write_half_then_fail(Path(filepath), b"PK" * 1000, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    monkeypatch.setattr(keras.Model, "save", save_half)
    status = cli.main(["convert", "net.json", "out.keras", "--force"])

    assert status == 3
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: out.keras: could not be written: No space left on device. Check the free space "
                      "and permissions of its folder."]
    assert Path("out.keras").read_bytes() == b"old"
    assert names(Path(".")) == {"net.json", "out.keras"}


def test_convert_json_pair_replaced_together(snapshot_file, capsys, monkeypatch):
    """When model.json cannot be written, the weights written just before are not renamed into place."""
    import keras

    Path("m.json").write_bytes(b"old json")
    Path("m.weights.h5").write_bytes(b"old weights")

    def fail_to_json(self, **kwargs):
        raise WriterFailed("to_json failed")

    monkeypatch.setattr(keras.Model, "to_json", fail_to_json)
    status = cli.main(["convert", "net.json", "--json", "m.json", "--force"])

    assert status == 1  # an unexpected exception is an internal error
    assert Path("m.json").read_bytes() == b"old json"
    assert Path("m.weights.h5").read_bytes() == b"old weights"
    assert names(Path(".")) == {"net.json", "m.json", "m.weights.h5"}


def test_export_failing_write_keeps_old_output(tmp_path, monkeypatch, capsys):
    import convnetjs_keras as ck

    monkeypatch.chdir(tmp_path)
    ck.from_snapshot(conv_net()).save("model.keras")
    Path("out.json").write_bytes(b"old")
    original_open = open

    def open_that_fails_on_partial(file, mode="r", *args, **kwargs):
        handle = original_open(file, mode, *args, **kwargs)
        if "w" in mode and ".partial" in str(file):
            handle.write(b"{")
            handle.close()
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        return handle

    monkeypatch.setattr("builtins.open", open_that_fails_on_partial)
    status = cli.main(["export", "model.keras", "out.json", "--force"])

    assert status == 3
    assert "out.json: could not be written: Disk quota exceeded" in capsys.readouterr().err
    assert Path("out.json").read_bytes() == b"old"
    assert names(tmp_path) == {"model.keras", "out.json"}


# The child runs the real CLI with os.fsync replaced by a function that reports
# and then sleeps, so it is killed after the temporary file was written and
# before it is renamed over the target.
KILLED_CHILD = textwrap.dedent("""
    import os, sys, time

    def fsync_then_hang(fd):
        print("writing", flush=True)
        time.sleep(600)

    os.fsync = fsync_then_hang
    from convnetjs_keras.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("old_output", [None, b"old contents"], ids=["new output", "replaced output"])
def test_sigkill_mid_write_leaves_target_intact(snapshot_file, old_output):
    if old_output is not None:
        Path("out.keras").write_bytes(old_output)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, "convert", "net.json", "out.keras", "--force"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        line = child.stdout.readline()  # blocks until the child is inside fsync (or exits)
        assert line == b"writing\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=60)
        child.stdout.close()

    assert child.returncode == -signal.SIGKILL
    leftovers = names(Path(".")) - {"net.json", "out.keras"}
    assert len(leftovers) == 1
    assert PARTIAL_NAME.match(leftovers.pop()).group("target") == "out.keras"
    if old_output is None:
        assert not Path("out.keras").exists()
    else:
        assert Path("out.keras").read_bytes() == old_output
