"""Check convnetjs-keras on a GPU with Keras' JAX or PyTorch backend.

Run it through ``scripts/gpu_check.sh``, which installs Keras from a wheel
folder and sets ``KERAS_BACKEND`` and ``PYTHONPATH``. TensorFlow is not needed.
The steps:

1. import every convnetjs_keras module and check that none imports TensorFlow;
2. convert the ConvNetJS CIFAR-10 demo network (``../shared/corpus/
   karpathy_cifar10_conv.json`` beside the repository when present, else the
   demo's layer_defs with random weights) and compare GPU predictions with
   CPU predictions, both at full float32 matrix precision (no TF32);
3. train with the demo's trainer (adadelta, l2_decay 0.0001) on synthetic
   data for ``--steps`` steps at each batch size, and report examples per
   second (after two untimed steps that compile the step function);
4. export the trained network to a snapshot and, when Node.js and
   ``node_modules/convnetjs`` are present, compare ConvNetJS's predictions
   on it with Keras'.

Writes ``report.json`` and ``exported_snapshot.json`` to ``--out``. Exit
status: 0 when every check passes, 1 when one fails, 2 when no GPU is found
(``--cpu-ok`` runs everything on the CPU instead, as a dry run).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path

import numpy as np

from convnetjs_keras import demo_networks

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_SNAPSHOT = REPO_ROOT.parent / "shared" / "corpus" / "karpathy_cifar10_conv.json"

# The network and trainer of ConvNetJS's CIFAR-10 demo page; the batch size is set per run.
CIFAR10_LAYER_DEFS = demo_networks.CIFAR10_LAYER_DEFS
CIFAR10_TRAINER = {key: value for key, value in demo_networks.CIFAR10_TRAINER.items() if key != "batch_size"}

# Largest |GPU - CPU| and |Keras - ConvNetJS| allowed on the softmax outputs,
# whose values lie in [0, 1]. Both sides compute in float32 (ConvNetJS in
# float64), so the differences come from summation order.
TOLERANCE = 1e-4

EXIT_OK, EXIT_CHECK_FAILED, EXIT_NO_GPU = 0, 1, 2


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("jax", "torch"), default=os.environ.get("KERAS_BACKEND"),
                        help="Keras backend (default: $KERAS_BACKEND)")
    parser.add_argument("--cpu-ok", action="store_true",
                        help="run on the CPU when no GPU is found, as a dry run (default: exit with status 2)")
    parser.add_argument("--batch-sizes", default="32,256,2048",
                        help="comma-separated training batch sizes (default: 32,256,2048)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per batch size (default: 10)")
    parser.add_argument("--out", default="convnetjs-keras-gpu-check", type=Path,
                        help="folder for report.json and exported_snapshot.json (default: ./convnetjs-keras-gpu-check)")
    args = parser.parse_args(argv)
    if args.backend not in ("jax", "torch"):
        parser.error(f"--backend must be jax or torch (KERAS_BACKEND is {os.environ.get('KERAS_BACKEND')!r})")
    if os.environ.get("KERAS_BACKEND") not in (None, args.backend):
        parser.error(f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} contradicts --backend {args.backend}")
    try:
        args.batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    except ValueError:
        parser.error(f"--batch-sizes must be integers separated by commas, got {args.batch_sizes!r}")
    if args.steps < 1 or min(args.batch_sizes) < 1:
        parser.error("--steps and every batch size must be at least 1")
    return args


def report(message: str) -> None:
    print(message, flush=True)


def import_all_modules() -> list[str]:
    """Import every convnetjs_keras module; return the TensorFlow modules that got imported."""
    import convnetjs_keras

    for module in pkgutil.walk_packages(convnetjs_keras.__path__, "convnetjs_keras."):
        if module.name != "convnetjs_keras.__main__":  # importing it runs the command line
            importlib.import_module(module.name)
    return sorted(name for name, module in sys.modules.items()
                  if module is not None and (name == "tensorflow" or name.startswith("tensorflow.")))


# keras.device() names of the CPU. On PyTorch the name carries no index:
# Keras 3.15 computes no gradients for variables created under "cpu:0".
CPU_DEVICE = {"jax": "cpu:0", "torch": "cpu"}


def find_gpus(backend: str) -> tuple[list[str], str]:
    """Return the keras.device() names of the GPUs, and the model of the first one."""
    if backend == "jax":
        import jax

        try:
            gpus = jax.devices("gpu")
        except RuntimeError:  # JAX raises when no GPU platform is installed
            gpus = []
        names = [f"gpu:{index}" for index in range(len(gpus))]
        return names, (gpus[0].device_kind if gpus else "")
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    # "cuda" is Keras' default PyTorch device when a GPU exists, the first GPU.
    names = ["cuda"] + [f"cuda:{index}" for index in range(1, count)] if count else []
    return names, (torch.cuda.get_device_name(0) if count else "")


@contextlib.contextmanager
def full_float32_precision(backend: str):
    """Compute float32 matrix products and convolutions without TF32 inside the block."""
    if backend == "jax":
        import jax

        with jax.default_matmul_precision("highest"):
            yield
        return
    import torch

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def load_network() -> tuple[dict, str]:
    """Return the CIFAR-10 demo snapshot and where it came from."""
    from convnetjs_keras.model import from_layer_defs, to_snapshot

    if CORPUS_SNAPSHOT.is_file():
        return json.loads(CORPUS_SNAPSHOT.read_text(encoding="utf-8")), str(CORPUS_SNAPSHOT)
    model = from_layer_defs(CIFAR10_LAYER_DEFS, seed=0)
    return to_snapshot(model), "the CIFAR-10 demo layer_defs with random weights (corpus snapshot not found)"


def predict_on(device: str, snapshot: dict, x: np.ndarray, backend: str) -> np.ndarray:
    import keras

    from convnetjs_keras.model import from_snapshot

    with keras.device(device), full_float32_precision(backend):
        model = from_snapshot(snapshot)
        return np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(x)), dtype=np.float64)


def benchmark(snapshot: dict, device: str, batch_sizes: list[int], steps: int) -> tuple[list[dict], object]:
    """Train a fresh model at each batch size; return the timings and the last model."""
    import keras

    from convnetjs_keras.model import from_snapshot
    from convnetjs_keras.training import compile_like_convnetjs

    rng = np.random.default_rng(0)
    pool = rng.uniform(-0.5, 0.5, size=(max(batch_sizes) * steps, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, size=len(pool))
    results = []
    model = None
    for batch_size in batch_sizes:
        with keras.device(device):
            model = from_snapshot(snapshot)
            compile_like_convnetjs(model, dict(CIFAR10_TRAINER, batch_size=batch_size))
            warmup = 2 * batch_size
            model.fit(pool[:warmup], labels[:warmup], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
            count = batch_size * steps
            start = time.perf_counter()
            history = model.fit(pool[:count], labels[:count], batch_size=batch_size, epochs=1, shuffle=False,
                                verbose=0)
            seconds = time.perf_counter() - start
        loss = float(history.history["loss"][-1])
        results.append({"batch_size": batch_size, "steps": steps, "seconds": seconds,
                        "examples_per_second": count / seconds, "final_loss": loss})
        report(f"  batch {batch_size:5d}: {count / seconds:12,.0f} examples/s ({steps} steps in {seconds:.2f} s, "
               f"loss {loss:.4f})")
    return results, model


def check_export(model, backend: str, out: Path) -> dict:
    """Export ``model`` and compare ConvNetJS's predictions on the snapshot with Keras'."""
    import keras

    from convnetjs_keras.model import to_snapshot

    snapshot = to_snapshot(model)
    path = out / "exported_snapshot.json"
    path.write_text(json.dumps(snapshot), encoding="utf-8")
    result = {"snapshot": str(path)}
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    try:
        from convnetjs_node import node_forward
    except ImportError as error:
        result["skipped"] = f"the test harness tests/convnetjs_node.py is not importable: {error}"
        return result
    x = np.random.default_rng(1).uniform(-0.5, 0.5, size=(8, 32, 32, 3))
    with full_float32_precision(backend):
        keras_outputs = np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(x.astype("float32"))))
    try:
        convnetjs_outputs = node_forward(snapshot, x)
    except RuntimeError as error:  # Node.js or node_modules/convnetjs missing
        result["skipped"] = str(error).splitlines()[0]
        return result
    result["max_difference"] = float(np.max(np.abs(keras_outputs - convnetjs_outputs)))
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    args.out.mkdir(parents=True, exist_ok=True)
    import keras

    summary = {"backend": args.backend, "keras": keras.__version__, "python": platform.python_version()}
    failures = []
    report(f"convnetjs-keras GPU check: Keras {keras.__version__} on {args.backend}, Python "
           f"{platform.python_version()}")

    tensorflow_modules = import_all_modules()
    summary["tensorflow_modules_imported"] = tensorflow_modules
    if tensorflow_modules:
        failures.append("importing convnetjs_keras imported TensorFlow")
    report(f"1. imports: TensorFlow {'imported: ' + ', '.join(tensorflow_modules[:3]) if tensorflow_modules else 'not imported'}")

    gpus, gpu_name = find_gpus(args.backend)
    summary["gpus"] = gpus
    summary["gpu_name"] = gpu_name
    if gpus:
        device = gpus[0]
        report(f"   {len(gpus)} GPU(s); using {device}: {gpu_name}")
    elif args.cpu_ok:
        device = CPU_DEVICE[args.backend]
        report("   no GPU found; --cpu-ok given, so this is a dry run on the CPU")
    else:
        report(f"error: {args.backend} sees no GPU. Install the GPU build (see docs/scaling.md), or pass --cpu-ok "
               "for a dry run on the CPU.")
        return EXIT_NO_GPU
    summary["device"] = device

    snapshot, source = load_network()
    cpu = CPU_DEVICE[args.backend]
    report(f"2. predictions on {device} vs {cpu}, network: {source}")
    x = np.random.default_rng(2).uniform(-0.5, 0.5, size=(64, 32, 32, 3)).astype("float32")
    difference = float(np.max(np.abs(predict_on(device, snapshot, x, args.backend)
                                     - predict_on(cpu, snapshot, x, args.backend))))
    summary["device_vs_cpu_max_difference"] = difference
    if difference > TOLERANCE:
        failures.append(f"{device} and CPU predictions differ by {difference:.3g} (tolerance {TOLERANCE})")
    report(f"   largest difference {difference:.2e} (tolerance {TOLERANCE:g})")

    report(f"3. training on {device}, {args.steps} timed steps per batch size, trainer {CIFAR10_TRAINER}")
    summary["training"], model = benchmark(snapshot, device, args.batch_sizes, args.steps)

    report("4. export to a ConvNetJS snapshot")
    export = check_export(model, args.backend, args.out)
    summary["export"] = export
    if "skipped" in export:
        report(f"   wrote {export['snapshot']}; ConvNetJS check skipped: {export['skipped']}")
    else:
        report(f"   wrote {export['snapshot']}; ConvNetJS 0.3.0 in Node predicts the same to "
               f"{export['max_difference']:.2e} (tolerance {TOLERANCE:g})")
        if export["max_difference"] > TOLERANCE:
            failures.append(f"ConvNetJS and Keras predictions differ by {export['max_difference']:.3g}")

    summary["failures"] = failures
    (args.out / "report.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for failure in failures:
        report(f"FAILED: {failure}")
    report(f"{'all checks passed' if not failures else f'{len(failures)} check(s) failed'}; "
           f"report in {args.out / 'report.json'}")
    return EXIT_CHECK_FAILED if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
