"""``convnetjs-keras demo``: the whole round trip on real data, no arguments needed.

The package ships a network trained by real ConvNetJS 0.3.0 (in Node) on
real MNIST digits, 500 held-out digits and ConvNetJS's own outputs on them
(``convnetjs_keras/demo_data``; ``scripts/make_demo_data.py`` makes them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from convnetjs_keras.cli.common import logger

MARKER = ".convnetjs-keras-demo"


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo", help="convert a ConvNetJS MNIST network, check it against ConvNetJS, train it, export it",
        description="Run the whole round trip on the bundled MNIST network trained by real ConvNetJS: convert "
                    "it to Keras, compare Keras' predictions with ConvNetJS's own on 500 held-out digits, "
                    "train a short while in Keras with the ConvNetJS trainer options, and export a ConvNetJS "
                    "snapshot again.")
    parser.add_argument("--out", default="convnetjs-keras-demo", metavar="DIR",
                        help="folder for the demo's files (default: ./convnetjs-keras-demo)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs in Keras (default: 2)")
    return parser


def demo_data_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "demo_data"


def _prepare_out(out: Path):
    from convnetjs_keras.errors import OutputPathError, Problem

    if out.exists():
        if not out.is_dir():
            raise OutputPathError(Problem("exists and is not a folder.", source=str(out),
                                          hint="Choose another folder with --out."))
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise OutputPathError(Problem("exists and contains files that the demo did not write.", source=str(out),
                                          hint="Choose another folder with --out."))
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("Files written by `convnetjs-keras demo`; it replaces them on the next run.\n")


def run(args) -> int:
    import numpy as np

    from convnetjs_keras.files import atomic_write_bytes
    from convnetjs_keras.inference import predict
    from convnetjs_keras.keras_io import save_keras_model
    from convnetjs_keras.model import from_snapshot, to_snapshot
    from convnetjs_keras.snapshot import dumps_snapshot
    from convnetjs_keras.training import compile_like_convnetjs

    data = demo_data_dir()
    out = Path(args.out)
    _prepare_out(out)
    heldout = np.load(data / "mnist_heldout.npz")
    meta = json.loads(str(heldout["metadata"]))
    x, y, reference = heldout["x"], heldout["y"], heldout["convnetjs_probs"]

    logger.info("1. Convert: ConvNetJS snapshot -> Keras")
    snapshot_path = data / "mnist_demo_snapshot.json"
    import keras  # noqa: F401  (imported first, so the time below is the conversion's alone)

    start = time.perf_counter()
    model = from_snapshot(snapshot_path)
    logger.info("   read %s (trained by ConvNetJS %s in Node on %d real MNIST digits) in %.2f s",
                snapshot_path.name, meta["convnetjs_version"], meta["train_digits"], time.perf_counter() - start)
    logger.info("   %d Keras layers, %s parameters", len(model.layers), f"{model.count_params():,}")

    logger.info("2. Check: Keras predictions vs ConvNetJS's own outputs on %d held-out digits", len(x))
    model64 = from_snapshot(snapshot_path, dtype="float64")
    probs32 = predict(model, x)
    probs64 = predict(model64, x)
    logger.info("   largest difference: float32 model %.1e, float64 model %.1e", np.abs(probs32 - reference).max(),
                np.abs(probs64 - reference).max())
    logger.info("   accuracy: ConvNetJS %.1f%%, Keras %.1f%%, same predicted class for %d of %d digits",
                100 * np.mean(reference.argmax(1) == y), 100 * np.mean(probs32.argmax(1) == y),
                int(np.sum(reference.argmax(1) == probs32.argmax(1))), len(x))

    trainer = meta["trainer"]
    train, test = slice(0, 400), slice(400, None)
    logger.info("3. Train in Keras with the ConvNetJS trainer options %s on 400 of the digits, %d epochs",
                json.dumps(trainer), args.epochs)
    compile_like_convnetjs(model, trainer)
    before = float(np.mean(predict(model, x[test]).argmax(1) == y[test]))
    start = time.perf_counter()
    history = model.fit(x[train].astype("float32"), y[train], batch_size=trainer["batch_size"], epochs=args.epochs,
                        shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    after = float(np.mean(predict(model, x[test]).argmax(1) == y[test]))
    logger.info("   loss %.4f -> %.4f, accuracy on the other 100 digits %.0f%% -> %.0f%% (%.1f s, %.2f ms per "
                "example)", history.history["loss"][0], history.history["loss"][-1], 100 * before, 100 * after,
                seconds, 1000 * seconds / (400 * args.epochs))

    logger.info("4. Export: Keras -> ConvNetJS snapshot")
    keras_path = out / "model.keras"
    save_keras_model(model, keras_path)
    snapshot_out = out / "snapshot.json"
    snapshot = to_snapshot(model)
    atomic_write_bytes(snapshot_out, dumps_snapshot(snapshot))
    check = predict(from_snapshot(snapshot_out), x[:50])
    difference = np.abs(check - predict(model, x[:50])).max()
    logger.info("   wrote %s (Keras) and %s (ConvNetJS, %.0f kB); reloaded snapshot predicts the same to %.1e",
                keras_path, snapshot_out, snapshot_out.stat().st_size / 1000, difference)
    logger.info("   Load it in a web page with: net = new convnetjs.Net(); net.fromJSON(JSON.parse(text));")
    return 0
