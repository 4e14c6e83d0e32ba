"""Training speed: ConvNetJS's Trainer in Node against Keras, examples per second.

Networks: the CIFAR-10 and MNIST demo networks of ConvNetJS (see
js/convnetjs_bench.js). Keras models come from ``from_layer_defs`` and are
compiled by ``compile_like_convnetjs`` with the demos' trainer options
(adadelta, l2_decay) and the batch size measured, so both sides do the same
updates. Inputs are uniform random numbers, labels random classes.

Measured:

- CIFAR-10 at batch 128, with the FLOPs per second next to the float32
  matmul ceiling measured in the same process, and the convolution kernels
  alone at batch 128 (the bound they set on examples per second);
- CIFAR-10 at batch 4 and MNIST at batch 20 (the demos' own batch sizes),
  with and without ``steps_per_execution``;
- in the full run, the "before" variants: one update per call
  (``steps_per_execution=1``), and padded convs built as ``ZeroPadding2D``
  + ``padding='valid'`` instead of ``padding='same'``.

Usage: python scripts/bench/bench_training.py --threads 1 [--quick] [--json OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

# Updates per call of the compiled train function (Keras' steps_per_execution).
# On the 2-core machine of docs/benchmarks.md, batch 128 was within noise for
# 1, 4, 8 and 16; batches 4 and 20 were fastest at 50 of 1, 10, 50 and 100.
STEPS_PER_EXECUTION = {128: 8, 20: 50, 4: 50}


def keras_examples_per_second(layer_defs, trainer, batch_size, steps_per_execution, examples, same_padding=True):
    """Return a function that times ``model.fit`` over ``examples`` random examples, after a warm-up fit.

    ``same_padding=False`` builds every padded conv as ``ZeroPadding2D`` +
    ``padding='valid'``, as the converter does where 'same' would differ.
    """
    from unittest import mock

    import numpy as np

    import convnetjs_keras as ck
    from convnetjs_keras.converters.dotproducts import ConvConverter
    from convnetjs_keras.training import compile_like_convnetjs

    if same_padding:
        model = ck.from_layer_defs(layer_defs, seed=1)
    else:
        with mock.patch.object(ConvConverter, "same_padding_matches", staticmethod(lambda spec: False)):
            model = ck.from_layer_defs(layer_defs, seed=1)
    options = dict(trainer, batch_size=batch_size, version="npm-0.3.0")
    compile_like_convnetjs(model, options, steps_per_execution=steps_per_execution)
    rng = np.random.default_rng(1)
    x = rng.random((examples, *model.input_shape[1:]), dtype=np.float32)
    y = rng.integers(0, layer_defs[-1]["num_classes"], examples)
    warmup = batch_size * steps_per_execution
    model.fit(x[:warmup], y[:warmup], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)

    def one_round():
        with common.Timer() as timer:
            model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return examples / timer.wall, examples / timer.cpu

    return one_round


def compare_training(name, net, batch_size, variants, *, node_examples, keras_examples, rounds, target=None,
                     flops=None, ceiling=None):
    """Alternate ConvNetJS and each Keras variant in every round; return one comparison per variant.

    ``variants`` lists ``(label suffix, steps_per_execution, same_padding,
    note)``; the first is the configuration the library recommends, and the
    target applies to it alone. All variants share the ConvNetJS rounds.
    """
    layer_defs, trainer = common.network_definition(net)
    timers = []
    for _, steps_per_execution, same_padding, _ in variants:
        # Whole updates only, so Keras never runs a partial last batch.
        chunk = batch_size * steps_per_execution
        count = max(chunk, keras_examples // chunk * chunk)
        timers.append((count, keras_examples_per_second(layer_defs, trainer, batch_size, steps_per_execution,
                                                        count, same_padding=same_padding)))
    convnetjs = {"wall": [], "cpu": []}
    pythons = [{"wall": [], "cpu": []} for _ in variants]
    for _ in range(rounds):
        result = common.node("train", net=net, examples=node_examples, batch_size=batch_size)
        convnetjs["wall"].append(result["examples_per_s"])
        convnetjs["cpu"].append(result["examples"] / result["cpu_s"])
        for (_, one_round), python in zip(timers, pythons):
            wall, cpu = one_round()
            python["wall"].append(wall)
            python["cpu"].append(cpu)

    results = []
    for position, ((suffix, steps_per_execution, _, note), (count, _), python) in enumerate(
            zip(variants, timers, pythons)):
        extra = {"batch_size": batch_size, "steps_per_execution": steps_per_execution, "keras_examples": count,
                 "node_examples": node_examples}
        if flops is not None:
            extra["flops_per_example"] = flops
            for clock in ("wall", "cpu"):
                rate = common.median(python[clock]) * flops / 1e9
                extra[f"gflops_{clock}"] = rate
                if ceiling is not None:
                    extra[f"ceiling_fraction_{clock}"] = rate / ceiling[f"python_{clock}"]
        result = common.comparison(name + suffix, "examples/s", convnetjs, python, higher_is_better=True,
                                   target=target if position == 0 else None, note=note, extra=extra)
        common.print_result(result)
        results.append(result)
    return results


def conv_kernel_bound(net, batch_size, rounds, suffix):
    """Time the model's Conv2D kernels alone (forward, filter and input gradients) for one batch.

    The first layer's input gradient is left out, as in training. The
    result is the examples per second that training could reach if
    everything else (bias, activations, pooling, loss, optimizer, Keras)
    took no time.
    """
    import tensorflow as tf

    import convnetjs_keras as ck

    layer_defs, _ = common.network_definition(net)
    model = ck.from_layer_defs(layer_defs, seed=1)
    convs = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)
             or type(layer).__name__ == "Conv2D"]
    steps = []
    for position, layer in enumerate(convs):
        x = tf.random.normal((batch_size, *layer.input.shape[1:]))
        kernel = tf.convert_to_tensor(layer.kernel)
        strides = [1, *layer.strides, 1]
        padding = layer.padding.upper()
        dy = tf.random.normal((batch_size, *layer.output.shape[1:]))
        steps.append(tf.function(lambda x=x, k=kernel, s=strides, p=padding: tf.nn.conv2d(x, k, s, p)))
        steps.append(tf.function(lambda x=x, k=kernel, dy=dy, s=strides, p=padding: tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=tf.shape(k), out_backprop=dy, strides=s, padding=p)))
        if position > 0:
            steps.append(tf.function(lambda x=x, k=kernel, dy=dy, s=strides, p=padding: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x), filter=k, out_backprop=dy, strides=s, padding=p)))
    for step in steps:
        step().numpy()
    values = {"wall": [], "cpu": []}
    repeats = 5
    for _ in range(rounds):
        with common.Timer() as timer:
            for _ in range(repeats):
                for step in steps:
                    output = step()
            output.numpy()
        values["wall"].append(batch_size * repeats / timer.wall)
        values["cpu"].append(batch_size * repeats / timer.cpu)
    result = common.measurement(f"{net} conv kernels alone, batch {batch_size}, {suffix} (bound)", "examples/s",
                                values,
                                note="Conv2D forward + filter and input gradients only")
    common.print_result(result)
    return result


def run(*, quick: bool = False, rounds: int = common.MIN_ROUNDS, threads: int = 1) -> list[dict]:
    """Run the comparisons; TensorFlow must already be pinned to ``threads`` threads."""
    rounds = max(rounds, common.MIN_ROUNDS)
    scale = 0.05 if quick else 1.0

    def count(examples):
        return max(8, int(examples * scale))

    layer_defs, _ = common.network_definition("cifar10")
    flops = common.conv_net_flops(layer_defs)["training"]
    ceiling = common.matmul_ceiling(rounds, size=512 if quick else 2048, threads=threads)
    common.print_result(ceiling)
    results = [ceiling]
    suffix = f"{threads} thread{'s' if threads > 1 else ''}"

    spe = STEPS_PER_EXECUTION[128]
    variants = [("", spe, True, f"steps_per_execution={spe}")]
    if not quick:
        variants += [(", steps_per_execution=1", 1, True, "before: one update per call"),
                     (", ZeroPadding2D + 'valid'", spe, False,
                      "before: explicit padding layers where padding='same' is equivalent")]
    results += compare_training(f"train CIFAR-10 batch 128, {suffix}", "cifar10", 128, variants,
                                node_examples=count(200), keras_examples=count(6144), rounds=rounds, target=180.0,
                                flops=flops, ceiling=ceiling)
    results.append(conv_kernel_bound("cifar10", 128, rounds, suffix))

    demos = (("cifar10", 4, 60.0, 200, 4000), ("mnist", 20, 50.0, 600, 16000))
    # The quick mode runs one demo: the code path is the same for both.
    for net, batch_size, target, node_examples, keras_examples in demos[1:] if quick else demos:
        label = "CIFAR-10" if net == "cifar10" else "MNIST"
        spe = STEPS_PER_EXECUTION[batch_size]
        variants = [("", spe, True, f"adadelta, steps_per_execution={spe}")]
        if not quick:
            variants.append((", steps_per_execution=1", 1, True, "before: one update per call"))
        results += compare_training(f"train {label} batch {batch_size} (demo), {suffix}", net, batch_size,
                                    variants, node_examples=count(node_examples),
                                    keras_examples=count(keras_examples), rounds=rounds, target=target)
    return results


def main(argv=None) -> int:
    return common.threaded_benchmark_main(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
