"""MagicNet files <-> Keras averaging models, checked against ConvNetJS 0.3.0's
own ``MagicNet.fromJSON`` and ``predict_soft`` in Node; and the deep-Q-learning
value nets of the corpus, which convert like any snapshot."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
from convnetjs_node import REPO_ROOT, _node_executable, node_forward, node_make_layers

from convnetjs_keras import SnapshotFormatError, UnsupportedLayerError, from_snapshot, to_snapshot
from convnetjs_keras.cli import main
from convnetjs_keras.magicnet import from_magicnet, is_magicnet_model, load_magicnet, to_magicnet
from convnetjs_keras.version import __version__

L = keras.layers
CORPUS = REPO_ROOT.parent / "shared" / "corpus"
TOLERANCE = 1e-5

# Runs MagicNet.fromJSON and predict_soft on each input. argv: request file.
PREDICT_SOFT_JS = r"""
const convnetjs = require('convnetjs');
const request = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
const magicNet = new convnetjs.MagicNet();
magicNet.fromJSON(request.magicnet);
const [sx, sy, depth] = request.shape;
const outputs = [];
const labels = [];
for (const values of request.inputs) {
  const vol = new convnetjs.Vol(sx, sy, depth, 0.0);
  values.forEach((value, i) => { vol.w[i] = value; });
  outputs.push(Array.from(magicNet.predict_soft(vol).w));
  labels.push(magicNet.predict(vol));
}
process.stdout.write(JSON.stringify({outputs: outputs, labels: labels}));
"""


def node_predict_soft(magicnet: dict, x: np.ndarray, shape, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    """Return ConvNetJS's ``(predict_soft outputs, predict labels)`` for inputs ``x`` (NHWC)."""
    request = tmp_path / "magicnet_request.json"
    request.write_text(json.dumps({"magicnet": magicnet, "inputs": x.reshape(len(x), -1).tolist(),
                                   "shape": list(shape)}))
    completed = subprocess.run([_node_executable(), "-e", PREDICT_SOFT_JS, str(request)], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    response = json.loads(completed.stdout)
    return np.array(response["outputs"]), np.array(response["labels"])


def conv_net(seed, classes=3):
    return node_make_layers([
        {"type": "input", "out_sx": 5, "out_sy": 5, "out_depth": 2},
        {"type": "conv", "sx": 3, "filters": 3, "stride": 1, "pad": 1, "activation": "relu"},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "softmax", "num_classes": classes},
    ], seed=seed)


@pytest.fixture(scope="module")
def magicnet():
    """Two conv nets with 3 classes: npm 0.3.0's averaging divides by 3, not 2."""
    return {"nets": [conv_net(1), conv_net(2)]}


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(0).normal(size=(5, 5, 5, 2))


def test_magicnet_averages_nets(magicnet, inputs):
    model = from_magicnet(magicnet)

    found = np.asarray(model(inputs.astype("float32")))

    nets = [np.asarray(from_snapshot(net)(inputs.astype("float32"))) for net in magicnet["nets"]]
    np.testing.assert_allclose(found, np.mean(nets, axis=0), atol=1e-6)
    np.testing.assert_allclose(found.sum(axis=1), 1.0, atol=1e-6)


def test_magicnet_matches_convnetjs_predict_soft(magicnet, inputs, tmp_path):
    model = from_magicnet(magicnet)
    nets, classes = len(magicnet["nets"]), 3

    soft, labels = node_predict_soft(magicnet, inputs, (5, 5, 2), tmp_path)

    found = np.asarray(model(inputs.astype("float32")))
    # npm convnetjs 0.3.0 divides the sum by the number of classes, not of nets.
    np.testing.assert_allclose(soft * classes / nets, found, atol=TOLERANCE)
    np.testing.assert_array_equal(labels, found.argmax(axis=1))


def test_magicnet_round_trip(magicnet, inputs, tmp_path):
    model = from_magicnet(magicnet)

    exported = to_magicnet(model)

    assert exported["convnetjs_keras_version"] == __version__
    assert len(exported["nets"]) == 2
    for original, net in zip(magicnet["nets"], exported["nets"]):
        assert [layer["layer_type"] for layer in net["layers"]] == [layer["layer_type"] for layer in original["layers"]]
    soft, _ = node_predict_soft(exported, inputs, (5, 5, 2), tmp_path)
    np.testing.assert_allclose(soft * 3 / 2, np.asarray(model(inputs.astype("float32"))), atol=TOLERANCE)


def test_magicnet_keras_file_round_trip(magicnet, inputs, tmp_path):
    path = tmp_path / "magicnet.keras"
    from_magicnet(magicnet).save(path)

    loaded = keras.saving.load_model(path, safe_mode=True)

    assert is_magicnet_model(loaded)
    np.testing.assert_allclose(np.asarray(loaded(inputs.astype("float32"))),
                               np.asarray(from_magicnet(magicnet)(inputs.astype("float32"))), atol=1e-7)


def test_magicnet_single_net(inputs):
    model = from_magicnet({"nets": [conv_net(3)]})

    assert len(to_magicnet(model)["nets"]) == 1
    np.testing.assert_allclose(np.asarray(model(inputs.astype("float32"))),
                               node_forward(conv_net(3), inputs), atol=TOLERANCE)


def test_cli_convert_and_export_magicnet(magicnet, inputs, tmp_path):
    source = tmp_path / "magic.json"
    source.write_text(json.dumps(magicnet))
    converted = tmp_path / "magic.keras"
    exported = tmp_path / "again.json"

    assert main(["convert", str(source), str(converted)]) == 0
    assert main(["export", str(converted), str(exported), "--digits", "6"]) == 0

    written = json.loads(exported.read_text())
    assert len(written["nets"]) == 2
    again = load_magicnet(exported)
    np.testing.assert_allclose(np.asarray(again(inputs.astype("float32"))),
                               np.asarray(load_magicnet(source)(inputs.astype("float32"))), atol=1e-4)


def test_hand_written_averaging_model_exports(inputs, tmp_path):
    image = keras.Input((5, 5, 2))
    trunk = L.Conv2D(3, 3, activation="relu", name="shared_trunk")(image)
    heads = [L.Dense(4, activation="softmax", name=f"head_{i}")(L.Flatten()(trunk)) for i in range(3)]
    model = keras.Model(image, L.Average()(heads))
    x = inputs.astype("float32")

    exported = to_magicnet(model)

    soft, _ = node_predict_soft(exported, inputs, (5, 5, 2), tmp_path)
    # Three nets and four classes: npm 0.3.0 returns sum / 4, Keras sum / 3.
    np.testing.assert_allclose(soft * 4 / 3, np.asarray(model(x)), atol=TOLERANCE)


def test_to_magicnet_rejects_plain_model():
    model = keras.Sequential([keras.Input((3,)), L.Dense(2, activation="softmax")])

    with pytest.raises(UnsupportedLayerError, match="is not a MagicNet"):
        to_magicnet(model)


def test_to_snapshot_rejects_averaging_model(magicnet):
    with pytest.raises(UnsupportedLayerError, match="takes 2 inputs.*MagicNet"):
        to_snapshot(from_magicnet(magicnet))


def test_magicnet_lists_problems_of_every_net():
    vector_net = node_make_layers([{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
                                   {"type": "softmax", "num_classes": 2}], seed=0)
    broken = conv_net(4)
    del broken["layers"][1]["sx"]
    magicnet = {"nets": [conv_net(1), broken, vector_net, conv_net(5, classes=4)]}

    with pytest.raises(SnapshotFormatError) as error:
        from_magicnet(magicnet)

    problems = [str(problem) for problem in error.value.problems]
    assert any("nets[1]" in problem and "'sx'" in problem for problem in problems)
    broken_free = {"nets": [conv_net(1), vector_net, conv_net(5, classes=4)]}
    with pytest.raises(SnapshotFormatError) as error:
        from_magicnet(broken_free)
    problems = [str(problem) for problem in error.value.problems]
    assert any("nets[1]" in problem and "takes a 1x1x4 input" in problem for problem in problems)
    assert any("nets[2]" in problem and "has 4 outputs" in problem for problem in problems)


@pytest.mark.parametrize("obj, message", [
    ({"nets": []}, "non-empty list"),
    ({"layers": []}, "is not a MagicNet file"),
], ids=["empty_nets", "single_snapshot"])
def test_magicnet_format_errors(obj, message):
    with pytest.raises(SnapshotFormatError, match=message):
        from_magicnet(obj)


# deepqlearn's Brain feeds its value net [state_t, then temporal_window times
# (state_{t-k}, one-hot(action_{t-k}) * num_states)] and reads one value per action.
BRAIN_NETS = [
    ("rldemo_dqn_value_net.json", 27 + 1 * (27 + 5), 5),  # 9 eyes x 3 sensors, 5 actions, temporal_window 1
    ("deeptraffic_relu_tanh_value_net.json", 350, 5),
]


@pytest.mark.parametrize("name, inputs_count, actions", BRAIN_NETS, ids=[name for name, _, _ in BRAIN_NETS])
def test_brain_value_net_converts(name, inputs_count, actions):
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"the shared snapshot corpus is not at {CORPUS}")
    snapshot = json.loads(path.read_text(encoding="utf-8-sig"))
    x = np.random.default_rng(5).uniform(0, 1, (6, inputs_count))

    model = from_snapshot(snapshot, dtype="float64")

    assert tuple(model.inputs[0].shape[1:]) == (inputs_count,)
    assert snapshot["layers"][-1]["layer_type"] == "regression"
    np.testing.assert_allclose(np.asarray(model(x)), node_forward(snapshot, x), atol=1e-9)
    assert np.asarray(model(x)).shape == (6, actions)
    np.testing.assert_allclose(node_forward(to_snapshot(model), x), node_forward(snapshot, x), atol=1e-12)
