"""Snapshot reading and writing: ConvNetJS in Node against convnetjs_keras.

Snapshots are written by ConvNetJS itself (``JSON.stringify(net.toJSON())``,
weights in the ``{"0": ..}`` object form): ``fc_big`` (fc 784 -> 2048 ->
2048 -> 10, 160 MB) and ``wide_conv`` (3x3 convs of 128, 384 and 320
filters, 45 MB); the quick mode uses ``fc_small`` (5.5 MB).

Each round runs, in this order, fresh processes for: Node's load
(``readFileSync`` + ``JSON.parse`` + ``net.fromJSON``), Node's write
(``JSON.stringify(net.toJSON())`` + write, with and without fsync), and a
Python worker that measures

- ``load_snapshot(path)``: file to Keras model, with the peak RSS increase
  over the process's size before the call (VmHWM after resetting it);
- the floor: reading the same numbers from a file of bare JSON arrays, one
  per ``Vol``, parsed by orjson into float64 arrays, with nothing else;
- ``fastjson.write_snapshot`` without fsync, against Node's plain write, in
  the array form (what ``save_snapshot`` writes) and in ConvNetJS's object
  form. Then ``load_snapshot`` of the array-form file it wrote;
- ``save_snapshot(model, path)`` (array form, fsync) against Node's write
  with fsync;
- in the first round only: tracemalloc's peak during a second load, and the
  checked paths as the "before": ``json.loads`` of the whole file, and
  ``dumps_snapshot(to_snapshot(model))`` written with fsync.

Usage: python scripts/bench/bench_snapshot_io.py [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset VmHWM to the current RSS (Linux 4.0+) and return that RSS in bytes."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    return _status_bytes("VmRSS")


def _measure(call):
    """Run ``call`` and return (its result, wall s, CPU s, peak RSS increase in bytes)."""
    before = _reset_peak_rss()
    with common.Timer() as timer:
        value = call()
    return value, timer.wall, timer.cpu, _status_bytes("VmHWM") - before


def parse_floor(path) -> int:
    """Parse a file of bare JSON arrays, one per line, into float64 arrays; return the value count."""
    import numpy as np
    import orjson

    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            count += np.array(orjson.loads(line), dtype=np.float64).size
    return count


def measure_round(snapshot, floor, out, first_round: bool) -> dict:
    """Measure one Python round; TensorFlow must already be pinned to one thread."""
    import tracemalloc

    import convnetjs_keras as ck
    from convnetjs_keras import fastjson
    from convnetjs_keras.export import model_to_net_spec
    from convnetjs_keras.model import build_model
    from convnetjs_keras.files import atomic_write_bytes
    from convnetjs_keras.snapshot import dumps_snapshot, find_snapshot, parse_snapshot, read_json

    # Warm up Keras and TensorFlow on a small snapshot, so that one-time setup is not timed.
    ck.load_snapshot(common.snapshot_path("fc_small"))
    result = {}
    model, result["load_wall"], result["load_cpu"], result["load_peak"] = _measure(
        lambda: ck.load_snapshot(snapshot))
    _, result["floor_wall"], result["floor_cpu"], _ = _measure(lambda: parse_floor(floor))

    net = model_to_net_spec(model)
    _, result["write_array_wall"], result["write_array_cpu"], result["write_array_peak"] = _measure(
        lambda: fastjson.write_snapshot(out, net, fsync=False))
    result["write_array_bytes"] = os.path.getsize(out)
    again, result["load_array_wall"], result["load_array_cpu"], result["load_array_peak"] = _measure(
        lambda: ck.load_snapshot(out))
    del again
    _, result["write_object_wall"], result["write_object_cpu"], result["write_object_peak"] = _measure(
        lambda: fastjson.write_snapshot(out, net, typed_array_objects=True, fsync=False))
    result["write_object_bytes"] = os.path.getsize(out)
    _, result["save_wall"], result["save_cpu"], result["save_peak"] = _measure(
        lambda: ck.save_snapshot(model, out))
    os.unlink(out)
    del net

    if first_round:
        del model
        gc.collect()
        tracemalloc.start()
        model = ck.load_snapshot(snapshot)
        result["load_tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del model

        def checked_path():
            obj, label = read_json(Path(snapshot))
            found, wrapper = find_snapshot(obj, label)
            return build_model(parse_snapshot(found, label, wrapper))

        _, result["checked_load_wall"], result["checked_load_cpu"], result["checked_load_peak"] = _measure(
            checked_path)

        def checked_writer():
            # What save_snapshot did before fastjson: lists of Python floats, json.dumps, one write.
            data = dumps_snapshot(ck.to_snapshot(model))
            atomic_write_bytes(out, data)

        model = ck.load_snapshot(snapshot)
        _, result["checked_save_wall"], result["checked_save_cpu"], result["checked_save_peak"] = _measure(
            checked_writer)
        os.unlink(out)
    return result


def worker(args) -> int:
    """Measure one round in this fresh process and print the results as JSON."""
    common.pin_threads(1)
    print(json.dumps(measure_round(args.snapshot, args.floor, args.out, args.first_round)))
    return 0


def ensure_floor_file(snapshot: Path) -> Path:
    """Write the snapshot's weights as bare JSON arrays, one Vol per line (once)."""
    floor = snapshot.with_suffix(".floor.jsonl")
    if floor.is_file():
        return floor
    import numpy as np
    import orjson

    from convnetjs_keras.fastjson import read_json_file

    parsed = read_json_file(snapshot)
    with open(floor.with_suffix(".partial"), "wb") as handle:
        for layer in parsed["layers"]:
            vols = list(layer.get("filters", [])) + ([layer["biases"]] if "biases" in layer else [])
            for vol in vols:
                handle.write(orjson.dumps(np.asarray(vol["w"]), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    floor.with_suffix(".partial").replace(floor)
    return floor


def run_worker(snapshot: Path, floor: Path, out: Path, first_round: bool) -> dict:
    command = [sys.executable, __file__, "--worker", "--snapshot", str(snapshot), "--floor", str(floor),
               "--out", str(out)]
    if first_round:
        command.append("--first-round")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if completed.returncode != 0:
        raise RuntimeError(f"worker failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def compare_snapshot(name: str, rounds: int, in_process: bool = False) -> list[dict]:
    snapshot = common.snapshot_path(name)
    floor = ensure_floor_file(snapshot)
    size = snapshot.stat().st_size
    node_out = common.CACHE_DIR / "node-write.json"
    python_out = common.CACHE_DIR / "python-write.json"
    node_rounds, python_rounds = [], []
    for round_index in range(rounds):
        record = {"load": common.node("load", **{"in": snapshot}),
                  "write": common.node("write", **{"in": snapshot, "out": node_out}),
                  "write_fsync": common.node("write", fsync=1, **{"in": snapshot, "out": node_out})}
        node_out.unlink()
        node_rounds.append(record)
        if in_process:
            python_rounds.append(measure_round(snapshot, floor, python_out, first_round=round_index == 0))
        else:
            python_rounds.append(run_worker(snapshot, floor, python_out, first_round=round_index == 0))

    def node_values(kind, key="seconds"):
        return {"wall": [r[kind][key] for r in node_rounds], "cpu": [r[kind]["cpu_s"] for r in node_rounds]}

    def python_values(prefix):
        return {"wall": [r[f"{prefix}_wall"] for r in python_rounds],
                "cpu": [r[f"{prefix}_cpu"] for r in python_rounds]}

    megabytes = f"{size / 1e6:.0f} MB"
    label = f"{name} ({megabytes})"
    first = python_rounds[0]
    load_peaks = [r["load_peak"] for r in python_rounds]
    node_load_peaks = [r["load"]["peak_rss_bytes"] - r["load"]["rss_before_bytes"] for r in node_rounds]
    load = common.comparison(
        f"load {label} into a Keras model", "s", node_values("load"), python_values("load"),
        higher_is_better=False, target=2.5, note="ConvNetJS: readFileSync + JSON.parse + fromJSON",
        extra={"file_bytes": size,
               "python_peak_rss_increase": common.median(load_peaks),
               "python_peak_rss_over_file": common.median(load_peaks) / size,
               "python_tracemalloc_peak": first.get("load_tracemalloc_peak"),
               "convnetjs_peak_rss_increase": common.median(node_load_peaks),
               "checked_path_wall": first.get("checked_load_wall"),
               "checked_path_cpu": first.get("checked_load_cpu"),
               "checked_path_peak_rss_increase": first.get("checked_load_peak")})
    floor_values = python_values("floor")
    over_floor = {clock: common.median(python_values("load")[clock]) / common.median(floor_values[clock])
                  for clock in ("wall", "cpu")}
    floor_result = common.measurement(
        f"floor for {label}: orjson parse of the same numbers as bare arrays", "s", floor_values,
        note="load time / floor should be <= 1.5",
        extra={"load_over_floor_wall": over_floor["wall"], "load_over_floor_cpu": over_floor["cpu"]})
    def peaks(prefix):
        values = [r[f"{prefix}_peak"] for r in python_rounds]
        return {"python_peak_rss_increase": common.median(values),
                "python_peak_rss_over_file": common.median(values) / size}

    node_write_peak = common.median([r["write"]["peak_rss_bytes"] - r["write"]["rss_before_bytes"]
                                     for r in node_rounds])
    array_megabytes = f"{first['write_array_bytes'] / 1e6:.0f} MB"
    write = common.comparison(
        f"write {label}, array form ({array_megabytes}), no fsync", "s", node_values("write"),
        python_values("write_array"), higher_is_better=False, target=2.0,
        note="ConvNetJS: JSON.stringify(net.toJSON()) + write; Python: fastjson.write_snapshot, the form "
             "save_snapshot writes",
        extra={**peaks("write_array"), "convnetjs_peak_rss_increase": node_write_peak})
    write_object = common.comparison(
        f"write {label}, object form like ConvNetJS, no fsync", "s", node_values("write"),
        python_values("write_object"), higher_is_better=False,
        note="fastjson.write_snapshot(typed_array_objects=True)", extra=peaks("write_object"))
    save = common.comparison(
        f"save_snapshot {label}, array form, fsync", "s", node_values("write_fsync"), python_values("save"),
        higher_is_better=False, note="both sides fsync the file",
        extra={**peaks("save"), "checked_path_wall": first.get("checked_save_wall"),
               "checked_path_cpu": first.get("checked_save_cpu"),
               "checked_path_peak_rss_increase": first.get("checked_save_peak")})
    load_array_values = python_values("load_array")
    load_array = common.measurement(
        f"load {label} rewritten in the array form ({array_megabytes})", "s", load_array_values,
        note="load_snapshot of the file save_snapshot writes",
        extra={"load_over_floor_wall": common.median(load_array_values["wall"]) / common.median(
            floor_values["wall"]),
            "load_over_floor_cpu": common.median(load_array_values["cpu"]) / common.median(floor_values["cpu"]),
            **peaks("load_array")})
    results = [load, floor_result, load_array, write, write_object, save]
    for result in results:
        common.print_result(result)
    print(f"  load peak RSS +{load['python_peak_rss_increase'] / 1e6:.0f} MB "
          f"({load['python_peak_rss_over_file']:.2f}x the file), tracemalloc "
          f"{(first.get('load_tracemalloc_peak') or 0) / 1e6:.0f} MB, ConvNetJS +"
          f"{load['convnetjs_peak_rss_increase'] / 1e6:.0f} MB; load / floor {over_floor['wall']:.2f} wall, "
          f"{over_floor['cpu']:.2f} CPU; checked path {first.get('checked_load_wall', 0):.2f} s, +"
          f"{(first.get('checked_load_peak') or 0) / 1e6:.0f} MB", flush=True)
    return results


def run(*, quick: bool = False, rounds: int = common.MIN_ROUNDS, threads: int = 1) -> list[dict]:
    """Run the comparisons.

    The quick mode measures one small snapshot in this process, with
    TensorFlow already pinned. The full mode starts a fresh worker process
    per round, so that each round's peak RSS is its own.
    """
    del threads  # the Python side always runs with one TensorFlow thread
    rounds = max(rounds, common.MIN_ROUNDS)
    results = []
    for name in (("fc_small",) if quick else ("fc_big", "wide_conv")):
        results += compare_snapshot(name, rounds, in_process=quick)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small snapshot, to check the script works")
    parser.add_argument("--rounds", type=int, default=common.MIN_ROUNDS, help="rounds per comparison (min 3)")
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--first-round", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.quick:
        common.pin_threads(1)
    results = run(quick=args.quick, rounds=args.rounds)
    if args.json:
        common.write_results(args.json, results, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
