"""Checks that the benchmark scripts in scripts/bench/ run; the timings are not tested.

``run_all.py --quick`` measures tiny workloads against the real ConvNetJS in
Node, in about a minute on two cores.
"""

from __future__ import annotations

import importlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "scripts" / "bench"
HAVE_CONVNETJS = shutil.which("node") is not None and (REPO_ROOT / "node_modules" / "convnetjs").is_dir()


@pytest.fixture(scope="module")
def bench_common():
    sys.path.insert(0, str(BENCH_DIR))
    try:
        yield importlib.import_module("common")
    finally:
        sys.path.remove(str(BENCH_DIR))


def test_flops_of_cifar10_demo_net(bench_common):
    layer_defs = [
        {"type": "input", "out_sx": 32, "out_sy": 32, "out_depth": 3},
        {"type": "conv", "sx": 5, "filters": 16, "stride": 1, "pad": 2},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "conv", "sx": 5, "filters": 20, "stride": 1, "pad": 2},
        {"type": "pool", "sx": 2, "stride": 2},
        {"type": "softmax", "num_classes": 10},
    ]
    conv1 = 2 * 32 * 32 * 16 * 25 * 3
    forward = conv1 + 2 * 16 * 16 * 20 * 25 * 16 + 2 * 8 * 8 * 20 * 25 * 20 + 2 * 320 * 10
    flops = bench_common.conv_net_flops(layer_defs)
    assert flops == {"forward": forward, "training": 3 * forward - conv1}


def test_comparison_ratio_direction(bench_common):
    rate = bench_common.comparison("rate", "examples/s", {"wall": [10, 10, 10], "cpu": [10, 10, 10]},
                                   {"wall": [100, 200, 300], "cpu": [50, 50, 50]}, higher_is_better=True)
    seconds = bench_common.comparison("time", "s", {"wall": [2, 2, 2], "cpu": [2, 2, 2]},
                                      {"wall": [1, 1, 1], "cpu": [4, 4, 4]}, higher_is_better=False)
    assert (rate["ratio_wall"], rate["ratio_cpu"]) == (20.0, 5.0)
    assert (seconds["ratio_wall"], seconds["ratio_cpu"]) == (2.0, 0.5)


def test_write_docs_replaces_only_results_block(bench_common, tmp_path, monkeypatch):
    sys.path.insert(0, str(BENCH_DIR))
    try:
        run_all = importlib.import_module("run_all")
    finally:
        sys.path.remove(str(BENCH_DIR))
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"intro\n{run_all.BEGIN_MARK}\nold\n{run_all.END_MARK}\n## Other measurements\nkept\n")
    monkeypatch.setattr(run_all, "DOCS", docs)
    run_all.write_docs("new table\n")
    assert docs.read_text() == (f"intro\n{run_all.BEGIN_MARK}\nnew table\n{run_all.END_MARK}\n"
                                "## Other measurements\nkept\n")


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_CONVNETJS, reason="needs Node.js and `npm ci` (npm package convnetjs)")
def test_run_all_quick_mode(tmp_path):
    out = tmp_path / "results.json"
    completed = subprocess.run([sys.executable, str(BENCH_DIR / "run_all.py"), "--quick", "--json", str(out)],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| Benchmark | ConvNetJS | convnetjs-keras |" in completed.stdout

    results = json.loads(out.read_text())["results"]
    suites = {result["suite"] for result in results}
    assert suites == {"bench_training", "bench_inference", "bench_snapshot_io", "bench_startup"}
    names = [result["name"] for result in results]
    for expected in ("train CIFAR-10 batch 128, 1 thread", "predict CIFAR-10 batch 512, 1 thread",
                     "predict CIFAR-10 single image, 1 thread", "load fc_small (5 MB) into a Keras model",
                     "write fc_small (5 MB), object form like ConvNetJS, no fsync", "convnetjs-keras --help"):
        assert expected in names
    for result in results:
        assert result["rounds"] >= 3, result["name"]
        for key in ("python_wall", "python_cpu", "convnetjs_wall", "ratio_wall"):
            if key in result:
                assert math.isfinite(result[key]), (result["name"], key)
                assert result[key] > 0, (result["name"], key)
