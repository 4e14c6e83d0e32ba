"""Tests for ``convnetjs-keras predict``, run in-process through ``convnetjs_keras.cli.main``.

The networks are tiny (an 8x8x3 conv net, a 6x6x1 svm net and a 1x1x4
regression net) and written as ConvNetJS snapshots, so each command spends
its time in Keras' tracing, not in the forward pass. Expected outputs come
from the same snapshot loaded in the test and run through
``convnetjs_keras.inference.predict``. With ``--precision float64`` the CSV
contains every digit, so the comparison is exact up to float64 rounding.
"""

from __future__ import annotations

import csv
import io
import logging

import numpy as np
import pytest
from PIL import Image

import convnetjs_keras as ck
from convnetjs_keras.cli import main
from convnetjs_keras.cli.predict import Progress
from convnetjs_keras.data import preprocess_image
from convnetjs_keras.inference import predict

CONV_DEFS = [
    {"type": "input", "out_sx": 8, "out_sy": 8, "out_depth": 3},
    {"type": "conv", "sx": 3, "filters": 4, "stride": 1, "pad": 1, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "softmax", "num_classes": 5},
]
SVM_DEFS = [
    {"type": "input", "out_sx": 6, "out_sy": 6, "out_depth": 1},
    {"type": "fc", "num_neurons": 6, "activation": "tanh"},
    {"type": "svm", "num_classes": 3},
]
REGRESSION_DEFS = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
    {"type": "fc", "num_neurons": 5, "activation": "tanh"},
    {"type": "regression", "num_neurons": 2},
]
LABELS = ["apple", "banana", "cherry", "date", "elderberry"]


@pytest.fixture(autouse=True)
def _info_logs(caplog):
    caplog.set_level(logging.INFO)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """Snapshot paths and float64 Keras models of the three test networks."""
    folder = tmp_path_factory.mktemp("nets")
    result = {}
    for name, defs in (("conv", CONV_DEFS), ("svm", SVM_DEFS), ("regression", REGRESSION_DEFS)):
        path = folder / f"{name}.json"
        ck.save_snapshot(ck.from_layer_defs(defs, seed=3), path)
        result[name] = (path, ck.load_snapshot(path, dtype="float64"))
    return result


def _write_images(folder, names, size=(11, 9), seed=0):
    """Write random RGB images (width x height ``size``) and return their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _expected_probabilities(model, paths):
    x = np.stack([preprocess_image(path, model.input_shape[1:], dtype="float64") for path in paths])
    return predict(model, x)


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _predict_csv(tmp_path, net, inputs, *extra):
    out = tmp_path / "predictions.csv"
    status = main(["predict", str(net), *map(str, inputs), "--precision", "float64", "--out", str(out), *extra])
    assert status == 0
    return _read_csv(out)


# ---------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------


def test_image_files_probabilities_and_top_order(tmp_path, nets):
    path, model = nets["conv"]
    images = _write_images(tmp_path, ["a.png", "b.jpg", "c.bmp"])

    header, rows = _predict_csv(tmp_path, path, images, "--top", "5")

    assert header == ["input", "class_1", "probability_1", "class_2", "probability_2", "class_3", "probability_3",
                      "class_4", "probability_4", "class_5", "probability_5"]
    assert [row[0] for row in rows] == [str(image) for image in images]
    expected = _expected_probabilities(model, images)
    for row, probabilities in zip(rows, expected):
        classes = [int(cell) for cell in row[1::2]]
        values = np.array([float(cell) for cell in row[2::2]])
        assert classes == list(np.argsort(-probabilities, kind="stable"))
        np.testing.assert_allclose(values, probabilities[classes], rtol=1e-12, atol=0)
        assert np.all(np.diff(values) <= 0)


def test_folder_recursive_in_sorted_order(tmp_path, nets):
    path, model = nets["conv"]
    folder = tmp_path / "photos"
    images = _write_images(folder, ["b/2.png", "a/1.png", "c.png", "a/sub/0.gif"])
    _write_images(folder, [".hidden.png", ".cache/x.png"])
    (folder / "notes.txt").write_text("not an image")

    _header, rows = _predict_csv(tmp_path, path, [folder], "--top", "1")

    expected_order = [folder / "a" / "1.png", folder / "a" / "sub" / "0.gif", folder / "b" / "2.png", folder / "c.png"]
    assert [row[0] for row in rows] == [str(item) for item in expected_order]
    expected = _expected_probabilities(model, expected_order)
    np.testing.assert_allclose([float(row[2]) for row in rows], expected.max(axis=1), rtol=1e-12)
    assert len(images) == len(rows)


def test_batches_smaller_than_inputs_same_result(tmp_path, nets):
    path, _model = nets["conv"]
    images = _write_images(tmp_path / "many", [f"{index:02d}.png" for index in range(7)])

    _header, whole = _predict_csv(tmp_path, path, [tmp_path / "many"], "--top", "5")
    (tmp_path / "predictions.csv").unlink()
    _header, batched = _predict_csv(tmp_path, path, [tmp_path / "many"], "--top", "5", "--batch-size", "3")

    assert len(whole) == len(images)
    for row_whole, row_batched in zip(whole, batched):
        assert row_whole[0] == row_batched[0]
        np.testing.assert_allclose([float(v) for v in row_batched[2::2]], [float(v) for v in row_whole[2::2]],
                                   rtol=1e-12)


def test_labels_name_classes_in_print_and_csv(tmp_path, nets, capsys):
    path, model = nets["conv"]
    (image,) = _write_images(tmp_path, ["fruit.png"])
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS) + "\n\n")

    assert main(["predict", str(path), str(image), "--labels", str(labels), "--top", "2"]) == 0

    probabilities = _expected_probabilities(ck.load_snapshot(path), [image])[0]
    first, second = np.argsort(-probabilities, kind="stable")[:2]
    line = capsys.readouterr().out.strip()
    assert line == (f"{image}: {LABELS[first]} {probabilities[first]:.4f}, "
                    f"{LABELS[second]} {probabilities[second]:.4f}")

    header, rows = _predict_csv(tmp_path, path, [image], "--labels", str(labels), "--top", "2")
    assert header == ["input", "class_1", "label_1", "probability_1", "class_2", "label_2", "probability_2"]
    assert rows[0][1:3] == [str(first), LABELS[first]]
    assert rows[0][4:6] == [str(second), LABELS[second]]
    del model


def test_default_top_is_three(tmp_path, nets, capsys):
    path, _model = nets["conv"]
    (image,) = _write_images(tmp_path, ["one.png"])

    assert main(["predict", str(path), str(image)]) == 0

    assert capsys.readouterr().out.count(",") == 2


def test_npz_examples_nhwc_and_flat(tmp_path, nets):
    path, model = nets["conv"]
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (4, 8, 8, 3))
    np.savez(tmp_path / "nhwc.npz", x=x, y=np.zeros(4))
    np.savez(tmp_path / "flat.npz", features=x.reshape(4, -1))

    header, rows = _predict_csv(tmp_path, path, [tmp_path / "nhwc.npz", tmp_path / "flat.npz"], "--top", "5")

    assert [row[0] for row in rows] == [f"{tmp_path / 'nhwc.npz'}[{i}]" for i in range(4)] + [
        f"{tmp_path / 'flat.npz'}[{i}]" for i in range(4)]
    expected = predict(model, x)
    for row, probabilities in zip(rows, np.concatenate([expected, expected])):
        classes = [int(cell) for cell in row[1::2]]
        np.testing.assert_allclose([float(v) for v in row[2::2]], probabilities[classes], rtol=1e-12)
    assert len(header) == 11


def test_svm_network_reports_scores(tmp_path, nets):
    path, model = nets["svm"]
    image = tmp_path / "grey.png"
    Image.fromarray(np.arange(36, dtype=np.uint8).reshape(6, 6) * 7).save(image)

    header, rows = _predict_csv(tmp_path, path, [image])

    assert header[2] == "score_1"
    expected = predict(model, preprocess_image(image, (6, 6, 1), dtype="float64")[None])[0]
    assert int(rows[0][1]) == int(np.argmax(expected))
    np.testing.assert_allclose(float(rows[0][2]), expected.max(), rtol=1e-12)


# ---------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------


def test_regression_csv_features_all_outputs(tmp_path, nets, capsys):
    path, model = nets["regression"]
    x = np.array([[0.1, -0.2, 0.3, 0.4], [1.0, 2.0, -3.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    data = tmp_path / "features.csv"
    data.write_text("a,b,c,d\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in x) + "\n\n")

    header, rows = _predict_csv(tmp_path, path, [data])

    assert header == ["input", "output_0", "output_1"]
    assert [row[0] for row in rows] == [f"{data}:2", f"{data}:3", f"{data}:4"]
    np.testing.assert_allclose([[float(v) for v in row[1:]] for row in rows], predict(model, x), rtol=1e-12)

    assert main(["predict", str(path), str(data), "--precision", "float64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = predict(model, x)
    assert lines[0] == f"{data}:2: {expected[0, 0]:.6g}, {expected[0, 1]:.6g}"
    assert len(lines) == 3


def test_regression_npz_of_vol_shaped_rows(tmp_path, nets):
    path, model = nets["regression"]
    x = np.random.default_rng(2).normal(size=(3, 1, 1, 4))
    np.save(tmp_path / "rows.npy", x)

    _header, rows = _predict_csv(tmp_path, path, [tmp_path / "rows.npy"])

    np.testing.assert_allclose([[float(v) for v in row[1:]] for row in rows], predict(model, x.reshape(3, 4)),
                               rtol=1e-12)


def test_progress_line_redrawn_in_place():
    stream = io.StringIO()
    progress = Progress(1000, enabled=True, stream=stream)

    progress.update(1000)
    progress.finish()

    text = stream.getvalue()
    assert text.startswith("\rpredicted 1,000/1,000 inputs (100%, ")
    assert text.endswith(" inputs/s)\n")
    silent = io.StringIO()
    Progress(1000, enabled=False, stream=silent).update(1000)
    assert silent.getvalue() == ""


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_unreadable_image_stops_with_its_name(tmp_path, nets, capsys):
    path, _model = nets["conv"]
    _write_images(tmp_path / "in", ["a.png", "c.png"])
    (tmp_path / "in" / "b.png").write_bytes(b"not a png")
    out = tmp_path / "result.csv"

    status = main(["predict", str(path), str(tmp_path / "in"), "--out", str(out)])

    assert status == 3
    error = capsys.readouterr().err
    assert f"{tmp_path / 'in' / 'b.png'}: cannot be read as an image" in error
    assert not out.exists()


def test_skip_bad_continues_and_lists_skipped(tmp_path, nets, capsys):
    path, model = nets["conv"]
    good = _write_images(tmp_path / "in", ["a.png", "c.png", "d.png"])
    (tmp_path / "in" / "b.png").write_bytes(b"not a png")

    header, rows = _predict_csv(tmp_path, path, [tmp_path / "in"], "--skip-bad", "--batch-size", "2")

    assert [row[0] for row in rows] == [str(image) for image in good]
    expected = _expected_probabilities(model, good)
    np.testing.assert_allclose([float(row[2]) for row in rows], expected.max(axis=1), rtol=1e-12)
    error = capsys.readouterr().err
    assert "skipped 1 unreadable input:" in error
    assert str(tmp_path / "in" / "b.png") in error
    assert header[0] == "input"


def test_out_existing_needs_force(tmp_path, nets, capsys):
    path, _model = nets["conv"]
    (image,) = _write_images(tmp_path, ["a.png"])
    out = tmp_path / "taken.csv"
    out.write_text("keep me")

    assert main(["predict", str(path), str(image), "--out", str(out)]) == 3
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "keep me"

    assert main(["predict", str(path), str(image), "--out", str(out), "--force"]) == 0
    assert out.read_text().startswith("input,class_1")


def test_out_must_be_csv(tmp_path, nets, capsys):
    path, _model = nets["conv"]
    (image,) = _write_images(tmp_path, ["a.png"])

    assert main(["predict", str(path), str(image), "--out", str(tmp_path / "out.txt")]) == 2
    assert "--out must name a .csv file" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "message"), [
    ("apple\nbanana\n", "has 2 class names, but the network has 5 classes."),
    ("apple\n\nbanana\ncherry\ndate\nelderberry\n", "line 2 is empty; expected one class name per line."),
], ids=["too-few", "empty-line"])
def test_labels_file_invalid(tmp_path, nets, capsys, content, message):
    path, _model = nets["conv"]
    (image,) = _write_images(tmp_path, ["a.png"])
    labels = tmp_path / "labels.txt"
    labels.write_text(content)

    assert main(["predict", str(path), str(image), "--labels", str(labels)]) == 3
    assert message in capsys.readouterr().err


def test_npz_wrong_shape_names_file(tmp_path, nets, capsys):
    path, _model = nets["conv"]
    np.savez(tmp_path / "wrong.npz", x=np.zeros((2, 7, 7, 3)))

    assert main(["predict", str(path), str(tmp_path / "wrong.npz")]) == 3
    error = capsys.readouterr().err
    assert f"{tmp_path / 'wrong.npz'}, field 'x': has shape (2, 7, 7, 3); expected (N, 8, 8, 3) or flat rows " \
           "(N, 192)" in error


def test_npz_without_x_lists_arrays(tmp_path, nets, capsys):
    path, _model = nets["conv"]
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 192)), b=np.zeros((1, 192)))

    assert main(["predict", str(path), str(tmp_path / "two.npz")]) == 3
    assert "has no array 'x' and 2 other arrays ['a', 'b']" in capsys.readouterr().err


def test_csv_wrong_width_and_text_cells(tmp_path, nets, capsys):
    path, _model = nets["regression"]
    data = tmp_path / "bad.csv"
    data.write_text("1,2,3,4\n1,2,3,4,0\n1,x,3,4\n")

    assert main(["predict", str(path), str(data)]) == 3
    error = capsys.readouterr().err
    assert "2 problems found:" in error
    assert "line 2 has 5 values, expected 4 (the network input 4). Remove the label columns" in error
    assert "line 3, column 2: 'x' is not a finite number." in error


def test_missing_input_file(tmp_path, nets, capsys):
    path, _model = nets["conv"]

    assert main(["predict", str(path), str(tmp_path / "absent.png")]) == 3
    assert f"{tmp_path / 'absent.png'}: file not found." in capsys.readouterr().err


def test_images_for_vector_network_rejected(tmp_path, nets, capsys):
    path, _model = nets["regression"]
    (image,) = _write_images(tmp_path, ["a.png"])

    assert main(["predict", str(path), str(image)]) == 3
    assert "images were given, but the network input (4) is not an image input" in capsys.readouterr().err


def test_top_with_regression_is_usage_error(tmp_path, nets, capsys):
    path, _model = nets["regression"]
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 4)))

    assert main(["predict", str(path), str(tmp_path / "x.npz"), "--top", "2"]) == 2
    assert "--top applies to classification networks" in capsys.readouterr().err
