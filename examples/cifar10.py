"""Train the ConvNetJS CIFAR-10 demo network in Keras and export it to ConvNetJS.

The network, trainer and augmentation are those of demo/cifar10.html in the
karpathy/convnetjs repository. The network has three 5x5 convolutions (16,
20 and 20 filters, relu), each followed by 2x2 max pooling, then a 10-class
softmax. The trainer is adadelta with batch size 4 and L2 decay 0.0001. Each
training image is shifted by up to 2 pixels in x and y (zero fill) and
mirrored left to right with probability 1/2. Pixels become
``p / 255 - 0.5`` as in the demo.

Data, the first that is available:

1. --data PATH: the "CIFAR-10 python version" folder ``cifar-10-batches-py``
   from https://www.cs.toronto.edu/~kriz/cifar.html, or an .npz file with
   ``x`` (N, 32, 32, 3) pixel values 0..255 and ``y`` (N,) labels 0..9, and
   optionally ``x_test`` and ``y_test``;
2. keras.datasets.cifar10, downloaded (about 170 MB) unless --offline or --fast;
3. with --fast only: a synthetic stand-in of generated striped images. It
   checks that the script works, and its accuracy is no measure of CIFAR-10.

Without data the script prints what to do and exits with status 2.

--snapshot FILE starts from a ConvNetJS snapshot of this network instead of
random weights, such as the pretrained network of the ConvNetJS demo.

Run from the repository root:

    python examples/cifar10.py --data cifar-10-batches-py         # 10,000 images, 5 epochs
    python examples/cifar10.py --data cifar-10-batches-py --snapshot cifar10_snapshot.json --epochs 1
    python examples/cifar10.py --fast

Writes history.csv, training.png, snapshot.json, keras_predictions.npz and
summary.json to --out (default examples-output/cifar10).
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import _common
import numpy as np

from convnetjs_keras import demo_networks

NAME = "cifar10"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

LAYER_DEFS = demo_networks.CIFAR10_LAYER_DEFS
TRAINER = demo_networks.CIFAR10_TRAINER
SHIFT = 2

NO_DATA_MESSAGE = """\
no CIFAR-10 data: keras.datasets.cifar10 {reason} and --data was not given.
Download the "CIFAR-10 python version" (cifar-10-python.tar.gz, about 170 MB) from
https://www.cs.toronto.edu/~kriz/cifar.html, unpack it with
    tar xzf cifar-10-python.tar.gz
and run
    python examples/cifar10.py --data cifar-10-batches-py
To check that the script works without the data, run it with --fast."""

NO_DOWNLOAD_OFFLINE = "was not downloaded because of --offline"

logger = logging.getLogger("examples")


def preprocess(pixels: np.ndarray) -> np.ndarray:
    """Map pixel values 0..255 to ``p / 255 - 0.5``, as the ConvNetJS demo does."""
    return (pixels.astype("float32") / 255.0 - 0.5).astype("float32")


def read_cifar_folder(folder: Path, train_examples: int) -> tuple[np.ndarray, ...]:
    """Read the CIFAR-10 python version: ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``.

    Each file is a Python pickle of a dict with ``b"data"``, uint8 shaped
    (10000, 3072) with the red, green and blue planes of 32x32 images one
    after another, and ``b"labels"``. Only the batches needed for
    ``train_examples`` images are read.
    """
    def read_batch(path: Path):
        if not path.is_file():
            _common.fail(f"--data {folder}: {path.name} not found; expected the unpacked cifar-10-batches-py "
                         "folder with data_batch_1 .. data_batch_5 and test_batch.")
        with open(path, "rb") as handle:
            # NOTE: pickle can run code from the file; read only the official download.
            batch = pickle.load(handle, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 3072) -> (N, 3, 32, 32) -> NHWC
        return images, np.asarray(batch[b"labels"], dtype=np.int64)

    parts = []
    for index in range(1, 6):
        parts.append(read_batch(folder / f"data_batch_{index}"))
        if sum(len(images) for images, _ in parts) >= train_examples:
            break
    x_test, y_test = read_batch(folder / "test_batch")
    return (np.concatenate([images for images, _ in parts]), np.concatenate([labels for _, labels in parts]),
            x_test, y_test)


def read_npz(path: Path, test_examples: int) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        _common.fail(f"--data {path}: cannot be read as an .npz archive ({error}).")
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        _common.fail(f"--data {path}: has no array {' or '.join(missing)}; found {sorted(arrays)}. Expected x "
                     "shaped (N, 32, 32, 3) with pixel values 0..255 and y shaped (N,) with labels 0..9.")
    for x_key, y_key in (("x", "y"), ("x_test", "y_test")):
        if x_key not in arrays:
            continue
        x, y = arrays[x_key], arrays.get(y_key)
        if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
            _common.fail(f"--data {path}: {x_key} has shape {x.shape}; expected (N, 32, 32, 3).")
        if y is None or y.shape != (len(x),) or not np.all((y >= 0) & (y <= 9)):
            _common.fail(f"--data {path}: {y_key} must be {len(x)} labels from 0 to 9, shaped ({len(x)},).")
        if x.min() < 0 or x.max() > 255:
            _common.fail(f"--data {path}: {x_key} has values from {x.min()} to {x.max()}; expected pixel values "
                         "0..255.")
    if "x_test" in arrays:
        return arrays["x"], arrays["y"].astype(np.int64), arrays["x_test"], arrays["y_test"].astype(np.int64)
    if len(arrays["x"]) < 2 * test_examples:
        _common.fail(f"--data {path}: {len(arrays['x'])} images are too few to keep {test_examples} for testing; "
                     "add x_test and y_test or more images.")
    x, y = arrays["x"], arrays["y"].astype(np.int64)
    return x[:-test_examples], y[:-test_examples], x[-test_examples:], y[-test_examples:]


def synthetic_images(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return ``count`` generated 32x32 images in 10 classes: stripes with a class colour and angle."""
    labels = rng.integers(0, 10, count)
    rows, columns = np.mgrid[0:32, 0:32].astype("float32")
    images = np.empty((count, 32, 32, 3), dtype=np.float32)
    for index, label in enumerate(labels):
        angle = np.pi * label / 10 + rng.normal(0, 0.1)
        phase = rng.uniform(0, 2 * np.pi)
        stripes = 0.5 + 0.5 * np.sin((np.cos(angle) * columns + np.sin(angle) * rows) * 0.6 + phase)
        colour = np.array([(label * 37) % 256, (label * 91 + 60) % 256, (label * 53 + 120) % 256], dtype=np.float32)
        images[index] = stripes[..., np.newaxis] * colour + rng.normal(0, 20, (32, 32, 3))
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)


def find_cifar10(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str] | None:
    """Return CIFAR-10 from --data or keras.datasets, or None when neither is available.

    The result is training images, training labels, test images, test labels
    (pixel values 0..255, labels 0..9) and a description of the source.
    keras.datasets is tried only without --data, --offline and --fast.
    """
    if args.data is not None:
        if args.data.is_dir():
            return (*read_cifar_folder(args.data, args.examples), f"CIFAR-10 python version in {args.data}")
        if args.data.is_file():
            return (*read_npz(args.data, args.test_examples), f"images and labels in {args.data}")
        _common.fail(f"--data {args.data}: not found; expected the cifar-10-batches-py folder or an .npz file.")
    if args.offline or args.fast:
        return None
    loaded = _common.download_keras_dataset("cifar10")
    if loaded is None:
        return None
    (x_train, y_train), (x_test, y_test) = loaded
    return x_train, y_train.reshape(-1).astype(np.int64), x_test, y_test.reshape(-1).astype(np.int64), \
        "keras.datasets.cifar10"


def load_data(args) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Return ``find_cifar10(args)``, else the synthetic stand-in with --fast, else exit with status 2."""
    found = find_cifar10(args)
    if found is not None:
        return found
    if args.fast:
        logger.warning("NOTE: --fast without --data uses a SYNTHETIC stand-in for CIFAR-10 (generated striped "
                       "images in 10 classes). It checks that the script works, and its accuracy is no measure "
                       "of CIFAR-10.")
        x, y = synthetic_images(args.examples + args.test_examples, np.random.default_rng(args.seed))
        return (x[:args.examples], y[:args.examples], x[args.examples:], y[args.examples:],
                "synthetic stand-in (generated striped images, not CIFAR-10)")
    _common.fail(NO_DATA_MESSAGE.format(reason=NO_DOWNLOAD_OFFLINE if args.offline else "could not be downloaded"))


def initial_model(args):
    from convnetjs_keras.errors import ConvNetJSKerasError
    from convnetjs_keras.model import from_layer_defs, from_snapshot

    if args.snapshot is None:
        return from_layer_defs(LAYER_DEFS, seed=args.seed)
    try:
        model = from_snapshot(args.snapshot)
    except ConvNetJSKerasError as error:
        _common.fail(f"--snapshot {args.snapshot}: {error}")
    if tuple(model.input_shape[1:]) != (32, 32, 3) or model.output_shape[-1] != 10:
        _common.fail(f"--snapshot {args.snapshot}: the network takes {model.input_shape[1:]} and has "
                     f"{model.output_shape[-1]} outputs; expected a 32x32x3 input and 10 classes.")
    logger.info("starting from the weights in %s", args.snapshot)
    return model


def main(argv=None) -> int:
    parser = _common.make_parser(NAME, __doc__.split("\n\n")[0], epochs=5, examples=10000,
                                 examples_help="number of training images, at most the number available")
    parser.add_argument("--data", type=Path, metavar="PATH",
                        help="the cifar-10-batches-py folder, or an .npz with x (N, 32, 32, 3) and y (N,)")
    parser.add_argument("--snapshot", type=Path, metavar="FILE",
                        help="ConvNetJS snapshot to start from (default: random initial weights)")
    parser.add_argument("--test-examples", type=_common.positive_int, default=1000,
                        help="number of test images (default: 1000)")
    _common.add_offline_option(parser)
    args = parser.parse_args(argv)
    if args.fast:
        args.epochs, args.examples, args.test_examples = 1, 400, 200
    if args.data is None and args.offline and not args.fast:
        _common.fail(NO_DATA_MESSAGE.format(reason=NO_DOWNLOAD_OFFLINE))  # before the slow import of Keras
    clock = _common.Stopwatch()
    _common.configure_logging()
    # Find the data first, so that a run without data leaves no output folder behind.
    x_train, y_train, x_test, y_test, source = load_data(args)
    out = _common.start(args, NAME)

    from convnetjs_keras.callbacks import panel_callback
    from convnetjs_keras.data import Augmentation

    logger.info("data: %s", source)
    x_train, y_train = _common.trim_to_batches(preprocess(x_train[:args.examples]), y_train[:args.examples],
                                               TRAINER["batch_size"])
    x_test, y_test = preprocess(x_test[:args.test_examples]), y_test[:args.test_examples]
    augmentation = Augmentation(shift=SHIFT, flip=True)

    model = initial_model(args)
    _common.compile_model(model, TRAINER, steps_per_execution=25)
    start_accuracy = _common.accuracy(model, x_test, y_test)
    logger.info("training on %d images (augmentation: %s), testing on %d, for %d epochs; test accuracy before "
                "training %.1f%%", len(x_train), augmentation, len(x_test), args.epochs, 100 * start_accuracy)
    panel = panel_callback(len(x_train), TRAINER["batch_size"], args.epochs,
                           report_every=max(TRAINER["batch_size"], len(x_train) // 4))
    dataset = _common.training_dataset(x_train, y_train, TRAINER["batch_size"], augmentation, args.seed)
    training_clock = _common.Stopwatch()
    model.fit(dataset, epochs=args.epochs, validation_data=(x_test, y_test), callbacks=[panel], shuffle=False,
              verbose=0)
    training_seconds = training_clock.seconds
    test_accuracy = _common.accuracy(model, x_test, y_test)
    logger.info("test accuracy: %.1f%% before training, %.1f%% after", 100 * start_accuracy, 100 * test_accuracy)

    _common.write_history(out, panel.rows, f"ConvNetJS CIFAR-10 demo network trained in Keras ({source})")
    _common.export_snapshot(model, out, x_test)
    _common.write_json(out / "summary.json", {
        "data": source, "snapshot": str(args.snapshot) if args.snapshot else None, "train_examples": len(x_train),
        "test_examples": len(x_test), "epochs": args.epochs, "trainer": TRAINER, "augmentation": str(augmentation),
        "test_accuracy_before": start_accuracy, "test_accuracy": test_accuracy,
        "training_seconds": training_seconds, "total_seconds": clock.seconds, "history": panel.rows,
    }, "settings, accuracies and timings")
    logger.info("done in %.1f s (training %.1f s)", clock.seconds, training_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
