"""Classify 2-D points with the network of ConvNetJS's 2-D classification demo.

The network, trainer and data sets are those of demo/classify2d.html in the
karpathy/convnetjs repository. The inputs are the raw (x, y) coordinates,
and a 6-neuron and a 2-neuron tanh layer feed a 2-class softmax. The trainer
is SGD with learning rate 0.01, momentum 0.1, batch size 10 and L2 decay
0.001.
The demo starts with the circle data set. Keras visits the points in a new
random order each epoch, while the demo trains on them in a fixed order.

Run from the repository root:

    python examples/classify2d.py                  # circle data, 300 epochs
    python examples/classify2d.py --data spiral --epochs 2000
    python examples/classify2d.py --fast

Writes decision_regions.png, history.csv, snapshot.json,
keras_predictions.npz and summary.json to --out
(default examples-output/classify2d).
"""

from __future__ import annotations

import logging
import math

import _common
import numpy as np

NAME = "classify2d"

LAYER_DEFS = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 2},
    {"type": "fc", "num_neurons": 6, "activation": "tanh"},
    {"type": "fc", "num_neurons": 2, "activation": "tanh"},
    {"type": "softmax", "num_classes": 2},
]
TRAINER = {"method": "sgd", "learning_rate": 0.01, "momentum": 0.1, "batch_size": 10, "l2_decay": 0.001}

# The hand-placed points of the demo's "simple data" button (original_data in demo/js/classify2d.js).
SIMPLE_POINTS = [
    (-0.4326, 1.1909, 1), (3.0, 4.0, 1), (0.1253, -0.0376, 1), (0.2877, 0.3273, 1), (-1.1465, 0.1746, 1),
    (1.8133, 1.0139, 0), (2.7258, 1.0668, 0), (1.4117, 0.5593, 0), (4.1832, 0.3044, 0), (1.8636, 0.1677, 0),
    (0.5, 3.2, 1), (0.8, 3.2, 1), (1.0, -2.2, 1),
]
DATASETS = ("circle", "spiral", "simple", "random")

logger = logging.getLogger("examples")


def make_data(name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return points shaped (N, 2) and labels shaped (N,) as the demo generates them."""
    if name == "circle":
        # 50 points of class 1 inside radius 2, 50 of class 0 on a ring of radius 3 to 5.
        radius = rng.uniform(0.0, 2.0, 50)
        angle = rng.uniform(0.0, 2 * math.pi, 50)
        inner = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
        radius = rng.uniform(3.0, 5.0, 50)
        angle = 2 * math.pi * np.arange(50) / 50.0
        outer = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
        return np.concatenate([inner, outer]), np.repeat(np.array([1, 0]), 50)
    if name == "spiral":
        # Two interleaved spirals of 100 points each, the second turned by pi.
        n = 100
        step = np.arange(n) / n
        points, labels = [], []
        for label, turn in ((1, 0.0), (0, math.pi)):
            radius = step * 5 + rng.uniform(-0.1, 0.1, n)
            angle = 1.25 * step * 2 * math.pi + turn + rng.uniform(-0.1, 0.1, n)
            points.append(np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1))
            labels.append(np.full(n, label))
        return np.concatenate(points), np.concatenate(labels)
    if name == "simple":
        table = np.array(SIMPLE_POINTS)
        return table[:, :2], table[:, 2].astype(np.int64)
    # random: 40 points with random labels, which the network can only memorise.
    return rng.uniform(-3.0, 3.0, (40, 2)), (rng.uniform(0.0, 1.0, 40) > 0.5).astype(np.int64)


def plot_regions(model, x: np.ndarray, y: np.ndarray, path, title: str) -> None:
    """Draw the probability of class 1 over the plane, the decision boundary and the points."""
    limit = max(6.0, float(np.abs(x).max()) + 0.5)
    grid = np.linspace(-limit, limit, 241)
    grid_x, grid_y = np.meshgrid(grid, grid)
    inputs = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype("float32")
    probability = model.predict(inputs, batch_size=10_000, verbose=0)[:, 1].reshape(grid_x.shape)

    figure, axes = _common.new_figure(6.4, 5.6)
    axes = axes[0, 0]
    image = axes.contourf(grid_x, grid_y, probability, levels=np.linspace(0, 1, 21), cmap="RdBu_r", alpha=0.8)
    axes.contour(grid_x, grid_y, probability, levels=[0.5], colors="black", linewidths=1.5)
    for label, colour in ((0, "tab:blue"), (1, "tab:red")):
        chosen = y == label
        axes.scatter(x[chosen, 0], x[chosen, 1], c=colour, edgecolors="black", s=36, label=f"class {label} points")
    axes.plot([], [], color="black", label="decision boundary (p = 0.5)")
    colorbar = figure.colorbar(image, ax=axes)
    colorbar.set_label("network's probability of class 1")
    axes.set_xlabel("x (first input)")
    axes.set_ylabel("y (second input)")
    axes.set_title(title)
    axes.set_aspect("equal")
    axes.legend(loc="upper right", fontsize="small", framealpha=0.9)
    _common.save_figure(figure, path, "decision regions of the trained network with the training points")


def main(argv=None) -> int:
    parser = _common.make_parser(NAME, __doc__.split("\n\n")[0], epochs=300, examples=None)
    parser.add_argument("--data", choices=DATASETS, default="circle",
                        help="data set, as the demo's buttons make it (default: circle)")
    args = parser.parse_args(argv)
    if args.fast:
        args.epochs = 250
    out = _common.start(args, NAME)
    clock = _common.Stopwatch()

    from convnetjs_keras.callbacks import write_history_csv
    from convnetjs_keras.model import from_layer_defs

    x, y = make_data(args.data, np.random.default_rng(args.seed))
    x = x.astype("float32")
    logger.info("data: %s, %d points; trainer %s; %d epochs", args.data, len(x), TRAINER, args.epochs)

    model = from_layer_defs(LAYER_DEFS, seed=args.seed)
    _common.compile_model(model, TRAINER, steps_per_execution=50)
    start_accuracy = _common.accuracy(model, x, y)
    rows, passes = _common.fit_passes(model, x, y, TRAINER["batch_size"], args.epochs, args.seed)
    train_accuracy = _common.accuracy(model, x, y)
    logger.info("training accuracy: %.1f%% before training, %.1f%% after", 100 * start_accuracy,
                100 * train_accuracy)

    write_history_csv(rows, out / "history.csv")
    logger.info("wrote %s: loss and accuracy during training", out / "history.csv")
    plot_regions(model, x, y, out / "decision_regions.png",
                 f"ConvNetJS 2-D demo network, {args.data} data\n"
                 f"{passes} epochs, training accuracy {100 * train_accuracy:.0f}%")
    _common.export_snapshot(model, out, x)
    _common.write_json(out / "summary.json", {
        "data": args.data, "points": len(x), "epochs": passes, "trainer": TRAINER,
        "train_accuracy_before": start_accuracy, "train_accuracy": train_accuracy,
        "first_loss": rows[0]["loss"], "final_loss": rows[-1]["loss"], "total_seconds": clock.seconds,
    }, "settings, accuracies and timings")
    logger.info("done in %.1f s", clock.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
