"""Run the reference ConvNetJS 0.3.0 in Node.js from the Python tests.

Each call writes a JSON request to a temporary directory, runs
``tests/js/convnetjs_runner.js`` with ``node`` and reads back the JSON
response. ConvNetJS is taken from ``node_modules/convnetjs`` in the
repository root, which ``npm ci`` installs from ``package-lock.json``.

Arrays are flat in ConvNetJS's Vol order, which is row-major (y, x, depth),
the same as a Keras channels-last (NHWC) tensor reshaped to (N, -1).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNNER = REPO_ROOT / "tests" / "js" / "convnetjs_runner.js"
CONVNETJS_PACKAGE = REPO_ROOT / "node_modules" / "convnetjs" / "package.json"

# Seconds one runner call may take. Forward and make_layers requests finish in
# well under a second, but training a convolutional net in Node is slow.
DEFAULT_TIMEOUT_S = 300.0


def _node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(
            "The node executable was not found on PATH. Install Node.js, then run "
            f"`npm ci` in {REPO_ROOT} to install the reference ConvNetJS."
        )
    if not CONVNETJS_PACKAGE.is_file():
        raise RuntimeError(
            f"ConvNetJS is not installed: {CONVNETJS_PACKAGE.parent} is missing. "
            f"Run `npm ci` in the repository root ({REPO_ROOT})."
        )
    return node


def _numpy_to_json(value: Any) -> Any:
    """Convert numpy arrays and scalars that json.dumps cannot encode."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def run_runner(request: dict[str, Any], timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Send one request to convnetjs_runner.js and return its decoded response.

    Raises RuntimeError when Node or ConvNetJS is missing, when the runner
    exits with an error (the message includes Node's stderr) or when it
    runs longer than ``timeout`` seconds.
    """
    node = _node_executable()
    mode = request.get("mode")

    with tempfile.TemporaryDirectory(prefix="convnetjs_node_") as tmp:
        request_path = Path(tmp) / "request.json"
        response_path = Path(tmp) / "response.json"
        # allow_nan=False because JSON.parse in Node rejects NaN and Infinity.
        request_path.write_text(
            json.dumps(request, allow_nan=False, default=_numpy_to_json), encoding="utf-8"
        )

        command = [node, str(RUNNER), str(request_path), str(response_path)]
        try:
            completed = subprocess.run(
                command,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(
                f"ConvNetJS runner timed out after {timeout} s on a {mode!r} request"
            ) from err

        if completed.returncode != 0:
            raise RuntimeError(
                f"ConvNetJS runner failed with exit code {completed.returncode} on a "
                f"{mode!r} request.\nstderr:\n{completed.stderr.strip()}\n"
                f"stdout:\n{completed.stdout.strip()}"
            )
        if not response_path.is_file():
            raise RuntimeError(
                f"ConvNetJS runner exited without writing a response for a {mode!r} "
                f"request.\nstderr:\n{completed.stderr.strip()}"
            )
        # json.loads accepts the NaN and Infinity tokens the runner writes for
        # non-finite outputs and statistics.
        return json.loads(response_path.read_text(encoding="utf-8"))


def _examples_to_lists(x: np.ndarray) -> list[list[float]]:
    """Flatten a batch shaped (N, sy, sx, depth) or (N, depth) into NHWC lists."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (2, 4):
        raise ValueError(
            f"expected inputs shaped (N, sy, sx, depth) or (N, depth), got shape {x.shape}"
        )
    if x.shape[0] == 0:
        raise ValueError("inputs contain no examples, expected at least one")
    if not np.all(np.isfinite(x)):
        raise ValueError("inputs contain NaN or infinite values, which JSON cannot carry")
    return x.reshape(x.shape[0], -1).tolist()


def _labels_to_json(ys: Any, count: int) -> list[Any]:
    """Convert labels to what Trainer.train accepts.

    An integer array shaped (N,) gives class indices for softmax and svm nets,
    and a float array shaped (N, k) gives regression targets. A list may also
    mix ints, float sequences and {"dim": i, "val": v} dicts, which
    RegressionLayer accepts to train a single output.
    """
    if isinstance(ys, np.ndarray):
        if ys.ndim == 1:
            if not np.issubdtype(ys.dtype, np.integer):
                raise ValueError(
                    f"1-D labels must be integer class indices, got dtype {ys.dtype}. "
                    "Pass regression targets as a float array shaped (N, k)."
                )
            labels: list[Any] = [int(v) for v in ys]
        else:
            labels = ys.astype(np.float64).reshape(ys.shape[0], -1).tolist()
    else:
        labels = []
        for y in ys:
            if isinstance(y, (int, np.integer)):
                labels.append(int(y))
            elif isinstance(y, dict):
                labels.append({"dim": int(y["dim"]), "val": float(y["val"])})
            else:
                labels.append(np.asarray(y, dtype=np.float64).ravel().tolist())

    if len(labels) != count:
        raise ValueError(f"got {count} examples but {len(labels)} labels")
    return labels


def node_forward(
    snapshot: dict[str, Any],
    x: np.ndarray,
    layers: bool = False,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> np.ndarray | tuple[np.ndarray, list[np.ndarray]]:
    """Run ConvNetJS's ``net.forward(vol, false)`` on every example of ``x``.

    ``snapshot`` is a ``Net.toJSON()`` object and ``x`` is shaped
    (N, sy, sx, depth) or (N, depth). Returns the final activations as a
    float64 array shaped (N, outputs). With ``layers=True``, returns
    ``(outputs, activations)``, where ``activations[i]`` is a float64 array
    shaped (N, size of layer i) containing layer i's flat ``out_act.w``. Layer 0
    is the input layer, and the list follows ``snapshot["layers"]``.
    """
    inputs = _examples_to_lists(x)
    response = run_runner(
        {"mode": "forward", "snapshot": snapshot, "inputs": inputs, "layers": bool(layers)},
        timeout=timeout,
    )
    outputs = np.array(response["outputs"], dtype=np.float64).reshape(len(inputs), -1)
    if not layers:
        return outputs

    per_example = response["activations"]
    layer_count = len(per_example[0])
    activations = [
        np.array([example[i] for example in per_example], dtype=np.float64).reshape(
            len(inputs), -1
        )
        for i in range(layer_count)
    ]
    return outputs, activations


def node_make_layers(
    layer_defs: Sequence[dict[str, Any]],
    *,
    seed: int | None = 0,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Build a net with ConvNetJS's ``net.makeLayers(layer_defs)`` and return ``net.toJSON()``.

    The snapshot shows how ConvNetJS expands the definitions (an fc layer
    before softmax, activation layers after conv and fc) and the out_sx,
    out_sy and out_depth it computes. ``seed`` fixes Math.random and so the
    random initial weights. Pass None to keep Node's unseeded Math.random.
    Weight Vols appear as {"0": w0, "1": w1, ...} dicts, as JSON.stringify
    writes Float64Array. Raises RuntimeError if ConvNetJS rejects a definition.
    """
    request: dict[str, Any] = {"mode": "make_layers", "layer_defs": list(layer_defs)}
    if seed is not None:
        request["seed"] = int(seed)
    return run_runner(request, timeout=timeout)["snapshot"]


def node_train(
    snapshot: dict[str, Any],
    trainer: dict[str, Any],
    xs: np.ndarray,
    ys: Any,
    epochs: int = 1,
    *,
    seed: int | None = 0,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """Train with ``new convnetjs.Trainer(net, trainer).train(x, y)``, one example at a time.

    The examples are visited in order, ``epochs`` times, by one Trainer, so
    its accumulators (gsum, xsum) and batch counter carry across epochs.
    ``xs`` is shaped (N, sy, sx, depth) or (N, depth). ``ys`` contains integer
    class indices shaped (N,) or float regression targets shaped (N, k).
    ``seed`` fixes Math.random, which ConvNetJS uses for dropout masks; pass
    None for Node's unseeded Math.random.

    Returns ``(snapshot, stats)``: ``net.toJSON()`` after training, and the
    object each ``train()`` call returned (loss, cost_loss, softmax_loss,
    l2_decay_loss, l1_decay_loss) without the fwd_time and bwd_time fields.
    NOTE: the trainer's accumulators are not part of the snapshot, so a second
    call starts them from zero again.
    """
    inputs = _examples_to_lists(xs)
    labels = _labels_to_json(ys, len(inputs))
    request: dict[str, Any] = {
        "mode": "train",
        "snapshot": snapshot,
        "trainer": dict(trainer),
        "examples": [{"x": x, "y": y} for x, y in zip(inputs, labels)],
        "epochs": int(epochs),
    }
    if seed is not None:
        request["seed"] = int(seed)
    response = run_runner(request, timeout=timeout)
    return response["snapshot"], response["stats"]
