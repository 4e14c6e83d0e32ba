"""Real ConvNetJS snapshots from public repositories convert exactly.

The corpus lives beside the repository in ``../shared/corpus`` (15 files
described in its MANIFEST.md); the tests skip when it is absent. Each file is
converted from its path, so wrapped snapshots go through the automatic
wrapper detection, and compared with ConvNetJS 0.3.0's ``forward`` in Node on
a few random inputs. Tolerances: 1e-5 for float32 and 1e-10 for float64
models, absolute, times max(1, largest |output|).

These tests need Node.js and `npm ci` in the repository root.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from convnetjs_compare import CORPUS_DIR, assert_matches_convnetjs, input_shape, keras_predict
from convnetjs_keras.errors import SnapshotFormatError
from convnetjs_keras.model import from_snapshot
from convnetjs_keras.snapshot import load_net_spec
from convnetjs_node import node_forward

# File name -> the key under which the snapshot is wrapped (None: top level).
CONVERTIBLE = {
    "adc_temperature_sigmoid_regression.json": None,
    "catfeeder_64x64x3_conv.json": None,
    "deeptraffic_relu_tanh_value_net.json": None,
    "dqnrobot_brain_param_wrapper.json": "brain",
    "gan_generator_tanh_regression784.json": None,
    "gesture_64x64_array_weights.json": None,
    "karpathy_cifar10_conv.json": None,
    "karpathy_mnist24_conv.json": None,
    "kcaptcha_48x48_conv.json": None,
    "mnist28_conv.json": None,
    "rldemo_dqn_value_net.json": None,
    "snu_captcha_26x26_conv.json": None,
    "tron_conv1x1_value_net.json": None,
    "xray_list_wrapper_bom.json": "0.network",
}
DEPTH_MISMATCH = "cifar10_input_depth_mismatch.json"

# Few examples for the big image nets: ConvNetJS's forward is slow in Node.
EXAMPLES_PER_INPUT_KIND = {"image": 2, "vector": 4}

requires_corpus = pytest.mark.skipif(
    not CORPUS_DIR.is_dir(), reason=f"the snapshot corpus is not at {CORPUS_DIR} (../shared/corpus)"
)


def _unwrap(obj, key):
    for part in key.split(".") if key else []:
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


@functools.lru_cache(maxsize=None)
def reference(name: str):
    """Return (inputs, ConvNetJS outputs) for a corpus file.

    The file is parsed here without convnetjs_keras, decoding it as
    utf-8-sig. That strips the byte-order mark of xray_list_wrapper_bom.json,
    on which Node's JSON.parse fails, before the snapshot goes to Node.
    """
    obj = json.loads((CORPUS_DIR / name).read_bytes().decode("utf-8-sig"))
    snapshot = _unwrap(obj, CONVERTIBLE[name])
    shape = input_shape(snapshot)
    rng = np.random.default_rng(len(name))
    if len(shape) == 3:
        # Image nets: pixels scaled to [-0.5, 0.5), as ConvNetJS's demos feed them.
        x = rng.uniform(-0.5, 0.5, size=(EXAMPLES_PER_INPUT_KIND["image"], *shape))
    else:
        x = rng.normal(0.0, 1.0, size=(EXAMPLES_PER_INPUT_KIND["vector"], *shape))
    return x, node_forward(snapshot, x)


@requires_corpus
def test_corpus_files_all_covered():
    names = {path.name for path in CORPUS_DIR.glob("*.json")}

    assert names == set(CONVERTIBLE) | {DEPTH_MISMATCH}


@requires_corpus
@pytest.mark.parametrize("name", list(CONVERTIBLE))
def test_corpus_wrapper_key_detected(name):
    net = load_net_spec(CORPUS_DIR / name)

    assert net.wrapper_path == CONVERTIBLE[name]


@requires_corpus
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CONVERTIBLE))
def test_corpus_matches_convnetjs(name, dtype):
    x, expected = reference(name)

    model = from_snapshot(CORPUS_DIR / name, dtype=dtype)

    assert_matches_convnetjs(keras_predict(model, x), expected, dtype, name)


@requires_corpus
def test_depth_mismatch_rejected():
    with pytest.raises(SnapshotFormatError) as caught:
        from_snapshot(CORPUS_DIR / DEPTH_MISMATCH)

    problems = caught.value.problems
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.layer_index, problem.layer_type, problem.field) == (1, "conv", "in_depth")
    assert "is 3" in problem.message
    assert "depth 1" in problem.message
    assert DEPTH_MISMATCH in str(caught.value)
