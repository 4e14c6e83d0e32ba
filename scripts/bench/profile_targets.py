"""Profiles behind the targets that docs/benchmarks.md reports as not met.

    python scripts/bench/profile_targets.py training   # CIFAR-10 demo net, batch 128, one thread
    python scripts/bench/profile_targets.py load       # the 160 MB fc_big snapshot into a Keras model

``training`` times each convolution kernel of the CIFAR-10 demo network
alone at batch 128 (forward, filter gradient, input gradient), and the
pooling and ReLU kernels. It then times a training step written directly
with ``tf.function`` (same layers, adadelta, l2 decay, no Keras) and
``model.fit``. All times are CPU seconds with TensorFlow on one thread. ``load`` splits the CPU time of
``load_snapshot`` into its stages. Run ``run_all.py`` once first so that
the snapshot exists in scripts/bench/.cache/.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

BATCH = 128


def cpu_seconds(call, repeats: int, rounds: int = 5) -> float:
    """Return the median CPU seconds of one ``call()``, timed over ``repeats`` calls per round."""
    call()
    values = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeats):
            call()
        values.append((time.process_time() - start) / repeats)
    return statistics.median(values)


def profile_training() -> None:
    import numpy as np
    import tensorflow as tf

    import convnetjs_keras as ck
    from convnetjs_keras.training import compile_like_convnetjs

    layer_defs, trainer = common.network_definition("cifar10")
    model = ck.from_layer_defs(layer_defs, seed=1)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    matrix = tf.random.normal((2048, 2048))
    ceiling = 2 * 2048**3 / cpu_seconds(lambda: tf.matmul(matrix, matrix).numpy(), 3) / 1e9
    print(f"float32 matmul ceiling: {ceiling:.0f} GFLOP/s per CPU second")
    print(f"{'kernel':44s} {'ms / batch':>10s} {'GFLOP/s':>8s}")
    total = forward_total = 0.0
    for position, layer in enumerate(convs):
        x = tf.random.normal((BATCH, *layer.input.shape[1:]))
        dy = tf.random.normal((BATCH, *layer.output.shape[1:]))
        kernel = tf.convert_to_tensor(layer.kernel)
        padding = layer.padding.upper()
        flops = 2 * int(np.prod(dy.shape)) * int(np.prod(kernel.shape[:3]))
        kernels = {
            "forward": tf.function(lambda: tf.nn.conv2d(x, kernel, 1, padding)),
            "filter gradient": tf.function(lambda: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(kernel), out_backprop=dy, strides=[1, 1, 1, 1], padding=padding)),
        }
        if position > 0:
            kernels["input gradient"] = tf.function(lambda: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x), filter=kernel, out_backprop=dy, strides=[1, 1, 1, 1], padding=padding))
        for label, function in kernels.items():
            seconds = cpu_seconds(lambda: function().numpy(), 10)
            total += seconds
            forward_total += seconds if label == "forward" else 0.0
            print(f"{layer.name + ' ' + label:44s} {seconds * 1e3:10.2f} {flops / seconds / 1e9:8.0f}")
        relu = tf.function(lambda: tf.nn.max_pool2d(tf.nn.relu(dy), 2, 2, "VALID"))
        seconds = cpu_seconds(lambda: relu().numpy(), 10)
        print(f"{layer.name + ' relu + max pool forward':44s} {seconds * 1e3:10.2f}")
    print(f"conv kernels alone: {total * 1e3:.1f} ms per batch = {BATCH / total:.0f} examples/s at most")
    print(f"forward conv kernels alone (prediction): {forward_total * 1e3:.1f} ms per batch = "
          f"{BATCH / forward_total:.0f} examples/s at most")

    step_seconds = cpu_seconds(_hand_written_step(trainer), 10)
    print(f"hand-written tf.function training step: {step_seconds * 1e3:.1f} ms = {BATCH / step_seconds:.0f} "
          "examples/s")
    compile_like_convnetjs(model, dict(trainer, batch_size=BATCH, version="npm-0.3.0"), steps_per_execution=8)
    rng = np.random.default_rng(1)
    x = rng.random((BATCH * 8 * 4, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    fit_seconds = cpu_seconds(lambda: model.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0), 1, rounds=3)
    print(f"Keras model.fit (compile_like_convnetjs, steps_per_execution=8): {len(x) / fit_seconds:.0f} examples/s")


def _hand_written_step(trainer):
    """Return a call running one training step of the CIFAR-10 demo network written directly in TensorFlow."""
    import keras
    import tensorflow as tf

    shapes = [(5, 5, 3, 16), (5, 5, 16, 20), (5, 5, 20, 20)]
    kernels = [tf.Variable(tf.random.normal(shape, stddev=0.1)) for shape in shapes]
    biases = [tf.Variable(tf.zeros(shape[-1])) for shape in shapes]
    dense = tf.Variable(tf.random.normal((320, 10), stddev=0.1))
    dense_bias = tf.Variable(tf.zeros(10))
    variables = [*kernels, *biases, dense, dense_bias]
    optimizer = keras.optimizers.Adadelta(1.0, rho=0.95, epsilon=1e-6)
    l2_decay = trainer.get("l2_decay", 0.0)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            h = x
            for kernel, bias in zip(kernels, biases):
                h = tf.nn.max_pool2d(tf.nn.relu(tf.nn.conv2d(h, kernel, 1, "SAME") + bias), 2, 2, "VALID")
            logits = tf.matmul(tf.reshape(h, (-1, 320)), dense) + dense_bias
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
            loss += l2_decay / 2 * tf.add_n([tf.reduce_sum(k * k) for k in kernels]) / BATCH
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    x = tf.random.uniform((BATCH, 32, 32, 3))
    y = tf.random.uniform((BATCH,), 0, 10, tf.int32)
    return lambda: step(x, y).numpy()


def profile_load() -> None:
    import numpy as np
    import orjson

    import convnetjs_keras as ck
    from convnetjs_keras import fastjson
    from convnetjs_keras.model import build_model
    from convnetjs_keras.snapshot import load_net_spec

    path = common.snapshot_path("fc_big")
    ck.load_snapshot(common.snapshot_path("fc_small"))
    stages: dict[str, float] = {}
    real_loads, real_fromiter = orjson.loads, np.fromiter

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                stages[name] = stages.get(name, 0.0) + time.process_time() - start
        return wrapper

    fastjson.orjson.loads = timed("orjson.loads of each w object", real_loads)
    np.fromiter = timed("np.fromiter into float64", real_fromiter)
    try:
        start = time.process_time()
        parsed = fastjson.read_json_file(path)
        read = time.process_time() - start
    finally:
        fastjson.orjson.loads, np.fromiter = real_loads, real_fromiter
    del parsed
    start = time.process_time()
    net = load_net_spec(path)
    spec = time.process_time() - start
    start = time.process_time()
    build_model(net)
    build = time.process_time() - start
    print(f"{path.name}: {path.stat().st_size / 1e6:.0f} MB, CPU seconds")
    print(f"  fastjson.read_json_file        {read:.3f}")
    for name, seconds in stages.items():
        print(f"    {name:28s} {seconds:.3f}")
    print(f"    {'other checks, scan, reads':28s} {read - sum(stages.values()):.3f}")
    print(f"  load_net_spec (read + checks)  {spec:.3f}")
    print(f"  build_model (Keras layers)     {build:.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("training", "load"), help="which profile to print")
    args = parser.parse_args(argv)
    common.pin_threads(1)
    if args.what == "training":
        profile_training()
    else:
        profile_load()
    return 0


if __name__ == "__main__":
    sys.exit(main())
