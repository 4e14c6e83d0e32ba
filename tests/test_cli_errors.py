"""How the command line reports errors: message layout, exit statuses and -v.

Exit statuses: 0 success, 2 usage error, 3 invalid input, 1 internal error
(a bug, or out of memory), 130 interrupted. An input error prints one
``error:`` line (or a problem list under it) and no traceback unless ``-v``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from snapshot_samples import conv_net, dumps

from convnetjs_keras import cli, converters, errors
from convnetjs_keras.errors import ConvNetJSKerasError, Problem, SnapshotFormatError, UsageError

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def snapshot_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("net.json").write_bytes(dumps(conv_net()))
    return Path("net.json")


def broken_snapshot(path: Path) -> None:
    snapshot = conv_net()
    snapshot["layers"][1]["in_depth"] = 3
    snapshot["layers"][4]["filters"][0]["w"]["2"] = None
    path.write_bytes(dumps(snapshot))


# --- Problem and the message recipe ----------------------------------------------------------------


def test_problem_names_every_location_part():
    problem = Problem("'w' [3] is null.", source="net.json", layer_index=4, layer_type="fc", field="filters",
                      element=1, hint="Use an earlier snapshot.")

    assert str(problem) == "net.json, layer 4 (fc), field 'filters' [1]: 'w' [3] is null. Use an earlier snapshot."


def test_problem_without_location_is_message_only():
    assert str(Problem("give either OUT.keras or --json.")) == "give either OUT.keras or --json."


def test_error_with_several_problems_lists_them():
    error = SnapshotFormatError([Problem("is missing.", source="a.json", layer_index=1, field="sx"),
                                 Problem("is 0.", source="a.json", layer_index=2, field="sy")])

    assert str(error) == ("2 problems found:\n"
                          "  - a.json, layer 1, field 'sx': is missing.\n"
                          "  - a.json, layer 2, field 'sy': is 0.")
    assert len(error.problems) == 2


def test_error_from_string_keeps_hint():
    error = SnapshotFormatError("is empty.", hint="Save it again.")

    assert str(error) == "is empty. Save it again."
    assert error.problems == [Problem("is empty.", hint="Save it again.")]


@pytest.mark.parametrize("name", sorted(name for name in dir(errors) if name.endswith("Error")))
def test_error_class_exit_status(name):
    cls = getattr(errors, name)

    assert issubclass(cls, ConvNetJSKerasError)
    assert cls.exit_code == (2 if cls is UsageError else 3)


# --- exit statuses -----------------------------------------------------------------------------------


def test_valid_convert_exits_zero(snapshot_file, capsys):
    assert cli.main(["convert", "net.json", "out.keras"]) == 0
    assert Path("out.keras").is_file()
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, expected", [
    (["convert"], "the following arguments are required: SNAPSHOT"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
    (["convert", "net.json", "out.keras", "--precision", "float16"], "invalid choice: 'float16'"),
    (["export", "m.keras", "o.json", "--digits", "many"], "invalid int value: 'many'"),
], ids=["missing argument", "unknown command", "bad choice", "bad integer"])
def test_argparse_usage_error_exits_two(argv, expected, capsys):
    status = cli.main(argv)
    captured = capsys.readouterr()

    assert status == 2
    assert expected in captured.err
    assert captured.err.startswith("usage: convnetjs-keras")


def test_no_command_prints_help_and_exits_two(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_help_exits_zero(capsys):
    assert cli.main(["convert", "--help"]) == 0
    assert "--force" in capsys.readouterr().out


def test_input_error_one_line_exit_three(snapshot_file, capsys):
    Path("net.json").write_bytes(b"")

    status = cli.main(["convert", "net.json", "out.keras"])
    captured = capsys.readouterr()

    assert status == 3
    assert captured.err == ("error: net.json: is empty, expected a ConvNetJS snapshot (JSON). Save it with "
                            "JSON.stringify(net.toJSON()).\n")
    assert captured.out == ""


def test_several_problems_listed_once(snapshot_file, capsys):
    broken_snapshot(snapshot_file)

    status = cli.main(["convert", "net.json", "out.keras"])
    lines = capsys.readouterr().err.splitlines()

    assert status == 3
    assert lines[0] == "error: 2 problems found:"
    assert lines[1].startswith("  - net.json, layer 1 (conv), field 'in_depth': is 3")
    assert lines[2].startswith("  - net.json, layer 4 (fc), field 'filters' [0]: 'w' [2] is null")
    assert len(lines) == 3


def test_verbose_adds_traceback(snapshot_file, capsys):
    broken_snapshot(snapshot_file)

    status = cli.main(["-v", "convert", "net.json", "out.keras"])
    err = capsys.readouterr().err

    assert status == 3
    assert "Traceback (most recent call last)" in err
    assert "convnetjs_keras.errors.SnapshotFormatError: 2 problems found:" in err
    assert err.rstrip().splitlines()[-3] == "error: 2 problems found:"


def test_verbose_after_command_also_works(snapshot_file, capsys):
    broken_snapshot(snapshot_file)

    assert cli.main(["convert", "net.json", "out.keras", "-v"]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_usage_error_exits_two(snapshot_file, capsys):
    status = cli.main(["convert", "net.json", "out.h5"])

    assert status == 2
    assert capsys.readouterr().err == ("error: out.h5: the output must end in .keras, found 'out.h5'. Use --json "
                                       "model.json for the JSON + weights pair.\n")


def raise_in_relu(monkeypatch, error: BaseException):
    def parse(layer, ctx, in_shape):
        raise error

    monkeypatch.setattr(converters.CONVERTERS["relu"], "parse", parse)


def test_internal_error_exits_one(snapshot_file, capsys, monkeypatch):
    raise_in_relu(monkeypatch, RuntimeError("a bug"))

    status = cli.main(["convert", "net.json", "out.keras"])
    captured = capsys.readouterr()

    assert status == 1
    assert captured.err == ("internal error: RuntimeError: a bug (run with -v for the traceback and please "
                            "report it)\n")
    assert not Path("out.keras").exists()


def test_internal_error_verbose_traceback(snapshot_file, capsys, monkeypatch):
    raise_in_relu(monkeypatch, RuntimeError("a bug"))

    assert cli.main(["-v", "convert", "net.json", "out.keras"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: a bug" in err


def test_out_of_memory_exits_one(snapshot_file, capsys, monkeypatch):
    raise_in_relu(monkeypatch, MemoryError())

    assert cli.main(["convert", "net.json", "out.keras"]) == 1
    assert capsys.readouterr().err == "error: out of memory (run with -v for the traceback).\n"


def test_interrupt_exits_130(snapshot_file, capsys, monkeypatch):
    raise_in_relu(monkeypatch, KeyboardInterrupt())

    assert cli.main(["convert", "net.json", "out.keras"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_main_leaves_stderr_in_place(snapshot_file, capsys):
    stderr = sys.stderr

    cli.main(["convert", "missing.json", "out.keras"])

    assert sys.stderr is stderr


def test_console_command_exit_statuses(tmp_path):
    """``python -m convnetjs_keras`` exits with main's status and prints only the error line."""
    (tmp_path / "bad.json").write_bytes(b"{")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))

    def run(*argv):
        return subprocess.run([sys.executable, "-m", "convnetjs_keras", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    input_error = run("convert", "bad.json", "out.keras")
    usage_error = run("convert")

    assert input_error.returncode == 3
    assert input_error.stderr == ("error: bad.json: invalid JSON at line 1, column 2: Expecting property name "
                                  "enclosed in double quotes. The file may be cut short or edited by hand.\n")
    assert usage_error.returncode == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.json"]


# --- docs/errors.md -----------------------------------------------------------------------------------
#
# Each example below runs the real command line in a temporary folder. The
# documentation shows its output in a ```console block: the command, the
# error lines (log lines printed before them are left out) and the exit
# status. test_errors_doc_is_current fails when a block is missing from
# docs/errors.md, and prints the block as the command prints it now.

DOCS_ERRORS = REPO_ROOT / "docs" / "errors.md"
FOLDER = object()  # a files value: create an empty folder


def snapshot_with(edit=None) -> bytes:
    """Return the sample conv net (tests/snapshot_samples.py) after ``edit`` changed it in place."""
    snapshot = conv_net()
    if edit is not None:
        edit(snapshot)
    return dumps(snapshot)


def set_field(layer_index, **fields):
    def edit(snapshot):
        snapshot["layers"][layer_index].update(fields)
    return edit


def keras(name):
    """A files value: a copy of ``name`` from snapshot_samples.write_keras_files."""
    return ("keras", name)


DOC_EXAMPLES = {
    # SnapshotFormatError: the file
    "file not found": (["convert", "missing.json", "net.keras"], {}),
    "folder": (["convert", "net.json", "net.keras"], {"net.json": FOLDER}),
    "empty": (["convert", "net.json", "net.keras"], {"net.json": b""}),
    "not utf-8": (["convert", "net.json", "net.keras"], {"net.json": b'{"layers": [], "name": "caf\xe9"}'}),
    "zip": (["convert", "model.keras", "net.keras"], {"model.keras": keras("ok.keras")}),
    "hdf5": (["convert", "ok.weights.h5", "net.keras"], {"ok.weights.h5": keras("ok.weights.h5")}),
    "too deep": (["convert", "net.json", "net.keras"], {"net.json": b"[" * 1000 + b"]" * 1000}),
    "invalid json": (["convert", "net.json", "net.keras"], {"net.json": snapshot_with()[:100]}),
    "nan": (["convert", "net.json", "net.keras"],
            {"net.json": snapshot_with().replace(b'"l2_decay_mul":1', b'"l2_decay_mul":NaN', 1)}),
    "long integer": (["convert", "net.json", "net.keras"],
                     {"net.json": snapshot_with().replace(b'"out_sx":4', b'"out_sx":' + b"9" * 5000, 1)}),
    # SnapshotFormatError: the top level
    "not a snapshot": (["convert", "net.json", "net.keras"], {"net.json": b'{"net": {}, "epoch": 3}'}),
    "several snapshots": (["convert", "net.json", "net.keras"],
                          {"net.json": json.dumps({"brain": conv_net(), "backup": conv_net()}).encode()}),
    "key not found": (["convert", "net.json", "net.keras", "--key", "brain.value_net"],
                      {"net.json": json.dumps({"brain": conv_net()}).encode()}),
    "key not a snapshot": (["convert", "net.json", "net.keras", "--key", "param"],
                           {"net.json": json.dumps({"brain": conv_net(), "param": {"epsilon": 0.1}}).encode()}),
    "layers empty": (["convert", "net.json", "net.keras"], {"net.json": b'{"layers": []}'}),
    # SnapshotFormatError: layers
    "layer not an object": (["convert", "net.json", "net.keras"],
                            {"net.json": snapshot_with(lambda s: s["layers"].__setitem__(2, "relu"))}),
    "layer_type missing": (["convert", "net.json", "net.keras"],
                           {"net.json": snapshot_with(lambda s: s["layers"][2].pop("layer_type"))}),
    "layer_type unknown": (["convert", "net.json", "net.keras"],
                           {"net.json": snapshot_with(set_field(2, layer_type="ReLU"))}),
    "first not input": (["convert", "net.json", "net.keras"],
                        {"net.json": snapshot_with(lambda s: s["layers"].pop(0))}),
    "second input": (["convert", "net.json", "net.keras"],
                     {"net.json": snapshot_with(lambda s: s["layers"].insert(2, conv_net()["layers"][0]))}),
    # SnapshotFormatError: fields
    "field missing": (["convert", "net.json", "net.keras"],
                      {"net.json": snapshot_with(lambda s: s["layers"][1].pop("stride"))}),
    "field a string": (["convert", "net.json", "net.keras"], {"net.json": snapshot_with(set_field(0, out_sx="4"))}),
    "not a whole number": (["convert", "net.json", "net.keras"], {"net.json": snapshot_with(set_field(1, sx=2.5))}),
    "below minimum": (["convert", "net.json", "net.keras"], {"net.json": snapshot_with(set_field(3, stride=0))}),
    "above 2**53": (["convert", "net.json", "net.keras"],
                    {"net.json": snapshot_with(set_field(0, out_depth=10**20))}),
    "number null": (["convert", "net.json", "net.keras"],
                    {"net.json": snapshot_with(set_field(4, l2_decay_mul=None))}),
    "number wrong type": (["convert", "net.json", "net.keras"],
                          {"net.json": snapshot_with(set_field(4, l1_decay_mul=[0]))}),
    # SnapshotFormatError: sizes
    "in_depth mismatch": (["convert", "net.json", "net.keras"], {"net.json": snapshot_with(set_field(1, in_depth=3))}),
    "conv out_sx mismatch": (["convert", "net.json", "net.keras"],
                             {"net.json": snapshot_with(set_field(1, out_sx=5))}),
    "out size mismatch": (["convert", "net.json", "net.keras"],
                          {"net.json": snapshot_with(set_field(2, out_depth=3))}),
    "num_inputs mismatch": (["convert", "net.json", "net.keras"],
                            {"net.json": snapshot_with(set_field(4, num_inputs=16))}),
    "loss size mismatch": (["convert", "net.json", "net.keras"],
                           {"net.json": snapshot_with(set_field(5, num_inputs=10))}),
    "fc out_sx not 1": (["convert", "net.json", "net.keras"], {"net.json": snapshot_with(set_field(4, out_sx=2))}),
    "filter does not fit": (["convert", "net.json", "net.keras"],
                            {"net.json": snapshot_with(set_field(1, sx=9, sy=9))}),
    "window does not fit": (["convert", "net.json", "net.keras"],
                            {"net.json": snapshot_with(set_field(3, sx=8, sy=8))}),
    "volume too large": (["convert", "net.json", "net.keras"],
                         {"net.json": snapshot_with(set_field(0, out_sx=100_000, out_sy=100_000))}),
    "drop_prob out of range": (["convert", "net.json", "net.keras"],
                               {"net.json": dumps({"layers": [
                                   {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "input"},
                                   {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "dropout",
                                    "drop_prob": 1.5},
                                   {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "softmax",
                                    "num_inputs": 2}]})}),
    "group_size too large": (["convert", "net.json", "net.keras"],
                             {"net.json": dumps({"layers": [
                                 {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "input"},
                                 {"out_depth": 0, "out_sx": 1, "out_sy": 1, "layer_type": "maxout",
                                  "group_size": 3}]})}),
    # SnapshotFormatError: weights
    "filters missing": (["convert", "net.json", "net.keras"],
                        {"net.json": snapshot_with(lambda s: s["layers"][1].pop("filters"))}),
    "filter count": (["convert", "net.json", "net.keras"],
                     {"net.json": snapshot_with(lambda s: s["layers"][1]["filters"].pop())}),
    "filter not a vol": (["convert", "net.json", "net.keras"],
                         {"net.json": snapshot_with(lambda s: s["layers"][1]["filters"].__setitem__(0, [0.1]))}),
    "filter size": (["convert", "net.json", "net.keras"],
                    {"net.json": snapshot_with(lambda s: s["layers"][1]["filters"][1].update(sx=5))}),
    "w missing": (["convert", "net.json", "net.keras"],
                  {"net.json": snapshot_with(lambda s: s["layers"][1]["filters"][0].pop("w"))}),
    "w length": (["convert", "net.json", "net.keras"],
                 {"net.json": snapshot_with(lambda s: s["layers"][1]["filters"][0]["w"].pop())}),
    "w keys": (["convert", "net.json", "net.keras"],
               {"net.json": snapshot_with(lambda s: s["layers"][4]["filters"][1]["w"].update({"08": 0.0}))}),
    "w null": (["convert", "net.json", "net.keras"],
               {"net.json": snapshot_with(lambda s: s["layers"][4]["filters"][2]["w"].update({"3": None}))}),
    "w string": (["convert", "net.json", "net.keras"],
                 {"net.json": snapshot_with(lambda s: s["layers"][1]["filters"][0]["w"].__setitem__(4, "0.5"))}),
    "w not finite": (["convert", "net.json", "net.keras"],
                     {"net.json": snapshot_with().replace(b'"w":[-0.1', b'"w":[1e999', 1)}),
    "w wrong type": (["convert", "net.json", "net.keras"],
                     {"net.json": snapshot_with(lambda s: s["layers"][1]["biases"].update(w="0.1 0.2"))}),
    "biases missing": (["convert", "net.json", "net.keras"],
                       {"net.json": snapshot_with(lambda s: s["layers"][1].pop("biases"))}),
    "several problems": (["convert", "net.json", "net.keras"],
                         {"net.json": snapshot_with(lambda s: (s["layers"][1].update(in_depth=3),
                                                               s["layers"][2].update(layer_type="relu6"),
                                                               s["layers"][4]["filters"][1]["w"].update({"0": None})))}),
    # KerasModelError
    "keras not found": (["export", "model.keras", "net.json"], {}),
    "keras suffix": (["export", "model.h5", "net.json"], {"model.h5": keras("ok.keras")}),
    "keras not a zip": (["export", "model.keras", "net.json"], {"model.keras": b"hello"}),
    "keras truncated": (["export", "model.keras", "net.json"], {"model.keras": keras("truncated.keras")}),
    "keras is a snapshot": (["export", "model.keras", "net.json"], {"model.keras": snapshot_with()}),
    "keras lambda": (["export", "model.keras", "net.json"], {"model.keras": keras("lambda.keras")}),
    "keras custom object": (["export", "model.keras", "net.json"], {"model.keras": keras("custom.keras")}),
    "keras foreign module": (["export", "model.keras", "net.json"], {"model.keras": keras("hostile.keras")}),
    "keras with weights": (["export", "model.keras", "net.json", "--weights", "ok.weights.h5"],
                           {"model.keras": keras("ok.keras"), "ok.weights.h5": keras("ok.weights.h5")}),
    "model.json invalid": (["export", "model.json", "net.json", "--weights", "ok.weights.h5"],
                           {"model.json": b'{"class_name": ', "ok.weights.h5": keras("ok.weights.h5")}),
    "model.json is a snapshot": (["export", "model.json", "net.json", "--weights", "ok.weights.h5"],
                                 {"model.json": snapshot_with(), "ok.weights.h5": keras("ok.weights.h5")}),
    "model.json without weights": (["export", "model.json", "net.json"], {"model.json": keras("model.json")}),
    "weights not found": (["export", "model.json", "net.json", "--weights", "w.weights.h5"],
                          {"model.json": keras("model.json")}),
    "weights mismatch": (["export", "model.json", "net.json", "--weights", "other.weights.h5"],
                         {"model.json": keras("model.json"), "other.weights.h5": keras("other.weights.h5")}),
    # UnsupportedLayerError
    "unsupported layer": (["export", "model.keras", "net.json"], {"model.keras": keras("unsupported.keras")}),
    # NetworkTextError and LayerDefinitionError
    "text function call": (["inspect", "net.js"],
                           {"net.js": b"var cp = require('child_process');\ncp.exec('rm -rf /');\n"}),
    "text loop": (["inspect", "net.js"], {"net.js": b"for (var i = 0; i < 3; i++) { layer_defs.push({}); }\n"}),
    "text math": (["inspect", "net.js"],
                  {"net.js": b"layer_defs = [{type: 'input', out_sx: Math.sqrt(4), out_sy: 2, out_depth: 1}];\n"}),
    "text duplicate key": (["inspect", "net.js"],
                           {"net.js": b"layer_defs = [{type: 'input', out_sx: 2, out_sx: 3, out_depth: 1}];\n"}),
    "layer_defs no loss layer": (["inspect", "net.js"],
                                 {"net.js": b"layer_defs = [{type: 'input', out_sx: 1, out_sy: 1, out_depth: 2}, "
                                            b"{type: 'fc', num_neurons: 3}];\n"}),
    "layer_defs unknown type": (["inspect", "net.js"],
                                {"net.js": b"layer_defs = [{type: 'input', out_sx: 1, out_sy: 1, out_depth: 2}, "
                                           b"{type: 'bogus'}, {type: 'softmax', num_classes: 2}];\n"}),
    # TrainerOptionError, DataError, DistributionError
    "trainer method": (["train", "net.json", "--data", "data.npz", "--epochs", "1", "--out", "run",
                        "--trainer", '{"method": "nesterovv"}'], {"net.json": snapshot_with()}),
    "data not found": (["train", "net.json", "--data", "data.npz", "--epochs", "1", "--out", "run"],
                       {"net.json": snapshot_with()}),
    "data shape": (["predict", "net.json", "data.npy"], {"net.json": snapshot_with(), "data.npy": "npy:3x5"}),
    "distribute backend": (["train", "net.json", "--data", "data.npy", "--epochs", "1", "--out", "run",
                            "--distribute", "data-parallel"], {"net.json": snapshot_with(), "data.npy": "npy:3x5"}),
    # OutputPathError
    "output exists": (["convert", "net.json", "net.keras"], {"net.json": snapshot_with(), "net.keras": b"old"}),
    "output is an input": (["convert", "net.json", "--json", "net.json"], {"net.json": snapshot_with()}),
    "output folder missing": (["convert", "net.json", "out/net.keras"], {"net.json": snapshot_with()}),
    "output parent a file": (["convert", "net.json", "out/net.keras"], {"net.json": snapshot_with(), "out": b""}),
    "output a folder": (["convert", "net.json", "net.keras", "--force"],
                        {"net.json": snapshot_with(), "net.keras": FOLDER}),
    # UsageError and argparse
    "convert suffix": (["convert", "net.json", "net.h5"], {"net.json": snapshot_with()}),
    "convert two outputs": (["convert", "net.json", "net.keras", "--json", "net.model.json"],
                            {"net.json": snapshot_with()}),
    "convert weights name": (["convert", "net.json", "--json", "m.json", "--weights", "m.h5"],
                             {"net.json": snapshot_with()}),
    "export digits": (["export", "model.keras", "net.json", "--digits", "20"], {"model.keras": keras("ok.keras")}),
    "argparse": (["convert", "net.json", "net.keras", "--precision", "float16"], {"net.json": snapshot_with()}),
}


def run_doc_example(argv, files, folder: Path, keras_folder: Path, capsys) -> str:
    """Run one documented example in ``folder`` and return its ```console block text."""
    import numpy as np

    for name, content in files.items():
        path = folder / name
        if content is FOLDER:
            path.mkdir()
        elif isinstance(content, tuple):
            path.write_bytes((keras_folder / content[1]).read_bytes())
        elif isinstance(content, str) and content.startswith("npy:"):
            rows, columns = map(int, content[4:].split("x"))
            np.save(path, np.zeros((rows, columns)))
        else:
            path.write_bytes(content)
    capsys.readouterr()
    status = cli.main(argv)
    err = capsys.readouterr().err.splitlines()
    first = next((i for i, line in enumerate(err) if line.startswith(("error:", "usage:"))), 0)
    lines = [f"$ convnetjs-keras {shlex.join(argv)}", *err[first:],
             f"# exit status {status}"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def keras_folder(tmp_path_factory):
    from snapshot_samples import write_keras_files

    folder = tmp_path_factory.mktemp("keras_files")
    write_keras_files(folder)
    return folder


def render_doc_blocks(keras_folder, tmp_path, monkeypatch, capsys) -> dict[str, str]:
    blocks = {}
    for number, (name, (argv, files)) in enumerate(DOC_EXAMPLES.items()):
        folder = tmp_path / f"example{number}"
        folder.mkdir()
        monkeypatch.chdir(folder)
        blocks[name] = run_doc_example(argv, files, folder, keras_folder, capsys)
    return blocks


def test_errors_doc_is_current(keras_folder, tmp_path, monkeypatch, capsys):
    """Every example's output appears verbatim in docs/errors.md."""
    doc = DOCS_ERRORS.read_text(encoding="utf-8")
    blocks = render_doc_blocks(keras_folder, tmp_path, monkeypatch, capsys)

    stale = {name: block for name, block in blocks.items() if f"```console\n{block}\n```" not in doc}

    assert not stale, "docs/errors.md lacks these blocks (the output as printed now):\n\n" + "\n\n".join(
        f"{name}:\n```console\n{block}\n```" for name, block in stale.items())
