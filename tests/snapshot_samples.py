"""Small valid ConvNetJS snapshots, written by hand, for the broken-input tests.

Each function returns a new ``Net.toJSON()`` dict with the keys in the order
ConvNetJS 0.3.0's ``toJSON`` methods write them. Weights are fixed numbers,
so the files are the same on every run. ``conv_net`` mixes both forms of a
Vol's ``w``: conv weights as plain arrays, fc weights as ``{"0": ...}``
objects, the form ``JSON.stringify`` gives a ``Float64Array``.
"""

from __future__ import annotations

import json


def vol(sx: int, sy: int, depth: int, start: float = 0.0, typed_array_object: bool = False) -> dict:
    """Return a Vol dict whose values are start, start + 0.01, ... (sx * sy * depth of them)."""
    values = [round(start + 0.01 * i, 6) for i in range(sx * sy * depth)]
    w = {str(i): v for i, v in enumerate(values)} if typed_array_object else values
    return {"sx": sx, "sy": sy, "depth": depth, "w": w}


def conv_net() -> dict:
    """input 4x4x2 > conv(2 3x3 s1 p1) > relu > pool(2 s2) > fc(8 -> 3) > softmax(3)."""
    return {"layers": [
        {"out_depth": 2, "out_sx": 4, "out_sy": 4, "layer_type": "input"},
        {"sx": 3, "sy": 3, "stride": 1, "in_depth": 2, "out_depth": 2, "out_sx": 4, "out_sy": 4,
         "layer_type": "conv", "l1_decay_mul": 0, "l2_decay_mul": 1, "pad": 1,
         "filters": [vol(3, 3, 2, -0.1), vol(3, 3, 2, 0.05)], "biases": vol(1, 1, 2, 0.1)},
        {"out_depth": 2, "out_sx": 4, "out_sy": 4, "layer_type": "relu"},
        {"sx": 2, "sy": 2, "stride": 2, "in_depth": 2, "out_depth": 2, "out_sx": 2, "out_sy": 2,
         "layer_type": "pool", "pad": 0},
        {"out_depth": 3, "out_sx": 1, "out_sy": 1, "layer_type": "fc", "num_inputs": 8, "l1_decay_mul": 0,
         "l2_decay_mul": 1,
         "filters": [vol(1, 1, 8, -0.03 * k, typed_array_object=True) for k in range(3)],
         "biases": vol(1, 1, 3, 0.0, typed_array_object=True)},
        {"out_depth": 3, "out_sx": 1, "out_sy": 1, "layer_type": "softmax", "num_inputs": 3},
    ]}


def vector_net() -> dict:
    """input 1x1x4 > fc(6) > tanh > dropout(0.25) > maxout(2) > fc(2) > sigmoid > regression(2)."""
    return {"layers": [
        {"out_depth": 4, "out_sx": 1, "out_sy": 1, "layer_type": "input"},
        {"out_depth": 6, "out_sx": 1, "out_sy": 1, "layer_type": "fc", "num_inputs": 4, "l1_decay_mul": 0,
         "l2_decay_mul": 1, "filters": [vol(1, 1, 4, 0.02 * k - 0.05) for k in range(6)],
         "biases": vol(1, 1, 6, 0.0)},
        {"out_depth": 6, "out_sx": 1, "out_sy": 1, "layer_type": "tanh"},
        {"out_depth": 6, "out_sx": 1, "out_sy": 1, "layer_type": "dropout", "drop_prob": 0.25},
        {"out_depth": 3, "out_sx": 1, "out_sy": 1, "layer_type": "maxout", "group_size": 2},
        {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "fc", "num_inputs": 3, "l1_decay_mul": 0,
         "l2_decay_mul": 1, "filters": [vol(1, 1, 3, 0.1), vol(1, 1, 3, -0.1)], "biases": vol(1, 1, 2, 0.0)},
        {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "sigmoid"},
        {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "regression", "num_inputs": 2},
    ]}


def lrn_net() -> dict:
    """input 3x3x3 > lrn(k=1, n=3) > conv(2 1x1) > pool(3 s1 p1) > fc(18 -> 2) > svm(2)."""
    return {"layers": [
        {"out_depth": 3, "out_sx": 3, "out_sy": 3, "layer_type": "input"},
        {"k": 1, "n": 3, "alpha": 0.1, "beta": 0.75, "out_sx": 3, "out_sy": 3, "out_depth": 3,
         "layer_type": "lrn"},
        {"sx": 1, "sy": 1, "stride": 1, "in_depth": 3, "out_depth": 2, "out_sx": 3, "out_sy": 3,
         "layer_type": "conv", "l1_decay_mul": 0, "l2_decay_mul": 1, "pad": 0,
         "filters": [vol(1, 1, 3, 0.2), vol(1, 1, 3, -0.2)], "biases": vol(1, 1, 2, 0.0)},
        {"sx": 3, "sy": 3, "stride": 1, "in_depth": 2, "out_depth": 2, "out_sx": 3, "out_sy": 3,
         "layer_type": "pool", "pad": 1},
        {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "fc", "num_inputs": 18, "l1_decay_mul": 0,
         "l2_decay_mul": 1, "filters": [vol(1, 1, 18, 0.0), vol(1, 1, 18, -0.05)], "biases": vol(1, 1, 2, 0.0)},
        {"out_depth": 2, "out_sx": 1, "out_sy": 1, "layer_type": "svm", "num_inputs": 2},
    ]}


SAMPLES = {"conv_net": conv_net, "vector_net": vector_net, "lrn_net": lrn_net}


def dumps(snapshot) -> bytes:
    """Serialise like ``JSON.stringify``: compact, UTF-8."""
    return json.dumps(snapshot, separators=(",", ":")).encode("utf-8")


def write_keras_files(folder) -> None:
    """Write small Keras inputs into ``folder``, valid and broken.

    ok.keras, ok.weights.h5, model.json: Dense(3 -> 2). other.weights.h5:
    weights of Dense(3 -> 5). lambda.keras: a Lambda layer 'times_two'.
    custom.keras: a custom layer 'mystery' whose class is unregistered again
    after saving. hostile.keras: ok.keras with a layer config naming class
    'system' of module 'os'. truncated.keras: the first half of ok.keras.
    unsupported.keras: Dense 'dense' with an elu activation, then LayerNormalization
    'layer_norm', neither of which ConvNetJS has.
    """
    import zipfile
    from pathlib import Path

    import keras

    folder = Path(folder)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    model.save(folder / "ok.keras")
    model.save_weights(folder / "ok.weights.h5")
    (folder / "model.json").write_text(model.to_json())
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(5, name="dense")]).save_weights(
        folder / "other.weights.h5")

    keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2, name="times_two")]).save(
        folder / "lambda.keras")

    @keras.saving.register_keras_serializable(package="h5tests")
    class MysteryLayer(keras.layers.Layer):
        def call(self, x):
            return x

    try:
        keras.Sequential([keras.Input((3,)), MysteryLayer(name="mystery")]).save(folder / "custom.keras")
    finally:
        # Loading must now meet a class this process does not know.
        keras.saving.get_custom_objects().pop("h5tests>MysteryLayer")

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="elu", name="dense"),
                      keras.layers.LayerNormalization(name="layer_norm")]).save(folder / "unsupported.keras")

    with zipfile.ZipFile(folder / "ok.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1] = {"module": "os", "class_name": "system",
                                     "config": {"command": "touch pwned"}, "registered_name": None}
    with zipfile.ZipFile(folder / "hostile.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, json.dumps(config) if name == "config.json" else data)

    data = (folder / "ok.keras").read_bytes()
    (folder / "truncated.keras").write_bytes(data[: len(data) // 2])
