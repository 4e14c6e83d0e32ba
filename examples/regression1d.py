"""Fit a noisy 1-D function with the network of ConvNetJS's regression demo.

The network and trainer are those of demo/regression.html in the
karpathy/convnetjs repository. The network has one input, a 20-neuron relu
layer, a 20-neuron sigmoid layer and one regression output. The trainer is
SGD with learning rate 0.01, no momentum, batch size 1 and L2 decay 0.001.
The demo draws 20 points x from [-5, 5) with y = x * sin(x). This script
adds Gaussian noise with standard deviation --noise (0 gives the demo's
data).

Run from the repository root:

    python examples/regression1d.py            # 20 points, 500 epochs
    python examples/regression1d.py --noise 0 --examples 50
    python examples/regression1d.py --fast

Writes regression.png, history.csv, snapshot.json, keras_predictions.npz
and summary.json to --out (default examples-output/regression1d).
"""

from __future__ import annotations

import logging

import _common
import numpy as np

NAME = "regression1d"

LAYER_DEFS = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 1},
    {"type": "fc", "num_neurons": 20, "activation": "relu"},
    {"type": "fc", "num_neurons": 20, "activation": "sigmoid"},
    {"type": "regression", "num_neurons": 1},
]
TRAINER = {"method": "sgd", "learning_rate": 0.01, "momentum": 0.0, "batch_size": 1, "l2_decay": 0.001}

logger = logging.getLogger("examples")


def target_function(x: np.ndarray) -> np.ndarray:
    return x * np.sin(x)


def mean_squared_error(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((model.predict(x, verbose=0) - y) ** 2))


def plot_fit(model, x, y, rows, path, title: str) -> None:
    """Draw the data, the noise-free function and the fitted curve, and the loss during training."""
    figure, axes = _common.new_figure(11, 4.4, columns=2)
    fit_axes, loss_axes = axes[0]

    grid = np.linspace(-6.0, 6.0, 601, dtype="float32")[:, np.newaxis]
    fit_axes.plot(grid[:, 0], target_function(grid[:, 0]), color="gray", linestyle="--", label="x sin(x), no noise")
    fit_axes.plot(grid[:, 0], model.predict(grid, verbose=0)[:, 0], color="tab:red", linewidth=2,
                  label="network output")
    fit_axes.scatter(x[:, 0], y[:, 0], color="black", zorder=3, s=25, label="training points")
    fit_axes.axvspan(-6.0, -5.0, color="gray", alpha=0.1)
    fit_axes.axvspan(5.0, 6.0, color="gray", alpha=0.1, label="outside the training range")
    fit_axes.set_xlabel("x (input)")
    fit_axes.set_ylabel("y (output)")
    fit_axes.set_title(title)
    fit_axes.grid(True, alpha=0.3)
    fit_axes.legend(fontsize="small")

    loss_axes.plot([row["epoch"] for row in rows], [row["loss"] for row in rows], marker=".")
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("epochs (passes over the points)")
    loss_axes.set_ylabel("loss 0.5 (output - y)²")
    loss_axes.set_title("training loss, mean since the previous point")
    loss_axes.grid(True, alpha=0.3, which="both")
    _common.save_figure(figure, path, "the fitted curve with the data, and the training loss")


def main(argv=None) -> int:
    parser = _common.make_parser(NAME, __doc__.split("\n\n")[0], epochs=500, examples=20,
                                 examples_help="number of data points")
    parser.add_argument("--noise", type=float, default=0.3,
                        help="standard deviation of the Gaussian noise added to y (default: 0.3; the demo has 0)")
    args = parser.parse_args(argv)
    if args.fast:
        args.epochs = 100
    if args.noise < 0:
        _common.fail(f"--noise {args.noise}: expected a standard deviation of 0 or more.")
    out = _common.start(args, NAME)
    clock = _common.Stopwatch()

    from convnetjs_keras.callbacks import write_history_csv
    from convnetjs_keras.model import from_layer_defs

    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-5.0, 5.0, (args.examples, 1)).astype("float32")
    y = (target_function(x) + rng.normal(0.0, args.noise, x.shape)).astype("float32")
    logger.info("data: %d points of y = x sin(x) + noise (std %g); trainer %s; %d epochs", len(x), args.noise,
                TRAINER, args.epochs)

    model = from_layer_defs(LAYER_DEFS, seed=args.seed)
    _common.compile_model(model, TRAINER, steps_per_execution=50)
    start_error = mean_squared_error(model, x, y)
    rows, passes = _common.fit_passes(model, x, y, TRAINER["batch_size"], args.epochs, args.seed)
    final_error = mean_squared_error(model, x, y)
    logger.info("mean squared error on the training points: %.4f before training, %.4f after", start_error,
                final_error)

    write_history_csv(rows, out / "history.csv")
    logger.info("wrote %s: loss during training", out / "history.csv")
    plot_fit(model, x, y, rows, out / "regression.png",
             f"ConvNetJS regression demo network, {passes} epochs\nmean squared error {final_error:.3f}")
    _common.export_snapshot(model, out, x)
    _common.write_json(out / "summary.json", {
        "points": len(x), "noise": args.noise, "epochs": passes, "trainer": TRAINER,
        "mse_before": start_error, "mse_after": final_error, "first_loss": rows[0]["loss"],
        "final_loss": rows[-1]["loss"], "total_seconds": clock.seconds,
    }, "settings, errors and timings")
    logger.info("done in %.1f s", clock.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
