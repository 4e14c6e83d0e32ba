"""Command-line start-up time: ``convnetjs-keras --help`` and a small ``inspect``.

Each command runs in a fresh ``python -m convnetjs_keras`` process; the
wall-clock time of the whole process is measured, median of the rounds. A
separate probe runs the same commands through ``cli.main`` in one process
and lists which heavy modules (TensorFlow, Keras, JAX, PyTorch, matplotlib)
they imported: none should be needed for these two commands.

Usage: python scripts/bench/bench_startup.py [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

TARGET_SECONDS = 2.0
HEAVY_MODULES = ("tensorflow", "keras", "jax", "torch", "matplotlib")

_PROBE = """
import contextlib, io, json, sys
from convnetjs_keras.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def heavy_imports(arguments: list[str]) -> list[str]:
    """Return the heavy modules that running the CLI with ``arguments`` imports."""
    completed = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY_MODULES), *arguments],
                               capture_output=True, text=True, cwd=common.REPO_ROOT, timeout=300)
    if completed.returncode != 0:
        raise RuntimeError(f"probe failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(arguments: list[str], rounds: int) -> dict:
    """Return the wall-clock and CPU seconds of ``rounds`` fresh processes running the CLI."""
    values = {"wall": [], "cpu": []}
    for _ in range(rounds):
        cpu_before = _children_cpu_seconds()
        with common.Timer() as timer:
            completed = subprocess.run([sys.executable, "-m", "convnetjs_keras", *arguments], capture_output=True,
                                       text=True, cwd=common.REPO_ROOT, timeout=300)
        if completed.returncode != 0:
            raise RuntimeError(f"convnetjs-keras {' '.join(arguments)} failed:\n{completed.stderr[-2000:]}")
        values["wall"].append(timer.wall)
        values["cpu"].append(_children_cpu_seconds() - cpu_before)
    return values


def run(*, quick: bool = False, rounds: int = common.MIN_ROUNDS, threads: int = 1) -> list[dict]:
    """Time the commands in fresh processes; ``threads`` does not apply."""
    del threads
    rounds = max(rounds, 5 if not quick else common.MIN_ROUNDS)
    snapshot = common.snapshot_path("cifar10")
    results = []
    for label, arguments in (("convnetjs-keras --help", ["--help"]),
                             ("convnetjs-keras inspect (CIFAR-10 snapshot, 0.6 MB)", ["inspect", str(snapshot)])):
        values = time_command(arguments, rounds)
        result = common.measurement(label, "s", values, target=TARGET_SECONDS,
                                    note="whole process, python -m convnetjs_keras",
                                    extra={"heavy_modules_imported": heavy_imports(arguments)})
        common.print_result(result)
        results.append(result)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--rounds", type=int, default=5, help="processes per command (min 3)")
    parser.add_argument("--json", help="write the results to this JSON file")
    args = parser.parse_args(argv)
    results = run(quick=args.quick, rounds=args.rounds)
    if args.json:
        common.write_results(args.json, results, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
