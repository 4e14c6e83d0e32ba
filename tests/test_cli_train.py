"""Tests for ``convnetjs-keras train``, run in-process through ``convnetjs_keras.cli.main``.

Each training run uses a tiny network and at most a few hundred examples, so
that a run takes a few seconds (mostly Keras tracing the training step).
"""

from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest
from PIL import Image

from convnetjs_keras.cli import main

NETWORK_TEXT = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:6, out_sy:6, out_depth:1});
layer_defs.push({type:'conv', sx:3, filters:3, stride:1, pad:1, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'softmax', num_classes:3});
net = new convnetjs.Net();
net.makeLayers(layer_defs);
trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:8, l2_decay:0.001});
"""

REGRESSION_TEXT = """\
var layer_defs = [];
layer_defs.push({type:'input', out_sx:1, out_sy:1, out_depth:4});
layer_defs.push({type:'fc', num_neurons:5, activation:'tanh'});
layer_defs.push({type:'regression', num_neurons:2});
var net = new convnetjs.Net();
net.makeLayers(layer_defs);
var trainer = new convnetjs.Trainer(net, {method:'sgd', learning_rate:0.01, momentum:0.9, batch_size:4});
"""

OUTPUTS = ("model.keras", "snapshot.json", "history.csv", "training.png")
HISTORY_HEADER = ["epoch", "examples_seen", "loss", "l2_decay_loss", "l1_decay_loss", "accuracy", "val_loss",
                  "val_accuracy", "ms_per_example"]


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level(logging.INFO)


def _classification_data(count=48, size=6, seed=0):
    """Images with a bright pixel on the diagonal at the class index, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, count)
    x = rng.normal(0.0, 0.1, size=(count, size, size, 1)).astype(np.float32)
    x[np.arange(count), y * 2, y * 2, 0] += 1.0
    return x, y


def _write_network(tmp_path, text=NETWORK_TEXT, name="net.js"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _write_npz(tmp_path, name="data.npz", **kwargs):
    x, y = _classification_data(**kwargs)
    path = tmp_path / name
    np.savez(path, x=x, y=y)
    return path


def _read_history(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def _assert_snapshot_matches_keras(out, x):
    """The exported snapshot must predict in the real ConvNetJS what model.keras predicts."""
    from convnetjs_node import node_forward

    import convnetjs_keras as ck

    model = ck.load_keras_model(out / "model.keras")
    keras_output = model.predict(x, verbose=0)
    snapshot = json.loads((out / "snapshot.json").read_text(encoding="utf-8"))
    node_output = node_forward(snapshot, x)
    np.testing.assert_allclose(node_output, keras_output, atol=1e-5, rtol=0)


def _panel_lines(caplog):
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith("epoch ")]


def _trainer_line(caplog):
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("trainer: ")]
    assert len(lines) == 1
    return json.loads(lines[0][len("trainer: "):])


def _run_error(argv, capsys):
    """Run the CLI, expecting an input error; return the error line.

    Info lines logged before the error (such as the trainer options) may precede it.
    """
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 3, captured.err
    lines = captured.err.strip().splitlines()
    error_lines = [line for line in lines if line.startswith("error: ")]
    assert len(error_lines) == 1, captured.err
    assert lines[-1] == error_lines[0], captured.err
    assert "Traceback" not in captured.err
    return error_lines[0]


# ---------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------


def test_npz_network_text_writes_outputs(tmp_path, caplog):
    net = _write_network(tmp_path)
    data = _write_npz(tmp_path, count=48)
    out = tmp_path / "out"
    status = main(["train", str(net), "--data", str(data), "--epochs", "2", "--out", str(out),
                   "--validation-split", "0.25", "--seed", "3"])
    assert status == 0
    for name in OUTPUTS:
        assert (out / name).is_file(), name
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = _read_history(out / "history.csv")
    assert rows[0] == HISTORY_HEADER
    assert [row[:2] for row in rows[1:]] == [["1", "36"], ["2", "72"]]
    for row in rows[1:]:
        values = dict(zip(HISTORY_HEADER, row))
        assert 0.0 <= float(values["accuracy"]) <= 1.0
        assert 0.0 <= float(values["val_accuracy"]) <= 1.0
        assert float(values["l2_decay_loss"]) > 0.0
        assert float(values["loss"]) > 0.0

    # The trainer line of the network text is used.
    assert _trainer_line(caplog) == {**_trainer_line(caplog), "method": "adadelta", "batch_size": 8,
                                     "l2_decay": 0.001}
    panel = _panel_lines(caplog)
    assert len(panel) == 2
    assert panel[0].startswith("epoch 1/2, examples seen 36, loss ")
    assert "L2 decay loss" in panel[0]
    assert "training accuracy" in panel[0]
    assert "validation accuracy" in panel[0]
    assert panel[0].endswith("ms per example")

    x, _ = _classification_data(count=10, seed=9)
    _assert_snapshot_matches_keras(out, x)


def test_training_reduces_loss(tmp_path):
    net = _write_network(tmp_path)
    data = _write_npz(tmp_path, count=96)
    out = tmp_path / "out"
    assert main(["train", str(net), "--data", str(data), "--epochs", "4", "--out", str(out), "--seed", "1",
                 "--trainer", '{"method": "adam", "learning_rate": 0.02}']) == 0
    rows = _read_history(out / "history.csv")[1:]
    losses = [float(row[2]) for row in rows]
    assert losses[-1] < losses[0]


def test_image_folder_with_augmentation(tmp_path, caplog):
    x, y = _classification_data(count=24, size=8)
    folder = tmp_path / "images"
    for index, (image, label) in enumerate(zip(x, y)):
        (folder / f"class_{label}").mkdir(parents=True, exist_ok=True)
        pixels = np.clip((image[:, :, 0] + 0.5) * 255, 0, 255).astype(np.uint8)
        Image.fromarray(pixels, mode="L").save(folder / f"class_{label}" / f"{index}.png")
    net = _write_network(tmp_path)
    out = tmp_path / "out"
    # 8x8 images with a 6x6 network input: random crops in training.
    status = main(["train", str(net), "--data", str(folder), "--epochs", "1", "--out", str(out),
                   "--augment", "crop=6,flip", "--seed", "0"])
    assert status == 0
    rows = _read_history(out / "history.csv")
    assert rows[1][:2] == ["1", "24"]
    assert rows[1][HISTORY_HEADER.index("val_accuracy")] == ""
    _assert_snapshot_matches_keras(out, x[:5, 1:7, 1:7])


def test_csv_classification(tmp_path):
    x, y = _classification_data(count=40)
    data = tmp_path / "data.csv"
    header = ",".join([f"p{i}" for i in range(36)] + ["label"])
    lines = [header] + [",".join([*(f"{v:.6f}" for v in image.ravel()), str(label)]) for image, label in zip(x, y)]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["train", str(_write_network(tmp_path)), "--data", str(data), "--epochs", "1", "--out", str(out),
                 "--batch-size", "5"]) == 0
    assert _read_history(out / "history.csv")[1][:2] == ["1", "40"]


def test_csv_regression_and_keras_input(tmp_path, caplog):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    targets = np.stack([x[:, 0] - x[:, 1], 0.5 * x[:, 2]], axis=1)
    data = tmp_path / "data.csv"
    data.write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in np.hstack([x, targets])) + "\n")
    validation = tmp_path / "validation.npz"
    np.savez(validation, x=x[:16], y=targets[:16])
    net = _write_network(tmp_path, REGRESSION_TEXT)

    first = tmp_path / "first"
    assert main(["train", str(net), "--data", str(data), "--epochs", "2", "--out", str(first),
                 "--validation-data", str(validation), "--seed", "0"]) == 0
    rows = _read_history(first / "history.csv")
    assert rows[0] == HISTORY_HEADER
    values = dict(zip(HISTORY_HEADER, rows[-1]))
    assert values["accuracy"] == ""
    assert values["val_accuracy"] == ""
    assert float(values["val_loss"]) >= 0.0
    _assert_snapshot_matches_keras(first, x[:8].astype(np.float32))

    # Continue from the written model.keras; a .keras file has no trainer line, so --trainer gives it.
    second = tmp_path / "second"
    assert main(["train", str(first / "model.keras"), "--data", str(data), "--epochs", "1", "--out", str(second),
                 "--trainer", "{method:'sgd', learning_rate:0.001, batch_size:4}"]) == 0
    _assert_snapshot_matches_keras(second, x[:8].astype(np.float32))


def test_trainer_precedence(tmp_path, caplog):
    net = _write_network(tmp_path)
    data = _write_npz(tmp_path, count=16)
    out = tmp_path / "out"
    assert main(["train", str(net), "--data", str(data), "--epochs", "1", "--out", str(out),
                 "--trainer", '{"method": "sgd", "learning_rate": 0.05, "batch_size": 2}', "--batch-size", "4"]) == 0
    options = _trainer_line(caplog)
    assert options["method"] == "sgd"  # --trainer over the text
    assert options["learning_rate"] == 0.05
    assert options["l2_decay"] == 0.001  # kept from the text
    assert options["batch_size"] == 4  # --batch-size over --trainer


def test_trainer_from_network_text_file(tmp_path, caplog):
    net = _write_network(tmp_path, REGRESSION_TEXT.replace("'sgd'", "'windowgrad'"), name="other.js")
    data = tmp_path / "data.npz"
    np.savez(data, x=np.zeros((8, 4)), y=np.zeros((8, 2)))
    out = tmp_path / "out"
    assert main(["train", str(_write_network(tmp_path, REGRESSION_TEXT)), "--data", str(data), "--epochs", "1",
                 "--out", str(out), "--trainer-from", str(net)]) == 0
    assert _trainer_line(caplog)["method"] == "windowgrad"


def test_existing_outputs_replaced_with_force(tmp_path, capsys):
    net = _write_network(tmp_path)
    data = _write_npz(tmp_path, count=16)
    out = tmp_path / "out"
    out.mkdir()
    (out / "history.csv").write_text("old")
    line = _run_error(["train", str(net), "--data", str(data), "--epochs", "1", "--out", str(out)], capsys)
    assert "history.csv: already exists. Pass --force to replace it" in line
    assert (out / "history.csv").read_text() == "old"
    assert not (out / "model.keras").exists()

    assert main(["train", str(net), "--data", str(data), "--epochs", "1", "--out", str(out), "--force"]) == 0
    assert _read_history(out / "history.csv")[0] == HISTORY_HEADER


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_trainer_option_parsing(tmp_path):
    from convnetjs_keras.cli.train import parse_trainer_text
    from convnetjs_keras.errors import TrainerOptionError

    assert parse_trainer_text('{"method": "sgd"}', "--trainer") == {"method": "sgd"}
    assert parse_trainer_text("{method:'adadelta', batch_size:20, // comment\n l2_decay:1e-3}", "--trainer") == {
        "method": "adadelta", "batch_size": 20, "l2_decay": 0.001}
    with pytest.raises(TrainerOptionError) as caught:
        parse_trainer_text("{method:adadelta}", "--trainer")
    # The column points into the text as the user wrote it.
    assert str(caught.value).startswith("--trainer: line 1, column 9: unknown identifier 'adadelta'")
    with pytest.raises(TrainerOptionError, match=r"--trainer: is a JSON list; expected an object"):
        parse_trainer_text("[1, 2]", "--trainer")
    with pytest.raises(TrainerOptionError, match=r"--trainer: is not a JSON object"):
        parse_trainer_text("method=sgd", "--trainer")


def _error_case(tmp_path, case):
    net = _write_network(tmp_path)
    data = _write_npz(tmp_path, count=16)
    out = tmp_path / "out"
    argv = ["train", str(net), "--data", str(data), "--epochs", "1", "--out", str(out)]
    if case == "missing-data":
        argv[3] = str(tmp_path / "missing.npz")
        return argv, "missing.npz: file not found."
    if case == "wrong-shape":
        np.savez(data, x=np.zeros((4, 5, 5, 1)), y=np.zeros(4, dtype=int))
        return argv, "examples have shape (N, 5, 5, 1), expected (N, 6, 6, 1)"
    if case == "bad-label":
        np.savez(data, x=np.zeros((4, 6, 6, 1)), y=np.array([0, 1, 2, 5]))
        return argv, "label 5 at index 3 is invalid; expected an integer class index from 0 to 2"
    if case == "bad-trainer":
        return argv + ["--trainer", '{"method": "sgd", "learning_rate": "fast"}'], \
            "field 'learning_rate': is the string 'fast'; expected a number."
    if case == "unknown-method":
        return argv + ["--trainer", "{method:'rmsprop'}"], "'rmsprop' is not a ConvNetJS github method."
    if case == "bad-augment":
        return argv + ["--augment", "rotate=3"], "--augment: unknown augmentation 'rotate=3'"
    if case == "crop-mismatch":
        return argv + ["--augment", "crop=4"], "crop=4 does not match the network input (N, 6, 6, 1)"
    if case == "missing-net":
        argv[1] = str(tmp_path / "missing.json")
        return argv, "missing.json: file not found."
    if case == "network-text-syntax":
        net.write_text("layer_defs = [;\n")
        return argv, "net.js: line 1"
    if case == "out-is-file":
        out.write_text("x")
        return argv, "exists and is not a folder"
    raise AssertionError(case)


ERROR_CASES = ["missing-data", "wrong-shape", "bad-label", "bad-trainer", "unknown-method", "bad-augment",
               "crop-mismatch", "missing-net", "network-text-syntax", "out-is-file"]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_bad_input_one_line_error(tmp_path, capsys, case):
    argv, expected = _error_case(tmp_path, case)
    line = _run_error(argv, capsys)
    assert expected in line
    out = tmp_path / "out"
    if out.is_dir():
        assert list(out.iterdir()) == []


def test_output_over_input_rejected(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    net = _write_network(out, name="history.csv")
    net_js = tmp_path / "net.js"
    net_js.write_text(NETWORK_TEXT)
    data = _write_npz(tmp_path, count=16)
    # A network text file named history.csv inside --out: --force must still not overwrite it.
    line = _run_error(["train", str(net), "--data", str(data), "--epochs", "1", "--out", str(out), "--force"],
                      capsys)
    assert "history.csv: is also an input; refusing to write over it." in line
    assert net.read_text() == NETWORK_TEXT


def test_unknown_method_falls_back_to_sgd(tmp_path, caplog):
    data = _write_npz(tmp_path, count=16)
    out = tmp_path / "out"
    assert main(["train", str(_write_network(tmp_path)), "--data", str(data), "--epochs", "1", "--out", str(out),
                 "--trainer", "{method:'rmsprop'}", "--fallback-to-sgd"]) == 0
    assert _trainer_line(caplog)["method"] == "sgd"
    assert any("training with SGD" in record.getMessage() for record in caplog.records)


def test_distribute_without_module_rejected(tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("convnetjs_keras.distribute") is not None:
        pytest.skip("convnetjs_keras.distribute exists; its own tests cover --distribute")
    data = _write_npz(tmp_path, count=16)
    line = _run_error(["train", str(_write_network(tmp_path)), "--data", str(data), "--epochs", "1",
                       "--out", str(tmp_path / "out"), "--distribute", "mirrored"], capsys)
    assert "--distribute mirrored is not available" in line


def test_distribute_mirrored_trains_on_cpu(tmp_path, caplog):
    import importlib.util

    if importlib.util.find_spec("convnetjs_keras.distribute") is None:
        pytest.skip("convnetjs_keras.distribute is missing")
    data = _write_npz(tmp_path, count=16)
    out = tmp_path / "out"
    assert main(["train", str(_write_network(tmp_path)), "--data", str(data), "--epochs", "1", "--out", str(out),
                 "--distribute", "mirrored"]) == 0
    assert _read_history(out / "history.csv")[1][:2] == ["1", "16"]
    x, _ = _classification_data(count=4, seed=5)
    _assert_snapshot_matches_keras(out, x)


def test_epochs_must_be_positive(capsys):
    assert main(["train", "net.js", "--data", "d.npz", "--epochs", "0", "--out", "out"]) == 2
    assert "invalid value '0'; expected a positive integer" in capsys.readouterr().err
