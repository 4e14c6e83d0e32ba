"""Prediction speed: ConvNetJS's ``net.forward`` in Node against ``convnetjs_keras.inference.predict``.

Both sides load the same snapshot, written by ConvNetJS from the CIFAR-10 or
MNIST demo network. ConvNetJS handles one example per ``forward`` call, so
its examples per second are also its single-image rate. The Python side is
measured at batch 512 (``predict(model, x)`` on 2048 examples) and on
single images (one ``predict`` call per image), and ``model.predict`` is
measured alongside as the "before".

Usage: python scripts/bench/bench_inference.py --threads 1 [--quick] [--json OUT]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def python_rates(predict_call, examples_per_call, calls, rounds_values):
    with common.Timer() as timer:
        for _ in range(calls):
            predict_call()
    rounds_values["wall"].append(examples_per_call * calls / timer.wall)
    rounds_values["cpu"].append(examples_per_call * calls / timer.cpu)


def compare_inference(net, label, *, node_examples, batch_examples, single_calls, rounds, threads, quick):
    import numpy as np

    import convnetjs_keras as ck
    from convnetjs_keras.inference import predict

    model = ck.load_snapshot(common.snapshot_path(net))
    rng = np.random.default_rng(1)
    x = rng.random((batch_examples, *model.input_shape[1:]), dtype=np.float32)
    single_image = x[:1]
    predict(model, x)
    predict(model, single_image)
    model.predict(single_image, verbose=0)
    model.predict(x, batch_size=512, verbose=0)

    convnetjs = {"wall": [], "cpu": []}
    batch, single = {"wall": [], "cpu": []}, {"wall": [], "cpu": []}
    keras_batch, keras_single = {"wall": [], "cpu": []}, {"wall": [], "cpu": []}
    for _ in range(rounds):
        result = common.node("forward", net=net, examples=node_examples)
        convnetjs["wall"].append(result["examples_per_s"])
        convnetjs["cpu"].append(result["examples"] / result["cpu_s"])
        python_rates(lambda: predict(model, x, batch_size=512), batch_examples, 1, batch)
        python_rates(lambda: predict(model, single_image), 1, single_calls, single)
        python_rates(lambda: model.predict(x, batch_size=512, verbose=0), batch_examples, 1, keras_batch)
        python_rates(lambda: model.predict(single_image, verbose=0), 1, max(3, single_calls // 20), keras_single)

    suffix = f"{threads} thread{'s' if threads > 1 else ''}"
    results = [
        common.comparison(f"predict {label} batch 512, {suffix}", "examples/s", convnetjs, batch,
                          higher_is_better=True, target=150.0 if net == "cifar10" else None,
                          note="inference.predict"),
        common.comparison(f"predict {label} single image, {suffix}", "images/s", convnetjs, single,
                          higher_is_better=True, target=30.0 if net == "cifar10" else None,
                          note="inference.predict, one call per image"),
    ]
    if not quick:
        results += [
            common.comparison(f"model.predict {label} batch 512, {suffix}", "examples/s", convnetjs, keras_batch,
                              higher_is_better=True, note="before: keras model.predict"),
            common.comparison(f"model.predict {label} single image, {suffix}", "images/s", convnetjs,
                              keras_single, higher_is_better=True, note="before: keras model.predict"),
        ]
    for result in results:
        common.print_result(result)
    return results


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compare_cli(examples: int, rounds: int) -> dict:
    """Time ``convnetjs-keras predict`` on ``examples`` CIFAR-10 inputs against a Node process that builds the
    network and runs ``forward`` on as many, both as whole processes."""
    import numpy as np

    snapshot = common.snapshot_path("cifar10")
    inputs = common.CACHE_DIR / f"cifar10-inputs-{examples}.npy"
    np.save(inputs, np.random.default_rng(1).random((examples, 32, 32, 3), dtype=np.float32))
    out = common.CACHE_DIR / "cli-predictions.csv"
    command = [sys.executable, "-m", "convnetjs_keras", "predict", str(snapshot), str(inputs), "--out", str(out),
               "--force", "--batch-size", "512"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    convnetjs, python = {"wall": [], "cpu": []}, {"wall": [], "cpu": []}
    for _ in range(rounds):
        for side, values in (("node", convnetjs), ("python", python)):
            cpu_before = _children_cpu_seconds()
            with common.Timer() as timer:
                if side == "node":
                    common.node("forward", net="cifar10", examples=examples, warmup=0)
                else:
                    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
                    if completed.returncode != 0:
                        raise RuntimeError(f"convnetjs-keras predict failed:\n{completed.stderr[-2000:]}")
            values["wall"].append(timer.wall)
            values["cpu"].append(_children_cpu_seconds() - cpu_before)
    out.unlink(missing_ok=True)
    inputs.unlink()
    result = common.comparison(
        f"CLI predict {examples} CIFAR-10 inputs, whole process", "s", convnetjs, python, higher_is_better=False,
        note="python -m convnetjs_keras predict (TensorFlow import included) against a Node process that builds "
             "the net and runs forward")
    common.print_result(result)
    return result


def run(*, quick: bool = False, rounds: int = common.MIN_ROUNDS, threads: int = 1) -> list[dict]:
    """Run the comparisons; TensorFlow must already be pinned to ``threads`` threads."""
    rounds = max(rounds, common.MIN_ROUNDS)
    results = []
    networks = (("cifar10", "CIFAR-10", 300), ("mnist", "MNIST", 1500))
    # The quick mode runs one network: the code path is the same for both.
    for net, label, node_examples in networks[:1] if quick else networks:
        results += compare_inference(
            net, label, node_examples=20 if quick else node_examples, batch_examples=64 if quick else 2048,
            single_calls=20 if quick else 400, rounds=rounds, threads=threads, quick=quick)
    if not quick and threads == 1:
        results.append(compare_cli(512, rounds))
    return results


def main(argv=None) -> int:
    return common.threaded_benchmark_main(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
