"""Broken and hostile inputs, each rejected with one clear message and no output file.

Every case runs the real command line in-process, ``convnetjs_keras.cli.main``,
in a temporary folder, twice. The plain run checks the exit status, exactly one
``error:`` line (or a problem list under it), the key parts of the message, and
that no output file or temporary debris appears. The run with ``-v`` checks
that the traceback names the exact error class. Snapshot cases go through ``convert``, Keras inputs through ``export``,
network text through ``inspect``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import time
import tracemalloc
from pathlib import Path
from typing import Callable

import pytest
from snapshot_samples import conv_net, dumps, vol, write_keras_files

from convnetjs_keras import cli
from convnetjs_keras.errors import (
    KerasModelError,
    NetworkTextError,
    OutputPathError,
    SnapshotFormatError,
    UsageError,
)
from convnetjs_keras.snapshot import load_net_spec

DIRECTORY = object()  # a files value: create a folder with this name


@dataclasses.dataclass
class Case:
    id: str
    files: dict  # name -> bytes, DIRECTORY, or KerasFile
    argv: list[str]
    error: type | None  # the exact class in the -v traceback; None for argparse's own errors
    parts: tuple[str, ...]  # substrings the printed message must contain
    exit_code: int = 3
    problems: int = 1  # how many problems the message lists


@dataclasses.dataclass(frozen=True)
class KerasFile:
    """A file made by the module's ``keras_files`` fixture."""

    name: str


def snapshot_bytes(mutate: Callable[[dict], object] | None = None, base: Callable[[], dict] = conv_net) -> bytes:
    """Return the JSON of the sample conv net after ``mutate`` changed it in place."""
    snapshot = base()
    if mutate is not None:
        mutate(snapshot)
    return dumps(snapshot)


def layer(index: int, **changes) -> Callable[[dict], None]:
    """Return a mutation that sets fields of layer ``index``; the value DELETE removes a field."""
    def mutate(snapshot):
        for key, value in changes.items():
            if value is DELETE:
                del snapshot["layers"][index][key]
            else:
                snapshot["layers"][index][key] = value
    return mutate


DELETE = object()


def with_layers(edit: Callable[[list], object]) -> Callable[[dict], None]:
    def mutate(snapshot):
        edit(snapshot["layers"])
    return mutate


def fc_filter(mutate_vol: Callable[[dict], object], index: int = 1) -> Callable[[dict], None]:
    """Return a mutation of filter ``index`` of the fc layer (layer 4, weights in {"0": ...} form)."""
    def mutate(snapshot):
        mutate_vol(snapshot["layers"][4]["filters"][index])
    return mutate


def conv_filter(mutate_vol: Callable[[dict], object], index: int = 0) -> Callable[[dict], None]:
    """Return a mutation of filter ``index`` of the conv layer (layer 1, weights as arrays)."""
    def mutate(snapshot):
        mutate_vol(snapshot["layers"][1]["filters"][index])
    return mutate


def set_w(index, value):
    def mutate(vol_dict):
        vol_dict["w"][index] = value
    return mutate


def raw(text: str) -> bytes:
    return text.encode("utf-8")


def replace_in_json(old: str, new: str) -> bytes:
    text = dumps(conv_net()).decode()
    assert old in text
    return text.replace(old, new, 1).encode()


CONVERT = ["convert", "bad.json", "out.keras"]
SNAPSHOT_ERROR = SnapshotFormatError

CASES = [
    # --- the file itself -------------------------------------------------------------------------
    Case("empty file", {"bad.json": b""}, CONVERT, SNAPSHOT_ERROR, ("bad.json: is empty", "JSON.stringify")),
    Case("whitespace only", {"bad.json": b" \n\t\r\n"}, CONVERT, SNAPSHOT_ERROR, ("bad.json: is empty",)),
    Case("byte-order mark only", {"bad.json": b"\xef\xbb\xbf"}, CONVERT, SNAPSHOT_ERROR, ("bad.json: is empty",)),
    Case("truncated json", {"bad.json": snapshot_bytes()[:300]}, CONVERT, SNAPSHOT_ERROR,
         ("bad.json: invalid JSON at line 1, column 301", "cut short")),
    Case("trailing comma", {"bad.json": raw('{"layers": [1,]}')}, CONVERT, SNAPSHOT_ERROR,
         ("invalid JSON at line 1, column 15",)),
    Case("invalid json line three", {"bad.json": raw('{\n "layers": [\n  {"layer_type": "input",,}\n]}')},
         CONVERT, SNAPSHOT_ERROR, ("invalid JSON at line 3, column 26",)),
    Case("nan literal", {"bad.json": replace_in_json('"l2_decay_mul":1', '"l2_decay_mul":NaN')}, CONVERT,
         SNAPSHOT_ERROR, ("NaN is not a JSON number", "probably diverged")),
    Case("infinity literal", {"bad.json": replace_in_json('"w":[-0.1', '"w":[-Infinity')}, CONVERT,
         SNAPSHOT_ERROR, ("-Infinity is not a JSON number",)),
    Case("not utf-8", {"bad.json": b'{"layers": [], "name": "caf\xe9"}'}, CONVERT, SNAPSHOT_ERROR,
         ("bad.json: is not UTF-8 text: byte 27 (line 1) is 0xe9", "save the file as UTF-8")),
    Case("zip given as snapshot", {"bad.json": b"PK\x03\x04" + b"\x00" * 40}, CONVERT, SNAPSHOT_ERROR,
         ("is a zip archive", "convnetjs-keras export")),
    Case("hdf5 given as snapshot", {"bad.json": b"\x89HDF\r\n\x1a\n" + b"\x00" * 40}, CONVERT, SNAPSHOT_ERROR,
         ("is an HDF5 file",)),
    Case("folder given as snapshot", {"bad.json": DIRECTORY}, CONVERT, SNAPSHOT_ERROR,
         ("bad.json: is a folder",)),
    Case("missing file", {}, CONVERT, SNAPSHOT_ERROR, ("bad.json: file not found",)),
    Case("deeply nested json", {"bad.json": b"[" * 100_000 + b"]" * 100_000}, CONVERT, SNAPSHOT_ERROR,
         ("nested more than 64 levels",)),
    Case("integer too long", {"bad.json": replace_in_json('"out_sx":4', '"out_sx":' + "9" * 5000)}, CONVERT,
         SNAPSHOT_ERROR, ("more than 4300 digits",)),
    # --- the top level ---------------------------------------------------------------------------
    Case("top level a number", {"bad.json": b"42"}, CONVERT, SNAPSHOT_ERROR,
         ("bad.json: is not a ConvNetJS snapshot", "The top level is 42")),
    Case("top level without layers", {"bad.json": raw('{"net": {"foo": 1}, "epoch": 3}')}, CONVERT,
         SNAPSHOT_ERROR, ("no 'layers' list found", "Top-level keys found: 'net', 'epoch'")),
    Case("top level list of numbers", {"bad.json": b"[1, 2, 3]"}, CONVERT, SNAPSHOT_ERROR,
         ("The top level is a list of 3 items",)),
    Case("two wrapped snapshots", {"bad.json": json.dumps({"brain": conv_net(), "backup": conv_net()}).encode()},
         CONVERT, SNAPSHOT_ERROR, ("contains 2 snapshots", "'brain', 'backup'", "--key")),
    Case("wrapper key not found", {"bad.json": json.dumps({"brain": conv_net()}).encode()},
         CONVERT + ["--key", "value_net"], SNAPSHOT_ERROR, ("has no snapshot at key 'value_net'", "'brain'")),
    Case("layers empty", {"bad.json": raw('{"layers": []}')}, CONVERT, SNAPSHOT_ERROR,
         ("bad.json, field 'layers': must be a non-empty list", "found an empty list")),
    Case("layers a string", {"bad.json": raw('{"layers": "conv"}')}, CONVERT, SNAPSHOT_ERROR,
         ("field 'layers'", "found 'conv'")),
    # --- layer types -----------------------------------------------------------------------------
    Case("layer not an object", {"bad.json": snapshot_bytes(with_layers(lambda ls: ls.__setitem__(2, 7)))},
         CONVERT, SNAPSHOT_ERROR, ("bad.json, layer 2: must be a layer object, found 7",)),
    Case("missing layer_type", {"bad.json": snapshot_bytes(layer(2, layer_type=DELETE))}, CONVERT,
         SNAPSHOT_ERROR, ("bad.json, layer 2, field 'layer_type': is missing", "reuse the previous layer")),
    Case("unknown layer_type", {"bad.json": snapshot_bytes(layer(2, layer_type="relu6"))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 2 (relu6), field 'layer_type': unknown layer_type 'relu6'", "Did you mean 'relu'?",
                          "reuse the previous layer")),
    Case("layer_type a number", {"bad.json": snapshot_bytes(layer(2, layer_type=5))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 2 (5)", "unknown layer_type 5")),
    Case("first layer not input", {"bad.json": snapshot_bytes(with_layers(lambda ls: ls.pop(0)))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 0 (conv), field 'layer_type': the first layer must be 'input', found 'conv'",)),
    Case("second input layer",
         {"bad.json": snapshot_bytes(with_layers(lambda ls: ls.insert(3, copy.deepcopy(ls[0]))))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 3 (input)", "only the first layer can be 'input'")),
    # --- sizes -----------------------------------------------------------------------------------
    Case("input depth missing", {"bad.json": snapshot_bytes(layer(0, out_depth=DELETE))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 0 (input), field 'out_depth': is missing",)),
    Case("size zero", {"bad.json": snapshot_bytes(layer(0, out_sx=0))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 0 (input), field 'out_sx': must be at least 1, found 0",)),
    Case("size negative", {"bad.json": snapshot_bytes(layer(3, stride=-2))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 3 (pool), field 'stride': must be at least 1, found -2",)),
    Case("size a fraction", {"bad.json": snapshot_bytes(layer(1, sx=2.5))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 1 (conv), field 'sx': must be a whole number, found 2.5",)),
    Case("size as a string", {"bad.json": snapshot_bytes(layer(0, out_sy="4"))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 0 (input), field 'out_sy': must be a number, found the string '4'", "without quotes")),
    Case("size a boolean", {"bad.json": snapshot_bytes(layer(1, stride=True))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 1 (conv), field 'stride': must be a whole number, found the boolean true",)),
    Case("size null", {"bad.json": snapshot_bytes(layer(4, num_inputs=None))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 4 (fc), field 'num_inputs': must be a whole number, found null",)),
    Case("size overflows to infinity", {"bad.json": replace_in_json('"out_sx":4', '"out_sx":1e400')}, CONVERT,
         SNAPSHOT_ERROR, ("layer 0 (input), field 'out_sx': must be a whole number, found inf",)),
    Case("input volume too large",
         {"bad.json": snapshot_bytes(layer(0, out_sx=100_000, out_sy=100_000))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 0 (input): outputs 100000x100000x2", "20,000,000,000 values", "at most 2,147,483,647")),
    Case("conv in_depth mismatch", {"bad.json": snapshot_bytes(layer(1, in_depth=3))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 1 (conv), field 'in_depth': is 3, but the previous layer outputs depth 2 (4x4x2)",)),
    Case("conv out_sx mismatch", {"bad.json": snapshot_bytes(layer(1, out_sx=5))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 1 (conv), field 'out_sx': is 5", "gives 4 for the 4x4x2 input")),
    Case("conv filter larger than input", {"bad.json": snapshot_bytes(layer(1, sx=7, sy=7))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 1 (conv), field 'sx': a 7x7 filter with pad 1 does not fit the 4x4x2 input",)),
    Case("huge kernel with tiny weights",
         {"bad.json": snapshot_bytes(lambda s: (layer(1, sx=100_001, sy=100_001, pad=50_000)(s),
                                                conv_filter(lambda v: v.update(sx=100_001, sy=100_001))(s)))},
         CONVERT, SNAPSHOT_ERROR,
         ("layer 1 (conv), field 'filters' [0]: 'w' has 18 values, expected sx*sy*depth = 20000400002",)),
    # Every consequence of the wrong out_depth is listed: the filters, the biases, and the relu after it.
    Case("filter count wrong", {"bad.json": snapshot_bytes(layer(1, out_depth=3))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 1 (conv), field 'filters': has 2 filters, expected out_depth = 3",
          "layer 1 (conv), field 'biases': has size 1x1x2", "layer 2 (relu), field 'out_depth'"), problems=3),
    Case("filters missing", {"bad.json": snapshot_bytes(layer(4, filters=DELETE))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 4 (fc), field 'filters': is missing",)),
    Case("filter vol of wrong size", {"bad.json": snapshot_bytes(conv_filter(lambda v: v.update(sx=2), 1))},
         CONVERT, SNAPSHOT_ERROR, ("layer 1 (conv), field 'filters' [1]: has size 2x3x2", "expected 3x3x2")),
    Case("biases missing", {"bad.json": snapshot_bytes(layer(1, biases=DELETE))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 1 (conv), field 'biases': is missing", "1x1x2")),
    Case("fc num_inputs mismatch", {"bad.json": snapshot_bytes(layer(4, num_inputs=9))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 4 (fc), field 'num_inputs': is 9, but the previous layer outputs 2x2x2 = 8",)),
    # --- weights ---------------------------------------------------------------------------------
    Case("weight array too short", {"bad.json": snapshot_bytes(conv_filter(lambda v: v["w"].pop()))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 1 (conv), field 'filters' [0]: 'w' has 17 values, expected sx*sy*depth = 18",)),
    Case("weight object key missing", {"bad.json": snapshot_bytes(fc_filter(lambda v: v["w"].pop("5")))},
         CONVERT, SNAPSHOT_ERROR, ("layer 4 (fc), field 'filters' [1]: 'w' has 7 keys", "key '5' is missing")),
    Case("weight object extra key", {"bad.json": snapshot_bytes(fc_filter(set_w("8", 0.5)))}, CONVERT,
         SNAPSHOT_ERROR, ("field 'filters' [1]: 'w' has 9 keys", "unexpected key(s) '8'")),
    Case("weight object non-numeric key",
         {"bad.json": snapshot_bytes(fc_filter(lambda v: (v["w"].pop("7"), v["w"].update(x=0.5))))}, CONVERT,
         SNAPSHOT_ERROR, ("'w' has 8 keys", "key '7' is missing", "unexpected key(s) 'x'")),
    Case("weight null", {"bad.json": snapshot_bytes(fc_filter(set_w("3", None), 2))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 4 (fc), field 'filters' [2]: 'w' [3] is null", "probably diverged")),
    Case("weight as a string", {"bad.json": snapshot_bytes(conv_filter(set_w(4, "0.5")))}, CONVERT,
         SNAPSHOT_ERROR, ("field 'filters' [0]: 'w' [4] is the string '0.5', expected a number",)),
    Case("weight a nested list", {"bad.json": snapshot_bytes(conv_filter(set_w(0, [1, 2])))}, CONVERT,
         SNAPSHOT_ERROR, ("'w' [0] is an array, expected a number",)),
    Case("weights a string", {"bad.json": snapshot_bytes(layer(1, biases={"sx": 1, "sy": 1, "depth": 2,
                                                                         "w": "0.1,0.2"}))},
         CONVERT, SNAPSHOT_ERROR, ("layer 1 (conv), field 'biases': 'w' must be an array", "found '0.1,0.2'")),
    Case("weights missing", {"bad.json": snapshot_bytes(conv_filter(lambda v: v.pop("w")))}, CONVERT,
         SNAPSHOT_ERROR, ("field 'filters' [0]: has no 'w'",)),
    Case("weight overflows to infinity", {"bad.json": replace_in_json('"w":[-0.1', '"w":[-1e999')}, CONVERT,
         SNAPSHOT_ERROR, ("'w' [0] is -inf, not a finite number",)),
    # --- other fields ----------------------------------------------------------------------------
    Case("decay multiplier a string", {"bad.json": snapshot_bytes(layer(4, l2_decay_mul="1"))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 4 (fc), field 'l2_decay_mul': must be a number, found the string '1'",)),
    Case("decay multiplier null", {"bad.json": snapshot_bytes(layer(1, l1_decay_mul=None))}, CONVERT,
         SNAPSHOT_ERROR, ("field 'l1_decay_mul': is null", "probably diverged")),
    Case("softmax size mismatch", {"bad.json": snapshot_bytes(layer(5, num_inputs=4, out_depth=4))}, CONVERT,
         SNAPSHOT_ERROR, ("layer 5 (softmax), field 'num_inputs': is 4", "layer 5 (softmax), field 'out_depth'"),
         problems=2),
    Case("relu depth mismatch", {"bad.json": snapshot_bytes(layer(2, out_depth=3))}, CONVERT, SNAPSHOT_ERROR,
         ("layer 2 (relu), field 'out_depth': is 3, but this layer's input (4x4x2) gives 2",)),
    Case("problems in several layers",
         {"bad.json": snapshot_bytes(lambda s: (layer(1, in_depth=3)(s), layer(2, layer_type="relu6")(s),
                                                fc_filter(set_w("0", None))(s)))},
         CONVERT, SNAPSHOT_ERROR,
         ("3 problems found", "layer 1 (conv), field 'in_depth'", "layer 2 (relu6)",
          "layer 4 (fc), field 'filters' [1]: 'w' [0] is null"), problems=3),
    # --- Keras inputs (export) -------------------------------------------------------------------
    Case("keras file not a zip", {"model.keras": b"hello"}, ["export", "model.keras", "out.json"],
         KerasModelError, ("model.keras: is not a .keras archive: it is not a zip archive",)),
    Case("keras file truncated", {"model.keras": KerasFile("truncated.keras")},
         ["export", "model.keras", "out.json"], KerasModelError,
         ("model.keras: is a damaged or truncated zip archive",)),
    Case("keras file is a snapshot", {"model.keras": snapshot_bytes()}, ["export", "model.keras", "out.json"],
         KerasModelError, ("it is JSON text, not a zip archive", "looks like a ConvNetJS snapshot")),
    Case("keras model with lambda", {"model.keras": KerasFile("lambda.keras")},
         ["export", "model.keras", "out.json"], KerasModelError,
         ("model.keras: layer 'times_two' (Lambda) is a Lambda layer", "not loaded, for safety")),
    Case("keras unknown custom object", {"model.keras": KerasFile("custom.keras")},
         ["export", "model.keras", "out.json"], KerasModelError,
         ("layer 'mystery' (MysteryLayer) is the custom object 'h5tests>MysteryLayer'", "not registered here")),
    Case("keras class from module os", {"model.keras": KerasFile("hostile.keras")},
         ["export", "model.keras", "out.json"], KerasModelError,
         ("comes from module 'os'", "not loaded, for safety")),
    Case("model.json is a snapshot", {"model.json": snapshot_bytes(), "model.weights.h5": KerasFile("ok.weights.h5")},
         ["export", "model.json", "out.json", "--weights", "model.weights.h5"], KerasModelError,
         ("model.json: is not a Keras model configuration", "looks like a ConvNetJS snapshot")),
    Case("weights do not match", {"model.json": KerasFile("model.json"), "model.weights.h5": KerasFile(
        "other.weights.h5")}, ["export", "model.json", "out.json", "--weights", "model.weights.h5"],
         KerasModelError, ("model.weights.h5: cannot be loaded into the model of model.json",
                           "has shape (3, 2) in the model but (3, 5) in the file")),
    Case("weights not hdf5", {"model.json": KerasFile("model.json"), "model.weights.h5": b"not hdf5"},
         ["export", "model.json", "out.json", "--weights", "model.weights.h5"], KerasModelError,
         ("model.weights.h5: cannot be loaded into the model of model.json",)),
    Case("model.json without weights", {"model.json": KerasFile("model.json")},
         ["export", "model.json", "out.json"], KerasModelError, ("model.json: a model.json contains no weights",
                                                                 "--weights")),
    Case("keras model wrong suffix", {"model.h5": KerasFile("ok.keras")}, ["export", "model.h5", "out.json"],
         KerasModelError, ("model.h5: has suffix '.h5'",)),
    # --- network text (inspect): parsed, never run -----------------------------------------------
    Case("net text require call", {"net.js": raw("var cp = require('child_process');\ncp.exec('touch x');")},
         ["inspect", "net.js"], NetworkTextError, ("net.js: line 1, column 10", "require(...)' is not supported",
                                                   "never run")),
    Case("net text function expression",
         {"net.js": raw("layer_defs = [{type: 'input', out_sx: (function () { return 9; })(), out_depth: 1}];")},
         ["inspect", "net.js"], NetworkTextError, ("net.js: line 1, column", "'function'")),
    Case("net text eval", {"net.js": raw("eval('layer_defs = []');")}, ["inspect", "net.js"], NetworkTextError,
         ("net.js: line 1, column 1", "eval(...)")),
    Case("net text endless loop", {"net.js": raw("while (true) {}\n")}, ["inspect", "net.js"], NetworkTextError,
         ("net.js: line 1, column 1", "'while'")),
    Case("net text prototype pollution",
         {"net.js": raw("Object.prototype.polluted = 1;\nlayer_defs = [];")}, ["inspect", "net.js"],
         NetworkTextError, ("net.js: line 1",)),
    # --- outputs ---------------------------------------------------------------------------------
    Case("output is the input", {"bad.json": snapshot_bytes()}, ["convert", "bad.json", "--json", "bad.json"],
         OutputPathError, ("bad.json: is also an input",)),
    Case("output exists", {"bad.json": snapshot_bytes(), "out.keras": b"old"}, CONVERT, OutputPathError,
         ("out.keras: already exists", "--force")),
    Case("output folder missing", {"bad.json": snapshot_bytes()}, ["convert", "bad.json", "missing/out.keras"],
         OutputPathError, ("missing/out.keras: folder 'missing' does not exist",)),
    Case("output is a folder", {"bad.json": snapshot_bytes(), "out.keras": DIRECTORY}, CONVERT, OutputPathError,
         ("out.keras: is a folder",)),
    Case("export output exists", {"model.keras": KerasFile("ok.keras"), "out.json": b"old"},
         ["export", "model.keras", "out.json"], OutputPathError, ("out.json: already exists", "--force")),
    Case("export onto its model", {"model.json": KerasFile("model.json"), "model.weights.h5": KerasFile(
        "ok.weights.h5")}, ["export", "model.json", "model.weights.h5", "--weights", "model.weights.h5",
                            "--force"], OutputPathError, ("model.weights.h5: is also an input",)),
    # --- usage errors (exit status 2) -------------------------------------------------------------
    Case("convert output not keras", {"bad.json": snapshot_bytes()}, ["convert", "bad.json", "out.h5"],
         UsageError, ("out.h5: the output must end in .keras, found 'out.h5'",), exit_code=2),
    Case("convert both outputs", {"bad.json": snapshot_bytes()},
         ["convert", "bad.json", "out.keras", "--json", "m.json"], UsageError,
         ("give either OUT.keras or --json",), exit_code=2),
    Case("convert weights not weights.h5", {"bad.json": snapshot_bytes()},
         ["convert", "bad.json", "--json", "m.json", "--weights", "m.h5"], UsageError,
         ("--weights must end in .weights.h5",), exit_code=2),
    Case("unknown option", {"bad.json": snapshot_bytes()}, CONVERT + ["--bogus"], None,
         ("unrecognized arguments: --bogus",), exit_code=2),
]

OUTPUTS = {"out.keras", "out.json", "m.json", "m.weights.h5", "missing"}


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory) -> dict[str, bytes]:
    """Build the Keras inputs once: a small valid model and its broken variants."""
    folder = tmp_path_factory.mktemp("keras_files")
    write_keras_files(folder)
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def make_files(folder: Path, files: dict, request) -> set[str]:
    for name, content in files.items():
        path = folder / name
        if content is DIRECTORY:
            path.mkdir()
        elif isinstance(content, KerasFile):
            path.write_bytes(request.getfixturevalue("keras_files")[content.name])
        else:
            path.write_bytes(content)
    return set(files)


def tree(folder: Path) -> dict[str, bytes | None]:
    """Return every path under ``folder`` with its contents (None for a folder)."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in folder.rglob("*")}


def test_table_has_enough_cases():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_input_rejected(case, tmp_path, monkeypatch, capsys, request):
    monkeypatch.chdir(tmp_path)
    make_files(tmp_path, case.files, request)
    before = tree(tmp_path)

    status = cli.main(case.argv)
    captured = capsys.readouterr()

    assert status == case.exit_code, captured.err
    assert captured.out == ""
    lines = captured.err.rstrip("\n").splitlines()
    if case.error is not None:
        error_lines = [line for line in lines if line.startswith("error:")]
        assert len(error_lines) == 1, captured.err
        assert lines[0].startswith("error:"), captured.err
        if case.problems == 1:
            assert len(lines) == 1, captured.err
        else:
            assert lines[0] == f"error: {case.problems} problems found:"
            assert len(lines) == case.problems + 1
            assert all(line.startswith("  - ") for line in lines[1:])
    message = " ".join(lines)
    for part in case.parts:
        assert part in message
    assert "Traceback" not in captured.err
    # No output file and no temporary debris; inputs unchanged.
    assert tree(tmp_path) == before


@pytest.mark.parametrize("case", [case for case in CASES if case.error is not None],
                         ids=[case.id for case in CASES if case.error is not None])
def test_verbose_names_error_class(case, tmp_path, monkeypatch, capsys, request):
    monkeypatch.chdir(tmp_path)
    make_files(tmp_path, case.files, request)

    status = cli.main(["-v", *case.argv])
    captured = capsys.readouterr()

    assert status == case.exit_code
    assert "Traceback (most recent call last)" in captured.err
    raised = re.findall(r"^convnetjs_keras\.errors\.(\w+): ", captured.err, flags=re.MULTILINE)
    assert raised, captured.err
    assert raised[-1] == case.error.__name__


def test_huge_declared_kernel_fails_fast():
    """A conv that declares a 100001x100001 kernel but carries 18 weights is rejected without allocating."""
    snapshot = conv_net()
    layer(1, sx=100_001, sy=100_001, pad=50_000)(snapshot)
    conv_filter(lambda v: v.update(sx=100_001, sy=100_001))(snapshot)
    data = dumps(snapshot)

    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(SnapshotFormatError) as raised:
            load_net_spec(data)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "20000400002" in str(raised.value)
    assert elapsed < 1.0
    assert peak < 5 * 1024 * 1024


def test_typed_array_object_checked_by_keys_present():
    """A {"0": ...} weight object checked against 10**12 declared values costs only the keys present."""
    from convnetjs_keras.converters.base import ParseContext
    from convnetjs_keras.vol import read_w

    ctx = ParseContext("net.json")
    weights = {str(i): 0.5 for i in range(1000)}

    start = time.perf_counter()
    values = read_w(weights, 10**12, ctx, "filters", element=0)

    assert time.perf_counter() - start < 0.5
    assert values is None
    assert "key '1000' is missing" in ctx.problems[0].message


def test_typed_array_object_with_huge_depth():
    snapshot = conv_net()
    fc = snapshot["layers"][4]
    fc["filters"][0]["depth"] = 10**12

    start = time.perf_counter()
    with pytest.raises(SnapshotFormatError) as raised:
        load_net_spec(dumps(snapshot))

    assert time.perf_counter() - start < 1.0
    assert "has size 1x1x1000000000000" in str(raised.value)


def test_problems_after_bad_layer_still_found():
    """A bad conv (layer 1) does not hide a bad weight in the fc (layer 4)."""
    snapshot = conv_net()
    layer(1, in_depth=3)(snapshot)
    fc_filter(set_w("2", "x"), 0)(snapshot)

    with pytest.raises(SnapshotFormatError) as raised:
        load_net_spec(snapshot)

    assert [(p.layer_index, p.field) for p in raised.value.problems] == [(1, "in_depth"), (4, "filters")]


def test_wrong_declared_size_reported_once():
    """A conv whose out_sx is wrong does not make the relu after it report the same mistake."""
    snapshot = conv_net()
    layer(1, out_sx=5)(snapshot)
    layer(2, out_sx=5)(snapshot)

    with pytest.raises(SnapshotFormatError) as raised:
        load_net_spec(snapshot)

    assert [(p.layer_index, p.field) for p in raised.value.problems] == [(1, "out_sx")]


def test_byte_order_mark_accepted(tmp_path):
    path = tmp_path / "net.json"
    path.write_bytes(b"\xef\xbb\xbf" + snapshot_bytes())

    net = load_net_spec(path)

    assert [spec.layer_type for spec in net.layers] == ["input", "conv", "relu", "pool", "fc", "softmax"]


def test_long_values_shortened_in_messages():
    snapshot = conv_net()
    layer(2, layer_type="x" * 100_000)(snapshot)

    with pytest.raises(SnapshotFormatError) as raised:
        load_net_spec(snapshot)

    assert len(str(raised.value)) < 1000
    assert "(100,000 characters)" in str(raised.value)


def test_problem_list_is_capped():
    snapshot = {"layers": [conv_net()["layers"][0]] + [{"layer_type": "bogus"}] * 80}

    with pytest.raises(SnapshotFormatError) as raised:
        load_net_spec(snapshot)

    assert len(raised.value.problems) == 80
    lines = str(raised.value).splitlines()
    assert lines[0] == "80 problems found:"
    assert lines[-1] == "  ... and 30 more; fix these first, then run again to see the rest."


HUGE = 10**4000  # a valid JSON integer (Python reads up to 4300 digits) far beyond any float


@pytest.mark.parametrize("mutation, part", [
    (layer(0, out_sx=HUGE), "layer 0 (input), field 'out_sx': is an integer of about 4001 digits, larger than "
                            "9007199254740991"),
    (layer(3, sx=HUGE), "layer 3 (pool), field 'sx': is an integer of about 4001 digits"),
    (layer(1, pad=-HUGE), "field 'pad': must be at least 0, found an integer of about 4001 digits"),
    (layer(4, l2_decay_mul=HUGE), "field 'l2_decay_mul': is an integer of about 4001 digits, too large"),
    (conv_filter(set_w(2, HUGE)), "'w' [2] is an integer of about 4001 digits, too large for a 64-bit float"),
], ids=["input size", "pool window", "negative pad", "decay multiplier", "weight"])
def test_huge_integer_rejected(mutation, part):
    snapshot = conv_net()
    mutation(snapshot)

    with pytest.raises(SnapshotFormatError) as raised:
        load_net_spec(snapshot)

    assert part in str(raised.value)
    assert len(str(raised.value)) < 2000
