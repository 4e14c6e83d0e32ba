"""`train` on network text pasted from the ConvNetJS CIFAR-10 demo page."""

import json

import numpy as np

import convnetjs_keras as ck
from convnetjs_keras.cli import main

# The network and trainer lines as the CIFAR-10 demo page shows them.
CIFAR10_DEMO_TEXT = """
layer_defs = [];
layer_defs.push({type:'input', out_sx:32, out_sy:32, out_depth:3});
layer_defs.push({type:'conv', sx:5, filters:16, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'conv', sx:5, filters:20, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'conv', sx:5, filters:20, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'softmax', num_classes:10});

net = new convnetjs.Net();
net.makeLayers(layer_defs);

trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:4, l2_decay:0.0001});
"""

LAYER_DEFS = [
    {"type": "input", "out_sx": 32, "out_sy": 32, "out_depth": 3},
    {"type": "conv", "sx": 5, "filters": 16, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "softmax", "num_classes": 10},
]


def _without_weights(snapshot):
    layers = []
    for layer in snapshot["layers"]:
        layers.append({key: value for key, value in layer.items() if key not in ("filters", "biases")})
    return layers


def test_demo_text_builds_same_network(tmp_path, caplog):
    (tmp_path / "cifar10.js").write_text(CIFAR10_DEMO_TEXT)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "data.npz", x=rng.uniform(-0.5, 0.5, (8, 32, 32, 3)), y=rng.integers(0, 10, 8))
    caplog.set_level("INFO")

    status = main(["train", str(tmp_path / "cifar10.js"), "--data", str(tmp_path / "data.npz"), "--epochs", "1",
                   "--out", str(tmp_path / "run"), "--seed", "1"])

    assert status == 0
    trained = json.loads((tmp_path / "run" / "snapshot.json").read_text())
    expected = ck.to_snapshot(ck.from_layer_defs(LAYER_DEFS, seed=1))
    assert _without_weights(trained) == _without_weights(expected)
    trainer_line = next(message for message in caplog.messages if message.startswith("trainer: "))
    trainer = json.loads(trainer_line[len("trainer: "):])
    assert trainer["method"] == "adadelta"
    assert trainer["batch_size"] == 4
    assert trainer["l2_decay"] == 0.0001
