"""How learning rate, momentum, batch size and weight decay change training and validation accuracy.

Trains the ConvNetJS CIFAR-10 demo network (see cifar10.py) with ConvNetJS's
SGD trainer once per setting of a small grid. Then it writes a table of the
final training and validation accuracy of each setting, with the gap between
them, and a plot. Without CIFAR-10 data (no --data, and keras.datasets
cannot download it or --offline is given) the study uses the ConvNetJS MNIST
demo network on the MNIST digits found on this machine instead, and prints a note that it did.

The default grid changes one hyperparameter at a time from a base setting
(learning rate 0.01, momentum 0.9, batch size 16, L2 decay 0.001); --grid
full trains every combination of the value lists instead. Training
accuracy is measured on the training examples without augmentation, after
each epoch, so that it is comparable with the validation accuracy. The
training set is kept small (--examples) so that overfitting shows.

Run from the repository root:

    python examples/hyperparameters.py                 # 8 settings, 2,000 examples, 5 epochs each
    python examples/hyperparameters.py --data cifar-10-batches-py --examples 5000 --epochs 10
    python examples/hyperparameters.py --learning-rates 0.003,0.03 --grid full
    python examples/hyperparameters.py --fast

Writes results.csv, results.md, hyperparameters.png, snapshot.json (the
setting with the best validation accuracy), keras_predictions.npz and
summary.json to --out (default examples-output/hyperparameters).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import _common
import cifar10
import mnist
import numpy as np

NAME = "hyperparameters"
PARAMETERS = ("learning_rate", "momentum", "batch_size", "l2_decay")
LABELS = {"learning_rate": "learning rate", "momentum": "momentum", "batch_size": "batch size",
          "l2_decay": "L2 decay"}
BASE = {"learning_rate": 0.01, "momentum": 0.9, "batch_size": 16, "l2_decay": 0.001}
DEFAULT_VALUES = {"learning_rate": "0.001,0.01,0.1", "momentum": "0,0.9", "batch_size": "4,16,64",
                  "l2_decay": "0,0.001,0.01"}
FAST_VALUES = {"learning_rate": [0.01, 0.1], "momentum": [0.9, 0.0], "batch_size": [16], "l2_decay": [0.001]}

RESULT_COLUMNS = ["setting", "varied", "learning_rate", "momentum", "batch_size", "l2_decay", "train_accuracy",
                  "validation_accuracy", "gap", "best_validation_accuracy", "best_epoch", "final_loss", "seconds"]

logger = logging.getLogger("examples")


@dataclass(frozen=True)
class Setting:
    learning_rate: float
    momentum: float
    batch_size: int
    l2_decay: float

    def trainer(self) -> dict:
        return {"method": "sgd", **asdict(self)}

    def describe(self, base: "Setting | None") -> str:
        """Return the changes from ``base`` ("lr 0.1, batch 64"), or "base"."""
        names = {"learning_rate": "lr", "momentum": "momentum", "batch_size": "batch", "l2_decay": "L2"}
        changes = [f"{names[key]} {getattr(self, key):g}" for key in PARAMETERS
                   if base is None or getattr(self, key) != getattr(base, key)]
        return ", ".join(changes) or "base"


@dataclass
class Task:
    """The network and data of the study."""

    description: str
    layer_defs: list
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    augmentation: object  # convnetjs_keras.data.Augmentation
    train_view: np.ndarray  # the training examples as network input, without augmentation


def parse_values(text: str, option: str, kind=float) -> list:
    try:
        values = [kind(item) for item in text.split(",") if item.strip()]
    except ValueError:
        _common.fail(f"{option} {text!r}: expected numbers separated by commas, such as 0.001,0.01,0.1.")
    if not values:
        _common.fail(f"{option}: expected at least one value.")
    return values


def make_settings(values: dict[str, list], grid: str) -> tuple[list[Setting], Setting | None]:
    """Return the settings to train and the base setting (None for a full grid)."""
    if grid == "full":
        return [Setting(*combination) for combination in itertools.product(*(values[key] for key in PARAMETERS))], None
    # The base takes the default base value where the list contains it, else the list's first value.
    base = Setting(**{key: BASE[key] if BASE[key] in values[key] else values[key][0] for key in PARAMETERS})
    settings = [base]
    for key in PARAMETERS:
        for value in values[key]:
            setting = Setting(**{**asdict(base), key: value})
            if setting not in settings:
                settings.append(setting)
    return settings, base


def load_task(args) -> Task:
    """Return CIFAR-10 with its demo network when available, else MNIST with the MNIST demo network."""
    from convnetjs_keras.data import Augmentation, centre_crop

    args.test_examples = args.validation_examples
    found = cifar10.find_cifar10(args)
    if found is not None:
        x_train, y_train, x_val, y_val, source = found
        x_train = cifar10.preprocess(x_train[:args.examples])
        augmentation = Augmentation(shift=cifar10.SHIFT, flip=True) if args.augment else Augmentation()
        return Task(f"ConvNetJS CIFAR-10 demo network on {source}", cifar10.LAYER_DEFS, x_train,
                    y_train[:args.examples], cifar10.preprocess(x_val[:args.validation_examples]),
                    y_val[:args.validation_examples], augmentation, x_train)

    logger.info("NOTE: no CIFAR-10 data (give --data, or allow the download), so this study trains the ConvNetJS "
                "MNIST demo network on MNIST digits instead.")
    digits = _common.load_mnist(args.offline, args.validation_examples)
    x_train, y_train = digits.x_train[:args.examples], digits.y_train[:args.examples]
    if digits.size == mnist.CROP:
        augmentation, train_view, x_val = Augmentation(), x_train, digits.x_test
    else:
        augmentation = Augmentation(crop=mnist.CROP) if args.augment else Augmentation()
        train_view, x_val = centre_crop(x_train, mnist.CROP), centre_crop(digits.x_test, mnist.CROP)
        if not args.augment:
            x_train = train_view
    return Task(f"ConvNetJS MNIST demo network on {digits.source}", mnist.LAYER_DEFS, x_train, y_train, x_val,
                digits.y_test, augmentation, train_view)


def epoch_accuracy_callback(task: Task):
    """Return a callback that stores the training and validation accuracy after each epoch."""
    import keras

    def accuracy(model, x, y):
        correct = 0
        for start in range(0, len(x), 500):
            probabilities = model(x[start:start + 500], training=False)
            correct += int(np.sum(np.argmax(probabilities, axis=1) == y[start:start + 500]))
        return correct / len(x)

    class EpochAccuracy(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train, self.validation, self.loss = [], [], []

        def on_epoch_end(self, epoch, logs=None):
            self.train.append(accuracy(self.model, task.train_view, task.y_train))
            self.validation.append(accuracy(self.model, task.x_val, task.y_val))
            self.loss.append(float((logs or {}).get("cost_loss", np.nan)))

    return EpochAccuracy()


def train_setting(task: Task, setting: Setting, epochs: int, seed: int):
    """Train a fresh network with ``setting``; return the model and its per-epoch numbers."""
    from convnetjs_keras.model import from_layer_defs

    model = from_layer_defs(task.layer_defs, seed=seed)
    _common.compile_model(model, setting.trainer(), steps_per_execution=max(1, 64 // setting.batch_size))
    x_train, y_train = _common.trim_to_batches(task.x_train, task.y_train, setting.batch_size)
    dataset = _common.training_dataset(x_train, y_train, setting.batch_size, task.augmentation, seed)
    callback = epoch_accuracy_callback(task)
    model.fit(dataset, epochs=epochs, callbacks=[callback], shuffle=False, verbose=0)
    return model, callback


def markdown_table(rows: list[dict], base: Setting | None, task: Task, args) -> str:
    lines = [
        "# Hyperparameter study",
        "",
        f"{task.description}: {len(task.x_train)} training and {len(task.x_val)} validation examples, "
        f"{args.epochs} epochs per setting, SGD as ConvNetJS's trainer computes it, augmentation: "
        f"{task.augmentation}. Accuracies are after the last epoch; the gap is training minus validation "
        "accuracy.",
        "",
        "| setting | learning rate | momentum | batch size | L2 decay | training accuracy | validation accuracy "
        "| gap (points) | best validation accuracy (epoch) | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['varied']} | {row['learning_rate']:g} | {row['momentum']:g} | {row['batch_size']} | "
            f"{row['l2_decay']:g} | {100 * row['train_accuracy']:.1f}% | {100 * row['validation_accuracy']:.1f}% | "
            f"{100 * row['gap']:+.1f} | {100 * row['best_validation_accuracy']:.1f}% ({row['best_epoch']}) | "
            f"{row['seconds']:.1f} |")
    findings = findings_text(rows, base)
    if findings:
        lines += ["", "## Findings", "", *findings]
    return "\n".join(lines) + "\n"


def findings_text(rows: list[dict], base: Setting | None) -> list[str]:
    """Return one Markdown bullet per hyperparameter that was varied, with the measured accuracies."""
    lines = []
    for key in PARAMETERS:
        if base is None:
            # Full grid: average over the other hyperparameters.
            groups = {}
            for row in rows:
                groups.setdefault(row[key], []).append(row)
            if len(groups) < 2:
                continue
            summary = {value: (float(np.mean([r["train_accuracy"] for r in group])),
                               float(np.mean([r["validation_accuracy"] for r in group])))
                       for value, group in groups.items()}
            averaging = "mean over the other hyperparameters"
        else:
            chosen = [row for row in rows
                      if all(row[other] == getattr(base, other) for other in PARAMETERS if other != key)]
            if len(chosen) < 2:
                continue
            summary = {row[key]: (row["train_accuracy"], row["validation_accuracy"]) for row in chosen}
            averaging = "others at the base setting"
        parts = [f"{value:g}: training {100 * train:.1f}%, validation {100 * validation:.1f}% "
                 f"(gap {100 * (train - validation):.1f} points)"
                 for value, (train, validation) in sorted(summary.items())]
        best = max(summary, key=lambda value: summary[value][1])
        lines.append(f"- **{LABELS[key]}** ({averaging}): " + "; ".join(parts)
                     + f". Best validation accuracy at {best:g}.")
    return lines


def plot_results(rows: list[dict], histories: list[tuple[str, object]], path: Path, title: str) -> None:
    from matplotlib.ticker import MaxNLocator

    figure, axes = _common.new_figure(14, 5.2, columns=2)
    bar_axes, curve_axes = axes[0]
    positions = np.arange(len(rows))
    bar_axes.bar(positions - 0.2, [row["train_accuracy"] for row in rows], width=0.4, label="training accuracy")
    bar_axes.bar(positions + 0.2, [row["validation_accuracy"] for row in rows], width=0.4,
                 label="validation accuracy")
    bar_axes.set_xticks(positions, [row["varied"] for row in rows], rotation=35, ha="right", fontsize="small")
    bar_axes.set_ylim(0, 1.15)
    bar_axes.set_xlabel("setting (change from the base setting)")
    bar_axes.set_ylabel("accuracy after the last epoch")
    bar_axes.set_title("training vs validation accuracy per setting")
    bar_axes.grid(True, axis="y", alpha=0.3)
    bar_axes.legend(loc="upper center", ncols=2)

    for index, (label, history) in enumerate(histories):
        epochs = np.arange(1, len(history.train) + 1)
        colour = f"C{index % 10}"
        curve_axes.plot(epochs, history.train, color=colour, linestyle="--", marker=".")
        curve_axes.plot(epochs, history.validation, color=colour, marker="o", label=label)
    curve_axes.plot([], [], color="gray", linestyle="--", label="(dashed: training)")
    curve_axes.set_xlabel("epoch")
    curve_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    curve_axes.set_ylabel("accuracy")
    curve_axes.set_title("validation (solid) and training (dashed) accuracy by epoch")
    curve_axes.grid(True, alpha=0.3)
    curve_axes.legend(fontsize="x-small", ncols=2)
    figure.suptitle(title)
    _common.save_figure(figure, path, "training vs validation accuracy for each setting")


def main(argv=None) -> int:
    parser = _common.make_parser(NAME, __doc__.split("\n\n")[0], epochs=5, examples=2000,
                                 examples_help="number of training examples")
    parser.add_argument("--validation-examples", type=_common.positive_int, default=1000,
                        help="number of validation examples (default: 1000)")
    parser.add_argument("--data", type=Path, metavar="PATH",
                        help="CIFAR-10: the cifar-10-batches-py folder or an .npz (see cifar10.py)")
    parser.add_argument("--grid", choices=("one-at-a-time", "full"), default="one-at-a-time",
                        help="vary one hyperparameter at a time from the base setting, or train every "
                             "combination (default: one-at-a-time)")
    parser.add_argument("--learning-rates", default=DEFAULT_VALUES["learning_rate"],
                        help=f"comma-separated values (default: {DEFAULT_VALUES['learning_rate']})")
    parser.add_argument("--momenta", default=DEFAULT_VALUES["momentum"],
                        help=f"comma-separated values (default: {DEFAULT_VALUES['momentum']})")
    parser.add_argument("--batch-sizes", default=DEFAULT_VALUES["batch_size"],
                        help=f"comma-separated values (default: {DEFAULT_VALUES['batch_size']})")
    parser.add_argument("--l2-decays", default=DEFAULT_VALUES["l2_decay"],
                        help=f"comma-separated values (default: {DEFAULT_VALUES['l2_decay']})")
    parser.add_argument("--augment", action="store_true",
                        help="train with the demo's augmentation (default: none, so that overfitting shows)")
    _common.add_offline_option(parser)
    args = parser.parse_args(argv)
    values = {"learning_rate": parse_values(args.learning_rates, "--learning-rates"),
              "momentum": parse_values(args.momenta, "--momenta"),
              "batch_size": parse_values(args.batch_sizes, "--batch-sizes", int),
              "l2_decay": parse_values(args.l2_decays, "--l2-decays")}
    if args.fast:
        args.epochs, args.examples, args.validation_examples, values = 2, 320, 200, FAST_VALUES
    settings, base = make_settings(values, args.grid)
    out = _common.start(args, NAME)
    clock = _common.Stopwatch()

    from convnetjs_keras.files import atomic_write_bytes

    task = load_task(args)
    logger.info("%s; %d training and %d validation examples; %d settings, %d epochs each", task.description,
                len(task.x_train), len(task.x_val), len(settings), args.epochs)

    rows, histories, best_model, best_accuracy = [], [], None, -1.0
    for number, setting in enumerate(settings, start=1):
        setting_clock = _common.Stopwatch()
        model, history = train_setting(task, setting, args.epochs, args.seed)
        best_epoch = int(np.argmax(history.validation)) + 1
        row = {"setting": number, "varied": setting.describe(base), **asdict(setting),
               "train_accuracy": history.train[-1], "validation_accuracy": history.validation[-1],
               "gap": history.train[-1] - history.validation[-1],
               "best_validation_accuracy": max(history.validation), "best_epoch": best_epoch,
               "final_loss": history.loss[-1], "seconds": setting_clock.seconds}
        rows.append(row)
        histories.append((row["varied"], history))
        logger.info("%d/%d %-22s training accuracy %5.1f%%, validation accuracy %5.1f%% (%.1f s)", number,
                    len(settings), row["varied"], 100 * row["train_accuracy"], 100 * row["validation_accuracy"],
                    row["seconds"])
        if row["validation_accuracy"] > best_accuracy:
            best_model, best_accuracy, best_row = model, row["validation_accuracy"], row

    _common.write_csv(out / "results.csv", RESULT_COLUMNS, rows, "one row per setting")
    atomic_write_bytes(out / "results.md", markdown_table(rows, base, task, args).encode("utf-8"))
    logger.info("wrote %s: the table and findings in Markdown", out / "results.md")
    for line in findings_text(rows, base):
        logger.info("%s", line.replace("**", ""))
    plot_results(rows, histories, out / "hyperparameters.png",
                 f"{task.description}\n{len(task.x_train)} training examples, {args.epochs} epochs, SGD")
    logger.info("exporting the network of setting %d (%s), which has the best validation accuracy",
                best_row["setting"], best_row["varied"])
    _common.export_snapshot(best_model, out, task.x_val)
    _common.write_json(out / "summary.json", {
        "task": task.description, "train_examples": len(task.x_train), "validation_examples": len(task.x_val),
        "epochs": args.epochs, "grid": args.grid, "augmentation": str(task.augmentation),
        "exported_setting": best_row["setting"], "results": rows, "total_seconds": clock.seconds,
    }, "settings, results and timings")
    logger.info("done in %.1f s", clock.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
