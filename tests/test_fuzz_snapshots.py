"""Property tests: a mutated snapshot is read or rejected with the library's own error.

Hypothesis changes the small valid snapshots of ``snapshot_samples``: it
deletes keys, changes types and numbers, truncates arrays, inserts strings,
nulls and huge numbers, and reorders or repeats layers. The reader must then
return a ``NetSpec`` or raise a ``ConvNetJSKerasError``, never any other
exception, within a time and a memory bound for each example. Most
examples stop at the ``NetSpec`` (no Keras), so the test is fast; a few
accepted mutants are also built into Keras models.
"""

from __future__ import annotations

import copy
import json
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from snapshot_samples import SAMPLES, dumps

from convnetjs_keras.errors import ConvNetJSKerasError
from convnetjs_keras.snapshot import NetSpec, load_net_spec, net_spec_to_json, parse_snapshot

# Bounds for one example. The samples parse in about a millisecond and hold a few
# hundred numbers, so these leave a wide margin on a slow, shared CI machine.
MAX_SECONDS = 2.0
MAX_PEAK_BYTES = 16 * 1024 * 1024

FUZZ_SETTINGS = settings(
    max_examples=150,
    deadline=None,  # the explicit MAX_SECONDS check below replaces Hypothesis' own, stricter deadline
    derandomize=True,  # the same examples on every run, so CI cannot fail by chance
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

NASTY_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(["", "4", "0.5", "NaN", "relu", "conv", "x" * 300, "\u0000", "\ud800"]),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 10**18, 10**30, 10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 0.5, 2.5]),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=4),
    st.dictionaries(st.sampled_from(["0", "1", "sx", "w", "layers"]), st.integers(0, 3), max_size=3),
    st.builds(lambda: json.loads("[" * 20 + "0" + "]" * 20)),  # a new list each time: mutations change it
)


def paths(node, prefix=()):
    """Yield the path (tuple of keys and indices) of every value under ``node``, the root excluded."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield prefix + (key,)
        yield from paths(child, prefix + (key,))


def resolve(root, path):
    node = root
    for key in path:
        node = node[key]
    return node


def mutate(snapshot: dict, data) -> str:
    """Apply one mutation drawn from ``data`` to ``snapshot`` in place; return its description."""
    all_paths = list(paths(snapshot))
    if not all_paths:
        return "nothing left to change"
    layers = snapshot.get("layers")
    has_layers = isinstance(layers, list) and bool(layers)
    numbers = [p for p in all_paths if type(resolve(snapshot, p)) in (int, float)]
    lists = [p for p in all_paths if isinstance(resolve(snapshot, p), list)]
    operations = ["delete", "replace", "rename_key", "flip_weight_form"]
    operations += ["renumber"] if numbers else []
    operations += ["truncate", "insert"] if lists else []
    operations += ["shuffle_layers", "repeat_layer", "drop_layer"] if has_layers else []
    operation = data.draw(st.sampled_from(operations))
    path = data.draw(st.sampled_from(all_paths))
    parent, key = resolve(snapshot, path[:-1]), path[-1]

    if operation == "delete":
        del parent[key]
    elif operation == "replace":
        parent[key] = data.draw(NASTY_VALUES)
    elif operation == "renumber":
        path = data.draw(st.sampled_from(numbers))
        old = resolve(snapshot, path)
        change = data.draw(st.sampled_from(["plus", "minus", "negate", "zero", "double", "huge", "fraction"]))
        new = {"plus": old + 1, "minus": old - 1, "negate": -old, "zero": 0, "double": old * 2,
               "huge": old * 10**12, "fraction": old + 0.5}[change]
        resolve(snapshot, path[:-1])[path[-1]] = new
    elif operation == "truncate":
        path = data.draw(st.sampled_from(lists))
        items = resolve(snapshot, path)
        del items[data.draw(st.integers(0, len(items))):]
    elif operation == "insert":
        path = data.draw(st.sampled_from(lists))
        items = resolve(snapshot, path)
        items.insert(data.draw(st.integers(0, len(items))), data.draw(NASTY_VALUES))
    elif operation == "shuffle_layers":
        order = data.draw(st.permutations(range(len(layers))))
        layers[:] = [layers[i] for i in order]
    elif operation == "repeat_layer":
        index = data.draw(st.integers(0, len(layers) - 1))
        layers.insert(index, copy.deepcopy(layers[index]))
    elif operation == "drop_layer":
        del layers[data.draw(st.integers(0, len(layers) - 1))]
    elif operation == "rename_key" and isinstance(parent, dict):
        parent[key + data.draw(st.sampled_from([" ", "_", "X"]))] = parent.pop(key)
    elif operation == "flip_weight_form" and isinstance(parent, dict) and isinstance(parent.get("w"), (list, dict)):
        w = parent["w"]
        parent["w"] = list(w.values()) if isinstance(w, dict) else {str(i): v for i, v in enumerate(w)}
    else:
        parent[key] = data.draw(NASTY_VALUES)
        operation = "replace"
    return f"{operation} at {path}"


def read_bounded(read):
    """Call ``read()``; return its result or the library error, checking time and peak memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        try:
            result = read()
        except ConvNetJSKerasError as error:
            result = error
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < MAX_SECONDS
    assert peak < MAX_PEAK_BYTES
    return result


def check_result(result):
    if isinstance(result, ConvNetJSKerasError):
        assert result.problems
        assert str(result)
        return
    assert isinstance(result, NetSpec)
    # What was accepted can be written back and reads the same.
    again = parse_snapshot(net_spec_to_json(result))
    assert [spec.layer_type for spec in again.layers] == [spec.layer_type for spec in result.layers]
    assert [spec.out_shape for spec in again.layers] == [spec.out_shape for spec in result.layers]


@FUZZ_SETTINGS
@given(sample=st.sampled_from(sorted(SAMPLES)), count=st.integers(1, 3), data=st.data())
def test_mutated_snapshot_dict(sample, count, data):
    snapshot = SAMPLES[sample]()
    for _ in range(count):
        note(mutate(snapshot, data))

    check_result(read_bounded(lambda: parse_snapshot(snapshot, "fuzz.json")))


def mutated_bytes(sample, data) -> bytes:
    """Return the JSON of a mutated sample, perhaps cut short or led by a byte-order mark."""
    snapshot = SAMPLES[sample]()
    note(mutate(snapshot, data))
    try:
        # allow_nan (the default) writes NaN and Infinity literals, which the reader must reject.
        text = json.dumps(snapshot, separators=(",", ":")).encode("utf-8")
    except ValueError:  # an integer too long for Python's int-to-text limit
        text = dumps(SAMPLES[sample]())
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(text))))
    if cut is not None:
        text = text[:cut]
    if data.draw(st.booleans()):
        text = b"\xef\xbb\xbf" + text
    return text


@FUZZ_SETTINGS
@given(sample=st.sampled_from(sorted(SAMPLES)), data=st.data())
def test_mutated_snapshot_bytes(sample, data):
    """The same through the JSON reader, with NaN literals, cut files and a byte-order mark."""
    text = mutated_bytes(sample, data)

    check_result(read_bounded(lambda: load_net_spec(text)))


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ_SETTINGS
@given(sample=st.sampled_from(sorted(SAMPLES)), data=st.data())
def test_mutated_snapshot_file(fuzz_folder, sample, data):
    """The same from a file, which the streaming reader (convnetjs_keras.fastjson) reads first."""
    path = fuzz_folder / "fuzz.json"
    path.write_bytes(mutated_bytes(sample, data))

    check_result(read_bounded(lambda: load_net_spec(path)))


@settings(max_examples=10, deadline=None, derandomize=True, database=None)
@given(sample=st.sampled_from(sorted(SAMPLES)), data=st.data())
def test_accepted_mutant_builds_keras_model(sample, data):
    """A float field changed within [0, 1] (a weight, drop_prob, decay or lrn option) still builds a model."""
    from convnetjs_keras.model import build_model

    snapshot = SAMPLES[sample]()
    numbers = [p for p in paths(snapshot) if type(resolve(snapshot, p)) is float]
    target = data.draw(st.sampled_from(numbers))
    resolve(snapshot, target[:-1])[target[-1]] = data.draw(st.floats(0.0, 1.0))

    result = read_bounded(lambda: parse_snapshot(snapshot, "fuzz.json"))
    assert isinstance(result, NetSpec), str(result)
    model = build_model(result)

    assert model.output_shape[-1] == result.layers[-1].out_shape.depth
