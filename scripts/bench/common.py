"""Helpers shared by the benchmark scripts: the ConvNetJS side in Node,
timing, thread pinning, FLOP counts and the machine description.

Every comparison alternates the two sides in one process (ConvNetJS in a
Node subprocess, then the Python side), repeats that for several rounds and
compares medians. Times are recorded both as wall-clock seconds and as the
CPU seconds of the timed process: on a machine shared with other work the
CPU time is the steadier of the two, and the tables show both ratios.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / "scripts" / "bench"
CACHE_DIR = BENCH_DIR / ".cache"
NODE_SCRIPT = BENCH_DIR / "js" / "convnetjs_bench.js"
CONVNETJS_PACKAGE = REPO_ROOT / "node_modules" / "convnetjs" / "package.json"

# Minimum rounds per comparison; medians of fewer would hide one slow round.
MIN_ROUNDS = 3


def pin_threads(threads: int) -> None:
    """Limit TensorFlow to ``threads`` threads; call before any TensorFlow op runs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def check_node() -> str:
    """Return the node executable, or exit with instructions when ConvNetJS is missing."""
    node = shutil.which("node")
    if node is None or not CONVNETJS_PACKAGE.is_file():
        sys.exit("benchmarks need Node.js and the npm package convnetjs: install Node, then run `npm ci` "
                 f"in {REPO_ROOT}")
    return node


def node(mode: str, timeout: float = 900, **options) -> dict:
    """Run one ConvNetJS measurement in Node and return its JSON result."""
    command = [check_node(), str(NODE_SCRIPT), mode]
    for key, value in options.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed:\n{completed.stderr.strip()}")
    return json.loads(completed.stdout)


def network_definition(name: str) -> tuple[list, dict]:
    """Return ``(layer_defs, trainer options)`` of a network in the Node script."""
    result = node("layer-defs", net=name)
    return result["layer_defs"], result["trainer"]


def snapshot_path(name: str, seed: int = 1) -> Path:
    """Return the snapshot of network ``name`` written by ConvNetJS, making it once."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"{name}-seed{seed}.json"
    if not path.is_file():
        partial = path.with_suffix(".partial")
        node("make-snapshot", net=name, out=partial, seed=seed)
        partial.replace(path)
    return path


class Timer:
    """Measure wall-clock and process CPU seconds of a block."""

    def __enter__(self):
        self.wall_start = time.perf_counter()
        self.cpu_start = time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall_start
        self.cpu = time.process_time() - self.cpu_start
        return False


def median(values) -> float:
    return float(statistics.median(values))


def comparison(name: str, unit: str, convnetjs: dict, python: dict, *, higher_is_better: bool,
               target: float | None = None, note: str = "", extra: dict | None = None) -> dict:
    """Summarise one alternated comparison.

    ``convnetjs`` and ``python`` map "wall" and "cpu" to per-round values in
    ``unit``. The ratio is how many times better the Python side is: rate
    over rate, or time over time for seconds.
    """
    result = {"name": name, "unit": unit, "target": target, "note": note,
              "rounds": len(python["wall"]), "convnetjs": convnetjs, "python": python}
    for clock in ("wall", "cpu"):
        ours, theirs = median(python[clock]), median(convnetjs[clock])
        result[f"convnetjs_{clock}"] = theirs
        result[f"python_{clock}"] = ours
        result[f"ratio_{clock}"] = ours / theirs if higher_is_better else theirs / ours
    result.update(extra or {})
    return result


def measurement(name: str, unit: str, values: dict, *, target: float | None = None, note: str = "",
                extra: dict | None = None) -> dict:
    """Summarise a Python-only measurement (no ConvNetJS side)."""
    result = {"name": name, "unit": unit, "target": target, "note": note, "rounds": len(values["wall"]),
              "python": values, "python_wall": median(values["wall"]), "python_cpu": median(values["cpu"])}
    result.update(extra or {})
    return result


def conv_net_flops(layer_defs: list) -> dict:
    """Return the multiply-add FLOPs (2 per multiply-add) of one example through a conv/pool/fc net.

    ``forward`` counts conv and fc layers, padding included, as ConvNetJS
    computes them. ``training`` adds the weight gradients (as many FLOPs as
    the forward pass) and the input gradients of every layer but the first,
    whose input needs none. Pooling, activations and the loss are left out.
    """
    sx = sy = depth = None
    per_layer = []
    for definition in layer_defs:
        kind = definition["type"]
        if kind == "input":
            sx, sy, depth = definition["out_sx"], definition["out_sy"], definition["out_depth"]
        elif kind == "conv":
            size = definition["sx"]
            stride, pad = definition.get("stride", 1), definition.get("pad", 0)
            out_sx = (sx + 2 * pad - size) // stride + 1
            out_sy = (sy + 2 * pad - size) // stride + 1
            filters = definition["filters"]
            per_layer.append(2 * out_sx * out_sy * filters * size * size * depth)
            sx, sy, depth = out_sx, out_sy, filters
        elif kind == "pool":
            size = definition["sx"]
            stride, pad = definition.get("stride", size), definition.get("pad", 0)
            sx = (sx + 2 * pad - size) // stride + 1
            sy = (sy + 2 * pad - size) // stride + 1
        elif kind in ("fc", "softmax", "svm", "regression"):
            units = definition.get("num_neurons", definition.get("num_classes"))
            per_layer.append(2 * sx * sy * depth * units)
            sx, sy, depth = 1, 1, units
    forward = sum(per_layer)
    return {"forward": forward, "training": 3 * forward - per_layer[0]}


def matmul_ceiling(rounds: int = MIN_ROUNDS, size: int = 2048, threads: int = 1) -> dict:
    """Measure float32 matmul GFLOP/s of TensorFlow with its current thread setting (``threads``, for the name)."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda left, right: tf.matmul(left, right))
    product(a, b).numpy()
    repeats = 4
    values = {"wall": [], "cpu": []}
    for _ in range(rounds):
        with Timer() as timer:
            for _ in range(repeats):
                result = product(a, b)
            result.numpy()
        flops = 2 * size**3 * repeats
        values["wall"].append(flops / timer.wall / 1e9)
        values["cpu"].append(flops / timer.cpu / 1e9)
    name = f"float32 matmul ceiling, {threads} thread{'s' if threads > 1 else ''}"
    return measurement(name, "GFLOP/s", values, note=f"{size}x{size} tf.matmul")


def machine() -> dict:
    """Describe the CPU, the software versions and the load while benchmarking."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    for module in ("numpy", "orjson", "keras", "tensorflow"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    try:
        info["node"] = subprocess.run([check_node(), "--version"], capture_output=True, text=True).stdout.strip()
        info["convnetjs"] = json.loads(CONVNETJS_PACKAGE.read_text())["version"]
    except (OSError, SystemExit):
        info["node"] = None
    return info


def write_results(path, results: list[dict], **fields) -> None:
    """Write a benchmark script's results as JSON for run_all.py."""
    Path(path).write_text(json.dumps({"results": results, **fields}, indent=1))


def print_result(result: dict) -> None:
    """Print one result line as it is measured."""
    if "ratio_wall" in result:
        print(f"{result['name']}: ConvNetJS {result['convnetjs_wall']:.4g} {result['unit']}, Python "
              f"{result['python_wall']:.4g} {result['unit']}, ratio {result['ratio_wall']:.1f}x wall, "
              f"{result['ratio_cpu']:.1f}x CPU", flush=True)
    else:
        print(f"{result['name']}: {result['python_wall']:.4g} {result['unit']} wall, "
              f"{result['python_cpu']:.4g} CPU", flush=True)


def threaded_benchmark_main(description: str, run, argv=None) -> int:
    """Parse the options shared by the threaded benchmarks, pin TensorFlow's
    threads, call ``run(quick=, rounds=, threads=)`` and write its results."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="tiny runs that only check the script works")
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help="rounds per comparison (min 3)")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    pin_threads(args.threads)
    results = run(quick=args.quick, rounds=args.rounds, threads=args.threads)
    if args.json:
        write_results(args.json, results, threads=args.threads, quick=args.quick)
    return 0
