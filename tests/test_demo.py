"""`convnetjs-keras demo` runs the whole round trip on the bundled data."""

import json

import numpy as np

from convnetjs_keras.cli import main
from convnetjs_node import node_forward


def test_demo_writes_snapshot_convnetjs_loads(tmp_path, caplog):
    out = tmp_path / "demo"
    caplog.set_level("INFO")

    assert main(["demo", "--out", str(out), "--epochs", "1"]) == 0

    log = caplog.text
    assert "same predicted class for 500 of 500 digits" in log
    assert "float64 model" in log
    assert (out / "model.keras").is_file()
    snapshot = json.loads((out / "snapshot.json").read_text())
    assert [layer["layer_type"] for layer in snapshot["layers"]] == [
        "input", "conv", "relu", "pool", "conv", "relu", "pool", "fc", "softmax"]

    import convnetjs_keras as ck
    from convnetjs_keras.inference import predict

    x = np.load(ck.cli.demo.demo_data_dir() / "mnist_heldout.npz")["x"][:20]
    keras_probs = predict(ck.load_snapshot(out / "snapshot.json", dtype="float64"), x)
    np.testing.assert_allclose(node_forward(snapshot, x), keras_probs, rtol=0, atol=1e-12)


def test_demo_runs_twice_in_same_folder(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "1"]) == 0
    assert main(["demo", "--out", str(out), "--epochs", "1"]) == 0


def test_demo_refuses_foreign_folder(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")

    assert main(["demo", "--out", str(tmp_path)]) == 3
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
