"""`train` on network text pasted from the ConvNetJS CIFAR-10 demo page."""

import json

import numpy as np

import convnetjs_keras as ck
from convnetjs_keras.cli import main

# The CIFAR-10 demo page's network and trainer lines, and the layer_defs they define.
from test_network_text import CIFAR10_LAYERS, CIFAR10_TEXT


def _without_weights(snapshot):
    layers = []
    for layer in snapshot["layers"]:
        layers.append({key: value for key, value in layer.items() if key not in ("filters", "biases")})
    return layers


def test_demo_text_builds_same_network(tmp_path, caplog):
    (tmp_path / "cifar10.js").write_text(CIFAR10_TEXT)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.uniform(-0.5, 0.5, (8, 32, 32, 3)), y=rng.integers(0, 10, 8))
    caplog.set_level("INFO")

    status = main(["train", str(tmp_path / "cifar10.js"), "--data", str(tmp_path / "data.npz"), "--epochs", "1",
                   "--out", str(tmp_path / "run"), "--seed", "1"])

    assert status == 0
    trained = json.loads((tmp_path / "run" / "snapshot.json").read_text())
    expected = ck.to_snapshot(ck.from_layer_defs(CIFAR10_LAYERS, seed=1))
    assert _without_weights(trained) == _without_weights(expected)
    trainer_line = next(message for message in caplog.messages if message.startswith("trainer: "))
    trainer = json.loads(trainer_line[len("trainer: "):])
    assert trainer["method"] == "adadelta"
    assert trainer["batch_size"] == 4
    assert trainer["l2_decay"] == 0.0001
