"""Tests for ``convnetjs_keras.visualize`` and ``convnetjs-keras visualize``.

Reports are drawn for tiny networks (an 8x8x3 conv net and a 1x1x4
regression net) so that matplotlib, not Keras, takes most of the time.
"""

from __future__ import annotations

import html.parser
import logging

import keras
import numpy as np
import pytest
from PIL import Image

import convnetjs_keras as ck
from convnetjs_keras.cli import main
from convnetjs_keras.cli import visualize as visualize_cli
from convnetjs_keras.errors import DataError, OutputPathError
from convnetjs_keras.inference import predict
from convnetjs_keras.visualize import (
    DEFAULT_MAX_CHANNELS,
    DEFAULT_TOP,
    VisualizeCallback,
    convnetjs_layer_type,
    filter_mosaic,
    grey_levels,
    prepare_input,
    render_report,
    tile_mosaic,
)

CONV_DEFS = [
    {"type": "input", "out_sx": 8, "out_sy": 8, "out_depth": 3},
    {"type": "conv", "sx": 3, "filters": 4, "stride": 1, "pad": 1, "activation": "relu"},
    {"type": "pool", "sx": 2, "stride": 2},
    {"type": "conv", "sx": 3, "filters": 2, "stride": 1, "pad": 0},
    {"type": "softmax", "num_classes": 3},
]
REGRESSION_DEFS = [
    {"type": "input", "out_sx": 1, "out_sy": 1, "out_depth": 4},
    {"type": "fc", "num_neurons": 5, "activation": "tanh"},
    {"type": "regression", "num_neurons": 2},
]


class _ImageSources(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []
        self.layer_titles = []
        self._in_type = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.sources.append(attributes["src"])
        self._in_type = tag == "div" and attributes.get("class") == "type"

    def handle_data(self, data):
        if self._in_type:
            self.layer_titles.append(data)
            self._in_type = False


def _parse_page(path):
    parser = _ImageSources()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def conv_net(tmp_path_factory):
    path = tmp_path_factory.mktemp("nets") / "conv.json"
    ck.save_snapshot(ck.from_layer_defs(CONV_DEFS, seed=5), path)
    return path, ck.load_snapshot(path, dtype="float64")


@pytest.fixture(scope="module")
def regression_net(tmp_path_factory):
    path = tmp_path_factory.mktemp("nets") / "regression.json"
    ck.save_snapshot(ck.from_layer_defs(REGRESSION_DEFS, seed=6), path)
    return path, ck.load_snapshot(path, dtype="float64")


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "picture.png"
    pixels = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


# ---------------------------------------------------------------------------
# render_report
# ---------------------------------------------------------------------------


def test_report_page_references_existing_pngs(tmp_path, conv_net, image):
    _path, model = conv_net

    report = render_report(model, image, tmp_path / "report", labels=["red", "green", "blue"])

    page = _parse_page(report.index_html)
    assert report.index_html == tmp_path / "report" / "index.html"
    assert sorted(set(page.sources)) == sorted(path.name for path in report.images)
    for source in page.sources:
        with Image.open(tmp_path / "report" / source) as picture:
            assert picture.format == "PNG"
            assert picture.width > 0
            assert picture.height > 0


def test_report_one_row_per_convnetjs_layer(tmp_path, conv_net, image):
    _path, model = conv_net

    report = render_report(model, image, tmp_path)

    assert [row.layer_type for row in report.rows] == ["input", "conv", "relu", "pool", "conv", "fc", "softmax"]
    assert [row.shape_text for row in report.rows] == ["8x8x3", "8x8x4", "8x8x4", "4x4x4", "2x2x2", "1x1x3",
                                                       "1x1x3"]
    titles = _parse_page(report.index_html).layer_titles
    assert titles == [f"{row.layer_type} ({row.shape_text})" for row in report.rows]
    names = {path.name for path in report.images}
    assert {"input.png", "predictions.png", "activations_00_input.png", "activations_01_conv_1.png",
            "filters_01_conv_1.png", "filters_04_conv_4.png", "activations_06_softmax_6.png"} <= names
    assert not any(name.startswith("filters_0") and "relu" in name for name in names)


def test_report_activations_match_model(tmp_path, conv_net, image):
    _path, model = conv_net

    report = render_report(model, image, tmp_path)

    x = prepare_input(model, image)
    np.testing.assert_array_equal(report.rows[0].volume, x[0])
    np.testing.assert_allclose(report.rows[-1].volume.reshape(-1), predict(model, x)[0], rtol=1e-12)
    first_conv = keras.Model(model.inputs[0], model.layers[0].output)
    np.testing.assert_allclose(report.rows[1].volume, first_conv(x).numpy()[0], rtol=1e-12)
    kernel = model.layers[0].get_weights()[0]  # (sy, sx, in_depth, filters)
    np.testing.assert_array_equal(report.rows[1].filters, np.transpose(kernel, (3, 0, 1, 2)))


def test_report_stats_like_demo(tmp_path, conv_net, image):
    _path, model = conv_net

    report = render_report(model, image, tmp_path)

    conv = report.rows[1]
    assert conv.details[0] == "filter size 3x3x3, stride 1"
    assert conv.details[1] == (f"max activation: {conv.volume.max():.5g}, min: {conv.volume.min():.5g}")
    assert conv.details[2] == "parameters: 4x3x3x3+4 = 112"
    assert report.rows[3].details[0] == "pooling size 2x2, stride 2"
    assert report.rows[5].details[-1] == "parameters: 3x8+3 = 27"
    page = report.index_html.read_text(encoding="utf-8")
    assert "filter size 3x3x3, stride 1<br>" in page
    assert "Keras layer conv_1 (Conv2D)" in page


def test_report_top_predictions_ranked(tmp_path, conv_net, image):
    _path, model = conv_net
    labels = ["red", "green", "blue"]

    report = render_report(model, image, tmp_path, labels=labels, top=2)

    probabilities = predict(model, prepare_input(model, image))[0]
    order = np.argsort(-probabilities, kind="stable")[:2]
    assert report.task == "classification"
    assert report.value_name == "probability"
    assert [entry.index for entry in report.predictions] == list(order)
    assert [entry.label for entry in report.predictions] == [labels[i] for i in order]
    assert [entry.value for entry in report.predictions] == [float(probabilities[i]) for i in order]


def test_report_regression_from_array(tmp_path, regression_net):
    _path, model = regression_net
    x = np.array([0.5, -0.25, 0.125, 1.0])

    report = render_report(model, x, tmp_path)

    assert report.task == "regression"
    assert [row.layer_type for row in report.rows] == ["input", "fc", "tanh", "fc", "regression"]
    expected = predict(model, x[None])[0]
    assert [entry.value for entry in report.predictions] == [float(value) for value in expected]
    assert not any(path.name.startswith("filters_") for path in report.images)


def test_report_functional_model(tmp_path):
    inputs = keras.Input((6, 6, 1), dtype="float64")
    hidden = keras.layers.Conv2D(3, 3, activation="tanh", name="features", dtype="float64")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax", name="classes", dtype="float64")(
        keras.layers.Flatten(dtype="float64")(hidden))
    model = keras.Model(inputs, outputs)
    x = np.linspace(-0.5, 0.5, 36).reshape(6, 6, 1)

    report = render_report(model, x, tmp_path)

    assert [row.layer_type for row in report.rows] == ["input", "conv + tanh", "fc + softmax"]
    assert [row.keras_name for row in report.rows] == ["input", "features", "classes"]
    np.testing.assert_allclose(report.rows[-1].volume.reshape(-1), predict(model, x[None])[0], rtol=1e-12)
    assert (tmp_path / "filters_01_features.png").is_file()


def test_report_labels_count_checked(tmp_path, conv_net, image):
    _path, model = conv_net

    with pytest.raises(ValueError, match="labels must have one name per class, 3 names. Received: 2 labels"):
        render_report(model, image, tmp_path, labels=["red", "green"])


def test_report_refuses_overwrite_when_asked(tmp_path, conv_net, image):
    _path, model = conv_net
    render_report(model, image, tmp_path)
    before = (tmp_path / "index.html").read_bytes()

    with pytest.raises(OutputPathError, match="already contains a report"):
        render_report(model, image, tmp_path, overwrite=False)
    assert (tmp_path / "index.html").read_bytes() == before


@pytest.mark.parametrize("shape", [(8, 8, 3), (192,), (1, 8, 8, 3), (1, 192)], ids=["volume", "flat", "batch",
                                                                                   "flat-batch"])
def test_prepare_input_array_layouts(conv_net, shape):
    _path, model = conv_net
    values = np.arange(192, dtype=np.float64).reshape(8, 8, 3) / 192

    x = prepare_input(model, values.reshape(shape))

    assert x.shape == (1, 8, 8, 3)
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x[0], values)


def test_prepare_input_rejects_batch_of_two(conv_net):
    _path, model = conv_net

    with pytest.raises(DataError, match="received 2 examples, expected one"):
        prepare_input(model, np.zeros((2, 8, 8, 3)))


# ---------------------------------------------------------------------------
# Drawing helpers and layer types
# ---------------------------------------------------------------------------


def test_grey_levels_follow_demo_formula():
    values = np.array([-1.0, 0.0, 0.5, 3.0])

    levels = grey_levels(values)

    # floor((v - min) / (max - min) * 255), as draw_activations in the ConvNetJS demos
    assert levels.tolist() == [0, 63, 95, 255]
    assert grey_levels(np.full(3, 2.0)).tolist() == [0, 0, 0]


def test_tile_mosaic_layout():
    tiles = np.stack([np.full((2, 3), level, dtype=np.uint8) for level in (10, 20, 30)])

    mosaic = tile_mosaic(tiles, columns=2, scale=2, gap=1)

    assert mosaic.shape == (2 * (4 + 1) + 1, 2 * (6 + 1) + 1, 3)
    assert (mosaic[1:5, 1:7] == 10).all()
    assert (mosaic[1:5, 8:14] == 20).all()
    assert (mosaic[6:10, 1:7] == 30).all()


def test_filter_mosaic_rgb_for_three_channels():
    filters = np.random.default_rng(0).normal(size=(4, 5, 5, 3))

    color, shown = filter_mosaic(filters, color=True)
    grey, _ = filter_mosaic(filters, color=False)

    assert shown == 4
    # Colour: 2 x 2 RGB tiles of 5x5 pixels zoomed 6 times, 1-pixel gaps.
    assert color.shape == (2 * (30 + 1) + 1, 2 * (30 + 1) + 1, 3)
    assert not np.array_equal(color[1:31, 1:31, 0], color[1:31, 1:31, 1])
    # Grey: one row per filter (3-pixel row gaps), one tile per input channel, zoomed 3 times.
    assert grey.shape == (4 * (15 + 3) + 3, 3 * (15 + 1) + 1, 3)
    tile = grey[3:18, 1:16]
    assert np.array_equal(tile[..., 0], tile[..., 1])


def test_layer_types_of_hand_written_model():
    model = keras.Sequential([
        keras.Input((6, 6, 1)),
        keras.layers.Conv2D(2, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(3, activation="softmax"),
    ])

    assert [convnetjs_layer_type(layer) for layer in model.layers] == ["conv + relu", "pool", None, "dropout",
                                                                        "fc + softmax"]


def test_cli_defaults_match_module():
    assert visualize_cli.DEFAULT_TOP == DEFAULT_TOP
    assert visualize_cli.DEFAULT_MAX_CHANNELS == DEFAULT_MAX_CHANNELS


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


def test_cli_writes_report_with_labels(tmp_path, conv_net, image, caplog):
    caplog.set_level(logging.INFO)
    path, _model = conv_net
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    out = tmp_path / "report"

    assert main(["visualize", str(path), "--input", str(image), "--out", str(out), "--labels", str(labels)]) == 0

    page = _parse_page(out / "index.html")
    assert all((out / source).is_file() for source in page.sources)
    assert f"wrote {out / 'index.html'} and" in caplog.text
    assert "top class: " in caplog.text


def test_cli_refuses_existing_report(tmp_path, conv_net, image, capsys):
    path, _model = conv_net
    out = tmp_path / "report"
    assert main(["visualize", str(path), "--input", str(image), "--out", str(out)]) == 0
    capsys.readouterr()

    assert main(["visualize", str(path), "--input", str(image), "--out", str(out)]) == 3
    assert "already contains a report (index.html). Pass --force" in capsys.readouterr().err
    assert main(["visualize", str(path), "--input", str(image), "--out", str(out), "--force"]) == 0


def test_cli_npz_input_with_index(tmp_path, regression_net):
    path, model = regression_net
    x = np.random.default_rng(3).normal(size=(3, 4))
    np.savez(tmp_path / "rows.npz", x=x)
    out = tmp_path / "report"

    assert main(["visualize", str(path), "--input", str(tmp_path / "rows.npz"), "--index", "2", "--out", str(out),
                 "--precision", "float64"]) == 0

    page = (out / "index.html").read_text(encoding="utf-8")
    assert f"Input: {tmp_path / 'rows.npz'}[2], 1x1x4." in page
    expected = predict(model, x[2:])[0]
    assert f"<td>0</td><td>{expected[0]:.5g}</td>" in page


def test_cli_index_out_of_range(tmp_path, regression_net, capsys):
    path, _model = regression_net
    np.savez(tmp_path / "rows.npz", x=np.zeros((2, 4)))

    assert main(["visualize", str(path), "--input", str(tmp_path / "rows.npz"), "--index", "2", "--out",
                 str(tmp_path / "report")]) == 3
    assert "--index 2 is out of range; the file has 2 examples (0 to 1)." in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Training callback
# ---------------------------------------------------------------------------


def _train_with_callback(tmp_path, every, steps_per_execution=1, epochs=2):
    model = ck.from_layer_defs(CONV_DEFS, seed=1)
    ck.compile_like_convnetjs(model, {"method": "sgd", "learning_rate": 0.01, "batch_size": 4},
                              steps_per_execution=steps_per_execution)
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (40, 8, 8, 3)).astype("float32")  # 10 batches of 4 per epoch
    y = rng.integers(0, 3, 40)
    callback = VisualizeCallback(x[0], tmp_path / "training", every_n_batches=every)
    model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=[callback])
    return callback


def test_callback_fires_every_n_batches(tmp_path):
    callback = _train_with_callback(tmp_path, every=6)

    # 2 epochs of 10 batches: the count runs across epochs.
    folders = sorted(path.name for path in (tmp_path / "training").iterdir() if path.is_dir())
    assert folders == ["batch_000006", "batch_000012", "batch_000018"]
    assert callback.batches_seen == 20
    for folder in folders:
        assert (tmp_path / "training" / folder / "index.html").is_file()
    index = _parse_page(tmp_path / "training" / "index.html")
    assert index.sources == []
    assert (tmp_path / "training" / "index.html").read_text().count("<li>") == 3


def test_callback_with_steps_per_execution(tmp_path):
    callback = _train_with_callback(tmp_path, every=3, steps_per_execution=4, epochs=1)

    # Keras calls the callback after batches 4, 8 and 10 (the last call reports a partial execution).
    folders = sorted(path.name for path in (tmp_path / "training").iterdir() if path.is_dir())
    assert folders == ["batch_000004", "batch_000008", "batch_000010"]
    assert callback.batches_seen == 10


def test_callback_rejects_bad_interval():
    with pytest.raises(ValueError, match="every_n_batches must be a positive integer"):
        VisualizeCallback(np.zeros(4), "out", every_n_batches=0)
