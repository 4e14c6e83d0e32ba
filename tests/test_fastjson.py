"""Tests of convnetjs_keras.fastjson: the streaming snapshot reader and writer.

The reference is the checked path of convnetjs_keras.snapshot, which parses
the whole file with ``json.loads``. Where the fast reader accepts a file, its
weights must be bit-identical. Through ``load_net_spec``, every file must give
exactly the checked path's result or error message.
"""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from convnetjs_keras import fastjson
from convnetjs_keras.errors import OutputPathError, SnapshotFormatError
from convnetjs_keras.layer_defs import net_spec_from_layer_defs
from convnetjs_keras.snapshot import (
    dumps_snapshot,
    find_snapshot,
    load_net_spec,
    net_spec_to_json,
    parse_snapshot,
    read_json,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus"
requires_corpus = pytest.mark.skipif(not CORPUS_DIR.is_dir(),
                                     reason=f"the snapshot corpus is not at {CORPUS_DIR} (../shared/corpus)")

LAYER_DEFS = [
    {"type": "input", "out_sx": 4, "out_sy": 4, "out_depth": 2},
    {"type": "conv", "sx": 3, "filters": 3, "pad": 1, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "softmax", "num_classes": 3},
]


def small_net():
    return net_spec_from_layer_defs(LAYER_DEFS, seed=3)


def small_snapshot(typed_array_objects=True) -> dict:
    return net_spec_to_json(small_net(), typed_array_objects=typed_array_objects)


def checked_load(path):
    """What load_net_spec does without the fast reader."""
    obj, label = read_json(Path(path))
    snapshot, wrapper = find_snapshot(obj, label)
    return parse_snapshot(snapshot, label, wrapper)


def outcome(load, path):
    """Return ("ok", layers) or ("error", message) of ``load(path)``."""
    try:
        net = load(path)
    except SnapshotFormatError as error:
        return "error", str(error)
    return "ok", net


def assert_same_nets(fast, checked):
    assert [spec.layer_type for spec in fast.layers] == [spec.layer_type for spec in checked.layers]
    for mine, theirs in zip(fast.layers, checked.layers):
        assert mine.options == theirs.options
        assert (mine.in_shape, mine.out_shape) == (theirs.in_shape, theirs.out_shape)
        for name in ("filters", "biases"):
            a, b = getattr(mine, name), getattr(theirs, name)
            if a is None or b is None:
                assert a is None, name
                assert b is None, name
                continue
            assert a.dtype == b.dtype == np.float64
            assert a.shape == b.shape
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), f"{name} differ in some bit"


def assert_same_outcome(path):
    fast, checked = outcome(load_net_spec, path), outcome(checked_load, path)
    assert fast[0] == checked[0], (fast, checked)
    if fast[0] == "error":
        assert fast[1] == checked[1]
    else:
        assert_same_nets(fast[1], checked[1])
    return fast


# --- reading: accepted files give bit-identical weights ---------------------------------------

@requires_corpus
@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS_DIR.glob("*.json")) if CORPUS_DIR.is_dir() else [])
def test_corpus_file_same_as_checked_path(name):
    path = CORPUS_DIR / name
    assert fastjson.read_json_file(path) is not None, "the fast reader declined a file ConvNetJS wrote"
    assert_same_outcome(path)


@pytest.mark.parametrize("typed", [True, False], ids=["object-form", "array-form"])
def test_read_small_snapshot_fast(tmp_path, typed):
    path = tmp_path / "net.json"
    path.write_bytes(dumps_snapshot(small_snapshot(typed)))
    parsed = fastjson.read_json_file(path)
    assert parsed is not None
    assert isinstance(parsed["layers"][1]["filters"][0]["w"], np.ndarray)
    kind, _ = assert_same_outcome(path)
    assert kind == "ok"


def random_numbers_text(rng, count):
    """Decimal numbers of 1 to 40 significant digits, exponents -330..300, and float reprs."""
    texts = []
    for i in range(count):
        digits = "".join(rng.choice(list("0123456789"), size=int(rng.integers(1, 40))))
        exponent = int(rng.integers(-330, 300))
        texts.append(f"{'-' if i % 2 else ''}{digits[0]}.{digits[1:] or '0'}e{exponent}")
    values = rng.normal(size=count) * 10.0 ** rng.integers(-300, 300, count)
    texts += [repr(float(v)) for v in values]
    texts += ["0", "-0", "-0.0", "5e-324", "2.2250738585072014e-308", "1.7976931348623157e308",
              "123456789012345678901234567890", "0.1", "1E5", "1e-400"]
    return texts


@pytest.mark.parametrize("typed", [True, False], ids=["object-form", "array-form"])
def test_weights_bit_identical_to_json_loads(tmp_path, typed):
    rng = np.random.default_rng(7)
    texts = random_numbers_text(rng, 3000)
    if typed:
        w = "{" + ",".join(f'"{i}":{t}' for i, t in enumerate(texts)) + "}"
    else:
        w = "[" + ",".join(texts) + "]"
    path = tmp_path / "w.json"
    path.write_text('{"vol":{"sx":1,"sy":1,"depth":%d,"w":%s}}' % (len(texts), w))
    parsed = fastjson.read_json_file(path)
    assert parsed is not None
    reference = json.loads(path.read_text())["vol"]["w"]
    reference = list(reference.values()) if typed else reference
    expected = np.array(reference, dtype=np.float64)
    assert np.array_equal(parsed["vol"]["w"].view(np.int64), expected.view(np.int64))


def test_small_blocks_same_result(tmp_path, monkeypatch):
    # Blocks of 7 bytes split every key, number and value across reads.
    path = tmp_path / "net.json"
    path.write_bytes(dumps_snapshot(small_snapshot()))
    whole = fastjson.read_json_file(path)
    monkeypatch.setattr(fastjson, "BLOCK_SIZE", 7)
    pieces = fastjson.read_json_file(path)
    assert pieces is not None
    for vol_whole, vol_pieces in zip(whole["layers"][1]["filters"], pieces["layers"][1]["filters"]):
        assert np.array_equal(vol_whole["w"], vol_pieces["w"])
    assert_same_outcome(path)


def test_reads_without_orjson(tmp_path, monkeypatch):
    path = tmp_path / "net.json"
    path.write_bytes(dumps_snapshot(small_snapshot()))
    monkeypatch.setattr(fastjson, "orjson", None)
    assert fastjson.read_json_file(path) is not None
    assert_same_outcome(path)


def test_load_memory_below_file_size(tmp_path, monkeypatch):
    # fc 300 -> 400 -> 10 in the object form: about 3.3 MB of text, read in
    # blocks of 256 kB. The checked path keeps a Python float and a dict entry
    # per weight, about 10x the file.
    monkeypatch.setattr(fastjson, "BLOCK_SIZE", 256 * 1024)
    net = net_spec_from_layer_defs([{"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 300},
                                    {"type": "fc", "num_neurons": 400}, {"type": "softmax", "num_classes": 10}],
                                   seed=1)
    path = tmp_path / "big.json"
    fastjson.write_snapshot(path, net, typed_array_objects=True, fsync=False)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        load_net_spec(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size, f"peak {peak:,} bytes for a {size:,}-byte file"


# --- reading: anything unusual gives the checked path's result --------------------------------

def _set_w(value):
    def mutate(snapshot):
        snapshot["layers"][1]["filters"][0]["w"] = value
    return mutate


def _drop_key(snapshot):
    del snapshot["layers"][1]["filters"][0]["w"]["5"]


def _reverse_keys(snapshot):
    w = snapshot["layers"][1]["filters"][0]["w"]
    snapshot["layers"][1]["filters"][0]["w"] = dict(reversed(list(w.items())))


def _extra_key(snapshot):
    snapshot["layers"][1]["filters"][0]["w"]["x"] = 1.0


def _string_with_w(snapshot):
    snapshot["layers"][0]["note"] = 'a "w":[1,2] b {"w":{"0":1}}'


def _placeholder_in_file(snapshot):
    snapshot["layers"][1]["filters"][0]["w"] = {"\x00convnetjs_keras_w": 0}


MUTATIONS = {
    "w-null": _set_w([None] * 18),
    "w-string": _set_w(["0.5"] * 18),
    "w-true": _set_w([True] * 18),
    "w-nested": _set_w([[0.5]] * 18),
    "w-too-short": _set_w([0.5] * 17),
    "w-empty-object": _set_w({}),
    "w-number": _set_w(3),
    "w-key-missing": _drop_key,
    "w-keys-reversed": _reverse_keys,
    "w-extra-key": _extra_key,
    "w-in-a-string": _string_with_w,
    "placeholder-key-in-file": _placeholder_in_file,
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutated_snapshot_same_as_checked_path(tmp_path, name):
    snapshot = small_snapshot()
    MUTATIONS[name](snapshot)
    path = tmp_path / "net.json"
    path.write_text(json.dumps(snapshot))
    assert_same_outcome(path)


TEXT_EDITS = {
    "nan-token": lambda text: text.replace('"0":', '"0":NaN,"x":', 1),
    "infinite-number": lambda text: text.replace('"0":', '"0":1e400,"x":', 1),
    "huge-integer": lambda text: text.replace('"0":', '"0":1' + "0" * 400 + ',"x":', 1),
    "duplicate-key": lambda text: text.replace('"1":', '"0":', 1),
    "repeated-w": lambda text: text.replace('"w":', '"w":[1],"w":', 1),
    "cut-short": lambda text: text[: len(text) // 2],
    "cut-inside-w": lambda text: text[: text.index('"w":') + 20],
    "byte-order-mark": lambda text: "\ufeff" + text,
    "pretty-printed": lambda text: json.dumps(json.loads(text), indent=2),
    "spaces-around-colon": lambda text: text.replace('"w":', '"w" : ', 3),
    "empty": lambda text: "",
    "only-spaces": lambda text: "   \n",
    "deeply-nested": lambda text: "[" * 70 + text + "]" * 70,
    "invalid-utf8": lambda text: text.replace('"input"', '"inp\udcffut"', 1),
}


@pytest.mark.parametrize("name", sorted(TEXT_EDITS))
def test_edited_text_same_as_checked_path(tmp_path, name):
    text = TEXT_EDITS[name](dumps_snapshot(small_snapshot()).decode())
    path = tmp_path / "net.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    assert_same_outcome(path)


def test_declines_w_with_null(tmp_path):
    snapshot = small_snapshot()
    _set_w([None] * 18)(snapshot)
    path = tmp_path / "net.json"
    path.write_text(json.dumps(snapshot))
    assert fastjson.read_json_file(path) is None


def test_missing_file_same_error(tmp_path):
    fast, checked = outcome(load_net_spec, tmp_path / "absent.json"), outcome(checked_load, tmp_path / "absent.json")
    assert fast == checked
    assert fast[0] == "error"


# --- writing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"typed_array_objects": True}, {"digits": 4}],
                         ids=["array-form", "object-form", "digits-4"])
def test_write_same_json_as_checked_writer(tmp_path, options):
    net = small_net()
    extra = {"convnetjs_keras_version": "test"}
    path = tmp_path / "out.json"
    fastjson.write_snapshot(path, net, extra=extra, **options)
    expected = dumps_snapshot(net_spec_to_json(net, extra=extra, **options))
    # Same values and key order; only the spelling of some numbers may differ (1e-07 against 1e-7).
    assert json.loads(path.read_bytes()) == json.loads(expected)
    assert list(json.loads(path.read_bytes())) == ["layers", "convnetjs_keras_version"]


@requires_corpus
def test_write_then_read_round_trip_exact(tmp_path):
    net = load_net_spec(CORPUS_DIR / "karpathy_cifar10_conv.json")
    path = tmp_path / "again.json"
    fastjson.write_snapshot(path, net)
    assert_same_nets(load_net_spec(path), net)


def test_write_without_orjson_same_json(tmp_path, monkeypatch):
    net = small_net()
    with_orjson = tmp_path / "a.json"
    fastjson.write_snapshot(with_orjson, net, typed_array_objects=True)
    monkeypatch.setattr(fastjson, "orjson", None)
    without = tmp_path / "b.json"
    fastjson.write_snapshot(without, net, typed_array_objects=True)
    assert json.loads(with_orjson.read_bytes()) == json.loads(without.read_bytes())


def test_write_nonfinite_weight_raises_like_checked_writer(tmp_path):
    net = small_net()
    net.layers[1].filters[0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError) as checked:
        dumps_snapshot(net_spec_to_json(net))
    path = tmp_path / "out.json"
    with pytest.raises(ValueError) as fast:
        fastjson.write_snapshot(path, net)
    assert str(fast.value) == str(checked.value)
    assert list(tmp_path.iterdir()) == []


def test_write_existing_file_without_overwrite_raises(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("keep")
    with pytest.raises(OutputPathError, match="already exists"):
        fastjson.write_snapshot(path, small_net(), overwrite=False)
    assert path.read_text() == "keep"


def test_dumps_w_object_form_keys_in_order():
    text = fastjson.dumps_w(np.array([0.5, -1e-7, 3.0]), typed_array_object=True)
    assert list(json.loads(text).items()) == [("0", 0.5), ("1", -1e-7), ("2", 3.0)]
    assert fastjson.dumps_w(np.array([]), typed_array_object=True) == b"{}"
